#define BOOST_TEST_MODULE failover
// Faults of a Postgres of the test's own (initdb, and pg_basebackup for a streaming standby; the
// shared test Postgres is not touched): failover to a synchronous standby; failover to an
// asynchronous standby that had not received the last commits (the acked messages it lacks are
// found in JetStream and appended again, exactly once); a Postgres frozen with SIGSTOP.
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <sstream>
#include <vector>

#include "stchat/eventstore/sql_session.h"
#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const std::string k_pg_bin = "/usr/lib/postgresql/15/bin/";

// Runs a Postgres tool as the user Postgres runs as (root may not).
void pg_tool(const std::string& command) {
    std::string full = (::geteuid() == 0 ? "cd / && runuser -u postgres -- " : "") + k_pg_bin + command +
                       " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + command);
}


// A Postgres cluster in a folder of its own, on a port of its own.
struct cluster {
    std::string dir;
    int port = free_port();
    explicit cluster(std::string d) : dir(std::move(d)) {}
    void start() {
        pg_tool("pg_ctl -D " + dir + " -w -t 60 -l " + dir + "/server.log -o '-p " + std::to_string(port) + " -k " + dir +
                " -c listen_addresses=127.0.0.1 -c fsync=off' start");
    }
    void stop(const std::string& mode) { pg_tool("pg_ctl -D " + dir + " -m " + mode + " -w stop"); }
    std::string uri() const { return "postgresql://stchat@127.0.0.1:" + std::to_string(port) + "/stchat"; }
    int64_t count(const std::string& sql) const {
        auto rows = stchat::eventstore::make_sql_session({uri()})->exec(sql);
        return std::stoll(*rows.at(0).at(0));
    }
};


// The processes whose parent is `parent` (from /proc/<pid>/stat: "pid (comm) state ppid ...").
std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        std::getline(stat, line);
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent) out.push_back(static_cast<pid_t>(std::stoi(name)));
    }
    return out;
}

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }


// A primary with a streaming standby, stchat migrated on the primary. `sync`: the primary waits
// for the standby to flush each commit (synchronous_standby_names = '*', synchronous_commit = on).
struct pair_fixture {
    std::string base = "/var/tmp/stchat-failover-" + std::to_string(::getpid());
    struct cleanup_t {
        std::string base;
        ~cleanup_t() {
            for (const char* d : {"/primary", "/standby"}) {
                std::system(((::geteuid() == 0 ? "cd / && runuser -u postgres -- " : "") + k_pg_bin + "pg_ctl -D " + base + d +
                             " -m immediate -w stop >/dev/null 2>&1").c_str());
            }
            std::system(("rm -rf " + base).c_str());
        }
    } cleanup{base};
    cluster primary{base + "/primary"}, standby{base + "/standby"};

