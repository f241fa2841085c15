#define BOOST_TEST_MODULE chat_server
// The chat server as users meet it: a real `stchat chat` process, real WebSocket clients.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <regex>
#include <set>
#include <thread>

#include "stchat/eventstore/event_log.h"
#include "test_support.h"
#include "ws_client.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

struct chat_fixture {
    scratch_database db{"chat"};
    int port = free_port();
    child_process server{{stchat_binary(), "chat", "--database", db.uri(), "--port",
                          std::to_string(port)}};
    chat_fixture() {
        server.start();
        wait_until([&] {
            try {
                ws_client probe(url(), "stchat.v1");
                return true;
            } catch (...) {
                return false;
            }
        }, 20s, "chat server accepting connections");
    }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
    std::unique_ptr<ws_client> v1(const std::string& name) { return greeted_client(url(), name); }
};

std::string str(const rapidjson::Document& d, const char* k) {
    return d.HasMember(k) && d[k].IsString() ? d[k].GetString() : "";
}
int64_t num(const rapidjson::Document& d, const char* k) {
    return d.HasMember(k) && d[k].IsInt64() ? d[k].GetInt64() : -1;
}

// Opens a WebSocket by hand (RFC 6455 handshake, no subprotocol unless given); -1 on failure.
// `receive_buffer` > 0 shrinks the socket's receive buffer (a reader that falls behind soon).
int raw_websocket(int port, const std::string& subprotocol = "", int receive_buffer = 0) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
    timeval tv{15, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n";
    if (!subprotocol.empty()) req += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n";
    req += "\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string in;
    char c;
    while (in.find("\r\n\r\n") == std::string::npos) {  // byte by byte: leave frames unread
        if (::recv(fd, &c, 1, 0) != 1) {
            ::close(fd);
            return -1;
        }
        in.push_back(c);
    }
    return fd;
}

// Reads server frames until a close frame; returns its code (-1 if none came). Pings are read
// and never answered. `pings` counts them.
int read_until_close(int fd, int* pings = nullptr) {
    auto read_exact = [&](size_t n, std::string& out) {
        out.clear();
        char buf[4096];
        while (out.size() < n) {
            ssize_t got = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
            if (got <= 0) return false;
            out.append(buf, static_cast<size_t>(got));
        }
        return true;
    };
    std::string head, body;
    while (read_exact(2, head)) {
        int opcode = static_cast<unsigned char>(head[0]) & 0x0f;
        uint64_t len = static_cast<unsigned char>(head[1]) & 0x7f;
        if (len >= 126) {
            std::string ext;
            if (!read_exact(len == 126 ? 2 : 8, ext)) break;
            len = 0;
            for (unsigned char b : ext) len = (len << 8) | b;
        }
        if (!read_exact(len, body)) break;
        if (opcode == 0x9 && pings) ++*pings;
        if (opcode == 0x8) {
            return body.size() < 2 ? -1
                                   : (static_cast<unsigned char>(body[0]) << 8) | static_cast<unsigned char>(body[1]);
        }
    }
    return -1;
}

// Opens a WebSocket by hand, sends one masked text frame with `payload`, returns the close code
// of the server's close frame (-1 if none came).
int raw_text_frame_close_code(int port, const std::string& payload) {
    int fd = raw_websocket(port);
    if (fd < 0) return -1;
    std::string frame;
    frame.push_back(static_cast<char>(0x81));
    frame.push_back(static_cast<char>(0x80 | payload.size()));
    const char mask[4] = {1, 2, 3, 4};
    frame.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) frame.push_back(payload[i] ^ mask[i % 4]);
    ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    int code = read_until_close(fd);
    ::close(fd);
    return code;
}

// A client's text frame, masked with a zero key (the payload goes as is).
std::string masked_text_frame(const std::string& text) {
    std::string f{static_cast<char>(0x81)};
    if (text.size() < 126) {
        f.push_back(static_cast<char>(0x80 | text.size()));
    } else {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(text.size() >> 8));
        f.push_back(static_cast<char>(text.size() & 0xff));
    }
    f.append(4, '\0');
    return f + text;
}


}  // namespace

namespace {
// The frames up to and including the next history_end, parsed.
std::vector<rapidjson::Document> history_answer(ws_client& c) {
    std::vector<rapidjson::Document> out;
    for (;;) {
        rapidjson::Document d;
        d.Parse(c.next().c_str());
        BOOST_REQUIRE(d.IsObject());
        bool end = std::string(d["type"].GetString()) == "history_end";
        out.push_back(std::move(d));
        if (end) return out;
    }
}
}  // namespace


