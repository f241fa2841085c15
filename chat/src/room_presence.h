#pragma once
// Private to chat/: who is in each room, as the room's join and leave events say, for the rooms
// this process has sessions in. The same on every chat process: it is read from the log once
// (a snapshot: each user's joins minus leaves, as of a log position), then kept current from the
// relay's events after that position. A user is present while their count is above 0 (one join
// per chat process they are connected through, one leave when the last of those connections
// goes, or the heal of a dead process: docs/protocol.md).
//
// Example: lobby's log: join alice (position 3), join bob (5), leave alice (9).
//   track("lobby") -> true (read a snapshot); apply(join carol, position 12) is held;
//   seed("lobby", 10, {{"u-bob", "bob", 1}}) -> held events after 10 applied: bob, carol
//   names("lobby") -> {"bob", "carol"}
//
// Thread-safety: none; the chat's Asio thread only.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stchat/chat/room_log.h"

namespace stchat::chat {

class room_presence {
public:
    // Events held for a room whose snapshot is being read; past it the snapshot is read again.
    static constexpr size_t k_max_held = 10000;

    // One more local session in `room`. True when the room's snapshot must be read (the first,
    // or the last one failed or overflowed): the caller reads it and calls seed() or failed().
    bool track(const std::string& room) {
        room_state& r = _rooms[room];
        ++r.sessions;
        if (r.state != phase::unknown) return false;
        r.state = phase::reading;
        return true;
    }

    // One local session fewer; at 0 the room is forgotten.
    void untrack(const std::string& room) {
        auto it = _rooms.find(room);
        if (it == _rooms.end()) return;
        if (--it->second.sessions <= 0) _rooms.erase(it);
    }

    void seed(const std::string& room, int64_t as_of_position, const std::vector<room_member>& members) {
        auto it = _rooms.find(room);
        if (it == _rooms.end() || it->second.state != phase::reading) return;
        room_state& r = it->second;
        r.members.clear();
        for (const auto& m : members) r.members[m.uid] = {m.connections, m.name};
        r.as_of = as_of_position;
        r.state = phase::known;
        auto held = std::move(r.held);
        r.held.clear();
        for (const auto& e : held) apply(e);
    }

    // The snapshot could not be read: the next track() asks again.
    void failed(const std::string& room) {
        auto it = _rooms.find(room);
        if (it != _rooms.end() && it->second.state == phase::reading) {
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
        m.connections += e.kind == "join" ? 1 : -1;
        if (e.kind == "join") m.name = e.user;
        if (m.connections <= 0) r.members.erase(e.uid);
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
        int connections = 0;
        std::string name;
    };
    struct room_state {
        int sessions = 0;
        phase state = phase::unknown;
        int64_t as_of = 0;
        std::map<std::string, member_state> members;
        std::vector<room_event> held;
    };
    std::map<std::string, room_state> _rooms;
};

}  // namespace stchat::chat
