#pragma once
// Private to chat/: what `GET /metrics` of a chat process shows (docs/protocol.md, Metrics).
// Counters are atomics: the relay and database threads update some.
#include <map>
#include <string>

#include "stchat/common/metrics.h"

namespace stchat::chat {

struct chat_metrics {
    metrics::registry reg;
    metrics::counter& connections = reg.make_counter("stchat_chat_connections_total", "WebSocket connections opened");
    metrics::gauge& sessions_v1 = reg.make_gauge("stchat_chat_sessions", "Open WebSocket sessions", R"(protocol="v1")");
    metrics::gauge& sessions_legacy = reg.make_gauge("stchat_chat_sessions", "Open WebSocket sessions", R"(protocol="legacy")");
    metrics::counter& frames_received = reg.make_counter("stchat_chat_frames_received_total", "Frames received from clients");
    metrics::counter& frames_sent = reg.make_counter("stchat_chat_frames_sent_total", "Frames sent to clients");
    metrics::counter& db_retries = reg.make_counter("stchat_chat_db_retries_total", "Database calls (appends, replay reads) tried again after Postgres failed");
    metrics::counter& messages_stored = reg.make_counter("stchat_chat_messages_stored_total", "Messages appended to the log");
    metrics::counter& duplicates = reg.make_counter("stchat_chat_send_duplicates_total", "Resent messages acked without a new append (dedup hits)");
    metrics::counter& send_batches = reg.make_counter("stchat_chat_send_batches_total", "Group commits of sends");
    metrics::histogram& send_latency = reg.make_histogram("stchat_chat_send_latency_seconds", "From a send frame received to its ack sent");
    metrics::gauge& relay_position = reg.make_gauge("stchat_chat_relay_position", "Last log position the relay has read");
    metrics::gauge& relay_lag = reg.make_gauge("stchat_chat_relay_lag_events", "Log events committed but not yet read by the relay");
    // Room events fanned out to this process's sessions: straight from its own writer's commits, or
    // by the relay (other processes' events, feeds, and own events that came out of order).
    metrics::counter& fanned_writer = reg.make_counter("stchat_chat_fanned_out_total", "Room events fanned out to sessions, by where they came from", R"(path="writer")");
    metrics::counter& fanned_relay = reg.make_counter("stchat_chat_fanned_out_total", "Room events fanned out to sessions, by where they came from", R"(path="relay")");
    metrics::counter& replays_from_memory = reg.make_counter("stchat_chat_replays_from_memory_total", "Replay pages answered from the room's recent events in memory, not read from Postgres");
    metrics::gauge& key_checks_queued = reg.make_gauge("stchat_chat_key_checks_queued", "Private room key checks waiting for the key thread");
    metrics::gauge& messages_queued = reg.make_gauge("stchat_chat_messages_queued",
                                                     "Messages waiting for the writer (past --max-queued a send is refused: rate_limited)");
    std::map<std::string, metrics::counter*> errors;     // by error code
    std::map<std::string, metrics::counter*> closed;     // sessions closed by the server, by reason
    std::map<std::string, metrics::counter*> refused;    // handshakes and HTTP requests refused, by reason

    chat_metrics() {
        for (const char* code : {"bad_json", "bad_frame", "unknown_type", "hello_required", "bad_name", "bad_room",
                                 "not_joined", "forbidden", "read_only", "too_large", "too_many_rooms",
                                 "rate_limited", "internal"}) {
            errors[code] = &reg.make_counter("stchat_chat_errors_total", "Error frames sent, by code",
                                             std::string("code=\"") + code + "\"");
        }
        for (const char* reason : {"slow_reader", "idle", "no_hello", "ping_flood", "binary_frame"}) {
            closed[reason] = &reg.make_counter("stchat_chat_closed_total", "Sessions closed by the server",
                                               std::string("reason=\"") + reason + "\"");
        }
        for (const char* reason : {"version", "path", "host", "origin", "method", "ops", "overloaded"}) {
            refused[reason] = &reg.make_counter("stchat_chat_refused_total", "Handshakes and HTTP requests refused",
                                                std::string("reason=\"") + reason + "\"");
        }
    }
};

}  // namespace stchat::chat