BOOST_FIXTURE_TEST_SUITE(chat, chat_fixture)

BOOST_AUTO_TEST_CASE(a_client_without_subprotocol_gets_the_original_joined_line) {
    ws_client legacy(url(), "");
    std::string frame = legacy.next();
    BOOST_TEST(std::regex_match(frame, std::regex(
                   R"(\{"action": "message", "message": "[A-Z][a-z]+ [A-Z][a-z]+ joined chat\."\})")),
               frame);
    legacy.send(R"({"message": "hi"})");
    std::string said = legacy.next();
    BOOST_TEST(std::regex_match(said, std::regex(R"(\{"action": "message", "message": "[A-Za-z ]+: hi"\})")),
               said);
}

BOOST_AUTO_TEST_CASE(a_message_is_acked_once_stored_and_delivered_with_the_sender_from_the_session) {
    auto alice = v1("alice");
    auto bob = v1("bob");
    alice->send(R"({"type":"join","room":"lobby"})");
    auto joined = alice->next_of("joined");
    BOOST_TEST(str(joined, "room") == "lobby");
    bob->send(R"({"type":"join","room":"lobby"})");
    bob->next_of("joined");
    alice->send(R"({"type":"send","room":"lobby","id":"m-0001","text":"hello","user":"mallory"})");
    auto ack = alice->next_of("ack");
    BOOST_TEST(str(ack, "id") == "m-0001");
    int64_t seq = num(ack, "seq");
    BOOST_TEST(seq > 0);
    BOOST_TEST(!ack.HasMember("duplicate"));
    for (;;) {
        auto ev = bob->next_of("event");
        if (str(ev, "kind") != "message") continue;
        BOOST_TEST(str(ev, "text") == "hello");
        BOOST_TEST(str(ev, "user") == "alice", "the author comes from the session, not the frame");
        BOOST_TEST(num(ev, "seq") == seq);
        break;
    }
    alice->send(R"({"type":"send","room":"lobby","id":"m-0001","text":"hello"})");
    auto again = alice->next_of("ack");
    BOOST_TEST(num(again, "seq") == seq, "a resend gets the same ack");
    BOOST_TEST(again.HasMember("duplicate"));
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.message'") == 1,
               "stored once");
}

BOOST_AUTO_TEST_CASE(a_join_with_since_during_concurrent_sends_sees_every_seq_once_in_order) {
    // Four writers, each within the per-connection burst of 40 actions: a join and 39 sends
    // (no rate_limited answers).
    constexpr int writers = 4, per_writer = 39, total = writers * per_writer;
    std::vector<std::unique_ptr<ws_client>> ws;
    for (int w = 0; w < writers; ++w) {
        ws.push_back(v1("writer" + std::to_string(w)));
        ws.back()->send(R"({"type":"join","room":"busy"})");
        ws.back()->next_of("joined");
    }
    std::vector<std::thread> senders;
    for (int w = 0; w < writers; ++w) {
        senders.emplace_back([&, w] {
            for (int i = 0; i < per_writer; ++i) {
                ws[w]->send(R"({"type":"send","room":"busy","id":"m-)" + std::to_string(i) +
                            R"(","text":"w)" + std::to_string(w) + "-" + std::to_string(i) + R"("})");
            }
        });
    }
    // Joins while the sends are landing: replay from 0, then live, no gap and no duplicate.
    auto reader = v1("reader");
    reader->send(R"({"type":"join","room":"busy","since":0})");
    reader->next_of("joined");
    for (auto& t : senders) t.join();
    std::vector<int64_t> seqs;
    std::set<std::string> texts;
    while (texts.size() < static_cast<size_t>(total)) {
        auto ev = reader->next_of("event", 20s);
        seqs.push_back(num(ev, "seq"));
        if (str(ev, "kind") == "message") texts.insert(str(ev, "text"));
    }
    for (size_t i = 0; i < seqs.size(); ++i) {
        BOOST_TEST_REQUIRE(seqs[i] == static_cast<int64_t>(i + 1), "seq " << seqs[i] << " at " << i);
    }
    BOOST_TEST(texts.size() == static_cast<size_t>(total));
}

