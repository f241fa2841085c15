// The WebSocket chat server. Threads: one Asio thread owns every session (all session state is
// touched only there); a writer thread group-commits sends, joins and leaves and a reader thread
// batches replay reads (db_worker); a key thread hashes and checks private rooms' keys; the relay
// tails the log (log_relay); the lease renews this node and heals dead ones (node_lease).
// Results travel back with asio::post; room events (a commit's, a relay batch) through the
// urgent lane, ahead of the queued writes (urgent_lane).
//
// What a frame means is decided by protocol_codec; who a client is by identity; what a string
// may hold by text_rules; when a session is pinged or idle by keepalive; who is in a room by
// room_presence (and through this process by local_presence); whether a join may go ahead by
// join_gate; how a join catches up with its room by room_replay; which session gets which room
// event by room_fanout; how much a session may have waiting by session_output; what plain HTTP
// gets by http_edge. This file is the sessions: what each may do, and when.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <unistd.h>

#include <fstream>
#include <functional>
#include <algorithm>
#include <map>
#include <string_view>
#include <unordered_map>
#include <set>
#include <sstream>
#include <thread>

#include "chat_metrics.h"
#include "db_worker.h"
#include "frame_cache.h"
#include "http_edge.h"
#include "identity.h"
#include "keepalive.h"
#include "log_relay.h"
#include "node_lease.h"
#include "ops_sampler.h"
#include "protocol_codec.h"
#include "join_gate.h"
#include "local_presence.h"
#include "room_fanout.h"
#include "room_presence.h"
#include "room_keys.h"
#include "room_replay.h"
#include "stchat/chat/chat_server.h"
#include "stchat/chat/room_log.h"
#include "stchat/common/limits.h"
#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/heartbeat.h"
#include "stchat/eventstore/sql_session.h"
#include "text_rules.h"
#include "task_thread.h"
#include "token_bucket.h"
#include "urgent_lane.h"
#include "ws_frames.h"

