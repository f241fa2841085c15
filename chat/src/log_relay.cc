#include "log_relay.h"

#include "stchat/common/log.h"
#include "stchat/common/stall_watchdog.h"
#include "stchat/eventstore/event_log.h"

namespace stchat::chat {
namespace {
constexpr const char* k_component = "chat";
constexpr size_t k_page = 1000;            // events per read
constexpr size_t k_backlog = 20000;        // events held while a batch is in hand
constexpr int64_t k_lag_bound = 10000;     // events; beyond: /healthz 503 "relay: …"
}  // namespace

log_relay::log_relay(log_relay_config config) : _config(std::move(config)) {
    _thread = std::thread([this] { loop(); });
}

log_relay::~log_relay() {
    _stop = true;
    _thread.join();
}

void log_relay::loop() {
    std::unique_ptr<eventstore::event_log> log;
    bool reported = false;
    int64_t position = _config.start_position;
    stall_watchdog watchdog({_config.health, k_component, "the relay has read nothing for %s", std::chrono::seconds(15)});
    std::vector<room_event> backlog;  // read, not yet delivered
    while (!_stop) {
        try {
            if (!log) log = eventstore::make_event_log(_config.store);
            std::vector<eventstore::recorded_event> events;  // none while the backlog is full
            bool reading = backlog.size() < k_backlog;
            if (reading) events = log->read_after(position, static_cast<int>(k_page));
            watchdog.progress();
            if (reported) {
                log::info(k_component, "relay: Postgres is back");
                _config.health->set("postgres", "");
                reported = false;
            }
            if (!events.empty()) {
                position = events.back().position;
                _config.position->set(position);
                // A full page means the relay is behind: say by how much.
                set_lag(events.size() == k_page ? std::max<int64_t>(0, log->head() - position) : 0);
                for (const auto& e : events) {
                    try {
                        if (auto r = room_event_of(e)) backlog.push_back(std::move(*r));
                    } catch (const std::runtime_error& bad) {
                        log::error(k_component, bad.what());  // skipped, never fatal to the relay
                    }
                }
            } else if (reading) {
                set_lag(0);  // read and found nothing new
            }
            if (!backlog.empty() && !_in_hand) {
                _in_hand = true;
                std::vector<room_event> batch;
                batch.swap(backlog);
                _config.deliver(std::move(batch), [this] { _in_hand = false; });
            }
            if (events.size() == k_page && backlog.size() < k_backlog) continue;
            // Caught up (or holding enough): wait for an append, or briefly for the batch in hand.
            log->wait_for_append(backlog.empty() ? std::chrono::milliseconds(500) : std::chrono::milliseconds(2));
            watchdog.progress();
        } catch (const std::exception& e) {
            if (!reported) {
                log::warn(k_component, std::string("relay: ") + e.what() + "; retrying");
                _config.health->set("postgres", e.what());
            }
            reported = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
}

void log_relay::set_lag(int64_t lag) {
    _config.lag->set(lag);
    bool behind = lag > k_lag_bound;
    if (behind == _behind) return;
    _behind = behind;
    _config.health->set("relay", behind ? std::to_string(lag) + " events behind the log" : "");
    if (behind) log::warn(k_component, "relay: " + std::to_string(lag) + " events behind the log");
    else log::info(k_component, "relay: caught up");
}

}  // namespace stchat::chat