BOOST_AUTO_TEST_CASE(bad_frames_get_error_frames_and_the_connection_stays_open) {
    ws_client c(url(), "stchat.v1");
    c.send("not json");
    BOOST_TEST(str(c.next_of("error"), "code") == "bad_json");
    c.send(R"({"type":"join","room":"lobby"})");
    BOOST_TEST(str(c.next_of("error"), "code") == "hello_required");
    c.send(R"({"type":"hello","name":"carol"})");
    c.next_of("welcome");
    c.send(R"({"type":"join","room":"Bad Room"})");
    BOOST_TEST(str(c.next_of("error"), "code") == "bad_room");
    c.send(R"({"type":"send","room":"lobby","id":"x","text":"hi"})");
    BOOST_TEST(str(c.next_of("error"), "code") == "not_joined");
    c.send(R"({"type":"dance"})");
    BOOST_TEST(str(c.next_of("error"), "code") == "unknown_type");
    ws_client fresh(url(), "stchat.v1");
    fresh.send(R"({"type":"hello","name":""})");
    BOOST_TEST(str(fresh.next_of("error"), "code") == "bad_name");
    BOOST_TEST(!c.closed());
    BOOST_TEST(!fresh.closed());
}

BOOST_AUTO_TEST_CASE(a_token_restores_the_identity_and_a_forged_one_is_refused) {
    ws_client first(url(), "stchat.v1");
    first.send(R"({"type":"hello","name":"dave"})");
    auto welcome = first.next_of("welcome");
    std::string token = str(welcome, "token"), uid = str(welcome, "uid");
    ws_client second(url(), "stchat.v1");
    second.send(R"({"type":"hello","token":")" + token + R"("})");
    auto back = second.next_of("welcome");
    BOOST_TEST(str(back, "uid") == uid);
    BOOST_TEST(str(back, "user") == "dave");
    std::string forged = token;
    forged[0] = forged[0] == 'a' ? 'b' : 'a';
    ws_client third(url(), "stchat.v1");
    third.send(R"({"type":"hello","token":")" + forged + R"("})");
    BOOST_TEST(str(third.next_of("error"), "code") == "forbidden");
}

BOOST_AUTO_TEST_CASE(a_frame_over_the_size_limit_closes_with_1009_and_bad_utf8_with_1007) {
    ws_client big(url(), "stchat.v1");
    big.send(std::string(70 * 1024, 'x'));
    BOOST_TEST(big.wait_closed() == 1009);
    // Our client library refuses to send invalid UTF-8, so this one speaks RFC 6455 by hand.
    BOOST_TEST(raw_text_frame_close_code(port, "\xff\xfe") == 1007);
}

BOOST_AUTO_TEST_CASE(two_chat_processes_on_one_database_deliver_every_message_in_the_same_order) {
    int port2 = free_port();
    child_process second({stchat_binary(), "chat", "--database", db.uri(), "--port",
                          std::to_string(port2)});
    second.start();
    std::string url2 = "ws://127.0.0.1:" + std::to_string(port2) + "/";
    wait_until([&] {
        try {
            ws_client probe(url2, "stchat.v1");
            return true;
        } catch (...) {
            return false;
        }
    }, 20s, "second chat server");
    auto on_first = v1("anna");
    auto on_second = std::make_unique<ws_client>(url2, "stchat.v1");
    on_second->send(R"({"type":"hello","name":"ben"})");
    on_second->next_of("welcome");
    on_first->send(R"({"type":"join","room":"shared"})");
    on_first->next_of("joined");
    on_second->send(R"({"type":"join","room":"shared"})");
    on_second->next_of("joined");
    for (int i = 0; i < 20; ++i) {
        auto& c = i % 2 ? on_second : on_first;
        c->send(R"({"type":"send","room":"shared","id":"m-)" + std::to_string(i) + R"(","text":"t)" +
                std::to_string(i) + R"("})");
    }
    auto messages = [](ws_client& c) {
        std::vector<std::string> seen;  // "seq:text", messages only
        while (seen.size() < 20) {
            auto ev = c.next_of("event");
            if (str(ev, "kind") == "message") {
                seen.push_back(std::to_string(num(ev, "seq")) + ":" + str(ev, "text"));
            }
        }
        return seen;
    };
    auto a = messages(*on_first);
    auto b = messages(*on_second);
    BOOST_TEST(a == b, "both processes deliver the same events in the same order");
    std::set<std::string> unique(a.begin(), a.end());
    BOOST_TEST(unique.size() == 20u);
}

