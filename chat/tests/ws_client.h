#pragma once
// A small blocking WebSocket client for tests: frames are queued as they arrive and taken with
// a deadline, so tests wait on conditions, never on sleeps.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <rapidjson/document.h>

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace stchat::testing {

class ws_client {
public:
    using client_t = websocketpp::client<websocketpp::config::asio_client>;

    ws_client(const std::string& url, const std::string& subprotocol) {
        _client.clear_access_channels(websocketpp::log::alevel::all);
        _client.clear_error_channels(websocketpp::log::elevel::all);
        _client.init_asio();
        _client.set_message_handler([this](websocketpp::connection_hdl, client_t::message_ptr m) {
            std::lock_guard<std::mutex> lock(_mutex);
            _frames.push_back(m->get_payload());
            _cv.notify_all();
        });
        _client.set_ping_handler([this](websocketpp::connection_hdl, std::string) {
            std::lock_guard<std::mutex> lock(_mutex);
            ++_pings;
            _cv.notify_all();
            return true;  // answer with a pong, as browsers do
        });
        _client.set_open_handler([this](websocketpp::connection_hdl) {
            std::lock_guard<std::mutex> lock(_mutex);
            _open = true;
            _cv.notify_all();
        });
        auto on_end = [this](websocketpp::connection_hdl h) {
            websocketpp::lib::error_code ec;
            auto con = _client.get_con_from_hdl(h, ec);
            std::lock_guard<std::mutex> lock(_mutex);
            if (!ec) _close_code = con->get_remote_close_code();
            _closed = true;
            _cv.notify_all();
        };
        _client.set_close_handler(on_end);
        _client.set_fail_handler(on_end);
        websocketpp::lib::error_code ec;
        _con = _client.get_connection(url, ec);
        if (ec) throw std::runtime_error("ws connect: " + ec.message());
        if (!subprotocol.empty()) _con->add_subprotocol(subprotocol);
        _client.connect(_con);
        _thread = std::thread([this] { _client.run(); });
        std::unique_lock<std::mutex> lock(_mutex);
        if (!_cv.wait_for(lock, std::chrono::seconds(10), [&] { return _open || _closed; }) || !_open) {
            lock.unlock();
            stop();
            throw std::runtime_error("ws connect failed: " + url);
        }
    }
    ~ws_client() { stop(); }

    void send(const std::string& text) {
        websocketpp::lib::error_code ec;
        _client.send(_con->get_handle(), text, websocketpp::frame::opcode::text, ec);
        if (ec) throw std::runtime_error("ws send: " + ec.message());
    }

    // The next frame, or throws after `timeout`.
    std::string next(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock<std::mutex> lock(_mutex);
        if (!_cv.wait_for(lock, timeout, [&] { return !_frames.empty(); })) {
            throw std::runtime_error("no frame within timeout");
        }
        std::string f = std::move(_frames.front());
        _frames.pop_front();
        return f;
    }

    // The next frame whose "type" is `type`, skipping others; parsed.
    rapidjson::Document next_of(const std::string& type,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) throw std::runtime_error("no '" + type + "' frame in time");
            rapidjson::Document d;
            std::string f = next(left);
            d.Parse(f.c_str());
            if (!d.HasParseError() && d.IsObject() && d.HasMember("type") && d["type"].IsString() &&
                type == d["type"].GetString()) {
                return d;
            }
        }
    }

    // Cuts the connection like a network drop: TCP closed, no close handshake. Returns once the
    // client has seen its end.
    void drop() {
        auto con = _con;
        _client.get_io_service().post([con] { con->terminate(websocketpp::lib::error_code()); });
        std::unique_lock<std::mutex> lock(_mutex);
        _cv.wait_for(lock, std::chrono::seconds(10), [&] { return _closed; });
    }

    // Waits until the server has pinged this client `n` times in all; false if not in time.
    bool wait_pings(int n, std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> lock(_mutex);
        return _cv.wait_for(lock, timeout, [&] { return _pings >= n || _closed; }) && _pings >= n;
    }

    int pings() {
        std::lock_guard<std::mutex> lock(_mutex);
        return _pings;
    }

    bool closed() {
        std::lock_guard<std::mutex> lock(_mutex);
        return _closed;
    }

    // Waits for the server to close; returns its close code (-1 if it did not close in time).
    int wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock<std::mutex> lock(_mutex);
        if (!_cv.wait_for(lock, timeout, [&] { return _closed; })) return -1;
        return _close_code;
    }

    void stop() {
        if (!_thread.joinable()) return;
        websocketpp::lib::error_code ec;
        _client.close(_con->get_handle(), websocketpp::close::status::normal, "bye", ec);
        _client.stop_perpetual();
        {
            std::unique_lock<std::mutex> lock(_mutex);
            _cv.wait_for(lock, std::chrono::seconds(2), [&] { return _closed; });
        }
        _client.stop();
        _thread.join();
    }

private:
    client_t _client;
    client_t::connection_ptr _con;
    std::thread _thread;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<std::string> _frames;
    bool _open = false, _closed = false;
    int _close_code = 0;
    int _pings = 0;
};

// A stchat.v1 client that said hello as `name` and got its welcome.
inline std::unique_ptr<ws_client> greeted_client(const std::string& url, const std::string& name) {
    auto c = std::make_unique<ws_client>(url, "stchat.v1");
    c->send(R"({"type":"hello","name":")" + name + R"("})");
    c->next_of("welcome");
    return c;
}

}  // namespace stchat::testing
