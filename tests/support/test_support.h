#pragma once
// Helpers for tests that talk to the real Postgres and nats-server started by scripts/test.sh:
// scratch databases, child processes, a nats-server per test, waiting on conditions.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stchat/eventstore/sql_session.h"

namespace stchat::testing {

// Path of the stchat executable under test.
std::string stchat_binary();

// A new, migrated database on the test server, named after `label`; dropped by the destructor.
class scratch_database {
public:
    explicit scratch_database(const std::string& label, bool run_migrations = true);
    ~scratch_database();
    scratch_database(const scratch_database&) = delete;
    scratch_database& operator=(const scratch_database&) = delete;
    const eventstore::store_config& store() const { return _store; }
    const std::string& uri() const { return _store.database; }
    // First column of the first row of `sql`, as an integer.
    int64_t scalar(const std::string& sql) const;

private:
    std::string _name;
    eventstore::store_config _store;
    mutable std::unique_ptr<eventstore::sql_session> _session;
};

// A child process whose stdout and stderr go to `log_path` (empty: the test's own stderr, which
// CTest shows when a test fails). The destructor kills it (SIGKILL).
class child_process {
public:
    explicit child_process(std::vector<std::string> argv, std::string log_path = "");
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    void start();
    void kill(int signal);
    int wait();  // exit status (128 + signal when killed); -1 if it was not running
    bool running();
    pid_t pid() const { return _pid; }
    const std::string& log_path() const { return _log_path; }

private:
    std::vector<std::string> _argv;
    std::string _log_path;
    pid_t _pid = -1;
};

// A nats-server with JetStream on a free loopback port, its store in a folder of its own that
// survives stop()/start() (a restart keeps the streams).
class nats_server {
public:
    nats_server();
    ~nats_server();
    void start();
    void stop();  // graceful: SIGTERM and wait
    void kill();  // SIGKILL and wait: the store is left as a crash leaves it
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(_port); }

private:
    int _port;
    std::string _dir;
    std::unique_ptr<child_process> _proc;
};

// A scratch folder under /tmp, removed by the destructor.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    const std::string& path() const { return _path; }

private:
    std::string _path;
};

// Polls `condition` every 20 ms until it holds (an exception counts as not yet, e.g. while
// Postgres restarts); throws with `what` after `timeout`.
void wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                const std::string& what);

// Stops the test Postgres with `pg_ctl stop -m immediate` (a crash), and starts it again.
void stop_postgres_immediately();
void start_postgres();

int free_port();

// Publishes `count` execution messages with `stchat feed --acked` (each confirmed by JetStream)
// to `nats_urls`, run id `run_id`, plus `extra` arguments; waits for it and requires exit 0.
void feed_acked(const std::string& nats_urls, const std::string& run_id, int count,
                const std::vector<std::string>& extra = {});

// A file's whole content ("" if it cannot be read).
std::string read_file(const std::string& path);

// GET http://127.0.0.1:<port><path>; the response body ("" if the request failed).
std::string http_get(int port, const std::string& path);
// The same to another address (e.g. a process in a network namespace).
std::string http_get(const std::string& host, int port, const std::string& path);

// The value of one sample of a Prometheus text page, e.g. `name{label="x"}`; -1 if absent.
double prometheus_value(const std::string& page, const std::string& series);

}  // namespace stchat::testing
