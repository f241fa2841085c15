#pragma once
// Private to chat/: WebSocket helpers shared by the chat server and the plain broadcast server.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace stchat::chat {

// websocketpp for a server whose every WebSocket call runs on one Asio thread: no strands and
// no locks. (With the stock config each frame sent pays a strand post and several mutexes;
// at 200,000 frames/s that is most of a core.) Other threads only asio::post to that thread.
struct single_thread_config : websocketpp::config::asio {
    using type = single_thread_config;
    using base = websocketpp::config::asio;
    using concurrency_type = websocketpp::concurrency::none;
    using elog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::elevel>;
    using alog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::alevel>;
    struct transport_config : base::transport_config {
        using concurrency_type = type::concurrency_type;
        using alog_type = type::alog_type;
        using elog_type = type::elog_type;
        static const bool enable_multithreading = false;
    };
    using transport_type = websocketpp::transport::asio::endpoint<transport_config>;
};

using server_t = websocketpp::server<single_thread_config>;
using frame_t = single_thread_config::message_type;

// A server-to-client text frame framed once (RFC 6455: FIN + text opcode, unmasked, length) and
// shared by every session it goes to: a room event fanned out to 1,000 sessions is serialized
// once, not 1,000 times.
inline server_t::message_ptr prepared_text(const std::string& text) {
    auto msg = std::make_shared<frame_t>(frame_t::con_msg_man_ptr(),
                                                        websocketpp::frame::opcode::text, 0);
    std::string header(1, static_cast<char>(0x81));
    uint64_t n = text.size();
    if (n < 126) {
        header.push_back(static_cast<char>(n));
    } else if (n <= 0xffff) {
        header.push_back(static_cast<char>(126));
        for (int i = 1; i >= 0; --i) header.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    } else {
        header.push_back(static_cast<char>(127));
        for (int i = 7; i >= 0; --i) header.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    msg->set_header(header);
    msg->set_payload(text);
    msg->set_prepared(true);
    return msg;
}

// Several prepared frames as one message: their bytes (header and payload each) one after the
// other, sent with one write; the client reads them as the separate frames they are.
// Example: prepared_together({prepared_text("a"), prepared_text("bb")}) -> bytes 81 01 61 81 02 62 62
inline server_t::message_ptr prepared_together(const std::vector<server_t::message_ptr>& frames) {
    std::string bytes;
    for (const auto& f : frames) {
        bytes += f->get_header();
        bytes += f->get_payload();
    }
    auto msg = std::make_shared<frame_t>(frame_t::con_msg_man_ptr(), websocketpp::frame::opcode::text, 0);
    msg->set_header("");
    msg->set_payload(bytes);  // complete frames: counted whole by get_buffered_amount()
    msg->set_prepared(true);
    return msg;
}

}  // namespace stchat::chat