BOOST_AUTO_TEST_CASE(members_are_the_same_on_every_process_because_they_come_from_the_room_events) {
    int port2 = free_port();
    child_process second({stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(port2)});
    second.start();
    wait_until([&] { return http_get(port2, "/healthz") == "ok\n"; }, 20s, "second chat server");
    std::string url2 = "ws://127.0.0.1:" + std::to_string(port2) + "/";
    auto members = [](const rapidjson::Document& joined) {
        std::set<std::string> out;
        for (const auto& m : joined["members"].GetArray()) out.insert(m.GetString());
        return out;
    };
    auto hanna = v1("hanna");
    hanna->send(R"({"type":"join","room":"everywhere"})");
    hanna->next_of("joined");
    auto ivan = greeted_client(url2, "ivan");
    ivan->send(R"({"type":"join","room":"everywhere"})");
    auto on_second = ivan->next_of("joined");
    BOOST_TEST((members(on_second) == std::set<std::string>{"hanna", "ivan"}),
               "ivan, on the second process, sees hanna who joined on the first");
    BOOST_TEST(num(on_second, "member_count") == 2);
    // Ivan's join reaches the first process by its events: a later joiner there sees him too.
    for (;;) {
        auto ev = hanna->next_of("event");
        if (str(ev, "kind") == "join" && str(ev, "user") == "ivan") break;
    }
    auto jack = v1("jack");
    jack->send(R"({"type":"join","room":"everywhere"})");
    BOOST_TEST((members(jack->next_of("joined")) == std::set<std::string>{"hanna", "ivan", "jack"}));
    // Ivan leaves: the first process follows his leave event.
    ivan->send(R"({"type":"leave","room":"everywhere"})");
    for (;;) {
        auto ev = hanna->next_of("event");
        if (str(ev, "kind") == "leave" && str(ev, "user") == "ivan") break;
    }
    auto kim = v1("kim");
    kim->send(R"({"type":"join","room":"everywhere"})");
    BOOST_TEST((members(kim->next_of("joined")) == std::set<std::string>{"hanna", "jack", "kim"}));
}

BOOST_AUTO_TEST_CASE(feed_rooms_replay_and_stream_the_catalogued_feed_read_only) {
    auto log = stchat::eventstore::make_event_log(db.store());
    auto feed_event = [](int n) {
        stchat::eventstore::new_event e;
        e.source = "test-feed";
        e.message_id = std::to_string(n);
        e.stream = "feed.sport_event";
        e.type = "sport_event";
        e.payload = "raw";
        e.data_json = R"({"sport":"TENNIS","match_title":"A vs B","data_event":"ace )" +
                      std::to_string(n) + R"("})";
        e.source_time_us = 1764312000000000 + n;
        return e;
    };
    log->append_batch({feed_event(1), feed_event(2)});
    auto c = v1("fan");
    c->send(R"({"type":"join","room":"feed.sport_event","since":0})");
    c->next_of("joined");
    auto first = c->next_of("event");
    BOOST_TEST(num(first, "seq") == 1);
    BOOST_TEST(str(first, "kind") == "sport_event");
    BOOST_TEST_REQUIRE(first.HasMember("data"));
    BOOST_TEST(std::string(first["data"]["sport"].GetString()) == "TENNIS");
    BOOST_TEST(num(c->next_of("event"), "seq") == 2);
    log->append_batch({feed_event(3)});
    auto live = c->next_of("event");
    BOOST_TEST(num(live, "seq") == 3, "live after the replay");
    BOOST_TEST(std::string(live["data"]["data_event"].GetString()) == "ace 3");
    c->send(R"({"type":"send","room":"feed.sport_event","id":"x","text":"hi"})");
    BOOST_TEST(str(c->next_of("error"), "code") == "read_only");
    c->send(R"({"type":"join","room":"feed.weather"})");
    BOOST_TEST(str(c->next_of("error"), "code") == "bad_room");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE stream = 'feed.sport_event'") == 3,
               "joining a feed room writes nothing into the feed");
}

