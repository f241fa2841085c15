// The WebSocket chat server. Threads: one Asio thread owns every session (all session state is
// touched only there); a writer thread group-commits sends, joins and leaves; a reader thread
// serves replays; a relay thread tails the log. Results travel back with asio::post.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <openssl/hmac.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cmath>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "stchat/chat/chat_server.h"
#include "stchat/chat/room_log.h"
#include "stchat/common/limits.h"
#include "stchat/common/log.h"
#include "stchat/common/metrics.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/sql_session.h"
#include "ws_frames.h"

namespace stchat::chat {
namespace {

constexpr const char* k_component = "chat";
constexpr const char* k_subprotocol = "stchat.v1";

using hdl_t = websocketpp::connection_hdl;
using writer_t = rapidjson::Writer<rapidjson::StringBuffer>;
using steady = std::chrono::steady_clock;
constexpr size_t k_max_held = 256;  // frames kept while a join is checked


std::string json_of(const std::function<void(writer_t&)>& body) {
    rapidjson::StringBuffer buf;
    writer_t w(buf);
    w.StartObject();
    body(w);
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
}

void put(writer_t& w, const char* key, const std::string& v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

std::string hex(const unsigned char* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        out.push_back(d[p[i] >> 4]);
        out.push_back(d[p[i] & 15]);
    }
    return out;
}

std::string iso_time(int64_t us) {
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%s.%06dZ", buf, static_cast<int>(us % 1000000));
    return out;
}

const char* const k_first[] = {"Brenda", "Marcus", "Aisha", "Tomas", "Yuki", "Olga", "Kwame", "Lena",
                               "Diego", "Priya", "Finn", "Zara"};
const char* const k_last[] = {"Goodwin", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad",
                              "Novak", "Reyes", "Fischer", "Mensah", "Kowalski", "Byrne"};

// A unit of work for a database thread: runs there with that thread's room_log.
using db_task = std::function<void(room_log&)>;

// A database thread. Sends queued while it works are committed together (group commit): one
// transaction for what arrived together, not one fsync per message.
class db_thread {
public:
    struct pending_send {
        send_request request;
        std::function<void(room_ack, std::string)> done;  // error text when it failed
    };

    explicit db_thread(const eventstore::store_config& store, std::function<void(size_t)> on_batch = {})
        : _store(store), _on_batch(std::move(on_batch)) {
        _thread = std::thread([this] { loop(); });
    }
    ~db_thread() {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _closing = true;
        }
        _cv.notify_all();
        _thread.join();
    }
    void post(db_task task) {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _queue.push_back(work{std::move(task), {}});
        }
        _cv.notify_all();
    }
    void send(pending_send s) {
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _queue.push_back(work{{}, std::move(s)});
        }
        _cv.notify_all();
    }

private:
    // A task or a send, kept in arrival order: a join posted before a send commits before it.
    struct work {
        db_task task;
        pending_send send;
    };

    void loop() {
        room_log rooms(_store);
        for (;;) {
            std::deque<work> queue;
            {
                std::unique_lock<std::mutex> lock(_mutex);
                _cv.wait(lock, [&] { return _closing || !_queue.empty(); });
                if (_closing && _queue.empty()) return;
                queue.swap(_queue);
            }
            // Consecutive sends are committed together (group commit); a task ends the group.
            std::vector<pending_send> sends;
            for (auto& w : queue) {
                if (!w.task) {
                    sends.push_back(std::move(w.send));
                    continue;
                }
                commit(rooms, sends);
                try {
                    w.task(rooms);
                } catch (const std::exception& e) {
                    log::error(k_component, std::string("database task failed: ") + e.what());
                }
            }
            commit(rooms, sends);
        }
    }

    void commit(room_log& rooms, std::vector<pending_send>& sends) {
        if (sends.empty()) return;
        std::vector<send_request> batch;
        for (auto& s : sends) batch.push_back(s.request);
        try {
            auto acks = with_retry([&] { return rooms.send_batch(batch); });
            if (_on_batch) _on_batch(batch.size());
            for (size_t i = 0; i < sends.size(); ++i) sends[i].done(acks[i], {});
        } catch (const std::exception& e) {
            log::error(k_component, std::string("send batch failed: ") + e.what());
            for (auto& s : sends) s.done({}, e.what());
        }
        sends.clear();
    }

    // Transient failures (Postgres restarting) are retried: appends are idempotent by their keys.
    template <typename F>
    auto with_retry(F&& f) -> decltype(f()) {
        for (int attempt = 0;; ++attempt) {
            try {
                return f();
            } catch (const eventstore::store_error& e) {
                if (!e.retry_may_help() || attempt >= 50) throw;
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }
    }

    eventstore::store_config _store;
    std::function<void(size_t)> _on_batch;  // called with the size of each group commit
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<work> _queue;
    bool _closing = false;
    std::thread _thread;
};

struct room_state {
    uint64_t generation = 0;  // which join of the session this state belongs to
    int64_t last_seq = 0;   // the last seq delivered to this session
    bool replaying = true;  // live events wait in `pending` until the replay is delivered
    std::vector<room_event> pending;
};

