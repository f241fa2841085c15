#define BOOST_TEST_MODULE jetstream_cluster
// A three-node JetStream cluster, the stream replicated three times (--replicas 3), and the
// stream's leader killed with SIGKILL while acked messages flow: a new leader takes over, the
// ingest goes on, every message is catalogued once.
#include <nats/nats.h>
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <memory>

#include "test_support.h"

using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

struct node {
    std::string name;
    int client = free_port();
    int route = free_port();
    std::unique_ptr<child_process> proc;
};

struct cluster3 {
    temp_dir dir;
    node nodes[3] = {{"n1"}, {"n2"}, {"n3"}};
    void start(int i) {
        std::string routes;
        for (int j = 0; j < 3; ++j) {
            if (j == i) continue;
            routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(nodes[j].route);
        }
        node& n = nodes[i];
        n.proc = std::make_unique<child_process>(
            std::vector<std::string>{"/usr/sbin/nats-server", "-a", "127.0.0.1", "-p", std::to_string(n.client), "-js", "-sd",
                                     dir.path() + "/" + n.name, "--server_name", n.name, "--cluster_name", "stchat-test",
                                     "--cluster", "nats://127.0.0.1:" + std::to_string(n.route), "--routes", routes},
            dir.path() + "/" + n.name + ".log");
        n.proc->start();
    }
    std::string urls() const {
        std::string out;
        for (const auto& n : nodes) out += (out.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(n.client);
        return out;
    }
    // The name of the stream's leader ("" while there is none), asked through any live node.
    std::string leader(const std::string& stream) {
        std::string out;
        for (const auto& n : nodes) {
            if (!n.proc || !n.proc->running()) continue;
            natsConnection* nc = nullptr;
            std::string url = "nats://127.0.0.1:" + std::to_string(n.client);
            if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) continue;
            jsCtx* js = nullptr;
            jsStreamInfo* info = nullptr;
            jsErrCode err = static_cast<jsErrCode>(0);
            if (natsConnection_JetStream(&js, nc, nullptr) == NATS_OK &&
                js_GetStreamInfo(&info, js, stream.c_str(), nullptr, &err) == NATS_OK && info->Cluster &&
                info->Cluster->Leader) {
                out = info->Cluster->Leader;
            }
            if (info) jsStreamInfo_Destroy(info);
            if (js) jsCtx_Destroy(js);
            natsConnection_Destroy(nc);
            if (!out.empty()) break;
        }
        return out;
    }
};


}  // namespace

BOOST_AUTO_TEST_CASE(the_stream_leader_killed_in_a_three_node_cluster_loses_and_doubles_nothing) {
    cluster3 nats;
    for (int i = 0; i < 3; ++i) nats.start(i);
    scratch_database db("js_cluster");
    child_process ingest({stchat_binary(), "ingest", "--database", db.uri(), "--nats", nats.urls(), "--replicas", "3",
                          "--batch", "200", "--ack-wait-ms", "2000"});
    ingest.start();
    feed_acked(nats.urls(), "before", 2000, {"--replicas", "3"});
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 2000; }, 90s, "2,000 catalogued");

    std::string leader;
    wait_until([&] { return !(leader = nats.leader("STCHAT_FEEDS")).empty(); }, 30s, "a stream leader");
    int killed = leader == "n1" ? 0 : leader == "n2" ? 1 : 2;
    nats.nodes[killed].proc->kill(SIGKILL);
    nats.nodes[killed].proc->wait();
    BOOST_TEST_MESSAGE("killed the stream leader " << leader);
    std::string next;
    wait_until([&] { return !(next = nats.leader("STCHAT_FEEDS")).empty() && next != leader; }, 60s, "a new leader");
    feed_acked(nats.urls(), "after", 2000, {"--replicas", "3"});
    wait_until([&] { return db.scalar("SELECT count(*) FROM event_log") == 4000; }, 90s, "4,000 catalogued");
    nats.start(killed);  // the old leader comes back as a follower
    ingest.kill(SIGTERM);
    BOOST_TEST(ingest.wait() == 0);
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == 4000, "nothing lost, nothing doubled");
    BOOST_TEST(db.scalar("SELECT count(DISTINCT (metadata->>'stream_seq')::bigint) FROM event_log") == 4000);
    BOOST_TEST(next != leader, "leadership moved from " << leader << " to " << next);
}
