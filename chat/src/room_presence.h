#pragma once
// Private to chat/: who is in each room, as the room's join and leave events say, for the rooms
// this process has sessions in. The same on every chat process: it is read from the log once
// (a snapshot as of a log position), then kept current from the relay's events after that
// position. Each chat process (node) appends a join for a user's first connection to a room and a
// leave for the last (or another node appends it when that node dies: docs/protocol.md); a user
// is present while, for some node, the last of those events is a join.
//
// Example: lobby's log: join alice (position 3, node A), join bob (5, A), leave alice (9, A).
//   track("lobby") -> token 1 (read a snapshot); apply(join carol, position 12, node B) is held;
//   seed("lobby", 1, 10, {{"u-bob", "bob", {"A"}}}) -> held events after 10 applied: bob, carol
//   names("lobby") -> {"bob", "carol"}
//
// Thread-safety: none; the chat's Asio thread only.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "stchat/chat/room_log.h"

namespace stchat::chat {

class room_presence {
public:
    // Events held for a room whose snapshot is being read; past it the snapshot is read again.
    static constexpr size_t k_max_held = 10000;

    // One more local session in `room`. Non-zero when the room's snapshot must be read (the
    // first, or the last one failed or overflowed): the caller reads it and calls seed() or
    // failed() with this token; answers to an older read are ignored.
    uint64_t track(const std::string& room) {
        room_state& r = _rooms[room];
        ++r.sessions;
        if (r.state != phase::unknown) return 0;
        r.state = phase::reading;
        r.token = ++_next_token;
        return r.token;
    }

    // One local session fewer; at 0 the room is forgotten.
    void untrack(const std::string& room) {
        auto it = _rooms.find(room);
        if (it == _rooms.end()) return;
        if (--it->second.sessions <= 0) _rooms.erase(it);
    }

    void seed(const std::string& room, uint64_t token, int64_t as_of_position, const std::vector<room_member>& members) {
        auto it = _rooms.find(room);
        if (it == _rooms.end() || it->second.state != phase::reading || it->second.token != token) return;
        room_state& r = it->second;
        r.members.clear();
        for (const auto& m : members) r.members[m.uid] = {{m.nodes.begin(), m.nodes.end()}, m.name};
        r.as_of = as_of_position;
        r.state = phase::known;
        auto held = std::move(r.held);
        r.held.clear();
        for (const auto& e : held) apply(e);
    }

    // The snapshot could not be read: the next track() asks again.
    void failed(const std::string& room, uint64_t token) {
        auto it = _rooms.find(room);
        if (it != _rooms.end() && it->second.state == phase::reading && it->second.token == token) {
            it->second.state = phase::unknown;
            it->second.held.clear();
        }
    }

    // A room event from the relay (any kind; joins and leaves of tracked rooms count).
    void apply(const room_event& e) {
        if (e.kind != "join" && e.kind != "leave") return;
        auto it = _rooms.find(e.room);
        if (it == _rooms.end()) return;
        room_state& r = it->second;
        if (r.state == phase::reading) {
            if (r.held.size() < k_max_held) r.held.push_back(e);
            else r.state = phase::unknown, r.held.clear();  // too much at once: read it again
            return;
        }
        if (r.state != phase::known || e.position <= r.as_of) return;
        r.as_of = e.position;
        auto& m = r.members[e.uid];
        if (e.kind == "join") {
            m.nodes.insert(e.node);
            m.name = e.user;
        } else {
            m.nodes.erase(e.node);
        }
        if (m.nodes.empty()) r.members.erase(e.uid);
    }

    bool known(const std::string& room) const {
        auto it = _rooms.find(room);
        return it != _rooms.end() && it->second.state == phase::known;
    }

    // The names of at most `max` present users (in uid order); *total: how many are present.
    std::vector<std::string> names(const std::string& room, size_t max, size_t* total) const {
        std::vector<std::string> out;
        *total = 0;
        auto it = _rooms.find(room);
        if (it == _rooms.end() || it->second.state != phase::known) return out;
        *total = it->second.members.size();
        for (const auto& [uid, m] : it->second.members) {
            if (out.size() >= max) break;
            out.push_back(m.name);
        }
        return out;
    }

    bool present(const std::string& room, const std::string& uid) const {
        auto it = _rooms.find(room);
        return it != _rooms.end() && it->second.members.count(uid) > 0;
    }

    size_t rooms() const { return _rooms.size(); }

private:
    enum class phase { unknown, reading, known };
    struct member_state {
        std::set<std::string> nodes;  // whose last event for this user is a join
        std::string name;
    };
    struct room_state {
        int sessions = 0;
        phase state = phase::unknown;
        int64_t as_of = 0;
        uint64_t token = 0;  // of the snapshot read in flight
        std::map<std::string, member_state> members;
        std::vector<room_event> held;
    };
    std::map<std::string, room_state> _rooms;
    uint64_t _next_token = 0;
};

}  // namespace stchat::chat