struct session {
    uint64_t id = 0;
    server_t::connection_ptr con;  // held until on_close erases the session
    steady::time_point opened = steady::now();
    steady::time_point last_seen = steady::now();  // last frame or pong from the client
    steady::time_point last_ping = steady::now();
    bool legacy = false;
    bool greeted = false;
    author who;
    std::map<std::string, room_state> rooms;
    uint64_t next_request = 0;
    // Frames that came while a join was being checked: handled in order once it is, so a client
    // may send right after its join without waiting for `joined`.
    bool join_pending = false;
    std::deque<std::string> held;
    uint64_t legacy_messages = 0;
    double tokens = -1;  // rate limit: sends left in the burst (-1: a full burst, set on first use)
    std::chrono::steady_clock::time_point refilled = std::chrono::steady_clock::now();
};

// What /metrics shows. Counters are atomics: the relay and database threads update some.
struct chat_metrics {
    metrics::registry reg;
    metrics::counter& connections = reg.make_counter("stchat_chat_connections_total", "WebSocket connections opened");
    metrics::gauge& sessions_v1 = reg.make_gauge("stchat_chat_sessions", "Open WebSocket sessions", R"(protocol="v1")");
    metrics::gauge& sessions_legacy = reg.make_gauge("stchat_chat_sessions", "Open WebSocket sessions", R"(protocol="legacy")");
    metrics::counter& frames_received = reg.make_counter("stchat_chat_frames_received_total", "Frames received from clients");
    metrics::counter& frames_sent = reg.make_counter("stchat_chat_frames_sent_total", "Frames sent to clients");
    metrics::counter& messages_stored = reg.make_counter("stchat_chat_messages_stored_total", "Messages appended to the log");
    metrics::counter& duplicates = reg.make_counter("stchat_chat_send_duplicates_total", "Resent messages acked without a new append (dedup hits)");
    metrics::counter& send_batches = reg.make_counter("stchat_chat_send_batches_total", "Group commits of sends");
    metrics::histogram& send_latency = reg.make_histogram("stchat_chat_send_latency_seconds", "From a send frame received to its ack sent");
    metrics::counter& closed_slow = reg.make_counter("stchat_chat_closed_total", "Sessions closed by the server", R"(reason="slow_reader")");
    metrics::counter& closed_idle = reg.make_counter("stchat_chat_closed_total", "Sessions closed by the server", R"(reason="idle")");
    metrics::counter& closed_hello = reg.make_counter("stchat_chat_closed_total", "Sessions closed by the server", R"(reason="no_hello")");
    metrics::gauge& relay_position = reg.make_gauge("stchat_chat_relay_position", "Last log position the relay has read");
    metrics::gauge& relay_lag = reg.make_gauge("stchat_chat_relay_lag_events", "Log events committed but not yet read by the relay");
    std::map<std::string, metrics::counter*> errors;
    chat_metrics() {
        for (const char* code : {"bad_json", "bad_frame", "unknown_type", "hello_required", "bad_name", "bad_room",
                                 "not_joined", "forbidden", "read_only", "too_large", "rate_limited", "internal"}) {
            errors[code] = &reg.make_counter("stchat_chat_errors_total", "Error frames sent, by code",
                                             std::string("code=\"") + code + "\"");
        }
    }
};

// A room event's frames, built on first use and shared by every session they go to.
struct event_frames {
    const room_event& event;
    server_t::message_ptr v1, legacy;
};

class chat_server {
public:
    explicit chat_server(const chat_config& config)
        : _config(config),
          _writer(config.store, [this](size_t) { _metrics.send_batches.add(); }),
          _reader(config.store) {
        auto sql = eventstore::make_sql_session(config.store);
        auto rows = sql->exec("SELECT encode(secret, 'hex') FROM chat_secret WHERE id = 1");
        if (rows.empty() || !rows[0][0]) throw std::runtime_error("chat_secret missing: run stchat migrate");
        _secret = *rows[0][0];
        _server.clear_access_channels(websocketpp::log::alevel::all);
        _server.clear_error_channels(websocketpp::log::elevel::all);
        _server.init_asio();
        _server.set_reuse_addr(true);
        // Small frames go out at once: Nagle's algorithm would hold them for the peer's delayed ACK.
        _server.set_tcp_post_init_handler([this_ = &_server](websocketpp::connection_hdl h) {
            std::error_code ec;
            this_->get_con_from_hdl(h)->get_socket().set_option(asio::ip::tcp::no_delay(true), ec);
        });
        _server.set_max_message_size(config.max_frame);
        _server.set_open_handshake_timeout(5000);
        _server.set_close_handshake_timeout(5000);
        _server.set_pong_handler([this](hdl_t h, std::string) { touch(h); });
        _server.set_validate_handler([this](hdl_t h) { return on_validate(h); });
        _server.set_open_handler([this](hdl_t h) { on_open(h); });
        _server.set_close_handler([this](hdl_t h) { on_close(h); });
        _server.set_message_handler([this](hdl_t h, server_t::message_ptr m) { on_message(h, m); });
        _server.set_http_handler([this](hdl_t h) { on_http(h); });
    }

