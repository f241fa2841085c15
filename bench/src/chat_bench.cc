#include "stchat/bench/chat_bench.h"

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <websocketpp/client.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "stchat/common/limits.h"
#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/migrations.h"
#include "stchat/eventstore/sql_session.h"

#include "median.h"

namespace stchat::bench {
namespace {

constexpr const char* k_component = "bench";
// The load client runs every WebSocket call on its one I/O thread (sends are posted there), so
// it needs no strands or locks: the less CPU it takes, the less it disturbs the servers.
struct client_config : websocketpp::config::asio_client {
    using type = client_config;
    using base = websocketpp::config::asio_client;
    using concurrency_type = websocketpp::concurrency::none;
    using elog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::elevel>;
    using alog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::alevel>;
    struct transport_config : base::transport_config {
        using concurrency_type = type::concurrency_type;
        using alog_type = type::alog_type;
        using elog_type = type::elog_type;
        static const bool enable_multithreading = false;
    };
    using transport_type = websocketpp::transport::asio::endpoint<transport_config>;
};
using client_t = websocketpp::client<client_config>;
using hdl_t = websocketpp::connection_hdl;
using clock_t_ = std::chrono::steady_clock;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_t_::now().time_since_epoch()).count();
}

// A server the bench starts: this same executable with other arguments.
class server_process {
public:
    explicit server_process(std::vector<std::string> args) {
        char self[4096];
        ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) throw std::runtime_error("cannot find the stchat executable");
        self[n] = '\0';
        args.insert(args.begin(), self);
        _pid = ::fork();
        if (_pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a bench stopped hard stops its servers too
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(self, argv.data());
            _exit(127);
        }
    }
    ~server_process() { stop(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;
    server_process& operator=(server_process&& other) noexcept {
        if (this != &other) {
            stop();
            _pid = std::exchange(other._pid, -1);
        }
        return *this;
    }
    void stop(int signal = SIGTERM) {
        if (_pid <= 0) return;
        ::kill(_pid, signal);
        ::waitpid(_pid, nullptr, 0);
        _pid = -1;
    }
    // Resident memory in MiB, from /proc/<pid>/status.
    double rss_mib() const {
        std::ifstream in("/proc/" + std::to_string(_pid) + "/status");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
        }
        return -1;
    }

private:
    pid_t _pid = -1;
};

int free_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

void wait_healthy(int port, const std::string& what) {
    auto deadline = clock_t_::now() + std::chrono::seconds(30);
    asio::io_context io;
    for (;;) {
        try {
            asio::ip::tcp::socket s(io);
            s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
            return;
        } catch (const std::exception&) {
            if (clock_t_::now() > deadline) throw std::runtime_error(what + " did not start");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // retry the connect
        }
    }
}

// Many WebSocket users on one client endpoint (one I/O thread). Each says hello, joins its room,
// and then receives; message events are timed against the send time their text carries.
class load_client {
public:
    load_client() {
        _client.clear_access_channels(websocketpp::log::alevel::all);
        _client.clear_error_channels(websocketpp::log::elevel::all);
        _client.init_asio();
        _client.start_perpetual();
        // Small frames go out at once: Nagle's algorithm would hold them for the peer's delayed ACK.
        _client.set_tcp_post_init_handler([this_ = &_client](websocketpp::connection_hdl h) {
            std::error_code ec;
            this_->get_con_from_hdl(h)->get_socket().set_option(asio::ip::tcp::no_delay(true), ec);
        });
        _client.set_open_handler([this](hdl_t h) {
            websocketpp::lib::error_code ec;
            const std::string& token = _state[h].token;
            _client.send(h, token.empty() ? R"({"type":"hello","name":"bench"})"
                                          : R"({"type":"hello","token":")" + token + R"("})",
                         websocketpp::frame::opcode::text, ec);
        });
        _client.set_fail_handler([this](hdl_t) { ++_failed; });
        _client.set_close_handler([this](hdl_t) { ++_closed; });
        _client.set_message_handler([this](hdl_t h, client_t::message_ptr m) { on_frame(h, m->get_payload()); });
        _thread = std::thread([this] { _client.run(); });
    }
    ~load_client() {
        asio::post(_client.get_io_service(), [this] {
            _client.stop_perpetual();
            _client.stop();
        });
        _thread.join();
    }

