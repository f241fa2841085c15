#pragma once
// Cooperative shutdown on SIGINT/SIGTERM: long-running loops poll stop_requested() between
// batches, finish the batch in hand, and return, so the process exits 0 with nothing half-done.
// A stop has a deadline: a thread blocked where no flag reaches it (a query to a frozen Postgres)
// cannot hold the process; k_stop_deadline_seconds after the first signal it exits with status 1
// and says so. Nothing is lost by that: what was not committed is not acknowledged.
#include <chrono>

namespace stchat {

constexpr unsigned k_stop_deadline_seconds = 4;

// Installs handlers for SIGINT, SIGTERM and the deadline's SIGALRM (idempotent).
void install_shutdown_handlers();
bool stop_requested();
// Lets tests and embedders stop loops without a signal.
void request_stop();
void reset_stop();
// Sleeps up to `d`, waking early when a stop is requested. Returns stop_requested().
bool sleep_unless_stopped(std::chrono::milliseconds d);

}  // namespace stchat
