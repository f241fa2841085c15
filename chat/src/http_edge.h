#pragma once
// Private to chat/: what the chat port answers before a WebSocket exists. The upgrade's checks
// (only RFC 6455 version 13, only at "/", only from an allowed Host and Origin, the stchat.v1
// subprotocol or none for the original protocol) and plain HTTP: /healthz, /metrics, the
// operator's page (/ops, /ops/data: loopback only unless ops_public) and the web client's files.
// Every refusal is counted in stchat_chat_refused_total{reason}.
//
// Example:
//   GET /healthz               -> 200 "ok" | 503 "unhealthy: postgres: ..."
//   GET /ops from 10.0.0.7     -> 403 (unless stchat chat --ops-public)
//   GET /app.js                -> web/app.js;  GET /../etc/passwd -> 404
//   upgrade with version 8     -> 426 + Sec-WebSocket-Version: 13
//   upgrade while overloaded   -> 503 + Retry-After: 1
//
// Thread-safety: the Asio thread only (it answers on the connection given).
#include <functional>
#include <map>
#include <string>

#include "identity.h"
#include "ws_frames.h"

#include "stchat/common/metrics.h"

namespace stchat::chat {

constexpr const char* k_subprotocol = "stchat.v1";

struct http_edge_config {
    const origin_policy* origins = nullptr;
    std::map<std::string, metrics::counter*>* refused = nullptr;  // by reason: version, path, host, origin, method, ops
    const metrics::health_state* health = nullptr;                // /healthz
    metrics::registry* registry = nullptr;                        // /metrics
    std::function<std::string()> ops_samples;                     // /ops/data; empty while starting
    bool ops_public = false;
    std::string web_root;  // the web client's folder ("": none)
    // True while new WebSocket sessions are refused, 503 with Retry-After: 1 (e.g. the database
    // is far behind: sessions would only add joins to what waits). Empty: never.
    std::function<bool()> overloaded;
};

class http_edge {
public:
    explicit http_edge(http_edge_config config) : _config(std::move(config)) {}
    // The upgrade's checks: false refuses it with the status set on `con`.
    bool validate(const server_t::connection_ptr& con);
    // A plain HTTP request: the response set on `con`.
    void serve(const server_t::connection_ptr& con);

private:
    void refused(const char* reason) { (*_config.refused)[reason]->add(); }
    http_edge_config _config;
};

}  // namespace stchat::chat
