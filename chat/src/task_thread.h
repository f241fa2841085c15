#pragma once
// Private to chat/: a thread that runs closures in order. The chat server's key thread: argon2id
// takes ~50 ms and 64 MiB a check, never on the Asio thread or the database writer.
//
// Thread-safety: post(), queued() and stop() from any thread; tasks run on the thread, and an
// exception from one is logged, never fatal.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "stchat/common/log.h"

namespace stchat::chat {

class task_thread {
public:
    task_thread() : _thread([this] { loop(); }) {}
    ~task_thread() { stop(); }
    // Finishes the task in hand, drops the rest (each a key check of ~50 ms whose client is
    // going away), joins; later posts are dropped. Idempotent.
    void stop() {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            if (_closing) return;
            _closing = true;
        }
        _cv.notify_all();
        _thread.join();
        std::lock_guard<std::mutex> lock(_mutex);
        _stopped = true;
        _queue.clear();
    }
    size_t queued() {
        std::lock_guard<std::mutex> lock(_mutex);
        return _queue.size();
    }
    void post(std::function<void()> task) {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            if (_stopped) return;
            _queue.push_back(std::move(task));
        }
        _cv.notify_all();
    }

private:
    void loop() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock<std::mutex> lock(_mutex);
                _cv.wait(lock, [&] { return _closing || !_queue.empty(); });
                if (_closing || _queue.empty()) return;  // stopping: queued checks are dropped
                task = std::move(_queue.front());
                _queue.pop_front();
            }
            try {
                task();
            } catch (const std::exception& e) {
                log::error("chat", std::string("key check failed: ") + e.what());
            }
        }
    }
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<std::function<void()>> _queue;
    bool _closing = false;
    bool _stopped = false;
    std::thread _thread;
};


}  // namespace stchat::chat
