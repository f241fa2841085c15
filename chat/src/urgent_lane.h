#pragma once
// Private to chat/: work that other threads hand to the Asio thread ahead of its queue.
//
// Asio runs handlers first in, first out. A saturated chat server's queue holds a write
// (websocketpp's write_frame) and its completion for every session it is sending to: with 1,000
// members in a room, a commit's events posted behind them waited one whole round of writes
// (~18 ms on a 2-core VM at 200,000 frames/s) before their fan-out even started, and then their
// own writes went to the back again. The plain broadcast server fans out in the handler that
// read the frame, so it never paid that round. Work posted here runs before the next handler
// of the queue instead: the thread driving the io_context calls drain() between handlers (run()).
//
// Only for work that must not wait and is bounded by something else (a group commit's events
// and its acks, a relay batch, each already bounded by the worker and the relay): everything
// else stays on the ordinary queue, in order.
//
// Example:
//   urgent_lane lane(io);
//   writer thread: lane.post([&] { fan_out(events); });   // runs before the queued writes
//   Asio thread:   lane.run();                             // instead of io.run()
//
// Thread-safety: post() from any thread; drain() and run() on the Asio thread only. Work still
// queued when run() returns is dropped unrun with the lane.
#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <asio/io_context.hpp>
#include <asio/post.hpp>

namespace stchat::chat {

class urgent_lane {
public:
    explicit urgent_lane(asio::io_context& io) : _io(io) {}
    urgent_lane(const urgent_lane&) = delete;
    urgent_lane& operator=(const urgent_lane&) = delete;

    // Queues `work` and wakes the Asio thread (a drain posted to its queue, for when it is idle
    // in epoll; a busy thread drains sooner, between handlers).
    void post(std::function<void()> work) {
        bool wake = false;
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _work.push_back(std::move(work));
            wake = !_wake_posted;
            _wake_posted = true;
        }
        _pending.store(true, std::memory_order_release);
        if (wake) asio::post(_io, [this] { drain(); });
    }

    // Runs what is queued, in the order it was posted; what is posted meanwhile runs too.
    // Returns how many ran.
    size_t drain() {
        size_t ran = 0;
        while (_pending.load(std::memory_order_acquire)) {
            std::vector<std::function<void()>> work;
            {
                std::lock_guard<std::mutex> lock(_mutex);
                work.swap(_work);
                _pending.store(false, std::memory_order_relaxed);
                _wake_posted = false;
            }
            for (auto& w : work) {
                w();
                ++ran;
            }
        }
        return ran;
    }

    // io.run() with a drain before each handler: returns when the io_context stops.
    void run() {
        for (;;) {
            drain();
            if (_io.run_one() == 0) return;
        }
    }

private:
    asio::io_context& _io;
    std::mutex _mutex;
    std::vector<std::function<void()>> _work;
    bool _wake_posted = false;
    std::atomic<bool> _pending{false};
};

}  // namespace stchat::chat
