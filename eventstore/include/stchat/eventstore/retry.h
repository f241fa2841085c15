#pragma once
// One retry policy for every caller of the log (ingest, reconcile, projector, the chat's database
// worker): exponential backoff (100 ms doubling to 2 s), stop-aware (a SIGINT/SIGTERM ends the
// wait at once), and visible: the first failure of an outage is logged and set as the
// "postgres" problem of /healthz, each retry counted, and the first success after it logged
// ("Postgres is back") and cleared. A commit in doubt is retried only for an idempotent call.
//
// Example: the ingest's append (idempotent by its inbox keys):
//   retry_policy retry({"ingest", idempotence::idempotent, &health, &retries_counter});
//   auto results = retry.run([&] { return log->append_batch(events); });   // nullopt: stopping
//
// A loop that is itself the retry loop uses failed()/succeeded():
//   try { step(); retry.succeeded(); } catch (const store_error& e) { if (!retry.failed(e)) break; }
//
// Thread-safety: one object per calling thread; `health` and `retries` are thread-safe.
#include <chrono>
#include <optional>
#include <string>

#include "stchat/common/metrics.h"
#include "stchat/eventstore/store_config.h"

namespace stchat::eventstore {

struct retry_config {
    std::string component;                // the log lines' component
    idempotence call = idempotence::idempotent;
    metrics::health_state* health = nullptr;  // `dependency`: the problem while it lasts
    metrics::counter* retries = nullptr;      // +1 per retry
    std::chrono::milliseconds first{100};
    std::chrono::milliseconds max{2000};
    // Rethrow once failing this long (nullopt: retry until stopped).
    std::optional<std::chrono::milliseconds> give_up_after;
    std::string action = "a Postgres call";  // logged: "<action> failed, retrying: <error>"
    std::string back = "Postgres is back";    // logged when it works again
    std::string dependency = "postgres";      // the /healthz problem's name
};

class retry_policy {
public:
    explicit retry_policy(retry_config config) : _config(std::move(config)), _backoff(_config.first) {}

    // A failure: false when retrying cannot help (the caller rethrows), when the give-up time has
    // passed, or when a stop is requested during the wait; else it has waited the backoff.
    bool failed(const store_error& e);
    // A success: ends an outage (logs "Postgres is back", clears the problem, resets the backoff).
    void succeeded();

    // Runs f until it succeeds (its result), fails in a way retrying cannot help or past the
    // give-up time (rethrown), or a stop is requested (nullopt).
    template <typename F>
    auto run(F&& f) -> std::optional<decltype(f())> {
        for (;;) {
            try {
                auto r = f();
                succeeded();
                return r;
            } catch (const store_error& e) {
                if (!failed(e)) {
                    if (!retrying_helps(e)) throw;
                    return std::nullopt;  // stopping
                }
            }
        }
    }

    bool in_outage() const { return _outage; }

private:
    bool retrying_helps(const store_error& e) const;
    retry_config _config;
    std::chrono::milliseconds _backoff;
    bool _outage = false;
    std::chrono::steady_clock::time_point _since{};
};

}  // namespace stchat::eventstore
