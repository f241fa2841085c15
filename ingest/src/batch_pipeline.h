#pragma once
// Private to ingest/: three stages that overlap, so that the slowest one (the append) never
// waits for the others. The owner's thread makes batches and push()es them (the ingest: fetch
// and decode batch N+1); the appender thread commits them one at a time, in push order (append
// batch N); the finisher thread finishes each committed batch, in the same order (ack and free
// batch N-1: ~7% of the appender's time when it did it itself).
//
// The rules it keeps, which the exactly-once argument needs (docs/architecture.md):
//   * a batch is finished (acked) only after its commit, and never one that was not committed;
//   * after a commit fails for good (it threw), nothing more is committed or finished: every
//     later batch is dropped unfinished, to come again (JetStream redelivers what was not acked);
//   * a commit that gives its batch back (returned false: stopped while Postgres was away) drops
//     it unfinished, and the pipeline goes on;
//   * memory is bounded: push() waits while `max_queued` batches wait for the appender, and the
//     appender waits while `max_committed` wait for the finisher;
//   * drain() returns once no stage holds a batch (each finished or dropped and freed): only
//     then may what the batches belong to (the ingest's subscription) go;
//   * the destructor commits and finishes what is queued (or drops it, after a failure) and
//     joins both threads, however its owner's scope ends.
//
// Example (the ingest):
//   batch_pipeline<batch> p({[&](batch& b) { return append(b); }, [&](batch& b) { ack(b); }});
//   p.push(b1); p.push(b2);   // b1 committing while b2 waits; the caller fetches b3
//   append(b2) throws          -> p.failure() is set; b3 pushed later is dropped unacked
//   p.drain();                 // b1 acked; b2 and b3 dropped and freed
//
// Thread-safety: push(), drain(), failure() and busy() from the owner's thread (busy() and
// failure() from any). `commit` runs on the appender thread, `finish` on the finisher thread.
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "stchat/common/stall_watchdog.h"

namespace stchat::ingest {

template <typename Batch>
struct batch_pipeline_config {
    // True: committed (finish follows); false: given back, dropped unfinished; throws: a failure
    // for good (the exception is kept: failure()).
    std::function<bool(Batch&)> commit;
    std::function<void(Batch&)> finish;
    size_t max_queued = 2;     // batches waiting for the appender
    size_t max_committed = 2;  // committed batches waiting for the finisher
    // Set: a watchdog reports a stall while a batch waits or commits and none moves for `after`
    // (its `waiting` is the pipeline's own busy()).
    std::optional<stall_watchdog_config> stall;
};

template <typename Batch>
class batch_pipeline {
public:
    explicit batch_pipeline(batch_pipeline_config<Batch> config) : _config(std::move(config)) {
        if (_config.stall) {
            stall_watchdog_config stall = *_config.stall;
            stall.waiting = [this] { return busy(); };
            _watchdog = std::make_unique<stall_watchdog>(std::move(stall));
        }
        _appender = std::thread([this] { append_loop(); });
        _finisher = std::thread([this] { finish_loop(); });
    }
    ~batch_pipeline() {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _closing = true;
        }
        _changed.notify_all();
        _appender.join();
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _appender_done = true;  // the finisher finishes what was committed, then ends
        }
        _changed.notify_all();
        _finisher.join();
    }
    batch_pipeline(const batch_pipeline&) = delete;
    batch_pipeline& operator=(const batch_pipeline&) = delete;

    // Hands a batch to the appender; waits while `max_queued` are waiting. After a failure the
    // batch is dropped unfinished.
    void push(Batch work) {
        std::unique_lock<std::mutex> lock(_mutex);
        _changed.wait(lock, [&] { return _queue.size() < _config.max_queued || _failure; });
        if (_failure) return;
        _queue.push_back(std::move(work));
        _changed.notify_all();
    }

    // Waits until no stage holds a batch: each pushed one finished, or dropped and freed.
    void drain() {
        std::unique_lock<std::mutex> lock(_mutex);
        _changed.wait(lock, [&] { return _queue.empty() && !_committing && _committed.empty() && !_finishing; });
    }

    // What the commit that failed for good threw; null while none has.
    std::exception_ptr failure() const {
        std::lock_guard<std::mutex> lock(_mutex);
        return _failure;
    }

    // A batch waits for the appender or is being committed.
    bool busy() const {
        std::lock_guard<std::mutex> lock(_mutex);
        return _committing || !_queue.empty();
    }

private:
    void append_loop() {
        for (;;) {
            Batch work;
            bool failed = false;
            {
                std::unique_lock<std::mutex> lock(_mutex);
                _changed.wait(lock, [&] { return !_queue.empty() || _closing; });
                if (_queue.empty()) return;
                work = std::move(_queue.front());
                _queue.pop_front();
                _committing = true;
                failed = static_cast<bool>(_failure);
            }
            _changed.notify_all();  // a push waiting for room in the queue may go on
            bool committed = false;
            try {
                if (!failed) committed = _config.commit(work);  // after a failure: dropped, never finished
            } catch (...) {
                std::lock_guard<std::mutex> lock(_mutex);
                _failure = std::current_exception();
            }
            {
                std::unique_lock<std::mutex> lock(_mutex);
                if (committed) {
                    _changed.wait(lock, [&] { return _committed.size() < _config.max_committed; });
                    _committed.push_back(std::move(work));
                } else {
                    work = Batch{};  // dropped; freed before drain() may return
                }
                _committing = false;
            }
            if (_watchdog) _watchdog->progress();
            _changed.notify_all();
        }
    }

    void finish_loop() {
        for (;;) {
            Batch work;
            {
                std::unique_lock<std::mutex> lock(_mutex);
                _changed.wait(lock, [&] { return !_committed.empty() || _appender_done; });
                if (_committed.empty()) return;
                work = std::move(_committed.front());
                _committed.pop_front();
                _finishing = true;
            }
            _config.finish(work);
            work = Batch{};  // freed here, not on the appender
            {
                std::lock_guard<std::mutex> lock(_mutex);
                _finishing = false;
            }
            _changed.notify_all();
        }
    }

    batch_pipeline_config<Batch> _config;
    mutable std::mutex _mutex;
    std::condition_variable _changed;
    std::deque<Batch> _queue;      // pushed, for the appender
    std::deque<Batch> _committed;  // committed, for the finisher
    bool _committing = false, _finishing = false;
    bool _closing = false, _appender_done = false;
    std::exception_ptr _failure;
    std::unique_ptr<stall_watchdog> _watchdog;  // destroyed first of the members, after the threads
    std::thread _appender, _finisher;
};

}  // namespace stchat::ingest
