#pragma once
// Private to bench/: the servers a bench starts (this same executable with other arguments), and
// waiting for them to listen.
//
// Example:
//   int port = free_port();
//   server_process chat({"chat", "--database", uri, "--port", std::to_string(port)});
//   wait_healthy(port, "stchat chat");
//   chat.stop(SIGKILL);   // or let the destructor stop it with SIGTERM
//
// Thread-safety: none; the bench's thread.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace stchat::bench {

// A server the bench starts: this same executable with other arguments.
class server_process {
public:
    explicit server_process(std::vector<std::string> args) {
        char self[4096];
        ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) throw std::runtime_error("cannot find the stchat executable");
        self[n] = '\0';
        args.insert(args.begin(), self);
        _pid = ::fork();
        if (_pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a bench stopped hard stops its servers too
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(self, argv.data());
            _exit(127);
        }
    }
    ~server_process() { stop(); }
    server_process(const server_process&) = delete;
    server_process& operator=(const server_process&) = delete;
    server_process& operator=(server_process&& other) noexcept {
        if (this != &other) {
            stop();
            _pid = std::exchange(other._pid, -1);
        }
        return *this;
    }
    void stop(int signal = SIGTERM) {
        if (_pid <= 0) return;
        ::kill(_pid, signal);
        ::waitpid(_pid, nullptr, 0);
        _pid = -1;
    }
    // Resident memory in MiB, from /proc/<pid>/status.
    double rss_mib() const {
        std::ifstream in("/proc/" + std::to_string(_pid) + "/status");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
        }
        return -1;
    }

private:
    pid_t _pid = -1;
};

inline int free_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

inline void wait_healthy(int port, const std::string& what) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    asio::io_context io;
    for (;;) {
        try {
            asio::ip::tcp::socket s(io);
            s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
            return;
        } catch (const std::exception&) {
            if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error(what + " did not start");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // retry the connect
        }
    }
}

}  // namespace stchat::bench
