#pragma once
// Private to bench/: the chat bench's load: many WebSocket users on one client endpoint.
//
// Example:
//   load_client client;
//   auto users = client.connect("ws://127.0.0.1:8888/", 1000, 10, "bench-");  // hello + join each
//   client.start_recording();
//   client.send(users[0], R"({"type":"send","room":"bench-0","id":"m1","text":"t<now_ns>"})");
//   ... client.delivered() ...; auto latencies_ns = client.stop_recording();
//
// Thread-safety: the public calls from one bench thread; every WebSocket call runs on the
// client's own I/O thread (posted there).
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "stchat/common/log.h"
#include "stchat/common/ws_single_thread.h"

namespace stchat::bench {

// The load client runs every WebSocket call on its one I/O thread (sends are posted there), so
// it needs no strands or locks: the less CPU it takes, the less it disturbs the servers.
using client_t = websocketpp::client<ws_single_thread<websocketpp::config::asio_client>>;
using hdl_t = websocketpp::connection_hdl;
using clock_t_ = std::chrono::steady_clock;

inline int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_t_::now().time_since_epoch()).count();
}

// Many WebSocket users on one client endpoint (one I/O thread). Each says hello, joins its room,
// and then receives; message events are timed against the send time their text carries.
class load_client {
public:
    load_client() {
        _client.clear_access_channels(websocketpp::log::alevel::all);
        _client.clear_error_channels(websocketpp::log::elevel::all);
        _client.init_asio();
        _client.start_perpetual();
        // Small frames go out at once: Nagle's algorithm would hold them for the peer's delayed ACK.
        _client.set_tcp_post_init_handler([this_ = &_client](websocketpp::connection_hdl h) {
            std::error_code ec;
            this_->get_con_from_hdl(h)->get_socket().set_option(asio::ip::tcp::no_delay(true), ec);
        });
        _client.set_open_handler([this](hdl_t h) {
            websocketpp::lib::error_code ec;
            const std::string& token = _state[h].token;
            _client.send(h, token.empty() ? R"({"type":"hello","name":"bench"})"
                                          : R"({"type":"hello","token":")" + token + R"("})",
                         websocketpp::frame::opcode::text, ec);
        });
        _client.set_fail_handler([this](hdl_t) { ++_failed; });
        _client.set_close_handler([this](hdl_t) { ++_closed; });
        _client.set_message_handler([this](hdl_t h, client_t::message_ptr m) { on_frame(h, m->get_payload()); });
        _thread = std::thread([this] { _client.run(); });
    }
    ~load_client() {
        asio::post(_client.get_io_service(), [this] {
            _client.stop_perpetual();
            _client.stop();
        });
        _thread.join();
    }

    // What a connection needs to resume: its room, its token, the last seq it saw there.
    struct resume_state {
        std::string room, token;
        int64_t last_seq = 0;
    };

    // Opens `count` connections into rooms first_room + (i % rooms); returns once all joined.
    std::vector<hdl_t> connect(const std::string& url, int count, int rooms, const std::string& room_prefix) {
        std::vector<resume_state> fresh(static_cast<size_t>(count));
        for (int i = 0; i < count; ++i) fresh[static_cast<size_t>(i)].room = room_prefix + std::to_string(i % rooms);
        return open(url, fresh);
    }

    // The states of `handles` (I/O thread's, copied there), e.g. to resume them after a restart.
    std::vector<resume_state> states_of(const std::vector<hdl_t>& handles) {
        std::promise<std::vector<resume_state>> got;
        asio::post(_client.get_io_service(), [&] {
            std::vector<resume_state> out;
            for (const auto& h : handles) out.push_back(_state[h]);
            got.set_value(std::move(out));
        });
        return got.get_future().get();
    }