BOOST_AUTO_TEST_CASE(a_private_room_refuses_a_wrong_or_missing_key_and_leaks_nothing) {
    auto owner = v1("owner");
    owner->send(R"({"type":"join","room":"secret","key":"open sesame"})");
    owner->next_of("joined");
    owner->send(R"({"type":"send","room":"secret","id":"s-1","text":"the plan"})");
    owner->next_of("ack");
    auto eve = v1("eve");
    eve->send(R"({"type":"join","room":"secret"})");
    auto refused = eve->next_of("error");
    BOOST_TEST(str(refused, "code") == "forbidden");
    eve->send(R"({"type":"join","room":"secret","key":"guess"})");
    BOOST_TEST(str(eve->next_of("error"), "code") == "forbidden");
    eve->send(R"({"type":"send","room":"secret","id":"e-1","text":"let me in"})");
    BOOST_TEST(str(eve->next_of("error"), "code") == "not_joined");
    auto friend_ = v1("friend");
    friend_->send(R"({"type":"join","room":"secret","key":"open sesame","since":0})");
    friend_->next_of("joined");
    bool saw_plan = false;
    while (!saw_plan) saw_plan = str(friend_->next_of("event"), "text") == "the plan";
    BOOST_TEST(saw_plan);
    BOOST_TEST(db.scalar("SELECT count(*) FROM private_room WHERE hash_kind = 'argon2id'"
                         " AND key_phc LIKE '$argon2id$%' AND strpos(key_phc, 'open sesame') = 0") == 1,
               "the key is stored hashed with argon2id");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE data->>'uid' IS NOT NULL AND data->>'user' = 'eve'") == 0,
               "eve's refused attempts left nothing in the room");
}

BOOST_AUTO_TEST_CASE(a_foreign_origin_is_refused_and_the_own_host_allowed) {
    using client_t = ws_client::client_t;
    auto try_origin = [&](const std::string& origin) {
        client_t client;
        client.clear_access_channels(websocketpp::log::alevel::all);
        client.clear_error_channels(websocketpp::log::elevel::all);
        client.init_asio();
        bool opened = false;
        client.set_open_handler([&](websocketpp::connection_hdl) { opened = true; client.stop(); });
        client.set_fail_handler([&](websocketpp::connection_hdl) { client.stop(); });
        websocketpp::lib::error_code ec;
        auto con = client.get_connection(url(), ec);
        con->replace_header("Origin", origin);
        client.connect(con);
        client.run();
        return opened;
    };
    BOOST_TEST(!try_origin("http://evil.example"), "a page from another site may not connect");
    BOOST_TEST(try_origin("http://localhost:" + std::to_string(port)));
    BOOST_TEST(try_origin("http://127.0.0.1:" + std::to_string(port)));
}

BOOST_AUTO_TEST_CASE(a_flood_is_rate_limited_and_other_users_are_unaffected) {
    auto flooder = v1("flooder");
    auto calm = v1("calm");
    flooder->send(R"({"type":"join","room":"flood"})");
    flooder->next_of("joined");
    calm->send(R"({"type":"join","room":"flood"})");
    calm->next_of("joined");
    for (int i = 0; i < 120; ++i) {
        flooder->send(R"({"type":"send","room":"flood","id":"f-)" + std::to_string(i) + R"(","text":"x"})");
    }
    auto limited = flooder->next_of("error");
    BOOST_TEST(str(limited, "code") == "rate_limited");
    BOOST_TEST(num(limited, "retry_after_ms") > 0);
    calm->send(R"({"type":"send","room":"flood","id":"c-1","text":"still here"})");
    BOOST_TEST(num(calm->next_of("ack"), "seq") > 0, "the calm user is served");
    BOOST_TEST(!flooder->closed(), "a flooder is answered, not disconnected");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.message' AND data->>'user' = 'flooder'") <= 60,
               "about the burst got through (40, plus the refill while sending), not 120");
}

BOOST_AUTO_TEST_CASE(a_send_right_after_a_join_waits_for_the_join_and_is_acked) {
    auto alice = v1("alice");
    alice->send(R"({"type":"join","room":"pipelined"})");
    alice->send(R"({"type":"send","room":"pipelined","id":"p-1","text":"no waiting"})");
    std::vector<std::string> types;
    while (types.size() < 4) {
        rapidjson::Document d;
        d.Parse(alice->next().c_str());
        types.push_back(str(d, "type"));
        if (types.back() == "ack") BOOST_TEST(num(d, "seq") == 2, "the join is seq 1, the message seq 2");
    }
    // The ack may come before `joined` (it answers the send); events always come after it.
    auto joined_at = std::find(types.begin(), types.end(), "joined");
    BOOST_TEST((joined_at != types.end() && std::find(types.begin(), joined_at, "event") == joined_at),
               "joined comes before the room's events");
    BOOST_TEST(std::count(types.begin(), types.end(), "ack") == 1);
    BOOST_TEST(std::count(types.begin(), types.end(), "error") == 0);
    // A send held behind a refused join is answered not_joined, after the refusal.
    auto bob = v1("bob");
    bob->send(R"({"type":"join","room":"vault","key":"right"})");
    bob->next_of("joined");
    auto eve = v1("eve");
    eve->send(R"({"type":"join","room":"vault","key":"wrong"})");
    eve->send(R"({"type":"send","room":"vault","id":"e-1","text":"let me in"})");
    BOOST_TEST(str(eve->next_of("error"), "code") == "forbidden");
    BOOST_TEST(str(eve->next_of("error"), "code") == "not_joined");
}

