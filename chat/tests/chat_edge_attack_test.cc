#define BOOST_TEST_MODULE chat_edge_attack
// The chat edge under attack: a real `stchat chat` process, raw sockets speaking RFC 6455 by hand
// (chat/tests/raw_ws.h), hostile handshakes, frames, JSON and strings. Each case asserts the close
// code or error frame, and then that the server still serves a normal client and that its
// resident memory grew by less than k_rss_bound_kib during the attack.
#include <openssl/hmac.h>

#include <boost/test/unit_test.hpp>
#include <atomic>
#include <set>
#include <thread>

#include "raw_ws.h"
#include "stchat/eventstore/sql_session.h"
#include "test_support.h"
#include "ws_client.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

// What an attack may leave the server holding: the 64 KiB frame limit, 1 MiB per slow reader
// and allocator slack. Before the fixes, single connections made it hold 24 MiB (an overflowing
// length) and 90 MiB (unread pongs).
constexpr long k_rss_bound_kib = 16 * 1024;

std::string str(const rapidjson::Document& d, const char* k) {
    return d.HasMember(k) && d[k].IsString() ? std::string(d[k].GetString(), d[k].GetStringLength()) : "";
}
int64_t num(const rapidjson::Document& d, const char* k) {
    return d.HasMember(k) && d[k].IsInt64() ? d[k].GetInt64() : -1;
}
rapidjson::Document parse(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.c_str(), text.size());
    return d;
}

struct edge_fixture {
    scratch_database db{"edge"};
    int port = free_port();
    child_process server;
    long rss_before = 0;

    explicit edge_fixture(std::vector<std::string> extra = {"--max-rooms", "5", "--rooms-per-minute", "3"})
        : server(args(extra)) {
        server.start();
        wait_until([&] { return http_get(port, "/healthz") == "ok\n"; }, 20s, "chat server up");
        rss_before = rss_kib(server.pid());
    }
    std::vector<std::string> args(const std::vector<std::string>& extra) {
        std::vector<std::string> a{stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(port)};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }
    std::unique_ptr<ws_client> v1(const std::string& name) { return greeted_client(url(), name); }
    // A raw v1 session that said hello.
    std::unique_ptr<raw_peer> raw(const std::string& name = "raw") {
        auto p = std::make_unique<raw_peer>(port);
        BOOST_REQUIRE_MESSAGE(p->upgrade(), "handshake: " << p->last_head());
        p->text(R"({"type":"hello","name":")" + name + R"("})");
        BOOST_REQUIRE_MESSAGE(str(parse(p->next_text()), "type") == "welcome", "welcome for " << name);
        return p;
    }
    // After every attack: the process lives, a normal client is served end to end, and memory
    // stayed within the bound.
    void still_serves(const std::string& after) {
        BOOST_REQUIRE_MESSAGE(server.running(), "the server survived " << after);
        auto c = v1("normal");
        c->send(R"({"type":"join","room":"after-attack"})");
        c->next_of("joined");
        c->send(R"({"type":"send","room":"after-attack","id":"n-)" + std::to_string(++_checks) +
                R"(","text":"still here"})");
        BOOST_TEST(num(c->next_of("ack"), "seq") > 0, "a normal send is acked after " << after);
        long rss = rss_kib(server.pid());
        BOOST_TEST(rss - rss_before < k_rss_bound_kib,
                   "RSS grew " << (rss - rss_before) << " KiB after " << after << " (bound " << k_rss_bound_kib << " KiB)");
    }
    int64_t messages_stored() { return db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.message'"); }

private:
    int _checks = 0;
};

// The log locked by another transaction (ACCESS EXCLUSIVE: every read and append of it waits)
// until release(): a stuck database, deterministic. The locking transaction waits for an
// advisory lock the test holds, so it ends exactly when the test lets go.
class log_locked {
public:
    explicit log_locked(const scratch_database& db) : _db(db) {
        _db.scalar("SELECT 1 FROM (SELECT pg_advisory_lock(4242)) held");
        _locker = std::thread([this] {
            auto sql = stchat::eventstore::make_sql_session(_db.store());
            sql->exec("LOCK TABLE event_log IN ACCESS EXCLUSIVE MODE; SELECT pg_advisory_lock(4242)");
        });
        wait_until([&] {
            return _db.scalar("SELECT count(*) FROM pg_locks WHERE relation = 'event_log'::regclass"
                              " AND mode = 'AccessExclusiveLock' AND granted") == 1;
        }, 10s, "event_log locked");
    }
    void release() {
        if (!_locker.joinable()) return;
        _db.scalar("SELECT 1 FROM (SELECT pg_advisory_unlock(4242)) released");
        _locker.join();
    }
    ~log_locked() { release(); }

private:
    const scratch_database& _db;
    std::thread _locker;
};

// The next frame that is not a room event (replies come in order; events interleave).
rapidjson::Document next_reply(raw_peer& p) {
    for (;;) {
        auto d = parse(p.next_text());
        if (str(d, "type") != "event") return d;
    }
}

