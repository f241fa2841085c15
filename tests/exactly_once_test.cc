#define BOOST_TEST_MODULE exactly_once
// Whole-system tests of the first promise: every feed message catalogued exactly once, whatever
// crashes. Real stchat processes against a real nats-server and Postgres; crashes are kill -9.
#include <nats/nats.h>
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <random>
#include <thread>

#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> ingest_args(const scratch_database& db, const nats_server& ns) {
    return {stchat_binary(), "ingest",       "--database", db.uri(),  "--nats",
            ns.url(),        "--ack-wait-ms", "1000",      "--batch", "500"};
}

std::vector<std::string> project_args(const scratch_database& db) {
    return {stchat_binary(), "project", "--database", db.uri(), "--batch", "2000"};
}

std::vector<std::string> feed_args(const nats_server& ns, const std::string& kind, int count,
                                   const std::string& run_id, const std::string& rate,
                                   std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {stchat_binary(), "feed",   kind,     "--nats", ns.url(),
                                  "--acked",       "--count", std::to_string(count),
                                  "--rate",        rate,     "--run-id", run_id, "--seed", "7"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

int64_t log_rows(const scratch_database& db) { return db.scalar("SELECT count(*) FROM event_log"); }

// Stops a component the polite way and checks it exits 0 (it finishes the batch in hand).
void stop_gracefully(child_process& p, const std::string& what) {
    p.kill(SIGTERM);
    BOOST_TEST(p.wait() == 0, what << " did not exit 0 on SIGTERM");
}

void delete_stream(const std::string& url, const char* stream) {
    natsConnection* nc = nullptr;
    BOOST_TEST_REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
    jsCtx* js = nullptr;
    BOOST_TEST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
    jsErrCode jerr = static_cast<jsErrCode>(0);
    BOOST_TEST_REQUIRE(js_DeleteStream(js, stream, nullptr, &jerr) == NATS_OK);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

}  // namespace

BOOST_AUTO_TEST_CASE(twenty_thousand_messages_survive_ingest_and_projector_kills_exactly_once) {
    nats_server ns;
    scratch_database db("crash");
    constexpr int per_feed = 10000, total = 2 * per_feed;
    child_process ingest(ingest_args(db, ns));
    child_process projector(project_args(db));
    ingest.start();
    projector.start();
    child_process sport(feed_args(ns, "sport_event", per_feed, "crash-sport", "4000"));
    child_process execution(feed_args(ns, "execution", per_feed, "crash-exec", "4000"));
    sport.start();
    execution.start();

    // kill -9 at random moments while the feeds publish, and once more while it catches up.
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pause_ms(150, 600);
    int ingest_kills = 0, projector_kills = 0;
    for (int round = 0; round < 6; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));  // chaos, not sync
        BOOST_TEST_REQUIRE(ingest.running(), "ingest died on its own before kill " << round);
        ingest.kill(SIGKILL);
        ingest.wait();
        ++ingest_kills;
        ingest.start();
        if (round == 1 || round == 4) {
            projector.kill(SIGKILL);
            projector.wait();
            ++projector_kills;
            projector.start();
        }
    }
    BOOST_TEST(sport.wait() == 0, "sport feed failed");
    BOOST_TEST(execution.wait() == 0, "execution feed failed");
    BOOST_TEST(ingest_kills >= 5);
    BOOST_TEST(projector_kills == 2);

    wait_until([&] { return log_rows(db) >= total; }, 180s, "all messages in the log");
    wait_until([&] { return db.scalar("SELECT count(*) FROM event") +
                                db.scalar("SELECT count(*) FROM execution") >= total; },
               120s, "all messages projected");
    stop_gracefully(ingest, "ingest");
    stop_gracefully(projector, "projector");

    BOOST_TEST(log_rows(db) == total, "log rows");
    BOOST_TEST(db.scalar("SELECT count(*) FROM inbox") == total, "inbox keys");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") ==
                   total,
               "each JetStream sequence once");
    BOOST_TEST(db.scalar("SELECT min((metadata->>'stream_seq')::bigint) FROM event_log") == 1);
    BOOST_TEST(db.scalar("SELECT max((metadata->>'stream_seq')::bigint) FROM event_log") == total,
               "no sequence missing: 1..N all present");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event") == per_feed, "sport events projected");
    BOOST_TEST(db.scalar("SELECT count(*) FROM execution") == per_feed, "executions projected");
    BOOST_TEST(db.scalar("SELECT count(*) FROM undecodable") == 0);
    BOOST_TEST(db.scalar("SELECT max(position) FROM event_log") == total, "positions have no gap");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event e JOIN event_log l USING (position)"
                         " WHERE l.data->>'match_title' <> e.match_title") == 0,
               "projected rows match their log events");
}

