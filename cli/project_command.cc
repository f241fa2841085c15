// `stchat project`
#include <algorithm>
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/metrics.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/heartbeat.h"
#include "stchat/projections/projector.h"

namespace stchat::cli {

int cmd_project(int argc, char** argv) {
    args a(argc, argv, 2, {"once"}, options_for(conn_database, {"batch", "only", "stall-after", "metrics-port"}));
    if (a.help()) {
        std::cout << "Usage: stchat project [options]\n\n"
                     "Runs the projectors: each reads the event log from its checkpoint and writes\n"
                     "its table and its new checkpoint in one transaction (exactly once).\n"
                     "Tables: event (sport events), execution, chat_log. Waits for new events with\n"
                     "LISTEN/NOTIFY, polling each second as a fallback.\n\n"
                  << connections_help(conn_database)
                  << "  --batch N          log positions per transaction (default 10000)\n"
                     "  --only NAME        run just this projector (event | execution | chat_log)\n"
                     "  --once             stop when caught up instead of waiting for more\n"
                     "  --stall-after S    /healthz answers 503 \"stall: …\" when no step finished for\n"
                     "                     S seconds (default 15)\n"
                  << k_metrics_help << "\nExamples:\n  stchat project\n  stchat project --only event --once\n"
                     "  stchat project --metrics-port 8892   # lag: curl -s localhost:8892/metrics | grep lag\n";
        return 0;
    }
    apply_base(a);
    projections::projector_config c;
    c.store = store_of(a);
    c.batch_size = a.integer("batch", c.batch_size, 1, 10000000);
    c.stall_after = std::chrono::milliseconds(static_cast<int64_t>(a.number("stall-after", 15, 0.1) * 1000));
    if (a.flag("once")) c.stop_when_caught_up = [] { return true; };
    if (auto only = a.get("only")) {
        const auto& all = projections::all_projectors();
        if (std::find(all.begin(), all.end(), *only) == all.end()) {
            throw usage_error("unknown projector '" + *only + "' (event | execution | chat_log)");
        }
        c.projectors = {*only};
    }
    service_runtime runtime(a, c.store, "project");
    c.metrics = &runtime.metrics;
    c.health = &runtime.health;
    projections::run_projectors(c);
    return 0;
}

}  // namespace stchat::cli
