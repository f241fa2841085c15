#pragma once
// Private to the ingest bench: fills a migrated scratch database with N events (and their inbox
// keys and projected rows) in set-based SQL, and measures reads at the head of the big log.
#include <cstdint>

#include "stchat/eventstore/store_config.h"

namespace stchat::bench {

// Events 1..n alternate feed.sport_event / feed.execution with the sizes of real feed rows
// (payload, data, metadata), keys ('preload', position), rows in `event` and `execution`, the
// projector checkpoints at n; then a room 'room.preload' of 1,000 messages on top. ~n/60,000 s.
void preload_log(const eventstore::store_config& store, int64_t n);

struct head_reads {
    double replay_first_ms = 0;  // replay from head - 100: until the first line is written
    double room_read_ms = 0;     // read_stream of room.preload from its head - 50 (a join's read)
};
// Medians of 7 tries each, on warm connections, as the reads a user makes at the head.
head_reads measure_head_reads(const eventstore::store_config& store);

// (log + inbox + projections, with indexes and TOAST) / events in the log.
double bytes_per_event(const eventstore::store_config& store);

}  // namespace stchat::bench