std::string header_value(const std::string& head, const std::string& name) {
    auto at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    at += name.size() + 4;
    return head.substr(at, head.find("\r\n", at) - at);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(edge, edge_fixture)

// ---- 1. Only RFC 6455 ----

BOOST_AUTO_TEST_CASE(a_draft76_handshake_gets_426_and_its_deep_payload_is_never_parsed) {
    raw_peer p(port);
    p.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
           "Origin: http://127.0.0.1\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
           "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n^n:ds[4U");
    std::string head = p.read_head();
    BOOST_TEST(raw_peer::status_of(head) == 426, head);
    BOOST_TEST(header_value(head, "Sec-WebSocket-Version") == "13", head);
    // What crashed the server before: a hixie message of a million '[' (sent anyway).
    p.send(std::string(1, '\0') + std::string(1000000, '[') + "\xff");
    still_serves("a draft-76 handshake with a 1,000,000-deep message");
}

BOOST_AUTO_TEST_CASE(versions_7_and_8_get_426_and_upgrades_happen_only_at_the_root) {
    // (An unknown version such as 14 is refused by websocketpp itself, 400, before us.)
    for (const char* version : {"7", "8"}) {
        raw_peer p(port);
        p.send(std::string("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ") + version + "\r\n\r\n");
        std::string head = p.read_head();
        BOOST_TEST(raw_peer::status_of(head) == 426, "version " << version << ": " << head);
        BOOST_TEST(header_value(head, "Sec-WebSocket-Version") == "13", head);
    }
    raw_peer elsewhere(port);
    BOOST_TEST(!elsewhere.upgrade("stchat.v1", "", "/metrics"), "no upgrade at /metrics");
    BOOST_TEST(raw_peer::status_of(elsewhere.last_head()) == 404, elsewhere.last_head());
    raw_peer root(port);
    BOOST_TEST(root.upgrade("stchat.v1", "", "/?client=test"), "an upgrade at / with a query: " << root.last_head());
    still_serves("refused handshakes");
}

BOOST_AUTO_TEST_CASE(http_takes_get_and_head_only_and_caps_request_bodies) {
    {
        raw_peer p(port);
        p.send("POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi");
        std::string head = p.read_head();
        BOOST_TEST(raw_peer::status_of(head) == 405, head);
        BOOST_TEST(header_value(head, "Allow") == "GET, HEAD", head);
    }
    {
        raw_peer p(port);
        p.send("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        std::string all = p.read_all();
        auto end = all.find("\r\n\r\n");
        BOOST_TEST(raw_peer::status_of(all) == 200, all);
        BOOST_TEST(header_value(all, "Content-Length") == "3", "HEAD says the GET's length: " << all);
        BOOST_TEST((end != std::string::npos && all.size() == end + 4), "HEAD has no body: " << all);
    }
    {
        raw_peer p(port);
        p.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2000000\r\n\r\n" + std::string(4096, 'b'));
        std::string head = p.read_head();
        BOOST_TEST(raw_peer::status_of(head) == 413, "a body over 1 KiB is refused: " << head);
    }
    still_serves("HTTP methods and bodies");
}

// ---- 2. Every byte bounded before it is parsed ----

BOOST_AUTO_TEST_CASE(a_continuation_length_near_2_to_the_64_closes_1009_without_buffering) {
    raw_peer p(port);
    BOOST_REQUIRE(p.upgrade());
    p.send(ws_frame(0x1, "{\"type\":", false));                          // a first fragment
    p.send(ws_frame(0x0, std::string(65536, 'x'), true, UINT64_MAX));      // 2^64 - 1: wrapped before
    BOOST_TEST(p.close_code() == 1009);
    raw_peer q(port);
    BOOST_REQUIRE(q.upgrade());
    q.send(ws_frame(0x1, std::string(65536, 'y'), true, 1ull << 63));      // top bit set: RFC 6455 5.2
    BOOST_TEST(q.close_code() == 1009);
    raw_peer r(port);
    BOOST_REQUIRE(r.upgrade());
    r.send(ws_frame(0x1, "[", false));
    r.send(ws_frame(0x0, std::string(40000, '['), false));
    r.send(ws_frame(0x0, std::string(40000, '['), true));                  // 80,001 bytes in 3 fragments
    BOOST_TEST(r.close_code() == 1009, "fragments add up to the same 64 KiB limit");
    still_serves("lengths that overflow");
}

BOOST_AUTO_TEST_CASE(frames_that_break_rfc_6455_close_1002_and_bad_utf8_closes_1007) {
    struct violation {
        const char* what;
        std::string bytes;
        int code;
    };
    std::string rsv1 = ws_frame(0x1, "{}");
    rsv1[0] = static_cast<char>(rsv1[0] | 0x40);
    std::string bad_close_code = ws_frame(0x8, std::string("\x03\xe7", 2));  // 999: not a close code
    for (const violation& v : {violation{"an unmasked client frame", std::string("\x81\x02{}", 4), 1002},
                               violation{"a reserved bit without an extension", rsv1, 1002},
                               violation{"a continuation with nothing to continue", ws_frame(0x0, "x"), 1002},
                               violation{"a fragmented ping", ws_frame(0x9, "x", false), 1002},
                               violation{"a reserved opcode", ws_frame(0x3, "x"), 1002},
                               violation{"a close code that does not exist", bad_close_code, 1002},
                               violation{"invalid UTF-8 in a text frame", ws_frame(0x1, "\xff\xfe"), 1007},
                               violation{"a surrogate encoded in UTF-8", ws_frame(0x1, "\xed\xa0\x80"), 1007},
                               violation{"an overlong encoding", ws_frame(0x1, "\xc0\xaf"), 1007}}) {
        raw_peer p(port);
        BOOST_REQUIRE(p.upgrade());
        p.send(v.bytes);
        BOOST_TEST(p.close_code() == v.code, v.what);
    }
    still_serves("RFC 6455 violations");
}

BOOST_AUTO_TEST_CASE(deep_json_gets_bad_json_and_the_session_stays_open) {
    auto p = raw();
    p->text(std::string(60000, '['));
    auto e = next_reply(*p);
    BOOST_TEST(str(e, "code") == "bad_json");
    p->text(std::string(30000, '{') + "\"a\":" + std::string(30000, '}'));
    BOOST_TEST(str(next_reply(*p), "code") == "bad_json");
    p->text(R"({"type":"join","room":"deep"})");
    BOOST_TEST(str(next_reply(*p), "type") == "joined", "the session goes on");
    still_serves("deeply nested JSON");
}

BOOST_AUTO_TEST_CASE(a_ping_flood_from_a_client_that_never_reads_is_closed_1008) {
    raw_peer p(port, 10, 4096);
    BOOST_REQUIRE(p.upgrade());
    std::string pings;
    for (int i = 0; i < 1000; ++i) pings += ws_frame(0x9, "");
    int sent = 0;
    while (sent < 300 && p.send(pings)) ++sent;  // up to 300,000 pings, never reading
    BOOST_TEST_MESSAGE("sent " << sent * 1000 << " pings before the server stopped reading them");
    BOOST_TEST(p.close_code() == 1008, "a ping flood is closed as a policy violation");
    std::string page = http_get(port, "/metrics");
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_closed_total{reason="ping_flood"})") == 1, page);
    still_serves("300,000 pings");
}

