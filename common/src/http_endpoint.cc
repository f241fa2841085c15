#include "stchat/common/http_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "stchat/common/log.h"

namespace stchat {

http_endpoint::http_endpoint(uint16_t port, const metrics::registry& registry, std::function<std::string()> health)
    : _registry(registry), _health(std::move(health)) {
    _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (::bind(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(_fd, 64) != 0) {
        int err = errno;
        ::close(_fd);
        throw std::runtime_error(err == EADDRINUSE ? "address already in use: metrics port " + std::to_string(port)
                                                   : "metrics port " + std::to_string(port) + ": " + std::strerror(err));
    }
    socklen_t len = sizeof addr;
    ::getsockname(_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    _port = ntohs(addr.sin_port);
    log::info("http", "serving /healthz and /metrics on port " + std::to_string(_port));
    _thread = std::thread([this] { serve(); });
}

http_endpoint::~http_endpoint() {
    _stop = true;
    _thread.join();
    ::close(_fd);
}

void http_endpoint::serve() {
    while (!_stop) {
        pollfd p{_fd, POLLIN, 0};
        if (::poll(&p, 1, 200) <= 0) continue;  // wakes to check _stop
        int c = ::accept4(_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        timeval tv{2, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string req;
        char buf[2048];
        while (req.find("\r\n\r\n") == std::string::npos && req.size() < 8192) {
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            req.append(buf, static_cast<size_t>(n));
        }
        std::string status = "200 OK", type = "text/plain; charset=utf-8", body;
        auto sp = req.find(' ');
        std::string path = sp == std::string::npos ? "" : req.substr(sp + 1, req.find(' ', sp + 1) - sp - 1);
        if (req.rfind("GET ", 0) != 0) {
            status = "405 Method Not Allowed";
            body = "GET only\n";
        } else if (path == "/healthz") {
            std::string why = _health ? _health() : "";
            if (why.empty()) {
                body = "ok\n";
            } else {
                status = "503 Service Unavailable";
                body = "unhealthy: " + why + "\n";
            }
        } else if (path == "/metrics") {
            type = "text/plain; version=0.0.4; charset=utf-8";
            body = _registry.render();
        } else {
            status = "404 Not Found";
            body = "not found (try /healthz or /metrics)\n";
        }
        std::string out = "HTTP/1.1 " + status + "\r\nContent-Type: " + type +
                          "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
        ::close(c);
    }
}

}  // namespace stchat
