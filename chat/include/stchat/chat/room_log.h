#pragma once
// Chat rooms in the event log. Every join, leave and message is a log event in stream
// "room.<name>", so a room's sequence number is the stream's: 1, 2, 3 ... with no gap, the same
// for every reader, and a client that saw seq N resumes with read(room, N, ...).
//
// Storage exactly once: a message is appended with inbox key ("chat:<uid>", <client id>); a
// resend of the same id by the same user appends nothing and returns the first seq.
//
// Example: an empty room "lobby".
//   join(lobby, alice, "j-1")                  -> seq 1
//   send_batch({lobby, alice, "m-1", "hi"})    -> seq 2
//   send_batch({lobby, alice, "m-1", "hi"})    -> seq 2, duplicate
//   read("lobby", 1, 50)                       -> the message at seq 2
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/store_config.h"

namespace stchat::chat {

// ^[a-z0-9][a-z0-9._-]{0,63}$
bool valid_room_name(std::string_view room);

// The read-only feed rooms "feed.sport_event" and "feed.execution": their events are the
// catalogued feed messages (the log streams of the same name), seq = the stream's sequence.
bool is_feed_room(std::string_view room);

// The log stream behind a room: "room.<name>" for chat rooms, the feed stream for feed rooms.
std::string stream_of_room(const std::string& room);

// Who did it: always the session's user, never a field of a client's frame.
struct author {
    std::string uid;
    std::string name;
};

struct room_event {
    std::string room;
    int64_t seq = 0;
    std::string kind;  // "join" | "leave" | "message", or in feed rooms "sport_event" | "execution"
    std::string user;
    std::string uid;
    std::string id;    // the client's message id (messages only)
    std::string text;  // messages only
    std::string data_json;  // feed rooms: the decoded feed message, a JSON object
    std::string node;       // joins and leaves: the chat process that appended it ("" if none)
    // leaves healed for a dead process while the user was still in the room through another
    // process: the dead process's part ends, the user stays (docs/protocol.md, Presence)
    bool still_here = false;
    int64_t ts_us = 0; // when it was recorded, microseconds since the epoch
    int64_t position = 0;
};

// The room event a log event stands for: chat events of "room.<name>" streams and feed messages of
// the feed streams; nullopt for anything else. One conversion for replays and the live relay.
std::optional<room_event> room_event_of(const eventstore::recorded_event& e);

// What a session appends to a room: a message, or its join or leave.
enum class append_kind { message, join, leave };

struct send_request {
    std::string room;
    author from;
    std::string client_id;  // message: 1-64 chars, unique per user; join/leave: the request id
    std::string text;       // messages only
    append_kind kind = append_kind::message;
};

struct room_ack;

// The room event a committed send is, as room_event_of would read it back from the log (`node`:
// the appending process's, as given to room_log), so the writer can deliver it at once.
// Example: own_event({"lobby", {"u1", "ann"}, "m-1", "hi"}, {seq 7, …, position 90, ts_us T}, "")
//   -> {room "lobby", seq 7, kind "message", user "ann", uid "u1", id "m-1", text "hi",
//       ts_us T, position 90}
room_event own_event(const send_request& s, const room_ack& ack, const std::string& node);

// A replay's read: the events of `room` after `after_seq`, or with from_head the last
// `after_seq` events (0: none, only the head).
struct room_read {
    std::string room;
    int64_t after_seq = 0;
    bool from_head = false;
    bool with_members = false;  // also who is in the room (db_worker: room_page::members)
};

// A user present in a room: present through each chat process (node) whose last join or leave
// of them in the room is a join.
struct room_member {
    std::string uid;
    std::string name;                // as their last join gave it
    std::vector<std::string> nodes;  // "" for events appended without a node
};

// Who is in a room, as of a log position (everything at or below it counted, nothing above).
struct room_members {
    int64_t as_of_position = 0;
    std::vector<room_member> members;  // uid order
};

struct room_page {
    int64_t head = 0;  // the room's last seq when it was read
    // Never null; shared by the identical reads of one read_many.
    std::shared_ptr<const std::vector<room_event>> events;
    // Who is in the room, when the read asked (with_members) and it could be read.
    std::shared_ptr<const room_members> members;
};

// A private room's stored key; `kind` is empty for a room that is not private.
struct room_key {
    std::string kind;      // "argon2id" | "sha256" (rooms made before argon2id)
    std::string phc;       // argon2id: the PHC string "$argon2id$v=19$m=…"
    std::string salt;      // sha256: raw bytes
    std::string key_hash;  // sha256: raw bytes of SHA-256(salt || key)
};

struct room_access {
    bool has_events = false;  // false: a join would create the room
    room_key key;
};

struct room_ack {
    int64_t seq = 0;
    bool duplicate = false;
    bool other_room = false;  // a duplicate whose id this user already used in another room
    int64_t position = 0;     // new events: where in the log, and when recorded (what the relay
    int64_t ts_us = 0;        // would read back), so the writer can deliver them itself
};

class room_log {
public:
    // `node`: the chat process appending (its lease in chat_node), put in the metadata of its
    // joins and leaves so that another process can close them if it dies
    // (migrations/functions/heal_chat_node.sql); "" for none.
    explicit room_log(const eventstore::store_config& config, std::string node = "");
    ~room_log();
    room_log(const room_log&) = delete;
    room_log& operator=(const room_log&) = delete;