BOOST_AUTO_TEST_CASE(json_pings_are_answered_and_a_flood_of_them_is_closed_1008_like_websocket_pings) {
    double before = prometheus_value(http_get(port, "/metrics"), R"(stchat_chat_closed_total{reason="ping_flood"})");
    {
        auto p = raw();
        p->text(R"({"type":"ping"})");
        BOOST_TEST(str(next_reply(*p), "type") == "pong", "a JSON ping is answered with a pong");
    }
    raw_peer p(port, 10, 4096);
    BOOST_REQUIRE(p.upgrade());
    std::string pings;
    for (int i = 0; i < 200; ++i) pings += ws_frame(0x1, R"({"type":"ping"})", true);
    int sent = 0;
    while (sent < 100 && p.send(pings)) ++sent;  // up to 20,000 JSON pings, never reading
    BOOST_TEST(p.close_code() == 1008, "a flood of JSON pings is closed as a policy violation");
    double after = prometheus_value(http_get(port, "/metrics"), R"(stchat_chat_closed_total{reason="ping_flood"})");
    BOOST_TEST(after == before + 1, "counted as a ping flood");
    still_serves("20,000 JSON pings");
}

BOOST_AUTO_TEST_CASE(a_client_that_pings_and_never_reads_is_bounded_as_a_slow_reader) {
    // Within the ping rate, with 125-byte payloads: each pong counts toward the 1 MiB bound.
    raw_peer p(port, 10, 4096);
    BOOST_REQUIRE(p.upgrade());
    p.text(R"({"type":"hello","name":"pinger"})");
    std::string big(125, 'p');
    for (int i = 0; i < 20; ++i) p.send(ws_frame(0x9, big));
    // The 20-ping burst is answered; nothing is closed for that.
    std::string page = http_get(port, "/metrics");
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_closed_total{reason="ping_flood"})") == 0, page);
    still_serves("a burst of pings");
}

