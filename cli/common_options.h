#pragma once
// What every subcommand shares: the connection options, their help text, and turning them into
// configs. A subcommand lives in a file of its own (cli/<name>_command.cc, rpk's shape) and
// uses these; commands.cc lists the subcommands, main.cc only dispatches.
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "args.h"
#include "stchat/common/http_endpoint.h"
#include "stchat/common/metrics.h"
#include "stchat/eventstore/heartbeat.h"
#include "stchat/eventstore/store_config.h"
#include "stchat/ingest/ingest.h"

namespace stchat::cli {

// The connection options a command takes: only those are accepted and shown in its --help.
enum connection_option : unsigned {
    conn_database = 1,     // --database
    conn_nats = 2,         // --nats
    conn_feed_stream = 4,  // --stream, --sport-subject, --execution-subject (the feeds' stream)
    conn_replicas = 8,     // --replicas (when the command may create the feeds' stream)
};
// "Connections:" with those options, then "Command options:" and --log-level; the command adds
// its own options, then "Examples:".
std::string connections_help(unsigned which);
// The options `args` accepts: the connection options named, --log-level and `own`.
std::set<std::string> options_for(unsigned which, std::initializer_list<std::string> own);
extern const char* const k_log_level_help;
extern const char* const k_metrics_help;  // --metrics-port
// Applies --log-level (throws usage_error for a bad one).
void apply_base(const args& a);
// Where to connect, the first that applies:
//   Postgres: --database; $STCHAT_DATABASE; libpq's variables (PGHOST, PGPORT, PGDATABASE, PGUSER,
//             PGSERVICE) when any is set; the connection scripts/run.sh recorded; libpq's defaults.
//   NATS:     --nats; $NATS_URL; the connection scripts/run.sh recorded; nats://127.0.0.1:4222.
// scripts/run.sh records its connection in <STCHAT_HOME>/connection (default .stchat/connection
// in the repository) while it runs; it is looked for in $STCHAT_HOME, else in .stchat/ of the
// current folder or the nearest parent that has one.
eventstore::store_config store_of(const args& a);
std::string nats_urls_of(const args& a, const std::string& fallback);

struct recorded_connection {
    std::string database, nats;
    std::string path;  // where it was read
};
std::optional<recorded_connection> find_recorded_connection();
ingest::stream_config nats_of(const args& a);
// The operations endpoint of a long-running subcommand, when --metrics-port asks for one.
// /healthz answers 503 with the reason while `health` holds a problem (NATS or Postgres away).
std::unique_ptr<http_endpoint> metrics_endpoint(const args& a, const metrics::registry& reg,
                                                const metrics::health_state& health);

// What every long-running subcommand (ingest, project, outbox) sets up, in one place: SIGINT and
// SIGTERM handling, GET /metrics and /healthz on --metrics-port, and its heartbeat row in
// service_heartbeat (`stchat status`), which reports the same health as /healthz. Not copyable;
// lives for the command's run.
// Example: service_runtime rt(a, c.store, "outbox"); c.metrics = &rt.metrics; c.health = &rt.health;
class service_runtime {
public:
    service_runtime(const args& a, const eventstore::store_config& store, const char* kind);
    ~service_runtime();
    service_runtime(const service_runtime&) = delete;
    service_runtime& operator=(const service_runtime&) = delete;

    metrics::registry metrics;
    metrics::health_state health;

private:
    std::unique_ptr<http_endpoint> _endpoint;
    std::unique_ptr<eventstore::heartbeat> _heartbeat;
};


}  // namespace stchat::cli
