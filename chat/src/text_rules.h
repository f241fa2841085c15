#pragma once
// Private to chat/: what a string from a client must be before anything stores or shows it.
// Every check here is on bytes as they came (JSON escapes already decoded), so a string that
// passes is one Postgres accepts (valid UTF-8, no NUL) and, for names, one a reader cannot be
// fooled by (no controls, no bidi overrides, no invisible characters).
//
// Examples:
//   text_problem("x\xed\xb0\x80y")     -> "text must be valid UTF-8 without surrogates"
//                                      (the lone surrogate U+DC00, as "\udc00" decodes)
//   name_problem("eve")                -> nullptr
//   name_problem("ev\u202ee")          -> "a name may not hold control, bidi or invisible characters"
//   text_problem(std::string("a\0b",3)) -> "text holds a NUL character"
//
// Thread-safety: pure functions.
#include <cstddef>
#include <string>
#include <string_view>

#include "stchat/common/utf8.h"

namespace stchat::chat {

// Characters (code points) of a valid UTF-8 string.
size_t utf8_length(std::string_view s);

// Without leading and trailing ASCII whitespace.
std::string trim(std::string_view s);

// Why this trimmed name cannot be used, or nullptr: 1-32 characters, valid UTF-8, no C0/C1
// control, no bidi control (U+061C, U+200E-F, U+202A-E, U+2066-9), no zero-width or invisible
// format character (U+00AD, U+180E, U+200B-D, U+2060-4, U+FEFF), no private-use or noncharacter.
const char* name_problem(std::string_view name, size_t max_chars = 32);

// Why a message text cannot be stored, or nullptr: valid UTF-8 and no NUL. (Newlines and tabs are
// a message's own business; the length limit is the server's option, checked by the caller.)
const char* text_problem(std::string_view text);

// Why a client's message id cannot be used, or nullptr: 1-64 bytes of valid UTF-8 without controls.
const char* id_problem(std::string_view id);

}  // namespace stchat::chat
