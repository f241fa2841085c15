#define BOOST_TEST_MODULE cli
// The command line as people type it: connection settings recorded by scripts/run.sh, arguments
// that are wrong named in the error, a busy port named, replay's columns.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "stchat/eventstore/event_log.h"
#include "test_support.h"

using namespace stchat;
using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

struct outcome {
    int status = -1;
    std::string output;  // stdout and stderr
};

// Runs stchat in `dir` with none of the connection variables set (as in a fresh terminal).
outcome run_in(const std::string& dir, const std::vector<std::string>& args) {
    temp_dir out_dir;
    std::string out = out_dir.path() + "/out";
    std::string command = "cd '" + dir + "' && exec '" + stchat_binary() + "'";
    for (const auto& a : args) command += " '" + a + "'";
    child_process p({"/usr/bin/env", "-u", "PGHOST", "-u", "PGHOSTADDR", "-u", "PGPORT", "-u", "PGDATABASE", "-u", "PGUSER",
                     "-u", "PGSERVICE", "-u", "STCHAT_DATABASE", "-u", "NATS_URL", "-u", "STCHAT_HOME", "/bin/sh", "-c",
                     command},
                    out);
    p.start();
    outcome o;
    o.status = p.wait();
    o.output = read_file(out);
    return o;
}

void record_connection(const std::string& dir, const std::string& database, const std::string& nats) {
    BOOST_REQUIRE(::mkdir((dir + "/.stchat").c_str(), 0700) == 0);
    std::ofstream f(dir + "/.stchat/connection");
    f << "database=" << database << "\nnats=" << nats << "\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(commands_typed_without_connection_options_use_what_run_sh_recorded) {
    scratch_database db("cli_recorded");
    eventstore::new_event e;
    e.source = "t";
    e.message_id = "1";
    e.stream = "room.lobby";
    e.type = "chat.message";
    e.data_json = R"({"text":"hi"})";
    eventstore::make_event_log(db.store())->append_batch({e});
    temp_dir dir;
    record_connection(dir.path(), db.uri(), "nats://127.0.0.1:1");  // a NATS that is not there
    ::mkdir((dir.path() + "/sub").c_str(), 0700);

    // From a folder below the one holding .stchat/, as docs/operations.md writes the commands.
    auto replay = run_in(dir.path() + "/sub", {"replay", "--from", "1"});
    BOOST_TEST(replay.status == 0, replay.output);
    BOOST_TEST(replay.output.find(R"("text": "hi")") != std::string::npos, replay.output);

    auto status = run_in(dir.path(), {"status"});
    BOOST_TEST(status.status == 3, "the report made, NATS unreachable: exit 3\n" << status.output);
    BOOST_TEST(status.output.find("log ") != std::string::npos, status.output);
    BOOST_TEST(status.output.find("127.0.0.1:1") != std::string::npos, "the recorded NATS was the one tried\n" << status.output);

    // An explicit --database wins over the recorded one.
    temp_dir other;
    record_connection(other.path(), "postgresql://stchat@127.0.0.1:1/nowhere", "nats://127.0.0.1:1");
    auto given = run_in(other.path(), {"replay", "--from", "1", "--database", db.uri()});
    BOOST_TEST(given.status == 0, given.output);
    auto recorded_bad = run_in(other.path(), {"replay", "--from", "1"});
    BOOST_TEST(recorded_bad.status == 1, "the recorded (unreachable) database was used\n" << recorded_bad.output);
    BOOST_TEST(recorded_bad.output.find("cannot connect to Postgres: connection to server at \"127.0.0.1\", port 1 failed") !=
                   std::string::npos,
               "what failed to connect where (not \"connection lost\")\n" << recorded_bad.output);
}

