// Fuzzes what a client's text frame goes through before any session state: the v1 codec (JSON
// depth check, parse, every field's validation) and the legacy decoder. Invariants checked:
// a decoded request's strings are storable (valid UTF-8, no NUL) and within their limits, and
// every refusal has a code the protocol documents.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "../src/protocol_codec.h"
#include "../src/text_rules.h"

using namespace stchat::chat;

namespace {
void check(bool ok) {
    if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::set<std::string> codes = {"bad_json", "bad_frame", "unknown_type", "bad_name",
                                                "bad_room", "read_only", "too_large"};
    std::string_view payload(reinterpret_cast<const char*>(data), size);
    codec_limits limits;
    decoded d = decode_v1(payload, limits);
    if (d.req) {
        const request& r = *d.req;
        check(stchat::storable_text(r.room) && stchat::storable_text(r.id) && stchat::storable_text(r.text));
        check(!r.name || name_problem(*r.name) == nullptr);
        check(utf8_length(r.text) <= limits.max_text);
        check(r.key.size() <= limits.max_key);
        if (r.type == request::kind::send) check(id_problem(r.id) == nullptr && valid_room_name(r.room));
        if (r.type == request::kind::join || r.type == request::kind::leave) check(valid_room_name(r.room));
        check(!r.since || *r.since >= 0);
    } else {
        check(codes.count(d.error.code) == 1);
        // Whatever is echoed back must be safe to put in a text frame.
        check(stchat::storable_text(d.error.ref) && stchat::valid_utf8(d.error.message));
        std::string frame = error_frame(d.error.code, d.error.message, d.error.ref);
        check(stchat::valid_utf8(frame));
    }
    decode_legacy(payload, limits);
    return 0;
}
