// `stchat outbox`: publish the event log to JetStream (ingest/outbox.h).
#include <iostream>
#include <sstream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/heartbeat.h"
#include "stchat/ingest/outbox.h"

namespace stchat::cli {
namespace {

const char* k_help = R"(Usage: stchat outbox [options]

Publishes the event log to JetStream for other services to consume: each event once, in log
order, on subject stchat.<stream> (stchat.room.lobby, stchat.feed.execution ...) of the stream
STCHAT_OUTBOX (created if missing). The data is the event as `stchat replay` prints it; feed
events carry their original bytes in "payload_hex". Nats-Msg-Id is "<log identity>:<position>".
Resumes after the last event the stream holds, so a crash or restart publishes nothing twice.
Progress is the checkpoint 'outbox:<stream>' (stchat status). SIGINT/SIGTERM: stops in seconds.

)";

const char* k_options_help = R"(  --stream NAME      JetStream stream to publish to (default STCHAT_OUTBOX; one outbox each)
  --streams LIST     log streams to publish, comma-separated, * as a wildcard
                     (default: all; e.g. 'room.*,feed.execution')
  --subject-prefix P subjects P.<stream> (default stchat)
  --replicas N       stream replicas when the outbox creates its stream (default 1)
  --batch N          events per publish round and checkpoint (default 5000)
)";

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        for (char c : item) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == '_' || c == '*';
            if (!ok) throw usage_error("--streams: '" + item + "' may hold letters, digits, . - _ and * only");
        }
        out.push_back(item);
    }
    return out;
}

}  // namespace

int cmd_outbox(int argc, char** argv) {
    args a(argc, argv, 2, {},
           options_for(conn_database | conn_nats, {"stream", "streams", "subject-prefix", "replicas", "batch", "metrics-port"}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << k_help << connections_help(conn_database | conn_nats) << k_options_help << k_metrics_help
                  << "\nExamples:\n  stchat outbox\n  stchat outbox --streams 'room.*'\n"
                     "  nats sub 'stchat.room.>'     # what another service sees\n";
        return 0;
    }
    apply_base(a);
    ingest::outbox_config c;
    c.store = store_of(a);
    c.nats_urls = nats_urls_of(a, c.nats_urls);
    c.stream = a.get_or("stream", c.stream);
    c.streams = split_list(a.get_or("streams", ""));
    c.subject_prefix = a.get_or("subject-prefix", c.subject_prefix);
    c.replicas = static_cast<int>(a.integer("replicas", 1, 1, 5));
    c.batch = static_cast<int>(a.integer("batch", c.batch, 1, 100000));
    service_runtime runtime(a, c.store, "outbox");
    c.metrics = &runtime.metrics;
    c.health = &runtime.health;
    ingest::run_outbox(c);
    return 0;
}

}  // namespace stchat::cli
