#define BOOST_TEST_MODULE chat_exactly_once
// The chat's promise under fire: 2,000 messages from four users on two `stchat chat` processes,
// every connection cut about every 100 messages, one process killed with SIGKILL mid-run and
// started again. Counted exactly: each message stored once, and each receiver sees room seqs
// 1, 2, 3 ... with neither gap nor repeat, every message id once.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "test_support.h"
#include "ws_client.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

constexpr int k_senders = 4;
constexpr int k_per_sender = 500;
constexpr int k_messages = k_senders * k_per_sender;
constexpr int k_cut_every = 100;  // frames a client handles before its connection is cut

std::string str(const rapidjson::Document& d, const char* k) {
    return d.HasMember(k) && d[k].IsString() ? d[k].GetString() : "";
}

// A client that behaves like the web client: keeps its identity by token, resumes the room from
// the last seq it saw, and resends every message not yet acked.
class resilient_user {
public:
    resilient_user(std::string name, std::string url) : _name(std::move(name)), _url(std::move(url)) {}

    // Connects (again) until it works or `deadline` passes.
    void connect(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            try {
                _ws = std::make_unique<ws_client>(_url, "stchat.v1");
                _ws->send(_token.empty() ? R"({"type":"hello","name":")" + _name + R"("})"
                                         : R"({"type":"hello","token":")" + _token + R"("})");
                auto welcome = _ws->next_of("welcome");
                _token = str(welcome, "token");
                _ws->send(R"({"type":"join","room":"lobby","since":)" + std::to_string(last_seq) + "}");
                return;
            } catch (const std::exception& e) {
                _ws.reset();
                ++reconnect_failures;
                if (std::chrono::steady_clock::now() > deadline) throw;
                std::this_thread::sleep_for(50ms);  // back off before the next attempt
            }
        }
    }

    bool connected() const { return _ws && !_ws->closed(); }
    void cut() {
        if (_ws) _ws->drop();
        _ws.reset();
        ++cuts;
    }
    // A send on a dead connection is lost like one into a dropped network: it stays unacked
    // and goes again after the reconnect.
    void send(const std::string& frame) {
        try {
            if (_ws) _ws->send(frame);
        } catch (const std::exception&) {
        }
    }

    // Handles the next frame (waiting up to `timeout`): events checked for order, acks recorded.
    void pump(std::chrono::milliseconds timeout) {
        std::string f;
        try {
            f = _ws->next(timeout);
        } catch (const std::exception&) {
            return;
        }
        rapidjson::Document d;
        d.Parse(f.c_str());
        std::string type = str(d, "type");
        ++frames;
        if (type == "event") {
            int64_t seq = d["seq"].GetInt64();
            if (seq != last_seq + 1) {
                order_violations.push_back("after seq " + std::to_string(last_seq) + " came " + std::to_string(seq));
            }
            last_seq = seq;
            if (str(d, "kind") == "message") ++ids_seen[str(d, "id")];
        } else if (type == "ack") {
            acked.insert(str(d, "id"));
            if (d.HasMember("duplicate")) ++duplicate_acks;
        } else if (type == "error") {
            errors.push_back(f);
        }
    }

    int64_t last_seq = 0;
    std::map<std::string, int> ids_seen;
    std::set<std::string> acked;
    std::vector<std::string> order_violations, errors;
    int frames = 0, cuts = 0, reconnect_failures = 0, duplicate_acks = 0;

private:
    std::string _name, _url, _token;
    std::unique_ptr<ws_client> _ws;
};

}  // namespace

