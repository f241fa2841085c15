#include "feed_record.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdlib>

#include "stchat/ingest/feed_codec.h"

namespace stchat::ingest {
namespace {

std::string metadata_json(natsMsg* msg, const message_facts& facts) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    // Small on purpose: parsing it is part of every append. The stream instance is in the inbox
    // source ("nats:<stream>:<created ns>"), joined by position.
    w.StartObject();
    w.Key("subject");
    const char* subject = natsMsg_GetSubject(msg);
    w.String(subject && is_storable_utf8(subject) ? subject : "?");
    w.Key("stream_seq");
    w.Uint64(facts.stream_seq);
    w.Key("delivered");
    w.Uint64(facts.delivered);
    if (facts.reconciled) {
        w.Key("reconciled");
        w.Bool(true);
    }
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK && count > 0) {
        w.Key("headers");
        w.StartObject();
        for (int i = 0; i < count; ++i) {
            const char* value = nullptr;
            natsMsgHeader_Get(msg, keys[i], &value);
            if (!is_storable_utf8(keys[i])) continue;
            w.Key(keys[i]);
            w.String(value && is_storable_utf8(value) ? value : "");
        }
        w.EndObject();
        free(static_cast<void*>(keys));
    }
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

std::string error_json(const std::string& error) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("error");
    w.String(error.c_str());
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

std::string inbox_source(const std::string& stream, int64_t created_ns) {
    return "nats:" + stream + ":" + std::to_string(created_ns);
}

eventstore::new_event feed_record(const stream_config& nats, const std::string& source, natsMsg* msg,
                                  const message_facts& facts) {
    eventstore::new_event e;
    e.source = source;
    e.message_id = std::to_string(facts.stream_seq);
    const char* subject = natsMsg_GetSubject(msg);
    std::string_view payload(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
    e.payload.assign(payload.data(), payload.size());
    e.source_time_us = facts.time_ns / 1000;
    feed_kind kind = feed_kind::sport_event;
    bool known = true;
    if (subject && nats.sport_event_subject == subject) kind = feed_kind::sport_event;
    else if (subject && nats.execution_subject == subject) kind = feed_kind::execution;
    else known = false;
    decoded_feed d = known ? decode_feed(kind, payload) : decoded_feed{false, {}, "no feed is configured for subject"};
    if (d.ok) {
        e.type = to_string(kind);
        e.stream = std::string("feed.") + to_string(kind);
        e.data_json = std::move(d.data_json);
    } else {
        e.type = "undecodable";
        e.stream = std::string("undecodable.") + (known ? to_string(kind) : "other");
        e.data_json = error_json(d.error);
    }
    e.metadata_json = metadata_json(msg, facts);
    return e;
}

}  // namespace stchat::ingest