BOOST_AUTO_TEST_CASE(an_id_already_used_in_another_room_is_refused_not_acked) {
    auto ann = v1("ann");
    for (const char* room : {"north", "south"}) {
        ann->send(std::string(R"({"type":"join","room":")") + room + R"("})");
        ann->next_of("joined");
    }
    ann->send(R"({"type":"send","room":"north","id":"same","text":"up here"})");
    BOOST_TEST(num(ann->next_of("ack"), "seq") == 2);
    ann->send(R"({"type":"send","room":"south","id":"same","text":"down there"})");
    auto e = ann->next_of("error");
    BOOST_TEST(str(e, "code") == "bad_frame");
    BOOST_TEST(str(e, "ref") == "same");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE stream = 'room.south' AND type = 'chat.message'") == 0);
}

BOOST_AUTO_TEST_CASE(metrics_count_sessions_stored_messages_dedup_hits_and_errors) {
    auto alice = v1("alice");
    alice->send(R"({"type":"join","room":"lobby"})");
    alice->next_of("joined");
    alice->send(R"({"type":"send","room":"lobby","id":"m-1","text":"hi"})");
    alice->next_of("ack");
    alice->send(R"({"type":"send","room":"lobby","id":"m-1","text":"hi"})");
    alice->next_of("ack");
    alice->send("{not json");
    alice->next_of("error");
    std::string page = http_get(port, "/metrics");
    BOOST_TEST(page.find("# TYPE stchat_chat_send_latency_seconds histogram") != std::string::npos, page);
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_sessions{protocol="v1"})") == 1, page);
    BOOST_TEST(prometheus_value(page, "stchat_chat_messages_stored_total") == 1, page);
    BOOST_TEST(prometheus_value(page, "stchat_chat_send_duplicates_total") == 1, page);
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_errors_total{code="bad_json"})") == 1, page);
    BOOST_TEST(prometheus_value(page, "stchat_chat_send_latency_seconds_count") == 2, page);
    BOOST_TEST(http_get(port, "/healthz") == "ok\n");
}

BOOST_AUTO_TEST_CASE(quiet_sessions_are_pinged_and_kept_dead_ones_are_closed) {
    int port2 = free_port();
    child_process quick({stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(port2),
                         "--ping-interval", "0.2", "--idle-timeout", "1", "--hello-timeout", "1"});
    quick.start();
    std::string url2 = "ws://127.0.0.1:" + std::to_string(port2) + "/";
    wait_until([&] { return http_get(port2, "/healthz") == "ok\n"; }, 20s, "second server up");
    // A client that answers pings (as browsers do) stays, however long it says nothing.
    ws_client live(url2, "stchat.v1");
    live.send(R"({"type":"hello","name":"quiet"})");
    live.next_of("welcome");
    BOOST_TEST(live.wait_pings(8, 10s), "the server pings a quiet session every 0.2 s");
    BOOST_TEST(!live.closed(), "a session that answers pings is kept past the idle timeout");
    // A peer that never answers is closed with 1001 once the idle timeout passes.
    int dead = raw_websocket(port2, "stchat.v1");
    BOOST_REQUIRE(dead >= 0);
    std::string hello = R"({"type":"hello","name":"gone"})";
    std::string frame{static_cast<char>(0x81), static_cast<char>(0x80 | hello.size()), 0, 0, 0, 0};
    frame += hello;  // mask 0: the payload goes as is
    ::send(dead, frame.data(), frame.size(), MSG_NOSIGNAL);
    int pings = 0;
    BOOST_TEST(read_until_close(dead, &pings) == 1001, "closed as idle");
    BOOST_TEST(pings >= 1, "pinged before being closed");
    ::close(dead);
    // A stchat.v1 client that never says hello is closed with 1008.
    int mute = raw_websocket(port2, "stchat.v1");
    BOOST_TEST(read_until_close(mute) == 1008, "closed for want of hello");
    ::close(mute);
    std::string page = http_get(port2, "/metrics");
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_closed_total{reason="idle"})") == 1, page);
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_closed_total{reason="no_hello"})") == 1, page);
}

