// `stchat reconcile`
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/shutdown.h"
#include "stchat/ingest/reconcile.h"

namespace stchat::cli {

int cmd_reconcile(int argc, char** argv) {
    args a(argc, argv, 2, {"dry-run"}, options_for(conn_database | conn_nats | conn_feed_stream, {}));
    a.expect_positional(0, 0);
    if (a.help()) {
        std::cout << "Usage: stchat reconcile [--dry-run] [options]\n\n"
                     "Repairs the log after Postgres lost commits JetStream was already told about\n"
                     "(an asynchronous standby promoted before it had them): appends every message\n"
                     "the stream still holds whose inbox key is missing, exactly once (a message\n"
                     "already there, or appended by the ingest meanwhile, is not appended again).\n"
                     "Reports the sequences it filled and names those it cannot: gone from the\n"
                     "stream (retention) and never catalogued. The ingest runs it by itself when it\n"
                     "finds Postgres on a new timeline. Safe to run at any time, twice, or while the\n"
                     "ingest runs.\n\n"
                  << connections_help(conn_database | conn_nats | conn_feed_stream)
                  << "  --dry-run          find and report, append nothing\n"
                     "\nExamples:\n  stchat reconcile --dry-run\n"
                     "  stchat reconcile --database 'postgresql://stchat@db1,db2/stchat?target_session_attrs=read-write'\n";
        return a.help() ? 0 : 2;
    }
    apply_base(a);
    install_shutdown_handlers();
    ingest::reconcile_config c;
    c.nats = nats_of(a);
    c.store = store_of(a);
    c.dry_run = a.flag("dry-run");
    auto r = ingest::reconcile(c);
    std::cout << "stream " << r.stream << " (created " << r.created_ns << " ns) holds " << r.first_seq << "-"
              << r.last_seq << "\n"
              << (c.dry_run ? "missing from the log: " : "appended: ") << (c.dry_run ? r.missing : r.appended)
              << " (" << ingest::ranges_text(r.repaired) << ")\n"
              << "lost (gone from the stream, never catalogued): " << ingest::ranges_text(r.lost) << "\n";
    return 0;
}

}  // namespace stchat::cli
