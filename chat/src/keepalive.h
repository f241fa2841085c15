#pragma once
// Private to chat/: when a session is pinged, and when it is closed for silence. Pure: the chat
// server calls due() for each session on its tick and does what it says.
//
// A session silent for ping_interval is pinged (again every ping_interval while silent). It is
// idle, and closed, only when it has been silent for idle_timeout *and* the first ping it left
// unanswered went out at least `grace` ago (idle_timeout − ping_interval, at least a quarter of
// idle_timeout). So silence the server caused — a server too busy to ping, or stopped — never
// closes anyone: the session is pinged first and has its grace to answer.
//
// Example (ping 20 s, idle 60 s, grace 40 s): the client answers nothing after t=0.
//   t=20 ping   t=40 ping   t=60: silent 60 s but first ping 40 s ago -> ping   t=61 close_idle
//   The server stopped from t=1 to t=100: t=100 ping (not close); t=140 close_idle if no pong.
//
// Thread-safety: none (values only).
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace stchat::chat {

struct keepalive_config {
    int ping_interval_ms = 20000;
    int idle_timeout_ms = 60000;
    int hello_timeout_ms = 10000;
};

// One session's clock.
struct keepalive_state {
    using time_point = std::chrono::steady_clock::time_point;
    explicit keepalive_state(time_point now) : opened(now), last_seen(now), last_ping(now), first_ping(now) {}
    time_point opened;
    time_point last_seen;   // the last frame or pong from the client
    time_point last_ping;   // the last ping sent
    time_point first_ping;  // the first ping since last_seen (unanswered if last_ping > last_seen)
    bool greeted = false;   // said hello (no hello timeout any more)
};

enum class keepalive_action { none, ping, close_no_hello, close_idle };

// What to do with the session now; a ping is recorded in `s` (the caller sends it).
inline keepalive_action keepalive_due(const keepalive_config& c, keepalive_state& s,
                                      std::chrono::steady_clock::time_point now) {
    auto ms = [&](keepalive_state::time_point t) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
    };
    const int64_t grace = std::max(c.idle_timeout_ms - c.ping_interval_ms, c.idle_timeout_ms / 4);
    if (!s.greeted && ms(s.opened) > c.hello_timeout_ms) return keepalive_action::close_no_hello;
    bool unanswered = s.last_ping > s.last_seen;
    if (ms(s.last_seen) > c.idle_timeout_ms && unanswered && ms(s.first_ping) > grace) return keepalive_action::close_idle;
    if (ms(s.last_seen) >= c.ping_interval_ms && ms(s.last_ping) >= c.ping_interval_ms) {
        if (!unanswered) s.first_ping = now;
        s.last_ping = now;
        return keepalive_action::ping;
    }
    return keepalive_action::none;
}

}  // namespace stchat::chat
