#pragma once
// `stchat bench log`: the read side of the log. Replay (to /dev/null) against a raw read of the
// same rows, and an online rebuild of all three read tables against the incremental projector
// catching up from position 0 on the same log. Same process, same data, medians of runs.
#include <cstdint>
#include <string>

#include "stchat/eventstore/store_config.h"

namespace stchat::bench {

struct log_bench_config {
    eventstore::store_config store;  // works in a scratch database <current>_bench_log
    int64_t events = 1000000;
    int runs = 3;
    std::string nats_urls = "nats://127.0.0.1:4222";  // for the outbox figure
};

struct log_bench_result {
    double replay_rate = 0, raw_read_rate = 0;       // events/s
    double rebuild_rate = 0, incremental_rate = 0;   // log events x tables per second
    double outbox_rate = 0;                          // events/s published to JetStream and acked
    double publish_ceiling = 0;                      // msgs/s: bare async publishes, same count and size
    double guarded_ceiling = 0;                      // the same with a Msg-Id and an expected sequence each
};

log_bench_result run_log_bench(const log_bench_config& config);

}  // namespace stchat::bench
