// `stchat ingest`
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/metrics.h"
#include "stchat/common/shutdown.h"
#include "stchat/eventstore/heartbeat.h"
#include "stchat/ingest/ingest.h"

namespace stchat::cli {

int cmd_ingest(int argc, char** argv) {
    args a(argc, argv, 2, {}, options_for(conn_database | conn_nats | conn_feed_stream | conn_replicas, {"consumer", "batch", "ack-wait-ms", "stall-after", "metrics-port"}));
    if (a.help()) {
        std::cout << "Usage: stchat ingest [options]\n\n"
                     "Catalogues every message of the feed subjects into the event log, exactly\n"
                     "once. Creates (if missing) a JetStream stream capturing the subjects and a\n"
                     "durable pull consumer; appends each fetched batch in one transaction and\n"
                     "acks after the commit. Undecodable payloads are kept (view `undecodable`).\n"
                     "Reconnects by itself; SIGINT/SIGTERM finishes the batch in hand, exits 0.\n\n"
                  << connections_help(conn_database | conn_nats | conn_feed_stream | conn_replicas)
                  << "  --consumer NAME    durable consumer name (default stchat-ingest)\n"
                     "  --batch N          messages per fetch and transaction (default 2000)\n"
                     "  --ack-wait-ms MS   redelivery delay for unacked messages (default 10000)\n"
                     "  --stall-after S    /healthz answers 503 \"stall: …\" when batches wait and none\n"
                     "                     was appended for S seconds (default 15)\n"
                  << k_metrics_help << "\nExamples:\n  stchat ingest\n"
                     "  stchat ingest --metrics-port 8891   # then: curl localhost:8891/metrics\n"
                     "  stchat ingest --nats nats://n1:4222,nats://n2:4222 --replicas 3\n";
        return 0;
    }
    apply_base(a);
    ingest::ingest_config c;
    c.nats = nats_of(a);
    c.store = store_of(a);
    c.consumer = a.get_or("consumer", c.consumer);
    c.batch_size = static_cast<int>(a.integer("batch", c.batch_size, 1, 100000));
    c.ack_wait = std::chrono::milliseconds(a.integer("ack-wait-ms", c.ack_wait.count(), 100, 3600000));
    c.stall_after = std::chrono::milliseconds(static_cast<int64_t>(a.number("stall-after", 15, 0.1) * 1000));
    service_runtime runtime(a, c.store, "ingest");
    c.metrics = &runtime.metrics;
    c.health = &runtime.health;
    ingest::run_ingest(c);
    return 0;
}

}  // namespace stchat::cli
