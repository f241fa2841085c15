#pragma once
// `stchat ingest`: JetStream -> event log, exactly once.
//
// A JetStream stream (file storage) captures the feed subjects; a durable pull consumer hands out
// batches. Each batch is decoded and appended in ONE transaction, every message keyed in the inbox
// by (stream name, stream creation time, stream sequence); acks go out only after the commit.
// A crash at any instant means redelivery, and the inbox turns a redelivered message into a
// duplicate result instead of a second row. The creation time is part of the key because a stream
// deleted and created again restarts at sequence 1.
//
// Example: stream STCHAT_FEEDS created at 1764312000123456789 ns, message at stream sequence 42:
//   inbox key ("nats:STCHAT_FEEDS:1764312000123456789", "42")
#include <chrono>
#include <cstdint>
#include <string>

#include "stchat/common/metrics.h"
#include "stchat/eventstore/store_config.h"

namespace stchat::ingest {

struct stream_config {
    std::string nats_urls = "nats://127.0.0.1:4222";  // comma-separated list for a cluster
    std::string stream = "STCHAT_FEEDS";
    std::string sport_event_subject = "sport_event";
    std::string execution_subject = "execution";
    int replicas = 1;  // 3 on a NATS cluster
};

struct ingest_config {
    stream_config nats;
    eventstore::store_config store;
    std::string consumer = "stchat-ingest";
    int batch_size = 2000;  // messages per fetch and per append transaction
    std::chrono::milliseconds ack_wait{10000};   // redelivery after a crash takes this long
    std::chrono::milliseconds fetch_wait{500};
    bool stop_when_drained = false;  // return once the consumer has nothing pending (bench)
    // Watchdog: with batches waiting to be appended and none appended for this long, /healthz
    // says "stall: …" (503) and the log says so once, until appends resume.
    std::chrono::milliseconds stall_after{15000};
    metrics::registry* metrics = nullptr;  // when set: counters for GET /metrics
    metrics::health_state* health = nullptr;  // when set: NATS and Postgres problems for /healthz
};

struct ingest_stats {
    uint64_t received = 0;     // messages fetched, redeliveries included
    uint64_t appended = 0;     // new log rows
    uint64_t duplicates = 0;   // redeliveries the inbox recognised
    uint64_t undecodable = 0;  // appended as undecodable records
    uint64_t batches = 0;
    // Where the time goes (wall-clock microseconds): waiting for fetches, decoding, the append
    // transaction, and acking.
    uint64_t fetch_us = 0, decode_us = 0, append_us = 0, ack_us = 0;
};

// The ingest consumer as JetStream sees it, for `stchat status`.
struct consumer_state {
    bool reachable = false;        // false: `error` says why (NATS down, no such stream/consumer)
    std::string error;
    uint64_t stream_messages = 0;  // messages the stream holds
    uint64_t pending = 0;          // not yet delivered to the ingest
    uint64_t ack_pending = 0;      // delivered, not yet acked (in the batch in hand)
    uint64_t redelivered = 0;      // delivered more than once and not yet acked
};

// Asks NATS (2 s timeout); never throws.
consumer_state read_consumer_state(const stream_config& config, const std::string& consumer);

// Deletes the stream (and with it its consumers and messages) if it exists. For benchmarks and
// operators starting over; returns true if there was one.
bool delete_stream(const stream_config& config);

// Runs until stop_requested() (SIGINT/SIGTERM): finishes, commits and acks the batch in hand.
// Reconnects to NATS and Postgres by itself. Throws only on a permanent error (bad config).
ingest_stats run_ingest(const ingest_config& config);

}  // namespace stchat::ingest
