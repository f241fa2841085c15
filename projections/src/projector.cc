#include "stchat/projections/projector.h"

#include <map>

#include <algorithm>

#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"
#include "stchat/common/stall_watchdog.h"
#include "stchat/eventstore/event_log.h"
#include "stchat/eventstore/retry.h"
#include "stchat/eventstore/sql_session.h"

namespace stchat::projections {
namespace {
constexpr const char* k_component = "project";
}

const std::vector<std::string>& all_projectors() {
    static const std::vector<std::string> names = {"event", "execution", "chat_log"};
    return names;
}

projector_stats run_projectors(const projector_config& config) {
    auto session = eventstore::make_sql_session(config.store);
    auto log = eventstore::make_event_log(config.store);  // for LISTEN
    projector_stats stats;
    // Per projector: its checkpoint and its lag behind the log head, for GET /metrics.
    std::map<std::string, std::pair<metrics::gauge*, metrics::gauge*>> gauges;
    metrics::counter *m_events = nullptr, *m_rows = nullptr, *m_retries = nullptr;
    if (auto* m = config.metrics) {
        for (const auto& name : config.projectors) {
            gauges[name] = {&m->make_gauge("stchat_projector_checkpoint", "Last log position projected", "projector=\"" + name + "\""),
                            &m->make_gauge("stchat_projector_lag_events", "Log events not yet projected", "projector=\"" + name + "\"")};
        }
        m_events = &m->make_counter("stchat_projector_events_total", "Log positions passed over, all projectors");
        m_rows = &m->make_counter("stchat_projector_rows_total", "Rows written, all projectors");
        m_retries = &m->make_counter("stchat_projector_retries_total", "Passes tried again after Postgres failed");
    }
    // project_step is idempotent: the checkpoint moves in the same transaction as the rows.
    eventstore::retry_policy retry({k_component, eventstore::idempotence::idempotent, config.health, m_retries,
                                    std::chrono::milliseconds(100), std::chrono::milliseconds(2000), std::nullopt,
                                    "a projection pass", "Postgres is back: projecting again"});
    // A pass ends at least every poll_interval when idle: a pass that does not end is a stall.
    stall_watchdog watchdog({config.health, k_component, "no projection step finished for %s", config.stall_after});
    log::info(k_component, "projecting into " + std::to_string(config.projectors.size()) +
                               " tables");
    while (!stop_requested()) {
        try {
            // Asked before the pass: a pass that starts after the condition held and finds
            // nothing new proves everything up to the condition is projected.
            bool may_stop = config.stop_when_caught_up && config.stop_when_caught_up();
            bool moved = false;
            // One transaction for every projector's step: each step's rows and checkpoint still
            // commit together, with one commit per pass instead of one per table. Checkpoint rows
            // are locked in the list's order, the same in every projector process: no deadlock.
            std::string names = "{";
            for (const auto& n : config.projectors) names += (names.size() > 1 ? "," : "") + n;
            names += "}";
            auto all = session->exec("SELECT p.name, s.from_position, s.to_position, s.rows_written,"
                                     " (SELECT coalesce(max(position), 0) FROM event_log)"
                                     " FROM unnest($1::text[]) WITH ORDINALITY AS p(name, ord),"
                                     " LATERAL project_step(p.name, $2) s ORDER BY p.ord",
                                     {names, std::to_string(config.batch_size)});
            for (const auto& step : all) {  // name, from, to, rows written, head
                const std::string& name = *step.at(0);
                int64_t from = std::stoll(*step.at(1));
                int64_t to = std::stoll(*step.at(2));
                int64_t written = std::stoll(*step.at(3));
                if (auto g = gauges.find(name); g != gauges.end()) {
                    g->second.first->set(to);
                    g->second.second->set(std::max<int64_t>(0, std::stoll(*step.at(4)) - to));
                }
                if (m_events && to > from) {
                    m_events->add(static_cast<uint64_t>(to - from));
                    m_rows->add(static_cast<uint64_t>(written));
                }
                if (to > from) {
                    moved = true;
                    ++stats.steps;
                    stats.events += static_cast<uint64_t>(to - from);
                    stats.rows += static_cast<uint64_t>(written);
                }
            }
            retry.succeeded();
            watchdog.progress();
            if (moved) continue;
            if (may_stop) break;
            log->wait_for_append(config.poll_interval);
            watchdog.progress();
        } catch (const eventstore::store_error& e) {
            if (!retry.failed(e)) {
                if (stop_requested()) break;
                throw;  // retrying cannot help
            }
        }
    }
    log::info(k_component, "stopped: " + std::to_string(stats.events) + " events, " +
                               std::to_string(stats.rows) + " rows in " +
                               std::to_string(stats.steps) + " steps");
    return stats;
}

}  // namespace stchat::projections