BOOST_AUTO_TEST_CASE(frames_held_while_a_join_is_decided_are_bounded_in_bytes_too) {
    auto c = raw("holder");
    log_locked stuck(db);  // the join's access check reads the log: it waits
    c->text(R"({"type":"join","room":"held-bytes"})");
    std::string big = R"({"type":"send","room":"held-bytes","id":"b","text":")" + std::string(60000, 'x') + R"("})";
    for (int i = 0; i < 5; ++i) c->text(big);  // 5 x 60 KB: the fifth passes 256 KiB
    auto refused = parse(c->next_text());
    BOOST_TEST(str(refused, "type") == "error", "answered while the join waits: " << str(refused, "type"));
    BOOST_TEST(str(refused, "code") == "rate_limited");
    BOOST_TEST(str(refused, "message") == "too many frames while joining");
    stuck.release();
    int joined = 0, too_large = 0;
    while (joined + too_large < 5) {  // each held frame is handled once the join is decided
        auto f = parse(c->next_text());
        if (str(f, "type") == "joined") ++joined;
        else if (str(f, "code") == "too_large") ++too_large;
        else BOOST_REQUIRE_MESSAGE(str(f, "type") == "event", "unexpected frame: " << str(f, "type") << " " << str(f, "code"));
    }
    BOOST_TEST(joined == 1, "the join went on");
    BOOST_TEST(too_large == 4, "the four frames held were handled, the refused one was not");
    still_serves("256 KiB of frames held during a join");
}

// ---- 3. Strings Postgres can store, checked at the edge ----

BOOST_AUTO_TEST_CASE(strings_postgres_cannot_store_are_refused_at_the_edge_and_nothing_is_stored) {
    struct named {
        const char* what;
        std::string name;
    };
    for (const named& n : {named{"a lone surrogate", R"(ev\udc00e)"}, named{"a NUL", R"(ev\u0000e)"},
                           named{"C1 NEL", R"(ev\u0085e)"}, named{"C1 CSI", R"(ev\u009be)"},
                           named{"a bidi override", R"(ev\u202ee)"}, named{"a bidi isolate", R"(ev\u2066e)"},
                           named{"a zero-width space", R"(ev\u200be)"}, named{"a BOM", R"(\ufeffeve)"},
                           named{"a line separator", R"(ev\u2028e)"}}) {
        raw_peer p(port);
        BOOST_REQUIRE(p.upgrade());
        p.text(R"({"type":"hello","name":")" + n.name + R"("})");
        BOOST_TEST(str(parse(p.next_text()), "code") == "bad_name", "a name with " << n.what);
    }
    auto p = raw("eve");
    p->text(R"({"type":"join","room":"strings"})");
    BOOST_REQUIRE(str(parse(p->next_text()), "type") == "joined");
    struct bad_send {
        const char* what;
        std::string frame;
    };
    for (const bad_send& b :
         {bad_send{"a lone low surrogate in the text", R"({"type":"send","room":"strings","id":"s1","text":"x\udc00y"})"},
          bad_send{"a lone high surrogate in the text", R"({"type":"send","room":"strings","id":"s2","text":"x\ud800"})"},
          bad_send{"a NUL in the text", R"({"type":"send","room":"strings","id":"s3","text":"a\u0000b"})"},
          bad_send{"a NUL in the id", R"({"type":"send","room":"strings","id":"a\u0000b","text":"hi"})"},
          bad_send{"a surrogate in the id", R"({"type":"send","room":"strings","id":"\udfff","text":"hi"})"},
          bad_send{"a NUL in a join's room", R"({"type":"join","room":"strings\u0000x"})"},
          bad_send{"a surrogate in a key", R"({"type":"join","room":"strings2","key":"\udc00"})"}}) {
        p->text(b.frame);
        auto e = next_reply(*p);
        BOOST_TEST(str(e, "type") == "error", b.what);
        // A high surrogate without its pair is a JSON syntax error to the parser: bad_json.
        BOOST_TEST((str(e, "code") == "bad_frame" || str(e, "code") == "bad_room" || str(e, "code") == "bad_json"),
                   b.what << ": " << str(e, "code"));
    }
    BOOST_TEST(messages_stored() == 0, "nothing of it was stored");
    p->text(R"({"type":"send","room":"strings","id":"a","text":"fine"})");
    auto ack = next_reply(*p);
    BOOST_TEST(str(ack, "type") == "ack", "the id 'a' is free: 'a\\u0000b' was never taken as 'a'");
    still_serves("strings Postgres cannot store");
}

BOOST_AUTO_TEST_CASE(binary_frames_are_closed_1003) {
    auto p = raw();
    p->send(ws_frame(0x2, "{\"type\":\"join\",\"room\":\"bin\"}"));
    BOOST_TEST(p->close_code() == 1003);
    raw_peer legacy(port);
    BOOST_REQUIRE(legacy.upgrade(""));
    legacy.send(ws_frame(0x2, "\xed\xb0\x80"));
    BOOST_TEST(legacy.close_code() == 1003, "the legacy protocol too");
    still_serves("binary frames");
}

// ---- 4. No batch is poisoned by one item ----

