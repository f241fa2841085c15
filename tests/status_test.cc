#define BOOST_TEST_MODULE status
// `stchat status` and the /metrics endpoints against a known workload: 1,000 sport events and
// 500 executions of which 5 malformed, through a real nats-server, ingest and projector, and two
// users connected to a chat process.
#include <rapidjson/document.h>
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <set>
#include <fstream>
#include <sstream>

#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {
// The sessions the chat process's heartbeat reports (-1 if it has not reported).
int64_t chat_sessions(const rapidjson::Document& d) {
    for (const auto& p : d["processes"].GetArray()) {
        if (std::string(p["kind"].GetString()) == "chat") return p["sessions"].GetInt64();
    }
    return -1;
}


// `may_be_down`: exit 3 (the report made, something not up yet) is accepted too.
rapidjson::Document status_json(const scratch_database& db, const nats_server& ns, bool may_be_down = false) {
    temp_dir dir;
    child_process p({stchat_binary(), "status", "--json", "--database", db.uri(), "--nats", ns.url()},
                    dir.path() + "/out");
    p.start();
    int rc = p.wait();
    BOOST_REQUIRE_MESSAGE(rc == 0 || (may_be_down && rc == 3), "stchat status exited " << rc);
    std::ifstream in(dir.path() + "/out");
    std::stringstream ss;
    ss << in.rdbuf();
    rapidjson::Document d;
    d.Parse(ss.str().c_str());
    BOOST_REQUIRE_MESSAGE(!d.HasParseError() && d.IsObject(), "status --json: " << ss.str());
    return d;
}

int64_t lag_of(const rapidjson::Document& d, const std::string& name) {
    for (const auto& p : d["projectors"].GetArray()) {
        if (name == p["name"].GetString()) return p["lag"].GetInt64();
    }
    return -1;
}

// A WebSocket upgrade by hand that says hello and joins; the socket stays open until closed.
int chat_user(int port, const std::string& name);

}  // namespace

