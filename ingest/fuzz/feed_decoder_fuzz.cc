// Fuzzes the feed decoder with arbitrary protobuf bytes for both feeds: it must never crash, and
// what it accepts must be a JSON object Postgres' jsonb takes (valid UTF-8, no string holding a NUL).
#include <rapidjson/document.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "stchat/common/utf8.h"
#include "stchat/ingest/feed_codec.h"

using namespace stchat::ingest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view payload(reinterpret_cast<const char*>(data), size);
    for (feed_kind kind : {feed_kind::sport_event, feed_kind::execution}) {
        decoded_feed d = decode_feed(kind, payload);
        if (!d.ok) {
            if (d.error.empty()) std::abort();
            continue;
        }
        if (!stchat::valid_utf8(d.data_json)) std::abort();
        rapidjson::Document doc;
        doc.Parse(d.data_json.c_str(), d.data_json.size());
        if (doc.HasParseError() || !doc.IsObject()) std::abort();
        for (const auto& m : doc.GetObject()) {
            if (m.value.IsString() &&
                !stchat::storable_text(std::string_view(m.value.GetString(), m.value.GetStringLength()))) {
                std::abort();  // a NUL (or worse) that jsonb would refuse
            }
        }
    }
    return 0;
}
