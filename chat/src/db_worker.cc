#include "db_worker.h"

#include <algorithm>
#include <chrono>

#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"

namespace stchat::chat {
namespace {

constexpr const char* k_component = "chat";
constexpr size_t k_max_reads = 256;  // reads in one query: at most 256 x k_read_page events

// Thrown when a stop came while Postgres was away: the work fails (the client sends again).
struct stopping : std::runtime_error {
    stopping() : std::runtime_error("stopping") {}
};

}  // namespace

db_worker::db_worker(const eventstore::store_config& store, batch_hook on_batch, std::string node,
                     db_worker_health health, db_worker_limits limits)
    : _store(store),
      _on_batch(std::move(on_batch)),
      _node(std::move(node)),
      // Transient failures (Postgres restarting) are retried, and so is a commit in doubt: every
      // chat append is idempotent by construction (its inbox key), so a repeat stores nothing
      // twice; reads are safe to repeat. Gives up after 5 s (the client is told and sends again)
      // or at a stop.
      _retry({k_component, eventstore::idempotence::idempotent, health.state, health.retries,
              std::chrono::milliseconds(100), std::chrono::milliseconds(1000), std::chrono::milliseconds(5000),
              health.what, "Postgres is back", health.dependency}),
      _limits(limits) {
    _thread = std::thread([this] { loop(); });
}

db_worker::~db_worker() { stop(); }

void db_worker::stop() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_closing) return;
        _closing = true;
    }
    _cv.notify_all();
    _thread.join();
    std::lock_guard<std::mutex> lock(_mutex);
    _stopped = true;
    _queue.clear();
}

void db_worker::post(db_task task) {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopped) return;
        _queue.push_back(work{std::move(task), {}, {}});
        _waiting = _queue.size();
    }
    _cv.notify_all();
}

void db_worker::send(pending_send s) {
    bool message = s.request.kind == append_kind::message;
    bool full = false;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopped) return;
        full = message && _limits.max_queued_messages > 0 && _queued_messages >= _limits.max_queued_messages;
        if (!full) {
            if (message) count_queued(1);
            _queue.push_back(work{{}, std::move(s), {}});
            _waiting = _queue.size();
        }
    }
    if (full) return s.done({}, send_outcome::busy);  // refused, outside the lock: it may send again
    _cv.notify_all();
}

void db_worker::count_queued(int64_t change) {
    _queued_messages = static_cast<size_t>(static_cast<int64_t>(_queued_messages) + change);
    if (_limits.queued_messages) _limits.queued_messages->set(static_cast<int64_t>(_queued_messages));
}

template <typename F>
auto db_worker::with_retry(F&& f) -> decltype(f()) {
    auto r = _retry.run(std::forward<F>(f));
    if (!r) throw stopping();
    return std::move(*r);
}

void db_worker::read(pending_read r) {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopped) return;
        _queue.push_back(work{{}, {}, std::move(r)});
        _waiting = _queue.size();
    }
    _cv.notify_all();
}

void db_worker::loop() {
    std::unique_ptr<room_log> rooms;
    for (;;) {
        std::deque<work> queue;
        {
            std::unique_lock<std::mutex> lock(_mutex);
            _cv.wait(lock, [&] { return _closing || !_queue.empty(); });
            if (_closing && _queue.empty()) return;
            queue.swap(_queue);
            _waiting = 0;
            count_queued(-static_cast<int64_t>(_queued_messages));  // all of them taken
        }
        if (!rooms) {
            try {
                rooms = std::make_unique<room_log>(_store, _node);
            } catch (const std::exception& e) {
                log::error(k_component, std::string("database worker cannot connect: ") + e.what());
            }
        }
        // Consecutive sends are committed together (group commit), consecutive reads read
        // together; anything else ends the group, so what was posted first runs first.
        std::vector<pending_send> sends;
        std::vector<pending_read> reads;
        auto flush = [&] {
            if (rooms) {
                commit(*rooms, sends);
            } else {
                for (auto& s : sends) s.done({}, send_outcome::failed);
                sends.clear();
            }
            read_all(rooms.get(), reads);
        };
        for (auto& w : queue) {
            if (w.send.done) {
                if (!reads.empty()) flush();
                sends.push_back(std::move(w.send));
                continue;
            }
            if (w.read.done) {
                if (!sends.empty() || reads.size() >= k_max_reads) flush();
                reads.push_back(std::move(w.read));
                continue;
            }
            flush();
            try {
                if (!rooms) throw std::runtime_error("no database connection");
                w.task(*rooms);
            } catch (const std::exception& e) {
                log::error(k_component, std::string("database task failed: ") + e.what());
            }
        }
        flush();
    }
}

