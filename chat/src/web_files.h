#pragma once
// Private to chat/: which request paths the chat port answers with a file of the web client
// (--web), and with which content type. A path maps to a file name of letters, digits and dashes
// with a known extension, straight under the web root: no dots, slashes or encodings get through,
// so nothing outside the folder can be named.
//
// Example:
//   web_file_of("/")                 -> {"index.html", "text/html; charset=utf-8"}
//   web_file_of("/ops")              -> {"ops.html", "text/html; charset=utf-8"}
//   web_file_of("/stchat-client.js") -> {"stchat-client.js", "text/javascript; charset=utf-8"}
//   web_file_of("/favicon.ico")      -> {"favicon.svg", "image/svg+xml"}
//   web_file_of("/../etc/passwd")    -> nullopt
//
// Thread-safety: a pure function.
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace stchat::chat {

inline std::optional<std::pair<std::string, const char*>> web_file_of(std::string_view path) {
    if (path == "/" || path == "/index.html") return std::pair<std::string, const char*>{"index.html", "text/html; charset=utf-8"};
    if (path == "/ops") return std::pair<std::string, const char*>{"ops.html", "text/html; charset=utf-8"};
    if (path == "/favicon.ico") return std::pair<std::string, const char*>{"favicon.svg", "image/svg+xml"};
    if (path.size() < 2 || path.size() > 65 || path[0] != '/') return std::nullopt;
    std::string_view name = path.substr(1);
    auto dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    for (char c : name.substr(0, dot)) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) return std::nullopt;
    }
    static const std::pair<std::string_view, const char*> k_types[] = {
        {"html", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"svg", "image/svg+xml"},
    };
    for (const auto& [ext, type] : k_types) {
        if (name.substr(dot + 1) == ext) return std::pair<std::string, const char*>{std::string(name), type};
    }
    return std::nullopt;
}

}  // namespace stchat::chat
