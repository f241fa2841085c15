#define BOOST_TEST_MODULE replay
// `stchat replay` as an operator runs it: a real process against a real log, its output parsed.
#include <rapidjson/document.h>
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>

#include "stchat/eventstore/event_log.h"
#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;
namespace es = stchat::eventstore;

namespace {

// 3,000 events: sport events, executions, chat messages, and every 100th an undecodable record.
void fill(es::event_log& log, int first, int count) {
    std::vector<es::new_event> batch;
    for (int i = first; i < first + count; ++i) {
        es::new_event e;
        e.source = "test";
        e.message_id = std::to_string(i);
        if (i % 100 == 0) {
            e.stream = "undecodable.execution";
            e.type = "undecodable";
            e.payload = std::string("\x01\xff\x00", 3) + std::to_string(i);
            e.data_json = R"({"error":"truncated message"})";
        } else if (i % 3 == 0) {
            e.stream = "feed.sport_event";
            e.type = "sport_event";
            e.data_json = R"({"sport":"TENNIS","match_title":"m)" + std::to_string(i) + R"(","data_event":"ace"})";
            e.source_time_us = 1764312000000000 + i;
        } else if (i % 3 == 1) {
            e.stream = "feed.execution";
            e.type = "execution";
            e.data_json = R"({"symbol":"AAPL","market":"NASDAQ","price":1.5,"quantity":)" + std::to_string(i) + "}";
        } else {
            e.stream = "room.lobby";
            e.type = "chat.message";
            e.data_json = R"({"room":"lobby","user":"ann","uid":"u1","id":"m)" + std::to_string(i) + R"(","text":"say \"hi\"\n"})";
        }
        batch.push_back(std::move(e));
        if (batch.size() == 500) {
            log.append_batch(batch);
            batch.clear();
        }
    }
    if (!batch.empty()) log.append_batch(batch);
}

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

struct run_result {
    int status;
    std::vector<std::string> lines;
};

run_result run_replay(const scratch_database& db, std::vector<std::string> extra) {
    temp_dir dir;
    std::vector<std::string> argv{stchat_binary(), "replay", "--database", db.uri()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_process p(argv, dir.path() + "/out");
    p.start();
    int status = p.wait();
    return {status, lines_of(dir.path() + "/out")};
}

rapidjson::Document parse(const std::string& line) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    BOOST_REQUIRE_MESSAGE(!d.HasParseError() && d.IsObject(), "not a JSON object: " << line);
    return d;
}

