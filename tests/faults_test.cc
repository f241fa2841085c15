#define BOOST_TEST_MODULE faults
// Faults that raise no error, or raise one that must not be fatal: a NATS that never answers, a
// Postgres whose disk is full, an append stuck behind a lock, a Postgres that accepts and then
// says nothing. Each counts exactly and asserts what /healthz, the exit status and the time to
// stop were. (The shared test Postgres is never stopped here: the faults are made in this test's
// own database, or by servers the test plays itself.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>

#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

long file_size(const std::string& path) {
    std::ifstream in(path, std::ios::ate | std::ios::binary);
    return in ? static_cast<long>(in.tellg()) : 0;
}

double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

// Feeds `count` acked execution messages; waits for the feed to finish.

// A TCP port that completes handshakes (the kernel's backlog) and never answers a byte: what a
// frozen server looks like from outside.
struct silent_server {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int port = 0;
    silent_server() {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(fd, 16);
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
    }
    ~silent_server() { ::close(fd); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(ingest_and_feeds_stop_within_5_s_on_sigterm_while_nats_never_answers) {
    scratch_database db("faults_nats");
    silent_server silent;
    for (const std::string& nats : {std::string("nats://127.0.0.1:1"), "nats://127.0.0.1:" + std::to_string(silent.port)}) {
        std::vector<std::vector<std::string>> commands = {
            {stchat_binary(), "ingest", "--database", db.uri(), "--nats", nats},
            {stchat_binary(), "feed", "execution", "--acked", "--nats", nats},
            {stchat_binary(), "feed", "sport_event", "--rate", "0.01", "--nats", nats},
        };
        for (auto& argv : commands) {
            temp_dir dir;
            child_process p(argv, dir.path() + "/out.log");
            p.start();
            // Past the connect call: it has said something (before the fix it hung in the
            // connect, silent and deaf to signals).
            wait_until([&] { return file_size(dir.path() + "/out.log") > 0; }, 10s, argv[1] + " under way");
            BOOST_REQUIRE_MESSAGE(p.running(), argv[1] << " " << argv[2] << " is waiting for NATS at " << nats);
            auto t0 = steady::now();
            p.kill(SIGTERM);
            int status = p.wait();
            double took = seconds_since(t0);
            BOOST_TEST(status == 0, argv[1] << " " << argv[2] << " exits 0 on SIGTERM");
            BOOST_TEST(took < 5.0, argv[1] << " " << argv[2] << " with " << nats << " stopped in " << took << " s");
        }
    }
}

BOOST_AUTO_TEST_CASE(a_full_disk_is_waited_out_and_the_ingest_resumes_by_itself_losing_nothing) {
    nats_server ns;
    scratch_database db("faults_disk");
    // What Postgres says when it cannot extend a file, made on demand: while disk_full has a row,
    // every append fails with SQLSTATE 53100.
    db.scalar("CREATE TABLE disk_full (since timestamptz);"
              "CREATE FUNCTION disk_full_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
              " IF EXISTS (SELECT 1 FROM disk_full) THEN RAISE EXCEPTION"
              " 'could not extend file \"base/1/2\": No space left on device' USING ERRCODE = '53100'; END IF;"
              " RETURN NEW; END $$;"
              "CREATE TRIGGER disk_full BEFORE INSERT ON event_log FOR EACH ROW EXECUTE FUNCTION disk_full_check();"
              "SELECT 1");
    int health = free_port();
    child_process ingest({stchat_binary(), "ingest", "--database", db.uri(), "--nats", ns.url(), "--batch", "200",
                          "--metrics-port", std::to_string(health)});
    ingest.start();
    feed_acked(ns.url(), "before", 1000);
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 1000; }, 60s, "1,000 appended");
    db.scalar("INSERT INTO disk_full VALUES (now()); SELECT 1");
    feed_acked(ns.url(), "during", 1000);
    wait_until([&] { return http_get(health, "/healthz").find("No space left on device") != std::string::npos; }, 30s,
               "/healthz saying the disk is full");
    BOOST_TEST(ingest.running(), "the ingest waits a full disk out instead of exiting");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 1000);
    auto freed = steady::now();
    db.scalar("DELETE FROM disk_full; SELECT 1");
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 2000; }, 30s, "the rest appended");
    double resumed = seconds_since(freed);
    BOOST_TEST(resumed < 5.0, "appends resumed " << resumed << " s after space came back");
    wait_until([&] { return http_get(health, "/healthz") == "ok\n"; }, 30s, "/healthz ok again");
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 2000, "nothing lost, nothing doubled");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 2000);
}

