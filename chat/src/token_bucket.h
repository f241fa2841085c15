#pragma once
// Private to chat/: a token bucket: `rate` actions per second, bursts of `burst`.
//
// Example (rate 20, burst 40): 40 takes in a row succeed, the 41st fails with
// retry_after_ms() == 50; 50 ms later one more succeeds.
//
// Thread-safety: none; each bucket belongs to one session on the Asio thread.
#include <algorithm>
#include <chrono>
#include <cmath>

namespace stchat::chat {

class token_bucket {
public:
    using clock = std::chrono::steady_clock;
    token_bucket(double rate, double burst) : _rate(rate), _burst(burst), _tokens(burst) {}

    bool take(clock::time_point now = clock::now()) {
        refill(now);
        if (_tokens < 1.0) return false;
        _tokens -= 1.0;
        return true;
    }
    // How long until one take succeeds.
    int retry_after_ms() const {
        return _tokens >= 1.0 ? 0 : static_cast<int>(std::ceil((1.0 - _tokens) * 1000 / _rate));
    }

private:
    void refill(clock::time_point now) {
        double secs = std::chrono::duration<double>(now - _refilled).count();
        _refilled = now;
        _tokens = std::min(_burst, _tokens + std::max(0.0, secs) * _rate);
    }
    double _rate, _burst, _tokens;
    clock::time_point _refilled = clock::now();
};

}  // namespace stchat::chat
