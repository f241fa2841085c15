#include "stchat/chat/room_log.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <map>
#include <stdexcept>

#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::chat {
namespace {


std::string event_json(const std::string& room, const author& who, const std::string* id,
                       const std::string* text) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto str = [&](const char* key, const std::string& v) {
        w.Key(key);
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    str("room", room);
    str("user", who.name);
    str("uid", who.uid);
    if (id) str("id", *id);
    if (text) str("text", *text);
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

std::string member(const rapidjson::Document& d, const char* key) {
    auto it = d.FindMember(key);
    if (it == d.MemberEnd() || !it->value.IsString()) return {};
    return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

struct room_log::impl {
    std::unique_ptr<eventstore::event_log> log;
    std::unique_ptr<eventstore::sql_session> sql;
    std::string membership_metadata;  // {"node": "..."} or {}
};

namespace {
std::string node_metadata(const std::string& node) {
    if (node.empty()) return "{}";
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("node");
    w.String(node.data(), static_cast<rapidjson::SizeType>(node.size()));
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}
}  // namespace

room_log::room_log(const eventstore::store_config& config, std::string node)
    : _impl(std::make_unique<impl>(impl{eventstore::make_event_log(config), eventstore::make_sql_session(config),
                                        node_metadata(node)})) {}

namespace {
std::string unhex(const std::optional<std::string>& h) {
    std::string out;
    if (!h) return out;
    auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (size_t i = 0; i + 1 < h->size(); i += 2) out.push_back(static_cast<char>(digit((*h)[i]) * 16 + digit((*h)[i + 1])));
    return out;
}
room_key key_of(const eventstore::row& row, size_t first) {
    return {row.at(first).value_or(""), row.at(first + 1).value_or(""), unhex(row.at(first + 2)),
            unhex(row.at(first + 3))};
}
}  // namespace

room_access room_log::access(const std::string& room) {
    if (is_feed_room(room)) return {true, {}};
    auto rows = _impl->sql->exec(
        "SELECT has_events, hash_kind, key_phc, encode(salt, 'hex'), encode(key_hash, 'hex')"
        " FROM room_key_record($1, $2)",
        {room, stream_of_room(room)});
    return {rows.at(0).at(0).value_or("f") == "t", key_of(rows[0], 1)};
}

room_key room_log::claim_private(const std::string& room, const std::string& phc) {
    if (!valid_room_name(room) || is_feed_room(room)) throw std::invalid_argument("not a chat room: " + room);
    auto rows = _impl->sql->exec(
        "SELECT hash_kind, key_phc, encode(salt, 'hex'), encode(key_hash, 'hex')"
        " FROM claim_private_room($1, $2, $3)",
        {room, stream_of_room(room), phc});
    return key_of(rows.at(0), 0);
}
int room_log::close_memberships(const std::string& node, const std::vector<std::string>& rooms,
                                const std::vector<std::string>& uids) {
    auto rows = _impl->sql->exec("SELECT close_chat_memberships($1, $2::text[], $3::text[])",
                                 {node, eventstore::text_array_literal(rooms), eventstore::text_array_literal(uids)});
    return std::stoi(rows.at(0).at(0).value_or("0"));
}

room_log::~room_log() = default;

std::vector<room_ack> room_log::send_batch(const std::vector<send_request>& sends) {
    std::vector<eventstore::new_event> events;
    events.reserve(sends.size());
    for (const auto& s : sends) {
        if (!valid_room_name(s.room) || is_feed_room(s.room)) {
            throw std::invalid_argument("not a chat room: " + s.room);
        }
        eventstore::new_event e;
        e.stream = stream_of_room(s.room);
        e.message_id = s.client_id;
        if (s.kind == append_kind::message) {
            e.source = "chat:" + s.from.uid;
            e.type = "chat.message";
            e.payload = s.text;
            e.data_json = event_json(s.room, s.from, &s.client_id, &s.text);
        } else {
            e.source = "chat-session:" + s.from.uid;
            e.type = s.kind == append_kind::join ? "chat.join" : "chat.leave";
            e.metadata_json = _impl->membership_metadata;
            e.data_json = event_json(s.room, s.from, nullptr, nullptr);
        }
        events.push_back(std::move(e));
    }
    auto results = _impl->log->append_batch(events);
    std::vector<room_ack> acks;
    acks.reserve(results.size());
    std::string duplicates;  // positions of the duplicates, as a Postgres array literal
    for (const auto& r : results) {
        acks.push_back({r.stream_seq, r.duplicate, false, r.position, r.recorded_at_us});
        if (r.duplicate) duplicates += (duplicates.empty() ? "" : ",") + std::to_string(r.position);
    }
    if (!duplicates.empty()) {
        // Rare (a resend): check that each duplicate is the same room's message, not an id the
        // user already spent elsewhere, which must not be acked as this room's seq.
        std::map<int64_t, std::string> stream_at;
        for (const auto& row : _impl->sql->exec("SELECT position, stream FROM event_log WHERE position = ANY($1::bigint[])",
                                                 {"{" + duplicates + "}"})) {
            stream_at[std::stoll(*row.at(0))] = row.at(1).value_or("");
        }
        for (size_t i = 0; i < results.size(); ++i) {
            if (results[i].duplicate && stream_at[results[i].position] != events[i].stream) acks[i].other_room = true;
        }
    }
    return acks;
}

room_ack room_log::join(const std::string& room, const author& who, const std::string& request_id) {
    return send_batch({{room, who, request_id, "", append_kind::join}}).at(0);
}

room_ack room_log::leave(const std::string& room, const author& who,
                         const std::string& request_id) {
    return send_batch({{room, who, request_id, "", append_kind::leave}}).at(0);
}

int64_t room_log::head(const std::string& room) {
    return _impl->log->stream_head(stream_of_room(room));
}

std::optional<room_event> room_event_of(const eventstore::recorded_event& e) {
    room_event r;
    r.seq = e.stream_seq;
    r.position = e.position;
    if (is_feed_room(e.stream)) {
        r.room = e.stream;
        r.kind = e.type;
        r.data_json = e.data_json;
        r.ts_us = e.source_time_us.value_or(e.recorded_at_us);
        return r;
    }
    if (e.stream.rfind("room.", 0) != 0) return std::nullopt;
    rapidjson::Document d;
    d.Parse(e.data_json.c_str());
    if (d.HasParseError() || !d.IsObject()) {
        throw std::runtime_error("room event at position " + std::to_string(e.position) +
                                 " has no JSON object as data");
    }
    r.room = e.stream.substr(5);
    r.kind = e.type == "chat.join" ? "join" : e.type == "chat.leave" ? "leave" : "message";
    r.user = member(d, "user");
    r.uid = member(d, "uid");
    r.id = member(d, "id");
    r.text = member(d, "text");
    r.still_here = r.kind == "leave" && d.HasMember("still_here") && d["still_here"].IsBool() && d["still_here"].GetBool();
    r.ts_us = e.recorded_at_us;
    if (r.kind != "message" && !e.metadata_json.empty()) {
        rapidjson::Document m;
        m.Parse(e.metadata_json.c_str());
        if (!m.HasParseError() && m.IsObject()) r.node = member(m, "node");
    }
    return r;
}

room_event own_event(const send_request& s, const room_ack& ack, const std::string& node) {
    room_event e;
    e.room = s.room;
    e.seq = ack.seq;
    e.kind = s.kind == append_kind::message ? "message" : s.kind == append_kind::join ? "join" : "leave";
    e.user = s.from.name;
    e.uid = s.from.uid;
    if (s.kind == append_kind::message) {
        e.id = s.client_id;
        e.text = s.text;
    } else {
        e.node = node;
    }
    e.ts_us = ack.ts_us;
    e.position = ack.position;
    return e;
}

std::vector<room_event> room_log::read(const std::string& room, int64_t since_seq,
                                       int max_events) {
    std::vector<room_event> out;
    for (const auto& e : _impl->log->read_stream(stream_of_room(room), since_seq, max_events)) {
        if (auto r = room_event_of(e)) out.push_back(std::move(*r));
    }
    return out;
}

}  // namespace stchat::chat

namespace stchat::chat {

std::vector<room_page> room_log::read_many(const std::vector<room_read>& reads, int max_events) {
    std::vector<eventstore::event_log::stream_read> streams;
    streams.reserve(reads.size());
    for (const auto& r : reads) streams.push_back({stream_of_room(r.room), r.after_seq, r.from_head});
    auto got = _impl->log->read_streams(streams, max_events);
    std::vector<room_page> out(reads.size());
    std::map<const void*, std::shared_ptr<const std::vector<room_event>>> converted;
    for (size_t i = 0; i < reads.size(); ++i) {
        out[i].head = got.heads.at(i);
        auto& events = converted[got.events.at(i).get()];
        if (!events) {
            auto v = std::make_shared<std::vector<room_event>>();
            for (const auto& e : *got.events[i]) {
                if (auto r = room_event_of(e)) v->push_back(std::move(*r));
            }
            events = std::move(v);
        }
        out[i].events = events;
    }
    return out;
}

}  // namespace stchat::chat

namespace stchat::chat {


namespace {
// A Postgres text[] as text ({a,"b c",""}) -> its items. Node names have no quotes or backslashes
// of their own, but the format's quoting is followed anyway.
std::vector<std::string> parse_text_array(const std::string& text) {
    std::vector<std::string> out;
    if (text.size() < 2) return out;
    size_t i = 1;
    while (i < text.size() - 1) {
        std::string item;
        if (text[i] == '"') {
            for (++i; i < text.size() && text[i] != '"'; ++i) {
                if (text[i] == '\\' && i + 1 < text.size()) ++i;
                item.push_back(text[i]);
            }
            ++i;  // the closing quote
        } else {
            for (; i < text.size() - 1 && text[i] != ','; ++i) item.push_back(text[i]);
        }
        out.push_back(item);
        if (i < text.size() && text[i] == ',') ++i;
    }
    return out;
}
}  // namespace

std::vector<room_members> room_log::members_of(const std::vector<std::string>& rooms) {
    std::vector<std::string> streams;
    for (const auto& r : rooms) streams.push_back(stream_of_room(r));
    // One statement, so the head and the counts come from one snapshot (the log is visible in
    // position order: everything at or below the head is counted).
    // Per (room, user, node) the last join or leave wins: a leave without its join (a join that
    // failed) or a join appended twice (a node joining its users again) counts once.
    auto rows = _impl->sql->exec(
        "WITH head AS (SELECT coalesce(max(position), 0) AS p FROM event_log),"
        " last AS (SELECT DISTINCT ON (stream, data->>'uid', coalesce(metadata->>'node', ''))"
        "            stream, data->>'uid' AS uid, data->>'user' AS name, coalesce(metadata->>'node', '') AS node,"
        "            type, position"
        "          FROM event_log WHERE stream = ANY($1::text[]) AND type IN ('chat.join', 'chat.leave')"
        "            AND position <= (SELECT p FROM head)"
        "          ORDER BY stream, data->>'uid', coalesce(metadata->>'node', ''), position DESC),"
        " m AS (SELECT stream, uid, (array_agg(name ORDER BY position DESC))[1] AS name,"
        "         array_agg(node ORDER BY node) AS nodes"
        "       FROM last WHERE type = 'chat.join' GROUP BY stream, uid)"
        " SELECT (SELECT p FROM head), m.stream, m.uid, m.name, m.nodes FROM (SELECT 1) one"
        " LEFT JOIN m ON true ORDER BY m.stream, m.uid",
        {eventstore::text_array_literal(streams)});
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < streams.size(); ++i) index.emplace(streams[i], i);
    std::vector<room_members> out(rooms.size());
    for (const auto& row : rows) {
        int64_t head = std::stoll(row.at(0).value_or("0"));
        for (auto& o : out) o.as_of_position = head;
        if (!row.at(1)) continue;
        auto it = index.find(*row.at(1));
        if (it == index.end()) continue;
        room_member m{row.at(2).value_or(""), row.at(3).value_or(""), parse_text_array(row.at(4).value_or("{}"))};
        for (size_t i = 0; i < streams.size(); ++i) {
            if (streams[i] == *row.at(1)) out[i].members.push_back(m);
        }
    }
    return out;
}

}  // namespace stchat::chat
