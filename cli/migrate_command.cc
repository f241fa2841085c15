// `stchat migrate`
#include <iostream>

#include "commands.h"
#include "common_options.h"
#include "stchat/common/log.h"
#include "stchat/eventstore/migrations.h"

namespace stchat::cli {

int cmd_migrate(int argc, char** argv) {
    args a(argc, argv, 2, {}, options_for(conn_database, {}));
    if (a.help()) {
        std::cout << "Usage: stchat migrate [--database URI]\n\n"
                     "Applies the SQL migrations (compiled into stchat) that the database lacks,\n"
                     "each in its own transaction, and records them in schema_migrations.\n"
                     "Safe to run twice, or from two processes at once.\n\n"
                  << connections_help(conn_database)
                  << "\nExamples:\n  stchat migrate\n"
                     "  stchat migrate --database postgresql://stchat@127.0.0.1:15432/stchat\n";
        return 0;
    }
    apply_base(a);
    auto r = eventstore::migrate(store_of(a));
    for (const auto& name : r.applied) log::info("migrate", "applied " + name);
    log::info("migrate", std::to_string(r.applied.size()) + " applied, " +
                             std::to_string(r.already.size()) + " already there, " +
                             std::to_string(r.functions) + " functions applied");
    return 0;
}

}  // namespace stchat::cli
