#include "join_gate.h"

#include <asio/post.hpp>

#include "room_keys.h"
#include "stchat/common/log.h"

namespace stchat::chat {
namespace {
constexpr const char* k_component = "chat";
using steady = std::chrono::steady_clock;
}  // namespace

void join_gate::check(const std::string& uid, const std::string& room, const std::string& key,
                      std::function<bool()> alive, decided done) {
    auto then = [this, uid, room, key, alive = std::move(alive), done = std::move(done)](
                    const std::optional<room_access>& access) {
        if (alive()) after_access(uid, room, key, access, done);
    };
    if (const room_access* known = _access.find(room)) {
        asio::post(_io, [then, access = *known] { then(access); });
        return;
    }
    if (!_access.wait(room, then)) return;  // a check of this room is in flight: its answer comes
    _writer.post([this, room](room_log& rooms) {
        std::optional<room_access> access;
        try {
            access = rooms.access(room);
        } catch (const std::exception& e) {
            log::error(k_component, std::string("access check failed: ") + e.what());
        }
        asio::post(_io, [this, room, access] { _access.done(room, access); });
    });
}

void join_gate::answer(const decided& done, access_result result) {
    asio::post(_io, [done, result] { done(result, 0); });
}

void join_gate::after_access(const std::string& uid, const std::string& room, const std::string& key,
                             const std::optional<room_access>& access, const decided& done) {
    if (!access) return done(access_result::failed, 0);
    if (!access->has_events && !is_feed_room(room)) {
        if (int wait_ms = room_quota_wait(uid); wait_ms > 0) return done(access_result::room_quota, wait_ms);
    }
    const room_key& stored = access->key;
    if (!stored.kind.empty() && key.empty()) return done(access_result::forbidden, 0);
    if (stored.kind.empty() && (key.empty() || access->has_events || is_feed_room(room))) {
        return done(access_result::ok, 0);  // an open room (a key is ignored)
    }
    if (_keys.queued() >= _config.max_key_checks) return done(access_result::busy, 0);
    if (_config.key_checks_queued) _config.key_checks_queued->add(1);
    if (!stored.kind.empty()) {
        _keys.post([this, key, stored, done] {
            bool ok = key_matches(stored, key);
            if (_config.key_checks_queued) _config.key_checks_queued->add(-1);
            answer(done, ok ? access_result::ok : access_result::forbidden);
        });
        return;
    }
    // A new room with a key: hash it on the key thread, claim the room on the writer, and if
    // another join claimed it first, check the key against theirs.
    _keys.post([this, room, key, done] {
        std::string phc = hash_room_key(key);
        if (_config.key_checks_queued) _config.key_checks_queued->add(-1);
        _writer.post([this, room, key, phc, done](room_log& rooms) {
            std::optional<room_key> now;
            try {
                now = rooms.claim_private(room, phc);
            } catch (const std::exception& e) {
                log::error(k_component, std::string("private room claim failed: ") + e.what());
            }
            if (!now || now->kind.empty() || now->phc == phc) {
                return answer(done, now ? access_result::ok : access_result::failed);
            }
            _keys.post([this, key, stored = *now, done] {
                answer(done, key_matches(stored, key) ? access_result::ok : access_result::forbidden);
            });
        });
    });
}

int join_gate::room_quota_wait(const std::string& uid) {
    auto now = steady::now();
    auto& made = _rooms_made[uid];
    while (!made.empty() && now - made.front() >= std::chrono::minutes(1)) made.pop_front();
    if (static_cast<int>(made.size()) >= _config.rooms_per_minute) {
        return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    made.front() + std::chrono::minutes(1) - now).count()) + 1;
    }
    made.push_back(now);
    return 0;
}

void join_gate::sweep(steady::time_point now) {
    for (auto it = _rooms_made.begin(); it != _rooms_made.end();) {
        if (it->second.empty() || now - it->second.back() >= std::chrono::minutes(1)) {
            it = _rooms_made.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace stchat::chat
