#include "stchat/eventstore/event_json.h"

namespace stchat::eventstore {
namespace {

void json_string(std::string& out, const std::string& s) {
    static const char* hex = "0123456789abcdef";
    out.push_back('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

}  // namespace

const char* const k_event_json_columns =
    "position, stream, stream_seq, type, (extract(epoch FROM recorded_at) * 1000000)::bigint,"
    " (extract(epoch FROM source_time) * 1000000)::bigint, data::text, metadata::text";

void append_event_json(std::string& out, const row& r, time_text& times) {
    out += "{\"position\":";
    out += *r.at(0);
    out += ",\"stream\":";
    json_string(out, *r.at(1));
    out += ",\"stream_seq\":";
    out += *r.at(2);
    out += ",\"type\":";
    json_string(out, *r.at(3));
    out += ",\"recorded_at\":\"";
    out += times.iso(std::stoll(*r.at(4)));
    out += "\",\"source_time\":";
    if (!r.at(5)) {
        out += "null";
    } else {
        out += '"';
        out += times.iso(std::stoll(*r.at(5)));
        out += '"';
    }
    out += ",\"data\":";
    out += *r.at(6);
    out += ",\"metadata\":";
    out += *r.at(7);
    if (r.size() > 8 && r[8]) {
        out += ",\"payload_hex\":\"";
        out += *r[8];
        out += '"';
    }
    out += '}';
}

}  // namespace stchat::eventstore
