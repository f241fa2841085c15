#pragma once
// `stchat project`: the projectors that derive read tables from the event log.
//
// Each projector has a checkpoint (the last log position it applied). One step reads the log after
// the checkpoint and writes its rows AND its new checkpoint in one transaction (SQL function
// project_step, migrations/functions/project_step.sql), so each event is applied exactly once across crashes.
//
// Example: checkpoint('event') = 120, head = 5120, batch 1000 -> the step applies 121..1120.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "stchat/common/metrics.h"
#include "stchat/eventstore/store_config.h"

namespace stchat::projections {

// The projectors st-chat has, each named after the table it writes.
const std::vector<std::string>& all_projectors();  // {"event", "execution", "chat_log"}

struct projector_config {
    eventstore::store_config store;
    std::vector<std::string> projectors = all_projectors();
    int64_t batch_size = 10000;
    std::chrono::milliseconds poll_interval{1000};  // fallback when a notification is missed
    // When set: return once every projector is at the head and this says true (--once: always).
    std::function<bool()> stop_when_caught_up;
    metrics::registry* metrics = nullptr;  // when set: progress and lag for GET /metrics
    metrics::health_state* health = nullptr;  // when set: Postgres problems for /healthz
    // Watchdog: no step finished for this long (a frozen Postgres, a step waiting on a lock):
    // /healthz says "stall: …" (503) until one does.
    std::chrono::milliseconds stall_after{15000};
};

struct projector_stats {
    uint64_t steps = 0;
    uint64_t events = 0;  // log positions passed over
    uint64_t rows = 0;    // rows written
};

// Runs until stop_requested() (or caught up, when so configured). Reconnects by itself.
projector_stats run_projectors(const projector_config& config);

}  // namespace stchat::projections
