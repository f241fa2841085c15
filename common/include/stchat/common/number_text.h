#pragma once
// Numbers as people read them, the same way in every command's output and log line.
//   thousands(1234567)        -> "1,234,567"
//   seconds_text(1690.524)    -> "1,690.5 s"
//   utc_text(1795986285835816903 ns) -> "2026-11-29 23:04:45 UTC"
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace stchat {

inline std::string thousands(int64_t n) {
    std::string s = std::to_string(n < 0 ? -n : n), out = n < 0 ? "-" : "";
    for (size_t i = 0; i < s.size(); ++i) {
        if (i > 0 && (s.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(s[i]);
    }
    return out;
}

inline std::string seconds_text(double seconds) {
    char frac[8];
    double whole = static_cast<double>(static_cast<int64_t>(seconds));
    std::snprintf(frac, sizeof frac, "%.1f", seconds - whole);  // "0.5" (or "1.0" when it rounds up)
    int64_t w = static_cast<int64_t>(whole) + (frac[0] == '1' ? 1 : 0);
    return thousands(w) + "." + frac[2] + " s";
}

inline std::string utc_text(int64_t unix_ns) {
    std::time_t t = static_cast<std::time_t>(unix_ns / 1000000000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

}  // namespace stchat
