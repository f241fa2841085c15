#define BOOST_TEST_MODULE batch_pipeline
// The ingest's three stages (ingest/src/batch_pipeline.h) with batches that are numbers: commits
// and finishes (acks) in order, a finish only after its commit, nothing committed or finished
// after a failure, bounded queues, and what the destructor and drain() promise. Commits that
// must hang are held by a gate the test opens.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../src/batch_pipeline.h"

using namespace stchat::ingest;

namespace {

// What the stages did, in order; commits of chosen batches wait at a gate until it opens.
struct recorder {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<int> committed, finished, freed;
    bool gate_open = true;
    int hold = -1;         // the commit of this batch waits for the gate
    int fail = -1;         // the commit of this batch throws
    int give_back = -1;    // the commit of this batch returns false
    int committing = -1;   // the batch whose commit is waiting at the gate

    bool commit(int b) {
        std::unique_lock<std::mutex> lock(mutex);
        if (b == hold) {
            committing = b;
            changed.notify_all();
            changed.wait(lock, [&] { return gate_open; });
        }
        if (b == fail) throw std::runtime_error("the database refused batch " + std::to_string(b));
        if (b == give_back) return false;
        committed.push_back(b);
        return true;
    }
    void finish(int b) {
        std::lock_guard<std::mutex> lock(mutex);
        // A finish only after its own commit: the batch must be among the committed already.
        BOOST_TEST((std::find(committed.begin(), committed.end(), b) != committed.end()),
                   "batch " << b << " finished before it was committed");
        finished.push_back(b);
    }
    void wait_committing(int b) {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return committing == b; });
    }
    void open() {
        std::lock_guard<std::mutex> lock(mutex);
        gate_open = true;
        changed.notify_all();
    }
    std::vector<int> finished_now() {
        std::lock_guard<std::mutex> lock(mutex);
        return finished;
    }
};

batch_pipeline_config<int> config_for(recorder& r) {
    return {[&r](int& b) { return r.commit(b); }, [&r](int& b) { r.finish(b); }, 2, 2, std::nullopt};
}

}  // namespace

BOOST_AUTO_TEST_CASE(batches_are_committed_and_finished_in_the_order_they_were_pushed) {
    recorder r;
    {
        batch_pipeline<int> p(config_for(r));
        for (int b = 1; b <= 50; ++b) p.push(b);
        p.drain();
        std::vector<int> all(50);
        for (int b = 1; b <= 50; ++b) all[static_cast<size_t>(b - 1)] = b;
        BOOST_TEST(r.committed == all, "every batch committed once, in order");
        BOOST_TEST(r.finished == all, "drain() returns once every batch is finished, in order");
        BOOST_TEST(!p.failure());
        BOOST_TEST(!p.busy());
    }
}

BOOST_AUTO_TEST_CASE(a_batch_is_not_finished_while_its_commit_runs_and_pushes_wait_when_two_are_queued) {
    recorder r;
    r.gate_open = false;
    r.hold = 2;
    batch_pipeline<int> p(config_for(r));
    p.push(1);
    p.push(2);
    r.wait_committing(2);
    BOOST_TEST(p.busy(), "a commit runs");
    p.push(3);
    p.push(4);  // two queued now
    std::atomic<bool> fifth_in{false};
    std::thread pusher([&] {
        p.push(5);
        fifth_in = true;
    });
    // Batch 1 is finished while 2's commit hangs; 2 is not.
    for (int i = 0; i < 1000 && r.finished_now().size() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    BOOST_TEST(r.finished_now() == std::vector<int>({1}), "1 acked, 2 not: its commit has not returned");
    BOOST_TEST(!fifth_in, "the fifth push waits: two batches already wait for the appender");
    r.open();
    pusher.join();
    p.drain();
    BOOST_TEST(r.finished == std::vector<int>({1, 2, 3, 4, 5}));
}

BOOST_AUTO_TEST_CASE(after_a_commit_fails_nothing_more_is_committed_or_finished) {
    recorder r;
    r.fail = 3;
    {
        batch_pipeline<int> p(config_for(r));
        for (int b = 1; b <= 6; ++b) p.push(b);  // pushes after the failure are dropped at once
        p.drain();
        BOOST_REQUIRE(p.failure());
        try {
            std::rethrow_exception(p.failure());
        } catch (const std::runtime_error& e) {
            BOOST_TEST(std::string(e.what()) == "the database refused batch 3", "the commit's own error is kept");
        }
        BOOST_TEST(r.committed == std::vector<int>({1, 2}), "nothing committed after the failure");
        BOOST_TEST(r.finished == std::vector<int>({1, 2}), "the failed batch and every later one unacked: they come again");
        p.push(7);
        BOOST_TEST(!p.busy(), "a push after the failure is dropped");
    }
    BOOST_TEST(r.finished == std::vector<int>({1, 2}), "the destructor finishes nothing more either");
}

BOOST_AUTO_TEST_CASE(a_batch_given_back_is_dropped_unfinished_and_the_next_ones_go_on) {
    recorder r;
    r.give_back = 2;
    batch_pipeline<int> p(config_for(r));
    for (int b = 1; b <= 4; ++b) p.push(b);
    p.drain();
    BOOST_TEST(r.finished == std::vector<int>({1, 3, 4}), "2 was not committed: never acked");
    BOOST_TEST(!p.failure(), "a batch given back is not a failure");
}

BOOST_AUTO_TEST_CASE(the_destructor_commits_and_finishes_what_was_queued_before_it_returns) {
    recorder r;
    r.gate_open = false;
    r.hold = 1;
    std::thread opener;
    {
        batch_pipeline<int> p(config_for(r));
        p.push(1);
        p.push(2);
        p.push(3);
        r.wait_committing(1);
        opener = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the destructor is waiting by then
            r.open();
        });
    }  // the owner's scope ends while batch 1 still commits
    opener.join();
    BOOST_TEST(r.finished == std::vector<int>({1, 2, 3}), "every batch in hand committed and acked");
}

BOOST_AUTO_TEST_CASE(a_commit_that_hangs_is_reported_as_a_stall_and_cleared_when_it_moves) {
    recorder r;
    r.gate_open = false;
    r.hold = 1;
    stchat::metrics::health_state health;
    auto c = config_for(r);
    c.stall = stchat::stall_watchdog_config{&health, "ingest", "nothing appended for %s while batches wait",
                                            std::chrono::milliseconds(300)};
    batch_pipeline<int> p(c);
    p.push(1);
    r.wait_committing(1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (health.problems().empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    BOOST_TEST(health.problems().find("nothing appended for") != std::string::npos,
               "a stall is reported while the commit hangs: " << health.problems());
    r.open();
    p.drain();
    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!health.problems().empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    BOOST_TEST(health.problems().empty(), "cleared once it moved: " << health.problems());
}
