#pragma once
// Private to chat/: a join's replay, the hand-over from the room's past to its live events.
//
// The session is registered for live events first (room_fanout: they wait in its
// session_room::pending), then its replay runs page by page: each page comes from the room's
// recent events this process remembers (room_fanout::recent) when they reach back far enough,
// else it is read on the reader thread, batched with the other sessions' reads (db_worker). The
// next page is read only once the client has taken most of what was sent, so a client that joins
// with since=0 in a long room is fed at its own pace, never closed as slow, and the server never
// holds the whole history in memory. After the last page the pending live events with a higher
// seq follow. Each event is delivered once: seq > session_room::last_seq.
//
// Example: lobby holds seqs 1..450; a session joins with since 10 (k_read_page 200):
//   start(c, {"lobby", 10}) -> page 11..210 read, on_joined(c, 450), 11..210 sent in one write
//   client drains below max_buffered/4 -> page 211..410, then 411..450 (short: the last one)
//   live events 451, 452 that came meanwhile (pending) follow; replaying ends.
//
// Thread-safety: start() on the Asio thread; failed() from any thread. Every callback runs on
// the Asio thread. The reader (db_worker) must outlive the replays' reads (chat_server stops it
// before this is destroyed: a dropped read never calls back).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "db_worker.h"
#include "frame_cache.h"
#include "room_fanout.h"
#include "room_presence.h"
#include "stchat/common/metrics.h"

namespace stchat::chat {

// Where one session's replay of one room is.
struct replay_cursor {
    websocketpp::connection_hdl h;
    std::string room;
    uint64_t generation = 0;      // the join this replay belongs to (a later join starts its own)
    int64_t after = 0;            // seq the next page starts after
    int64_t head = 0;             // the room's head when the join was read
    bool first = true;            // the first page: it fixes `after` and `head`
    uint64_t presence_token = 0;  // non-zero: the first read also reads who is in the room
};

// What a replay needs of its session; valid during the callback's step only.
struct replay_session {
    frame_sink* out = nullptr;
    bool legacy = false;
    session_room* state = nullptr;
};

struct room_replay_config {
    db_worker* reader = nullptr;
    room_fanout* fanout = nullptr;
    room_presence* presence = nullptr;  // who is in the room: seeded by a first read with_members
    frame_cache* frames = nullptr;
    size_t max_buffered = 1 << 20;      // session_output's bound: pages keep under half of it
    metrics::counter* from_memory = nullptr;
    // The session of `c`, if it is still there in the same join of the room; else false.
    std::function<bool(const replay_cursor& c, replay_session* out)> find;
    // The join's database work failed; the session is still there (the caller makes it leave
    // the room and tells the client to join again).
    std::function<void(const replay_cursor& c)> on_failed;
    // The first page is in, before it is sent: the client is told it has joined, at `head`.
    std::function<void(const replay_cursor& c, int64_t head)> on_joined;
};

class room_replay {
public:
    room_replay(room_replay_config config, asio::io_context& io) : _config(std::move(config)), _io(io) {}

    // Starts (or continues, c.first false) the replay of `c` with the page `r` describes.
    void start(replay_cursor c, const room_read& r);
    // The join's database work failed before its replay could start.
    void failed(const replay_cursor& c);

private:
    void read(replay_cursor c, room_read r);
    void page(replay_cursor c, const std::vector<room_event>& events);
    void next_page(replay_cursor c);

    room_replay_config _config;
    asio::io_context& _io;
};

}  // namespace stchat::chat
