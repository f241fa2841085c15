#pragma once
// `stchat outbox`: publishes the event log to JetStream, for other services to consume, each
// event exactly once and in log order.
//
//   event at position 812 of stream room.lobby
//     -> subject "stchat.room.lobby" on stream STCHAT_OUTBOX
//        data: the event as `stchat replay` prints it (eventstore/event_json.h), feed events with
//              their original bytes in "payload_hex"
//        Nats-Msg-Id: "<log identity>:812"
//
// Exactly once without trusting a time window: every publish carries the stream sequence it
// expects to follow (Nats-Expected-Last-Sequence), so JetStream stores an unbroken prefix of what
// was sent: a publish that fails makes all later ones of the batch fail too, never a gap. After a
// failure or a restart the outbox reads the stream's last message, takes the position in its
// Msg-Id, and goes on from the next one. The Postgres checkpoint 'outbox:<stream>' follows the
// acknowledgements (for `stchat status` and lag), and is where a purged stream resumes.
// Thread-safety: run_outbox owns its connections; one outbox per JetStream stream.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "stchat/common/metrics.h"
#include "stchat/eventstore/store_config.h"

namespace stchat::ingest {

struct outbox_config {
    std::string nats_urls = "nats://127.0.0.1:4222";
    eventstore::store_config store;
    std::string stream = "STCHAT_OUTBOX";  // JetStream stream, created if missing
    std::string subject_prefix = "stchat";  // subjects "<prefix>.<log stream>"
    std::vector<std::string> streams;       // log streams to publish: "room.*", "feed.execution"; empty: all
    int replicas = 1;                       // when the outbox creates its stream
    int batch = 20000;                      // events per read, publish round and checkpoint
    std::chrono::milliseconds idle_wait{500};
    metrics::registry* metrics = nullptr;
    metrics::health_state* health = nullptr;
    std::function<bool()> stop_when_caught_up;  // benches and tests: stop at the head when true
};

struct outbox_stats {
    uint64_t published = 0;   // events acknowledged by JetStream
    uint64_t recoveries = 0;  // resumptions from the stream's last message after a failure
    int64_t position = 0;     // last log position done
};

// Runs until stop_requested() (SIGINT/SIGTERM) or stop_when_caught_up. NATS or Postgres away:
// waits and resumes. Throws for what retrying cannot fix (the stream holds another log's events).
outbox_stats run_outbox(const outbox_config& config);

// The outbox bench's baselines: `messages` async publishes of `bytes` each to a fresh stream
// (made and deleted), all acknowledged. Messages/s. Bare: no message id, no expected sequence.
// Guarded: each with the outbox's two exactly-once guards, a Nats-Msg-Id shaped like the
// outbox's ("<36-character identity>:<n>", in a 2-minute duplicate window) and the expected last
// sequence: what nats-server here takes with the work those guards cost it.
enum class publish_guards { none, msg_id_and_expected_sequence };
double measure_publish_ceiling(const std::string& nats_urls, const std::string& stream, int64_t messages,
                               size_t bytes, publish_guards guards = publish_guards::none);

// "room.lobby" -> "stchat.room.lobby"; a character NATS subjects cannot carry becomes '_'.
std::string outbox_subject(const std::string& prefix, const std::string& log_stream);

}  // namespace stchat::ingest