void db_worker::read_all(room_log* rooms, std::vector<pending_read>& reads) {
    if (reads.empty()) return;
    std::vector<room_read> batch;
    batch.reserve(reads.size());
    for (const auto& r : reads) batch.push_back(r.read);
    std::vector<room_page> pages;
    bool ok = false;
    try {
        if (!rooms) throw std::runtime_error("no database connection");
        pages = with_retry([&] { return rooms->read_many(batch, k_read_page); });  // a read: safe to repeat
        ok = true;
        // Who is in the rooms whose first local join this is: one statement for the batch.
        std::vector<std::string> wanted;
        for (const auto& r : batch) {
            if (r.with_members && std::find(wanted.begin(), wanted.end(), r.room) == wanted.end()) wanted.push_back(r.room);
        }
        if (!wanted.empty()) {
            try {
                auto members = with_retry([&] { return rooms->members_of(wanted); });
                for (size_t i = 0; i < batch.size(); ++i) {
                    if (!batch[i].with_members) continue;
                    size_t k = static_cast<size_t>(std::find(wanted.begin(), wanted.end(), batch[i].room) - wanted.begin());
                    pages[i].members = std::make_shared<const room_members>(members[k]);
                }
            } catch (const std::exception& e) {
                log::error(k_component, std::string("reading who is in the rooms failed: ") + e.what());
            }
        }
    } catch (const std::exception& e) {
        log::error(k_component, std::string("replay read failed: ") + e.what());
    }
    for (size_t i = 0; i < reads.size(); ++i) reads[i].done(ok ? &pages[i] : nullptr);
    reads.clear();
}

void db_worker::commit(room_log& rooms, std::vector<pending_send>& sends) {
    if (sends.empty()) return;
    commit_range(rooms, sends, 0, sends.size());
    sends.clear();
}

void db_worker::commit_range(room_log& rooms, std::vector<pending_send>& sends, size_t from, size_t to) {
    std::vector<send_request> batch;
    batch.reserve(to - from);
    for (size_t i = from; i < to; ++i) batch.push_back(sends[i].request);
    send_outcome outcome = send_outcome::failed;
    try {
        auto acks = with_retry([&] { return rooms.send_batch(batch); });
        if (_on_batch) _on_batch(batch, acks);
        for (size_t i = from; i < to; ++i) sends[i].done(acks[i - from], send_outcome::stored);
        return;
    } catch (const eventstore::store_error& e) {
        if (!e.retry_may_help(eventstore::idempotence::idempotent) && to - from > 1) {
            // One send may be at fault: find it, store the others.
            size_t mid = from + (to - from) / 2;
            commit_range(rooms, sends, from, mid);
            commit_range(rooms, sends, mid, to);
            return;
        }
        outcome = e.bad_data() ? send_outcome::bad_data : send_outcome::failed;
        std::string what = e.what();
        log::error(k_component, std::string(to - from == 1 ? "send" : "send batch") + " failed: " +
                                    what.substr(0, what.find('\n')));  // not Postgres' whole CONTEXT
    } catch (const std::exception& e) {
        log::error(k_component, std::string("send batch failed: ") + e.what());
    }
    for (size_t i = from; i < to; ++i) sends[i].done({}, outcome);
}

}  // namespace stchat::chat
