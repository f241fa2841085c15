#define BOOST_TEST_MODULE chat_edge
// The edge's pure parts, without sockets or a database: text rules, the v1 codec, tokens,
// origins, the token bucket and room keys.
#include <boost/test/unit_test.hpp>

#include "../src/identity.h"
#include "../src/protocol_codec.h"
#include "../src/keepalive.h"
#include "../src/room_access_cache.h"
#include "../src/room_presence.h"
#include "../src/room_keys.h"
#include "../src/text_rules.h"
#include "../src/token_bucket.h"
#include "../src/web_files.h"
#include "../src/ws_frames.h"

using namespace stchat::chat;

namespace {
decoded v1(const std::string& frame) { return decode_v1(frame, codec_limits{}); }
std::string code_of(const std::string& frame) {
    auto d = v1(frame);
    return d.req ? "ok" : d.error.code;
}
}  // namespace

BOOST_AUTO_TEST_CASE(names_refuse_controls_bidi_and_invisible_characters) {
    BOOST_TEST(name_problem("eve") == nullptr);
    BOOST_TEST(name_problem("Zoë 🚀") == nullptr, "letters and emoji are fine");
    BOOST_TEST(name_problem("") != nullptr, "empty");
    BOOST_TEST(name_problem(std::string(33, 'a')) != nullptr, "33 characters");
    BOOST_TEST(name_problem(std::string(32, 'a')) == nullptr, "32 characters");
    for (const char* bad : {"e\x01ve", "ev\x7f", "e\xc2\x85ve", "e\xc2\x9bve", "e\xe2\x80\xaeve", "e\xe2\x81\xa6ve",
                            "e\xe2\x80\x8bve", "\xef\xbb\xbf" "eve", "e\xe2\x80\x8fve", "e\xd8\x9cve", "e\xc2\xadve"}) {
        BOOST_TEST(name_problem(bad) != nullptr, "refused: " << bad);
    }
    BOOST_TEST(name_problem(std::string("e\0ve", 4)) != nullptr, "NUL");
    BOOST_TEST(name_problem("e\xed\xb0\x80") != nullptr, "a surrogate");
}

BOOST_AUTO_TEST_CASE(texts_and_ids_must_be_storable) {
    BOOST_TEST(text_problem("line one\nline two\ttab") == nullptr);
    BOOST_TEST(text_problem(std::string("a\0b", 3)) != nullptr);
    BOOST_TEST(text_problem("x\xed\xb0\x80y") != nullptr);
    BOOST_TEST(text_problem("\xc0\xaf") != nullptr, "overlong");
    BOOST_TEST(text_problem("\xf4\x90\x80\x80") != nullptr, "past U+10FFFF");
    BOOST_TEST(id_problem("m-0001") == nullptr);
    BOOST_TEST(id_problem("") != nullptr);
    BOOST_TEST(id_problem(std::string(65, 'i')) != nullptr);
    BOOST_TEST(id_problem("a\nb") != nullptr);
}

BOOST_AUTO_TEST_CASE(the_codec_decodes_each_request_and_names_each_refusal) {
    auto hello = v1(R"({"type":"hello","name":"  alice  "})");
    BOOST_REQUIRE(hello.req.has_value());
    BOOST_TEST(*hello.req->name == "alice", "trimmed");
    auto join = v1(R"({"type":"join","room":"lobby","since":17,"key":"k"})");
    BOOST_REQUIRE(join.req.has_value());
    BOOST_TEST(join.req->room == "lobby");
    BOOST_TEST(*join.req->since == 17);
    BOOST_TEST(join.req->key == "k");
    auto send = v1(R"({"type":"send","room":"lobby","id":"m-1","text":"h\u00e9"})");
    BOOST_REQUIRE(send.req.has_value());
    BOOST_TEST(send.req->text == "h\xc3\xa9");
    BOOST_TEST(code_of("not json") == "bad_json");
    BOOST_TEST(code_of("[1]") == "bad_json");
    BOOST_TEST(code_of(R"({"no":"type"})") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"dance"})") == "unknown_type");
    BOOST_TEST(code_of(R"({"type":"hello","name":""})") == "bad_name");
    BOOST_TEST(code_of(R"({"type":"hello","name":7})") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"join","room":"Bad Room"})") == "bad_room");
    BOOST_TEST(code_of(R"({"type":"join","room":"feed.other"})") == "bad_room");
    BOOST_TEST(code_of(R"({"type":"join","room":"feed.execution"})") == "ok");
    BOOST_TEST(code_of(R"({"type":"join","room":"a","since":-1})") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"join","room":"a","key":")" + std::string(300, 'k') + "\"}") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"send","room":"feed.execution","id":"x","text":"t"})") == "read_only");
    BOOST_TEST(code_of(R"({"type":"send","room":"a","id":"x","text":")" + std::string(4001, 't') + "\"}") == "too_large");
    BOOST_TEST(code_of(R"({"type":"send","room":"a","id":"x","text":")" + std::string(4000, 't') + "\"}") == "ok");
    BOOST_TEST(code_of(R"({"type":"send","room":"a","id":"x","text":"x\udc00"})") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"send","room":"a","id":"a\u0000b","text":"t"})") == "bad_frame");
    auto refused = v1(R"({"type":"send","room":"a","id":"m-9","text":"\u0000"})");
    BOOST_TEST(refused.error.ref == "m-9", "a refused send names its id");
}

