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
