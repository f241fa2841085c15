#pragma once
// Private to chat/: WebSocket helpers shared by the chat server and the plain broadcast server.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include "stchat/common/ws_single_thread.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace stchat::chat {

// Every WebSocket call of a server runs on its one Asio thread (ws_single_thread.h).
using single_thread_config = ws_single_thread<websocketpp::config::asio>;
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
