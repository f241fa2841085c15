#define BOOST_TEST_MODULE retry
// The one retry policy of the log's callers (eventstore/retry.h), without a database: calls
// that fail as Postgres fails, counted exactly.
#include <boost/test/unit_test.hpp>

#include "stchat/eventstore/retry.h"

using namespace stchat;
using namespace stchat::eventstore;
using std::chrono::milliseconds;

namespace {
retry_config quick(metrics::health_state* health, metrics::counter* retries, idempotence call = idempotence::idempotent,
                   std::optional<milliseconds> give_up = std::nullopt) {
    return {"test", call, health, retries, milliseconds(1), milliseconds(4), give_up};
}
}  // namespace

BOOST_AUTO_TEST_CASE(transient_failures_are_retried_counted_and_shown_in_health_until_a_success) {
    metrics::health_state health;
    metrics::counter retries;
    retry_policy retry(quick(&health, &retries));
    int calls = 0;
    std::string seen_during;
    auto r = retry.run([&] {
        if (++calls <= 3) {
            if (calls == 3) seen_during = health.problems();
            throw store_error(failure::transient, "connection lost");
        }
        return 42;
    });
    BOOST_REQUIRE(r.has_value());
    BOOST_TEST(*r == 42);
    BOOST_TEST(calls == 4, "three failures, then the success");
    BOOST_TEST(retries.value() == 3u);
    BOOST_TEST(seen_during.find("postgres: connection lost") != std::string::npos, seen_during);
    BOOST_TEST(health.problems().empty(), "cleared by the success: " << health.problems());
}

BOOST_AUTO_TEST_CASE(a_commit_in_doubt_is_retried_only_for_an_idempotent_call_and_permanent_never) {
    metrics::counter retries;
    retry_policy once(quick(nullptr, &retries, idempotence::not_idempotent));
    int calls = 0;
    BOOST_CHECK_THROW(once.run([&]() -> int {
        ++calls;
        throw store_error(failure::in_doubt, "commit in doubt");
    }), store_error);
    BOOST_TEST(calls == 1, "a write that is not idempotent is never repeated after a commit in doubt");
    retry_policy idem(quick(nullptr, &retries));
    calls = 0;
    auto r = idem.run([&] {
        if (++calls == 1) throw store_error(failure::in_doubt, "commit in doubt");
        return 1;
    });
    BOOST_TEST(r.has_value());
    BOOST_TEST(calls == 2, "an idempotent one is");
    calls = 0;
    BOOST_CHECK_THROW(idem.run([&]() -> int {
        ++calls;
        throw store_error(failure::permanent, "syntax error");
    }), store_error);
    BOOST_TEST(calls == 1, "a permanent failure is not retried");
    BOOST_TEST(retries.value() == 1u);
}

BOOST_AUTO_TEST_CASE(give_up_after_rethrows_once_the_outage_is_that_old) {
    retry_policy retry(quick(nullptr, nullptr, idempotence::idempotent, milliseconds(30)));
    int calls = 0;
    auto t0 = std::chrono::steady_clock::now();
    BOOST_CHECK_THROW(retry.run([&]() -> int {
        ++calls;
        throw store_error(failure::transient, "down");
    }), store_error);
    auto took = std::chrono::steady_clock::now() - t0;
    BOOST_TEST(calls >= 2, "retried before giving up: " << calls);
    BOOST_TEST((took >= milliseconds(30)), "not before the give-up time");
    BOOST_TEST(retry.in_outage());
    calls = 0;
    BOOST_CHECK_THROW(retry.run([&]() -> int {
        ++calls;
        throw store_error(failure::transient, "still down");
    }), store_error);
    BOOST_TEST(calls == 1, "later calls in the same outage are tried once, not held for another 30 ms");
    BOOST_TEST(*retry.run([] { return 7; }) == 7, "and the outage ends with a success");
    BOOST_TEST(!retry.in_outage());
}
