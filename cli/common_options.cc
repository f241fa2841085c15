#include "common_options.h"

#include "stchat/common/log.h"
#include "stchat/common/shutdown.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <vector>

namespace stchat::cli {

const char* const k_log_level_help = "  --log-level LEVEL  debug | info | warn | error (default info)\n";

std::string connections_help(unsigned which) {
    std::string out = "Connections:\n";
    if (which & conn_database) {
        out += "  --database URI     Postgres, e.g. postgresql://stchat@127.0.0.1:15432/stchat\n"
               "                     (default: $STCHAT_DATABASE, libpq's PGHOST ..., .stchat/connection)\n";
    }
    if (which & conn_nats) {
        out += "  --nats URLS        NATS server(s), comma-separated\n"
               "                     (default: $NATS_URL, .stchat/connection, nats://127.0.0.1:4222)\n";
    }
    if (which & conn_feed_stream) {
        out += "  --stream NAME      JetStream stream capturing the feeds (default STCHAT_FEEDS)\n"
               "  --sport-subject S  subject of the sport feed (default sport_event)\n"
               "  --execution-subject S  subject of the execution feed (default execution)\n";
    }
    if (which & conn_replicas) {
        out += "  --replicas N       stream replicas when st-chat creates the stream: 1, or 3 on a cluster\n";
    }
    if (which == 0) out += "  (none)\n";
    return out + "\nCommand options:\n" + k_log_level_help;
}

std::set<std::string> options_for(unsigned which, std::initializer_list<std::string> own) {
    std::set<std::string> out(own);
    out.insert("log-level");
    if (which & conn_database) out.insert("database");
    if (which & conn_nats) out.insert("nats");
    if (which & conn_feed_stream) out.insert({"stream", "sport-subject", "execution-subject"});
    if (which & conn_replicas) out.insert("replicas");
    return out;
}

void apply_base(const args& a) {
    log::level lvl;
    std::string level_text = a.get_or("log-level", "info");
    if (!log::parse_level(level_text, lvl)) {
        throw usage_error("--log-level must be debug, info, warn or error, not '" + level_text + "'");
    }
    log::set_level(lvl);
}

std::optional<recorded_connection> find_recorded_connection() {
    std::vector<std::string> candidates;
    if (const char* home = std::getenv("STCHAT_HOME"); home && *home) {
        candidates.push_back(std::string(home) + "/connection");
    } else {
        char cwd[4096];
        if (::getcwd(cwd, sizeof cwd)) {
            std::string dir = cwd;
            for (int depth = 0; depth < 64 && !dir.empty(); ++depth) {
                candidates.push_back(dir + "/.stchat/connection");
                auto slash = dir.find_last_of('/');
                if (slash == std::string::npos || dir == "/") break;
                dir = slash == 0 ? "/" : dir.substr(0, slash);
                if (dir == "/") {
                    candidates.push_back("/.stchat/connection");
                    break;
                }
            }
        }
    }
    for (const auto& path : candidates) {
        std::ifstream in(path);
        if (!in) continue;
        recorded_connection out;
        out.path = path;
        std::string line;
        for (int n = 0; n < 32 && std::getline(in, line); ++n) {  // a few short lines; more is not ours
            if (line.size() > 2048) continue;
            auto eq = line.find('=');
            if (eq == std::string::npos) continue;
            std::string key = line.substr(0, eq), value = line.substr(eq + 1);
            if (key == "database") out.database = value;
            if (key == "nats") out.nats = value;
        }
        return out;
    }
    return std::nullopt;
}

eventstore::store_config store_of(const args& a) {
    if (auto given = a.get("database")) return {*given};
    if (const char* env = std::getenv("STCHAT_DATABASE"); env && *env) return {env};
    // libpq's own variables, when the user set any, win over the recorded file.
    for (const char* v : {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}) {
        if (const char* env = std::getenv(v); env && *env) return {""};
    }
    if (auto recorded = find_recorded_connection(); recorded && !recorded->database.empty()) {
        log::debug("cli", "database from " + recorded->path + " (written by scripts/run.sh)");
        return {recorded->database};
    }
    return {""};
}

const char* const k_metrics_help = "  --metrics-port N   serve GET /healthz and Prometheus GET /metrics on port N\n"
                             "                     (default: off)\n";

std::unique_ptr<http_endpoint> metrics_endpoint(const args& a, const metrics::registry& reg,
                                                const metrics::health_state& health) {
    auto port = a.integer("metrics-port", 0, 0, 65535);
    if (port == 0) return nullptr;
    return std::make_unique<http_endpoint>(static_cast<uint16_t>(port), reg, [&health] { return health.problems(); });
}

std::string nats_urls_of(const args& a, const std::string& fallback) {
    if (auto given = a.get("nats")) return *given;
    if (const char* env = std::getenv("NATS_URL"); env && *env) return env;
    if (auto recorded = find_recorded_connection(); recorded && !recorded->nats.empty()) return recorded->nats;
    return fallback;
}

ingest::stream_config nats_of(const args& a) {
    ingest::stream_config c;
    c.nats_urls = nats_urls_of(a, c.nats_urls);
    c.stream = a.get_or("stream", c.stream);
    c.sport_event_subject = a.get_or("sport-subject", c.sport_event_subject);
    c.execution_subject = a.get_or("execution-subject", c.execution_subject);
    c.replicas = static_cast<int>(a.integer("replicas", 1, 1, 5));
    return c;
}

service_runtime::service_runtime(const args& a, const eventstore::store_config& store, const char* kind) {
    install_shutdown_handlers();
    _endpoint = metrics_endpoint(a, metrics, health);
    _heartbeat = std::make_unique<eventstore::heartbeat>(eventstore::heartbeat_config{
        store, kind, static_cast<uint16_t>(a.integer("metrics-port", 0, 0, 65535)),
        [this] { return "\"metrics\": " + metrics.values_json(); },  // for /ops
        [this] { return health.problems(); }});
}

service_runtime::~service_runtime() = default;

}  // namespace stchat::cli