BOOST_AUTO_TEST_CASE(status_and_metrics_reflect_a_known_workload) {
    nats_server ns;
    scratch_database db("status");
    int ingest_port = free_port(), project_port = free_port(), chat_port = free_port();
    child_process ingest({stchat_binary(), "ingest", "--database", db.uri(), "--nats", ns.url(), "--metrics-port",
                          std::to_string(ingest_port)});
    child_process project({stchat_binary(), "project", "--database", db.uri(), "--metrics-port",
                           std::to_string(project_port)});
    child_process chat({stchat_binary(), "chat", "--database", db.uri(), "--port", std::to_string(chat_port)});
    ingest.start();
    project.start();
    chat.start();
    wait_until([&] { return http_get(ingest_port, "/healthz") == "ok\n"; }, 30s, "ingest serving /healthz");
    wait_until([&] { return http_get(chat_port, "/healthz") == "ok\n"; }, 30s, "chat up");
    // The stream exists once the ingest is bound: publish after that, acked.
    // Until then status exits 3 (the consumer is not there yet).
    wait_until([&] { return status_json(db, ns, true)["ingest"]["reachable"].GetBool(); }, 30s, "consumer created");
    for (auto args : std::vector<std::vector<std::string>>{
             {"sport_event", "--count", "1000"}, {"execution", "--count", "500", "--malformed-every", "100"}}) {
        std::vector<std::string> argv{stchat_binary(), "feed", args[0], "--nats", ns.url(), "--acked", "--rate", "0",
                                      "--run-id", "status-" + args[0]};
        argv.insert(argv.end(), args.begin() + 1, args.end());
        child_process feed(argv);
        feed.start();
        BOOST_REQUIRE(feed.wait() == 0);
    }
    int alice = chat_user(chat_port, "alice"), bob = chat_user(chat_port, "bob");
    BOOST_REQUIRE(alice >= 0 && bob >= 0);
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 1502; }, 60s, "1,500 feed events + 2 joins");
    wait_until([&] {
        auto d = status_json(db, ns);
        return lag_of(d, "event") == 0 && lag_of(d, "execution") == 0 && lag_of(d, "chat_log") == 0 &&
               chat_sessions(d) == 2 &&
               d["ingest"]["ack_pending"].GetUint64() == 0;
    }, 60s, "projectors caught up, the chat heartbeat showing 2 sessions, every message acked");
    auto d = status_json(db, ns);
    BOOST_TEST(d["log"]["head"].GetInt64() == 1502);
    BOOST_TEST(d["log"]["undecodable"].GetInt64() == 5);
    BOOST_TEST(d["ingest"]["stream_messages"].GetUint64() == 1500u);
    BOOST_TEST(d["ingest"]["pending"].GetUint64() == 0u);
    BOOST_TEST(d["processes"][0]["alive"].GetBool());

    std::string ingest_metrics = http_get(ingest_port, "/metrics");
    BOOST_TEST(prometheus_value(ingest_metrics, "stchat_ingest_messages_ingested_total") == 1500, ingest_metrics);
    BOOST_TEST(prometheus_value(ingest_metrics, "stchat_ingest_undecodable_total") == 5, ingest_metrics);
    BOOST_TEST(prometheus_value(ingest_metrics, "stchat_ingest_dedup_hits_total") == 0, ingest_metrics);
    BOOST_TEST(prometheus_value(ingest_metrics, "stchat_ingest_batches_total") >= 1, ingest_metrics);
    std::string project_metrics = http_get(project_port, "/metrics");
    BOOST_TEST(prometheus_value(project_metrics, R"(stchat_projector_checkpoint{projector="event"})") == 1502,
               project_metrics);
    BOOST_TEST(prometheus_value(project_metrics, R"(stchat_projector_lag_events{projector="chat_log"})") == 0,
               project_metrics);
    BOOST_TEST(prometheus_value(project_metrics, "stchat_projector_rows_total") == 1000 + 495 + 2, project_metrics);
    BOOST_TEST(http_get(project_port, "/healthz") == "ok\n");
    std::string chat_metrics = http_get(chat_port, "/metrics");
    BOOST_TEST(prometheus_value(chat_metrics, R"(stchat_chat_sessions{protocol="v1"})") == 2, chat_metrics);

    // Every long-running process reports itself and its health.
    wait_until([&] { return status_json(db, ns)["processes"].Size() == 3u; }, 30s, "chat, ingest and project reporting");
    auto reported = status_json(db, ns);
    std::set<std::string> kinds;
    for (const auto& p : reported["processes"].GetArray()) {
        kinds.insert(p["kind"].GetString());
        BOOST_TEST(p["alive"].GetBool());
        BOOST_TEST(std::string(p["health"].GetString()) == "", p["id"].GetString() << ": " << p["health"].GetString());
    }
    BOOST_TEST((kinds == std::set<std::string>{"chat", "ingest", "project"}));
    // A stopped process says goodbye: no stale row.
    chat.kill(SIGTERM);
    BOOST_TEST(chat.wait() == 0);
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    project.kill(SIGTERM);
    BOOST_TEST(project.wait() == 0);
    BOOST_TEST(status_json(db, ns)["processes"].Size() == 0u);
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {
int chat_user(int port, const std::string& name) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
    std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: stchat.v1\r\n\r\n";
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    std::string in;
    char c;
    while (in.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) in.push_back(c);
    for (const std::string& text : {R"({"type":"hello","name":")" + name + R"("})", std::string(R"({"type":"join","room":"lobby"})")}) {
        std::string f{static_cast<char>(0x81), static_cast<char>(0x80 | text.size()), 0, 0, 0, 0};
        f += text;  // masked with a zero key
        ::send(fd, f.data(), f.size(), MSG_NOSIGNAL);
    }
    return fd;
}
}  // namespace
