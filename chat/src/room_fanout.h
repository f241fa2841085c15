#pragma once
// Private to chat/: room events -> the sessions of this process in their rooms, each event to
// each session once and in seq order.
//
// Events come two ways: the relay's batches (every event of the log, in log order: other
// processes' events, the feeds, and this process's own) and the writer's commits (this
// process's own events, fanned out at once when each is the next seq of its room here, without
// waiting for the relay's read). `fanned` keeps each room's last seq fanned out, so whichever
// way an event comes first wins and the other skips it.
//
// A session that joined is registered at once, but its replay (read from the database) comes
// later: until then it is `replaying` and live events wait in its `pending` (bounded: past
// k_max_pending it is closed to resume by `since`). A live session that has seen none of a
// room's events of one batch gets them as one message of several frames, built once per room
// and shared by every member (one write instead of one per event).
//
// Example: lobby fanned out to seq 41, alice live, bob replaying.
//   own({lobby 42})              -> alice gets 42 now; bob's pending: 42
//   own({lobby 44})              -> waits: 43 (another process's) is not fanned out yet
//   relayed({lobby 42, 43, 44})  -> 42 skipped; alice gets 43 and 44 as one message
//
// Thread-safety: none; the chat's Asio thread only.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "room_presence.h"
#include "session_output.h"
#include "stchat/chat/room_log.h"

namespace stchat::chat {

// A session's place in one room.
struct session_room {
    uint64_t generation = 0;  // which join of the session this state belongs to
    int64_t last_seq = 0;     // the last seq delivered to this session
    bool replaying = true;    // live events wait in `pending` until the replay is delivered
    std::vector<room_event> pending;
};

// A session as the fan-out sees it. The pointers stay valid while it is registered.
struct fanout_member {
    frame_sink* out;
    bool legacy;
    session_room* state;
};

// A room event's frames, built on first use and shared by every session they go to.
struct event_frames {
    const room_event& event;
    server_t::message_ptr v1, legacy;
};

// One event to one session, if above its last seq (replay and live overlap).
void deliver(const fanout_member& m, event_frames& frames);

struct room_fanout_config {
    size_t max_pending = 10000;             // live events kept for one session while its replay runs
    room_presence* presence = nullptr;      // told every event fanned out (may be null)
    metrics::counter* from_writer = nullptr;
    metrics::counter* from_relay = nullptr;
    // Joins and leaves alone are held back (hold_max 0: never), so that a burst of them reaches
    // each member in one write; a room's next message takes them along at once. How long: as
    // long as the last flush's writes would take at ~20 µs each, ×10 (flushes then cost at most
    // a tenth of the Asio thread), between hold_min and hold_max. on_hold(delay) is called when
    // the first is held: flush_held() is then due after `delay`.
    // Example: 20 members here -> 100 ms (hold_min); a storm, 5,000 members written to by the
    //   last flush -> 1 s (hold_max).
    std::chrono::milliseconds hold_min{0}, hold_max{0};
    std::function<void(std::chrono::milliseconds)> on_hold;
};

class room_fanout {
public:
    explicit room_fanout(room_fanout_config config) : _config(config) {}

    // `session` (a number unique to it) is in `room` now / no more.
    void add(const std::string& room, uint64_t session, fanout_member member);
    void remove(const std::string& room, uint64_t session);

    // The relay's batch, in log order.
    void relayed(const std::vector<room_event>& batch);
    // Events this process appended, once their commit is acknowledged.
    void own(const std::vector<room_event>& events);

    // Fans out the joins and leaves held back.
    void flush_held();

    // ---- replays from memory ----
    // The last events of each room that has members here (up to k_recent_per_room, consecutive
    // seqs reaching at least the last one fanned out): a join whose replay they cover is
    // answered from here, not read from the database. In a reconnect storm the first join of a
    // room reads (and teaches this its page, learn()); the room's other members replay from
    // memory. Complete because the session is registered first: whatever is fanned out after
    // this answer reaches it live.
    // Example: lobby remembered 41..90, fanned out to 90.
    //   recent({"lobby", 40})  -> 41..90, head 90;   recent({"lobby", 20}) -> nullopt (read it)
    //   recent({"lobby", 10, from_head}) -> 81..90, head 90
    static constexpr size_t k_recent_per_room = 256;
    static constexpr size_t k_recent_total = 200000;  // past it every room's memory is dropped
    struct recent_page {
        std::vector<room_event> events;  // at most `limit`
        int64_t head = 0;                // the room's last seq this process knows
    };
    std::optional<recent_page> recent(const room_read& r, size_t limit) const;
    // A page read from the database: the events after `after` up to `head` (complete), kept
    // when they join up with what is remembered (or nothing is). Only the read of a session
    // that is in the room (registered before it read) may teach: a read whose session left
    // may be older than events fanned out to nobody meanwhile.
    void learn(const std::string& room, int64_t after, const std::vector<room_event>& page, int64_t head);

    // Rooms nobody here is in forget their last seq: the relay sets it again with their next
    // event (the writer's events wait for that).
    void forget_empty_rooms();

    size_t rooms() const { return _members.size(); }

private:
    // Returns the writes it made.
    size_t fan_out(const std::vector<const room_event*>& events, bool flushing = false);
    void remember(const room_event& e);
    std::chrono::milliseconds next_hold() const;

    room_fanout_config _config;
    std::unordered_map<std::string, std::map<uint64_t, fanout_member>> _members;  // room -> its sessions here
    std::unordered_map<std::string, int64_t> _fanned;  // room -> last seq fanned out here
    std::unordered_map<std::string, std::vector<room_event>> _held;  // room -> its joins and leaves held back
    size_t _held_count = 0;
    size_t _last_flush_writes = 0;
    std::unordered_map<std::string, std::deque<room_event>> _recent;  // room -> its last events
    size_t _recent_total = 0;
};

}  // namespace stchat::chat
