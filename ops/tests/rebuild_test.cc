#define BOOST_TEST_MODULE rebuild
// `stchat rebuild` against a real log while the projector and readers keep running.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <atomic>
#include <thread>

#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/sql_session.h"
#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;
namespace es = stchat::eventstore;

namespace {

// Feed messages and chat events as the ingest and the chat server write them.
void fill(es::event_log& log, int first, int count) {
    std::vector<es::new_event> batch;
    for (int i = first; i < first + count; ++i) {
        es::new_event e;
        e.source = "test";
        e.message_id = std::to_string(i);
        e.source_time_us = 1764312000000000 + static_cast<int64_t>(i) * 1000;
        switch (i % 4) {
            case 0:
                e.stream = "feed.sport_event";
                e.type = "sport_event";
                e.data_json = R"({"sport":"TENNIS","match_title":"Match )" + std::to_string(i) +
                              R"(","data_event":"ace"})";
                break;
            case 1:
                e.stream = "feed.execution";
                e.type = "execution";
                e.data_json = R"({"symbol":"AAPL","market":"NASDAQ","price":)" + std::to_string(100 + i % 7) +
                              R"(.25,"quantity":)" + std::to_string(i) + R"(,"executionEpoch":)" +
                              std::to_string(1764312000 + i) + R"(,"stateSymbol":"FILLED"})";
                break;
            default:
                e.stream = "room.r" + std::to_string(i % 5);
                e.type = i % 8 == 2 ? "chat.join" : "chat.message";
                e.source_time_us.reset();
                e.data_json = R"({"room":"r)" + std::to_string(i % 5) + R"(","user":"ann","uid":"u1","id":"m)" +
                              std::to_string(i) + R"(","text":"hello )" + std::to_string(i) + R"("})";
        }
        batch.push_back(std::move(e));
        if (batch.size() == 1000) {
            log.append_batch(batch);
            batch.clear();
        }
    }
    if (!batch.empty()) log.append_batch(batch);
}

int run(const std::vector<std::string>& argv) {
    child_process p(argv);
    p.start();
    return p.wait();
}

struct rebuild_fixture {
    scratch_database db{"rebuild"};
    std::unique_ptr<es::event_log> log = es::make_event_log(db.store());
    std::unique_ptr<es::sql_session> sql = es::make_sql_session(db.store());

    std::string text(const std::string& query) {
        auto rows = sql->exec(query);
        return rows.at(0).at(0).value_or("NULL");
    }
    // A checksum of the table's rows in position order, and of its indexes' definitions.
    std::string checksum(const std::string& table) {
        return text("SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY position), '')) FROM " +
                    table + " t") +
               " " + text("SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes WHERE tablename = '" +
                          table + "'");
    }
    int project_once() {
        return run({stchat_binary(), "project", "--database", db.uri(), "--once", "--log-level", "warn"});
    }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(rebuild, rebuild_fixture)

BOOST_AUTO_TEST_CASE(a_rebuilt_table_equals_what_the_incremental_projector_built) {
    fill(*log, 1, 8000);
    BOOST_REQUIRE(project_once() == 0);
    std::map<std::string, std::string> before;
    for (const char* t : {"event", "execution", "chat_log"}) before[t] = checksum(t);
    BOOST_TEST(db.scalar("SELECT count(*) FROM chat_log") == 4000);
    BOOST_TEST(run({stchat_binary(), "rebuild", "all", "--database", db.uri(), "--batch", "1500"}) == 0);
    for (const char* t : {"event", "execution", "chat_log"}) {
        BOOST_TEST(checksum(t) == before[t], t << ": rows, order and indexes as the projector built them");
    }
    BOOST_TEST(text("SELECT to_regclass('event_rebuild')") == "NULL", "no shadow left behind");
    BOOST_TEST(db.scalar("SELECT count(*) FROM checkpoint WHERE projector LIKE 'rebuild:%'") == 0);
    BOOST_TEST(db.scalar("SELECT min(position) FROM checkpoint") == 8000, "checkpoints at the head");
    for (const char* t : {"event", "execution", "chat_log"}) {
        BOOST_TEST(text(std::string("SELECT has_table_privilege('stchat_reader', '") + t + "', 'SELECT')") == "t",
                   "the reader role can still read the rebuilt " << t);
    }
}

BOOST_AUTO_TEST_CASE(readers_and_the_projector_keep_going_during_a_rebuild) {
    fill(*log, 1, 20000);
    BOOST_REQUIRE(project_once() == 0);
    int64_t initial = db.scalar("SELECT count(*) FROM event");
    child_process projector({stchat_binary(), "project", "--database", db.uri(), "--batch", "500"});
    projector.start();
    std::atomic<bool> done{false};
    std::vector<int64_t> seen;
    std::thread reader([&] {
        auto s = es::make_sql_session(db.store());
        while (!done) seen.push_back(std::stoll(*s->exec("SELECT count(*) FROM event").at(0).at(0)));
    });
    std::thread writer([&] {
        for (int i = 0; i < 20 && !done; ++i) fill(*log, 20001 + i * 200, 200);
    });
    int status = run({stchat_binary(), "rebuild", "event", "--database", db.uri(), "--batch", "400"});
    writer.join();
    wait_until([&] { return db.scalar("SELECT position FROM checkpoint WHERE projector = 'event'") == 24000; }, 60s,
               "the projector caught up after the swap");
    done = true;
    reader.join();
    BOOST_TEST(status == 0);
    BOOST_TEST(seen.size() > 10u, "the reader read " << seen.size() << " times during the rebuild");
    bool monotonic = true;
    for (size_t i = 0; i < seen.size(); ++i) {
        if (seen[i] < initial || (i > 0 && seen[i] < seen[i - 1])) monotonic = false;
    }
    BOOST_TEST(monotonic, "readers never saw an empty, half-built or shrinking table");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event") == db.scalar("SELECT count(*) FROM event_log WHERE type = 'sport_event'"),
               "each sport event exactly once after the swap");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT position) FROM event") == db.scalar("SELECT count(*) FROM event"));
}

BOOST_AUTO_TEST_CASE(an_interrupted_rebuild_leaves_the_live_table_untouched) {
    fill(*log, 1, 30000);
    BOOST_REQUIRE(project_once() == 0);
    std::string before = checksum("event");
    child_process rebuild({stchat_binary(), "rebuild", "event", "--database", db.uri(), "--batch", "10"});
    rebuild.start();
    wait_until([&] { return db.scalar("SELECT coalesce(max(position), 0) FROM checkpoint WHERE projector = 'rebuild:event'") > 0; },
               30s, "the rebuild under way");
    rebuild.kill(SIGINT);
    BOOST_TEST(rebuild.wait() == 130, "interrupted");
    BOOST_TEST(checksum("event") == before);
    BOOST_TEST(text("SELECT to_regclass('event_rebuild')") == "NULL", "shadow dropped");
    BOOST_TEST(db.scalar("SELECT count(*) FROM checkpoint WHERE projector = 'rebuild:event'") == 0);
}

BOOST_AUTO_TEST_CASE(an_unknown_table_exits_2) {
    BOOST_TEST(run({stchat_binary(), "rebuild", "events", "--database", db.uri()}) == 2);
    BOOST_TEST(run({stchat_binary(), "rebuild", "--database", db.uri()}) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
