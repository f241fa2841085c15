#include "stchat/common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace stchat::log {
namespace {
std::atomic<int> g_min_level{static_cast<int>(level::info)};
std::mutex g_write_mutex;

const char* level_name(level lvl) {
    switch (lvl) {
        case level::debug: return "DEBUG";
        case level::info: return "INFO ";
        case level::warn: return "WARN ";
        case level::error: return "ERROR";
    }
    return "?";
}
}  // namespace

bool parse_level(std::string_view text, level& out) {
    if (text == "debug") out = level::debug;
    else if (text == "info") out = level::info;
    else if (text == "warn") out = level::warn;
    else if (text == "error") out = level::error;
    else return false;
    return true;
}

void set_level(level min_level) { g_min_level = static_cast<int>(min_level); }

void write(level lvl, std::string_view component, std::string_view message) {
    if (static_cast<int>(lvl) < g_min_level.load(std::memory_order_relaxed)) return;
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::lock_guard<std::mutex> lock(g_write_mutex);
    std::fprintf(stderr, "%s.%03dZ %s %.*s: %.*s\n", stamp, static_cast<int>(ms % 1000),
                 level_name(lvl), static_cast<int>(component.size()), component.data(),
                 static_cast<int>(message.size()), message.data());
    std::fflush(stderr);
}

}  // namespace stchat::log
