#include <sstream>
#include <fstream>
#include "test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "stchat/eventstore/sql_session.h"

namespace stchat::testing {
namespace {

std::string env_required(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) {
        throw std::runtime_error(std::string(name) + " is not set: run the tests with scripts/test.sh");
    }
    return v;
}

eventstore::store_config admin_store() { return {env_required("STCHAT_TEST_DATABASE")}; }

bool port_open(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

void run_shell(const std::string& env_name) {
    std::string cmd = env_required(env_name.c_str());
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}

}  // namespace

std::string stchat_binary() { return STCHAT_BINARY; }

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string http_get(int port, const std::string& path) { return http_get("127.0.0.1", port, path); }

std::string http_get(const std::string& host, int port, const std::string& path) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return "";
    }
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string in;
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) in.append(buf, static_cast<size_t>(n));
    ::close(fd);
    auto body = in.find("\r\n\r\n");
    return body == std::string::npos ? "" : in.substr(body + 4);
}

double prometheus_value(const std::string& page, const std::string& series) {
    std::string text = "\n" + page;
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
}

scratch_database::scratch_database(const std::string& label, bool run_migrations) {
    static std::atomic<int> counter{0};
    _name = "t_" + label + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    auto admin = eventstore::make_sql_session(admin_store());
    admin->exec_nontx("DROP DATABASE IF EXISTS \"" + _name + "\"");
    admin->exec_nontx("CREATE DATABASE \"" + _name + "\"");
    _store = eventstore::with_database(admin_store(), _name);
    if (run_migrations) {
        child_process migrate({stchat_binary(), "migrate", "--database", _store.database,
                               "--log-level", "warn"},
                              "");
        migrate.start();
        if (migrate.wait() != 0) throw std::runtime_error("stchat migrate failed for " + _name);
    }
}

scratch_database::~scratch_database() {
    _session.reset();
    try {
        auto admin = eventstore::make_sql_session(admin_store());
        admin->exec_nontx("DROP DATABASE IF EXISTS \"" + _name + "\" WITH (FORCE)");
    } catch (...) {
        // A leftover scratch database is harmless: the test server is thrown away after the run.
    }
}

int64_t scratch_database::scalar(const std::string& sql) const {
    if (!_session) _session = eventstore::make_sql_session(_store);
    auto rows = _session->exec(sql);
    if (rows.empty() || rows[0].empty() || !rows[0][0]) {
        throw std::runtime_error("no value from: " + sql);
    }
    return std::stoll(*rows[0][0]);
}

child_process::child_process(std::vector<std::string> argv, std::string log_path)
    : _argv(std::move(argv)), _log_path(std::move(log_path)) {}

child_process::~child_process() {
    if (_pid > 0) {
        ::kill(_pid, SIGKILL);
        ::waitpid(_pid, nullptr, 0);
    }
}

void child_process::start() {
    if (_pid > 0) throw std::logic_error("child already running: " + _argv[0]);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        // A test that dies (abort, timeout kill) takes its servers with it: no stray processes
        // holding ports and databases for the next run.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = _log_path.empty() ? -1 : ::open(_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        std::vector<char*> args;
        for (auto& a : _argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    _pid = pid;
}

void child_process::kill(int signal) {
    if (_pid > 0) ::kill(_pid, signal);
}

int child_process::wait() {
    if (_pid <= 0) return -1;
    int status = 0;
    ::waitpid(_pid, &status, 0);
    _pid = -1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

bool child_process::running() {
    if (_pid <= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(_pid, &status, WNOHANG);
    if (r == _pid) {
        _pid = -1;
        return false;
    }
    return true;
}

temp_dir::temp_dir() {
    char tmpl[] = "/tmp/stchat-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    _path = tmpl;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(_path, ec);
}

nats_server::nats_server() : _port(free_port()) {
    char tmpl[] = "/tmp/stchat-nats-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    _dir = tmpl;
    start();
}

nats_server::~nats_server() {
    _proc.reset();
    std::error_code ec;
    std::filesystem::remove_all(_dir, ec);
}

void nats_server::start() {
    _proc = std::make_unique<child_process>(
        std::vector<std::string>{"/usr/sbin/nats-server", "-a", "127.0.0.1", "-p",
                                 std::to_string(_port), "-js", "-sd", _dir + "/js"},
        _dir + "/nats.log");
    _proc->start();
    wait_until([&] { return port_open(_port); }, std::chrono::seconds(20),
               "nats-server listening on " + std::to_string(_port));
}

void nats_server::stop() {
    if (!_proc) return;
    _proc->kill(SIGTERM);
    _proc->wait();
    _proc.reset();
}

void nats_server::kill() {
    if (!_proc) return;
    _proc->kill(SIGKILL);
    _proc->wait();
    _proc.reset();
}

void wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                const std::string& what) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string last_error;
        try {
            if (condition()) return;
        } catch (const std::exception& e) {
            last_error = e.what();
        }
        if (std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error("timed out waiting for: " + what +
                                     (last_error.empty() ? "" : " (last error: " + last_error + ")"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

void stop_postgres_immediately() { run_shell("STCHAT_TEST_PG_STOP"); }
void start_postgres() { run_shell("STCHAT_TEST_PG_START"); }

}  // namespace stchat::testing

namespace stchat::testing {

void feed_acked(const std::string& nats_urls, const std::string& run_id, int count,
                const std::vector<std::string>& extra) {
    std::vector<std::string> argv{stchat_binary(), "feed", "execution", "--nats", nats_urls, "--acked", "--count",
                                  std::to_string(count), "--rate", "0", "--run-id", run_id};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_process f(argv);
    f.start();
    int status = f.wait();
    if (status != 0) throw std::runtime_error("feed " + run_id + " exited " + std::to_string(status));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace stchat::testing
