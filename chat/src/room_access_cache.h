#pragma once
// Private to chat/: what a join needs to know of a room before it goes ahead (does it have
// events, is it private and with which key), read once per room instead of once per join.
//
// A room that has events keeps its key record for good (a room becomes private only on its first
// join, and no key is ever changed), so its access is remembered. A room without events is asked
// again next time. While a room's check is in flight, later joins of the room wait for its answer
// instead of asking again: a reconnect storm of 10,000 joins to 100 rooms reads 100 rows.
//
// Example:
//   cache.find("lobby")          -> nullptr (unknown)
//   cache.wait("lobby", w1)      -> true: the caller starts the check
//   cache.wait("lobby", w2)      -> false: w2 waits for that check
//   cache.done("lobby", access)  -> w1(access), w2(access); remembered if access->has_events
//   cache.find("lobby")          -> &access
//
// Thread-safety: none; the chat's Asio thread only.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "stchat/chat/room_log.h"

namespace stchat::chat {

class room_access_cache {
public:
    // nullopt: the check failed.
    using waiter = std::function<void(const std::optional<room_access>&)>;

    // At most `max_rooms` remembered; past that the memory starts over (one read per room again).
    explicit room_access_cache(size_t max_rooms) : _max_rooms(max_rooms) {}

    const room_access* find(const std::string& room) const {
        auto it = _known.find(room);
        return it == _known.end() ? nullptr : &it->second;
    }

    // Queues `w` for the room's answer; true when no check of the room is in flight: the caller
    // starts one and calls done().
    bool wait(const std::string& room, waiter w) {
        auto& waiting = _waiting[room];
        waiting.push_back(std::move(w));
        return waiting.size() == 1;
    }

    void done(const std::string& room, const std::optional<room_access>& access) {
        if (access && access->has_events) {
            if (_known.size() >= _max_rooms) _known.clear();
            _known[room] = *access;
        }
        auto it = _waiting.find(room);
        if (it == _waiting.end()) return;
        auto waiting = std::move(it->second);
        _waiting.erase(it);
        for (auto& w : waiting) w(access);
    }

    size_t known() const { return _known.size(); }
    size_t checks_in_flight() const { return _waiting.size(); }

private:
    size_t _max_rooms;
    std::map<std::string, room_access> _known;
    std::map<std::string, std::vector<waiter>> _waiting;
};

}  // namespace stchat::chat
