#pragma once
// The event log: one append-only, gap-free sequence of every input st-chat receives.
//
//   position    global, 1, 2, 3 ... in commit order (never reused, never out of order)
//   stream      e.g. "feed.sport_event", "feed.execution", "undecodable.sport_event"
//   stream_seq  1, 2, 3 ... within the stream
//
// Appends are idempotent by an inbox key (source, message_id): appending the same key again
// stores nothing and reports the original position with duplicate = true. Keys retired by
// `stchat compact` (migrations/007_inbox_floor.sql) are still recognised as duplicates, but
// report position 0 and stream_seq 0: where the original is, the inbox no longer says.
//
// Example: the log is empty.
//   append_batch({a: key (s,1), b: key (s,2)})  -> {pos 1 seq 1 new, pos 2 seq 2 new}
//   append_batch({c: key (s,3), b again})       -> {pos 3 seq 3 new, pos 2 seq 2 duplicate}
//   read_after(1, 100)                          -> events at positions 2, 3
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::eventstore {

struct new_event {
    std::string source;      // idempotency key, part 1: who sent it, e.g. "nats:STCHAT_FEEDS:<created>"
    std::string message_id;  // idempotency key, part 2: unique within the source, e.g. "42"
    std::string stream;
    std::string type;
    std::string payload;               // raw bytes, stored exactly as received
    std::string data_json = "{}";      // decoded fields, a JSON object
    std::string metadata_json = "{}";  // a JSON object
    std::optional<int64_t> source_time_us;  // microseconds since the Unix epoch
};

struct append_result {
    int64_t position = 0;
    int64_t stream_seq = 0;
    bool duplicate = false;
    int64_t recorded_at_us = 0;  // the batch's recorded_at (new events), microseconds since the epoch
};

struct recorded_event {
    int64_t position = 0;
    std::string stream;
    int64_t stream_seq = 0;
    std::string type;
    std::string payload;
    std::string data_json;
    std::string metadata_json;
    std::optional<int64_t> source_time_us;
    int64_t recorded_at_us = 0;
};

// A connection to the log. Not thread-safe: one per thread. Every call may throw store_error.
class event_log {
public:
    virtual ~event_log() = default;

    // Appends all of `events` in one transaction; results are in the same order as `events`.
    virtual std::vector<append_result> append_batch(const std::vector<new_event>& events) = 0;

    // Up to `max_events` events with position > `after`, in position order. Never skips one.
    virtual std::vector<recorded_event> read_after(int64_t after, int max_events) = 0;

    // Up to `max_events` events of `stream` with stream_seq > `after_seq`, in stream_seq order.
    // Example: a room at seq 57; read_stream("room.lobby", 50, 100) -> seqs 51..57.
    virtual std::vector<recorded_event> read_stream(const std::string& stream, int64_t after_seq,
                                                    int max_events) = 0;

    // The highest stream_seq of `stream` (0 when it has no event).
    virtual int64_t stream_head(const std::string& stream) = 0;

    // Many read_stream and stream_head calls in one read transaction and two queries: what a
    // burst of joins needs (the chat's reader batches them). out.heads[i] is the head of
    // reads[i].stream; out.events[i] the events after reads[i].after_seq or, with from_head,
    // after head - after_seq (the last after_seq events; 0: none). Each distinct
    // (stream, start) is read once.
    // Example: room.a at seq 57, room.b empty:
    //   read_streams({{"room.a", 50}, {"room.a", 3, true}, {"room.b", 3, true}}, 100)
    //   -> heads {57, 57, 0}; events {51..57}, {55..57}, {}
    struct stream_read {
        std::string stream;
        int64_t after_seq = 0;
        bool from_head = false;
    };
    struct stream_reads {
        std::vector<int64_t> heads;
        // Shared: identical reads get the same vector, never null.
        std::vector<std::shared_ptr<const std::vector<recorded_event>>> events;
    };
    virtual stream_reads read_streams(const std::vector<stream_read>& reads, int max_events) = 0;

    // The highest committed position (0 for an empty log).
    virtual int64_t head() = 0;

    // Waits until an append commits or `timeout` passes (LISTEN/NOTIFY; the caller polls again
    // either way, so a lost notification costs at most one timeout). True if notified.
    virtual bool wait_for_append(std::chrono::milliseconds timeout) = 0;
};

std::unique_ptr<event_log> make_event_log(const store_config& config);

}  // namespace stchat::eventstore