namespace stchat::chat {
namespace {

constexpr const char* k_component = "chat";

using hdl_t = websocketpp::connection_hdl;
using steady = std::chrono::steady_clock;
constexpr size_t k_max_held = 256;        // frames kept while a join is checked
constexpr size_t k_max_held_bytes = 256 * 1024;  // and their bytes (a frame may be 64 KiB)
constexpr size_t k_max_http_body = 1024;  // bytes of an HTTP request body
constexpr double k_ping_burst = 20;
constexpr size_t k_max_member_names = 200;  // names in a joined frame
// History reads one session may have waiting for the reader: so a slow Postgres cannot make the
// reader's queue grow with what clients ask meanwhile (each session holds at most this many).
constexpr int k_max_histories = 4;
// Joins and leaves alone wait 100 ms to 1 s (longer while many members get them) to reach the
// room's members, gathered: in a reconnect storm each member gets them in a few writes, not one
// write per join (room_fanout.h).
constexpr std::chrono::milliseconds k_presence_hold_min{100}, k_presence_hold_max{1000};

struct session {
    session(double actions_per_second, double pings_per_second)
        : actions(actions_per_second, 2 * actions_per_second), pings(pings_per_second, k_ping_burst) {}
    uint64_t id = 0;
    session_output out;  // its connection, held until on_close erases the session
    keepalive_state alive{steady::now()};  // alive.greeted: said hello (legacy: always); identity fixed
    bool legacy = false;
    author who;
    std::map<std::string, session_room> rooms;
    uint64_t next_request = 0;
    // Frames that came while a join was being checked: handled in order once it is, so a client
    // may send right after its join without waiting for `joined`.
    bool join_pending = false;
    std::deque<std::string> held;
    size_t held_bytes = 0;
    uint64_t legacy_messages = 0;
    int histories = 0;     // history reads waiting for the reader (at most k_max_histories)
    token_bucket actions;  // sends, joins and leaves
    token_bucket pings;    // pings from the client
};

int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string secret_of(const eventstore::store_config& store) {
    auto sql = eventstore::make_sql_session(store);
    auto rows = sql->exec("SELECT encode(secret, 'hex') FROM chat_secret WHERE id = 1");
    if (rows.empty() || !rows[0][0]) throw std::runtime_error("chat_secret missing: run stchat migrate");
    std::string out;
    const std::string& h = *rows[0][0];
    auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(digit(h[i]) * 16 + digit(h[i + 1])));
    return out;  // the secret's bytes: the HMAC key
}

class chat_server {
public:
    explicit chat_server(const chat_config& config)
        : _config(config),
          _node(make_node_name(config.port)),
          _limits{config.max_text},
          _tokens(secret_of(config.store), config.token_ttl_s),
          _origins(config.allowed_origins, config.allowed_hosts),
          _writer(config.store, [this](const std::vector<send_request>& sends, const std::vector<room_ack>& acks) {
                      committed(sends, acks);
                  }, _node,
                  {&_health, &_metrics.db_retries, "postgres writes", "a chat append"},
                  // Past the bound Postgres is away or far behind, and queueing more would only
                  // grow memory: the sender is told to send again.
                  {config.max_queued_messages, &_metrics.messages_queued}),
          _reader(config.store, {}, "", {&_health, &_metrics.db_retries, "postgres reads", "a replay read"}) {
        _server.clear_access_channels(websocketpp::log::alevel::all);
        _server.clear_error_channels(websocketpp::log::elevel::all);
        _server.init_asio();
        _urgent = std::make_unique<urgent_lane>(_server.get_io_service());
        _gate = std::make_unique<join_gate>(
            join_gate_config{config.rooms_per_minute, config.max_key_checks, &_metrics.key_checks_queued},
            _server.get_io_service(), _writer, _keys);
        _hold_timer = std::make_unique<asio::steady_timer>(_server.get_io_service());
        _replay = std::make_unique<room_replay>(
            room_replay_config{&_reader, &_fanout, &_room_presence, &_frames, _config.max_buffered,
                               &_metrics.replays_from_memory,
                               [this](const replay_cursor& c, replay_session* out) { return replay_target(c, out); },
                               [this](const replay_cursor& c) { join_failed(c); },
                               [this](const replay_cursor& c, int64_t head) { send_joined(c, head); }},
            _server.get_io_service());
        _server.set_reuse_addr(true);
        // Small frames go out at once: Nagle's algorithm would hold them for the peer's delayed ACK.
        _server.set_tcp_post_init_handler([this_ = &_server](websocketpp::connection_hdl h) {
            std::error_code ec;
            this_->get_con_from_hdl(h)->get_socket().set_option(asio::ip::tcp::no_delay(true), ec);
        });
        // Every byte bounded before it is parsed: frames (the 64-bit length check is in
        // third_party/websocketpp/processors/hybi13.hpp), HTTP bodies; headers are bounded by
        // websocketpp (16,000 bytes).
        _server.set_max_message_size(config.max_frame);
        _server.set_max_http_body_size(k_max_http_body);
        _server.set_open_handshake_timeout(5000);
        _server.set_close_handshake_timeout(5000);
        _server.set_pong_handler([this](hdl_t h, std::string) { touch(h); });
        _server.set_ping_handler([this](hdl_t h, std::string payload) { return on_ping(h, payload); });
        _server.set_validate_handler([this](hdl_t h) { return _http.validate(_server.get_con_from_hdl(h)); });
        _server.set_open_handler([this](hdl_t h) { on_open(h); });
        _server.set_close_handler([this](hdl_t h) { on_close(h); });
        _server.set_message_handler([this](hdl_t h, server_t::message_ptr m) { on_message(h, m); });
        _server.set_http_handler([this](hdl_t h) { _http.serve(_server.get_con_from_hdl(h)); });
    }

    // The workers post to each other (keys -> writer -> reader, writer -> keys): each is drained
    // and joined while those it posts to still run; what is posted to a stopped one is dropped.
    ~chat_server() {
        _keys.stop();
        _writer.stop();
        _reader.stop();
    }