    // What a connection needs to resume: its room, its token, the last seq it saw there.
    struct resume_state {
        std::string room, token;
        int64_t last_seq = 0;
    };

    // Opens `count` connections into rooms first_room + (i % rooms); returns once all joined.
    std::vector<hdl_t> connect(const std::string& url, int count, int rooms, const std::string& room_prefix) {
        std::vector<resume_state> fresh(static_cast<size_t>(count));
        for (int i = 0; i < count; ++i) fresh[static_cast<size_t>(i)].room = room_prefix + std::to_string(i % rooms);
        return open(url, fresh);
    }

    // The states of `handles` (I/O thread's, copied there), e.g. to resume them after a restart.
    std::vector<resume_state> states_of(const std::vector<hdl_t>& handles) {
        std::promise<std::vector<resume_state>> got;
        asio::post(_client.get_io_service(), [&] {
            std::vector<resume_state> out;
            for (const auto& h : handles) out.push_back(_state[h]);
            got.set_value(std::move(out));
        });
        return got.get_future().get();
    }

    // Opens a connection per state: hello (with its token, if any), join (with since = its last
    // seq, if it has a token); returns once all joined.
    std::vector<hdl_t> open(const std::string& url, const std::vector<resume_state>& states) {
        int count = static_cast<int>(states.size());
        std::vector<hdl_t> out;
        int target = _joined + count;
        for (int i = 0; i < count; ++i) {
            // At most 500 handshakes in flight: the server's listen backlog is finite.
            while (static_cast<int>(out.size()) - (_joined - (target - count)) > 500 && !_failed) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            std::promise<hdl_t> made;
            const resume_state& st = states[static_cast<size_t>(i)];
            asio::post(_client.get_io_service(), [&] {
                websocketpp::lib::error_code ec;
                auto con = _client.get_connection(url, ec);
                if (ec) {
                    made.set_exception(std::make_exception_ptr(std::runtime_error("bench connect: " + ec.message())));
                    return;
                }
                con->add_subprotocol("stchat.v1");
                _state[con->get_handle()] = st;
                _client.connect(con);
                made.set_value(con->get_handle());
            });
            out.push_back(made.get_future().get());
        }
        auto deadline = clock_t_::now() + std::chrono::seconds(120);
        while (_joined < target) {
            if (_failed || clock_t_::now() > deadline) {
                throw std::runtime_error("bench: " + std::to_string(_joined - (target - count)) + " of " +
                                         std::to_string(count) + " joined, " + std::to_string(_failed.load()) +
                                         " failed to connect");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return out;
    }

    void send(hdl_t h, std::string text) {
        asio::post(_client.get_io_service(), [this, h, text = std::move(text)] {
            websocketpp::lib::error_code ec;
            _client.send(h, text, websocketpp::frame::opcode::text, ec);
        });
    }

    void start_recording() {
        std::lock_guard<std::mutex> lock(_mutex);
        _latencies_ns.clear();
        _delivered = 0;
        _recording = true;
    }
    int64_t delivered() const { return _delivered; }
    int64_t last_delivery_ns() const { return _last_ns; }
    std::vector<int64_t> stop_recording() {
        std::lock_guard<std::mutex> lock(_mutex);
        _recording = false;
        return std::move(_latencies_ns);
    }
    int errors() const { return _errors; }
    int closed() const { return _closed; }

private:
    void on_frame(hdl_t h, const std::string& f) {
        if (f.compare(0, 15, R"({"type":"event")") == 0) {
            if (auto at = f.find(R"("seq":)"); at != std::string::npos) {
                int64_t seq = std::strtoll(f.c_str() + at + 6, nullptr, 10);
                auto& st = _state[h];
                if (seq > st.last_seq) st.last_seq = seq;
            }
            if (f.find(R"("kind":"message")") == std::string::npos) return;
            auto at = f.find(R"("text":"t)");
            if (at == std::string::npos) return;
            int64_t sent = std::strtoll(f.c_str() + at + 9, nullptr, 10);
            int64_t now = now_ns();
            std::lock_guard<std::mutex> lock(_mutex);
            if (!_recording) return;
            _latencies_ns.push_back(now - sent);
            _last_ns = now;
            ++_delivered;
        } else if (f.compare(0, 17, R"({"type":"welcome")") == 0) {
            auto& st = _state[h];
            bool resuming = !st.token.empty();
            if (auto at = f.find(R"("token":")"); at != std::string::npos) {
                auto end = f.find('"', at + 9);
                if (end != std::string::npos) st.token = f.substr(at + 9, end - at - 9);
            }
            websocketpp::lib::error_code ec;
            _client.send(h, R"({"type":"join","room":")" + st.room + R"(")" +
                                (resuming ? R"(,"since":)" + std::to_string(st.last_seq) : std::string()) + "}",
                         websocketpp::frame::opcode::text, ec);
        } else if (f.compare(0, 16, R"({"type":"joined")") == 0) {
            ++_joined;
        } else if (f.compare(0, 15, R"({"type":"error")") == 0) {
            if (++_errors <= 3) log::warn(k_component, "error frame: " + f);
        }
    }

    client_t _client;
    std::thread _thread;
    std::mutex _mutex;
    std::map<hdl_t, resume_state, std::owner_less<hdl_t>> _state;  // I/O thread only
    std::vector<int64_t> _latencies_ns;
    bool _recording = false;
    std::atomic<int64_t> _delivered{0}, _last_ns{0};
    std::atomic<int> _joined{0}, _failed{0}, _closed{0}, _errors{0};
};

struct run_result {
    double frames_per_second = 0, p50_ms = 0, p99_ms = 0, p999_ms = 0;
    double delivered_fraction = 0;  // of the frames the sends should make
};

// Before the first run: one message per room, waited for by every member. The chat server
// gathers joins and leaves for up to a second (docs/protocol.md) and a message takes its room's
// along: without this, the first run's first messages would carry the joins of everyone who
// just connected (1,000 × 1,000 frames) and time that instead of the messages.
void settle(load_client& client, const std::vector<hdl_t>& users, int rooms, const std::string& tag) {
    client.start_recording();
    for (int room = 0; room < rooms && room < static_cast<int>(users.size()); ++room) {
        client.send(users[static_cast<size_t>(room)], R"({"type":"send","room":"bench-)" + std::to_string(room) +
                                                          R"(","id":")" + tag + "-" + std::to_string(room) +
                                                          R"(","text":"t)" + std::to_string(now_ns()) + R"("})");
    }
    auto deadline = clock_t_::now() + std::chrono::seconds(30);
    while (client.delivered() < static_cast<int64_t>(users.size()) && clock_t_::now() < deadline && !stop_requested()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling a counter, not syncing
    }
    client.stop_recording();
}

