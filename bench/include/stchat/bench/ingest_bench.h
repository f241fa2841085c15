#pragma once
// `stchat bench ingest`: the catalogue rate, measured against two baselines in the same run.
#include <cstdint>
#include <string>

#include "stchat/eventstore/store_config.h"

namespace stchat::bench {

struct ingest_bench_config {
    eventstore::store_config store;  // the bench works in a scratch database <current>_bench
    std::string nats_urls = "nats://127.0.0.1:4222";
    int64_t messages = 500000;
    int64_t naive_messages = 20000;
    int runs = 3;
    int batch = 2000;      // messages per fetch and per append transaction (ingest's --batch)
    int64_t preload = 0;   // > 0: also measure on a log already holding this many events
};

struct ingest_bench_result {
    double ingest_rate = 0;   // median msgs/s, JetStream -> log + inbox + projected rows
    double naive_rate = 0;    // median msgs/s, one INSERT + COMMIT per message
    double ceiling_rate = 0;  // median msgs/s, 1,000-row INSERTs into a bare table
    // With preload: the same ingest on a log of `preload` events (one run), and what it costs.
    double preloaded_rate = 0;
    double bytes_per_event = 0;     // log + inbox + their indexes + projections, per event
    double replay_first_ms = 0;     // `replay --from <head - 100>`: until its first line
    double room_read_ms = 0;        // a join's replay read (since = room head - 50)
};

ingest_bench_result run_ingest_bench(const ingest_bench_config& config);

}  // namespace stchat::bench
