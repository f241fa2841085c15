#include "stchat/ingest/feed_codec.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>

#include "feeds.pb.h"
#include "stchat/common/utf8.h"

namespace stchat::ingest {
namespace {

}  // namespace

// The log stores decoded strings in jsonb, which takes only valid UTF-8 without NUL.
// proto2 does not enforce UTF-8 for `string` fields, so a sender can put anything there.
bool is_storable_utf8(std::string_view s) { return storable_text(s); }

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_float(json_writer& w, float v) {
    // NaN and infinities have no JSON number: kept as the strings Postgres' real accepts.
    if (std::isnan(v)) { w.String("NaN"); return; }
    if (std::isinf(v)) { w.String(v > 0 ? "Infinity" : "-Infinity"); return; }
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
    w.RawValue(buf, static_cast<size_t>(res.ptr - buf), rapidjson::kNumberType);
}

decoded_feed fail(std::string error) {
    decoded_feed d;
    d.error = std::move(error);
    return d;
}

template <typename Msg>
std::string parse_error(Msg& msg, std::string_view payload) {
    if (payload.empty()) return "empty payload";
    if (!msg.ParsePartialFromArray(payload.data(), static_cast<int>(payload.size()))) {
        return "not a valid protobuf message";
    }
    if (!msg.IsInitialized()) return "missing required fields: " + msg.InitializationErrorString();
    return {};
}

}  // namespace

const char* to_string(feed_kind kind) {
    return kind == feed_kind::sport_event ? "sport_event" : "execution";
}

bool parse_feed_kind(std::string_view text, feed_kind& out) {
    if (text == "sport_event") out = feed_kind::sport_event;
    else if (text == "execution") out = feed_kind::execution;
    else return false;
    return true;
}

decoded_feed decode_feed(feed_kind kind, std::string_view payload) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    if (kind == feed_kind::sport_event) {
        feeds::event msg;
        if (auto err = parse_error(msg, payload); !err.empty()) return fail(err);
        for (const auto* s : {&msg.match_title(), &msg.data_event()}) {
            if (!is_storable_utf8(*s)) return fail("a string field is not valid UTF-8 text");
        }
        w.StartObject();
        w.Key("sport");
        w.String(feeds::event::Sport_Name(msg.sport()).c_str());
        w.Key("match_title");
        w.String(msg.match_title().c_str(), static_cast<rapidjson::SizeType>(msg.match_title().size()));
        w.Key("data_event");
        w.String(msg.data_event().c_str(), static_cast<rapidjson::SizeType>(msg.data_event().size()));
        w.EndObject();
    } else {
        feeds::execution msg;
        if (auto err = parse_error(msg, payload); !err.empty()) return fail(err);
        for (const auto* s : {&msg.symbol(), &msg.market(), &msg.statesymbol()}) {
            if (!is_storable_utf8(*s)) return fail("a string field is not valid UTF-8 text");
        }
        w.StartObject();
        w.Key("symbol");
        w.String(msg.symbol().c_str(), static_cast<rapidjson::SizeType>(msg.symbol().size()));
        w.Key("market");
        w.String(msg.market().c_str(), static_cast<rapidjson::SizeType>(msg.market().size()));
        w.Key("price");
        write_float(w, msg.price());
        w.Key("quantity");
        write_float(w, msg.quantity());
        w.Key("executionEpoch");
        w.Int64(msg.executionepoch());
        w.Key("stateSymbol");
        w.String(msg.statesymbol().c_str(), static_cast<rapidjson::SizeType>(msg.statesymbol().size()));
        w.EndObject();
    }
    decoded_feed d;
    d.ok = true;
    d.data_json.assign(buf.GetString(), buf.GetSize());
    return d;
}

std::string encode(const sport_event_fields& f) {
    feeds::event msg;
    msg.set_sport(static_cast<feeds::event::Sport>(f.sport));
    msg.set_match_title(f.match_title);
    msg.set_data_event(f.data_event);
    return msg.SerializeAsString();
}

std::string encode(const execution_fields& f) {
    feeds::execution msg;
    msg.set_symbol(f.symbol);
    msg.set_market(f.market);
    msg.set_price(f.price);
    msg.set_quantity(f.quantity);
    msg.set_executionepoch(f.execution_epoch);
    msg.set_statesymbol(f.state_symbol);
    return msg.SerializeAsString();
}

}  // namespace stchat::ingest
