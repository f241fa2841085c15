#include "protocol_codec.h"

#include <algorithm>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <ctime>
#include <functional>

#include "text_rules.h"

namespace stchat::chat {
namespace {

using writer_t = rapidjson::Writer<rapidjson::StringBuffer>;
// Iterative: no recursion however deep the input (the depth is also checked before parsing).
constexpr unsigned k_parse_flags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
constexpr const char* k_room_rule =
    "a room name is 1-64 characters a-z 0-9 . _ - starting with a letter or digit; "
    "feed rooms are feed.sport_event and feed.execution";

std::string json_of(const std::function<void(writer_t&)>& body) {
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    w.StartObject();
    body(w);
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

void put(writer_t& w, const char* key, std::string_view v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

decoded fail(std::string code, std::string message, std::string ref) {
    return {std::nullopt, {std::move(code), std::move(message), std::move(ref)}};
}

// The string member `key`: nullopt when absent; a missing-or-not-a-string member is the caller's
// to report. Length-aware: a NUL inside stays in the string (and is refused by text_rules).
std::optional<std::string> string_member(const rapidjson::Value& d, const char* key, bool* wrong_type) {
    auto it = d.FindMember(key);
    if (it == d.MemberEnd()) return std::nullopt;
    if (!it->value.IsString()) {
        *wrong_type = true;
        return std::nullopt;
    }
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::optional<std::string> require_string(const rapidjson::Value& d, const char* key) {
    bool wrong = false;
    auto v = string_member(d, key, &wrong);
    return wrong ? std::nullopt : v;
}

decoded decode_hello(const rapidjson::Value& d) {
    request r;
    r.type = request::kind::hello;
    bool wrong = false;
    r.token = string_member(d, "token", &wrong);
    if (wrong) return fail("bad_frame", "'token' must be a string", "hello");
    if (r.token) {
        if (r.token->size() > 1024 || !valid_utf8(*r.token)) return fail("bad_frame", "not a token", "hello");
        return {r, {}};
    }
    auto name = string_member(d, "name", &wrong);
    if (wrong) return fail("bad_frame", "'name' must be a string", "hello");
    if (name) {
        std::string trimmed = trim(*name);
        if (const char* why = name_problem(trimmed)) return fail("bad_name", why, "hello");
        r.name = std::move(trimmed);
    }
    return {r, {}};
}

// The "room" of a join or a leave, into r.room: a chat room, or a feed room (a leave of a feed
// room is harmless). Else the error, with `ref`.
std::optional<decoded> take_room(const rapidjson::Value& d, request& r, const char* ref) {
    auto room = require_string(d, "room");
    if (!room) return fail("bad_frame", "missing string field 'room'", ref);
    if (!valid_room_name(*room) || (room->rfind("feed.", 0) == 0 && !is_feed_room(*room))) {
        return fail("bad_room", k_room_rule, ref);
    }
    r.room = std::move(*room);
    return std::nullopt;
}

decoded decode_join(const rapidjson::Value& d, const codec_limits& limits) {
    request r;
    r.type = request::kind::join;
    if (auto refused = take_room(d, r, "join")) return *refused;
    auto since = d.FindMember("since");
    if (since != d.MemberEnd()) {
        if (!since->value.IsInt64() || since->value.GetInt64() < 0) {
            return fail("bad_frame", "'since' must be an integer >= 0", "join");
        }
        r.since = since->value.GetInt64();
    }
    bool wrong = false;
    auto key = string_member(d, "key", &wrong);
    if (wrong) return fail("bad_frame", "'key' must be a string", "join");
    if (key) {
        if (key->size() > limits.max_key) {
            return fail("bad_frame", "'key' is at most " + std::to_string(limits.max_key) + " bytes", "join");
        }
        if (const char* why = text_problem(*key)) return fail("bad_frame", std::string("'key': ") + why, "join");
        r.key = std::move(*key);
    }
    return {r, {}};
}

decoded decode_send(const rapidjson::Value& d, const codec_limits& limits) {
    request r;
    r.type = request::kind::send;
    for (const char* f : {"room", "id", "text"}) {
        if (!require_string(d, f)) return fail("bad_frame", std::string("missing string field '") + f + "'", "send");
    }
    r.id = *require_string(d, "id");
    if (const char* why = id_problem(r.id)) return fail("bad_frame", why, "send");
    r.room = *require_string(d, "room");
    if (is_feed_room(r.room)) return fail("read_only", "feed rooms are read-only", r.id);
    if (!valid_room_name(r.room)) return fail("bad_room", k_room_rule, r.id);
    r.text = *require_string(d, "text");
    if (const char* why = text_problem(r.text)) return fail("bad_frame", why, r.id);
    if (utf8_length(r.text) > limits.max_text) {
        return fail("too_large", "text over " + std::to_string(limits.max_text) + " characters", r.id);
    }
    return {r, {}};
}

decoded decode_leave(const rapidjson::Value& d) {
    request r;
    r.type = request::kind::leave;
    if (auto refused = take_room(d, r, "leave")) return *refused;
    return {r, {}};
}

decoded decode_history(const rapidjson::Value& d) {
    request r;
    r.type = request::kind::history;
    if (auto refused = take_room(d, r, "history")) return *refused;
    auto before = d.FindMember("before");
    if (before != d.MemberEnd()) {
        if (!before->value.IsInt64() || before->value.GetInt64() < 1) {
            return fail("bad_frame", "'before' must be an integer >= 1", "history");
        }
        r.before = before->value.GetInt64();
    }
    auto limit = d.FindMember("limit");
    if (limit != d.MemberEnd()) {
        if (!limit->value.IsInt64() || limit->value.GetInt64() < 1) {
            return fail("bad_frame", "'limit' must be an integer >= 1", "history");
        }
        r.limit = static_cast<int>(std::min<int64_t>(limit->value.GetInt64(), k_history_max));
    }
    return {r, {}};
}

}  // namespace

bool nested_deeper_than(std::string_view json, size_t max_depth) {
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < json.size(); ++i) {
        char c = json[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

decoded decode_v1(std::string_view payload, const codec_limits& limits) {
    if (nested_deeper_than(payload, limits.max_depth)) {
        return fail("bad_json", "nested deeper than " + std::to_string(limits.max_depth), "");
    }
    rapidjson::Document d;
    d.Parse<k_parse_flags>(payload.data(), payload.size());
    if (d.HasParseError() || !d.IsObject()) return fail("bad_json", "not a JSON object", "");
    auto type = require_string(d, "type");
    if (!type) return fail("bad_frame", "missing string field 'type'", "");
    if (*type == "hello") return decode_hello(d);
    if (*type == "join") return decode_join(d, limits);
    if (*type == "send") return decode_send(d, limits);
    if (*type == "leave") return decode_leave(d);
    if (*type == "history") return decode_history(d);
    if (*type == "ping") {
        decoded out;
        out.req = request{};
        out.req->type = request::kind::ping;
        return out;
    }
    // Echo the type only when it is safe to put in a frame.
    std::string shown = type->size() <= 64 && !text_problem(*type) ? *type : "";
    return fail("unknown_type", "unknown type '" + shown + "'", shown);
}

std::optional<std::string> decode_legacy(std::string_view payload, const codec_limits& limits) {
    if (nested_deeper_than(payload, limits.max_depth)) return std::nullopt;
    rapidjson::Document d;
    d.Parse<k_parse_flags>(payload.data(), payload.size());
    if (d.HasParseError() || !d.IsObject()) return std::nullopt;
    return require_string(d, "message");
}

std::string iso_time(int64_t us) {
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%s.%06dZ", buf, static_cast<int>(us % 1000000));
    return out;
}

std::string welcome_frame(const author& who, const std::string& token) {
    return json_of([&](writer_t& w) {
        put(w, "type", "welcome");
        put(w, "user", who.name);
        put(w, "uid", who.uid);
        put(w, "token", token);
    });
}

std::string joined_frame(const std::string& room, int64_t head, const std::vector<std::string>& members,
                         size_t member_count) {
    return json_of([&](writer_t& w) {
        put(w, "type", "joined");
        put(w, "room", room);
        w.Key("head");
        w.Int64(head);
        w.Key("members");
        w.StartArray();
        for (const auto& n : members) w.String(n.data(), static_cast<rapidjson::SizeType>(n.size()));
        w.EndArray();
        w.Key("member_count");
        w.Uint64(std::max(member_count, members.size()));
    });
}

std::string left_frame(const std::string& room) {
    return json_of([&](writer_t& w) {
        put(w, "type", "left");
        put(w, "room", room);
    });
}

std::string ack_frame(const std::string& room, const std::string& id, int64_t seq, bool duplicate) {
    return json_of([&](writer_t& w) {
        put(w, "type", "ack");
        put(w, "room", room);
        put(w, "id", id);
        w.Key("seq");
        w.Int64(seq);
        if (duplicate) {
            w.Key("duplicate");
            w.Bool(true);
        }
    });
}

std::string error_frame(std::string_view code, std::string_view message, std::string_view ref, int retry_after_ms,
                        std::string_view room) {
    return json_of([&](writer_t& w) {
        put(w, "type", "error");
        put(w, "code", code);
        put(w, "message", message);
        put(w, "ref", ref);
        if (!room.empty()) put(w, "room", room);
        if (retry_after_ms >= 0) {
            w.Key("retry_after_ms");
            w.Int(retry_after_ms);
        }
    });
}

std::string event_frame(const room_event& e, bool history) {
    return json_of([&](writer_t& w) {
        put(w, "type", "event");
        put(w, "room", e.room);
        w.Key("seq");
        w.Int64(e.seq);
        put(w, "kind", e.kind);
        if (history) {
            w.Key("history");
            w.Bool(true);
        }
        if (!e.data_json.empty()) {
            w.Key("data");
            w.RawValue(e.data_json.data(), e.data_json.size(), rapidjson::kObjectType);
            put(w, "ts", iso_time(e.ts_us));
            return;
        }
        put(w, "user", e.user);
        put(w, "uid", e.uid);
        if (e.kind == "message") {
            put(w, "id", e.id);
            put(w, "text", e.text);
        }
        if (e.still_here) {
            w.Key("still_here");
            w.Bool(true);
        }
        put(w, "ts", iso_time(e.ts_us));
    });
}

std::string pong_frame() { return R"({"type":"pong"})"; }

std::string history_end_frame(const std::string& room, int64_t before, int64_t first) {
    return json_of([&](writer_t& w) {
        put(w, "type", "history_end");
        put(w, "room", room);
        w.Key("before");
        w.Int64(before);
        w.Key("first");
        w.Int64(first);
    });
}

std::string legacy_event_frame(const room_event& e) {
    std::string line = e.kind == "join"    ? e.user + " joined chat."
                       : e.kind == "leave" ? e.user + " exited chat."
                                           : e.user + ": " + e.text;
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    w.String(line.data(), static_cast<rapidjson::SizeType>(line.size()));
    // Spaced exactly like the original st-chat's frames.
    return std::string("{\"action\": \"message\", \"message\": ") + buf.GetString() + "}";
}

std::string legacy_error_frame(std::string_view message) {
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
    return std::string("{\"action\": \"error\", \"message\": ") + buf.GetString() + "}";
}

}  // namespace stchat::chat