    // Group commit: all the sends, joins and leaves in one transaction, in this order; acks in
    // the same order. A join or leave's request id makes its retry idempotent.
    std::vector<room_ack> send_batch(const std::vector<send_request>& sends);

    // One join or leave in its own transaction. `request_id` makes a retried join or leave
    // idempotent (e.g. "<session id>:<n>").
    room_ack join(const std::string& room, const author& who, const std::string& request_id);
    room_ack leave(const std::string& room, const author& who, const std::string& request_id);

    // Private rooms. A key given on the first join of a room without events makes it private;
    // a private room then needs the same key. Keys are hashed and checked by the caller (slowly,
    // off this connection's thread: chat/src/room_keys.h); here they are only read and claimed.
    // Feed rooms are open to all and have no key.
    room_access access(const std::string& room);
    // Makes `room` private with the key hash `phc` (argon2id) if it has no events and no key yet;
    // returns the room's key as it is now (kind empty: the room got events meanwhile, it is open).
    room_key claim_private(const std::string& room, const std::string& phc);

    // Ends the memberships (rooms[i], uids[i]) that `node` still holds (functions/
    // close_chat_memberships.sql: a leave each, marked still_here for a user in the room through
    // another node); returns the leaves appended. Idempotent.
    int close_memberships(const std::string& node, const std::vector<std::string>& rooms,
                          const std::vector<std::string>& uids);

    // The room's last seq (0 for a room without events).
    int64_t head(const std::string& room);

    // Events of `room` with seq > since_seq, in seq order, at most max_events.
    std::vector<room_event> read(const std::string& room, int64_t since_seq, int max_events);

    // Who is in each of `rooms` (chat rooms; feed rooms have nobody), in one statement: one
    // snapshot, one as_of_position for all. out[i] answers rooms[i].
    // Example: lobby's log: join alice (3, node A), join bob (5, A), leave alice (9, A), head 12:
    //   members_of({"lobby"}) -> {as_of 12, {{"u-bob", "bob", {"A"}}}}
    std::vector<room_members> members_of(const std::vector<std::string>& rooms);

    // Many reads in one read transaction (a burst of joins); out[i] answers reads[i].
    // Example: lobby at seq 57: read_many({{"lobby", 50}, {"lobby", 2, true}}, 100)
    //   -> {head 57, seqs 51..57}, {head 57, seqs 56..57}
    std::vector<room_page> read_many(const std::vector<room_read>& reads, int max_events);

private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

}  // namespace stchat::chat