BOOST_AUTO_TEST_CASE(two_thousand_messages_through_cuts_and_a_killed_server_arrive_exactly_once) {
    scratch_database db("chat_once");
    int ports[2] = {free_port(), free_port()};
    auto chat_args = [&](int port) {
        // The rate limit is raised: this test is about exactly-once, not about flood control.
        return std::vector<std::string>{stchat_binary(), "chat", "--database", db.uri(), "--port",
                                        std::to_string(port), "--rate-limit", "2000"};
    };
    child_process a(chat_args(ports[0])), b(chat_args(ports[1]));
    a.start();
    b.start();
    for (int port : ports) {
        wait_until([&] { return http_get(port, "/healthz") == "ok\n"; }, 20s, "chat server up");
    }
    auto url = [&](int i) { return "ws://127.0.0.1:" + std::to_string(ports[i]) + "/"; };
    auto deadline = std::chrono::steady_clock::now() + 240s;

    std::atomic<int> acked_total{0};
    std::atomic<bool> senders_done{false};
    std::mutex report;
    std::vector<std::unique_ptr<resilient_user>> senders, receivers;
    for (int i = 0; i < k_senders; ++i) {
        senders.push_back(std::make_unique<resilient_user>("sender" + std::to_string(i), url(i % 2)));
    }
    for (int i = 0; i < 2; ++i) {
        receivers.push_back(std::make_unique<resilient_user>("reader" + std::to_string(i), url(i)));
    }

    std::vector<std::thread> threads;
    std::vector<std::string> thread_failures;
    auto guarded = [&](std::function<void()> body) {
        return [&, body] {
            try {
                body();
            } catch (const std::exception& e) {
                std::lock_guard<std::mutex> lock(report);
                thread_failures.push_back(e.what());
            }
        };
    };
    for (int i = 0; i < k_senders; ++i) {
        threads.emplace_back(guarded([&, i] {
            auto& u = *senders[i];
            std::map<std::string, std::string> unacked;  // id -> frame
            int next = 0, handled = 0;
            while (static_cast<int>(u.acked.size()) < k_per_sender && std::chrono::steady_clock::now() < deadline) {
                if (!u.connected()) {
                    u.connect(deadline);
                    for (const auto& m : unacked) u.send(m.second);  // never acked: send again
                }
                if (next < k_per_sender && unacked.size() < 20) {
                    std::string id = "s" + std::to_string(i) + "-" + std::to_string(next++);
                    std::string frame = R"({"type":"send","room":"lobby","id":")" + id + R"(","text":"text of )" + id + R"("})";
                    unacked[id] = frame;
                    u.send(frame);
                }
                size_t before = u.acked.size();
                u.pump(next < k_per_sender && unacked.size() < 20 ? 1ms : 200ms);
                if (u.acked.size() > before) {
                    for (const auto& id : u.acked) unacked.erase(id);
                    acked_total += static_cast<int>(u.acked.size() - before);
                }
                if (++handled % k_cut_every == 0) u.cut();
            }
            u.cut();
        }));
    }
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back(guarded([&, i] {
            auto& u = *receivers[i];
            int handled = 0;
            while (std::chrono::steady_clock::now() < deadline) {
                if (static_cast<int>(u.ids_seen.size()) >= k_messages && senders_done) break;
                if (!u.connected()) u.connect(deadline);
                u.pump(200ms);
                if (++handled % k_cut_every == 0) u.cut();
            }
            u.cut();
        }));
    }

    // Mid-run, the first chat process dies without a chance to clean up, and comes back.
    wait_until([&] { return acked_total >= k_messages / 2; }, 120s, "half the messages acked");
    a.kill(SIGKILL);
    a.wait();
    a.start();
    for (int i = 0; i < k_senders; ++i) threads[i].join();
    senders_done = true;
    for (int i = k_senders; i < k_senders + 2; ++i) threads[i].join();
    BOOST_TEST(thread_failures.empty(), (thread_failures.empty() ? "" : thread_failures[0]));

    for (int i = 0; i < k_senders; ++i) {
        auto& u = *senders[i];
        BOOST_TEST(static_cast<int>(u.acked.size()) == k_per_sender, "sender " << i << " got every ack");
        BOOST_TEST(u.errors.empty(), "sender " << i << " errors: " << (u.errors.empty() ? "" : u.errors[0]));
        BOOST_TEST(u.cuts >= k_per_sender / k_cut_every, "sender " << i << " was cut " << u.cuts << " times");
    }
    int64_t head = db.scalar("SELECT max(stream_seq) FROM event_log WHERE stream = 'room.lobby'");
    for (int i = 0; i < 2; ++i) {
        auto& u = *receivers[i];
        BOOST_TEST(u.order_violations.empty(),
                   "reader " << i << ": " << (u.order_violations.empty() ? "" : u.order_violations[0]));
        BOOST_TEST(static_cast<int>(u.ids_seen.size()) == k_messages, "reader " << i << " saw every message");
        int repeats = 0;
        for (const auto& [id, n] : u.ids_seen) repeats += n != 1;
        BOOST_TEST(repeats == 0, "reader " << i << ": messages shown more than once");
        BOOST_TEST(u.last_seq <= head, "reader " << i << " saw no seq beyond the log");
        BOOST_TEST(u.cuts >= 10, "reader " << i << " was cut " << u.cuts << " times");
    }

    // Storage: each message once in the log, and once in chat_log after the projector ran.
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE stream = 'room.lobby' AND type = 'chat.message'") == k_messages);
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (data->>'uid', data->>'id')) FROM event_log "
                         "WHERE stream = 'room.lobby' AND type = 'chat.message'") == k_messages);
    // One statement: sessions closing meanwhile still append their leave events, so a head read
    // earlier could be behind the count without any gap.
    BOOST_TEST(db.scalar("SELECT max(stream_seq) - count(*) FROM event_log WHERE stream = 'room.lobby'") == 0,
               "room seqs 1..head without a gap");
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--once"});
    project.start();
    BOOST_TEST(project.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log WHERE action = 'message'") == k_messages);
    BOOST_TEST(db.scalar("SELECT count(DISTINCT message) FROM chat_log WHERE action = 'message'") == k_messages);
    int dup_acks = 0;
    for (auto& s : senders) dup_acks += s->duplicate_acks;
    BOOST_TEST_MESSAGE("resends answered as duplicates: " << dup_acks);
}