    void run() {
        // The relay starts at the head as it is before the first connection is accepted: every
        // later event is delivered live, every earlier one is in a join's replay.
        long files = raise_open_files_limit();
        if (files >= 0 && files < 4096) {
            log::warn(k_component, "open files limit is " + std::to_string(files) + ": at most that many connections");
        }
        int64_t start = eventstore::make_event_log(_config.store)->head();
        _server.listen(asio::ip::tcp::v4(), _config.port);
        _server.start_accept();
        _tick = std::make_unique<asio::steady_timer>(_server.get_io_service());
        schedule_tick();
        log::info(k_component, "listening on port " + std::to_string(_config.port));
        std::thread relay([this, start] { relay_loop(start); });
        std::thread heartbeat([this] { heartbeat_loop(); });
        std::thread stopper([this] {
            while (!sleep_unless_stopped(std::chrono::milliseconds(200))) {}
            asio::post(_server.get_io_service(), [this] { shutdown(); });
        });
        _server.run();
        _relay_stop = true;
        relay.join();
        heartbeat.join();
        stopper.join();
        log::info(k_component, "stopped");
    }

private:
    // ---- connection lifecycle (Asio thread) ----
    bool on_validate(hdl_t h) {
        auto con = _server.get_con_from_hdl(h);
        if (!origin_allowed(con->get_request_header("Origin"), con->get_request_header("Host"))) {
            log::debug(k_component, "refused Origin " + con->get_request_header("Origin"));
            con->set_status(websocketpp::http::status_code::forbidden);
            return false;
        }
        for (const auto& p : con->get_requested_subprotocols()) {
            if (p == k_subprotocol) {
                con->select_subprotocol(k_subprotocol);
                return true;
            }
        }
        return true;  // no subprotocol: legacy
    }

    void on_open(hdl_t h) {
        auto con = _server.get_con_from_hdl(h);
        session& s = _sessions[h];
        s.id = ++_next_session;
        s.con = con;
        s.legacy = con->get_subprotocol() != k_subprotocol;
        _metrics.connections.add();
        (s.legacy ? _metrics.sessions_legacy : _metrics.sessions_v1).add(1);
        if (s.legacy) {
            s.who = {random_uid(), random_name()};
            s.greeted = true;
            join(h, s, "lobby", std::nullopt, true);
        }
    }

    void on_close(hdl_t h) {
        auto it = _sessions.find(h);
        if (it == _sessions.end()) return;
        for (const auto& r : it->second.rooms) leave_room(h, it->second, r.first);
        (it->second.legacy ? _metrics.sessions_legacy : _metrics.sessions_v1).add(-1);
        _sessions.erase(it);
    }

    void on_http(hdl_t h) {
        auto con = _server.get_con_from_hdl(h);
        std::string path = con->get_resource();
        if (path == "/healthz") {
            con->set_status(websocketpp::http::status_code::ok);
            con->set_body("ok\n");
            return;
        }
        if (path == "/metrics") {
            con->set_status(websocketpp::http::status_code::ok);
            con->append_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            con->set_body(_metrics.reg.render());
            return;
        }
        if ((path == "/" || path == "/index.html") && !_config.web_root.empty()) {
            std::ifstream in(_config.web_root + "/index.html");
            if (in) {
                std::stringstream ss;
                ss << in.rdbuf();
                con->set_status(websocketpp::http::status_code::ok);
                con->append_header("Content-Type", "text/html; charset=utf-8");
                con->set_body(ss.str());
                return;
            }
        }
        con->set_status(websocketpp::http::status_code::not_found);
        con->set_body("not found\n");
    }

    void on_message(hdl_t h, server_t::message_ptr m) {
        auto it = _sessions.find(h);
        if (it == _sessions.end()) return;
        session& s = it->second;
        s.last_seen = steady::now();
        _metrics.frames_received.add();
        if (s.join_pending) {
            if (s.held.size() >= k_max_held) return error(h, "rate_limited", "too many frames while joining", "");
            s.held.push_back(m->get_payload());
            return;
        }
        handle_frame(h, s, m->get_payload());
    }

    // Runs the frames held during a join, until one of them starts another join.
    void release_held(hdl_t h) {
        auto it = _sessions.find(h);
        if (it == _sessions.end()) return;
        session& s = it->second;
        s.join_pending = false;
        while (!s.join_pending && !s.held.empty()) {
            std::string frame = std::move(s.held.front());
            s.held.pop_front();
            handle_frame(h, s, frame);
        }
    }

    void handle_frame(hdl_t h, session& s, const std::string& payload) {
        rapidjson::Document d;
        d.Parse(payload.c_str(), payload.size());
        if (s.legacy) {
            if (d.HasParseError() || !d.IsObject() || !d.HasMember("message") || !d["message"].IsString()) {
                return;  // the original ignored what it did not understand
            }
            send_message(h, s, "lobby", "legacy-" + std::to_string(s.id) + "-" +
                         std::to_string(++s.legacy_messages), d["message"].GetString());
            return;
        }
        if (d.HasParseError() || !d.IsObject()) return error(h, "bad_json", "not a JSON object", "");
        if (!d.HasMember("type") || !d["type"].IsString()) {
            return error(h, "bad_frame", "missing string field 'type'", "");
        }
        std::string type = d["type"].GetString();
        if (type != "hello" && !s.greeted) return error(h, "hello_required", "send hello first", type);
        if (type == "hello") return on_hello(h, s, d);
        if (type == "join") return on_join(h, s, d);
        if (type == "send") return on_send(h, s, d);
        if (type == "leave") return on_leave(h, s, d);
        error(h, "unknown_type", "unknown type '" + type + "'", type);
    }

