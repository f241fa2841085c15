#define BOOST_TEST_MODULE db_worker
// The chat's database worker (chat/src/db_worker.h) on a real database: what may wait for it is
// bounded. The worker is held busy by a task that waits for the test, as a slow or absent
// Postgres would hold it.
#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "../src/db_worker.h"
#include "test_support.h"

using namespace stchat::chat;
using namespace stchat::testing;

namespace {

const author alice{"u-alice", "alice"};

// Each send's outcome, by its client id, as the worker reports them.
struct outcomes {
    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, send_outcome> by_id;
    std::function<void(room_ack, send_outcome)> of(const std::string& id) {
        return [this, id](room_ack, send_outcome o) {
            std::lock_guard<std::mutex> lock(mutex);
            by_id[id] = o;
            changed.notify_all();
        };
    }
    bool has(const std::string& id) {
        std::lock_guard<std::mutex> lock(mutex);
        return by_id.count(id) > 0;
    }
    std::optional<send_outcome> wait_for(const std::string& id) {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait_for(lock, std::chrono::seconds(20), [&] { return by_id.count(id) > 0; });
        auto it = by_id.find(id);
        return it == by_id.end() ? std::nullopt : std::optional<send_outcome>(it->second);
    }
};

}  // namespace

BOOST_AUTO_TEST_CASE(messages_past_the_bound_are_refused_at_once_and_joins_and_leaves_never_are) {
    scratch_database db{"db_worker"};
    stchat::metrics::registry reg;
    auto& queued = reg.make_gauge("queued", "messages waiting");
    db_worker writer{db.store(), {}, "", {}, {3, &queued}};
    outcomes got;

    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> holding;
    writer.post([&holding, released](room_log&) {
        holding.set_value();
        released.wait();  // the worker is busy until the test says so
    });
    holding.get_future().wait();

    for (int i = 1; i <= 5; ++i) {
        std::string id = "m" + std::to_string(i);
        writer.send({{"lobby", alice, id, "hello " + std::to_string(i)}, got.of(id)});
    }
    writer.send({{"lobby", alice, "j1", "", append_kind::join}, got.of("j1")});
    BOOST_TEST(queued.value() == 3, "three messages wait");
    BOOST_TEST(!got.has("m1"), "m1 waits: no answer before its commit");
    BOOST_TEST(!got.has("m3"), "m3 waits too: the bound is three");
    BOOST_TEST((got.has("m4") && got.by_id["m4"] == send_outcome::busy), "m4 is refused at once, not queued");
    BOOST_TEST((got.has("m5") && got.by_id["m5"] == send_outcome::busy), "m5 too");
    BOOST_TEST(!got.has("j1"), "a join is never refused for the bound");

    release.set_value();
    for (const char* id : {"m1", "m2", "m3", "j1"}) {
        auto o = got.wait_for(id);
        BOOST_TEST((o && *o == send_outcome::stored), id << " stored once the worker is free");
    }
    BOOST_TEST(queued.value() == 0, "nothing waits now");
    writer.send({{"lobby", alice, "m6", "hello again"}, got.of("m6")});
    auto o = got.wait_for("m6");
    BOOST_TEST((o && *o == send_outcome::stored), "room again: the next message is taken");
    writer.stop();
    BOOST_TEST(db.scalar("SELECT count(*) FROM event_log WHERE type = 'chat.message'") == 4,
               "m1, m2, m3 and m6 stored; the refused ones not");
}
