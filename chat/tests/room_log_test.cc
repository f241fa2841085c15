#define BOOST_TEST_MODULE room_log
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <set>
#include <thread>

#include <unistd.h>

#include "../src/node_lease.h"
#include "stchat/chat/room_log.h"
#include "test_support.h"

using namespace stchat::chat;
using namespace stchat::testing;

namespace {
const author alice{"u-alice", "alice"};

// A file with `text`, removed at the end of the scope.
class temp_file {
public:
    explicit temp_file(const std::string& text) {
        char name[] = "/tmp/stchat-test-XXXXXX";
        int fd = ::mkstemp(name);
        BOOST_REQUIRE(fd >= 0);
        BOOST_REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
        _path = name;
    }
    ~temp_file() { ::unlink(_path.c_str()); }
    const std::string& path() const { return _path; }

private:
    std::string _path;
};
const author bob{"u-bob", "bob"};
}  // namespace

BOOST_AUTO_TEST_CASE(node_names_carry_the_machine_so_two_machines_of_one_host_name_never_share_a_port_prefix) {
    BOOST_TEST(node_name("web1", "3f2a9c1b0d4e", 8888, 1764480000123456) ==
               "chat@web1[3f2a9c1b0d4e]:8888/1764480000123456");
    BOOST_TEST(node_name("web1", "aaaaaaaaaaaa", 8888, 1) != node_name("web1", "bbbbbbbbbbbb", 8888, 1),
               "same host name and port, other machine: another prefix, so no takeover");
    BOOST_TEST(node_name("we:b/1%", "", 8888, 7) == "chat@we_b_1_[]:8888/7",
               "a host name's ':', '/' and LIKE's characters cannot bend the name's parts");
    temp_file id("0123456789abcdef0123456789abcdef\n");
    BOOST_TEST(machine_tag(id.path()) == "0123456789ab", "the first 12 hex digits");
    temp_file bad("not-a-machine-id\n");
    BOOST_TEST(machine_tag(bad.path()) == "", "anything else is no machine id");
    BOOST_TEST(machine_tag("/nonexistent/machine-id") == "", "nor is a missing file");
    std::string mine = make_node_name(8888);
    BOOST_TEST(mine.find("]:8888/") != std::string::npos, mine);
}

BOOST_AUTO_TEST_CASE(room_names_follow_the_protocol_pattern) {
    BOOST_TEST(valid_room_name("lobby"));
    BOOST_TEST(valid_room_name("feed.sport_event"));
    BOOST_TEST(valid_room_name("a-b_c.9"));
    BOOST_TEST(valid_room_name(std::string(64, 'a')));
    BOOST_TEST(!valid_room_name(std::string(65, 'a')), "65 characters is too long");
    BOOST_TEST(!valid_room_name(""));
    BOOST_TEST(!valid_room_name("Lobby"), "upper case");
    BOOST_TEST(!valid_room_name("-lobby"), "must start with a letter or digit");
    BOOST_TEST(!valid_room_name("lob by"));
}

BOOST_AUTO_TEST_CASE(each_room_counts_its_own_sequence_from_one_without_gaps) {
    scratch_database db("rooms");
    room_log rooms(db.store());
    BOOST_TEST(rooms.join("lobby", alice, "s1:1").seq == 1);
    BOOST_TEST(rooms.join("other", bob, "s2:1").seq == 1, "another room starts at 1 too");
    auto acks = rooms.send_batch({{"lobby", alice, "m-1", "hello"},
                                  {"other", bob, "m-1", "hi there"},
                                  {"lobby", bob, "m-2", "hey alice"}});
    BOOST_TEST_REQUIRE(acks.size() == 3u);
    BOOST_TEST(acks[0].seq == 2);
    BOOST_TEST(acks[1].seq == 2);
    BOOST_TEST(acks[2].seq == 3);
    BOOST_TEST(rooms.leave("lobby", alice, "s1:2").seq == 4);

    auto events = rooms.read("lobby", 0, 50);
    BOOST_TEST_REQUIRE(events.size() == 4u);
    BOOST_TEST(events[0].kind == "join");
    BOOST_TEST(events[1].kind == "message");
    BOOST_TEST(events[1].user == "alice");
    BOOST_TEST(events[1].uid == "u-alice");
    BOOST_TEST(events[1].id == "m-1");
    BOOST_TEST(events[1].text == "hello");
    BOOST_TEST(events[2].user == "bob");
    BOOST_TEST(events[3].kind == "leave");
    for (size_t i = 0; i < events.size(); ++i) BOOST_TEST(events[i].seq == static_cast<int64_t>(i + 1));

    auto since = rooms.read("lobby", 2, 50);
    BOOST_TEST_REQUIRE(since.size() == 2u, "since 2: seqs 3 and 4");
    BOOST_TEST(since[0].seq == 3);
}

