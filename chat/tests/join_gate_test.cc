#define BOOST_TEST_MODULE join_gate
#include <boost/test/unit_test.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <optional>

#include "../src/join_gate.h"
#include "test_support.h"

using namespace stchat::chat;
using namespace stchat::testing;

namespace stchat::chat {
std::ostream& operator<<(std::ostream& out, access_result r) {
    const char* names[] = {"ok", "forbidden", "failed", "busy", "room_quota"};
    return out << names[static_cast<int>(r)];
}
}  // namespace stchat::chat

namespace {

// The test's thread plays the chat's Asio thread: it runs the io_context until an answer comes.
struct gate_fixture {
    scratch_database db{"join_gate"};
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
    db_worker writer{db.store()};
    task_thread keys;
    join_gate gate{{2, 256, nullptr}, io, writer, keys};

    struct answer {
        access_result result;
        int wait_ms;
    };
    std::optional<answer> check(const std::string& uid, const std::string& room, const std::string& key,
                                bool alive = true) {
        std::optional<answer> got;
        gate.check(uid, room, key, [alive] { return alive; },
                   [&](access_result r, int wait_ms) { got = answer{r, wait_ms}; });
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(alive ? 20 : 2);
        while (!got && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(50));
        return got;
    }
    ~gate_fixture() {
        keys.stop();
        writer.stop();
    }
};

const author alice{"u-alice", "alice"};

}  // namespace

BOOST_FIXTURE_TEST_CASE(new_rooms_count_against_their_creators_quota_and_rooms_with_events_do_not, gate_fixture) {
    room_log rooms(db.store(), "");
    rooms.send_batch({{"lobby", alice, "m1", "hi", append_kind::message}});
    for (int i = 0; i < 5; ++i) {
        auto a = check("u-alice", "lobby", "");
        BOOST_TEST_REQUIRE(a.has_value(), "answered");
        BOOST_TEST(a->result == access_result::ok, "a room with events never counts, join " << i);
    }
    BOOST_TEST(check("u-alice", "new1", "")->result == access_result::ok, "1 of 2 new rooms this minute");
    BOOST_TEST(check("u-alice", "new2", "")->result == access_result::ok, "2 of 2");
    auto third = check("u-alice", "new3", "");
    BOOST_TEST_REQUIRE(third.has_value());
    BOOST_TEST(third->result == access_result::room_quota, "the third new room in a minute is refused");
    BOOST_TEST(third->wait_ms > 0);
    BOOST_TEST(third->wait_ms <= 60001, "told when it may try again: " << third->wait_ms << " ms");
    BOOST_TEST(check("u-bob", "new3", "")->result == access_result::ok, "the quota is per user");

    BOOST_TEST(gate.quota_users() == 2u);
    gate.sweep();
    BOOST_TEST(gate.quota_users() == 2u, "records of the last minute are kept");
    gate.sweep(std::chrono::steady_clock::now() + std::chrono::seconds(61));
    BOOST_TEST(gate.quota_users() == 0u, "a minute later they are forgotten: the map does not grow with every user");
}

BOOST_FIXTURE_TEST_CASE(a_private_room_is_claimed_by_its_first_key_and_checked_against_it, gate_fixture) {
    BOOST_TEST(check("u-alice", "vault", "s3cret")->result == access_result::ok, "claimed with alice's key");
    // (Other users each: a room without events counts against the quota of whoever joins it.)
    BOOST_TEST(check("u-bob", "vault", "wrong")->result == access_result::forbidden);
    BOOST_TEST(check("u-carol", "vault", "")->result == access_result::forbidden, "no key: forbidden");
    BOOST_TEST(check("u-dave", "vault", "s3cret")->result == access_result::ok, "the right key");
}

BOOST_FIXTURE_TEST_CASE(a_join_whose_session_went_away_is_dropped_without_an_answer_or_quota, gate_fixture) {
    BOOST_TEST(!check("u-carol", "gone1", "", false).has_value(), "no answer for a session that is gone");
    BOOST_TEST(gate.quota_users() == 0u, "and no quota used");
}
