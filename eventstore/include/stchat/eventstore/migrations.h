#pragma once
// Numbered SQL migrations (migrations/NNN_name.sql, compiled in). migrate() applies the missing
// ones in order, each in its own transaction, and records them in `schema_migrations`. Safe to run
// twice, or from two processes at once (a session advisory lock serializes migrators).
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::eventstore {

struct migration {
    std::string name;  // e.g. "001_event_log"
    std::string sql;
};

const std::vector<migration>& builtin_migrations();

struct migrate_result {
    std::vector<std::string> applied;  // names applied by this call, in order
    std::vector<std::string> already;  // names that were applied before
};

migrate_result migrate(const store_config& config);

}  // namespace stchat::eventstore
