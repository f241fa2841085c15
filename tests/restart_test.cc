#define BOOST_TEST_MODULE restart
// The ingest rides out a nats-server crash and a Postgres crash by itself, losing and doubling
// nothing. Runs alone (RUN_SERIAL): it stops the Postgres every test shares.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>

#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {
bool log_contains(const std::string& path, const std::string& text) {
    return read_file(path).find(text) != std::string::npos;
}
}  // namespace

BOOST_AUTO_TEST_CASE(the_ingest_recovers_from_a_nats_server_kill_and_a_postgres_crash) {
    nats_server ns;
    scratch_database db("restart");
    temp_dir logs;
    std::string ingest_log = logs.path() + "/ingest.log";
    int health_port = free_port();
    child_process ingest({stchat_binary(), "ingest", "--database", db.uri(), "--nats", ns.url(),
                          "--ack-wait-ms", "1000", "--batch", "200", "--metrics-port", std::to_string(health_port)},
                         ingest_log);
    ingest.start();
    // A chat process on the same database: its /healthz must follow Postgres too (a load
    // balancer takes it out while Postgres is away).
    int chat_port = free_port();
    child_process chat({stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(chat_port)},
                       logs.path() + "/chat.log");
    chat.start();
    wait_until([&] { return http_get(chat_port, "/healthz") == "ok\n"; }, 30s, "chat up");

    feed_acked(ns.url(), "one", 3000);
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") >= 1000; }, 60s,
               "ingest under way");

    // 1. nats-server killed and started again on the same store.
    ns.kill();
    ns.start();
    feed_acked(ns.url(), "two", 3000);
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") >= 6000; }, 90s,
               "6000 rows after the NATS restart");

    // 2. Postgres crashes (immediate stop) while messages keep coming, then comes back.
    stop_postgres_immediately();
    feed_acked(ns.url(), "three", 3000);
    wait_until([&] { return log_contains(ingest_log, "append failed"); }, 30s,
               "the ingest noticing Postgres is gone");
    wait_until([&] { return http_get(health_port, "/healthz").rfind("unhealthy: postgres: ", 0) == 0; }, 30s,
               "/healthz saying Postgres is away");
    wait_until([&] { return http_get(chat_port, "/healthz").rfind("unhealthy: postgres: ", 0) == 0; }, 30s,
               "the chat's /healthz saying Postgres is away");
    start_postgres();
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") >= 9000; }, 90s,
               "9000 rows after the Postgres restart");
    wait_until([&] { return http_get(health_port, "/healthz") == "ok\n"; }, 30s, "/healthz ok again");
    wait_until([&] { return http_get(chat_port, "/healthz") == "ok\n"; }, 30s, "the chat's /healthz ok again");
    chat.kill(SIGTERM);
    BOOST_TEST(chat.wait() == 0, "chat exits 0 on SIGTERM");
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0, "ingest exits 0 on SIGTERM");

    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 9000, "nothing lost, nothing doubled");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") ==
               9000);
    BOOST_TEST(log_contains(ingest_log, "Postgres is back"), "one line when Postgres returns");
    std::cerr << read_file(ingest_log);
}
