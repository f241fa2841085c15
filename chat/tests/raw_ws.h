#pragma once
// A WebSocket peer written by hand (RFC 6455 framing, no library), for tests that must send what
// no well-behaved client would: wrong handshakes, lengths that overflow, floods, bad bytes.
// Every read has a deadline (SO_RCVTIMEO), so a server that stalls fails the test instead of
// hanging it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

namespace stchat::testing {

// A client frame: FIN as given, `opcode`, masked with a fixed key. `declared` overrides the
// length field (the payload sent is still `payload`): for lengths that lie.
inline std::string ws_frame(uint8_t opcode, const std::string& payload, bool fin = true,
                            std::optional<uint64_t> declared = std::nullopt) {
    std::string f;
    f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
    uint64_t n = declared ? *declared : payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
        f.push_back(static_cast<char>(0x80 | 126));
        for (int i = 1; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    } else {
        f.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    const char mask[4] = {0x37, 0x1a, 0x5c, 0x02};
    f.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    return f;
}

struct ws_read {
    int opcode = -1;  // -1: nothing (timeout or connection closed)
    std::string payload;
    int close_code() const {
        return payload.size() < 2 ? -1
                                  : (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
    }
};

class raw_peer {
public:
    explicit raw_peer(int port, int timeout_s = 10, int receive_buffer = 0) {
        _fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (receive_buffer > 0) setsockopt(_fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(_fd);
            throw std::runtime_error("connect failed");
        }
        timeval tv{timeout_s, 0};
        setsockopt(_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~raw_peer() { ::close(_fd); }
    raw_peer(const raw_peer&) = delete;
    raw_peer& operator=(const raw_peer&) = delete;

    // False once the peer has closed or the send timed out.
    bool send(const std::string& bytes) {
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::send(_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<size_t>(n);
        }
        return true;
    }

    // The HTTP response head (status line and headers), read byte by byte so frames stay unread.
    std::string read_head() {
        std::string in;
        char c;
        while (in.find("\r\n\r\n") == std::string::npos && in.size() < 65536) {
            if (::recv(_fd, &c, 1, 0) != 1) break;
            in.push_back(c);
        }
        return in;
    }
    // Everything until the server closes (or the timeout).
    std::string read_all() {
        std::string in;
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, static_cast<size_t>(n));
        }
        return in;
    }
    static int status_of(const std::string& head) {
        return head.size() > 12 ? std::atoi(head.substr(9, 3).c_str()) : -1;
    }

    // A version 13 handshake; true when the server switched protocols.
    bool upgrade(const std::string& subprotocol = "stchat.v1", const std::string& extra_headers = "",
                 const std::string& path = "/") {
        std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n" + extra_headers;
        if (!subprotocol.empty()) req += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n";
        send(req + "\r\n");
        _last_head = read_head();
        return status_of(_last_head) == 101;
    }
    const std::string& last_head() const { return _last_head; }

    bool text(const std::string& payload) { return send(ws_frame(0x1, payload)); }

    ws_read read_frame() {
        ws_read out;
        std::string head;
        if (!read_exact(2, head)) return out;
        int opcode = static_cast<unsigned char>(head[0]) & 0x0f;
        uint64_t len = static_cast<unsigned char>(head[1]) & 0x7f;
        if (len >= 126) {
            std::string ext;
            if (!read_exact(len == 126 ? 2 : 8, ext)) return out;
            len = 0;
            for (unsigned char b : ext) len = (len << 8) | b;
        }
        if (!read_exact(static_cast<size_t>(len), out.payload)) return out;
        out.opcode = opcode;
        return out;
    }
    // The next text frame's payload ("" when none came).
    std::string next_text() {
        for (;;) {
            auto f = read_frame();
            if (f.opcode == -1 || f.opcode == 0x8) return "";
            if (f.opcode == 0x1) return f.payload;
        }
    }
    // Reads until the server's close frame: its code, or -1 when the connection ended without one.
    int close_code() {
        for (;;) {
            auto f = read_frame();
            if (f.opcode == -1) return -1;
            if (f.opcode == 0x8) return f.close_code();
        }
    }

private:
    bool read_exact(size_t n, std::string& out) {
        out.clear();
        char buf[4096];
        while (out.size() < n) {
            ssize_t got = ::recv(_fd, buf, std::min(sizeof buf, n - out.size()), 0);
            if (got <= 0) return false;
            out.append(buf, static_cast<size_t>(got));
        }
        return true;
    }
    int _fd = -1;
    std::string _last_head;
};

// Resident memory of a process, in KiB (-1 if unknown).
inline long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return -1;
}

}  // namespace stchat::testing
