#pragma once
// Private to chat/: the samples behind the operator's page (GET /ops, data at GET /ops/data).
// Every `every` it takes one `ops_sample()` from the database (migrations/functions/ops_sample.sql:
// log head, undecodable records, projector positions, every live process with its metrics) and
// keeps the last `keep` of them, so a page opened now charts the last 10 minutes at once. A sample
// that fails (Postgres away) is left out: the page shows the gap.
//
// Example (every 5 s, keep 120):
//   ops_sampler ops({store, 5s, 120});
//   ops.samples_json()  -> {"every_ms": 5000, "samples": [{"at": "…", "head": 52110, …}, …]}
//
// Thread-safety: a thread of its own takes the samples; samples_json() may be called from any
// thread. The destructor stops it within 100 ms (or a call in flight, at most 2 s).
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "stchat/eventstore/store_config.h"

namespace stchat::chat {

struct ops_sampler_config {
    eventstore::store_config store;
    std::chrono::milliseconds every{5000};
    size_t keep = 120;  // 10 minutes of 5 s samples
};

class ops_sampler {
public:
    explicit ops_sampler(ops_sampler_config config);
    ~ops_sampler();
    ops_sampler(const ops_sampler&) = delete;
    ops_sampler& operator=(const ops_sampler&) = delete;

    std::string samples_json() const;

private:
    void loop();
    ops_sampler_config _config;
    mutable std::mutex _mutex;
    std::deque<std::string> _samples;  // JSON objects, oldest first
    std::atomic<bool> _stop{false};
    bool _reported = false;
    std::thread _thread;
};

}  // namespace stchat::chat