BOOST_AUTO_TEST_CASE(one_send_the_database_refuses_fails_alone_among_1000_concurrent_good_ones) {
    // A data error the edge cannot foresee (a constraint added by an operator, say): Postgres
    // refuses any message whose text is POISON.
    edge_fixture fast({"--rate-limit", "100000"});
    fast.db.scalar("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
              " IF NEW.data->>'text' = 'POISON' THEN RAISE EXCEPTION 'poisoned' USING ERRCODE = '22023'; END IF;"
              " RETURN NEW; END $$; CREATE TRIGGER poison BEFORE INSERT ON event_log FOR EACH ROW EXECUTE FUNCTION poison();"
              " SELECT 1");
    constexpr int users = 10, each = 100;
    std::atomic<int> acks{0}, errors{0};
    std::vector<std::unique_ptr<ws_client>> clients;
    for (int u = 0; u < users; ++u) {
        clients.push_back(fast.v1("u" + std::to_string(u)));
        clients.back()->send(R"({"type":"join","room":"batch"})");
        clients.back()->next_of("joined");
    }
    auto villain = fast.v1("villain");
    villain->send(R"({"type":"join","room":"batch"})");
    villain->next_of("joined");
    std::vector<std::thread> threads;
    for (int u = 0; u < users; ++u) {
        threads.emplace_back([&, u] {
            for (int i = 0; i < each; ++i) {
                clients[u]->send(R"({"type":"send","room":"batch","id":"g-)" + std::to_string(i) + R"(","text":"good"})");
                if (u == 0 && i == each / 2) villain->send(R"({"type":"send","room":"batch","id":"p","text":"POISON"})");
            }
            for (int answered = 0; answered < each;) {
                auto f = parse(clients[u]->next(20s));
                if (str(f, "type") == "ack") ++acks, ++answered;
                if (str(f, "type") == "error") ++errors, ++answered;
            }
        });
    }
    auto refused = villain->next_of("error", 20s);
    for (auto& t : threads) t.join();
    BOOST_TEST(acks.load() == users * each, acks.load() << " good sends acked of " << users * each);
    BOOST_TEST(errors.load() == 0, errors.load() << " good sends failed");
    BOOST_TEST(str(refused, "code") == "bad_frame");
    BOOST_TEST(str(refused, "ref") == "p");
    BOOST_TEST(fast.messages_stored() == users * each, "exactly the good sends stored");
    fast.still_serves("a poisoned send");
}

BOOST_AUTO_TEST_CASE(a_flood_while_appends_are_stuck_is_refused_past_the_bound_and_what_was_acked_is_stored_once) {
    // Postgres stuck for appends: the test holds the log's append lock (append_batch.sql: 7311)
    // the way a long transaction or a frozen disk would. A client floods sends meanwhile. A small
    // bound, so that what is acked at once after the release (events and acks) stays under the
    // 1 MiB a reader may have unread.
    edge_fixture fast({"--rate-limit", "100000", "--max-queued", "1000"});
    auto flooder = fast.v1("flooder");
    flooder->send(R"({"type":"join","room":"flood"})");
    flooder->next_of("joined");
    fast.db.scalar("SELECT 1 FROM (SELECT pg_advisory_lock(7311)) held");
    constexpr int sends = 1500;
    for (int i = 0; i < sends; ++i) {
        flooder->send(R"({"type":"send","room":"flood","id":"f-)" + std::to_string(i) + R"(","text":"x"})");
    }
    // Answered in order: once it is, every send was taken or refused (the refusals' frames may
    // still be on their way, behind it).
    flooder->send(R"({"type":"ping"})");
    std::set<std::string> acked, refused;
    rapidjson::Document refusal;
    for (;;) {
        auto f = parse(flooder->next(20s));
        if (str(f, "type") == "pong") break;
        if (str(f, "type") == "event" && str(f, "kind") == "join") continue;  // its own join, gathered (up to 1 s)
        BOOST_REQUIRE_MESSAGE(str(f, "type") == "error", "only refusals while the appends are stuck: " << str(f, "type"));
        refused.insert(str(f, "ref"));
        refusal.CopyFrom(f, refusal.GetAllocator());
    }
    BOOST_REQUIRE_MESSAGE(!refused.empty(), "sends past the bound are refused at once, while the appends are stuck");
    BOOST_TEST(str(refusal, "code") == "rate_limited", "refused as rate_limited");
    BOOST_TEST(str(refusal, "message") == "the database is behind; send again");
    BOOST_TEST(num(refusal, "retry_after_ms") == 1000, "with a time to send again");
    BOOST_TEST(fast.messages_stored() == 0, "nothing stored while the appends are stuck");
    raw_peer newcomer(fast.port);
    BOOST_TEST(!newcomer.upgrade(), "a new session is refused while as much waits for the writer as messages may");
    BOOST_TEST(newcomer.last_head().find(" 503 ") != std::string::npos, newcomer.last_head());
    BOOST_TEST(newcomer.last_head().find("Retry-After: 1") != std::string::npos, newcomer.last_head());
    fast.db.scalar("SELECT 1 FROM (SELECT pg_advisory_unlock(7311)) released");
    while (static_cast<int>(acked.size() + refused.size()) < sends) {
        rapidjson::Document f;
        try {
            f = parse(flooder->next(30s));
        } catch (const std::exception&) {
            BOOST_FAIL("no frame within 30 s: " << acked.size() << " acked, " << refused.size() << " refused of " << sends);
        }
        if (str(f, "type") == "ack") acked.insert(str(f, "id"));
        else if (str(f, "type") == "error" && str(f, "code") == "rate_limited") refused.insert(str(f, "ref"));
        else BOOST_REQUIRE_MESSAGE(str(f, "type") == "event", "unexpected frame: " << str(f, "type") << " " << str(f, "code"));
    }
    // The batch the writer had taken when the lock stopped it is the first one committed (one
    // recorded_at per batch); the bound counts what waits behind it.
    int64_t stuck = fast.db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.message' AND recorded_at = "
                                   "(SELECT min(recorded_at) FROM event_log WHERE type = 'chat.message')");
    BOOST_TEST(static_cast<int64_t>(acked.size()) == stuck + 1000,
               acked.size() << " acked: the stuck batch (" << stuck << ") and exactly the 1,000 that may wait");
    BOOST_TEST(fast.messages_stored() == static_cast<int64_t>(acked.size()), "every acked send stored once, no refused one");
    BOOST_TEST(fast.db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.message' AND data->>'id' = '" +
                              *refused.begin() + "'") == 0, "a refused send is not stored");
    fast.still_serves("a flood while appends were stuck");
}

