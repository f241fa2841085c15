// `stchat status`
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "commands.h"
#include "common_options.h"
#include "stchat/ops/status.h"

namespace stchat::cli {

int cmd_status(int argc, char** argv) {
    args a(argc, argv, 2, {"json"}, options_for(conn_database | conn_nats | conn_feed_stream, {"consumer", "timeout"}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat status [--json] [options]\n\n"
                     "Shows at a glance whether anything lags: the log head and size, undecodable\n"
                     "records, the ingest consumer as JetStream sees it (pending, awaiting ack,\n"
                     "redelivered), each projector's checkpoint and lag (and rebuilds under way),\n"
                     "and every chat process with its connected sessions (from its heartbeat).\n"
                     "Exit status: 0 all reachable and alive; 1 Postgres unreachable or no answer\n"
                     "within --timeout; 3 the report was made but NATS is unreachable, a process is\n"
                     "unhealthy, or one has not been seen for 15 s.\n\n"
                  << connections_help(conn_database | conn_nats | conn_feed_stream)
                  << "  --consumer NAME    the ingest's durable consumer (default stchat-ingest)\n"
                     "  --json             the same as one JSON document\n"
                     "  --timeout S        give up after S seconds (default 5)\n"
                     "\nExamples:\n  stchat status\n  stchat status --json | jq '.projectors[] | {name, lag}'\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    auto timeout = std::chrono::milliseconds(static_cast<int64_t>(a.number("timeout", 5, 0.1) * 1000));
    // On a thread of its own: a Postgres that accepted the connection and then froze answers no
    // query, and libpq has no client-side deadline for one. At the deadline we say so and exit;
    // the stuck thread goes with the process.
    struct outcome {
        std::mutex mutex;
        std::condition_variable done;
        bool finished = false;
        std::optional<ops::status_report> report;
        std::string error;
    };
    auto shared = std::make_shared<outcome>();
    auto store = store_of(a);
    auto nats = nats_of(a);
    std::string consumer = a.get_or("consumer", "stchat-ingest");
    std::thread([shared, store, nats, consumer] {
        std::optional<ops::status_report> r;
        std::string error;
        try {
            r = ops::read_status(store, nats, consumer);
        } catch (const std::exception& e) {
            error = e.what();
        }
        std::lock_guard<std::mutex> lock(shared->mutex);
        shared->report = std::move(r);
        shared->error = std::move(error);
        shared->finished = true;
        shared->done.notify_all();
    }).detach();
    std::unique_lock<std::mutex> lock(shared->mutex);
    if (!shared->done.wait_for(lock, timeout, [&] { return shared->finished; })) {
        std::cerr << "stchat status: no answer from Postgres within " << timeout.count() / 1000.0 << " s\n";
        std::cerr.flush();
        std::_Exit(1);
    }
    if (!shared->report) throw std::runtime_error(shared->error);
    const auto& r = *shared->report;
    std::cout << (a.flag("json") ? ops::status_json(r) : ops::status_table(r));
    bool down = !r.ingest.reachable;
    for (const auto& p : r.processes) down = down || !p.alive || !p.health.empty();
    return down ? 3 : 0;
}

}  // namespace stchat::cli