    void start(bool sync, bool with_standby = true) {
        std::system(("rm -rf " + base + " && mkdir -p " + base + (::geteuid() == 0 ? " && chown postgres: " + base : "")).c_str());
        pg_tool("initdb -D " + primary.dir + " -U postgres --auth=trust -E UTF8 --locale=C.UTF-8");
        primary.start();
        pg_tool("psql -h 127.0.0.1 -p " + std::to_string(primary.port) +
                " -U postgres -d postgres -c 'CREATE ROLE stchat LOGIN CREATEDB CREATEROLE'"
                " -c 'CREATE DATABASE stchat OWNER stchat'");
        if (with_standby) {
            pg_tool("pg_basebackup -h 127.0.0.1 -p " + std::to_string(primary.port) + " -U postgres -D " + standby.dir +
                    " -R -X stream -c fast");
            standby.start();
        }
        if (sync) {  // once the standby streams: before it, every commit would wait for it
            pg_tool("psql -h 127.0.0.1 -p " + std::to_string(primary.port) + " -U postgres -d postgres"
                    " -c \"ALTER SYSTEM SET synchronous_standby_names = '*'\" -c 'SELECT pg_reload_conf()'"
                    " -c 'GRANT pg_read_all_stats TO stchat'");
            wait_until([&] { return primary.count("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == 1; },
                       30s, "the standby synchronous");
        }
        child_process migrate({stchat_binary(), "migrate", "--database", primary.uri()});
        migrate.start();
        BOOST_REQUIRE(migrate.wait() == 0);
    }
    // Both hosts in one URI: libpq takes the one that accepts writes.
    std::string both() const {
        return "postgresql://stchat@127.0.0.1:" + std::to_string(primary.port) + ",127.0.0.1:" +
               std::to_string(standby.port) + "/stchat?target_session_attrs=read-write";
    }
    // The primary's host dies; the standby is promoted. `vanish` (root only): packets to the old
    // primary's port are dropped from then on, as when its host is gone (a connect attempt hangs
    // instead of being refused).
    void fail_over(bool vanish = false) {
        primary.stop("immediate");
        if (vanish && ::geteuid() == 0) {
            std::string t = "stchat_failover_" + std::to_string(::getpid());
            std::system(("nft add table inet " + t + " && nft add chain inet " + t +
                         " out '{ type filter hook output priority 0; }' && nft add rule inet " + t +
                         " out tcp dport " + std::to_string(primary.port) + " drop").c_str());
            nft_table = t;
        }
        if (!standby_running) standby.start();
        pg_tool("pg_ctl -D " + standby.dir + " -w promote");
    }
    bool standby_running = true;
    std::string nft_table;
    ~pair_fixture() {
        if (!nft_table.empty()) std::system(("nft delete table inet " + nft_table + " >/dev/null 2>&1").c_str());
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_synchronous_standby_promoted_has_every_acked_message) {
    pair_fixture pg;
    pg.start(true);
    nats_server ns;
    child_process ingest({stchat_binary(), "ingest", "--database", pg.both(), "--nats", ns.url(), "--batch", "200"});
    ingest.start();
    feed_acked(ns.url(), "sync", 2500);
    wait_until([&] { return pg.primary.count("SELECT count(*) FROM event_log") == 2500; }, 60s, "2,500 on the primary");
    pg.fail_over();
    BOOST_TEST(pg.standby.count("SELECT count(*) FROM event_log") == 2500,
               "every commit the ingest acked was on the standby before the ack");
    feed_acked(ns.url(), "after", 500);
    wait_until([&] { return pg.standby.count("SELECT count(*) FROM event_log") == 3000; }, 60s,
               "appends on the new primary");
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(pg.standby.count("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 3000);
    BOOST_TEST(pg.standby.count("SELECT count(*) FROM event_log WHERE metadata ? 'reconciled'"
                                " AND (metadata->>'stream_seq')::bigint <= 2500") == 0,
               "nothing acked before the failover needed repair");
}

BOOST_AUTO_TEST_CASE(an_async_standby_promoted_without_the_last_commits_is_reconciled_to_zero_lost) {
    pair_fixture pg;
    pg.start(false);
    cluster& primary = pg.primary;
    cluster& standby = pg.standby;
    nats_server ns;
    temp_dir logs;
    std::string log_path = logs.path() + "/ingest.log";
    child_process ingest({stchat_binary(), "ingest", "--database", pg.both(), "--nats", ns.url(), "--batch", "200"}, log_path);
    ingest.start();

    feed_acked(ns.url(), "replicated", 1000);
    wait_until([&] { return primary.count("SELECT count(*) FROM event_log") == 1000; }, 60s, "1,000 on the primary");
    wait_until([&] { return standby.count("SELECT count(*) FROM event_log") == 1000; }, 60s, "1,000 on the standby");

    // The standby falls behind (here: stopped), the primary commits and JetStream gets the acks.
    standby.stop("fast");
    pg.standby_running = false;
    feed_acked(ns.url(), "unreplicated", 1500);
    wait_until([&] { return primary.count("SELECT count(*) FROM event_log") == 2500; }, 60s, "2,500 on the primary");

    // The primary's host dies; the standby, 1,500 acked messages short, is promoted.
    pg.fail_over(true);  // and the old primary's host is gone: libpq's next host after connect_timeout
    auto promoted = steady::now();
    BOOST_TEST(standby.count("SELECT count(*) FROM event_log") == 1000, "the promoted standby lacks 1,500 acked messages");

    feed_acked(ns.url(), "after", 500);
    try {
        // The reconcile commits before it logs what it did: wait for both.
        wait_until([&] { return standby.count("SELECT count(*) FROM event_log") == 3000 &&
                                read_file(log_path).find("reconciled: appended ") != std::string::npos; },
                   60s, "every message on the new primary, and the reconcile's report");
    } catch (...) {
        std::cerr << read_file(log_path);
        throw;
    }
    double took = seconds_since(promoted);
    BOOST_TEST_MESSAGE("appends and the repair done " << took << " s after the promotion");
    BOOST_TEST(took <= 30.0, "appends and the repair done " << took << " s after the promotion");
    // The repair may also take messages the ingest had fetched but not yet appended: those come
    // back to the ingest as duplicates. What the standby lacked is all reconciled.
    BOOST_TEST(read_file(log_path).find(" (1001-2500") != std::string::npos, read_file(log_path));
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(standby.count("SELECT count(*) FROM event_log") == 3000, "0 lost, 0 doubled");
    BOOST_TEST(standby.count("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 3000);
    BOOST_TEST(standby.count("SELECT count(*) FROM event_log WHERE (metadata->>'reconciled')::boolean"
                             " AND (metadata->>'stream_seq')::bigint BETWEEN 1001 AND 2500") == 1500,
               "the 1,500 the standby lacked came back from JetStream");

    // By hand it finds nothing more to do.
    child_process again({stchat_binary(), "reconcile", "--database", standby.uri(), "--nats", ns.url()},
                        logs.path() + "/reconcile.log");
    again.start();
    BOOST_TEST(again.wait() == 0);
    BOOST_TEST(read_file(logs.path() + "/reconcile.log").find("appended: 0 (none)") != std::string::npos,
               read_file(logs.path() + "/reconcile.log"));
}

BOOST_AUTO_TEST_CASE(a_frozen_postgres_is_a_stall_in_healthz_and_loses_nothing) {
    pair_fixture pg;
    pg.start(false, false);
    nats_server ns;
    int health = free_port();
    temp_dir logs;
    child_process ingest({stchat_binary(), "ingest", "--database", pg.primary.uri(), "--nats", ns.url(), "--batch", "100",
                          "--stall-after", "2", "--metrics-port", std::to_string(health)},
                         logs.path() + "/ingest.log");
    ingest.start();
    feed_acked(ns.url(), "before", 1000);
    wait_until([&] { return pg.primary.count("SELECT count(*) FROM event_log") == 1000; }, 60s, "1,000 appended");
    // Every Postgres process stopped (the postmaster and each child: backends run in sessions of
    // their own): connections stay up, the kernel still acknowledges, nothing answers. No error
    // anywhere: only the watchdog sees it.
    std::ifstream pidfile(pg.primary.dir + "/postmaster.pid");
    pid_t postmaster = 0;
    pidfile >> postmaster;
    BOOST_REQUIRE(postmaster > 0);
    std::vector<pid_t> frozen{postmaster};
    for (pid_t pid : children_of(postmaster)) frozen.push_back(pid);
    BOOST_REQUIRE_MESSAGE(frozen.size() > 3, "the postmaster and its children: " << frozen.size());
    for (pid_t pid : frozen) ::kill(pid, SIGSTOP);
    struct thaw_t {
        std::vector<pid_t> pids;
        void operator()() {
            for (pid_t pid : pids) ::kill(pid, SIGCONT);
            pids.clear();
        }
        ~thaw_t() { (*this)(); }
    } thaw{frozen};
    feed_acked(ns.url(), "frozen", 500);
    std::string said;
    try {
        wait_until([&] { return (said = http_get(health, "/healthz")).find("stall: nothing appended for") != std::string::npos; },
                   30s, "/healthz reporting the stall");
    } catch (...) {
        std::cerr << "/healthz: " << said << "\n" << http_get(health, "/metrics") << read_file(logs.path() + "/ingest.log");
        throw;
    }
    BOOST_TEST(ingest.running());
    // SIGTERM while an append waits on the frozen server: the process still ends within 5 s.
    auto asked = steady::now();
    ingest.kill(SIGTERM);
    int status = ingest.wait();
    double took = seconds_since(asked);
    BOOST_TEST(took < 5.0, "stopped " << took << " s after SIGTERM (exit " << status << ")");
    thaw();
    // A new ingest takes over: what the stopped one held unacknowledged comes again, once.
    child_process next({stchat_binary(), "ingest", "--database", pg.primary.uri(), "--nats", ns.url(), "--batch", "100",
                        "--metrics-port", std::to_string(health)});
    next.start();
    wait_until([&] { return pg.primary.count("SELECT count(*) FROM event_log") == 1500; }, 60s, "appends after the thaw");
    wait_until([&] { return http_get(health, "/healthz") == "ok\n"; }, 30s, "/healthz ok again");
    next.kill(SIGTERM);
    BOOST_TEST(next.wait() == 0);
    BOOST_TEST(pg.primary.count("SELECT count(*) FROM event_log") == 1500, "nothing lost, nothing doubled");
    BOOST_TEST(pg.primary.count("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 1500);
}

// A real full disk: the data directory on a small tmpfs (pg_wal elsewhere, as docs/operations.md
// advises), filled by a file; appends fail with 53100 until the file goes.
BOOST_AUTO_TEST_CASE(a_really_full_disk_is_waited_out_and_loses_nothing,
                     *boost::unit_test::precondition([](boost::unit_test::test_unit_id) {
                         return boost::test_tools::assertion_result(::geteuid() == 0);
                     })) {
    std::string base = "/var/tmp/stchat-diskfull-" + std::to_string(::getpid());
    std::string mnt = base + "/mnt", data = mnt + "/data", wal = base + "/wal";
    std::system(("mkdir -p " + mnt + " " + wal).c_str());
    BOOST_REQUIRE(std::system(("mount -t tmpfs -o size=96m tmpfs " + mnt).c_str()) == 0);
    std::system(("chown -R postgres: " + base).c_str());
    cluster pg{data};
    struct cleanup_t {
        std::string base, mnt, data;
        ~cleanup_t() {
            std::system(("cd / && runuser -u postgres -- " + k_pg_bin + "pg_ctl -D " + data + " -m immediate -w stop >/dev/null 2>&1").c_str());
            std::system(("umount " + mnt + " >/dev/null 2>&1; rm -rf " + base).c_str());
        }
    } cleanup{base, mnt, data};
    pg_tool("initdb -D " + data + " --waldir=" + wal + " -U postgres --auth=trust -E UTF8 --locale=C.UTF-8");
    pg.start();
    pg_tool("psql -h 127.0.0.1 -p " + std::to_string(pg.port) +
            " -U postgres -d postgres -c 'CREATE ROLE stchat LOGIN CREATEDB CREATEROLE' -c 'CREATE DATABASE stchat OWNER stchat'");
    child_process migrate({stchat_binary(), "migrate", "--database", pg.uri()});
    migrate.start();
    BOOST_REQUIRE(migrate.wait() == 0);
    nats_server ns;
    int health = free_port();
    child_process ingest({stchat_binary(), "ingest", "--database", pg.uri(), "--nats", ns.url(), "--batch", "200",
                          "--metrics-port", std::to_string(health)});
    ingest.start();
    feed_acked(ns.url(), "before", 1000);
    wait_until([&] { return pg.count("SELECT count(*) FROM event_log") == 1000; }, 60s, "1,000 appended");
    // Fill the disk, all but 64 KiB.
    struct statvfs fs {};
    BOOST_REQUIRE(::statvfs(mnt.c_str(), &fs) == 0);
    long long free_bytes = static_cast<long long>(fs.f_bavail) * static_cast<long long>(fs.f_frsize) - 64 * 1024;
    BOOST_REQUIRE(std::system(("fallocate -l " + std::to_string(free_bytes) + " " + mnt + "/filler").c_str()) == 0);
    feed_acked(ns.url(), "full", 4000);
    std::string said;
    wait_until([&] { return (said = http_get(health, "/healthz")).find("No space left on device") != std::string::npos; },
               60s, "/healthz saying the disk is full");
    BOOST_TEST(ingest.running(), "the ingest waits it out");
    auto freed = steady::now();
    std::system(("rm -f " + mnt + "/filler").c_str());
    wait_until([&] { return pg.count("SELECT count(*) FROM event_log") == 5000; }, 60s, "the rest appended");
    double resumed = seconds_since(freed);
    BOOST_TEST(resumed <= 5.0, "appends resumed " << resumed << " s after space came back");
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(pg.count("SELECT count(*) FROM event_log") == 5000, "nothing lost, nothing doubled");
    BOOST_TEST(pg.count("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 5000);
}

BOOST_AUTO_TEST_CASE(a_chat_process_healthz_is_503_while_postgres_is_down_and_ok_again_after) {
    // What HAProxy's health check sees (scripts/lib.sh): a node without its database is taken out.
    pair_fixture pg;
    pg.start(false, false);
    temp_dir logs;
    child_process migrate({stchat_binary(), "migrate", "--database", pg.primary.uri()}, logs.path() + "/migrate.log");
    migrate.start();
    BOOST_REQUIRE(migrate.wait() == 0);
    int port = free_port();
    child_process chat({stchat_binary(), "chat", "--database", pg.primary.uri(), "--port", std::to_string(port)},
                       logs.path() + "/chat.log");
    chat.start();
    wait_until([&] { return http_get(port, "/healthz") == "ok\n"; }, 30s, "chat healthy");
    pg.primary.stop("immediate");
    std::string said;
    wait_until([&] { return (said = http_get(port, "/healthz")).rfind("unhealthy: postgres", 0) == 0; }, 30s,
               "/healthz naming Postgres while it is down");
    pg.primary.start();
    wait_until([&] { return http_get(port, "/healthz") == "ok\n"; }, 30s, "/healthz ok again once Postgres is back");
    chat.kill(SIGTERM);
    BOOST_TEST(chat.wait() == 0, read_file(logs.path() + "/chat.log"));
}
