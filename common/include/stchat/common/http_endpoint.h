#pragma once
// A small HTTP server on its own thread for the long-running subcommands' operations endpoints:
//   GET /healthz  -> "ok" (200) while `healthy()` says so, else "unhealthy: <why>" (503)
//   GET /metrics  -> the registry in Prometheus text format
// Plain POSIX sockets, one request per connection: scrapers and probes, not browsers.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "stchat/common/metrics.h"

namespace stchat {

class http_endpoint {
public:
    // An empty string from `health` means healthy; anything else is the reason it is not.
    // Throws std::runtime_error if the port cannot be bound. Port 0 picks a free port.
    http_endpoint(uint16_t port, const metrics::registry& registry, std::function<std::string()> health = {});
    ~http_endpoint();
    http_endpoint(const http_endpoint&) = delete;
    http_endpoint& operator=(const http_endpoint&) = delete;
    uint16_t port() const { return _port; }

private:
    void serve();
    const metrics::registry& _registry;
    std::function<std::string()> _health;
    int _fd = -1;
    uint16_t _port = 0;
    std::atomic<bool> _stop{false};
    std::thread _thread;
};

}  // namespace stchat