BOOST_AUTO_TEST_CASE(history_requests_are_bounded_and_checked) {
    auto h = v1(R"({"type":"history","room":"lobby","before":251,"limit":5000})");
    BOOST_REQUIRE(h.req.has_value());
    BOOST_TEST((h.req->type == request::kind::history));
    BOOST_TEST(*h.req->before == 251);
    BOOST_TEST(h.req->limit == k_history_max, "capped at 200, not refused");
    auto plain = v1(R"({"type":"history","room":"feed.execution"})");
    BOOST_REQUIRE(plain.req.has_value());
    BOOST_TEST(!plain.req->before.has_value(), "no before: from the head");
    BOOST_TEST(plain.req->limit == 50, "the default limit");
    BOOST_TEST(code_of(R"({"type":"history","room":"lobby","before":0})") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"history","room":"lobby","before":"9"})") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"history","room":"lobby","limit":0})") == "bad_frame");
    BOOST_TEST(code_of(R"({"type":"history","room":"Bad Room"})") == "bad_room");
    room_event e;
    e.room = "lobby";
    e.seq = 7;
    e.kind = "message";
    e.user = "ann";
    e.text = "hi";
    BOOST_TEST(event_frame(e, true).find(R"("history":true)") != std::string::npos);
    BOOST_TEST(event_frame(e).find("history") == std::string::npos, "live events carry no history mark");
    BOOST_TEST(history_end_frame("lobby", 51, 1) == R"({"type":"history_end","room":"lobby","before":51,"first":1})");
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_refused_before_parsing_and_strings_do_not_count) {
    BOOST_TEST(nested_deeper_than(std::string(17, '['), 16));
    BOOST_TEST(!nested_deeper_than(std::string(16, '['), 16));
    BOOST_TEST(!nested_deeper_than(R"({"text":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"[[["})", 2), "brackets in strings");
    BOOST_TEST(code_of(std::string(1000000, '[')) == "bad_json");
}

BOOST_AUTO_TEST_CASE(frames_out_escape_what_they_carry) {
    BOOST_TEST(error_frame("rate_limited", "slow \"down\"", "m-1", 50) ==
               R"({"type":"error","code":"rate_limited","message":"slow \"down\"","ref":"m-1","retry_after_ms":50})");
    room_event e;
    e.room = "lobby";
    e.kind = "message";
    e.user = "Brenda Goodwin";
    e.text = "hi";
    BOOST_TEST(legacy_event_frame(e) == R"({"action": "message", "message": "Brenda Goodwin: hi"})");
    BOOST_TEST(legacy_error_frame("not sent") == R"({"action": "error", "message": "not sent"})");
}

BOOST_AUTO_TEST_CASE(tokens_restore_their_user_until_they_expire) {
    token_signer signer(std::string(32, 's'), 3600);
    author alice{"a1b2", "alice"};
    std::string t = signer.make(alice, 1000);
    auto ok = signer.verify(t, 1000 + 3599);
    BOOST_TEST((ok.result == token_signer::status::ok));
    BOOST_TEST(ok.who.uid == "a1b2");
    BOOST_TEST(ok.who.name == "alice");
    BOOST_TEST((signer.verify(t, 1000 + 3601).result == token_signer::status::expired));
    std::string forged = t;
    forged[0] = forged[0] == '0' ? '1' : '0';
    BOOST_TEST((signer.verify(forged, 1000).result == token_signer::status::invalid));
    token_signer other(std::string(32, 'o'), 3600);
    BOOST_TEST((other.verify(t, 1000).result == token_signer::status::invalid), "another secret");
    BOOST_TEST((signer.verify("", 1000).result == token_signer::status::invalid));
    BOOST_TEST((signer.verify("....", 1000).result == token_signer::status::invalid));
}

BOOST_AUTO_TEST_CASE(origins_and_hosts_allow_local_pages_ip_addresses_and_what_is_listed) {
    origin_policy none({}, {});
    BOOST_TEST(none.origin_allowed(""));
    BOOST_TEST(none.origin_allowed("http://localhost:3000"));
    BOOST_TEST(none.origin_allowed("http://127.0.0.1:8888"));
    BOOST_TEST(none.origin_allowed("http://[::1]:8888"));
    BOOST_TEST(!none.origin_allowed("http://evil.example:8888"));
    BOOST_TEST(!none.origin_allowed("null"));
    BOOST_TEST(!none.origin_allowed("http://localhost.evil.example"));
    BOOST_TEST(none.host_allowed("localhost:8888"));
    BOOST_TEST(none.host_allowed("192.168.1.20:8888"));
    BOOST_TEST(none.host_allowed("[fe80::1]:8888"));
    BOOST_TEST(!none.host_allowed("evil.example:8888"));
    BOOST_TEST(!none.host_allowed("1.2.3.4.evil.example"));
    origin_policy listed({"https://app.example"}, {"Chat.Example"});
    BOOST_TEST(listed.origin_allowed("https://app.example"));
    BOOST_TEST(listed.origin_allowed("http://chat.example:8888"));
    BOOST_TEST(!listed.origin_allowed("https://app.example.evil"));
    BOOST_TEST(listed.host_allowed("chat.example:8888"));
    BOOST_TEST(listed.host_allowed("app.example"));
    BOOST_TEST(!listed.host_allowed("other.example"));
}

BOOST_AUTO_TEST_CASE(a_token_bucket_allows_its_burst_then_its_rate) {
    using clock = token_bucket::clock;
    token_bucket b(20, 40);
    auto t0 = clock::now();
    int taken = 0;
    while (b.take(t0)) ++taken;
    BOOST_TEST(taken == 40);
    BOOST_TEST(b.retry_after_ms() == 50);
    BOOST_TEST(b.take(t0 + std::chrono::milliseconds(50)));
    BOOST_TEST(!b.take(t0 + std::chrono::milliseconds(50)));
}

BOOST_AUTO_TEST_CASE(room_keys_are_argon2id_and_old_sha256_keys_still_match) {
    std::string phc = hash_room_key("open sesame");
    BOOST_TEST(phc.rfind("$argon2id$", 0) == 0, phc);
    BOOST_TEST(phc.find("open sesame") == std::string::npos);
    BOOST_TEST(key_matches(room_key{"argon2id", phc, "", ""}, "open sesame"));
    BOOST_TEST(!key_matches(room_key{"argon2id", phc, "", ""}, "open sesame!"));
    // The sha256 kind (rooms keyed before argon2id) is checked end to end in chat_edge_attack_test.
    BOOST_TEST(!key_matches(room_key{"md5", "", "", ""}, "k"), "an unknown kind matches nothing");
}

BOOST_AUTO_TEST_CASE(a_room_access_is_read_once_for_all_waiting_joins_and_kept_only_once_it_has_events) {
    room_access_cache cache(2);
    std::vector<std::string> got;
    auto waiter = [&](const char* who) {
        return [&got, who](const std::optional<room_access>& a) {
            got.push_back(std::string(who) + (a ? (a->has_events ? ":events" : ":empty") : ":failed"));
        };
    };
    BOOST_TEST(!cache.find("lobby"));
    BOOST_TEST(cache.wait("lobby", waiter("a")), "the first join starts the check");
    BOOST_TEST(!cache.wait("lobby", waiter("b")), "the second waits for it");
    BOOST_TEST(cache.checks_in_flight() == 1u);
    cache.done("lobby", room_access{false, {}});
    BOOST_TEST(got == (std::vector<std::string>{"a:empty", "b:empty"}));
    BOOST_TEST(!cache.find("lobby"), "a room without events is asked again: it may get a key");
    BOOST_TEST(cache.wait("lobby", waiter("c")));
    cache.done("lobby", std::nullopt);
    BOOST_TEST(got.back() == "c:failed");
    BOOST_TEST(!cache.find("lobby"), "a failed check is not remembered");
    BOOST_TEST(cache.wait("lobby", waiter("d")));
    cache.done("lobby", room_access{true, {"argon2id", "$argon2id$x", "", ""}});
    BOOST_REQUIRE(cache.find("lobby"));
    BOOST_TEST(cache.find("lobby")->key.kind == "argon2id", "a room with events is remembered with its key");
    BOOST_TEST(cache.checks_in_flight() == 0u);
    cache.wait("b", waiter("e"));
    cache.done("b", room_access{true, {}});
    cache.wait("c", waiter("f"));
    cache.done("c", room_access{true, {}});
    BOOST_TEST(cache.known() <= 2u, "bounded: " << cache.known());
}

BOOST_AUTO_TEST_CASE(keepalive_pings_first_and_closes_only_after_an_unanswered_ping_and_its_grace) {
    using namespace std::chrono;
    const keepalive_config c{20000, 60000, 10000};
    auto t0 = steady_clock::now();
    auto at = [&](int s) { return t0 + seconds(s); };
    {
        keepalive_state s(t0);
        s.greeted = true;
        BOOST_TEST((keepalive_due(c, s, at(10)) == keepalive_action::none));
        BOOST_TEST((keepalive_due(c, s, at(20)) == keepalive_action::ping), "silent 20 s: pinged");
        BOOST_TEST((keepalive_due(c, s, at(30)) == keepalive_action::none), "not again before 20 s");
        BOOST_TEST((keepalive_due(c, s, at(40)) == keepalive_action::ping));
        BOOST_TEST((keepalive_due(c, s, at(60)) == keepalive_action::ping), "silent 60 s, first ping 40 s ago: not yet");
        BOOST_TEST((keepalive_due(c, s, at(61)) == keepalive_action::close_idle), "a ping unanswered 41 s: idle");
    }
    {
        keepalive_state s(t0);
        s.greeted = true;
        BOOST_TEST((keepalive_due(c, s, at(20)) == keepalive_action::ping));
        s.last_seen = at(21);  // the pong
        BOOST_TEST((keepalive_due(c, s, at(80)) == keepalive_action::ping), "answered: silence starts again");
        BOOST_TEST((keepalive_due(c, s, at(82)) == keepalive_action::none));
        BOOST_TEST((keepalive_due(c, s, at(121)) == keepalive_action::close_idle), "its first ping of this silence was at 80");
    }
    {
        // The server stopped (no tick) from t=1 to t=300: its silence, not the client's.
        keepalive_state s(t0);
        s.greeted = true;
        BOOST_TEST((keepalive_due(c, s, at(300)) == keepalive_action::ping), "pinged, not closed");
        s.last_seen = at(300) + milliseconds(5);
        BOOST_TEST((keepalive_due(c, s, at(301)) == keepalive_action::none), "answered: kept");
    }
    {
        keepalive_state s(t0);
        BOOST_TEST((keepalive_due(c, s, at(11)) == keepalive_action::close_no_hello), "no hello within 10 s");
    }
}

BOOST_AUTO_TEST_CASE(room_presence_follows_the_events_after_its_snapshot_and_holds_those_before_it) {
    room_presence p;
    auto ev = [](const char* kind, const char* uid, int64_t position, const char* node = "A") {
        room_event e;
        e.room = "lobby";
        e.kind = kind;
        e.uid = uid;
        e.user = std::string("name-") + uid;
        e.position = position;
        e.node = node;
        return e;
    };
    size_t total = 0;
    uint64_t token = p.track("lobby");
    BOOST_TEST(token != 0u, "the first session: read the snapshot");
    BOOST_TEST(p.track("lobby") == 0u, "the second: it is being read");
    p.apply(ev("join", "carol", 12));  // while reading: held
    p.apply(ev("join", "bob", 5));     // already in the snapshot: skipped when applied
    BOOST_TEST(!p.known("lobby"));
    p.seed("lobby", token + 1, 10, {{"bob", "name-bob", {"A"}}});
    BOOST_TEST(!p.known("lobby"), "the answer to another read is ignored");
    p.seed("lobby", token, 10, {{"bob", "name-bob", {"A"}}});
    BOOST_TEST(p.known("lobby"));
    BOOST_TEST((p.names("lobby", 10, &total) == std::vector<std::string>{"name-bob", "name-carol"}));
    BOOST_TEST(total == 2u);
    p.apply(ev("join", "bob", 13, "B"));   // bob through a second process
    p.apply(ev("join", "bob", 14, "B"));   // ... which joins him again (healed while alive)
    p.apply(ev("leave", "bob", 15, "B"));  // ... and which he leaves: still present through A
    p.apply(ev("message", "bob", 16));
    p.names("lobby", 10, &total);
    BOOST_TEST(total == 2u, "bob is still present once");
    p.apply(ev("leave", "bob", 17));
    BOOST_TEST((p.names("lobby", 10, &total) == std::vector<std::string>{"name-carol"}));
    p.apply(ev("leave", "carol", 17));
    BOOST_TEST(p.names("lobby", 10, &total).size() == 1u, "a position at or below the last applied is skipped");
    p.apply(ev("leave", "carol", 18, "C"));
    BOOST_TEST(p.names("lobby", 10, &total).size() == 1u, "a leave by a node carol is not in through changes nothing");
    BOOST_TEST((p.names("lobby", 1, &total).size() == 1u && total == 1u));
    p.untrack("lobby");
    p.untrack("lobby");
    BOOST_TEST(p.rooms() == 0u, "forgotten with its last session");
    uint64_t again = p.track("lobby");
    BOOST_TEST(again != 0u, "and read again next time");
    p.failed("lobby", token);
    BOOST_TEST(p.track("lobby") == 0u, "a stale read's failure changes nothing");
    p.failed("lobby", again);
    BOOST_TEST(!p.known("lobby"));
    BOOST_TEST(p.track("lobby") != 0u, "a failed read is asked again by the next session");
}

BOOST_AUTO_TEST_CASE(the_web_port_serves_only_named_files_of_the_web_folder) {
    BOOST_CHECK_MESSAGE(web_file_of("/")->first == "index.html", "/ is the chat page");
    BOOST_CHECK_MESSAGE(web_file_of("/ops")->first == "ops.html", "/ops is the operator's page");
    BOOST_CHECK_MESSAGE(std::string(web_file_of("/app.css")->second).rfind("text/css", 0) == 0, "css typed");
    BOOST_CHECK_MESSAGE(web_file_of("/stchat-client.js")->first == "stchat-client.js", "the client module");
    BOOST_CHECK_MESSAGE(web_file_of("/favicon.ico")->first == "favicon.svg", "the icon browsers ask for");
    for (const char* bad : {"/../etc/passwd", "/..", "/.html", "/a/b.js", "/a%2fb.js", "/A.js", "/x.sh",
                            "/index.html/", "//x.js", "", "x.js", "/a.b.js"}) {
        BOOST_CHECK_MESSAGE(!web_file_of(bad), std::string("refused: ") + bad);
    }
}

BOOST_AUTO_TEST_CASE(a_ping_frame_is_a_request_of_its_own) {
    codec_limits limits;
    auto d = decode_v1(R"({"type":"ping"})", limits);
    BOOST_REQUIRE_MESSAGE(d.req, "ping decodes");
    BOOST_CHECK_MESSAGE(d.req->type == request::kind::ping, "as a ping");
    BOOST_CHECK_MESSAGE(pong_frame() == R"({"type":"pong"})", "answered with a pong");
}

BOOST_AUTO_TEST_CASE(frames_sent_together_are_each_frame_whole_one_after_the_other) {
    std::string big(300, 'x');  // a 16-bit length
    auto together = prepared_together({prepared_text("a"), prepared_text("bb"), prepared_text(big)});
    std::string expected = std::string("\x81\x01", 2) + "a" + std::string("\x81\x02", 2) + "bb" +
                           std::string("\x81\x7e\x01\x2c", 4) + big;
    BOOST_CHECK_MESSAGE(together->get_header().empty(), "no header of its own");
    BOOST_CHECK_MESSAGE(together->get_payload() == expected, "three complete frames, in order");
    BOOST_CHECK_MESSAGE(together->get_prepared(), "sent as is");
}
