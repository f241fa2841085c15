#define BOOST_TEST_MODULE outbox
// `stchat outbox` against a real nats-server: the log published to JetStream, each position once
// and in order, through SIGKILLs of the outbox and a restart of the nats-server, while the log
// grows.
#include <nats/nats.h>
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <atomic>
#include <map>
#include <thread>

#include "stchat/eventstore/event_log.h"
#include "test_support.h"

using namespace stchat;
using namespace stchat::testing;
using namespace std::chrono_literals;

namespace {

// Appends `count` events from `first`, alternating a room and a feed stream, in batches of 250.
void append_events(const scratch_database& db, int first, int count) {
    auto log = eventstore::make_event_log(db.store());
    std::vector<eventstore::new_event> batch;
    for (int i = first; i < first + count; ++i) {
        eventstore::new_event e;
        e.source = "test";
        e.message_id = std::to_string(i);
        e.stream = i % 2 ? "room.lobby" : "feed.execution";
        e.type = i % 2 ? "chat.message" : "execution";
        e.payload = i % 2 ? "" : std::string("\x0a\x02KO", 4);
        e.data_json = R"({"n":)" + std::to_string(i) + "}";
        batch.push_back(std::move(e));
        if (batch.size() == 250) {
            log->append_batch(batch);
            batch.clear();
        }
    }
    if (!batch.empty()) log->append_batch(batch);
}

int64_t outbox_checkpoint(const scratch_database& db) {
    return db.scalar("SELECT coalesce((SELECT position FROM checkpoint WHERE projector = 'outbox:STCHAT_OUTBOX'), 0)");
}

struct received {
    std::vector<int64_t> positions;  // from Nats-Msg-Id, in stream order
    std::map<std::string, int> subjects;
    std::string sample_feed, sample_room;
};

// Everything the stream holds, read the way another service would: a pull consumer from the start.
received read_stream(const nats_server& ns, const std::string& identity, uint64_t expected) {
    received out;
    natsConnection* nc = nullptr;
    BOOST_REQUIRE(natsConnection_ConnectTo(&nc, ns.url().c_str()) == NATS_OK);
    jsCtx* js = nullptr;
    BOOST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "STCHAT_OUTBOX";
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription* sub = nullptr;
    jsErrCode err = static_cast<jsErrCode>(0);
    BOOST_REQUIRE(js_PullSubscribe(&sub, js, "stchat.>", "checker", nullptr, &so, &err) == NATS_OK);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (out.positions.size() < expected + 10 && std::chrono::steady_clock::now() < deadline) {
        natsMsgList list{};
        natsStatus s = natsSubscription_Fetch(&list, sub, 1000, 500, &err);
        if (s == NATS_TIMEOUT && out.positions.size() >= expected) break;  // nothing more: done
        for (int i = 0; i < list.Count; ++i) {
            natsMsg* m = list.Msgs[i];
            const char* id = nullptr;
            natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
            std::string msg_id = id ? id : "";
            BOOST_TEST_REQUIRE(msg_id.rfind(identity + ":", 0) == 0u, "a message id of this log: " << msg_id);
            out.positions.push_back(std::stoll(msg_id.substr(identity.size() + 1)));
            std::string subject = natsMsg_GetSubject(m);
            out.subjects[subject]++;
            std::string data(natsMsg_GetData(m), natsMsg_GetDataLength(m));
            if (subject == "stchat.feed.execution" && out.sample_feed.empty()) out.sample_feed = data;
            if (subject == "stchat.room.lobby" && out.sample_room.empty()) out.sample_room = data;
        }
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return out;
}

std::string identity_of(const scratch_database& db) {
    auto s = eventstore::make_sql_session(db.store());
    return *s->exec("SELECT identity::text FROM log_identity").at(0).at(0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_position_once_and_in_order_through_five_kills_and_a_nats_restart) {
    nats_server ns;
    scratch_database db("outbox_kills");
    append_events(db, 1, 4000);
    // The rest of the 20,000 arrives while the outbox is killed and restarted.
    std::atomic<bool> appending{true};
    std::thread appender([&] {
        for (int first = 4001; first <= 20000; first += 1000) {
            append_events(db, first, 1000);
            std::this_thread::sleep_for(50ms);
        }
        appending = false;
    });
    std::vector<std::string> argv{stchat_binary(), "outbox", "--database", db.uri(), "--nats", ns.url(), "--batch", "300"};
    auto outbox = std::make_unique<child_process>(argv);
    outbox->start();
    int64_t last = 0;
    for (int kill = 1; kill <= 5; ++kill) {
        // Kill it mid-flight: once it has moved on since the last start.
        wait_until([&] { return outbox_checkpoint(db) > last + 700; }, 60s, "the outbox moving on before kill " + std::to_string(kill));
        outbox->kill(SIGKILL);
        outbox->wait();
        last = outbox_checkpoint(db);
        if (kill == 3) {
            // And the nats-server goes away under a running outbox, then comes back.
            outbox = std::make_unique<child_process>(argv);
            outbox->start();
            wait_until([&] { return outbox_checkpoint(db) > last + 300; }, 60s, "the outbox publishing before the NATS restart");
            ns.stop();
            std::this_thread::sleep_for(300ms);  // an outage, not a blip (nothing to await: NATS is down)
            ns.start();
            last = outbox_checkpoint(db);
            continue;
        }
        outbox = std::make_unique<child_process>(argv);
        outbox->start();
    }
    appender.join();
    BOOST_TEST(!appending.load());
    wait_until([&] { return outbox_checkpoint(db) == 20000; }, 120s, "the outbox reaching the head (20,000)");
    outbox->kill(SIGTERM);
    BOOST_TEST(outbox->wait() == 0, "SIGTERM: a clean stop");

    received r = read_stream(ns, identity_of(db), 20000);
    BOOST_TEST(r.positions.size() == 20000u, "the stream holds " << r.positions.size() << " messages, not 20,000");
    size_t out_of_place = 0;
    for (size_t i = 0; i < r.positions.size(); ++i) {
        if (r.positions[i] != static_cast<int64_t>(i + 1)) ++out_of_place;
    }
    BOOST_TEST(out_of_place == 0u, out_of_place << " messages out of place: each position once, in order");
    BOOST_TEST(r.subjects["stchat.room.lobby"] == 10000);
    BOOST_TEST(r.subjects["stchat.feed.execution"] == 10000);
    BOOST_TEST(r.sample_room.find(R"("stream":"room.lobby")") != std::string::npos, r.sample_room);
    BOOST_TEST(r.sample_room.find("payload_hex") == std::string::npos, "chat events carry no payload: " << r.sample_room);
    BOOST_TEST(r.sample_feed.find(R"("payload_hex":"0a024b4f")") != std::string::npos,
               "feed events carry their original bytes: " << r.sample_feed);
}

BOOST_AUTO_TEST_CASE(a_stream_filter_publishes_only_the_streams_asked_for) {
    nats_server ns;
    scratch_database db("outbox_filter");
    append_events(db, 1, 1000);
    child_process outbox({stchat_binary(), "outbox", "--database", db.uri(), "--nats", ns.url(), "--streams", "room.*"});
    outbox.start();
    wait_until([&] { return outbox_checkpoint(db) == 1000; }, 60s, "the outbox passing the head");
    outbox.kill(SIGTERM);
    BOOST_TEST(outbox.wait() == 0);
    received r = read_stream(ns, identity_of(db), 500);
    BOOST_TEST(r.positions.size() == 500u, "only room.lobby's 500 events");
    BOOST_TEST(r.subjects.size() == 1u);
    BOOST_TEST(r.positions.front() == 1);
    BOOST_TEST(r.positions.back() == 999);
}

BOOST_AUTO_TEST_CASE(a_stream_holding_another_logs_events_is_refused_with_the_reason) {
    nats_server ns;
    scratch_database first("outbox_first"), second("outbox_second");
    append_events(first, 1, 10);
    append_events(second, 1, 10);
    child_process a({stchat_binary(), "outbox", "--database", first.uri(), "--nats", ns.url()});
    a.start();
    wait_until([&] { return outbox_checkpoint(first) == 10; }, 30s, "the first log published");
    a.kill(SIGTERM);
    a.wait();
    temp_dir dir;
    child_process b({stchat_binary(), "outbox", "--database", second.uri(), "--nats", ns.url()}, dir.path() + "/out");
    b.start();
    BOOST_TEST(b.wait() == 1, "another log's stream: exit 1, not a silent mix");
    std::string text = read_file(dir.path() + "/out");
    BOOST_TEST(text.find("not one of this log's") != std::string::npos, text);
    BOOST_TEST(outbox_checkpoint(second) == 0);
}