BOOST_AUTO_TEST_CASE(a_hundred_malformed_payloads_become_undecodable_records_and_no_good_one_is_lost) {
    nats_server ns;
    scratch_database db("garbage");
    child_process ingest(ingest_args(db, ns));
    ingest.start();
    child_process bad(feed_args(ns, "execution", 5000, "garbage-exec", "0",
                                {"--malformed-every", "50"}));
    child_process good(feed_args(ns, "sport_event", 1000, "garbage-sport", "0"));
    bad.start();
    good.start();
    BOOST_TEST(bad.wait() == 0);
    BOOST_TEST(good.wait() == 0);
    wait_until([&] { return log_rows(db) >= 6000; }, 120s, "6000 log rows");
    stop_gracefully(ingest, "ingest");
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--once"});
    project.start();
    BOOST_TEST(project.wait() == 0);

    BOOST_TEST(log_rows(db) == 6000);
    BOOST_TEST(db.scalar("SELECT count(*) FROM undecodable") == 100, "every malformed payload kept");
    BOOST_TEST(db.scalar("SELECT count(*) FROM undecodable WHERE subject = 'execution'") == 100);
    BOOST_TEST(db.scalar("SELECT count(*) FROM undecodable WHERE error = 'empty payload'") == 33);
    BOOST_TEST(db.scalar("SELECT count(*) FROM undecodable WHERE error = 'not a valid protobuf message'"
                         " AND payload = '\\xfffe206e6f742070726f746f62756620'::bytea || '\\x01'::bytea") ==
                   34,
               "the garbage bytes are kept exactly");
    BOOST_TEST(db.scalar("SELECT count(*) FROM undecodable WHERE error IS NULL OR error = ''") == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM execution") == 4900, "every good execution");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event") == 1000, "every sport event");
}

BOOST_AUTO_TEST_CASE(a_stream_deleted_and_created_again_is_not_mistaken_for_duplicates) {
    nats_server ns;
    scratch_database db("recreate");
    child_process ingest(ingest_args(db, ns));
    ingest.start();
    child_process first(feed_args(ns, "sport_event", 500, "before", "0"));
    first.start();
    BOOST_TEST_REQUIRE(first.wait() == 0);
    wait_until([&] { return log_rows(db) >= 500; }, 60s, "the first 500");

    delete_stream(ns.url(), "STCHAT_FEEDS");
    // The new stream starts again at sequence 1: same sequences, other messages.
    child_process second(feed_args(ns, "sport_event", 300, "after", "0"));
    second.start();
    BOOST_TEST_REQUIRE(second.wait() == 0);
    wait_until([&] { return log_rows(db) >= 800; }, 60s, "the 300 after the re-creation");
    stop_gracefully(ingest, "ingest");

    BOOST_TEST(log_rows(db) == 800);
    BOOST_TEST(db.scalar("SELECT count(DISTINCT source) FROM inbox") == 2,
               "two stream instances, two inbox sources");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE (metadata->>'stream_seq')::bigint <= 300") ==
                   600,
               "sequences 1..300 exist once per stream instance");
}

BOOST_AUTO_TEST_CASE(feed_messages_as_large_as_the_server_takes_are_catalogued_whole_among_small_ones) {
    // Payloads near the server's max_payload, waiting in the stream among small ones: each is
    // catalogued once and whole, and the small ones around them are not held up.
    nats_server ns;
    scratch_database db("large");
    child_process ingest(ingest_args(db, ns));
    ingest.start();
    child_process before(feed_args(ns, "execution", 100, "large-before", "0"));
    before.start();
    BOOST_TEST_REQUIRE(before.wait() == 0);
    wait_until([&] { return log_rows(db) >= 100; }, 60s, "the first 100 (the stream exists)");
    stop_gracefully(ingest, "ingest");  // what follows waits in the stream, to be fetched at once

    natsConnection* nc = nullptr;
    BOOST_TEST_REQUIRE(natsConnection_ConnectTo(&nc, ns.url().c_str()) == NATS_OK);
    jsCtx* js = nullptr;
    BOOST_TEST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
    int64_t max_payload = natsConnection_GetMaxPayload(nc);
    const int large = 40;  // ~40 MB in all
    std::string payload(static_cast<size_t>(max_payload - 4096), '\xab');  // not a protobuf: undecodable
    for (int i = 0; i < large; ++i) {
        jsErrCode jerr = static_cast<jsErrCode>(0);
        BOOST_TEST_REQUIRE(js_Publish(nullptr, js, "execution", payload.data(), static_cast<int>(payload.size()),
                                      nullptr, &jerr) == NATS_OK,
                           "large message " << i << " published");
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    child_process after(feed_args(ns, "execution", 100, "large-after", "0"));
    after.start();
    BOOST_TEST_REQUIRE(after.wait() == 0);
    child_process again(ingest_args(db, ns));
    again.start();
    wait_until([&] { return log_rows(db) >= 200 + large; }, 120s, "every message, large ones included");
    stop_gracefully(again, "ingest");

    BOOST_TEST(log_rows(db) == 200 + large, "each message once");
    BOOST_TEST(db.scalar("SELECT count(*) FROM undecodable WHERE bytes = " + std::to_string(payload.size())) == large,
               "every large payload kept whole (" << payload.size() << " bytes each)");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'execution'") == 200, "the small ones around them");
}