    void run() {
        // The relay starts at the head as it is before the first connection is accepted: every
        // later event is delivered live, every earlier one is in a join's replay.
        long files = raise_open_files_limit();
        if (files >= 0 && files < 4096) {
            log::warn(k_component, "open files limit is " + std::to_string(files) + ": at most that many connections");
        }
        int64_t start = eventstore::make_event_log(_config.store)->head();
        {
            // websocketpp reports a busy port as "Underlying Transport Error": say which port.
            websocketpp::lib::error_code ec;
            _server.listen(asio::ip::tcp::v4(), _config.port, ec);
            if (ec) {
                throw std::runtime_error(ec == asio::error::address_in_use || ec.message().find("in use") != std::string::npos
                                             ? "address already in use: port " + std::to_string(_config.port) +
                                                   " (another stchat chat? choose one with --port)"
                                             : "cannot listen on port " + std::to_string(_config.port) + ": " + ec.message());
            }
        }
        // Before the first connection: the node of a killed predecessor on this port is taken over
        // with its users' rooms (they come back here); older ones are healed.
        node_start adopted = adopt_earlier_node_of_this_port(_config.store, _node);
        _node = adopted.node;
        _writer.set_node(_node);
        _local.adopt(adopted.members);
        heal_earlier_nodes_of_this_port(_config.store, _node);
        _server.start_accept();
        _tick = std::make_unique<asio::steady_timer>(_server.get_io_service());
        schedule_tick();
        if (_local.has_adopted()) {
            // Those who did not come back within the lease leave.
            _adopt_timer = std::make_unique<asio::steady_timer>(_server.get_io_service(),
                                                                std::chrono::milliseconds(_config.node_lease_ms));
            _adopt_timer->async_wait([this](const std::error_code& ec) {
                if (!ec) leave_adopted();
            });
        }
        log::info(k_component, "listening on port " + std::to_string(_config.port));
        // Joined however run() ends, also by an exception.
        struct joiner {
            std::atomic<bool>& stop;
            std::vector<std::thread> threads;
            ~joiner() {
                stop = true;
                for (auto& t : threads) t.join();
            }
        } threads{_stopping, {}};
        // Each batch is fanned out on the Asio thread; its done() is posted behind the write each
        // connection's send posted (websocketpp), so the next batch comes once those writes have
        // been handed to the sockets (not necessarily completed: memory stays bounded by the
        // relay's backlog and each session's max_buffered).
        log_relay relay({_config.store, start, &_health, &_metrics.relay_position, &_metrics.relay_lag,
                         [this](std::vector<room_event> batch, std::function<void()> done) {
                             auto& io = _server.get_io_service();
                             _urgent->post([this, &io, batch = std::move(batch), done = std::move(done)] {
                                 _fanout.relayed(batch);
                                 asio::post(io, done);
                             });
                         }});
        // The operator's page's last 10 minutes (GET /ops/data).
        _ops = std::make_unique<ops_sampler>(ops_sampler_config{_config.store});
        // `stchat status` sees this process, its sessions and its health.
        eventstore::heartbeat beat({_config.store, "chat", _config.port,
                                    [this] {
                                        return "\"sessions\": " + std::to_string(_metrics.sessions_v1.value() +
                                                                                 _metrics.sessions_legacy.value()) +
                                               ", \"sessions_legacy\": " + std::to_string(_metrics.sessions_legacy.value()) +
                                               ", \"frames_sent\": " + std::to_string(_metrics.frames_sent.value()) +
                                               ", \"metrics\": " + _metrics.reg.values_json();  // for /ops
                                    },
                                    [this] { return _health.problems(); }});
        // The lease: this node's users leave if it dies; the users of nodes that died leave.
        auto lease_ms = std::chrono::milliseconds(_config.node_lease_ms);
        node_lease lease({_config.store, _node, lease_ms, lease_ms / 3,
                          [this] { asio::post(_server.get_io_service(), [this] { join_again(); }); }});
        threads.threads.emplace_back([this] {
            while (!sleep_unless_stopped(std::chrono::milliseconds(200)) && !_stopping) {}
            asio::post(_server.get_io_service(), [this] { shutdown(); });
        });
        _urgent->run();  // the Asio loop, room events ahead of its queue (urgent_lane.h)
        log::info(k_component, "stopped");
    }

private:
    // ---- connection lifecycle (Asio thread) ----
    void on_open(hdl_t h) {
        auto con = _server.get_con_from_hdl(h);
        session& s = _sessions.try_emplace(h, _config.sends_per_second, _config.pings_per_second).first->second;
        s.id = ++_next_session;
        s.out = session_output(con, &_output_rules);
        s.legacy = con->get_subprotocol() != k_subprotocol;
        _metrics.connections.add();
        (s.legacy ? _metrics.sessions_legacy : _metrics.sessions_v1).add(1);
        if (s.legacy) {
            s.who = {random_uid(), random_name()};
            s.alive.greeted = true;
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

    void close(session& s, websocketpp::close::status::value code, const char* reason, const char* metric) {
        if (s.out.close(code, reason) && metric) _metrics.closed[metric]->add();
    }

    void on_message(hdl_t h, server_t::message_ptr m) {
        auto it = _sessions.find(h);
        if (it == _sessions.end()) return;
        session& s = it->second;
        s.alive.last_seen = steady::now();
        _metrics.frames_received.add();
        if (m->get_opcode() != websocketpp::frame::opcode::text) {
            // Binary frames skip the UTF-8 check: nothing in them is taken (RFC 6455 7.4.1).
            return close(s, websocketpp::close::status::unsupported_data, "text frames only", "binary_frame");
        }
        if (s.join_pending) {
            // A liveness ping is answered at once, not held behind the join: its client would
            // take the wait for a dead connection and reconnect.
            if (!s.legacy && m->get_payload().size() < 64) {
                decoded d = decode_v1(m->get_payload(), _limits);
                if (d.req && d.req->type == request::kind::ping) return handle_frame(h, s, m->get_payload());
            }
            if (s.held.size() >= k_max_held || s.held_bytes + m->get_payload().size() > k_max_held_bytes) {
                return error(h, "rate_limited", "too many frames while joining", "");
            }
            s.held_bytes += m->get_payload().size();
            s.held.push_back(m->get_payload());
            return;
        }
        handle_frame(h, s, m->get_payload());
    }

    // Pings are answered here, not by websocketpp, so that a pong counts toward the slow-reader
    // bound like every other output (websocketpp counts only payload bytes: an empty pong was
    // free), and a client pinging faster than pings_per_second (bursts of 20) is closed 1008.
    bool on_ping(hdl_t h, const std::string& payload) {
        auto it = _sessions.find(h);
        if (it == _sessions.end()) return false;
        session& s = it->second;
        s.alive.last_seen = steady::now();
        if (!s.pings.take()) {
            close(s, websocketpp::close::status::policy_violation, "ping flood", "ping_flood");
            return false;
        }
        auto pong = std::make_shared<frame_t>(frame_t::con_msg_man_ptr(), websocketpp::frame::opcode::pong, 0);
        std::string frame(1, static_cast<char>(0x8A));
        frame.push_back(static_cast<char>(payload.size()));  // a ping's payload is <= 125 bytes
        frame += payload;
        pong->set_header("");
        pong->set_payload(frame);  // header and payload both counted by get_buffered_amount()
        pong->set_prepared(true);
        s.out.send(pong);
        return false;
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
            s.held_bytes -= frame.size();
            handle_frame(h, s, frame);
        }
    }

    void handle_frame(hdl_t h, session& s, const std::string& payload) {
        if (s.legacy) return on_legacy_message(h, s, payload);
        decoded d = decode_v1(payload, _limits);
        if (!d.req) return error(h, d.error.code.c_str(), d.error.message, d.error.ref);
        request& r = *d.req;
        if (r.type == request::kind::ping) {
            // A client's liveness check, allowed before hello; under the same flood rule as pings.
            if (!s.pings.take()) return close(s, websocketpp::close::status::policy_violation, "ping flood", "ping_flood");
            return send_text(h, pong_frame());
        }
        if (r.type != request::kind::hello && !s.alive.greeted) {
            return error(h, "hello_required", "send hello first", "");
        }
        switch (r.type) {
        case request::kind::hello: return on_hello(h, s, r);
        case request::kind::join: return on_join(h, s, r);
        case request::kind::send: return on_send(h, s, r);
        case request::kind::leave: return on_leave(h, s, r);
        case request::kind::history: return on_history(h, s, r);
        case request::kind::ping: return;  // answered above
        }
    }

    // ---- v1 requests ----
    void on_hello(hdl_t h, session& s, request& r) {
        if (s.alive.greeted) {
            return error(h, "bad_frame", "hello was already said on this connection; reconnect to change user", "hello");
        }
        if (r.token) {
            auto check = _tokens.verify(*r.token, now_seconds());
            if (check.result == token_signer::status::expired) {
                return error(h, "forbidden", "token expired: say hello with your name for a new one", "hello");
            }
            if (check.result != token_signer::status::ok) return error(h, "forbidden", "invalid token", "hello");
            s.who = check.who;
        } else {
            s.who = {random_uid(), r.name ? *r.name : random_name()};
        }
        s.alive.greeted = true;
        send_text(h, welcome_frame(s.who, _tokens.make(s.who, now_seconds())));
    }

    bool take_action(hdl_t h, session& s, const std::string& ref, const std::string& room = "") {
        if (s.actions.take()) return true;
        error(h, "rate_limited", "too many sends, joins and leaves", ref, room, s.actions.retry_after_ms());
        return false;
    }

    void on_join(hdl_t h, session& s, request& r) {
        if (!s.rooms.count(r.room) && s.rooms.size() >= _config.max_rooms) {
            return error(h, "too_many_rooms",
                         "at most " + std::to_string(_config.max_rooms) + " rooms per connection: leave one first", "join",
                         r.room);
        }
        if (!take_action(h, s, "join", r.room)) return;
        // Access, quota and key (join_gate), then the join continues here; a refusal says nothing
        // about the room.
        s.join_pending = true;
        _gate->check(s.who.uid, r.room, r.key, [this, h] { return _sessions.count(h) > 0; },
                    [this, h, room = r.room, since = r.since](access_result result, int wait_ms) {
                        decided(h, room, since, result, wait_ms);
                    });
    }

    void decided(hdl_t h, const std::string& room, std::optional<int64_t> since, access_result result, int wait_ms) {
        auto it = _sessions.find(h);
        if (it == _sessions.end()) return;
        switch (result) {
        case access_result::ok: join(h, it->second, room, since, false); break;
        case access_result::forbidden: error(h, "forbidden", "private room: wrong or missing key", "join", room); break;
        case access_result::busy:
            error(h, "rate_limited", "private room checks are busy", "join", room, 1000);
            break;
        case access_result::failed: error(h, "internal", "the join failed; join again", "join", room); break;
        case access_result::room_quota:
            error(h, "rate_limited", "at most " + std::to_string(_config.rooms_per_minute) + " new rooms a minute", "join",
                  room, wait_ms);
            break;
        }
        release_held(h);
    }


    void on_send(hdl_t h, session& s, request& r) {
        if (!s.rooms.count(r.room)) return error(h, "not_joined", "join the room first", r.id);
        if (!take_action(h, s, r.id)) return;
        send_message(h, s, r.room, r.id, r.text);
    }

    void on_leave(hdl_t h, session& s, request& r) {
        if (!s.rooms.count(r.room)) return error(h, "not_joined", "not in this room", "leave", r.room);
        if (!take_action(h, s, "leave", r.room)) return;
        leave_room(h, s, r.room);
        s.rooms.erase(r.room);
        send_text(h, left_frame(r.room));
    }

    // Older events of a joined room, paged from the database on the reader thread: the events
    // with seq in [before - limit, before - 1] (seqs are gap-free), marked history, then
    // history_end. The live stream and its order are untouched.
    void on_history(hdl_t h, session& s, request& r) {
        if (!s.rooms.count(r.room)) return error(h, "not_joined", "join the room first", "history", r.room);
        if (!take_action(h, s, "history", r.room)) return;
        if (s.histories >= k_max_histories) {
            return error(h, "rate_limited", "history requests wait for the database; ask again", "history", r.room, 1000);
        }
        ++s.histories;
        auto& io = _server.get_io_service();
        _reader.post([this, h, room = r.room, before = r.before, limit = r.limit, &io](room_log& rooms) {
            std::vector<room_event> page;
            int64_t upto = 0;
            bool failed = false;
            try {
                upto = before ? *before : rooms.head(room) + 1;
                int64_t after = std::max<int64_t>(0, upto - 1 - limit);
                page = rooms.read(room, after, static_cast<int>(std::max<int64_t>(0, upto - 1 - after)));
            } catch (const std::exception& e) {
                failed = true;
                log::warn(k_component, std::string("history failed: ") + e.what());
            }
            asio::post(io, [this, h, room, upto, failed, page = std::move(page)] {
                auto it = _sessions.find(h);
                if (it == _sessions.end()) return;
                --it->second.histories;
                if (failed) return error(h, "unavailable", "history could not be read; try again", "history", room);
                for (const auto& e : page) {
                    if (e.seq < upto) send_text(h, event_frame(e, true));
                }
                send_text(h, history_end_frame(room, upto, page.empty() ? upto : std::min(upto, page.front().seq)));
            });
        });
    }

    // The original protocol: {"message": "..."} to lobby. Same limits as v1; what is refused is
    // said with {"action": "error", ...} (the original ignored frames it did not understand).
    void on_legacy_message(hdl_t h, session& s, const std::string& payload) {
        auto text = decode_legacy(payload, _limits);
        if (!text) return;
        if (const char* why = text_problem(*text)) return send_text(h, legacy_error_frame(std::string("not sent: ") + why));
        if (utf8_length(*text) > _config.max_text) {
            return send_text(h, legacy_error_frame("not sent: over " + std::to_string(_config.max_text) + " characters"));
        }
        if (!s.actions.take()) {
            _metrics.errors["rate_limited"]->add();
            return send_text(h, legacy_error_frame("not sent: too many messages, retry in " +
                                                   std::to_string(s.actions.retry_after_ms()) + " ms"));
        }
        send_message(h, s, "lobby", "legacy-" + std::to_string(s.id) + "-" + std::to_string(++s.legacy_messages), *text);
    }

    // ---- rooms ----
    // The session is registered for live events first (they wait in `pending`), then its join is
    // appended (if it is the user's first connection to the room here), then the replay runs
    // (room_replay.h): the hand-over from the room's past to its live events, each once.
    void join(hdl_t h, session& s, const std::string& room, std::optional<int64_t> since, bool quiet) {
        bool again = s.rooms.count(room) > 0;
        session_room& state = s.rooms[room];
        state = session_room{};
        state.generation = ++s.next_request;
        _fanout.add(room, s.id, {&s.out, s.legacy, &state});
        bool feed = is_feed_room(room);
        bool first = false;
        uint64_t presence_token = !feed && !again ? _room_presence.track(room) : 0;  // non-zero: read who is in it
        // Its first connection to the room here, and not back after a restart of this process
        // (still in the room through its node): its join is appended.
        if (!feed && !again) first = _local.enter(room, s.who);
        author who = s.who;
        std::string request = std::to_string(s.id) + ":" + std::to_string(++s.next_request) + ":" +
                              std::to_string(_boot);
        int64_t history = _config.history;
        replay_cursor c{h, room, state.generation, 0, 0, true, presence_token};
        // Where the replay starts: after `since` (a `since` above the head is read as the head,
        // so live events follow); else the last `history` events; a legacy client (quiet) starts
        // at its own join, as in the original.
        auto start = [since, history, quiet, room, with_members = presence_token != 0](int64_t own_join) {
            room_read r = since ? room_read{room, *since, false}
                          : quiet ? (own_join > 0 ? room_read{room, own_join - 1, false} : room_read{room, 0, true})
                                  : room_read{room, history, true};
            r.with_members = with_members;
            return r;
        };
        if (!first) return _replay->start(c, start(0));
        // The join is group-committed with the other sends, joins and leaves; its replay is read
        // with the other joins' replays (or comes from memory).
        auto& io = _server.get_io_service();
        _writer.send({{room, who, request, "", append_kind::join}, [this, c, start, &io](room_ack ack, send_outcome outcome) {
                          if (outcome != send_outcome::stored) return _replay->failed(c);
                          asio::post(io, [this, c, r = start(ack.seq)] { _replay->start(c, r); });
                      }});
    }

    // The first page of a join's replay is in: the client hears it has joined, at `head`, with
    // who is there (at most k_max_member_names: a room of 10,000 must not send 10,000 names per
    // join). Who the room's events say is there (the same on every process); until that is known
    // (its read failed), who is there through this process.
    void send_joined(const replay_cursor& c, int64_t head) {
        auto it = _sessions.find(c.h);
        if (it == _sessions.end() || it->second.legacy) return;
        const session& s = it->second;
        size_t total = 0;
        std::vector<std::string> names;
        if (_room_presence.known(c.room)) {
            names = _room_presence.names(c.room, k_max_member_names, &total);
            if (!_room_presence.present(c.room, s.who.uid)) {
                // Its own join is committed, its event not yet relayed here: it is there.
                if (names.size() < k_max_member_names) names.push_back(s.who.name);
                ++total;
            }
        } else {
            names = _local.names(c.room, k_max_member_names, &total);
        }
        send_text(c.h, joined_frame(c.room, head, names, total));
    }

    // A join whose database work failed: the session leaves the room so that the client's join
    // can simply be repeated.
    void join_failed(const replay_cursor& c) {
        auto it = _sessions.find(c.h);
        if (it == _sessions.end()) return;
        leave_room(c.h, it->second, c.room);
        it->second.rooms.erase(c.room);
        error(c.h, "internal", "the join failed; join again", "join", c.room);
    }

    // The session of a replay, if it is still in the same join of the room.
    bool replay_target(const replay_cursor& c, replay_session* out) {
        auto it = _sessions.find(c.h);
        if (it == _sessions.end()) return false;
        auto r = it->second.rooms.find(c.room);
        if (r == it->second.rooms.end() || r->second.generation != c.generation) return false;
        *out = {&it->second.out, it->second.legacy, &r->second};
        return true;
    }

    // Rooms nobody on this process is in leave the maps: memory follows the rooms in use, not
    // every room ever joined.
    void leave_room(hdl_t h, session& s, const std::string& room) {
        _fanout.remove(room, s.id);
        if (is_feed_room(room)) return;  // read-only: nothing to record
        _room_presence.untrack(room);
        if (!_local.leave(room, s.who.uid)) return;  // another connection of the user is still there
        author who = s.who;
        std::string request = std::to_string(s.id) + ":" + std::to_string(++s.next_request) + ":" + std::to_string(_boot);
        _writer.send({{room, who, request, "", append_kind::leave}, [](room_ack, send_outcome) {}});
    }

    void send_message(hdl_t h, session& s, const std::string& room, const std::string& id, const std::string& text) {
        bool legacy = s.legacy;
        auto received = steady::now();
        // The ack goes through the urgent lane too, right behind its commit's fan-out (the
        // writer calls the batch hook first): the sender hears of the commit as soon as the
        // room does, not a whole round of queued writes later (~18 ms when busy).
        _writer.send({{room, s.who, id, text}, [this, h, room, id, legacy, received](room_ack ack, send_outcome outcome) {
                          if (outcome == send_outcome::stored) (ack.duplicate ? _metrics.duplicates : _metrics.messages_stored).add();
                          _urgent->post([this, h, room, id, legacy, ack, outcome, received] {
                              if (legacy || !_sessions.count(h)) return;
                              _metrics.send_latency.observe(std::chrono::duration<double>(steady::now() - received).count());
                              if (outcome == send_outcome::bad_data) return error(h, "bad_frame", "the database refused this message", id);
                              if (outcome == send_outcome::failed) return error(h, "internal", "not stored; send again", id);
                              if (outcome == send_outcome::busy) {
                                  return error(h, "rate_limited", "the database is behind; send again", id, "", 1000);
                              }
                              if (ack.other_room) return error(h, "bad_frame", "id already used for a message in another room", id);
                              send_text(h, ack_frame(room, id, ack.seq, ack.duplicate));
                          });
                      }});
    }

    // The users of the node taken over who did not come back within the lease leave (marked
    // still_here for those who came back through another node), in arrival order with this
    // node's other writes.
    void leave_adopted() {
        if (!_local.has_adopted()) return;
        std::vector<std::string> rooms, uids;
        for (auto& m : _local.take_not_back()) {
            rooms.push_back(std::move(m.room));
            uids.push_back(std::move(m.uid));
        }
        _writer.post([node = _node, rooms = std::move(rooms), uids = std::move(uids)](room_log& log) {
            try {
                int n = log.close_memberships(node, rooms, uids);
                if (n > 0) log::info(k_component, std::to_string(n) + " user(s) of the earlier process did not come back: left");
            } catch (const std::exception& e) {
                log::warn(k_component, std::string("the earlier process's users' leaves failed (the lease's heal will append them): ") +
                                           e.what());
            }
        });
    }

    // This node was healed while alive (its lease ran out): every user it has in a room joins
    // again, so that the room's events say they are there.
    void join_again() {
        _local.forget_adopted();  // healed too: those of them who come back join again like anyone
        for (const auto& [room, who] : _local.all()) join_again(room, who.uid, 1);
    }

    // One user's join again; a failed one (Postgres still away) is tried again after a second,
    // as long as the user is still here, up to 60 times. A join appended twice is harmless: the
    // last join or leave of a (room, user, node) is what counts.
    void join_again(const std::string& room, const std::string& uid, int attempt) {
        const std::string* name = _local.name_of(room, uid);
        if (!name) return;  // left meanwhile
        std::string request = "again:" + std::to_string(++_rejoins) + ":" + std::to_string(_boot);
        auto& io = _server.get_io_service();
        _writer.send({{room, {uid, *name}, request, "", append_kind::join},
                      [this, room, uid, attempt, &io](room_ack, send_outcome outcome) {
                          if (outcome == send_outcome::stored || attempt >= 60) return;
                          asio::post(io, [this, room, uid, attempt, &io] {
                              auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(1));
                              timer->async_wait([this, room, uid, attempt, timer](const std::error_code& ec) {
                                  if (!ec) join_again(room, uid, attempt + 1);
                              });
                          });
                      }});
    }

