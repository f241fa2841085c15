#pragma once
// Private to chat/: a thread with its own database connection (a room_log) that runs the chat's
// database work in arrival order. Sends queued while it works are committed together (group
// commit: one transaction for what arrived together, not one fsync per message).
//
// No batch is poisoned by one send: when a group commit fails for a reason retrying cannot help
// (Postgres refused the data), the batch is split in halves and each half committed again, down
// to the one send at fault, which alone fails (`bad_data`); the others are stored and acked.
// Splitting is safe: the failed transaction stored nothing.
//
// Example: sends a, b, X, c queued together, X holding bytes Postgres refuses:
//   commit {a,b,X,c} fails -> commit {a,b} ok -> commit {X,c} fails -> {X} fails, {c} ok
//   done(a) ok, done(b) ok, done(X) bad_data, done(c) ok   (in this order: room seq order)
//
// Joins and leaves are sends too (send_request::kind): a burst of joins is a few transactions.
//
// Thread-safety: post(), send() and read() may be called from any thread; tasks and callbacks run on the
// worker's thread.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "stchat/chat/room_log.h"
#include "stchat/common/metrics.h"
#include "stchat/eventstore/retry.h"

namespace stchat::chat {

// Events in one replay read (a page).
constexpr int k_read_page = 200;

// A unit of work for the worker: runs there with the worker's room_log.
using db_task = std::function<void(room_log&)>;

// busy: refused at once, not queued (more messages than the bound wait already).
enum class send_outcome { stored, bad_data, failed, busy };

struct pending_send {
    send_request request;
    std::function<void(room_ack, send_outcome)> done;
};

// A replay's read. Reads queued together are read in one transaction (a burst of joins reads
// the same rooms: each distinct read once). done(nullptr) when the read failed.
struct pending_read {
    room_read read;
    std::function<void(const room_page*)> done;
};

// Where the worker says that Postgres fails it: the /healthz problem `dependency` and a retries
// counter (both may be null).
struct db_worker_health {
    metrics::health_state* state = nullptr;
    metrics::counter* retries = nullptr;
    std::string dependency = "postgres";
    std::string what = "a chat database call";
};

// How much may wait for the worker. Joins and leaves are never refused (each connection has at
// most a few, and presence must not go wrong); messages past the bound are (send_outcome::busy),
// so that a slow or absent Postgres cannot make the queue, and the memory, grow with what the
// clients send meanwhile.
struct db_worker_limits {
    size_t max_queued_messages = 0;  // 0: no bound
    metrics::gauge* queued_messages = nullptr;
};

class db_worker {
public:
    // on_batch: called with each group commit that succeeded, its sends and their acks, once and
    // before the sends' own callbacks (on the worker's thread).
    // node: see room_log's constructor.
    using batch_hook = std::function<void(const std::vector<send_request>&, const std::vector<room_ack>&)>;
    explicit db_worker(const eventstore::store_config& store, batch_hook on_batch = {},
                       std::string node = "", db_worker_health health = {}, db_worker_limits limits = {});
    ~db_worker();  // stop()
    db_worker(const db_worker&) = delete;
    db_worker& operator=(const db_worker&) = delete;

    // Queued work runs in order. A send's and a read's `done` must not be empty. After stop(), new work is dropped (its callbacks never run).
    // A message refused as busy has its done() called at once, on the caller's thread.
    void post(db_task task);
    void send(pending_send s);
    void read(pending_read r);
    // Work waiting for the worker (sends, joins, leaves, reads and tasks), not counting what it
    // is doing. Any thread.
    size_t waiting() const { return _waiting.load(std::memory_order_relaxed); }
    // Runs what is queued, then joins the thread. Idempotent.
    void stop();
    // The node its joins and leaves name; before the first work is posted.
    void set_node(std::string node) {
        std::lock_guard<std::mutex> lock(_mutex);
        _node = std::move(node);
    }

private:
    struct work {
        db_task task;
        pending_send send;
        pending_read read;
    };
    void loop();
    void count_queued(int64_t change);  // under _mutex
    void commit(room_log& rooms, std::vector<pending_send>& sends);
    void read_all(room_log* rooms, std::vector<pending_read>& reads);
    template <typename F>
    auto with_retry(F&& f) -> decltype(f());
    void commit_range(room_log& rooms, std::vector<pending_send>& sends, size_t from, size_t to);

    eventstore::store_config _store;
    batch_hook _on_batch;
    std::string _node;
    eventstore::retry_policy _retry;  // the worker's thread only
    db_worker_limits _limits;
    size_t _queued_messages = 0;  // messages in _queue (under _mutex)
    std::atomic<size_t> _waiting{0};  // _queue.size(), for waiting()
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<work> _queue;
    bool _closing = false;
    bool _stopped = false;
    std::thread _thread;
};

}  // namespace stchat::chat