// One measured run: S sends/s for `seconds`, round-robin over the users; waits for every frame
// (each send reaches every member of its room) or 10 s after the last send.
run_result measure(load_client& client, const std::vector<hdl_t>& users, const chat_bench_config& c,
                   const std::string& run_tag) {
    int64_t sends = static_cast<int64_t>(c.sends_per_second * c.seconds);
    int64_t per_room = users.size() / c.rooms;  // users are spread evenly when rooms divide them
    int64_t expected = 0;
    client.start_recording();
    auto start = clock_t_::now();
    int64_t start_ns = now_ns();
    for (int64_t n = 0; n < sends && !stop_requested(); ++n) {
        std::this_thread::sleep_until(start + std::chrono::nanoseconds(static_cast<int64_t>(n * 1e9 / c.sends_per_second)));
        size_t u = static_cast<size_t>(n % static_cast<int64_t>(users.size()));
        int room = static_cast<int>(u % c.rooms);
        expected += per_room + (static_cast<int64_t>(users.size() % c.rooms) > room ? 1 : 0);
        client.send(users[u], R"({"type":"send","room":"bench-)" + std::to_string(room) + R"(","id":")" + run_tag + "-" +
                                  std::to_string(n) + R"(","text":"t)" + std::to_string(now_ns()) + R"("})");
    }
    auto deadline = clock_t_::now() + std::chrono::seconds(10);
    while (client.delivered() < expected && clock_t_::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling a counter, not syncing
    }
    int64_t delivered = client.delivered();
    auto lat = client.stop_recording();
    if (delivered < expected) {
        log::warn(k_component, run_tag + ": " + std::to_string(delivered) + " of " + std::to_string(expected) +
                                   " frames arrived within 10 s of the last send");
    }
    run_result r;
    r.delivered_fraction = expected > 0 ? static_cast<double>(delivered) / static_cast<double>(expected) : 0;
    double secs = static_cast<double>(client.last_delivery_ns() - start_ns) / 1e9;
    r.frames_per_second = secs > 0 ? static_cast<double>(delivered) / secs : 0;
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
        return lat.empty() ? 0.0 : static_cast<double>(lat[static_cast<size_t>(p * static_cast<double>(lat.size() - 1))]) / 1e6;
    };
    r.p50_ms = pct(0.50);
    r.p99_ms = pct(0.99);
    r.p999_ms = pct(0.999);
    return r;
}

}  // namespace

