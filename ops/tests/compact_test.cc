#define BOOST_TEST_MODULE compact
#include <boost/test/unit_test.hpp>

#include <random>

#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/sql_session.h"
#include "stchat/ops/compact.h"
#include "test_support.h"

using namespace stchat;
using stchat::testing::scratch_database;

namespace {

const char* k_feed = "nats:STCHAT_FEEDS:1764312000123456789";

eventstore::new_event feed_event(int64_t seq) {
    eventstore::new_event e;
    e.source = k_feed;
    e.message_id = std::to_string(seq);
    e.stream = "feed.execution";
    e.type = "execution";
    e.payload = "p" + std::to_string(seq);
    return e;
}

eventstore::new_event chat_event(const std::string& uid, const std::string& id) {
    eventstore::new_event e;
    e.source = "chat:" + uid;
    e.message_id = id;
    e.stream = "room.lobby";
    e.type = "chat.message";
    e.data_json = R"({"text":"hi"})";
    return e;
}

// Appends feed ids [from, to] in batches of 500.
void append_feed(eventstore::event_log& log, int64_t from, int64_t to) {
    std::vector<eventstore::new_event> batch;
    for (int64_t s = from; s <= to; ++s) {
        batch.push_back(feed_event(s));
        if (batch.size() == 500 || s == to) {
            log.append_batch(batch);
            batch.clear();
        }
    }
}

ops::compact_result compact(const scratch_database& db, bool dry_run, int chat_days = 7) {
    ops::compact_config c;
    c.store = db.store();
    c.keep = std::chrono::seconds(0);
    c.chat_days = chat_days;
    c.dry_run = dry_run;
    return ops::compact(c);
}

const ops::compacted_source* find(const ops::compact_result& r, const std::string& source) {
    for (const auto& s : r.sources) {
        if (s.source == source) return &s;
    }
    return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_CASE(feed_keys_below_a_gap_become_a_floor_and_their_redeliveries_are_still_duplicates) {
    scratch_database db("compact_floor");
    auto log = eventstore::make_event_log(db.store());
    append_feed(*log, 1, 1000);
    append_feed(*log, 1002, 1500);  // 1001 never arrived (yet)

    auto dry = compact(db, true);
    const auto* d = find(dry, k_feed);
    BOOST_TEST_REQUIRE(d != nullptr, "the dry run names the feed source");
    BOOST_TEST(d->retired == 1000, "ids 1..1000 would be retired, not the ones after the gap");
    BOOST_TEST(d->floor.value_or(-1) == 1000);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 1499, "a dry run retires nothing");

    auto done = compact(db, false);
    BOOST_TEST_REQUIRE(find(done, k_feed) != nullptr);
    BOOST_TEST(find(done, k_feed)->retired == 1000);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 499, "only 1002..1500 keep their keys");
    BOOST_TEST(done.inbox_after == 499);
    BOOST_TEST(db.scalar("SELECT floor FROM inbox_floor") == 1000);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox_compaction") == 1, "the run is recorded");

    // Redeliveries of retired ids, alone and mixed with a new one (the gap), in one batch.
    auto r = log->append_batch({feed_event(1), feed_event(1001), feed_event(640), feed_event(1000)});
    BOOST_TEST_REQUIRE(r.size() == 4u);
    BOOST_TEST(r[0].duplicate, "id 1, retired, is still a duplicate");
    BOOST_TEST(r[0].position == 0, "a retired key's original position is not known");
    BOOST_TEST(!r[1].duplicate, "the gap's id is new and stored");
    BOOST_TEST(r[1].position == 1500, "right after the head (1,499): no position skipped");
    BOOST_TEST(r[2].duplicate);
    BOOST_TEST(r[3].duplicate, "the floor itself is retired");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 1500, "1,499 + the gap's one, nothing twice");
    // A batch of only retired ids stores nothing.
    auto again = log->append_batch({feed_event(7), feed_event(8)});
    BOOST_TEST((again[0].duplicate && again[1].duplicate));
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 1500);

    compact(db, false);
    BOOST_TEST(db.scalar("SELECT floor FROM inbox_floor") == 1500, "the gap filled: the floor moves on");
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 0);
    BOOST_TEST(db.scalar("SELECT retired FROM inbox_floor") == 1500, "each key retired once in all");
}

