#pragma once
// Cooperative shutdown on SIGINT/SIGTERM: long-running loops poll stop_requested() between
// batches, finish the batch in hand, and return, so the process exits 0 with nothing half-done.
#include <chrono>

namespace stchat {

// Installs handlers for SIGINT and SIGTERM (idempotent).
void install_shutdown_handlers();
bool stop_requested();
// Lets tests and embedders stop loops without a signal.
void request_stop();
void reset_stop();
// Sleeps up to `d`, waking early when a stop is requested. Returns stop_requested().
bool sleep_unless_stopped(std::chrono::milliseconds d);

}  // namespace stchat
