// `stchat feed`
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/shutdown.h"
#include "stchat/ingest/feed_simulator.h"

namespace stchat::cli {

int cmd_feed(int argc, char** argv) {
    args a(argc, argv, 2, {"acked"},
           options_for(conn_nats | conn_feed_stream | conn_replicas, {"rate", "count", "malformed-every", "seed", "run-id"}));
    a.expect_positional(1, 1, "the feed: sport_event or execution");
    if (a.help()) {
        std::cout << "Usage: stchat feed sport_event|execution [options]\n\n"
                     "Publishes realistic, varied feed messages like the real feeds: plain\n"
                     "core-NATS publishes of the protobuf messages, no headers.\n\n"
                  << connections_help(conn_nats | conn_feed_stream | conn_replicas)
                  << "  --rate R           messages per second, 0 = as fast as possible (default 10)\n"
                     "  --count N          stop after N messages (default: run until Ctrl-C)\n"
                     "  --acked            JetStream publish with Nats-Msg-Id, retried until\n"
                     "                     confirmed: nothing lost, nothing doubled\n"
                     "  --malformed-every N  make every Nth payload invalid (garbage, empty,\n"
                     "                     truncated) to see the undecodable path\n"
                     "  --seed N           deterministic content\n"
                     "  --run-id ID        Nats-Msg-Id prefix for --acked (default: random)\n"
                     "\nExamples:\n  stchat feed sport_event --rate 5\n"
                     "  stchat feed execution --acked --rate 0 --count 100000\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    ingest::feed_config c;
    if (!ingest::parse_feed_kind(a.positional()[0], c.kind)) {
        throw usage_error("feed kind must be sport_event or execution, not '" + a.positional()[0] + "'");
    }
    c.nats = nats_of(a);
    c.rate = a.number("rate", c.rate, 0);
    c.count = a.integer("count", -1, 0, INT64_MAX);
    c.acked = a.flag("acked");
    c.malformed_every = a.integer("malformed-every", 0, 0, INT64_MAX);
    c.seed = static_cast<uint64_t>(a.integer("seed", 0, 0, INT64_MAX));
    c.run_id = a.get_or("run-id", "");
    install_shutdown_handlers();
    ingest::run_feed(c);
    return 0;
}

}  // namespace stchat::cli