    // ---- room events -> sessions (room_fanout.h): the relay's batches, and own commits ----
    // A group commit of the writer (its thread): its new events go to deliver_own in one hand-over
    // to the Asio thread, before the acks (the sends' own callbacks post after this).
    void committed(const std::vector<send_request>& sends, const std::vector<room_ack>& acks) {
        _metrics.send_batches.add();
        std::vector<room_event> own;
        own.reserve(sends.size());
        for (size_t i = 0; i < sends.size() && i < acks.size(); ++i) {
            if (!acks[i].duplicate && acks[i].position > 0) own.push_back(own_event(sends[i], acks[i], _node));
        }
        if (own.empty()) return;
        _urgent->post([this, own = std::move(own)] { _fanout.own(own); });
    }

    // ---- output: every frame to a client goes through its session_output ----
    void send_text(hdl_t h, const std::string& text) {
        if (auto it = _sessions.find(h); it != _sessions.end()) it->second.out.send_text(text);
    }

    // An error frame, counted by code; retry_after_ms >= 0 says when to try again (rate_limited).
    void error(hdl_t h, const char* code, const std::string& message, const std::string& ref,
               const std::string& room = "", int retry_after_ms = -1) {
        if (auto c = _metrics.errors.find(code); c != _metrics.errors.end()) c->second->add();
        send_text(h, error_frame(code, message, ref, retry_after_ms, room));
    }

