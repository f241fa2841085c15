#define BOOST_TEST_MODULE migrations
#include <boost/test/unit_test.hpp>

#include <thread>

#include "stchat/eventstore/migrations.h"
#include "stchat/eventstore/sql_session.h"
#include "test_support.h"

using namespace stchat::eventstore;
using stchat::testing::scratch_database;

BOOST_AUTO_TEST_CASE(migrating_twice_applies_everything_once) {
    scratch_database db("migrate_twice", false);
    auto first = migrate(db.store());
    BOOST_TEST(first.applied.size() == builtin_migrations().size());
    BOOST_TEST(first.already.empty());
    auto second = migrate(db.store());
    BOOST_TEST(second.applied.empty(), "the second run applied " << second.applied.size());
    BOOST_TEST(second.already.size() == builtin_migrations().size());
    BOOST_TEST(db.scalar("SELECT count(*) FROM schema_migrations") ==
               static_cast<int64_t>(builtin_migrations().size()));
}

BOOST_AUTO_TEST_CASE(two_migrators_at_once_both_succeed_and_apply_each_migration_once) {
    scratch_database db("migrate_race", false);
    std::vector<migrate_result> results(2);
    std::vector<std::string> errors(2);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
            try {
                results[i] = migrate(db.store());
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    BOOST_TEST(errors[0].empty(), errors[0]);
    BOOST_TEST(errors[1].empty(), errors[1]);
    BOOST_TEST(results[0].applied.size() + results[1].applied.size() == builtin_migrations().size(),
               "each migration applied by exactly one of the two");
    BOOST_TEST(db.scalar("SELECT count(*) FROM schema_migrations") ==
               static_cast<int64_t>(builtin_migrations().size()));
}

BOOST_AUTO_TEST_CASE(every_migration_file_can_be_run_again_as_it_is) {
    // The files are written re-runnable (IF NOT EXISTS, CREATE OR REPLACE): applying their SQL a
    // second time by hand, as an operator might, must not fail.
    scratch_database db("rerun");
    auto s = make_sql_session(db.store());
    for (const auto& m : builtin_migrations()) {
        BOOST_CHECK_NO_THROW(s->exec(m.sql));
    }
}

BOOST_AUTO_TEST_CASE(each_function_file_defines_the_one_function_it_is_named_after) {
    for (const auto& f : builtin_functions()) {
        size_t defs = 0, pos = 0;
        while ((pos = f.sql.find("CREATE OR REPLACE FUNCTION ", pos)) != std::string::npos) {
            ++defs;
            pos += 27;
            BOOST_TEST(f.sql.compare(pos, f.name.size() + 1, f.name + "(") == 0,
                       "functions/" << f.name << ".sql defines " << f.sql.substr(pos, 40));
        }
        BOOST_TEST(defs == 1u, "functions/" << f.name << ".sql has " << defs << " definitions");
    }
    for (const auto& m : builtin_migrations()) {
        BOOST_TEST(m.sql.find("CREATE OR REPLACE FUNCTION") == std::string::npos,
                   m.name << " defines a function: it belongs in migrations/functions/");
    }
}

BOOST_AUTO_TEST_CASE(every_migrate_applies_the_functions_again) {
    scratch_database db("functions_again");
    auto s = make_sql_session(db.store());
    s->exec("DROP FUNCTION projection_names()");
    s->exec("CREATE OR REPLACE FUNCTION inbox_key_retired(floor bigint, message_id text) RETURNS boolean"
            " LANGUAGE sql AS $$ SELECT false $$");
    auto r = migrate(db.store());
    BOOST_TEST(r.applied.empty());
    BOOST_TEST(r.functions == builtin_functions().size());
    BOOST_TEST(db.scalar("SELECT count(*) FROM projection_names()") == 3, "a dropped function is back");
    BOOST_TEST(db.scalar("SELECT inbox_key_retired(10, '5')::int") == 1, "an edited function is the file's again");
}

BOOST_AUTO_TEST_CASE(the_reader_role_reads_the_log_and_tables_but_no_secret) {
    scratch_database db("reader");
    auto s = make_sql_session(db.store());
    BOOST_REQUIRE(db.scalar("SELECT count(*) FROM pg_roles WHERE rolname = 'stchat_reader' AND NOT rolcanlogin") == 1);
    s->exec("GRANT stchat_reader TO CURRENT_USER");  // to try it out: SET LOCAL ROLE below
    auto as_reader = [&](const std::string& sql) -> std::string {
        try {
            make_sql_session(db.store())->exec("SET LOCAL ROLE stchat_reader; " + sql);
            return "";
        } catch (const std::exception& e) {
            return e.what();
        }
    };
    for (const char* readable : {"SELECT count(*) FROM event_log", "SELECT count(*) FROM inbox",
                                 "SELECT count(*) FROM event", "SELECT count(*) FROM execution",
                                 "SELECT count(*) FROM chat_log", "SELECT count(*) FROM checkpoint",
                                 "SELECT count(*) FROM undecodable", "SELECT count(*) FROM service_heartbeat",
                                 "SELECT room, hash_kind, created_at FROM private_room"}) {
        BOOST_TEST(as_reader(readable) == "", readable);
    }
    for (const char* secret : {"SELECT secret FROM chat_secret", "SELECT key_phc FROM private_room",
                               "SELECT salt, key_hash FROM private_room", "SELECT * FROM private_room"}) {
        BOOST_TEST(as_reader(secret).find("permission denied") != std::string::npos, "refused: " << secret);
    }
    BOOST_TEST(as_reader("DELETE FROM event_log").find("permission denied") != std::string::npos, "read-only");
}