BOOST_AUTO_TEST_CASE(a_resent_message_is_stored_once_and_acked_with_its_first_seq) {
    scratch_database db("resend");
    room_log rooms(db.store());
    auto first = rooms.send_batch({{"lobby", alice, "m-0001", "hello"}});
    auto again = rooms.send_batch({{"lobby", alice, "m-0001", "hello"}});
    auto other_user = rooms.send_batch({{"lobby", bob, "m-0001", "hello"}});
    BOOST_TEST(!other_user[0].duplicate, "the same id from another user is another message");
    BOOST_TEST(other_user[0].seq == 2);
    BOOST_TEST(!first[0].duplicate);
    BOOST_TEST(again[0].duplicate);
    BOOST_TEST(again[0].seq == first[0].seq);
    BOOST_TEST(rooms.read("lobby", 0, 50).size() == 2u, "alice's stored once, bob's once");
    BOOST_TEST(rooms.join("lobby", alice, "s1:1").seq == 3);
    BOOST_TEST(rooms.join("lobby", alice, "s1:1").duplicate, "a retried join appends nothing");
}

BOOST_AUTO_TEST_CASE(concurrent_senders_to_one_room_get_every_seq_once) {
    scratch_database db("room_race");
    constexpr int senders = 4, per_sender = 100;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < senders; ++t) {
        threads.emplace_back([&, t] {
            try {
                room_log rooms(db.store());
                author who{"u" + std::to_string(t), "user" + std::to_string(t)};
                for (int i = 0; i < per_sender; ++i) {
                    rooms.send_batch({{"lobby", who, "m-" + std::to_string(i), "text"}});
                }
            } catch (...) {
                ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    BOOST_TEST_REQUIRE(failures.load() == 0);
    room_log rooms(db.store());
    auto events = rooms.read("lobby", 0, 1000);
    BOOST_TEST_REQUIRE(events.size() == static_cast<size_t>(senders * per_sender));
    std::set<std::string> keys;
    for (size_t i = 0; i < events.size(); ++i) {
        BOOST_TEST_REQUIRE(events[i].seq == static_cast<int64_t>(i + 1));
        keys.insert(events[i].uid + "/" + events[i].id);
    }
    BOOST_TEST(keys.size() == static_cast<size_t>(senders * per_sender), "each message once");
}

BOOST_AUTO_TEST_CASE(the_projector_builds_chat_log_with_join_message_and_exit) {
    scratch_database db("chat_log");
    room_log rooms(db.store());
    rooms.join("lobby", alice, "s1:1");
    rooms.send_batch({{"lobby", alice, "m-1", "hi"}});
    rooms.leave("lobby", alice, "s1:2");
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--once"});
    project.start();
    BOOST_TEST_REQUIRE(project.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log") == 3);
    BOOST_TEST(db.scalar("SELECT seq FROM chat_log WHERE action = 'join' AND username = 'alice'"
                         " AND room = 'lobby'") == 1);
    BOOST_TEST(db.scalar("SELECT seq FROM chat_log WHERE action = 'message' AND message = 'hi'") == 2);
    BOOST_TEST(db.scalar("SELECT seq FROM chat_log WHERE action = 'exit'") == 3);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log WHERE uid = '" + alice.uid + "'") == 3,
               "every row carries its author's uid");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event") == 0, "chat events are not sport events");
}

BOOST_AUTO_TEST_CASE(joins_leaves_and_messages_commit_together_in_the_order_given) {
    scratch_database db("rooms_mixed");
    room_log rooms(db.store());
    auto acks = rooms.send_batch({{"lobby", alice, "s1:1", "", append_kind::join},
                                  {"lobby", alice, "m-1", "hi", append_kind::message},
                                  {"lobby", bob, "s2:1", "", append_kind::join},
                                  {"lobby", alice, "s1:2", "", append_kind::leave}});
    BOOST_REQUIRE(acks.size() == 4u);
    for (int i = 0; i < 4; ++i) BOOST_TEST(acks[i].seq == i + 1, "seq of append " << i);
    auto events = rooms.read("lobby", 0, 10);
    BOOST_REQUIRE(events.size() == 4u);
    BOOST_TEST(events[0].kind == "join");
    BOOST_TEST(events[1].kind == "message");
    BOOST_TEST(events[1].text == "hi");
    BOOST_TEST(events[2].user == "bob");
    BOOST_TEST(events[3].kind == "leave");
    auto again = rooms.send_batch({{"lobby", bob, "s2:1", "", append_kind::join}});
    BOOST_TEST(again.at(0).duplicate, "a retried join (same request id) appends nothing");
    BOOST_TEST(again.at(0).seq == 3);
}

BOOST_AUTO_TEST_CASE(what_the_writer_delivers_itself_is_what_the_relay_reads_back) {
    scratch_database db("rooms_own");
    for (std::string node : {std::string(), std::string("chat@test:1/1")}) {
        room_log rooms(db.store(), node);
        std::vector<send_request> sends{{"own", alice, "j-" + node, "", append_kind::join},
                                        {"own", alice, "m-" + node, "héllo <b>", append_kind::message},
                                        {"own", alice, "l-" + node, "", append_kind::leave}};
        auto acks = rooms.send_batch(sends);
        BOOST_REQUIRE(acks.size() == 3u);
        auto read = rooms.read("own", acks[0].seq - 1, 10);
        BOOST_REQUIRE_MESSAGE(read.size() == 3u, "three events read back");
        for (size_t i = 0; i < 3; ++i) {
            room_event mine = own_event(sends[i], acks[i], node);
            const room_event& back = read[i];
            BOOST_TEST(mine.room == back.room);
            BOOST_TEST(mine.seq == back.seq, "seq of " << i);
            BOOST_TEST(mine.kind == back.kind, "kind of " << i);
            BOOST_TEST(mine.user == back.user);
            BOOST_TEST(mine.uid == back.uid);
            BOOST_TEST(mine.id == back.id, "id of " << i);
            BOOST_TEST(mine.text == back.text, "text of " << i);
            BOOST_TEST(mine.node == back.node, "node of " << i << " with node '" << node << "'");
            BOOST_TEST(mine.ts_us == back.ts_us, "the recorded time of " << i);
            BOOST_TEST(mine.position == back.position, "position of " << i);
            BOOST_TEST(mine.ts_us > 0, "a time was returned");
        }
    }
}

BOOST_AUTO_TEST_CASE(read_many_answers_each_read_with_its_room_head_and_page) {
    scratch_database db("rooms_many");
    room_log rooms(db.store());
    for (int i = 1; i <= 7; ++i) rooms.send_batch({{"lobby", alice, "m-" + std::to_string(i), "t", append_kind::message}});
    rooms.join("side", bob, "s2:1");
    auto pages = rooms.read_many({{"lobby", 4, false},
                                  {"lobby", 2, true},
                                  {"lobby", 2, true},
                                  {"side", 0, false},
                                  {"empty", 3, true},
                                  {"lobby", 0, true},
                                  {"lobby", 99, false}},
                                 3);
    BOOST_REQUIRE(pages.size() == 7u);
    auto seqs = [](const room_page& p) {
        std::vector<int64_t> out;
        for (const auto& e : *p.events) out.push_back(e.seq);
        return out;
    };
    BOOST_TEST(pages[0].head == 7);
    BOOST_TEST(seqs(pages[0]) == (std::vector<int64_t>{5, 6, 7}), "after 4");
    BOOST_TEST(seqs(pages[1]) == (std::vector<int64_t>{6, 7}), "the last 2");
    BOOST_TEST(pages[1].events == pages[2].events, "identical reads share one page");
    BOOST_TEST(pages[3].head == 1);
    BOOST_TEST(seqs(pages[3]) == (std::vector<int64_t>{1}));
    BOOST_TEST(pages[4].head == 0, "a room without events");
    BOOST_TEST(pages[4].events->empty());
    BOOST_TEST(pages[5].events->empty(), "the last 0: only the head");
    BOOST_TEST(pages[5].head == 7);
    BOOST_TEST(pages[6].events->empty(), "after a seq past the head: nothing");
    auto limited = rooms.read_many({{"lobby", 0, false}}, 3);
    BOOST_TEST(seqs(limited[0]) == (std::vector<int64_t>{1, 2, 3}), "at most max_events");
}

BOOST_AUTO_TEST_CASE(members_of_takes_each_nodes_last_join_or_leave_per_user_as_of_one_position) {
    scratch_database db("rooms_members");
    room_log node_a(db.store(), "A"), node_b(db.store(), "B");
    node_a.join("lobby", alice, "a:1");
    node_a.join("lobby", bob, "b:1");
    node_b.join("lobby", alice, "a2:1");  // alice through a second process
    node_a.leave("lobby", alice, "a:2");  // ... gone from the first
    node_a.join("side", bob, "b:2");
    node_a.leave("side", bob, "b:3");
    node_b.leave("side", bob, "b:4");     // a leave without a join (its join failed): no -1
    node_b.join("again", bob, "b:5");
    node_b.join("again", bob, "b:6");     // a node joining its users again: counted once
    node_b.leave("again", bob, "b:7");
    node_a.send_batch({{"lobby", bob, "m-1", "hi", append_kind::message}});
    auto m = node_a.members_of({"lobby", "side", "again", "empty"});
    BOOST_REQUIRE(m.size() == 4u);
    BOOST_TEST(m[0].as_of_position == db.scalar("SELECT max(position) FROM event_log"));
    BOOST_REQUIRE(m[0].members.size() == 2u);
    BOOST_TEST(m[0].members[0].uid == "u-alice");
    BOOST_TEST((m[0].members[0].nodes == std::vector<std::string>{"B"}), "alice is there through B only");
    BOOST_TEST(m[0].members[1].name == "bob");
    BOOST_TEST(m[1].members.empty(), "bob left side; B's stray leave takes nothing below zero");
    BOOST_TEST(m[2].members.empty(), "two joins and one leave by one node: gone");
    BOOST_TEST(m[3].members.empty());
    BOOST_TEST(m[3].as_of_position == m[0].as_of_position, "one snapshot for all");
}