chat_bench_result run_chat_bench(const chat_bench_config& c) {
    long files = raise_open_files_limit();
    if (files < c.users * 2 + c.idle + 100) {
        throw std::runtime_error("open files limit " + std::to_string(files) + " is too low for " +
                                 std::to_string(c.users * 2 + c.idle) + " connections");
    }
    auto admin = eventstore::make_sql_session(c.store);
    std::string db = *admin->exec("SELECT current_database()").at(0).at(0) + "_bench_chat";
    admin->exec_nontx("DROP DATABASE IF EXISTS \"" + db + "\" WITH (FORCE)");
    admin->exec_nontx("CREATE DATABASE \"" + db + "\"");
    auto store = eventstore::with_database(c.store, db);
    eventstore::migrate(store);

    int chat_port = free_port(), plain_port = free_port();
    std::vector<std::string> chat_args{"chat", "--database", store.database, "--port", std::to_string(chat_port),
                                       "--rate-limit", "1000", "--log-level", "warn"};
    server_process chat(chat_args);
    server_process plain({"bench", "broadcast-server", "--port", std::to_string(plain_port)});
    wait_healthy(chat_port, "stchat chat");
    wait_healthy(plain_port, "broadcast server");

    chat_bench_result res;
    {
        load_client client;
        std::printf("connecting %d users in %d room(s) to each server\n", c.users, c.rooms);
        std::fflush(stdout);
        auto chat_users = client.connect("ws://127.0.0.1:" + std::to_string(chat_port) + "/", c.users, c.rooms, "bench-");
        auto plain_users = client.connect("ws://127.0.0.1:" + std::to_string(plain_port) + "/", c.users, c.rooms, "bench-");
        settle(client, chat_users, c.rooms, "settle-c");
        settle(client, plain_users, c.rooms, "settle-p");
        std::vector<run_result> chat_runs, plain_runs;
        for (int run = 1; run <= c.runs && !stop_requested(); ++run) {
            for (bool is_chat : {true, false}) {
                auto r = measure(client, is_chat ? chat_users : plain_users, c,
                                 "r" + std::to_string(run) + (is_chat ? "c" : "p"));
                std::printf("run %d %-16s %9.0f frames/s  p50 %7.2f ms  p99 %7.2f ms  p999 %7.2f ms\n", run,
                            is_chat ? "chat:" : "plain broadcast:", r.frames_per_second, r.p50_ms, r.p99_ms, r.p999_ms);
                std::fflush(stdout);
                (is_chat ? chat_runs : plain_runs).push_back(r);
            }
        }
        auto med = [](const std::vector<run_result>& runs, double run_result::*field) {
            std::vector<double> v;
            for (const auto& r : runs) v.push_back(r.*field);
            return median(v);
        };
        res.chat_frames_per_second = med(chat_runs, &run_result::frames_per_second);
        res.chat_p50_ms = med(chat_runs, &run_result::p50_ms);
        res.chat_p99_ms = med(chat_runs, &run_result::p99_ms);
        res.chat_p999_ms = med(chat_runs, &run_result::p999_ms);
        res.plain_frames_per_second = med(plain_runs, &run_result::frames_per_second);
        res.plain_p99_ms = med(plain_runs, &run_result::p99_ms);
        // Saturation: the rate stepped up until less than 99% arrives or p99 reaches 50 ms.
        auto saturation = [&](const std::vector<hdl_t>& users, bool is_chat) {
            double best = 0;
            int step = 0;
            for (double factor : {0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0}) {
                if (stop_requested()) break;
                chat_bench_config sc = c;
                sc.sends_per_second = c.sends_per_second * factor;
                sc.seconds = c.saturation_seconds;
                auto r = measure(client, users, sc, "s" + std::to_string(++step) + (is_chat ? "c" : "p"));
                double offered = sc.sends_per_second * static_cast<double>(users.size()) / c.rooms;
                bool ok = r.delivered_fraction >= 0.99 && r.p99_ms < 50;
                std::printf("saturation %-16s offered %9.0f frames/s: %5.1f%% delivered, p99 %7.2f ms%s\n",
                            is_chat ? "chat:" : "plain broadcast:", offered, 100 * r.delivered_fraction, r.p99_ms,
                            ok ? "" : "  (beyond)");
                std::fflush(stdout);
                if (!ok) break;
                best = offered;
            }
            return best;
        };
        if (c.saturation_seconds > 0) {
            res.chat_saturation = saturation(chat_users, true);
            res.plain_saturation = saturation(plain_users, false);
        }
        if (client.errors() > 0) std::printf("error frames received: %d\n", client.errors());
    }
    // The join storm: the idle connections all at once, to the plain server (the floor: the
    // same handshakes, hellos and joins, nothing stored, no join events), then to chat.
    std::unique_ptr<load_client> idle_client;
    std::vector<hdl_t> idle_handles;
    auto storm = [&](int port) {
        idle_client = std::make_unique<load_client>();
        auto t0 = clock_t_::now();
        idle_handles = idle_client->connect("ws://127.0.0.1:" + std::to_string(port) + "/", c.idle, c.idle_rooms, "idle-");
        return std::chrono::duration<double>(clock_t_::now() - t0).count();
    };
    if (c.idle > 0 && !stop_requested()) {
        double secs = storm(plain_port);
        res.plain_joins_per_second = c.idle / secs;
        std::printf("joins: plain broadcast: %d connections joined to %d rooms in %.2f s (%.0f/s)\n", c.idle,
                    c.idle_rooms, secs, res.plain_joins_per_second);
    }
    plain.stop();

    if (c.idle > 0 && !stop_requested()) {
        double before = chat.rss_mib();
        double secs = storm(chat_port);
        res.chat_joins_per_second = c.idle / secs;
        res.idle_rss_mib = chat.rss_mib();
        std::printf("joins: chat: %d connections joined to %d rooms in %.2f s (%.0f/s); chat server RSS %.0f MiB "
                    "(%.0f MiB before, %.1f KiB per connection)\n",
                    c.idle, c.idle_rooms, secs, res.chat_joins_per_second, res.idle_rss_mib, before,
                    (res.idle_rss_mib - before) * 1024.0 / c.idle);
        std::fflush(stdout);
    }
    // The resume storm: the chat process killed with SIGKILL and started again on its port; every
    // idle connection comes back at once with its token and `since` (its room's last seq it saw),
    // timed from the restarted process accepting connections to the last `joined`.
    if (c.idle > 0 && c.resume && !stop_requested()) {
        auto states = idle_client->states_of(idle_handles);
        chat.stop(SIGKILL);
        chat = server_process(chat_args);
        wait_healthy(chat_port, "stchat chat (restarted)");
        auto t0 = clock_t_::now();
        idle_client->open("ws://127.0.0.1:" + std::to_string(chat_port) + "/", states);
        res.resume_seconds = std::chrono::duration<double>(clock_t_::now() - t0).count();
        std::printf("resume: %d users back (token + since) in %.2f s after a SIGKILL and restart (%.0f/s)\n", c.idle,
                    res.resume_seconds, c.idle / res.resume_seconds);
        std::fflush(stdout);
    }
    idle_client.reset();
    chat.stop();
    admin->exec_nontx("DROP DATABASE IF EXISTS \"" + db + "\" WITH (FORCE)");
    std::printf("medians of %d runs, %d users, %d room(s), %.0f sends/s; chat/plain frames %.2f\n", c.runs, c.users,
                c.rooms, c.sends_per_second,
                res.plain_frames_per_second > 0 ? res.chat_frames_per_second / res.plain_frames_per_second : 0);
    std::printf("chat: %.0f frames/s delivered, p50 %.2f ms, p99 %.2f ms, p999 %.2f ms; plain broadcast: %.0f frames/s, "
                "p99 %.2f ms; saturation: chat %.0f frames/s, plain %.0f frames/s; joins: %.0f/s\n",
                res.chat_frames_per_second, res.chat_p50_ms, res.chat_p99_ms, res.chat_p999_ms,
                res.plain_frames_per_second, res.plain_p99_ms, res.chat_saturation, res.plain_saturation,
                res.chat_joins_per_second);
    std::fflush(stdout);
    return res;
}

}  // namespace stchat::bench
