#define BOOST_TEST_MODULE reconcile
// `stchat reconcile` on its own: a log that never saw a stream's messages is filled from what the
// stream holds, exactly once however often it runs, and what the stream no longer holds is named.
#include <nats/nats.h>
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>

#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

std::string run_reconcile(const scratch_database& db, const nats_server& ns, bool dry_run) {
    temp_dir dir;
    std::vector<std::string> argv{stchat_binary(), "reconcile", "--database", db.uri(), "--nats", ns.url()};
    if (dry_run) argv.push_back("--dry-run");
    child_process p(argv, dir.path() + "/out");
    p.start();
    BOOST_TEST_REQUIRE(p.wait() == 0, "stchat reconcile exits 0");
    std::ifstream in(dir.path() + "/out");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

BOOST_AUTO_TEST_CASE(reconcile_appends_what_the_stream_holds_once_and_names_what_it_dropped) {
    nats_server ns;
    scratch_database db("reconcile");
    child_process feed({stchat_binary(), "feed", "execution", "--nats", ns.url(), "--acked", "--count", "500", "--rate", "0",
                        "--run-id", "r", "--malformed-every", "50"});
    feed.start();
    BOOST_REQUIRE(feed.wait() == 0);
    // The stream's retention has dropped sequences 1..100 (here: purged by hand).
    natsConnection* nc = nullptr;
    BOOST_REQUIRE(natsConnection_ConnectTo(&nc, ns.url().c_str()) == NATS_OK);
    jsCtx* js = nullptr;
    BOOST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
    jsOptions o;
    jsOptions_Init(&o);
    o.Stream.Purge.Sequence = 101;  // up to, not including
    jsErrCode err = static_cast<jsErrCode>(0);
    BOOST_REQUIRE(js_PurgeStream(js, "STCHAT_FEEDS", &o, &err) == NATS_OK);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);

    std::string look = run_reconcile(db, ns, true);
    BOOST_TEST(look.find("holds 101-500") != std::string::npos, look);
    BOOST_TEST(look.find("missing from the log: 400 (101-500)") != std::string::npos, look);
    BOOST_TEST(look.find("lost (gone from the stream, never catalogued): 1-100") != std::string::npos, look);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 0, "--dry-run appends nothing");

    std::string done = run_reconcile(db, ns, false);
    BOOST_TEST(done.find("appended: 400 (101-500)") != std::string::npos, done);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 400);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'undecodable'") == 8,
               "malformed payloads are kept as the ingest keeps them");
    BOOST_TEST(db.scalar("SELECT min((metadata->>'stream_seq')::bigint) FROM event_log") == 101);

    std::string again = run_reconcile(db, ns, false);
    BOOST_TEST(again.find("appended: 0 (none)") != std::string::npos, again);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 400, "a second run appends nothing");
    // The ingest, started now, finds everything the stream holds already catalogued.
    child_process ingest({stchat_binary(), "ingest", "--database", db.uri(), "--nats", ns.url(), "--batch", "100"});
    ingest.start();
    child_process more({stchat_binary(), "feed", "execution", "--nats", ns.url(), "--acked", "--count", "100", "--rate", "0",
                        "--run-id", "s"});
    more.start();
    BOOST_REQUIRE(more.wait() == 0);
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 500; }, 60s, "the new 100 catalogued");
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 500,
               "the ingest's redeliveries of 101-500 were duplicates");
}
