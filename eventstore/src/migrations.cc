#include "stchat/eventstore/migrations.h"

#include <set>

#include "pg.h"

namespace stchat::eventstore {

migrate_result migrate(const store_config& config) {
    return pg::translate([&] {
        auto conn = pg::connect(config);
        migrate_result result;
        {
            // Session lock: a second migrator waits here, then finds everything applied.
            pqxx::nontransaction lock(*conn);
            lock.exec("SET statement_timeout = 0");  // a migration may rewrite a big table
            lock.exec("SELECT pg_advisory_lock(7310)");
        }
        {
            pqxx::work tx(*conn);
            tx.exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())");
            tx.commit();
        }
        {
            pqxx::work tx(*conn);
            tx.exec("SET LOCAL check_function_bodies = off");
            for (const auto& f : builtin_functions()) {
                try {
                    tx.exec(f.sql);
                } catch (const pqxx::sql_error& e) {
                    throw store_error(failure::permanent, "function " + f.name + " (migrations/functions/" +
                                                              f.name + ".sql) failed: " + e.what());
                }
            }
            tx.commit();
            result.functions = builtin_functions().size();
        }
        std::set<std::string> done;
        {
            pqxx::read_transaction tx(*conn);
            for (const auto& row : tx.exec("SELECT name FROM schema_migrations")) {
                done.insert(row[0].as<std::string>());
            }
        }
        for (const auto& m : builtin_migrations()) {
            if (done.count(m.name)) {
                result.already.push_back(m.name);
                continue;
            }
            pqxx::work tx(*conn);
            try {
                tx.exec(m.sql);
            } catch (const pqxx::sql_error& e) {
                throw store_error(failure::permanent,
                                  "migration " + m.name + " failed: " + e.what());
            }
            tx.exec_params("INSERT INTO schema_migrations (name) VALUES ($1)", m.name);
            tx.commit();
            result.applied.push_back(m.name);
        }
        {
            pqxx::work tx(*conn);
            tx.exec("SELECT stchat_grant_reader()");
            tx.commit();
        }
        pqxx::nontransaction unlock(*conn);
        unlock.exec("SELECT pg_advisory_unlock(7310)");
        return result;
    });
}

}  // namespace stchat::eventstore
