#define BOOST_TEST_MODULE event_log
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/sql_session.h"
#include "test_support.h"

using namespace stchat::eventstore;
using stchat::testing::scratch_database;

namespace {

new_event make(const std::string& source, const std::string& id, const std::string& stream,
               const std::string& payload = "p") {
    new_event e;
    e.source = source;
    e.message_id = id;
    e.stream = stream;
    e.type = "test";
    e.payload = payload;
    e.data_json = R"({"n":")" + id + R"("})";
    e.source_time_us = 1764312000123456;
    return e;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_batch_gets_consecutive_positions_and_per_stream_sequences) {
    scratch_database db("append");
    auto log = make_event_log(db.store());
    auto r = log->append_batch({make("s", "1", "a"), make("s", "2", "b"), make("s", "3", "a")});
    BOOST_TEST_REQUIRE(r.size() == 3u);
    BOOST_TEST(r[0].position == 1);
    BOOST_TEST(r[1].position == 2);
    BOOST_TEST(r[2].position == 3);
    BOOST_TEST(r[0].stream_seq == 1, "first event of stream a");
    BOOST_TEST(r[1].stream_seq == 1, "first event of stream b");
    BOOST_TEST(r[2].stream_seq == 2, "second event of stream a");
    auto r2 = log->append_batch({make("s", "4", "b")});
    BOOST_TEST(r2[0].position == 4);
    BOOST_TEST(r2[0].stream_seq == 2, "stream b continues at 2 in a later batch");
    BOOST_TEST(log->head() == 4);

    auto events = log->read_after(0, 100);
    BOOST_TEST_REQUIRE(events.size() == 4u);
    BOOST_TEST(events[0].payload == "p", "payload bytes come back exactly");
    BOOST_TEST(events[0].data_json == R"({"n": "1"})");
    BOOST_TEST_REQUIRE(events[0].source_time_us.has_value());
    BOOST_TEST(*events[0].source_time_us == 1764312000123456, "microseconds survive the round trip");
}

BOOST_AUTO_TEST_CASE(binary_payloads_are_stored_byte_for_byte) {
    scratch_database db("binary");
    auto log = make_event_log(db.store());
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
    log->append_batch({make("s", "1", "a", bytes), make("s", "2", "a", "")});
    auto events = log->read_after(0, 10);
    BOOST_TEST_REQUIRE(events.size() == 2u);
    BOOST_TEST(events[0].payload == bytes, "all 256 byte values, NUL included");
    BOOST_TEST(events[1].payload.empty(), "an empty payload stays empty");
}

// The batch goes to Postgres as binary arrays (pg::binary_array): nothing is escaped or parsed as
// a literal, and Postgres still checks what it stores.
BOOST_AUTO_TEST_CASE(json_documents_come_back_whatever_they_hold_and_invalid_input_stores_nothing) {
    scratch_database db("json");
    auto log = make_event_log(db.store());
    auto pretty = make("s", "1", "a");
    pretty.data_json = "{\n  \"q\": \"say \\\"hi\\\" \\\\ \\n \\u001e \u00e9\",\n  \"n\": [1, 2]\n}";
    pretty.metadata_json = "{}";
    auto second = make("s", "2", "a");
    second.metadata_json = R"({"headers":{"Nats-Msg-Id":"x,y}{\"z"}})";
    second.source_time_us.reset();
    log->append_batch({pretty, second});
    auto events = log->read_after(0, 10);
    BOOST_TEST_REQUIRE(events.size() == 2u);
    BOOST_TEST(events[0].data_json == "{\"n\": [1, 2], \"q\": \"say \\\"hi\\\" \\\\ \\n \\u001e \u00e9\"}",
               "newlines, quotes, backslashes and an escaped U+001E survive: " << events[0].data_json);
    BOOST_TEST(events[1].metadata_json == R"({"headers": {"Nats-Msg-Id": "x,y}{\"z"}})", events[1].metadata_json);
    BOOST_TEST(events[1].data_json == R"({"n": "2"})", "each event keeps its own document");
    BOOST_TEST(*events[0].source_time_us == 1764312000123456, "a source time in binary survives");
    BOOST_TEST(!events[1].source_time_us.has_value(), "an unknown source time stays NULL");

    auto bad_json = make("s", "3", "a");
    bad_json.data_json = std::string("{\"q\": \"raw \x1e here\"}");
    auto bad_utf8 = make("s", "5", "a");
    bad_utf8.stream = "room.\xff";
    for (const auto& bad : {bad_json, bad_utf8}) {
        try {
            log->append_batch({make("s", "4", "a"), bad});
            BOOST_FAIL("invalid input must be refused: " << bad.stream << " " << bad.data_json);
        } catch (const store_error& e) {
            BOOST_TEST(e.bad_data(), "refused as bad data (the chat then stores the batch's other sends): " << e.what());
        }
    }
    BOOST_TEST(log->head() == 2, "nothing of those batches is stored");
}

