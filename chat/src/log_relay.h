#pragma once
// Private to chat/: the relay, a thread that tails the event log from a position and hands the
// room events it finds, in log order (so each room's in seq order), to the chat's Asio thread.
//
// One batch is in the Asio thread's hands at a time: until it calls the batch's `done` (once the
// writes the batch caused are started), what the relay reads gathers into the next batch, up to 20,000
// events; then it stops reading until `done`. An idle server gets each event at once; a busy one
// gets fewer, larger batches and writes each session once per batch.
//
// /healthz tells the truth about it: "postgres: …" while a read fails, "relay: N events behind
// the log" while it is more than 10,000 events behind, "stall: …" while a read has not come back
// for 15 s.
//
// Example: log positions 1..7 hold room.lobby seqs 1..3 and feed events; start position 4:
//   deliver({lobby seq 2 (position 5), feed.execution seq 9 (position 6)}, done)
//
// Thread-safety: a thread of its own; `deliver` is called there. The destructor stops and joins
// it (within the 500 ms of a wait for appends, or a read's statement timeout).
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "stchat/chat/room_log.h"
#include "stchat/common/metrics.h"
#include "stchat/eventstore/store_config.h"

namespace stchat::chat {

struct log_relay_config {
    eventstore::store_config store;
    int64_t start_position = 0;  // events after this are delivered
    metrics::health_state* health = nullptr;
    metrics::gauge* position = nullptr;  // the last log position read
    metrics::gauge* lag = nullptr;       // events committed, not yet read (0 unless behind)
    // Takes a batch; `done` (any thread, once) lets the next one come.
    std::function<void(std::vector<room_event> batch, std::function<void()> done)> deliver;
};

class log_relay {
public:
    explicit log_relay(log_relay_config config);
    ~log_relay();
    log_relay(const log_relay&) = delete;
    log_relay& operator=(const log_relay&) = delete;

private:
    void loop();
    void set_lag(int64_t lag);
    log_relay_config _config;
    std::atomic<bool> _stop{false};
    std::atomic<bool> _in_hand{false};  // a batch is delivered, its done() not yet called
    bool _behind = false;
    std::thread _thread;
};

}  // namespace stchat::chat
