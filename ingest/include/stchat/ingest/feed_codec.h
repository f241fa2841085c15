#pragma once
// Decoding of the feeds' protobuf payloads (proto/feeds.proto) into the JSON stored in the log.
//
//   decode_feed(feed_kind::sport_event, <bytes of event{TENNIS, "A v B", "ace"}>)
//     -> ok, type "sport_event",
//        data_json {"sport":"TENNIS","match_title":"A v B","data_event":"ace"}
//   decode_feed(feed_kind::execution, "")
//     -> not ok, error "missing required fields: symbol, market, price, quantity, ..."
#include <cstdint>
#include <string>
#include <string_view>

namespace stchat::ingest {

enum class feed_kind { sport_event, execution };

const char* to_string(feed_kind kind);  // "sport_event" | "execution"
bool parse_feed_kind(std::string_view text, feed_kind& out);

struct decoded_feed {
    bool ok = false;
    std::string data_json;  // when ok: the fields as a JSON object
    std::string error;      // when not ok: why, in words
};

decoded_feed decode_feed(feed_kind kind, std::string_view payload);

// True for valid UTF-8 without NUL: what Postgres text and jsonb accept.
bool is_storable_utf8(std::string_view s);

// For the simulators and tests: encode a message from its fields.
struct sport_event_fields {
    int sport = 1;  // 1..7, BASEBALL..TENNIS
    std::string match_title;
    std::string data_event;
};
struct execution_fields {
    std::string symbol;
    std::string market;
    float price = 0;
    float quantity = 0;
    int64_t execution_epoch = 0;
    std::string state_symbol;
};
std::string encode(const sport_event_fields& f);
std::string encode(const execution_fields& f);

}  // namespace stchat::ingest
