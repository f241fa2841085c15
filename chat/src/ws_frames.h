#pragma once
// Private to chat/: WebSocket helpers shared by the chat server and the plain broadcast server.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace stchat::chat {

using server_t = websocketpp::server<websocketpp::config::asio>;
using frame_t = websocketpp::config::asio::message_type;

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

}  // namespace stchat::chat
