#pragma once
// websocketpp for an endpoint whose every WebSocket call runs on one Asio thread: no strands
// and no locks. (With the stock configs each frame sent pays a strand post and several mutexes;
// at 200,000 frames/s that is most of a core.) Other threads only asio::post to that thread.
// Header-only; include it only where websocketpp is (chat/, bench/).
//
// Example:
//   using server_t = websocketpp::server<ws_single_thread<websocketpp::config::asio>>;
//   using client_t = websocketpp::client<ws_single_thread<websocketpp::config::asio_client>>;
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/logger/basic.hpp>
#include <websocketpp/logger/levels.hpp>
#include <websocketpp/transport/asio/endpoint.hpp>

namespace stchat {

template <typename Base>
struct ws_single_thread : Base {
    using type = ws_single_thread<Base>;
    using base = Base;
    using concurrency_type = websocketpp::concurrency::none;
    using elog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::elevel>;
    using alog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::alevel>;
    struct transport_config : Base::transport_config {
        using concurrency_type = websocketpp::concurrency::none;
        using alog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::alevel>;
        using elog_type = websocketpp::log::basic<concurrency_type, websocketpp::log::elevel>;
        static const bool enable_multithreading = false;
    };
    using transport_type = websocketpp::transport::asio::endpoint<transport_config>;
};

}  // namespace stchat