BOOST_AUTO_TEST_CASE(history_requests_waiting_for_a_stuck_database_are_bounded_per_connection) {
    edge_fixture edge;
    auto reader = edge.v1("reader");
    reader->send(R"({"type":"join","room":"hist"})");
    reader->next_of("joined");
    log_locked stuck(edge.db);  // reads of the log wait
    for (int i = 0; i < 6; ++i) reader->send(R"({"type":"history","room":"hist","limit":10})");
    int refused = 0, ends = 0;
    while (refused < 2) {
        auto f = parse(reader->next(20s));
        if (str(f, "type") == "history_end") ++ends;
        if (str(f, "type") != "error") continue;
        BOOST_TEST(str(f, "code") == "rate_limited");
        BOOST_TEST(num(f, "retry_after_ms") == 1000);
        ++refused;
    }
    BOOST_TEST(ends == 0, "the refusals come at once, while the reads are stuck");
    stuck.release();
    while (ends < 4) {  // the four that waited are each answered (else next() throws after 20 s)
        auto f = parse(reader->next(20s));
        if (str(f, "type") == "history_end") ++ends;
        BOOST_REQUIRE_MESSAGE(str(f, "type") != "error", "no refusal once the reads went on: " << str(f, "message"));
    }
    edge.still_serves("history requests while reads were stuck");
}

// ---- 5. Identity is fixed per connection ----

BOOST_AUTO_TEST_CASE(a_second_hello_is_refused_and_changes_nothing) {
    auto alice = v1("alice");
    alice->send(R"({"type":"join","room":"ident"})");
    alice->next_of("joined");
    alice->send(R"({"type":"hello","name":"mallory"})");
    auto e = alice->next_of("error");
    BOOST_TEST(str(e, "code") == "bad_frame");
    alice->send(R"({"type":"send","room":"ident","id":"i-1","text":"who am i"})");
    // (The ack and the event may come in either order: only the event is looked at.)
    auto ev = alice->next_of("event");
    while (str(ev, "kind") != "message") ev = alice->next_of("event");
    BOOST_TEST(str(ev, "user") == "alice", "the message is still alice's");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE data->>'user' = 'mallory'") == 0);
    still_serves("a second hello");
}

// ---- 6. Quotas; the legacy protocol's limits ----