    // ---- v1 frames ----
    void on_hello(hdl_t h, session& s, const rapidjson::Document& d) {
        if (d.HasMember("token") && d["token"].IsString()) {
            auto who = verify_token(d["token"].GetString());
            if (!who) return error(h, "forbidden", "invalid token", "hello");
            s.who = *who;
        } else if (d.HasMember("name")) {
            if (!d["name"].IsString()) return error(h, "bad_frame", "'name' must be a string", "hello");
            std::string name = trim(d["name"].GetString());
            if (!valid_name(name)) {
                return error(h, "bad_name", "a name is 1-32 printable characters", "hello");
            }
            s.who = {random_uid(), name};
        } else {
            s.who = {random_uid(), random_name()};
        }
        s.greeted = true;
        send_text(h, json_of([&](writer_t& w) {
            put(w, "type", "welcome");
            put(w, "user", s.who.name);
            put(w, "uid", s.who.uid);
            put(w, "token", make_token(s.who));
        }));
    }

    void on_join(hdl_t h, session& s, const rapidjson::Document& d) {
        if (!d.HasMember("room") || !d["room"].IsString()) {
            return error(h, "bad_frame", "missing string field 'room'", "join");
        }
        std::string room = d["room"].GetString();
        if (!valid_room_name(room) || (room.rfind("feed.", 0) == 0 && !is_feed_room(room))) {
            return error(h, "bad_room", "bad room name", "join");
        }
        std::optional<int64_t> since;
        if (d.HasMember("since")) {
            if (!d["since"].IsInt64() || d["since"].GetInt64() < 0) {
                return error(h, "bad_frame", "'since' must be an integer >= 0", "join");
            }
            since = d["since"].GetInt64();
        }
        std::string key;
        if (d.HasMember("key")) {
            if (!d["key"].IsString()) return error(h, "bad_frame", "'key' must be a string", "join");
            key = d["key"].GetString();
        }
        // The access check runs on the writer thread (it may claim the room), then the join
        // continues here; a refusal says nothing about the room's content.
        auto& io = _server.get_io_service();
        s.join_pending = true;
        _writer.post([this, h, room, since, key, &io](room_log& rooms) {
            bool ok = false, failed = false;
            try {
                ok = rooms.may_join(room, key);
            } catch (const std::exception& e) {
                failed = true;
                log::error(k_component, std::string("access check failed: ") + e.what());
            }
            asio::post(io, [this, h, room, since, ok, failed] {
                auto it = _sessions.find(h);
                if (it == _sessions.end()) return;
                if (ok) {
                    join(h, it->second, room, since, false);
                } else if (failed) {
                    error(h, "internal", "the join failed; join again", "join");
                } else {
                    error(h, "forbidden", "private room: wrong or missing key", "join");
                }
                release_held(h);
            });
        });
    }

    void on_send(hdl_t h, session& s, const rapidjson::Document& d) {
        for (const char* f : {"room", "id", "text"}) {
            if (!d.HasMember(f) || !d[f].IsString()) {
                return error(h, "bad_frame", std::string("missing string field '") + f + "'", "send");
            }
        }
        std::string room = d["room"].GetString(), id = d["id"].GetString();
        std::string text(d["text"].GetString(), d["text"].GetStringLength());
        if (id.empty() || id.size() > 64) return error(h, "bad_frame", "'id' is 1-64 characters", "send");
        if (is_feed_room(room)) return error(h, "read_only", "feed rooms are read-only", id);
        if (!s.rooms.count(room)) return error(h, "not_joined", "join the room first", id);
        if (utf8_length(text) > _config.max_text) {
            return error(h, "too_large", "text over " + std::to_string(_config.max_text) + " characters", id);
        }
        if (text.find('\0') != std::string::npos) return error(h, "bad_frame", "text has a NUL", id);
        if (!take_token(s)) {
            _metrics.errors["rate_limited"]->add();
            return send_text(h, json_of([&](writer_t& w) {
                put(w, "type", "error");
                put(w, "code", "rate_limited");
                put(w, "message", "too many sends");
                put(w, "ref", id);
                w.Key("retry_after_ms");
                w.Int(static_cast<int>(std::ceil((1.0 - s.tokens) * 1000 / _config.sends_per_second)));
            }));
        }
        send_message(h, s, room, id, text);
    }

    void on_leave(hdl_t h, session& s, const rapidjson::Document& d) {
        if (!d.HasMember("room") || !d["room"].IsString()) {
            return error(h, "bad_frame", "missing string field 'room'", "leave");
        }
        std::string room = d["room"].GetString();
        if (!s.rooms.count(room)) return error(h, "not_joined", "not in this room", "leave");
        leave_room(h, s, room);
        s.rooms.erase(room);
        send_text(h, json_of([&](writer_t& w) {
            put(w, "type", "left");
            put(w, "room", room);
        }));
    }

