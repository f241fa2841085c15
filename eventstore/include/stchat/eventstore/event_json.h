#pragma once
// An event as one JSON object: what `stchat replay` prints per line and `stchat outbox`
// publishes, so a consumer of either reads the same thing.
//
// Example (one line):
//   {"position":812,"stream":"room.lobby","stream_seq":1,"type":"chat.join",
//    "recorded_at":"2026-11-28T05:50:00.123456Z","source_time":null,
//    "data":{"room": "lobby", "user": "alice"},"metadata":{}}
// A ninth column, when not NULL, adds "payload_hex": the original bytes as hex (replay: the
// undecodable records; outbox: every feed event).
#include <string>

#include "stchat/common/time_text.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::eventstore {

// The eight columns append_event_json reads, in order, for a SELECT … FROM event_log; the caller
// adds the ninth (the payload as hex, or NULL).
extern const char* const k_event_json_columns;

// Appends the object (no newline). `times` caches the date part between calls.
void append_event_json(std::string& out, const row& r, time_text& times);

}  // namespace stchat::eventstore