BOOST_AUTO_TEST_CASE(new_rooms_per_user_and_rooms_per_connection_are_bounded) {
    auto a = v1("creator");
    for (int i = 1; i <= 3; ++i) {
        a->send(R"({"type":"join","room":"new-)" + std::to_string(i) + R"("})");
        a->next_of("joined");
    }
    a->send(R"({"type":"join","room":"new-4"})");
    auto e = a->next_of("error");
    BOOST_TEST(str(e, "code") == "rate_limited", "the 4th new room in a minute (--rooms-per-minute 3)");
    BOOST_TEST(num(e, "retry_after_ms") > 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE stream = 'room.new-4'") == 0);
    auto b = v1("other");
    for (const char* room : {"old-1", "old-2", "old-3"}) {
        b->send(std::string(R"({"type":"join","room":")") + room + "\"}");
        b->next_of("joined");
    }
    a->send(R"({"type":"join","room":"old-1"})");
    a->next_of("joined");
    a->send(R"({"type":"join","room":"old-2"})");
    a->next_of("joined");  // 5 rooms: the --max-rooms 5
    a->send(R"({"type":"join","room":"old-3"})");
    BOOST_TEST(str(a->next_of("error"), "code") == "too_many_rooms");
    a->send(R"({"type":"leave","room":"new-1"})");
    a->next_of("left");
    a->send(R"({"type":"join","room":"old-3"})");
    BOOST_TEST(str(a->next_of("joined"), "room") == "old-3", "after a leave there is room again");
    still_serves("quotas");
}

BOOST_AUTO_TEST_CASE(joins_and_leaves_count_in_the_rate_limit) {
    auto owner = v1("owner");
    owner->send(R"({"type":"join","room":"churn"})");
    owner->next_of("joined");
    auto p = raw("churner");
    std::string frames;
    for (int i = 0; i < 1000; ++i) {
        frames += ws_frame(0x1, R"({"type":"join","room":"churn"})") + ws_frame(0x1, R"({"type":"leave","room":"churn"})");
    }
    auto sent = std::chrono::steady_clock::now();
    p->send(frames);
    // Every frame is answered (joined, left or an error) except a join that a later leave of the
    // same room overtook before its `joined` was sent: at most one per accepted join.
    int limited = 0, replies = 0;
    while (replies < 1900) {
        auto f = next_reply(*p);
        BOOST_REQUIRE_MESSAGE(!str(f, "type").empty(), "only " << replies << " replies");
        ++replies;
        if (str(f, "code") == "rate_limited") ++limited;
    }
    // The bucket (20/s, bursts of 40) admits at most 40 + 20 per second the frames took to be
    // handled, however fast or loaded the machine: each admitted join or leave writes one row.
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
    // (+3: the replies still in flight when the clock stops, and the bucket's fraction)
    int64_t admitted = 40 + static_cast<int64_t>(20 * seconds) + 3;
    int64_t rows = db.scalar("SELECT count(*) FROM event_log WHERE stream = 'room.churn' AND data->>'user' = 'churner'");
    // Every join beyond what the bucket admitted is refused rate_limited (its leave then gets
    // not_joined): half the frames are joins.
    BOOST_TEST(limited >= replies / 2 - admitted, limited << " of " << replies << " answered joins and leaves were rate limited");
    BOOST_TEST(rows <= admitted, rows << " join/leave rows written in " << seconds
                                      << " s (at most " << admitted << "; 1,000 pairs pipelined: 2,000 before)");
    still_serves("join/leave churn");
}

BOOST_AUTO_TEST_CASE(the_legacy_protocol_has_the_same_text_and_rate_limits) {
    raw_peer p(port);
    BOOST_REQUIRE(p.upgrade(""));
    BOOST_REQUIRE(p.next_text().find("joined chat.") != std::string::npos);
    p.text(R"({"message":")" + std::string(20011, 'w') + "\"}");
    std::string refusal = p.next_text();
    BOOST_TEST(refusal.find("\"action\": \"error\"") != std::string::npos, refusal);
    BOOST_TEST(refusal.find("4000 characters") != std::string::npos, refusal);
    std::string burst;
    for (int i = 0; i < 100; ++i) burst += ws_frame(0x1, R"({"message":"m)" + std::to_string(i) + "\"}");
    p.send(burst);
    int errors = 0, echoed = 0;
    for (int i = 0; i < 100; ++i) {
        std::string f = p.next_text();
        if (f.find("\"action\": \"error\"") != std::string::npos) ++errors;
        else if (f.find(": m") != std::string::npos) ++echoed;
    }
    BOOST_TEST(errors >= 50, errors << " of 100 messages sent at once were refused (burst 40)");
    BOOST_TEST(messages_stored() == echoed, "what was stored is what was shown");
    BOOST_TEST(db.scalar("SELECT coalesce(max(length(data->>'text')), 0) FROM event_log WHERE type = 'chat.message'") <= 4000);
    still_serves("legacy limits");
}

// ---- 7. Origins without DNS rebinding ----

BOOST_AUTO_TEST_CASE(a_rebinding_page_is_refused_and_listed_hosts_are_served) {
    std::string p_ = std::to_string(port);
    auto handshake = [&](int to, const std::string& host, const std::string& origin) {
        raw_peer p(to);
        std::string extra = origin.empty() ? "" : "Origin: " + origin + "\r\n";
        p.send("GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n");
        return raw_peer::status_of(p.read_head());
    };
    auto get = [&](int to, const std::string& host) {
        raw_peer p(to);
        p.send("GET /metrics HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
        return raw_peer::status_of(p.read_head());
    };
    BOOST_TEST(handshake(port, "evil.example:" + p_, "http://evil.example:" + p_) == 403, "Origin equal to Host is no pass");
    BOOST_TEST(handshake(port, "127.0.0.1:" + p_, "null") == 403, "an opaque origin");
    BOOST_TEST(get(port, "evil.example:" + p_) == 403, "a rebinding page cannot read /metrics");
    BOOST_TEST(handshake(port, "127.0.0.1:" + p_, "http://localhost:3000") == 101, "localhost pages on any port");
    BOOST_TEST(handshake(port, "[::1]:" + p_, "http://[::1]:" + p_) == 101);
    BOOST_TEST(handshake(port, "10.1.2.3:" + p_, "") == 101, "a program connecting by IP address");
    edge_fixture named({"--allow-host", "chat.example", "--allow-origin", "https://app.example"});
    std::string n_ = std::to_string(named.port);
    BOOST_TEST(handshake(named.port, "chat.example:" + n_, "http://chat.example:" + n_) == 101, "--allow-host");
    BOOST_TEST(handshake(named.port, "chat.example", "https://app.example") == 101, "--allow-origin");
    BOOST_TEST(handshake(named.port, "chat.example", "https://app.example.evil") == 403);
    BOOST_TEST(get(named.port, "chat.example") == 200);
    BOOST_TEST(get(named.port, "other.example") == 403);
    std::string page = http_get(port, "/metrics");
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_refused_total{reason="host"})") == 2, page);
    BOOST_TEST(prometheus_value(page, R"(stchat_chat_refused_total{reason="origin"})") == 1, page);
    still_serves("foreign origins and hosts");
}