    // ---- keepalive: ping quiet sessions, close dead ones ----
    void touch(hdl_t h) {
        auto it = _sessions.find(h);
        if (it != _sessions.end()) it->second.alive.last_seen = steady::now();
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
        const keepalive_config rules{_config.ping_interval_ms, _config.idle_timeout_ms, _config.hello_timeout_ms};
        for (auto& [h, s] : _sessions) {
            websocketpp::lib::error_code ec;
            if (!s.out.open()) continue;
            switch (keepalive_due(rules, s.alive, now)) {
            case keepalive_action::close_no_hello:
                close(s, websocketpp::close::status::policy_violation, "hello required", "no_hello");
                break;
            case keepalive_action::close_idle: close(s, websocketpp::close::status::going_away, "idle timeout", "idle"); break;
            case keepalive_action::ping: s.out.connection()->ping("", ec); break;
            case keepalive_action::none: break;
            }
        }
        _gate->sweep();  // room-creation quotas of users with nothing in the last minute
        _fanout.forget_empty_rooms();
    }

    void shutdown() {
        websocketpp::lib::error_code ec;
        if (_tick) _tick->cancel();
        if (_adopt_timer) _adopt_timer->cancel();
        leave_adopted();  // a clean stop: those not back leave now (the writer drains before it stops)
        _server.stop_listening(ec);
        for (auto& s : _sessions) {
            auto con = _server.get_con_from_hdl(s.first, ec);
            if (!ec) con->close(websocketpp::close::status::going_away, "server stopping", ec);
        }
        // Let the close handshakes finish (at most 300 ms), then stop the Asio loop. A timer on
        // the loop itself: nothing outlives the server.
        _stop_timer = std::make_unique<asio::steady_timer>(_server.get_io_service(), std::chrono::milliseconds(300));
        _stop_timer->async_wait([this](const std::error_code&) { _server.stop(); });
    }

