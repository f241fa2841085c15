#include "text_rules.h"

#include <cstdint>

#include "stchat/common/utf8.h"

namespace stchat::chat {
namespace {

// Decodes the code point at s[i] of a string already known to be valid UTF-8; advances i.
uint32_t next_code_point(std::string_view s, size_t& i) {
    auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(s[k])); };
    uint32_t c = b(i);
    if (c < 0x80) {
        i += 1;
        return c;
    }
    if (c < 0xE0) {
        uint32_t cp = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F);
        i += 2;
        return cp;
    }
    if (c < 0xF0) {
        uint32_t cp = ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
        i += 3;
        return cp;
    }
    uint32_t cp = ((c & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) | ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
    i += 4;
    return cp;
}

using stchat::valid_utf8;

bool control(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// Characters that change how the text around them is shown, or show as nothing.
bool deceptive(uint32_t cp) {
    return cp == 0x00AD || cp == 0x034F || cp == 0x061C || cp == 0x115F || cp == 0x1160 ||
           cp == 0x17B4 || cp == 0x17B5 || cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0x3164 ||
           cp == 0xFEFF || cp == 0xFFA0 ||
           (cp >= 0xFFF0 && cp <= 0xFFFF) || (cp >= 0xE0000 && cp <= 0xE0FFF) ||
           (cp >= 0xE000 && cp <= 0xF8FF) || (cp >= 0xF0000) || (cp >= 0xFDD0 && cp <= 0xFDEF) ||
           (cp & 0xFFFE) == 0xFFFE;
}

}  // namespace

size_t utf8_length(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string trim(std::string_view s) {
    size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
    return a == std::string_view::npos ? std::string() : std::string(s.substr(a, b - a + 1));
}

const char* name_problem(std::string_view name, size_t max_chars) {
    if (!valid_utf8(name)) return "a name must be valid UTF-8 without surrogates";
    size_t n = utf8_length(name);
    if (n < 1 || n > max_chars) return "a name is 1-32 characters";
    for (size_t i = 0; i < name.size();) {
        uint32_t cp = next_code_point(name, i);
        if (control(cp) || deceptive(cp)) {
            return "a name may not hold control, bidi or invisible characters";
        }
    }
    return nullptr;
}

const char* text_problem(std::string_view text) {
    if (!valid_utf8(text)) return "text must be valid UTF-8 without surrogates";
    if (text.find('\0') != std::string_view::npos) return "text holds a NUL character";
    return nullptr;
}

const char* id_problem(std::string_view id) {
    if (id.empty() || id.size() > 64) return "'id' is 1-64 bytes";
    if (!valid_utf8(id)) return "'id' must be valid UTF-8 without surrogates";
    for (size_t i = 0; i < id.size();) {
        if (control(next_code_point(id, i))) return "'id' may not hold control characters";
    }
    return nullptr;
}

}  // namespace stchat::chat