BOOST_AUTO_TEST_CASE(a_duplicate_append_stores_nothing_and_returns_the_original_position) {
    scratch_database db("dedup");
    auto log = make_event_log(db.store());
    log->append_batch({make("s", "1", "a"), make("s", "2", "a")});
    auto r = log->append_batch({make("s", "3", "a"), make("s", "2", "a", "changed"), make("t", "2", "a")});
    BOOST_TEST(r[0].position == 3);
    BOOST_TEST(!r[0].duplicate);
    BOOST_TEST(r[1].duplicate, "(s, 2) is in the inbox already");
    BOOST_TEST(r[1].position == 2, "the duplicate reports the original position");
    BOOST_TEST(r[1].stream_seq == 2);
    BOOST_TEST(!r[2].duplicate, "(t, 2) is another source: a different key");
    BOOST_TEST(r[2].position == 4);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 4);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 4);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE payload = 'changed'") == 0,
               "a duplicate's new content is not stored");
}

BOOST_AUTO_TEST_CASE(a_message_twice_in_one_batch_is_appended_once) {
    scratch_database db("dedup_batch");
    auto log = make_event_log(db.store());
    auto r = log->append_batch({make("s", "1", "a"), make("s", "1", "a"), make("s", "2", "a")});
    BOOST_TEST(!r[0].duplicate);
    BOOST_TEST(r[1].duplicate);
    BOOST_TEST(r[1].position == r[0].position);
    BOOST_TEST(r[2].position == 2, "no gap after the in-batch duplicate");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 2);
}

BOOST_AUTO_TEST_CASE(a_known_key_among_new_ones_leaves_no_gap_in_positions_or_stream_seqs) {
    // The fast path (all keys new) fails on the known key and rolls back; the general path then
    // appends the new ones right after the head.
    scratch_database db("append_mixed");
    auto log = make_event_log(db.store());
    log->append_batch({make("s", "1", "a"), make("s", "2", "a")});
    auto r = log->append_batch({make("s", "3", "a"), make("s", "1", "a"), make("s", "4", "b"), make("s", "5", "a")});
    BOOST_TEST_REQUIRE(r.size() == 4u);
    BOOST_TEST((!r[0].duplicate && r[0].position == 3 && r[0].stream_seq == 3));
    BOOST_TEST((r[1].duplicate && r[1].position == 1 && r[1].stream_seq == 1), "the original's place");
    BOOST_TEST((!r[2].duplicate && r[2].position == 4 && r[2].stream_seq == 1));
    BOOST_TEST((!r[3].duplicate && r[3].position == 5 && r[3].stream_seq == 4));
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 5);
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == 5);
    // And the next all-new batch takes the fast path from there.
    auto next = log->append_batch({make("s", "6", "a")});
    BOOST_TEST((next[0].position == 6 && next[0].stream_seq == 5));
}

