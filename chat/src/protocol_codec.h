#pragma once
// Private to chat/: the stchat.v1 and legacy wire formats. Frames in -> a typed request or an
// error code; events and replies -> frame text. No sockets, no sessions, no database: what a
// frame means is decided here, what the session may do with it in the server.
//
// Every string a request carries has passed text_rules (valid UTF-8, no NUL; names also no
// controls or invisible characters), so it can be stored and shown as is.
//
// Example:
//   decode_v1(R"({"type":"send","room":"lobby","id":"m-1","text":"hi"})", limits)
//     -> request{kind send, room "lobby", id "m-1", text "hi"}
//   decode_v1(R"({"type":"send","room":"lobby","id":"m-1","text":"x\udc00"})", limits)
//     -> frame_error{"bad_frame", "text must be valid UTF-8 without surrogates", ref "m-1"}
//   decode_v1("[[[[ ... 1,000,000 deep", limits) -> frame_error{"bad_json", ...}  (no recursion)
//   decode_v1(R"({"type":"history","room":"lobby","before":251,"limit":500})", limits)
//     -> request{kind history, room "lobby", before 251, limit 200}  (capped at k_history_max)
//
// Thread-safety: pure functions.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stchat/chat/room_log.h"

namespace stchat::chat {

struct codec_limits {
    size_t max_text = 4000;  // characters of a message's text
    size_t max_depth = 16;   // nesting of JSON arrays and objects
    size_t max_key = 256;    // bytes of a private room's key
};

struct request {
    enum class kind { hello, join, send, leave, history, ping };
    kind type = kind::hello;
    // hello: at most one of name / token (neither: a generated name)
    std::optional<std::string> name;  // trimmed, checked by name_problem
    std::optional<std::string> token;
    // join, send, leave
    std::string room;
    // join
    std::optional<int64_t> since;
    std::string key;  // empty: none
    // send
    std::string id;
    std::string text;
    // history: the events with seq < before (none: the room's head + 1), at most `limit`
    std::optional<int64_t> before;
    int limit = 50;
};

constexpr int k_history_max = 200;  // events per history request

struct frame_error {
    std::string code;  // bad_json, bad_frame, unknown_type, bad_name, bad_room, read_only, too_large
    std::string message;
    std::string ref;   // the send's id, or the frame's type
};

struct decoded {
    std::optional<request> req;  // set when the frame is a well-formed request
    frame_error error;           // else why not
};

decoded decode_v1(std::string_view payload, const codec_limits& limits);

// A legacy client's {"message": "..."}: the text, or nullopt for anything else (the original
// st-chat ignored what it did not understand). The text is not checked here.
std::optional<std::string> decode_legacy(std::string_view payload, const codec_limits& limits);

// True when the JSON text nests arrays/objects deeper than `max_depth` (strings skipped).
bool nested_deeper_than(std::string_view json, size_t max_depth);

// ---- server -> client ----
std::string welcome_frame(const author& who, const std::string& token);
// `members`: names of some of the room's present users; member_count: how many there are.
std::string joined_frame(const std::string& room, int64_t head, const std::vector<std::string>& members,
                         size_t member_count);
std::string left_frame(const std::string& room);
std::string ack_frame(const std::string& room, const std::string& id, int64_t seq, bool duplicate);
// retry_after_ms < 0: none; room: the room a join or leave was refused for ("": none)
std::string error_frame(std::string_view code, std::string_view message, std::string_view ref,
                        int retry_after_ms = -1, std::string_view room = {});
// history: true marks an event sent in answer to a history request, not the live stream, so a
// client keeps its "last seq seen" (for since) from live events only.
std::string event_frame(const room_event& e, bool history = false);
// Ends a history answer: `first` is the lowest seq sent (before, if none); first <= 1: the start.
// The answer to {"type":"ping"}: lets a client that cannot see WebSocket pings (a browser) tell a
// dead connection from a quiet one.
std::string pong_frame();
std::string history_end_frame(const std::string& room, int64_t before, int64_t first);
// The original st-chat's frames: {"action": "message", "message": "<Name> joined chat."}
std::string legacy_event_frame(const room_event& e);
// What a legacy client gets when its message was not stored: {"action": "error", "message": ...}
std::string legacy_error_frame(std::string_view message);

std::string iso_time(int64_t us);

}  // namespace stchat::chat