BOOST_AUTO_TEST_CASE(a_server_that_could_not_ping_pings_before_it_judges_a_session_idle) {
    // The server is stopped (SIGSTOP) three idle timeouts long: no pings go out, so its sessions'
    // silence is its own doing. Resumed, it must ping them first, not close them as idle; a peer
    // that does not answer is still closed.
    int port2 = free_port();
    child_process frozen({stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(port2),
                          "--ping-interval", "0.2", "--idle-timeout", "1", "--hello-timeout", "60"});
    frozen.start();
    std::string url2 = "ws://127.0.0.1:" + std::to_string(port2) + "/";
    wait_until([&] { return http_get(port2, "/healthz") == "ok\n"; }, 20s, "server up");
    ws_client live(url2, "stchat.v1");
    live.send(R"({"type":"hello","name":"patient"})");
    live.next_of("welcome");
    int dead = raw_websocket(port2, "stchat.v1");
    BOOST_REQUIRE(dead >= 0);
    BOOST_REQUIRE(live.wait_pings(1, 10s));
    ::kill(frozen.pid(), SIGSTOP);
    std::this_thread::sleep_for(3s);  // the fault itself: three idle timeouts without the server
    ::kill(frozen.pid(), SIGCONT);
    int before = live.pings();
    BOOST_TEST(live.wait_pings(before + 10, 20s), "pinged again after the stop (2 s of pings)");
    BOOST_TEST(!live.closed(), "a session that answers pings is not closed for the server's own silence");
    BOOST_TEST(read_until_close(dead) == 1001, "a peer that answers no ping is still closed as idle");
    ::close(dead);
    std::string page = http_get(port2, "/metrics");
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_closed_total{reason="idle"})") == 1, page);
}

BOOST_AUTO_TEST_CASE(a_reader_that_stops_reading_is_closed_and_never_stalls_its_room) {
    int port2 = free_port();
    child_process roomy({stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(port2),
                         "--rate-limit", "100000", "--max-text", "60000"});
    roomy.start();
    wait_until([&] { return http_get(port2, "/healthz") == "ok\n"; }, 20s, "server up");
    std::string url2 = "ws://127.0.0.1:" + std::to_string(port2) + "/";
    // The slow reader joins, then never reads a byte.
    int slow = raw_websocket(port2, "stchat.v1", 4096);
    BOOST_REQUIRE(slow >= 0);
    for (const std::string f : {R"({"type":"hello","name":"sloth"})", R"({"type":"join","room":"busy"})"}) {
        std::string frame = masked_text_frame(f);
        ::send(slow, frame.data(), frame.size(), MSG_NOSIGNAL);
    }
    auto reader = std::make_unique<ws_client>(url2, "stchat.v1");
    reader->send(R"({"type":"hello","name":"reader"})");
    reader->next_of("welcome");
    reader->send(R"({"type":"join","room":"busy"})");
    reader->next_of("joined");
    ws_client writer(url2, "stchat.v1");
    writer.send(R"({"type":"hello","name":"writer"})");
    writer.next_of("welcome");
    writer.send(R"({"type":"join","room":"busy"})");
    writer.next_of("joined");
    std::string text(50000, 'z');
    int sent = 0;
    auto slow_closed = [&] {
        return prometheus_value(http_get(port2, "/metrics"), R"(stchat_chat_closed_total{reason="slow_reader"})") == 1;
    };
    while (!slow_closed() && sent < 2000) {
        writer.send(R"({"type":"send","room":"busy","id":"z-)" + std::to_string(sent) + R"(","text":")" + text + R"("})");
        BOOST_REQUIRE(num(writer.next_of("ack"), "seq") > 0);  // the room keeps going
        ++sent;
    }
    BOOST_TEST(slow_closed(), "the reader that stopped reading was closed after " << sent << " messages");
    BOOST_TEST_MESSAGE("slow reader closed after " << sent << " messages of 50,000 characters");
    // Everyone else got every message.
    std::set<std::string> got;
    while (static_cast<int>(got.size()) < sent) {
        auto e = reader->next_of("event");
        if (str(e, "kind") == "message") got.insert(str(e, "id"));
    }
    BOOST_TEST(static_cast<int>(got.size()) == sent);
    ::close(slow);
    // The slow reader comes back with since and gets everything, in order.
    ws_client back(url2, "stchat.v1");
    back.send(R"({"type":"hello","name":"sloth"})");
    back.next_of("welcome");
    back.send(R"({"type":"join","room":"busy","since":0})");
    back.next_of("joined");
    int messages = 0;
    for (int64_t seq = 1; messages < sent; ++seq) {
        auto e = back.next_of("event");
        BOOST_REQUIRE(num(e, "seq") == seq);
        messages += str(e, "kind") == "message";
    }
}

