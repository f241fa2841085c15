#pragma once
// Private to chat/: every frame the chat server sends to a client goes through one of these. The
// rule it keeps: a client that does not read is never allowed to grow our memory. Once more than
// `max_buffered` bytes wait for its socket, the session is closed 1013 ("too slow; resume with
// since") and sends nothing more; it comes back with `since` and misses nothing.
//
// Example:
//   session_output out(con, &rules);
//   out.send_text(ack_frame(...));            // framed here
//   out.send(shared_prepared_frame, 1);       // framed once, shared by every member of a room
//
// Thread-safety: the Asio thread only (like the connection it wraps).
#include "ws_frames.h"

#include "stchat/common/metrics.h"

namespace stchat::chat {

// Where a session's prepared frames go: a session_output in the server, a recorder in tests.
class frame_sink {
public:
    virtual ~frame_sink() = default;
    // A prepared message (ws_frames.h) of `frames` frames.
    virtual void send(const server_t::message_ptr& message, size_t frames = 1) = 0;
    // Closed 1013 for not keeping up (counted): it resumes later by `since`.
    virtual void close_slow() = 0;
    // Bytes handed over and not yet written to the client's socket.
    virtual size_t buffered() const = 0;
};

struct session_output_config {
    size_t max_buffered = 1 << 20;        // bytes waiting for the socket before a session is closed
    metrics::counter* frames_sent = nullptr;
    metrics::counter* closed_slow = nullptr;  // sessions closed for not reading
};

class session_output final : public frame_sink {
public:
    session_output() = default;
    session_output(server_t::connection_ptr con, const session_output_config* config)
        : _con(std::move(con)), _config(config) {}

    const server_t::connection_ptr& connection() const { return _con; }
    bool open() const { return _con && _con->get_state() == websocketpp::session::state::open; }
    // Bytes handed to the connection and not yet written to its socket.
    size_t buffered() const override { return _con ? _con->get_buffered_amount() : 0; }

    void send(const server_t::message_ptr& message, size_t frames = 1) override {
        if (writable() && !_con->send(message) && _config->frames_sent) _config->frames_sent->add(frames);
    }
    void send_text(const std::string& text) {
        if (writable() && !_con->send(text, websocketpp::frame::opcode::text) && _config->frames_sent) {
            _config->frames_sent->add();
        }
    }
    // Closes an open session with `code` and `reason`; false if it was not open.
    bool close(websocketpp::close::status::value code, const std::string& reason) {
        if (!open()) return false;
        websocketpp::lib::error_code ec;
        _con->close(code, reason, ec);
        return true;
    }

    void close_slow() override {
        if (close(websocketpp::close::status::try_again_later, "too slow; resume with since") && _config->closed_slow) {
            _config->closed_slow->add();
        }
    }

private:
    // Open and keeping up; a slow reader is closed here.
    bool writable() {
        if (!open()) return false;
        if (_con->get_buffered_amount() <= _config->max_buffered) return true;
        close_slow();
        return false;
    }

    server_t::connection_ptr _con;
    const session_output_config* _config = nullptr;
};

}  // namespace stchat::chat
