#include "stchat/bench/chat_bench.h"

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include "stchat/common/limits.h"
#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/migrations.h"
#include "stchat/eventstore/sql_session.h"

#include "median.h"
#include "server_process.h"
#include "ws_load_client.h"

namespace stchat::bench {
namespace {

constexpr const char* k_component = "bench";

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
