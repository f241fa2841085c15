#pragma once
// Microseconds since the epoch as ISO 8601 UTC ("2026-11-28T05:50:00.123456Z"), the date part
// cached per second: replay formats hundreds of thousands of times a second.
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>

namespace stchat {

class time_text {
public:
    const std::string& iso(int64_t us) {
        int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
        int micros = static_cast<int>(us - secs * 1000000);
        if (secs != _secs) {
            std::time_t t = static_cast<std::time_t>(secs);
            std::tm tm{};
            gmtime_r(&t, &tm);
            char buf[32];
            std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.", &tm);
            _prefix = buf;
            _secs = secs;
        }
        char frac[16];
        std::snprintf(frac, sizeof frac, "%06dZ", micros);
        _out = _prefix;
        _out += frac;
        return _out;
    }

private:
    int64_t _secs = INT64_MIN;
    std::string _prefix, _out;
};

}  // namespace stchat