struct filled_log {
    scratch_database db{"replay"};
    std::unique_ptr<es::event_log> log = es::make_event_log(db.store());
    filled_log() { fill(*log, 1, 3000); }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(replay, filled_log)

BOOST_AUTO_TEST_CASE(every_event_comes_once_in_position_order_with_its_fields) {
    auto r = run_replay(db, {});
    BOOST_TEST(r.status == 0);
    BOOST_REQUIRE(r.lines.size() == 3000u);
    int undecodable = 0;
    for (size_t i = 0; i < r.lines.size(); ++i) {
        auto d = parse(r.lines[i]);
        int64_t pos = d["position"].GetInt64();
        BOOST_REQUIRE_MESSAGE(pos == static_cast<int64_t>(i + 1), "line " << i << " has position " << pos);
        std::string stream = d["stream"].GetString();
        BOOST_TEST(d["stream_seq"].GetInt64() > 0);
        BOOST_TEST(d["data"].IsObject());
        BOOST_TEST(std::string(d["recorded_at"].GetString()).back() == 'Z');
        if (stream == "undecodable.execution") {
            ++undecodable;
            std::string hex = d["payload_hex"].GetString();
            BOOST_TEST(hex.rfind("01ff00", 0) == 0u, "bytes kept: " << hex);
            BOOST_TEST(std::string(d["data"]["error"].GetString()) == "truncated message");
        } else {
            BOOST_TEST(!d.HasMember("payload_hex"));
        }
        if (stream == "feed.sport_event") {
            BOOST_TEST(d["source_time"].IsString());
            BOOST_TEST(std::string(d["data"]["match_title"].GetString()) == "m" + std::to_string(pos));
        }
        if (stream == "room.lobby") BOOST_TEST(std::string(d["data"]["text"].GetString()) == "say \"hi\"\n");
    }
    BOOST_TEST(undecodable == 30);
}

BOOST_AUTO_TEST_CASE(from_to_stream_and_type_select_exactly_their_events) {
    auto window = run_replay(db, {"--from", "101", "--to", "250"});
    BOOST_REQUIRE(window.lines.size() == 150u);
    BOOST_TEST(parse(window.lines.front())["position"].GetInt64() == 101);
    BOOST_TEST(parse(window.lines.back())["position"].GetInt64() == 250);
    auto lobby = run_replay(db, {"--stream", "room.lobby", "--from", "1500"});
    int64_t expected = db.scalar("SELECT count(*) FROM event_log WHERE stream = 'room.lobby' AND position >= 1500");
    BOOST_TEST(static_cast<int64_t>(lobby.lines.size()) == expected);
    int64_t last_seq = 0;
    for (const auto& line : lobby.lines) {
        auto d = parse(line);
        BOOST_TEST(std::string(d["stream"].GetString()) == "room.lobby");
        BOOST_TEST((last_seq == 0 || d["stream_seq"].GetInt64() == last_seq + 1), "room seqs in order, no gap");
        last_seq = d["stream_seq"].GetInt64();
    }
    auto bad = run_replay(db, {"--type", "undecodable"});
    BOOST_TEST(bad.lines.size() == 30u);
    auto pretty = run_replay(db, {"--from", "2999", "--format", "pretty"});
    BOOST_REQUIRE(pretty.lines.size() == 3u);
    BOOST_TEST(pretty.lines[0].rfind("  position  recorded at (UTC)", 0) == 0u, "a header first: " << pretty.lines[0]);
    BOOST_TEST(pretty.lines[2].rfind("      3000  20", 0) == 0u, "the position right-aligned, then the date: " << pretty.lines[2]);
    // Aligned: the data column starts at the same place on every line, whatever the stream's length.
    BOOST_TEST(pretty.lines[1].find('{') == pretty.lines[2].find('{'), pretty.lines[1] << "\n" << pretty.lines[2]);
    BOOST_TEST(pretty.lines[0].find("data") == pretty.lines[2].find('{'), "the header names the data column");
}

BOOST_AUTO_TEST_CASE(follow_writes_events_appended_while_it_runs_and_stops_cleanly) {
    temp_dir dir;
    std::string out = dir.path() + "/out";
    child_process p({stchat_binary(), "replay", "--database", db.uri(), "--from", "2001", "--follow"}, out);
    p.start();
    wait_until([&] { return lines_of(out).size() == 1000u; }, 30s, "the existing 1,000 events");
    for (int round = 0; round < 5; ++round) fill(*log, 3001 + round * 100, 100);
    wait_until([&] { return lines_of(out).size() == 1500u; }, 30s, "the 500 appended while following");
    p.kill(SIGTERM);
    BOOST_TEST(p.wait() == 0, "Ctrl-C/SIGTERM stops it with 0");
    auto lines = lines_of(out);
    BOOST_REQUIRE(lines.size() == 1500u);
    for (size_t i = 0; i < lines.size(); ++i) {
        BOOST_REQUIRE(parse(lines[i])["position"].GetInt64() == static_cast<int64_t>(2001 + i));
    }
}

BOOST_AUTO_TEST_CASE(bad_arguments_exit_2_with_a_message) {
    struct bad_case {
        std::vector<std::string> args;
        std::string says;
    };
    for (const auto& c : std::vector<bad_case>{{{"--from", "-1"}, "--from"},
                                               {{"--from", "ten"}, "--from"},
                                               {{"--from", "10", "--to", "5"}, "before --from"},
                                               {{"--stream", "room.nowhere"}, "no stream 'room.nowhere'"},
                                               {{"--type", "nonsense"}, "no event of type"},
                                               {{"--format", "xml"}, "--format"}}) {
        auto r = run_replay(db, c.args);
        BOOST_TEST(r.status == 2, c.args[0] << " " << c.args[1]);
        std::string all;
        for (const auto& l : r.lines) all += l + "\n";
        BOOST_TEST(all.find(c.says) != std::string::npos, all);
    }
}

BOOST_AUTO_TEST_CASE(a_reader_that_goes_away_ends_the_replay_with_0) {
    temp_dir dir;
    child_process p({"/bin/bash", "-c",
                     "set -o pipefail; '" + stchat_binary() + "' replay --database '" + db.uri() + "' | head -n 3 > '" +
                         dir.path() + "/head'"});
    p.start();
    BOOST_TEST(p.wait() == 0, "stchat replay exits 0 when head closes the pipe");
    BOOST_TEST(lines_of(dir.path() + "/head").size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