    // ---- rooms ----
    // The hand-over from replay to live: the session is registered for live events first (they
    // wait in `pending`), then the replay is read after the join commits, delivered, and the
    // pending events with a higher seq follow. Each event is delivered once: seq > last_seq.
    void join(hdl_t h, session& s, const std::string& room, std::optional<int64_t> since, bool quiet) {
        bool again = s.rooms.count(room) > 0;
        room_state& state = s.rooms[room];
        state = room_state{};
        state.generation = ++s.next_request;
        _members[room][h] = member{&s, &state};
        bool feed = is_feed_room(room);
        bool first = !feed && !again && _presence[room][s.who.uid]++ == 0;
        author who = s.who;
        std::string request = std::to_string(s.id) + ":" + std::to_string(++s.next_request) + ":" +
                              std::to_string(_boot);
        int history = _config.history;
        uint64_t generation = state.generation;
        // Where the replay starts: after `since`; else the last `history` events; a legacy
        // client (quiet) starts at its own join, as in the original.
        auto start = [this, h, room, since, history, quiet, generation](room_log& rooms, int64_t own_join) {
            int64_t head = rooms.head(room);
            int64_t from = since ? *since
                           : quiet ? (own_join > 0 ? own_join - 1 : head)
                                   : std::max<int64_t>(0, head - history);
            read_page(rooms, {h, room, generation, from, head, true});
        };
        if (first) {
            _writer.post([this, who, room, request, start](room_log& rooms) {
                int64_t seq = rooms.join(room, who, request).seq;
                _reader.post([start, seq](room_log& r) { start(r, seq); });
            });
        } else {
            _reader.post([start](room_log& r) { start(r, 0); });
        }
    }

    // A replay goes page by page, each page read on the reader thread and delivered here, and
    // the next one is read only when the client has taken most of what was sent: a client that
    // joins with since=0 in a long room is fed at its own pace, never closed as slow, and the
    // server never holds the whole history in memory.
    struct replay_cursor {
        hdl_t h;
        std::string room;
        uint64_t generation;  // the join this replay belongs to (a later join starts its own)
        int64_t after;        // seq the next page starts after
        int64_t head;         // the room's head when the join was read
        bool first;
    };
    static constexpr int k_replay_page = 200;

    void read_page(room_log& rooms, replay_cursor c) {
        std::vector<room_event> page;
        bool failed = false;
        try {
            page = rooms.read(c.room, c.after, k_replay_page);
        } catch (const std::exception& e) {
            failed = true;
            log::error(k_component, std::string("replay failed: ") + e.what());
        }
        asio::post(_server.get_io_service(), [this, c, failed, page = std::move(page)]() mutable {
            replay_page(c, failed, std::move(page));
        });
    }

    room_state* replay_state(const replay_cursor& c, session** out) {
        auto it = _sessions.find(c.h);
        if (it == _sessions.end()) return nullptr;
        auto r = it->second.rooms.find(c.room);
        if (r == it->second.rooms.end() || r->second.generation != c.generation) return nullptr;
        *out = &it->second;
        return &r->second;
    }

    void replay_page(replay_cursor c, bool failed, std::vector<room_event> page) {
        session* sp = nullptr;
        room_state* st = replay_state(c, &sp);
        if (!st) return;  // gone, left, or joined again
        session& s = *sp;
        if (failed) {
            // Leave the room so that the client's join can simply be repeated.
            leave_room(c.h, s, c.room);
            s.rooms.erase(c.room);
            return error(c.h, "internal", "the join failed; join again", "join");
        }
        if (c.first) {
            st->last_seq = c.after;  // live events up to here are the client's already
            if (!s.legacy) {
                std::vector<std::string> names;
                for (const auto& p : _presence[c.room]) {
                    if (p.second > 0) names.push_back(name_of(c.room, p.first));
                }
                send_text(c.h, json_of([&](writer_t& w) {
                    put(w, "type", "joined");
                    put(w, "room", c.room);
                    w.Key("head");
                    w.Int64(std::max(c.head, page.empty() ? c.head : page.back().seq));
                    w.Key("members");
                    w.StartArray();
                    for (const auto& n : names) w.String(n.c_str());
                    w.EndArray();
                }));
            }
            c.first = false;
        }
        bool more = static_cast<int>(page.size()) == k_replay_page;
        for (const auto& e : page) {
            if (buffered(s) > _config.max_buffered / 2) {
                more = true;  // the rest of this page comes again with the next read
                break;
            }
            event_frames frames{e, nullptr, nullptr};
            deliver(s, *st, frames);
            c.after = e.seq;
        }
        if (more) return continue_replay(c);
        st->replaying = false;
        auto pending = std::move(st->pending);
        for (const auto& e : pending) {
            event_frames frames{e, nullptr, nullptr};
            deliver(s, *st, frames);
        }
    }

    // Reads the next page once the client has drained its buffer below a quarter of the bound.
    void continue_replay(replay_cursor c) {
        session* sp = nullptr;
        if (!replay_state(c, &sp)) return;
        if (buffered(*sp) <= _config.max_buffered / 4) {
            return _reader.post([this, c](room_log& rooms) { read_page(rooms, c); });
        }
        auto timer = std::make_shared<asio::steady_timer>(_server.get_io_service(), std::chrono::milliseconds(10));
        timer->async_wait([this, c, timer](const std::error_code& ec) {
            if (!ec) continue_replay(c);
        });
    }

    size_t buffered(const session& s) const { return s.con ? s.con->get_buffered_amount() : 0; }

