#pragma once
// The schema, compiled in from migrations/:
//   migrations/NNN_name.sql        numbered migrations: tables, indexes, triggers, views, roles.
//                                  Each is applied once, in order, in its own transaction, and
//                                  recorded in `schema_migrations`. Never edited once released.
//   migrations/functions/<f>.sql   one SQL function per file, named as the file (message-db's
//                                  layout). All of them are applied again by every migrate, in one
//                                  transaction, before the numbered files: a changed function is a
//                                  changed file, never a new migration that redefines it.
// Function bodies are not checked at creation (check_function_bodies = off, as pg_dump does), so a
// function may name a table a later migration creates. A function whose signature changes starts
// its file with the DROP FUNCTION IF EXISTS of the old signature.
// After both, stchat_grant_reader() gives the read-only role its SELECTs on every table.
//
// Safe to run twice, or from two processes at once (a session advisory lock serializes migrators).
#include <string>
#include <vector>

#include "stchat/eventstore/store_config.h"

namespace stchat::eventstore {

struct migration {
    std::string name;  // e.g. "001_event_log", or "append_batch" for a function
    std::string sql;
};

const std::vector<migration>& builtin_migrations();
const std::vector<migration>& builtin_functions();

struct migrate_result {
    std::vector<std::string> applied;  // numbered migrations applied by this call, in order
    std::vector<std::string> already;  // numbered migrations that were applied before
    size_t functions = 0;              // functions (re)applied
};

migrate_result migrate(const store_config& config);

}  // namespace stchat::eventstore
