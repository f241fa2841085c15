#pragma once
// `stchat feed sport_event|execution`: publishes realistic, varied feed messages, like the real
// feeds do (plain core-NATS publishes, no headers), or with --acked as JetStream publishes with a
// Nats-Msg-Id, retried until the stream confirms them (for lossless load tests).
#include <cstdint>
#include <string>

#include "stchat/ingest/feed_codec.h"
#include "stchat/ingest/ingest.h"

namespace stchat::ingest {

struct feed_config {
    stream_config nats;
    feed_kind kind = feed_kind::sport_event;
    double rate = 10;            // messages per second; 0 = as fast as possible
    int64_t count = -1;          // -1 = forever (until SIGINT/SIGTERM)
    bool acked = false;
    int64_t malformed_every = 0; // every Nth payload is deliberately not a valid message
    std::string run_id;          // Nats-Msg-Id prefix; random when empty
    uint64_t seed = 0;           // 0 = random
};

struct feed_stats {
    uint64_t published = 0;   // messages sent (and, with --acked, confirmed)
    uint64_t malformed = 0;   // of which deliberately malformed
    uint64_t retried = 0;     // --acked: publishes sent again after a timeout or error
};

feed_stats run_feed(const feed_config& config);

// The generator behind the simulator: message number `n` of a run, deterministic for a seed.
std::string make_feed_payload(feed_kind kind, uint64_t seed, uint64_t n);

}  // namespace stchat::ingest