// ---- 8. Keys and tokens ----

BOOST_AUTO_TEST_CASE(an_expired_or_old_format_token_is_refused_saying_why) {
    auto alice = std::make_unique<ws_client>(url(), "stchat.v1");
    alice->send(R"({"type":"hello","name":"alice"})");
    std::string token = str(alice->next_of("welcome"), "token");
    BOOST_TEST(std::count(token.begin(), token.end(), '.') == 3, "uid.name.expiry.mac: " << token);
    // Sign an expired token the way the server does: HMAC-SHA256 keyed with the secret's bytes.
    auto rows = stchat::eventstore::make_sql_session(db.store())->exec("SELECT encode(secret, 'hex') FROM chat_secret");
    std::string hex = *rows.at(0).at(0), secret;
    for (size_t i = 0; i < hex.size(); i += 2) secret.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    auto sign = [&](const std::string& body) {
        unsigned char out[32];
        unsigned int len = 0;
        HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &len);
        std::string h;
        for (unsigned i = 0; i < len; ++i) {
            char b[3];
            std::snprintf(b, sizeof b, "%02x", out[i]);
            h += b;
        }
        return body + "." + h;
    };
    std::string parts = token.substr(0, token.find('.', token.find('.') + 1));  // hex(uid).hex(name)
    ws_client late(url(), "stchat.v1");
    late.send(R"({"type":"hello","token":")" + sign(parts + ".1000000000") + R"("})");
    auto e = late.next_of("error");
    BOOST_TEST(str(e, "code") == "forbidden");
    BOOST_TEST(str(e, "message").find("expired") != std::string::npos, str(e, "message"));
    ws_client fresh(url(), "stchat.v1");
    fresh.send(R"({"type":"hello","token":")" + sign(parts + ".99999999999") + R"("})");
    BOOST_TEST(str(fresh.next_of("welcome"), "user") == "alice", "a token signed with the secret's bytes");
    ws_client old(url(), "stchat.v1");
    old.send(R"({"type":"hello","token":")" + sign(parts) + R"("})");  // the format before expiry
    BOOST_TEST(str(old.next_of("error"), "message") == "invalid token");
    still_serves("token checks");
}

BOOST_AUTO_TEST_CASE(rooms_keyed_with_salted_sha256_before_argon2id_keep_working) {
    db.scalar("INSERT INTO private_room (room, hash_kind, salt, key_hash)"
              " SELECT 'vault', 'sha256', s, sha256(s || convert_to('old key', 'UTF8'))"
              " FROM (SELECT '\\x0102030405'::bytea AS s) x; SELECT 1");
    auto a = v1("keeper");
    a->send(R"({"type":"join","room":"vault","key":"old key"})");
    BOOST_TEST(str(a->next_of("joined"), "room") == "vault");
    auto b = v1("guesser");
    b->send(R"({"type":"join","room":"vault","key":"new key"})");
    BOOST_TEST(str(b->next_of("error"), "code") == "forbidden");
    still_serves("sha256 rooms");
}

// ---- 9. A since above the head ----

BOOST_AUTO_TEST_CASE(a_since_above_the_head_is_read_as_the_head_and_live_events_follow) {
    auto a = v1("talker");
    a->send(R"({"type":"join","room":"ahead"})");
    a->next_of("joined");
    a->send(R"({"type":"send","room":"ahead","id":"h-1","text":"one"})");
    a->next_of("ack");
    auto b = v1("future");
    b->send(R"({"type":"join","room":"ahead","since":1000000})");
    auto joined = b->next_of("joined");
    BOOST_TEST(num(joined, "head") == 3, "talker's join, the message, future's join");
    a->send(R"({"type":"send","room":"ahead","id":"h-2","text":"two"})");
    a->next_of("ack");
    auto ev = b->next_of("event");
    while (str(ev, "kind") != "message") ev = b->next_of("event");
    BOOST_TEST(str(ev, "text") == "two", "the live message after the head arrives");
    BOOST_TEST(num(ev, "seq") == 4);
    still_serves("since above the head");
}

BOOST_AUTO_TEST_SUITE_END()
