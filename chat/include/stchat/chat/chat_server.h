#pragma once
// `stchat chat`: the chat room service over WebSocket (RFC 6455), see docs/protocol.md.
//
// One port serves the web client over HTTP, /healthz, Prometheus /metrics, and WebSocket upgrades
// at "/". A client that
// offers the subprotocol "stchat.v1" speaks v1 (JSON frames with a "type"); one that offers none
// gets the original st-chat behaviour (random name, room "lobby", {"action":"message",...}).
//
// Every join, leave and message is appended to the event log (room_log); a relay tails the log
// and pushes each committed room event to this process's sessions in that room, so several
// `stchat chat` processes on one database serve the same rooms in the same order.
#include <cstdint>
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::chat {

struct chat_config {
    eventstore::store_config store;
    uint16_t port = 8888;
    std::string web_root;          // folder with index.html; empty: no web client
    bool ops_public = false;       // /ops and /ops/data for every client; false: loopback clients only
    size_t max_text = 4000;        // characters of a message's text
    size_t max_frame = 64 * 1024;  // bytes of one WebSocket frame
    int history = 50;              // events replayed on a join without "since"
    // Browsers: pages from localhost, 127.0.0.1, [::1] (any port) and these origins may connect.
    std::vector<std::string> allowed_origins;
    // Host names this server is reached by, besides IP addresses and localhost (DNS rebinding:
    // a request naming another host is refused); each is also an allowed origin's host.
    std::vector<std::string> allowed_hosts;
    int ping_interval_ms = 20000;  // a session quiet this long is pinged
    int idle_timeout_ms = 60000;   // a session quiet this long (no frame, no pong) is closed (1001)
    int hello_timeout_ms = 10000;  // a v1 session without hello this long is closed (1008)
    size_t max_buffered = 1 << 20; // bytes queued for a slow reader before it is closed (1013)
    double sends_per_second = 20;  // sends, joins and leaves per connection; bursts of twice as many
    size_t max_rooms = 100;        // rooms one connection may be in at once
    int rooms_per_minute = 10;     // new rooms one user may create per minute (per process)
    int64_t token_ttl_s = 30 * 24 * 3600;  // how long a welcome's token restores its user
    double pings_per_second = 5;   // client pings per connection, bursts of 20; more: close 1008
    size_t max_key_checks = 256;   // private-room key checks queued at once; more: rate_limited
    // Messages waiting to be stored (Postgres slow or away); more: rate_limited. ~20 s of the
    // bench's default load (1,000 sends/s).
    size_t max_queued_messages = 20000;
    // A chat process that has not renewed its lease (chat_node) this long is dead: another one
    // appends the leaves of its users. Renewed every third of it.
    int node_lease_ms = 15000;
};

// Runs until stop_requested() (SIGINT/SIGTERM). Throws if the port cannot be bound.
void run_chat_server(const chat_config& config);

}  // namespace stchat::chat