BOOST_AUTO_TEST_CASE(a_permanent_append_failure_with_batches_queued_acks_nothing_after_it) {
    nats_server ns;
    scratch_database db("faults_permanent");
    // Postgres refuses appends for a reason retrying cannot help (SQLSTATE P0001) while this
    // table has a row: the ingest must stop, and drop (unacked) the batches queued behind it.
    db.scalar("CREATE TABLE refuse (since timestamptz);"
              "CREATE FUNCTION refuse_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
              " IF EXISTS (SELECT 1 FROM refuse) THEN RAISE EXCEPTION 'refused on purpose'; END IF;"
              " RETURN NEW; END $$;"
              "CREATE TRIGGER refuse BEFORE INSERT ON event_log FOR EACH ROW EXECUTE FUNCTION refuse_check();"
              "INSERT INTO refuse VALUES (now()); SELECT 1");
    feed_acked(ns.url(), "queued", 2000);
    child_process first({stchat_binary(), "ingest", "--database", db.uri(), "--nats", ns.url(), "--batch", "100",
                         "--ack-wait-ms", "1000"});
    first.start();
    BOOST_TEST(first.wait() == 1, "a permanent failure ends the ingest with status 1");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 0);
    db.scalar("DELETE FROM refuse; SELECT 1");
    child_process second({stchat_binary(), "ingest", "--database", db.uri(), "--nats", ns.url(), "--batch", "100",
                          "--ack-wait-ms", "1000"});
    second.start();
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 2000; }, 60s,
               "every message, the ones queued behind the failure included");
    second.kill(SIGTERM);
    BOOST_TEST(second.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 2000, "nothing acked without its commit: 0 lost");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 2000);
}

BOOST_AUTO_TEST_CASE(an_append_stuck_behind_a_lock_is_a_stall_in_healthz_until_it_moves) {
    nats_server ns;
    scratch_database db("faults_stall");
    int health = free_port();
    child_process ingest({stchat_binary(), "ingest", "--database", db.uri(), "--nats", ns.url(), "--stall-after", "1",
                          "--metrics-port", std::to_string(health)});
    ingest.start();
    // Another session holds the lock every append takes (functions/append_batch.sql: pg_advisory_xact_lock(7311)):
    // no error anywhere, the append just waits.
    auto holder = stchat::eventstore::make_sql_session(db.store());
    holder->exec("SELECT pg_advisory_lock(7311)");
    feed_acked(ns.url(), "stuck", 500);
    wait_until([&] { return http_get(health, "/healthz").find("stall: nothing appended for") != std::string::npos; },
               30s, "/healthz reporting the stall");
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 0);
    holder->exec("SELECT pg_advisory_unlock(7311)");
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 500; }, 30s, "appends after the lock");
    wait_until([&] { return http_get(health, "/healthz") == "ok\n"; }, 30s, "/healthz ok again");
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 500);
}

BOOST_AUTO_TEST_CASE(a_projector_stuck_behind_a_lock_is_a_stall_in_healthz_until_it_moves) {
    scratch_database db("faults_project");
    int health = free_port();
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--only", "event", "--stall-after", "1",
                           "--metrics-port", std::to_string(health)});
    project.start();
    wait_until([&] { return db.scalar("SELECT count(*) FROM checkpoint WHERE projector = 'event'") == 1; }, 30s,
               "the projector's first step");
    BOOST_TEST(http_get(health, "/healthz") == "ok\n");
    // Another session holds the checkpoint row each step locks (functions/projection_advance.sql: FOR UPDATE).
    auto holder = stchat::eventstore::make_sql_session(db.store());
    holder->exec_nontx("BEGIN; SELECT 1 FROM checkpoint WHERE projector = 'event' FOR UPDATE");
    wait_until([&] { return http_get(health, "/healthz").find("stall: no projection step finished for") != std::string::npos; },
               30s, "/healthz reporting the stall");
    holder->exec_nontx("COMMIT");
    wait_until([&] { return http_get(health, "/healthz") == "ok\n"; }, 30s, "/healthz ok again");
    project.kill(SIGTERM);
    BOOST_TEST(project.wait() == 0);
}

BOOST_AUTO_TEST_CASE(status_gives_up_at_its_timeout_and_says_what_is_down_in_its_exit_status) {
    silent_server silent;
    auto t0 = steady::now();
    child_process frozen({stchat_binary(), "status", "--timeout", "1", "--database",
                          "postgresql://stchat@127.0.0.1:" + std::to_string(silent.port) + "/stchat"});
    frozen.start();
    BOOST_TEST(frozen.wait() == 1, "exit 1: no answer from Postgres");
    BOOST_TEST(seconds_since(t0) < 3.0, "given up after about 1 s, not hung");
    scratch_database db("faults_status");
    child_process no_nats({stchat_binary(), "status", "--database", db.uri(), "--nats", "nats://127.0.0.1:1"});
    no_nats.start();
    BOOST_TEST(no_nats.wait() == 3, "exit 3: the report was made, NATS is unreachable");
}