BOOST_AUTO_TEST_CASE(the_database_refuses_update_delete_and_truncate_of_the_log) {
    scratch_database db("append_only");
    auto log = make_event_log(db.store());
    log->append_batch({make("s", "1", "a")});
    auto sql = make_sql_session(db.store());
    for (const char* stmt : {"UPDATE event_log SET type = 'x'", "DELETE FROM event_log",
                             "TRUNCATE event_log CASCADE", "UPDATE inbox SET message_id = 'x'",
                             "DELETE FROM inbox"}) {
        bool refused = false;
        try {
            sql->exec(stmt);
        } catch (const store_error& e) {
            refused = std::string(e.what()).find("append-only") != std::string::npos;
            BOOST_TEST(!e.retry_may_help(idempotence::idempotent), "a refused change is not worth retrying");
        }
        BOOST_TEST(refused, stmt << " was not refused as append-only");
    }
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'test'") == 1);
}

BOOST_AUTO_TEST_CASE(concurrent_writers_and_a_reader_the_reader_sees_every_position_once_in_order) {
    scratch_database db("concurrent");
    constexpr int writers = 4, batches = 60, per_batch = 15;
    constexpr int64_t total = writers * batches * per_batch;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            try {
                auto log = make_event_log(db.store());
                for (int b = 0; b < batches; ++b) {
                    std::vector<new_event> batch;
                    for (int i = 0; i < per_batch; ++i) {
                        batch.push_back(make("w" + std::to_string(w), std::to_string(b * per_batch + i),
                                             "stream-" + std::to_string((b + i) % 3)));
                    }
                    log->append_batch(batch);
                }
            } catch (...) {
                ++failures;
            }
        });
    }
    // The reader follows the log while the writers append, the way projectors and relays do.
    std::vector<recorded_event> seen;
    auto reader = make_event_log(db.store());
    int64_t last = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (static_cast<int64_t>(seen.size()) < total && std::chrono::steady_clock::now() < deadline) {
        auto got = reader->read_after(last, 37);
        if (got.empty()) {
            reader->wait_for_append(std::chrono::milliseconds(100));
            continue;
        }
        for (auto& e : got) {
            last = e.position;
            seen.push_back(std::move(e));
        }
    }
    for (auto& t : threads) t.join();
    BOOST_TEST_REQUIRE(failures.load() == 0);
    BOOST_TEST_REQUIRE(static_cast<int64_t>(seen.size()) == total, "reader saw " << seen.size());
    std::set<std::string> keys;
    std::map<std::string, int64_t> stream_seq;
    for (size_t i = 0; i < seen.size(); ++i) {
        BOOST_TEST_REQUIRE(seen[i].position == static_cast<int64_t>(i + 1),
                           "position " << seen[i].position << " at index " << i);
        BOOST_TEST_REQUIRE(seen[i].stream_seq == ++stream_seq[seen[i].stream],
                           "stream " << seen[i].stream << " has a gap at " << seen[i].stream_seq);
        keys.insert(seen[i].data_json + seen[i].payload + std::to_string(seen[i].stream_seq) +
                    seen[i].stream);
    }
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == total);
    BOOST_TEST(reader->read_after(last, 10).empty(), "nothing after the last position");
}

BOOST_AUTO_TEST_CASE(a_waiting_reader_is_woken_by_an_append_from_another_connection) {
    scratch_database db("notify");
    auto reader = make_event_log(db.store());
    BOOST_TEST(!reader->wait_for_append(std::chrono::milliseconds(50)), "nothing appended yet");
    std::thread writer([&] {
        auto log = make_event_log(db.store());
        log->append_batch({make("s", "1", "a")});
    });
    bool woken = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!woken && std::chrono::steady_clock::now() < deadline) {
        woken = reader->wait_for_append(std::chrono::milliseconds(1000));
    }
    writer.join();
    BOOST_TEST(woken, "no notification within 10 s");
    BOOST_TEST(reader->read_after(0, 10).size() == 1u);
}
