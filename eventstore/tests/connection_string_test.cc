#define BOOST_TEST_MODULE connection_string
// The deadlines st-chat adds to every Postgres connection string (store_config.h), without a server.
#include <boost/test/unit_test.hpp>

#include "stchat/eventstore/store_config.h"

using namespace stchat::eventstore;

namespace {
bool has(const std::string& conninfo, const std::string& pair) {
    return (" " + conninfo + " ").find(" " + pair + " ") != std::string::npos;
}
size_t count(const std::string& conninfo, const std::string& key) {
    size_t n = 0;
    for (size_t at = 0; (at = (" " + conninfo).find(" " + key + "=", at)) != std::string::npos; ++at) ++n;
    return n;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_uri_gets_every_deadline_and_keeps_its_own_settings) {
    std::string c = libpq_conninfo({"postgresql://stchat@db1:5432,db2:5433/stchat?target_session_attrs=read-write"});
    BOOST_TEST(has(c, "host='db1,db2'"), c);
    BOOST_TEST(has(c, "port='5432,5433'"), c);
    BOOST_TEST(has(c, "target_session_attrs='read-write'"), c);
    for (const char* d : {"connect_timeout='5'", "keepalives='1'", "keepalives_idle='5'", "keepalives_interval='2'",
                          "keepalives_count='3'", "tcp_user_timeout='10000'", "options='-c statement_timeout=60000'"}) {
        BOOST_TEST(has(c, d), d << " in " << c);
    }
}

BOOST_AUTO_TEST_CASE(what_the_user_sets_wins_and_is_not_repeated) {
    std::string c = libpq_conninfo({"host=/tmp dbname=x connect_timeout=30 options='-c work_mem=64MB'"});
    BOOST_TEST(has(c, "connect_timeout='30'"), c);
    BOOST_TEST(count(c, "connect_timeout") == 1u, c);
    BOOST_TEST(has(c, "options='-c work_mem=64MB'"), c);
    BOOST_TEST(count(c, "options") == 1u, c);
    BOOST_TEST(has(c, "tcp_user_timeout='10000'"), c);
}

BOOST_AUTO_TEST_CASE(an_empty_string_leaves_the_server_to_the_environment) {
    std::string c = libpq_conninfo({""});
    BOOST_TEST(count(c, "host") == 0u, c);
    BOOST_TEST(has(c, "connect_timeout='5'"), c);
}

BOOST_AUTO_TEST_CASE(a_string_libpq_cannot_read_is_a_permanent_error_saying_why) {
    try {
        libpq_conninfo({"postgresql://[::1/x"});
        BOOST_FAIL("no error");
    } catch (const store_error& e) {
        BOOST_TEST(!e.retry_may_help(idempotence::idempotent));
        BOOST_TEST(std::string(e.what()).find("--database") != std::string::npos, e.what());
    }
    BOOST_CHECK_THROW(libpq_conninfo({"nonsense_key=1"}), store_error);
}
