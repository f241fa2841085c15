#pragma once
// What every subcommand shares: the connection options, their help text, and turning them into
// configs. A subcommand lives in a file of its own (cli/<name>_command.cc, rpk's shape) and
// uses these; main.cc only dispatches.
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "args.h"
#include "stchat/common/http_endpoint.h"
#include "stchat/common/metrics.h"
#include "stchat/eventstore/store_config.h"
#include "stchat/ingest/ingest.h"

namespace stchat::cli {

extern const char* const k_common_help;   // "Connections:" --database, --log-level
extern const char* const k_nats_help;     // --nats, --stream, subjects, --replicas
extern const char* const k_metrics_help;  // --metrics-port
extern const std::set<std::string> k_base_options;
extern const std::set<std::string> k_nats_options;

std::set<std::string> merged(std::initializer_list<std::set<std::string>> sets);
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

// The subcommands that live in files of their own: (argc, argv) as main received them.
int cmd_compact(int argc, char** argv);
int cmd_outbox(int argc, char** argv);

}  // namespace stchat::cli