    void leave_room(hdl_t h, session& s, const std::string& room) {
        _members[room].erase(h);
        if (is_feed_room(room)) return;  // read-only: nothing to record
        auto& count = _presence[room][s.who.uid];
        if (count > 0 && --count == 0) {
            _presence[room].erase(s.who.uid);
            author who = s.who;
            std::string request = std::to_string(s.id) + ":" + std::to_string(++s.next_request) +
                                  ":" + std::to_string(_boot);
            _writer.post([who, room, request](room_log& rooms) { rooms.leave(room, who, request); });
        }
    }

    void send_message(hdl_t h, session& s, const std::string& room, const std::string& id,
                      const std::string& text) {
        auto& io = _server.get_io_service();
        bool legacy = s.legacy;
        auto received = steady::now();
        _writer.send({{room, s.who, id, text}, [this, h, room, id, legacy, received, &io](room_ack ack, std::string err) {
                          if (err.empty()) (ack.duplicate ? _metrics.duplicates : _metrics.messages_stored).add();
                          asio::post(io, [this, h, room, id, legacy, ack, err, received] {
                              if (legacy || !_sessions.count(h)) return;
                              _metrics.send_latency.observe(
                                  std::chrono::duration<double>(steady::now() - received).count());
                              if (!err.empty()) return error(h, "internal", "not stored; send again", id);
                              if (ack.other_room) {
                                  return error(h, "bad_frame", "id already used for a message in another room", id);
                              }
                              send_text(h, json_of([&](writer_t& w) {
                                  put(w, "type", "ack");
                                  put(w, "room", room);
                                  put(w, "id", id);
                                  w.Key("seq");
                                  w.Int64(ack.seq);
                                  if (ack.duplicate) {
                                      w.Key("duplicate");
                                      w.Bool(true);
                                  }
                              }));
                          });
                      }});
    }