    const chat_config& _config;
    std::string _node;  // this process in chat_node and in its joins' and leaves' metadata
    codec_limits _limits;
    token_signer _tokens;
    origin_policy _origins;
    chat_metrics _metrics;
    std::unique_ptr<ops_sampler> _ops;  // set in run(), before the first request
    metrics::health_state _health;  // what /healthz says (set by the relay, the workers, the watchdog)
    http_edge _http{{&_origins, &_metrics.refused, &_health, &_metrics.reg,
                     [this] { return _ops ? _ops->samples_json() : std::string(); }, _config.ops_public, _config.web_root,
                     // As much waits for the writer as messages may: new sessions would only add joins.
                     [this] { return _writer.waiting() >= _config.max_queued_messages; }}};
    server_t _server;
    std::unique_ptr<urgent_lane> _urgent;  // room events to sessions, ahead of the writes (set with Asio)
    std::unique_ptr<asio::steady_timer> _tick, _stop_timer, _hold_timer, _adopt_timer;
    db_worker _writer;  // joins, leaves, sends, access checks, in arrival order
    db_worker _reader;  // replays
    task_thread _keys;  // argon2id hashes and checks (see ~chat_server for the stop order)
    std::unique_ptr<join_gate> _gate;  // access, quotas and keys before a join (set with Asio)
    room_presence _room_presence;  // who is in the rooms this process has sessions in, by their events
    std::map<hdl_t, session, std::owner_less<hdl_t>> _sessions;
    // Each session's session_room and session_output live in std::map nodes, erased only after
    // the session has left _fanout.
    frame_cache _frames;  // replays' frames, shared by identical replays
    std::unique_ptr<room_replay> _replay;  // joins' replays (set with Asio)
    session_output_config _output_rules{_config.max_buffered, &_metrics.frames_sent, _metrics.closed["slow_reader"]};
    room_fanout _fanout{{10000, &_room_presence, &_metrics.fanned_writer, &_metrics.fanned_relay, k_presence_hold_min, k_presence_hold_max,
                         [this](std::chrono::milliseconds delay) {
                             _hold_timer->expires_after(delay);
                             _hold_timer->async_wait([this](const std::error_code& ec) {
                                 if (!ec) _fanout.flush_held();
                             });
                         }}};
    local_presence _local;  // who is in which room through this process; the users taken over
    uint64_t _next_session = 0;
    uint64_t _rejoins = 0;
    uint64_t _boot = std::chrono::system_clock::now().time_since_epoch().count();
    std::atomic<bool> _stopping{false};  // run() is ending: the stop watcher's thread ends
};

}  // namespace

void run_chat_server(const chat_config& config) { chat_server(config).run(); }

}  // namespace stchat::chat
