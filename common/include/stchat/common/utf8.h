#pragma once
// UTF-8 as Postgres text and jsonb take it: strict RFC 3629 (no overlong forms, no surrogates
// U+D800..U+DFFF, nothing past U+10FFFF) and, for storable_text, no NUL. Every string from
// outside (a feed's protobuf field, a chat frame after JSON unescaping) passes here before it is
// stored, so one bad string never fails a transaction that carries other people's data.
//
// Examples:
//   valid_utf8("caf\xc3\xa9")      -> true
//   valid_utf8("\xed\xb0\x80")     -> false  (U+DC00, what the JSON escape "\udc00" decodes to)
//   valid_utf8("\xc0\xaf")         -> false  (an overlong '/')
//   storable_text({"a\0b", 3})     -> false
//
// Thread-safety: pure functions.
#include <string_view>

namespace stchat {

inline bool valid_utf8(std::string_view s) {
    size_t i = 0, n = s.size();
    auto cont = [&](size_t k) { return k < n && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80; };
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            i += 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (!cont(i + 1)) return false;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (!cont(i + 1) || !cont(i + 2)) return false;
            unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
            if (c == 0xE0 && c1 < 0xA0) return false;   // overlong
            if (c == 0xED && c1 >= 0xA0) return false;  // surrogates
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return false;
            unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
            if (c == 0xF0 && c1 < 0x90) return false;   // overlong
            if (c == 0xF4 && c1 >= 0x90) return false;  // past U+10FFFF
            i += 4;
        } else {
            return false;  // a continuation byte first, 0xC0/0xC1 (overlong) or 0xF5..0xFF
        }
    }
    return true;
}

inline bool storable_text(std::string_view s) {
    return valid_utf8(s) && s.find('\0') == std::string_view::npos;
}

}  // namespace stchat