    // Opens a connection per state: hello (with its token, if any), join (with since = its last
    // seq, if it has a token); returns once all joined.
    std::vector<hdl_t> open(const std::string& url, const std::vector<resume_state>& states) {
        int count = static_cast<int>(states.size());
        std::vector<hdl_t> out;
        int target = _joined + count;
        for (int i = 0; i < count; ++i) {
            // At most 500 handshakes in flight: the server's listen backlog is finite.
            while (static_cast<int>(out.size()) - (_joined - (target - count)) > 500 && !_failed) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            std::promise<hdl_t> made;
            const resume_state& st = states[static_cast<size_t>(i)];
            asio::post(_client.get_io_service(), [&] {
                websocketpp::lib::error_code ec;
                auto con = _client.get_connection(url, ec);
                if (ec) {
                    made.set_exception(std::make_exception_ptr(std::runtime_error("bench connect: " + ec.message())));
                    return;
                }
                con->add_subprotocol("stchat.v1");
                _state[con->get_handle()] = st;
                _client.connect(con);
                made.set_value(con->get_handle());
            });
            out.push_back(made.get_future().get());
        }
        auto deadline = clock_t_::now() + std::chrono::seconds(120);
        while (_joined < target) {
            if (_failed || clock_t_::now() > deadline) {
                throw std::runtime_error("bench: " + std::to_string(_joined - (target - count)) + " of " +
                                         std::to_string(count) + " joined, " + std::to_string(_failed.load()) +
                                         " failed to connect");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return out;
    }

    void send(hdl_t h, std::string text) {
        asio::post(_client.get_io_service(), [this, h, text = std::move(text)] {
            websocketpp::lib::error_code ec;
            _client.send(h, text, websocketpp::frame::opcode::text, ec);
        });
    }

    void start_recording() {
        std::lock_guard<std::mutex> lock(_mutex);
        _latencies_ns.clear();
        _delivered = 0;
        _recording = true;
    }
    int64_t delivered() const { return _delivered; }
    int64_t last_delivery_ns() const { return _last_ns; }
    std::vector<int64_t> stop_recording() {
        std::lock_guard<std::mutex> lock(_mutex);
        _recording = false;
        return std::move(_latencies_ns);
    }
    int errors() const { return _errors; }
    int closed() const { return _closed; }

private:
    void on_frame(hdl_t h, const std::string& f) {
        if (f.compare(0, 15, R"({"type":"event")") == 0) {
            if (auto at = f.find(R"("seq":)"); at != std::string::npos) {
                int64_t seq = std::strtoll(f.c_str() + at + 6, nullptr, 10);
                auto& st = _state[h];
                if (seq > st.last_seq) st.last_seq = seq;
            }
            if (f.find(R"("kind":"message")") == std::string::npos) return;
            auto at = f.find(R"("text":"t)");
            if (at == std::string::npos) return;
            int64_t sent = std::strtoll(f.c_str() + at + 9, nullptr, 10);
            int64_t now = now_ns();
            std::lock_guard<std::mutex> lock(_mutex);
            if (!_recording) return;
            _latencies_ns.push_back(now - sent);
            _last_ns = now;
            ++_delivered;
        } else if (f.compare(0, 17, R"({"type":"welcome")") == 0) {
            auto& st = _state[h];
            bool resuming = !st.token.empty();
            if (auto at = f.find(R"("token":")"); at != std::string::npos) {
                auto end = f.find('"', at + 9);
                if (end != std::string::npos) st.token = f.substr(at + 9, end - at - 9);
            }
            websocketpp::lib::error_code ec;
            _client.send(h, R"({"type":"join","room":")" + st.room + R"(")" +
                                (resuming ? R"(,"since":)" + std::to_string(st.last_seq) : std::string()) + "}",
                         websocketpp::frame::opcode::text, ec);
        } else if (f.compare(0, 16, R"({"type":"joined")") == 0) {
            ++_joined;
        } else if (f.compare(0, 15, R"({"type":"error")") == 0) {
            if (++_errors <= 3) log::warn("bench", "error frame: " + f);
        }
    }

    client_t _client;
    std::thread _thread;
    std::mutex _mutex;
    std::map<hdl_t, resume_state, std::owner_less<hdl_t>> _state;  // I/O thread only
    std::vector<int64_t> _latencies_ns;
    bool _recording = false;
    std::atomic<int64_t> _delivered{0}, _last_ns{0};
    std::atomic<int> _joined{0}, _failed{0}, _closed{0}, _errors{0};
};

}  // namespace stchat::bench
