#include "stchat/common/shutdown.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace stchat {
namespace {
std::atomic<bool> g_stop{false};

// Only async-signal-safe calls below: an atomic exchange, alarm(), write(), _exit().
extern "C" void on_signal(int) {
    if (!g_stop.exchange(true)) alarm(k_stop_deadline_seconds);
}
extern "C" void on_deadline(int) {
    static const char msg[] =
        "stop deadline passed: exiting now (something did not answer; nothing unacknowledged is lost)\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(1);
}
}  // namespace

void install_shutdown_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    struct sigaction deadline {};
    deadline.sa_handler = on_deadline;
    sigemptyset(&deadline.sa_mask);
    sigaction(SIGALRM, &deadline, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop.store(true); }
void reset_stop() { g_stop.store(false); }

bool sleep_unless_stopped(std::chrono::milliseconds d) {
    // Slices of 20 ms: a signal handler cannot notify a condition variable safely.
    auto deadline = std::chrono::steady_clock::now() + d;
    while (!g_stop.load() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return g_stop.load();
}

}  // namespace stchat