BOOST_AUTO_TEST_CASE(recent_keys_are_kept_whole) {
    scratch_database db("compact_keep");
    auto log = eventstore::make_event_log(db.store());
    append_feed(*log, 1, 300);
    ops::compact_config c;
    c.store = db.store();
    c.keep = std::chrono::hours(1);  // everything was recorded just now
    auto r = ops::compact(c);
    BOOST_TEST(r.sources.empty(), "nothing recorded within --keep is touched");
    BOOST_TEST(r.below_position == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 300);
}

BOOST_AUTO_TEST_CASE(chat_keys_are_retired_after_the_retention_window_and_not_before) {
    scratch_database db("compact_chat");
    auto log = eventstore::make_event_log(db.store());
    log->append_batch({chat_event("u1", "m1"), chat_event("u1", "m2"), chat_event("u2", "m1")});
    auto kept = compact(db, false, 7);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 3, "keys younger than 7 days stay");
    BOOST_TEST(kept.sources.empty());
    // Within the window a resend is a duplicate.
    BOOST_TEST(log->append_batch({chat_event("u1", "m1")})[0].duplicate);
    auto retired = compact(db, false, 0);
    BOOST_TEST(retired.sources.size() == 2u, "both users' sources");
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 0);
    // The documented contract: a client resending after the window gets it stored again.
    BOOST_TEST(!log->append_batch({chat_event("u1", "m1")})[0].duplicate,
               "after the retention window a resend is a new message (docs/protocol.md)");
}

BOOST_AUTO_TEST_CASE(the_inbox_stays_bounded_over_a_long_run_and_admits_no_duplicate) {
    // 40 rounds of 2,500 new feed messages, each round also redelivering 200 random old ones,
    // compacting after every round while keeping the last round's keys whole.
    scratch_database db("compact_long");
    auto log = eventstore::make_event_log(db.store());
    auto sql = eventstore::make_sql_session(db.store());
    std::mt19937 rng(7);
    int64_t next = 1, max_inbox = 0;
    for (int round = 0; round < 40; ++round) {
        std::vector<eventstore::new_event> batch;
        for (int i = 0; i < 2500; ++i) batch.push_back(feed_event(next++));
        for (int i = 0; i < 200; ++i) batch.push_back(feed_event(1 + static_cast<int64_t>(rng() % (next - 1))));
        std::shuffle(batch.begin(), batch.end(), rng);
        log->append_batch(batch);
        int64_t head = db.scalar("SELECT max(position) FROM event_log");
        sql->exec("SELECT * FROM compact_inbox($1, 7, false)", {std::to_string(head - 2500)});
        max_inbox = std::max(max_inbox, db.scalar("SELECT count(*) FROM inbox"));
    }
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 100000, "every message once");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT payload) FROM event_log") == 100000, "none twice");
    BOOST_TEST(max_inbox <= 2700, "the inbox held at most a round's keys, held " << max_inbox);
    BOOST_TEST(db.scalar("SELECT floor FROM inbox_floor") >= 97500);
}

BOOST_AUTO_TEST_CASE(outside_compaction_the_inbox_stays_append_only) {
    scratch_database db("compact_guard");
    auto log = eventstore::make_event_log(db.store());
    append_feed(*log, 1, 3);
    auto sql = eventstore::make_sql_session(db.store());
    try {
        sql->exec("DELETE FROM inbox");
        BOOST_FAIL("a plain DELETE of inbox keys was allowed");
    } catch (const eventstore::store_error& e) {
        BOOST_TEST(std::string(e.what()).find("append-only") != std::string::npos, e.what());
    }
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 3);
}

BOOST_AUTO_TEST_CASE(the_command_line_dry_run_prints_the_plan_and_changes_nothing) {
    scratch_database db("compact_cli");
    auto log = eventstore::make_event_log(db.store());
    append_feed(*log, 1, 50);
    testing::temp_dir dir;
    std::string out = dir.path() + "/out.txt";
    testing::child_process p({testing::stchat_binary(), "compact", "--dry-run", "--keep", "0", "--database", db.uri()}, out);
    p.start();
    BOOST_TEST(p.wait() == 0, testing::read_file(out));
    std::string text = testing::read_file(out);
    BOOST_TEST(text.find("dry run: would retire 50 keys") != std::string::npos, text);
    BOOST_TEST(text.find(k_feed) != std::string::npos, text);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 50);
    testing::child_process bad({testing::stchat_binary(), "compact", "--keep", "soon", "--database", db.uri()}, out);
    bad.start();
    BOOST_TEST(bad.wait() == 2, "a bad --keep is a usage error");
    BOOST_TEST(testing::read_file(out).find("--keep must be a duration") != std::string::npos, testing::read_file(out));
}
