#pragma once
// Private to chat/: whether a join may go ahead, decided before anything is appended:
//   1. the room's access: known, or read once on the writer thread for every join waiting for
//      it (room_access_cache: a storm of 10,000 joins to 100 rooms reads 100 rows);
//   2. a room that does not exist yet counts against its creator's quota of new rooms a minute;
//   3. a private room's key, checked with argon2id on the key thread (~50 ms each, so at most
//      `max_key_checks` wait; past that the join is refused as busy); a new room with a key is
//      claimed on the writer, and if another join claimed it first, checked against theirs.
// The answer comes back on the Asio thread.
//
// Example (alice, rooms_per_minute 2):
//   check(alice, "lobby", "", alive, done)   -> done(ok)          lobby has events: open
//   check(alice, "new1", "", ...)            -> done(ok)          a new room: 1 of 2 this minute
//   check(alice, "new2", "k3y", ...)         -> done(ok)          claimed with her key's hash
//   check(alice, "new3", "", ...)            -> done(room_quota, wait_ms)
//   check(bob, "new2", "wrong", ...)         -> done(forbidden)
//
// Thread-safety: check() and sweep() on the Asio thread only; `done` runs there too. The key
// thread and the writer must outlive the gate's work (chat_server stops them first, dropping what
// is queued: a dropped check never calls back).
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include <asio/io_context.hpp>

#include "db_worker.h"
#include "room_access_cache.h"
#include "task_thread.h"
#include "stchat/common/metrics.h"

namespace stchat::chat {

enum class access_result { ok, forbidden, failed, busy, room_quota };

struct join_gate_config {
    int rooms_per_minute = 10;   // new rooms one user may create a minute
    size_t max_key_checks = 256;  // key checks waiting for the key thread
    metrics::gauge* key_checks_queued = nullptr;
};

class join_gate {
public:
    // wait_ms: for room_quota, when the user may create a room again.
    using decided = std::function<void(access_result, int wait_ms)>;

    join_gate(join_gate_config config, asio::io_context& io, db_worker& writer, task_thread& keys)
        : _config(config), _io(io), _writer(writer), _keys(keys) {}

    // `alive` is asked once the room's access is known: a join whose session has gone meanwhile
    // is dropped there (`done` is not called, and no quota is used).
    void check(const std::string& uid, const std::string& room, const std::string& key,
               std::function<bool()> alive, decided done);

    // Forgets the quota records older than a minute (users who made no room since): the map
    // follows the users creating rooms now, not every user ever seen. Called every second.
    void sweep(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
    size_t quota_users() const { return _rooms_made.size(); }

private:
    void after_access(const std::string& uid, const std::string& room, const std::string& key,
                      const std::optional<room_access>& access, const decided& done);
    int room_quota_wait(const std::string& uid);
    void answer(const decided& done, access_result result);

    join_gate_config _config;
    asio::io_context& _io;
    db_worker& _writer;
    task_thread& _keys;
    room_access_cache _access{100000};
    std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> _rooms_made;  // per uid
};

}  // namespace stchat::chat
