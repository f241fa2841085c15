#pragma once
// Health that sees a stall: what raises no error (a frozen Postgres, a connection not yet known
// dead, a statement waiting on a lock) still shows in /healthz.
//
// The owner calls progress() whenever its work moves. While `waiting()` says work is pending and
// nothing moved for `after`, the health problem "stall" is set ("stall: nothing appended for 17 s
// while batches wait") and one WARN line logged; one INFO line and a cleared problem when it
// moves again.
//
// Example (the ingest): waiting = a batch is queued or being appended; progress() after each
// append. An append frozen for 20 s with after = 15 s: /healthz 503 "stall: …" from second 15.
//
// Thread-safety: progress() from any thread; `waiting` is called on the watchdog's own thread
// (every 500 ms) and must be thread-safe. The destructor stops and joins that thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "stchat/common/metrics.h"

namespace stchat {

struct stall_watchdog_config {
    metrics::health_state* health = nullptr;  // nullptr: log lines only
    std::string component;                    // for the log lines, e.g. "ingest"
    std::string what;                         // e.g. "nothing appended for %s while batches wait"
    std::chrono::milliseconds after{15000};
    std::function<bool()> waiting = [] { return true; };
};

class stall_watchdog {
public:
    explicit stall_watchdog(stall_watchdog_config config);
    ~stall_watchdog();
    stall_watchdog(const stall_watchdog&) = delete;
    stall_watchdog& operator=(const stall_watchdog&) = delete;

    void progress() { _last.store(now_ms(), std::memory_order_relaxed); }

private:
    static int64_t now_ms();
    void loop();

    stall_watchdog_config _config;
    std::atomic<int64_t> _last;
    std::mutex _mutex;
    std::condition_variable _stop_cv;
    bool _stop = false;
    std::thread _thread;
};

}  // namespace stchat
