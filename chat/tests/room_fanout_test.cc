#define BOOST_TEST_MODULE room_fanout
// The fan-out of room events to sessions (room_fanout.h), the urgent lane that hands them to
// the Asio thread (urgent_lane.h), a join's replay from memory (room_replay.h) and who is in a
// room through this process (local_presence.h), without sockets or a database: sessions are
// recorders.
#include <boost/test/unit_test.hpp>

#include <thread>

#include "../src/frame_cache.h"
#include "../src/local_presence.h"
#include "../src/room_fanout.h"
#include "../src/room_replay.h"
#include "../src/urgent_lane.h"

using namespace stchat::chat;

namespace {

// A session that records what it was sent: each message's bytes and how many frames it holds.
struct recorder final : frame_sink {
    std::vector<std::pair<std::string, size_t>> messages;
    bool closed_slow = false;
    void send(const server_t::message_ptr& m, size_t frames) override {
        messages.push_back({m->get_header() + m->get_payload(), frames});
    }
    void close_slow() override { closed_slow = true; }
    size_t waiting = 0;  // what buffered() says: bytes the "client" has not read yet
    size_t buffered() const override { return waiting; }
    // The seqs of every frame received, in order (each frame's JSON holds "seq":N).
    std::vector<int64_t> seqs() const {
        std::vector<int64_t> out;
        for (const auto& [bytes, n] : messages) {
            for (size_t at = bytes.find("\"seq\":"); at != std::string::npos; at = bytes.find("\"seq\":", at + 1)) {
                out.push_back(std::stoll(bytes.substr(at + 6)));
            }
        }
        return out;
    }
};

room_event message(const std::string& room, int64_t seq) {
    room_event e;
    e.room = room;
    e.seq = seq;
    e.kind = "message";
    e.user = "ann";
    e.uid = "u-ann";
    e.id = "m" + std::to_string(seq);
    e.text = "hello " + std::to_string(seq);
    e.position = 100 + seq;
    return e;
}

struct live_session {
    recorder out;
    session_room state;
    fanout_member member(bool legacy = false) { return {&out, legacy, &state}; }
    live_session(int64_t last_seq = 0) {
        state.replaying = false;
        state.last_seq = last_seq;
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(own_events_go_out_at_once_when_next_and_the_relay_brings_the_rest_in_order) {
    room_fanout fanout({});
    live_session alice;
    fanout.add("lobby", 1, alice.member());
    fanout.own({message("lobby", 1)});
    BOOST_TEST(alice.out.messages.empty(), "a room's first event here comes by the relay: its last seq is not known yet");
    fanout.relayed({message("lobby", 1)});
    BOOST_TEST(alice.out.seqs() == std::vector<int64_t>({1}));
    fanout.own({message("lobby", 2)});
    BOOST_TEST(alice.out.seqs() == std::vector<int64_t>({1, 2}), "the next seq goes out straight from the writer");
    fanout.own({message("lobby", 4)});
    BOOST_TEST(alice.out.seqs() == std::vector<int64_t>({1, 2}), "4 waits while 3 (another process's) is not here");
    fanout.relayed({message("lobby", 2), message("lobby", 3), message("lobby", 4)});
    BOOST_TEST(alice.out.seqs() == std::vector<int64_t>({1, 2, 3, 4}), "the relay skips 2 and brings 3 and 4");
}

BOOST_AUTO_TEST_CASE(a_rooms_events_of_one_batch_are_one_message_per_live_session_built_once) {
    room_fanout fanout({});
    live_session alice, bob, carol(2);
    fanout.add("lobby", 1, alice.member());
    fanout.add("lobby", 2, bob.member());
    fanout.add("lobby", 3, carol.member());  // has seen 1 and 2 already (its replay)
    fanout.relayed({message("lobby", 1), message("other", 1), message("lobby", 2), message("lobby", 3)});
    BOOST_REQUIRE_EQUAL(alice.out.messages.size(), 1u);
    BOOST_TEST(alice.out.messages[0].second == 3u, "three frames in one message");
    BOOST_TEST(alice.out.seqs() == std::vector<int64_t>({1, 2, 3}));
    BOOST_TEST(bob.out.messages[0].first == alice.out.messages[0].first, "the same bytes for every member");
    BOOST_TEST(carol.out.seqs() == std::vector<int64_t>({3}), "a session that saw part of the batch gets only the rest");
    BOOST_TEST(alice.state.last_seq == 3);
}

BOOST_AUTO_TEST_CASE(a_replaying_session_keeps_live_events_until_its_bound_then_is_closed_to_resume) {
    room_fanout_config config;
    config.max_pending = 3;
    room_fanout fanout(config);
    live_session dave;
    dave.state.replaying = true;
    fanout.add("lobby", 1, dave.member());
    fanout.relayed({message("lobby", 1), message("lobby", 2)});
    BOOST_TEST(dave.out.messages.empty(), "nothing is sent while its replay runs");
    BOOST_TEST(dave.state.pending.size() == 2u);
    BOOST_TEST(!dave.out.closed_slow);
    fanout.relayed({message("lobby", 3), message("lobby", 4)});
    BOOST_TEST(dave.state.pending.size() == 3u, "pending is bounded");
    BOOST_TEST(dave.out.closed_slow, "past the bound the session is closed to resume by since");
}

BOOST_AUTO_TEST_CASE(legacy_sessions_get_their_own_frames_one_by_one) {
    room_fanout fanout({});
    live_session old;
    fanout.add("lobby", 1, old.member(true));
    fanout.relayed({message("lobby", 1), message("lobby", 2)});
    BOOST_REQUIRE_EQUAL(old.out.messages.size(), 2u);
    BOOST_TEST(old.out.messages[0].first.find("\"seq\"") == std::string::npos, "the original protocol's frame");
    BOOST_TEST(old.out.messages[0].first.find("hello 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_room_left_by_everyone_forgets_its_seq_and_own_events_wait_for_the_relay_again) {
    room_fanout fanout({});
    live_session alice;
    fanout.add("lobby", 1, alice.member());
    fanout.relayed({message("lobby", 1)});
    fanout.remove("lobby", 1);
    fanout.forget_empty_rooms();
    BOOST_TEST(fanout.rooms() == 0u);
    live_session bob;
    fanout.add("lobby", 2, bob.member());
    fanout.own({message("lobby", 7)});
    BOOST_TEST(bob.out.messages.empty(), "7 may not be next: only the relay knows");
    fanout.relayed({message("lobby", 7)});
    BOOST_TEST(bob.out.seqs() == std::vector<int64_t>({7}));
    BOOST_TEST(alice.out.seqs() == std::vector<int64_t>({1}), "a session that left gets nothing more");
}

BOOST_AUTO_TEST_CASE(urgent_work_runs_before_the_handlers_already_queued) {
    asio::io_context io;
    urgent_lane lane(io);
    std::vector<std::string> order;
    std::thread writer;
    asio::post(io, [&] {
        order.push_back("q0");
        // Another thread hands work over while q1..q3 wait in the queue.
        writer = std::thread([&] { lane.post([&] { order.push_back("urgent"); }); });
        writer.join();
    });
    for (int i = 1; i <= 3; ++i) asio::post(io, [&, i] { order.push_back("q" + std::to_string(i)); });
    asio::post(io, [&] { io.stop(); });
    lane.run();
    BOOST_TEST(order == std::vector<std::string>({"q0", "urgent", "q1", "q2", "q3"}),
               "the lane's work runs right after the handler that was running, ahead of q1..q3");
}

BOOST_AUTO_TEST_CASE(an_idle_loop_is_woken_for_urgent_work) {
    asio::io_context io;
    auto guard = asio::make_work_guard(io);  // nothing queued: run_one waits
    urgent_lane lane(io);
    bool ran = false;
    std::thread writer([&] {
        lane.post([&] {
            ran = true;
            io.stop();
        });
    });
    lane.run();  // returns once the work has run and stopped the loop
    writer.join();
    BOOST_TEST(ran, "posted work woke the waiting loop and ran");
}

namespace {
// Joins and leaves held 100 ms to 1 s; each flush the fan-out asks for is recorded in `armed`.
room_fanout_config holding(std::vector<std::chrono::milliseconds>& armed) {
    room_fanout_config config;
    config.hold_min = std::chrono::milliseconds(100);
    config.hold_max = std::chrono::milliseconds(1000);
    config.on_hold = [&armed](std::chrono::milliseconds delay) { armed.push_back(delay); };
    return config;
}

room_event presence_event(const std::string& room, int64_t seq, const char* kind) {
    room_event e = message(room, seq);
    e.kind = kind;
    e.id.clear();
    e.text.clear();
    return e;
}
}  // namespace

BOOST_AUTO_TEST_CASE(joins_and_leaves_are_held_back_and_a_message_takes_them_along_in_order) {
    std::vector<std::chrono::milliseconds> armed;
    room_fanout fanout(holding(armed));
    live_session alice, bob;
    fanout.add("lobby", 1, alice.member());
    fanout.add("dev", 2, bob.member());
    fanout.relayed({presence_event("lobby", 1, "join"), presence_event("dev", 1, "join")});
    BOOST_TEST(alice.out.messages.empty(), "a join alone waits");
    BOOST_REQUIRE_EQUAL(armed.size(), 1u);
    BOOST_TEST(armed[0].count() == 100, "the shortest hold while nobody was written to");
    fanout.relayed({presence_event("lobby", 2, "leave")});
    BOOST_TEST(armed.size() == 1u, "one flush is due for everything held");
    fanout.relayed({message("lobby", 3)});
    BOOST_REQUIRE_EQUAL(alice.out.messages.size(), 1u);
    BOOST_TEST(alice.out.seqs() == std::vector<int64_t>({1, 2, 3}), "the message took lobby's held events along, first");
    BOOST_TEST(alice.out.messages[0].second == 3u, "in one write");
    BOOST_TEST(bob.out.messages.empty(), "dev's join still waits");
    fanout.flush_held();
    BOOST_TEST(bob.out.seqs() == std::vector<int64_t>({1}), "the flush brings the rest");
    fanout.own({presence_event("dev", 2, "join")});
    BOOST_TEST(bob.out.seqs() == std::vector<int64_t>({1}), "own joins are held too");
    fanout.flush_held();
    BOOST_TEST(bob.out.seqs() == std::vector<int64_t>({1, 2}));
}

BOOST_AUTO_TEST_CASE(the_hold_grows_with_the_writes_a_flush_made) {
    std::vector<std::chrono::milliseconds> armed;
    room_fanout fanout(holding(armed));
    std::vector<std::unique_ptr<live_session>> members;
    for (uint64_t i = 0; i < 3000; ++i) {
        members.push_back(std::make_unique<live_session>());
        fanout.add("big", i, members.back()->member());
    }
    fanout.relayed({presence_event("big", 1, "join")});
    fanout.flush_held();  // 3,000 writes: ~60 ms at 20 µs each
    fanout.relayed({presence_event("big", 2, "join")});
    BOOST_REQUIRE_EQUAL(armed.size(), 2u);
    BOOST_TEST(armed[1].count() == 600, "ten times the last flush's cost");
    for (const auto& m : members) BOOST_TEST_REQUIRE(m->out.seqs() == std::vector<int64_t>({1}));
}

BOOST_AUTO_TEST_CASE(a_replay_page_is_framed_once_and_shared_as_one_message) {
    frame_cache cache;
    std::vector<room_event> page = {message("lobby", 41), message("lobby", 42), message("lobby", 43)};
    auto all = cache.run(page, 0);
    BOOST_TEST(cache.run(page, 0) == all, "the same page, the same message");
    std::string bytes = all->get_payload();
    BOOST_TEST(bytes == cache.one(page[0])->get_header() + cache.one(page[0])->get_payload() +
                            cache.one(page[1])->get_header() + cache.one(page[1])->get_payload() +
                            cache.one(page[2])->get_header() + cache.one(page[2])->get_payload(),
               "each frame whole, one after the other");
    auto tail = cache.run(page, 1);
    BOOST_TEST(tail != all, "a page's rest is another entry");
    BOOST_TEST(tail->get_payload().find("hello 41") == std::string::npos);
    for (int i = 0; i < 5000; ++i) cache.one(message("big", i));
    BOOST_TEST(cache.size() <= frame_cache::k_max_entries, "bounded in entries");
    room_event big = message("long", 1);
    big.text = std::string(4000, 'x');
    std::vector<room_event> long_page;
    for (int64_t seq = 1; seq <= 200; ++seq) {
        big.seq = seq;
        long_page.push_back(big);
    }
    for (size_t from = 0; from < 199; ++from) cache.run(long_page, from);  // ~80 MiB of distinct pages
    BOOST_TEST(cache.bytes() <= frame_cache::k_max_bytes, "bounded in bytes: " << cache.bytes());
}

BOOST_AUTO_TEST_CASE(frames_a_storm_keeps_using_survive_the_cache_turnover) {
    // 100 rooms' last 50 events, used again and again while new pages come and go (each join's
    // replay page is new): they are framed once, not again after every turnover.
    frame_cache cache;
    std::vector<room_event> hot;
    for (int room = 0; room < 100; ++room) {
        for (int64_t seq = 1; seq <= 50; ++seq) hot.push_back(message("room-" + std::to_string(room), seq));
    }
    std::vector<server_t::message_ptr> first;
    for (const auto& e : hot) first.push_back(cache.one(e));
    int64_t cold = 0;
    for (int round = 0; round < 20; ++round) {
        for (int i = 0; i < 5000; ++i) cache.one(message("cold", ++cold));  // one-off frames
        for (size_t i = 0; i < hot.size(); ++i) {
            BOOST_TEST_REQUIRE(cache.one(hot[i]) == first[i], "round " << round << ": hot frame " << i << " kept");
        }
    }
    BOOST_TEST(cache.size() <= frame_cache::k_max_entries, "bounded in entries: " << cache.size());
}

namespace {
std::vector<int64_t> seqs_of(const std::vector<room_event>& events) {
    std::vector<int64_t> out;
    for (const auto& e : events) out.push_back(e.seq);
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(recent_events_answer_a_replay_only_when_they_reach_back_far_enough) {
    room_fanout fanout({});
    live_session alice;
    fanout.add("lobby", 1, alice.member());
    fanout.relayed({message("lobby", 41)});
    for (int64_t seq = 42; seq <= 50; ++seq) fanout.own({message("lobby", seq)});
    auto page = fanout.recent({"lobby", 45, false, false}, 200);
    BOOST_REQUIRE(page.has_value());
    BOOST_TEST(seqs_of(page->events) == std::vector<int64_t>({46, 47, 48, 49, 50}));
    BOOST_TEST(page->head == 50);
    BOOST_TEST(fanout.recent({"lobby", 40, false, false}, 200).has_value(), "since 40: 41.. is remembered");
    BOOST_TEST(!fanout.recent({"lobby", 39, false, false}, 200).has_value(), "40 is not: read it");
    BOOST_TEST(!fanout.recent({"lobby", 51, false, false}, 200).has_value(), "beyond the head: the database decides");
    BOOST_TEST(fanout.recent({"lobby", 50, false, false}, 200)->events.empty(), "nothing after the head");
    auto last = fanout.recent({"lobby", 3, true, false}, 200);
    BOOST_TEST(seqs_of(last->events) == std::vector<int64_t>({48, 49, 50}), "the last 3");
    BOOST_TEST(!fanout.recent({"lobby", 20, true, false}, 200).has_value(), "the last 20 reach before 41");
    BOOST_TEST(fanout.recent({"lobby", 45, false, false}, 2)->events.size() == 2u, "a page at most `limit`");
    BOOST_TEST(!fanout.recent({"dev", 0, false, false}, 200).has_value(), "a room with nothing remembered");
}

BOOST_AUTO_TEST_CASE(a_read_page_teaches_a_rooms_recent_events_and_a_gap_starts_them_again) {
    room_fanout fanout({});
    live_session alice;
    fanout.add("lobby", 1, alice.member());
    std::vector<room_event> page = {message("lobby", 11), message("lobby", 12), message("lobby", 13)};
    fanout.learn("lobby", 10, page, 14);  // not up to the head: not complete
    BOOST_TEST(!fanout.recent({"lobby", 10, false, false}, 200).has_value(), "an incomplete page is not learned");
    fanout.learn("lobby", 10, page, 13);
    BOOST_TEST(seqs_of(fanout.recent({"lobby", 10, false, false}, 200)->events) == std::vector<int64_t>({11, 12, 13}));
    fanout.relayed({message("lobby", 13), message("lobby", 14)});
    BOOST_TEST(seqs_of(fanout.recent({"lobby", 12, false, false}, 200)->events) == std::vector<int64_t>({13, 14}),
               "fanned-out events continue what was learned");
    fanout.relayed({message("lobby", 16)});  // 15 skipped: cannot happen in one room, but must not be papered over
    BOOST_TEST(!fanout.recent({"lobby", 12, false, false}, 200).has_value(), "after a gap only what follows it is trusted");
    BOOST_TEST(seqs_of(fanout.recent({"lobby", 15, false, false}, 200)->events) == std::vector<int64_t>({16}));
    fanout.learn("lobby", 10, {message("lobby", 11), message("lobby", 12), message("lobby", 13), message("lobby", 14),
                               message("lobby", 15)}, 15);
    BOOST_TEST(seqs_of(fanout.recent({"lobby", 12, false, false}, 200)->events) == std::vector<int64_t>({13, 14, 15, 16}),
               "an older page that joins up is put in front");
    fanout.relayed({message("other", 1)});
    BOOST_TEST(!fanout.recent({"other", 0, false, false}, 200).has_value(), "rooms nobody here is in are not remembered");
    fanout.remove("lobby", 1);
    fanout.forget_empty_rooms();
    BOOST_TEST(!fanout.recent({"lobby", 12, false, false}, 200).has_value(), "forgotten with the room");
}

BOOST_AUTO_TEST_CASE(a_still_here_leave_says_so_and_the_original_protocol_hears_nothing_of_it) {
    room_fanout fanout({});
    live_session now, old;
    fanout.add("lobby", 1, now.member());
    fanout.add("lobby", 2, old.member(true));
    room_event e = presence_event("lobby", 1, "leave");
    e.still_here = true;
    fanout.relayed({e, message("lobby", 2)});
    BOOST_TEST(now.out.messages.at(0).first.find(R"("kind":"leave","user":"ann","uid":"u-ann","still_here":true)") !=
                   std::string::npos,
               now.out.messages.at(0).first);
    BOOST_REQUIRE_EQUAL(old.out.messages.size(), 1u);
    BOOST_TEST(old.out.messages[0].first.find("exited") == std::string::npos, "no 'ann exited chat.' for a user still here");
    BOOST_TEST(old.state.last_seq == 2);
}

BOOST_AUTO_TEST_CASE(a_users_first_connection_joins_its_last_leaves_and_a_user_taken_over_comes_back_silently) {
    local_presence here;
    here.adopt({{"lobby", "u-al", "alice"}, {"lobby", "u-dv", "dave"}, {"dev", "u-al", "alice"}});
    BOOST_TEST(!here.enter("lobby", {"u-al", "alice"}), "alice was in lobby through the node taken over: no join");
    BOOST_TEST(here.enter("lobby", {"u-bo", "bob"}), "bob's first connection: his join is appended");
    BOOST_TEST(!here.enter("lobby", {"u-bo", "bobby"}), "his second tab appends nothing");
    BOOST_TEST(*here.name_of("lobby", "u-bo") == "bob", "the name his first connection gave");
    size_t total = 0;
    BOOST_TEST(here.names("lobby", 1, &total).size() == 1u, "names are capped");
    BOOST_TEST(total == 2u, "but all are counted");
    BOOST_TEST(!here.leave("lobby", "u-bo"), "one tab closed: bob is still here");
    BOOST_TEST(here.leave("lobby", "u-bo"), "his last: his leave is appended");
    BOOST_TEST(!here.leave("lobby", "u-bo"), "a leave more than there were joins appends nothing");
    BOOST_TEST(here.name_of("lobby", "u-bo") == nullptr);
    auto not_back = here.take_not_back();
    BOOST_REQUIRE_EQUAL(not_back.size(), 2u);
    BOOST_TEST((not_back[0].room == "dev" && not_back[0].uid == "u-al"), "alice did not come back to dev");
    BOOST_TEST((not_back[1].room == "lobby" && not_back[1].uid == "u-dv"), "dave did not come back");
    BOOST_TEST(!here.has_adopted(), "their leaves are due once");
    BOOST_TEST(here.enter("dev", {"u-al", "alice"}), "after the lease alice joins dev like anyone");
    auto all = here.all();
    BOOST_TEST(all.size() == 2u, "alice in dev and lobby");
}

namespace {

// A session in a room whose replay comes from memory: room_fanout's recent events, the room's
// presence known (seeded empty).
struct replay_rig {
    asio::io_context io;
    room_presence presence;
    room_fanout fanout{{}};
    frame_cache frames;
    live_session alice;
    std::vector<int64_t> joined_at;
    int failed = 0;
    room_replay replay{{nullptr, &fanout, &presence, &frames, 4000, nullptr,
                        [this](const replay_cursor&, replay_session* out) {
                            *out = {&alice.out, false, &alice.state};
                            return true;
                        },
                        [this](const replay_cursor&) { ++failed; },
                        [this](const replay_cursor&, int64_t head) { joined_at.push_back(head); }},
                       io};
    replay_rig() {
        uint64_t token = presence.track("lobby");
        presence.seed("lobby", token, 0, {});
        live_session bob;
        fanout.add("lobby", 2, bob.member());
        fanout.relayed({message("lobby", 1)});
        for (int64_t seq = 2; seq <= 30; ++seq) fanout.own({message("lobby", seq)});
        fanout.remove("lobby", 2);
        alice.state.replaying = true;
        fanout.add("lobby", 1, alice.member());
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_replay_from_memory_hands_over_to_the_live_events_that_waited_each_once) {
    replay_rig rig;
    rig.fanout.own({message("lobby", 31), message("lobby", 32)});  // live, while alice's replay runs
    BOOST_TEST(rig.alice.out.messages.empty(), "live events wait while the replay runs");
    rig.replay.start({{}, "lobby", 1, 0, 0, true, 0}, {"lobby", 25, false, false});
    BOOST_TEST(rig.joined_at == std::vector<int64_t>({32}), "joined once, at the head");
    BOOST_TEST(rig.alice.out.seqs() == std::vector<int64_t>({26, 27, 28, 29, 30, 31, 32}), "after since, each once, in order");
    BOOST_TEST(rig.alice.out.messages.size() == 1u, "the page in one write");
    BOOST_TEST(!rig.alice.state.replaying, "live from here");
    rig.fanout.own({message("lobby", 33)});
    BOOST_TEST(rig.alice.out.seqs().back() == 33);
    BOOST_TEST(rig.failed == 0);
}

BOOST_AUTO_TEST_CASE(a_replay_waits_for_a_client_that_has_not_read_and_goes_on_when_it_has) {
    replay_rig rig;
    rig.alice.out.waiting = 3000;  // over half of max_buffered (4000): nothing more now
    rig.replay.start({{}, "lobby", 1, 0, 0, true, 0}, {"lobby", 0, false, false});
    BOOST_TEST(rig.joined_at.size() == 1u);
    BOOST_TEST(rig.alice.out.seqs().empty(), "a client with 3000 bytes unread gets no page");
    BOOST_TEST(rig.alice.state.replaying);
    rig.io.run_for(std::chrono::milliseconds(50));
    BOOST_TEST(rig.alice.out.seqs().empty(), "still unread: still nothing");
    rig.alice.out.waiting = 0;  // read
    rig.io.restart();
    rig.io.run_for(std::chrono::milliseconds(50));
    std::vector<int64_t> all(30);
    for (int64_t i = 0; i < 30; ++i) all[static_cast<size_t>(i)] = i + 1;
    BOOST_TEST(rig.alice.out.seqs() == all, "read: the replay went on from where it was");
    BOOST_TEST(!rig.alice.state.replaying);
}
