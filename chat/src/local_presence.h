#pragma once
// Private to chat/: who is in which room through this process (its node), counted by sessions.
// It decides which joins and leaves this node appends: a join for a user's first connection to
// a room, a leave for the last one (a second tab joins and leaves nothing). And it keeps the
// users of the node this process took over at its start (adopt_earlier_node_of_this_port,
// node_lease.h) until they come back, when nothing is appended (they never left: the room shows
// no "left" and "joined" for a restart), or until the lease is over, when their leaves are due.
//
// Not to be confused with room_presence: that is who the room's events say is in the room, on
// every node; this is this node's own share, which its events are made from.
//
// Example: adopt({{"lobby", "u-al", "alice"}});
//   enter("lobby", {"u-al", "alice"}) -> false  (alice is back: nothing to append)
//   enter("lobby", {"u-bo", "bob"})   -> true   (append bob's join)
//   enter("lobby", {"u-bo", "bob"})   -> false  (bob's second tab)
//   leave("lobby", "u-bo") -> false; leave("lobby", "u-bo") -> true  (append bob's leave)
//   take_not_back() -> {}  (alice came back)
//
// Thread-safety: none; the chat's Asio thread only.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "node_lease.h"
#include "stchat/chat/room_log.h"

namespace stchat::chat {

class local_presence {
public:
    // A connection of `who` entered `room`. True when this node must append the user's join: the
    // user's first connection there, and not a user of the taken-over node coming back.
    bool enter(const std::string& room, const author& who) {
        user& u = _rooms[room][who.uid];
        if (u.connections++ > 0) return false;
        u.name = who.name;
        return !take_adopted(room, who.uid);
    }

    // A connection of `uid` left `room`. True when this node must append the user's leave: it
    // was the user's last connection there. A room nobody is in here is forgotten.
    bool leave(const std::string& room, const std::string& uid) {
        auto r = _rooms.find(room);
        if (r == _rooms.end()) return false;
        auto u = r->second.find(uid);
        if (u == r->second.end() || --u->second.connections > 0) return false;
        r->second.erase(u);
        if (r->second.empty()) _rooms.erase(r);
        return true;
    }

    // The user's name if `uid` is in `room` through this node (as its first connection gave it),
    // else nullptr. Valid until the next enter() or leave().
    const std::string* name_of(const std::string& room, const std::string& uid) const {
        auto r = _rooms.find(room);
        if (r == _rooms.end()) return nullptr;
        auto u = r->second.find(uid);
        return u == r->second.end() ? nullptr : &u->second.name;
    }

    // Up to `limit` names of the users in `room` through this node; *total: all of them.
    std::vector<std::string> names(const std::string& room, size_t limit, size_t* total) const {
        std::vector<std::string> out;
        *total = 0;
        auto r = _rooms.find(room);
        if (r == _rooms.end()) return out;
        *total = r->second.size();
        for (const auto& [uid, u] : r->second) {
            if (out.size() >= limit) break;
            out.push_back(u.name);
        }
        return out;
    }

    // Every (room, user) in a room through this node, e.g. to append their joins again after the
    // node was healed while it was alive.
    std::vector<std::pair<std::string, author>> all() const {
        std::vector<std::pair<std::string, author>> out;
        for (const auto& [room, users] : _rooms) {
            for (const auto& [uid, u] : users) out.push_back({room, {uid, u.name}});
        }
        return out;
    }

    // The users of the node taken over: in their rooms until they come back or are let go.
    void adopt(const std::vector<adopted_member>& members) {
        for (const auto& m : members) _adopted[m.room].emplace(m.uid, m.name);
    }
    bool has_adopted() const { return !_adopted.empty(); }
    // The adopted users not back yet (their leaves are due), forgotten here.
    std::vector<adopted_member> take_not_back() {
        std::vector<adopted_member> out;
        for (const auto& [room, users] : _adopted) {
            for (const auto& [uid, name] : users) out.push_back({room, uid, name});
        }
        _adopted.clear();
        return out;
    }
    // Forgets the adopted users without their leaves: those who come back join like anyone.
    void forget_adopted() { _adopted.clear(); }

private:
    bool take_adopted(const std::string& room, const std::string& uid) {
        auto r = _adopted.find(room);
        if (r == _adopted.end() || r->second.erase(uid) == 0) return false;
        if (r->second.empty()) _adopted.erase(r);
        return true;
    }

    struct user {
        int connections = 0;
        std::string name;  // as the user's first connection in the room gave it
    };
    std::map<std::string, std::map<std::string, user>> _rooms;           // room -> uid -> here
    std::map<std::string, std::map<std::string, std::string>> _adopted;  // room -> uid -> name: not back yet
};

}  // namespace stchat::chat