BOOST_AUTO_TEST_CASE(the_server_exits_zero_on_sigterm) {
    server.kill(SIGTERM);
    BOOST_TEST(server.wait() == 0);
}

BOOST_AUTO_TEST_CASE(history_pages_back_through_a_room_apart_from_the_live_stream) {
    // 250 messages already in the room, written the way the chat writes them.
    {
        auto log = stchat::eventstore::make_event_log(db.store());
        std::vector<stchat::eventstore::new_event> batch;
        for (int i = 1; i <= 250; ++i) {
            stchat::eventstore::new_event e;
            e.source = "chat:u-old";
            e.message_id = "h-" + std::to_string(i);
            e.stream = "room.hist";
            e.type = "chat.message";
            e.data_json = R"({"room":"hist","user":"old","uid":"u-old","id":"h-)" + std::to_string(i) +
                          R"(","text":"message )" + std::to_string(i) + "\"}";
            batch.push_back(e);
        }
        log->append_batch(batch);
    }
    auto c = v1("reader");
    c->send(R"({"type":"history","room":"hist","before":10})");
    auto refused = c->next_of("error");
    BOOST_TEST(str(refused, "code") == "not_joined", "history needs a join first");
    c->send(R"({"type":"join","room":"hist","since":250})");
    c->next_of("joined");
    auto own_join = c->next_of("event");
    BOOST_TEST(num(own_join, "seq") == 251, "the live stream: the reader's own join");

    c->send(R"({"type":"history","room":"hist","before":251,"limit":500})");
    auto page = history_answer(*c);
    BOOST_TEST_REQUIRE(page.size() == 201u, "at most 200 events, then history_end; got " << page.size());
    for (size_t i = 0; i < 200; ++i) {
        BOOST_TEST(str(page[i], "type") == "event");
        BOOST_TEST(num(page[i], "seq") == static_cast<int64_t>(51 + i), "in order, no gap");
        BOOST_TEST(page[i]["history"].GetBool(), "marked as history, not live");
    }
    BOOST_TEST(str(page[0], "text") == "message 51");
    BOOST_TEST(num(page[200], "before") == 251);
    BOOST_TEST(num(page[200], "first") == 51);

    c->send(R"({"type":"history","room":"hist","before":51})");
    auto rest = history_answer(*c);
    BOOST_TEST_REQUIRE(rest.size() == 51u, "the default limit is 50: seqs 1..50");
    BOOST_TEST(num(rest.front(), "seq") == 1);
    BOOST_TEST(num(rest[49], "seq") == 50);
    BOOST_TEST(num(rest.back(), "first") == 1, "first = 1: the start of the room");

    // Live events keep coming as before, unmarked, after the history.
    auto other = v1("writer");
    other->send(R"({"type":"join","room":"hist","since":251})");
    other->next_of("joined");
    other->send(R"({"type":"send","room":"hist","id":"w-1","text":"live"})");
    other->next_of("ack");
    for (;;) {
        auto ev = c->next_of("event");
        BOOST_TEST(!ev.HasMember("history"), "a live event is not marked history");
        if (str(ev, "kind") == "message") {
            BOOST_TEST(str(ev, "text") == "live");
            BOOST_TEST(num(ev, "seq") == 253);
            break;
        }
    }
    c->send(R"({"type":"history","room":"hist","before":0})");
    BOOST_TEST(str(c->next_of("error"), "code") == "bad_frame", "before must be >= 1");
}

BOOST_AUTO_TEST_CASE(the_client_module_is_served_and_no_other_path_is) {
    std::string js = http_get(port, "/stchat-client.js");
    BOOST_TEST(js.find("export class StchatClient") != std::string::npos, "GET /stchat-client.js: " << js.substr(0, 200));
    BOOST_TEST(http_get(port, "/../CMakeLists.txt").find("not found") != std::string::npos, "no path from the request is opened");
    BOOST_TEST(http_get(port, "/web/stchat-client.js").find("not found") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