BOOST_AUTO_TEST_CASE(a_wrong_argument_is_named_not_answered_with_the_whole_help) {
    temp_dir dir;
    auto extra = run_in(dir.path(), {"status", "extra-arg"});
    BOOST_TEST(extra.status == 2);
    BOOST_TEST(extra.output.find("stchat status: unexpected argument 'extra-arg'") != std::string::npos, extra.output);
    BOOST_TEST(extra.output.find("Usage:") == std::string::npos, "no wall of help\n" << extra.output);

    auto bench = run_in(dir.path(), {"bench", "foo"});
    BOOST_TEST(bench.status == 2);
    BOOST_TEST(bench.output.find("unknown bench 'foo'") != std::string::npos, bench.output);

    auto feed = run_in(dir.path(), {"feed"});
    BOOST_TEST(feed.status == 2);
    BOOST_TEST(feed.output.find("missing the feed: sport_event or execution") != std::string::npos, feed.output);

    auto rebuild = run_in(dir.path(), {"rebuild", "event", "execution"});
    BOOST_TEST(rebuild.status == 2);
    BOOST_TEST(rebuild.output.find("unexpected argument 'execution'") != std::string::npos, rebuild.output);

    auto help = run_in(dir.path(), {"compact", "--help"});
    BOOST_TEST(help.status == 0, "--help is not an error");
    BOOST_TEST(help.output.find("Examples:") != std::string::npos, help.output);
}

BOOST_AUTO_TEST_CASE(a_busy_chat_port_is_named) {
    scratch_database db("cli_port");
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_REQUIRE(::listen(fd, 4) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::string port = std::to_string(ntohs(addr.sin_port));
    temp_dir dir;
    auto chat = run_in(dir.path(), {"chat", "--port", port, "--database", db.uri()});
    ::close(fd);
    BOOST_TEST(chat.status == 1);
    BOOST_TEST(chat.output.find("address already in use: port " + port) != std::string::npos, chat.output);
}

BOOST_AUTO_TEST_CASE(a_rebuild_reports_rows_per_table_and_the_log_once) {
    scratch_database db("cli_rebuild");
    std::vector<eventstore::new_event> batch;
    for (int i = 1; i <= 5; ++i) {
        eventstore::new_event e;
        e.source = "t";
        e.message_id = std::to_string(i);
        e.stream = "room.lobby";
        e.type = "chat.message";
        e.data_json = R"({"room":"lobby","user":"ann","text":"hi"})";
        batch.push_back(e);
    }
    eventstore::make_event_log(db.store())->append_batch(batch);
    temp_dir dir;
    auto r = run_in(dir.path(), {"rebuild", "all", "--database", db.uri()});
    BOOST_TEST(r.status == 0, r.output);
    BOOST_TEST(r.output.find("rebuilt event 0 rows, execution 0 rows, chat_log 5 rows from 5 log events in ") !=
                   std::string::npos,
               r.output);
}

BOOST_AUTO_TEST_CASE(help_shows_only_the_options_that_apply_grouped) {
    temp_dir dir;
    auto feed = run_in(dir.path(), {"feed", "--help"});
    BOOST_TEST(feed.status == 0);
    BOOST_TEST(feed.output.find("--database") == std::string::npos, "feed uses no database\n" << feed.output);
    BOOST_TEST(feed.output.find("Connections:") < feed.output.find("Command options:"), feed.output);
    BOOST_TEST(feed.output.find("Command options:") < feed.output.find("Examples:"), feed.output);
    auto status = run_in(dir.path(), {"status", "--help"});
    BOOST_TEST(status.output.find("--replicas") == std::string::npos, "status creates no stream\n" << status.output);
    auto refused = run_in(dir.path(), {"feed", "sport_event", "--database", "x"});
    BOOST_TEST(refused.status == 2);
    BOOST_TEST(refused.output.find("unknown option --database") != std::string::npos, refused.output);
    auto number = run_in(dir.path(), {"ingest", "--stall-after", "0"});
    BOOST_TEST(number.status == 2);
    BOOST_TEST(number.output.find(">= 0.1, not '0'") != std::string::npos, number.output);
    auto top = run_in(dir.path(), {"--help"});
    for (const char* c : {"migrate", "ingest", "project", "feed", "chat", "status", "replay", "rebuild", "reconcile", "compact",
                          "outbox", "bench"}) {
        BOOST_TEST(top.output.find(std::string("\n  ") + c + " ") != std::string::npos, "the top-level help lists " << c);
    }
}