    // ---- heartbeat: `stchat status` sees this process and its sessions ----
    void heartbeat_loop() {
        char host[256] = "localhost";
        ::gethostname(host, sizeof host - 1);
        std::string id = std::string("chat@") + host + ":" + std::to_string(_config.port);
        std::string started = std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                                  std::chrono::system_clock::now().time_since_epoch())
                                                  .count());
        std::unique_ptr<eventstore::sql_session> sql;
        while (!_relay_stop) {
            try {
                if (!sql) sql = eventstore::make_sql_session(_config.store);
                std::string info = "{\"sessions\": " + std::to_string(_metrics.sessions_v1.value() + _metrics.sessions_legacy.value()) +
                                   ", \"sessions_legacy\": " + std::to_string(_metrics.sessions_legacy.value()) +
                                   ", \"frames_sent\": " + std::to_string(_metrics.frames_sent.value()) + "}";
                sql->exec("INSERT INTO service_heartbeat (id, kind, host, pid, port, started_at, seen_at, info)"
                          " VALUES ($1, 'chat', $2, $3, $4, to_timestamp($5::bigint / 1e6), now(), $6::jsonb)"
                          " ON CONFLICT (id) DO UPDATE SET pid = $3, seen_at = now(), info = $6::jsonb,"
                          " started_at = to_timestamp($5::bigint / 1e6)",
                          {id, host, std::to_string(::getpid()), std::to_string(_config.port), started, info});
            } catch (const std::exception&) {
                sql.reset();  // Postgres away: the relay reports it; try again next beat
            }
            for (int i = 0; i < 25 && !_relay_stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        try {
            if (sql) sql->exec("DELETE FROM service_heartbeat WHERE id = $1 AND pid = $2", {id, std::to_string(::getpid())});
        } catch (const std::exception&) {
        }
    }

    // ---- the relay: log -> sessions ----
    void relay_loop(int64_t position) {
        auto log = eventstore::make_event_log(_config.store);
        bool reported = false;
        while (!_relay_stop) {
            try {
                auto events = log->read_after(position, 1000);
                if (reported) {
                    log::info(k_component, "relay: Postgres is back");
                    reported = false;
                }
                if (events.empty()) {
                    _metrics.relay_lag.set(0);
                    log->wait_for_append(std::chrono::milliseconds(500));
                    continue;
                }
                position = events.back().position;
                _metrics.relay_position.set(position);
                // A full page means the relay is behind: say by how much.
                _metrics.relay_lag.set(events.size() == 1000 ? std::max<int64_t>(0, log->head() - position) : 0);
                std::vector<room_event> batch;
                for (const auto& e : events) {
                    try {
                        if (auto r = room_event_of(e)) batch.push_back(std::move(*r));
                    } catch (const std::runtime_error& bad) {
                        log::error(k_component, bad.what());  // skipped, never fatal to the relay
                    }
                }
                if (!batch.empty()) {
                    asio::post(_server.get_io_service(), [this, batch = std::move(batch)] {
                        for (const auto& e : batch) fan_out(e);
                    });
                }
            } catch (const eventstore::store_error& e) {
                if (!reported) log::warn(k_component, std::string("relay: ") + e.what() + "; retrying");
                reported = true;
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        }
    }

    void fan_out(const room_event& e) {
        if (e.kind == "join") _names[e.room][e.uid] = e.user;
        auto it = _members.find(e.room);
        if (it == _members.end()) return;
        event_frames frames{e, nullptr, nullptr};
        // Nothing below changes _members: sessions come and go in handlers that run later.
        for (auto& entry : it->second) {
            member& m = entry.second;
            if (m.state->replaying) {
                m.state->pending.push_back(e);
            } else {
                deliver(*m.sess, *m.state, frames);
            }
        }
    }

    void deliver(session& s, room_state& st, event_frames& frames) {
        const room_event& e = frames.event;
        if (e.seq <= st.last_seq) return;  // already delivered (replay and live overlap)
        st.last_seq = e.seq;
        if (s.legacy) {
            if (!frames.legacy) frames.legacy = prepared_text(legacy_frame(e));
            return send_prepared(s, frames.legacy);
        }
        if (!frames.v1) frames.v1 = prepared_text(v1_frame(e));
        send_prepared(s, frames.v1);
    }

    static std::string legacy_frame(const room_event& e) {
        std::string line = e.kind == "join"    ? e.user + " joined chat."
                           : e.kind == "leave" ? e.user + " exited chat."
                                               : e.user + ": " + e.text;
        rapidjson::StringBuffer buf;
        writer_t w(buf);
        w.String(line.data(), static_cast<rapidjson::SizeType>(line.size()));
        // Spaced exactly like the original st-chat's frames.
        return std::string("{\"action\": \"message\", \"message\": ") + buf.GetString() + "}";
    }

    static std::string v1_frame(const room_event& e) {
        return json_of([&](writer_t& w) {
            put(w, "type", "event");
            put(w, "room", e.room);
            w.Key("seq");
            w.Int64(e.seq);
            put(w, "kind", e.kind);
            if (!e.data_json.empty()) {
                w.Key("data");
                w.RawValue(e.data_json.data(), e.data_json.size(), rapidjson::kObjectType);
                put(w, "ts", iso_time(e.ts_us));
                return;
            }
            put(w, "user", e.user);
            put(w, "uid", e.uid);
            if (e.kind == "message") {
                put(w, "id", e.id);
                put(w, "text", e.text);
            }
            put(w, "ts", iso_time(e.ts_us));
        });
    }

    // ---- helpers ----
    // The connection if it is open and keeping up; a slow reader is closed (1013), never allowed
    // to grow our memory, and resumes later by `since`.
    server_t::connection_ptr writable(hdl_t h) {
        websocketpp::lib::error_code ec;
        auto con = _server.get_con_from_hdl(h, ec);
        return ec ? nullptr : writable(con);
    }
    server_t::connection_ptr writable(const server_t::connection_ptr& con) {
        websocketpp::lib::error_code ec;
        if (!con || con->get_state() != websocketpp::session::state::open) return nullptr;
        if (con->get_buffered_amount() > _config.max_buffered) {
            _metrics.closed_slow.add();
            con->close(websocketpp::close::status::try_again_later, "too slow; resume with since", ec);
            return nullptr;
        }
        return con;
    }

    void send_text(hdl_t h, const std::string& text) {
        if (auto con = writable(h)) {
            if (!con->send(text, websocketpp::frame::opcode::text)) _metrics.frames_sent.add();
        }
    }

    void send_prepared(session& s, const server_t::message_ptr& frame) {
        if (auto con = writable(s.con)) {
            if (!con->send(frame)) _metrics.frames_sent.add();
        }
    }

    // ---- keepalive: ping quiet sessions, close dead ones ----
    void touch(hdl_t h) {
        auto it = _sessions.find(h);
        if (it != _sessions.end()) it->second.last_seen = steady::now();
    }

    void schedule_tick() {
        int every = std::max(50, std::min(_config.ping_interval_ms, _config.idle_timeout_ms) / 4);
        _tick->expires_after(std::chrono::milliseconds(every));
        _tick->async_wait([this](const std::error_code& ec) {
            if (ec) return;
            check_sessions();
            schedule_tick();
        });
    }

    void check_sessions() {
        auto now = steady::now();
        auto ms = [&](steady::time_point t) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
        };
        for (auto& [h, s] : _sessions) {
            websocketpp::lib::error_code ec;
            auto con = _server.get_con_from_hdl(h, ec);
            if (ec || con->get_state() != websocketpp::session::state::open) continue;
            if (!s.greeted && ms(s.opened) > _config.hello_timeout_ms) {
                _metrics.closed_hello.add();
                con->close(websocketpp::close::status::policy_violation, "hello required", ec);
            } else if (ms(s.last_seen) > _config.idle_timeout_ms) {
                _metrics.closed_idle.add();
                con->close(websocketpp::close::status::going_away, "idle timeout", ec);
            } else if (ms(s.last_seen) >= _config.ping_interval_ms && ms(s.last_ping) >= _config.ping_interval_ms) {
                s.last_ping = now;
                con->ping("", ec);
            }
        }
    }

    void error(hdl_t h, const char* code, const std::string& message, const std::string& ref) {
        if (auto c = _metrics.errors.find(code); c != _metrics.errors.end()) c->second->add();
        send_text(h, json_of([&](writer_t& w) {
            put(w, "type", "error");
            put(w, "code", code);
            put(w, "message", message);
            put(w, "ref", ref);
        }));
    }

    void shutdown() {
        websocketpp::lib::error_code ec;
        if (_tick) _tick->cancel();
        _server.stop_listening(ec);
        for (auto& s : _sessions) {
            auto con = _server.get_con_from_hdl(s.first, ec);
            if (!ec) con->close(websocketpp::close::status::going_away, "server stopping", ec);
        }
        // Let the close handshakes finish, then stop.
        _server.get_io_service().post([this] {
            std::thread([this] {
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                _server.stop();
            }).detach();
        });
    }

    // Browsers send Origin; other clients usually do not (allowed). Allowed: the server's own
    // host, localhost, 127.0.0.1, and what --allow-origin lists.
    bool origin_allowed(const std::string& origin, const std::string& host_header) const {
        if (origin.empty()) return true;
        auto scheme = origin.find("://");
        std::string host = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
        auto strip_port = [](std::string h) {
            auto colon = h.rfind(':');
            if (colon != std::string::npos && h.find(']') == std::string::npos) h = h.substr(0, colon);
            return h;
        };
        std::string bare = strip_port(host);
        if (bare == "localhost" || bare == "127.0.0.1" || bare == "[::1]") return true;
        if (!host_header.empty() && bare == strip_port(host_header)) return true;
        for (const auto& allowed : _config.allowed_origins) {
            if (allowed == origin || allowed == host || allowed == bare) return true;
        }
        return false;
    }

    // A token bucket per connection: `sends_per_second`, bursts of twice that.
    bool take_token(session& s) {
        double burst = 2 * _config.sends_per_second;
        auto now = std::chrono::steady_clock::now();
        double secs = std::chrono::duration<double>(now - s.refilled).count();
        s.refilled = now;
        s.tokens = s.tokens < 0 ? burst : std::min(burst, s.tokens + secs * _config.sends_per_second);
        if (s.tokens < 1.0) return false;
        s.tokens -= 1.0;
        return true;
    }

    std::string name_of(const std::string& room, const std::string& uid) {
        auto r = _names[room].find(uid);
        if (r != _names[room].end()) return r->second;
        for (const auto& s : _sessions) {
            if (s.second.who.uid == uid) return s.second.who.name;
        }
        return uid;
    }

    std::string random_uid() {
        unsigned char b[12];
        for (auto& c : b) c = static_cast<unsigned char>(_rng());
        return hex(b, sizeof b);
    }
    std::string random_name() {
        return std::string(k_first[_rng() % 12]) + " " + k_last[_rng() % 12];
    }
    static std::string trim(const std::string& s) {
        size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
        return a == std::string::npos ? "" : s.substr(a, b - a + 1);
    }
    static size_t utf8_length(const std::string& s) {
        size_t n = 0;
        for (unsigned char c : s) n += (c & 0xC0) != 0x80;
        return n;
    }
    static bool valid_name(const std::string& name) {
        size_t n = utf8_length(name);
        if (n < 1 || n > 32) return false;
        for (unsigned char c : name) {
            if (c < 0x20 || c == 0x7f) return false;
        }
        return true;
    }

    std::string sign(const std::string& data) {
        unsigned char out[32];
        unsigned int len = 0;
        HMAC(EVP_sha256(), _secret.data(), static_cast<int>(_secret.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
        return hex(out, len);
    }
    // token = hex(uid) "." hex(name) "." hmac: opaque to clients, checked on every hello.
    std::string make_token(const author& who) {
        std::string body = hex(reinterpret_cast<const unsigned char*>(who.uid.data()), who.uid.size()) +
                           "." + hex(reinterpret_cast<const unsigned char*>(who.name.data()), who.name.size());
        return body + "." + sign(body);
    }
    std::optional<author> verify_token(const std::string& token) {
        auto last = token.rfind('.');
        if (last == std::string::npos) return std::nullopt;
        std::string body = token.substr(0, last), mac = token.substr(last + 1);
        std::string expected = sign(body);
        if (mac.size() != expected.size() || CRYPTO_memcmp(mac.data(), expected.data(), mac.size()) != 0) {
            return std::nullopt;
        }
        auto dot = body.find('.');
        if (dot == std::string::npos) return std::nullopt;
        auto unhex = [](const std::string& h) {
            std::string out;
            for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
            return out;
        };
        return author{unhex(body.substr(0, dot)), unhex(body.substr(dot + 1))};
    }

    const chat_config& _config;
    chat_metrics _metrics;
    server_t _server;
    std::unique_ptr<asio::steady_timer> _tick;
    db_thread _writer;
    db_thread _reader;
    std::string _secret;
    std::map<hdl_t, session, std::owner_less<hdl_t>> _sessions;
    // room -> its sessions on this process. The pointers stay valid while the entry exists:
    // sessions and their room_state live in std::map nodes, erased only after the entry is.
    struct member {
        session* sess;
        room_state* state;
    };
    std::map<std::string, std::map<hdl_t, member, std::owner_less<hdl_t>>> _members;
    std::map<std::string, std::map<std::string, int>> _presence;  // room -> uid -> connections
    std::map<std::string, std::map<std::string, std::string>> _names;
    std::mt19937_64 _rng{std::random_device{}()};
    uint64_t _next_session = 0;
    uint64_t _boot = std::chrono::system_clock::now().time_since_epoch().count();
    std::atomic<bool> _relay_stop{false};
};

}  // namespace

void run_chat_server(const chat_config& config) { chat_server(config).run(); }

}  // namespace stchat::chat
