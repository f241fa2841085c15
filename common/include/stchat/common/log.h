#pragma once
// One log line per state change, never per message:
//   2026-11-28T13:50:00.123Z INFO  ingest: connected to nats://127.0.0.1:4222
#include <string_view>

namespace stchat::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

// Parses "debug", "info", "warn" or "error"; returns false on anything else.
bool parse_level(std::string_view text, level& out);
void set_level(level min_level);

void write(level lvl, std::string_view component, std::string_view message);

inline void debug(std::string_view c, std::string_view m) { write(level::debug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(level::info, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(level::warn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(level::error, c, m); }

}  // namespace stchat::log
