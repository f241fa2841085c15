#pragma once
// `stchat bench broadcast-server`: the baseline of `stchat bench chat`. It speaks the same
// stchat.v1 frames (hello, join, send -> event) and frames each event once like the chat server,
// but keeps nothing: no log, no inbox, no ack, no replay. What the chat server does beyond it is
// the price of durability and exactly-once.
#include <cstdint>

namespace stchat::chat {

struct broadcast_config {
    uint16_t port = 8890;
};

// Runs until stop_requested() (SIGINT/SIGTERM).
void run_broadcast_server(const broadcast_config& config);

}  // namespace stchat::chat
