#define BOOST_TEST_MODULE feed_codec
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "stchat/ingest/feed_codec.h"
#include "stchat/ingest/feed_simulator.h"

using namespace stchat::ingest;

BOOST_AUTO_TEST_CASE(a_sport_event_decodes_with_the_sport_by_name) {
    auto payload = encode(sport_event_fields{7, "Nadal vs Federer", "ace at 3'"});
    auto d = decode_feed(feed_kind::sport_event, payload);
    BOOST_TEST_REQUIRE(d.ok, "decode failed: " << d.error);
    BOOST_TEST(d.data_json ==
                   R"({"sport":"TENNIS","match_title":"Nadal vs Federer","data_event":"ace at 3'"})",
               "unexpected JSON " << d.data_json);
}

BOOST_AUTO_TEST_CASE(an_execution_decodes_with_floats_in_their_shortest_form) {
    auto payload = encode(execution_fields{"AAPL", "NASDAQ", 101.13f, 25.0f, 1764312000123LL, "NY"});
    auto d = decode_feed(feed_kind::execution, payload);
    BOOST_TEST_REQUIRE(d.ok, "decode failed: " << d.error);
    BOOST_TEST(d.data_json == R"({"symbol":"AAPL","market":"NASDAQ","price":101.13,"quantity":25,)"
                              R"("executionEpoch":1764312000123,"stateSymbol":"NY"})",
               "unexpected JSON " << d.data_json);
}

BOOST_AUTO_TEST_CASE(nan_and_infinite_prices_become_strings_postgres_reads_as_real) {
    auto d = decode_feed(feed_kind::execution,
                         encode(execution_fields{"X", "Y", NAN, INFINITY, 1, "NY"}));
    BOOST_TEST_REQUIRE(d.ok, d.error);
    BOOST_TEST(d.data_json.find(R"("price":"NaN","quantity":"Infinity")") != std::string::npos,
               d.data_json);
}

BOOST_AUTO_TEST_CASE(an_empty_payload_is_reported_as_such) {
    auto d = decode_feed(feed_kind::sport_event, "");
    BOOST_TEST(!d.ok);
    BOOST_TEST(d.error == "empty payload");
}

BOOST_AUTO_TEST_CASE(garbage_bytes_are_not_a_message) {
    auto d = decode_feed(feed_kind::execution, "\xff\xfe not protobuf \x01");
    BOOST_TEST(!d.ok);
    BOOST_TEST(d.error == "not a valid protobuf message");
}

BOOST_AUTO_TEST_CASE(a_message_missing_required_fields_names_them) {
    auto full = encode(sport_event_fields{1, "Cubs vs Mets", "walk"});
    // A sport event's bytes read as an execution: field 1 is a varint where a string is expected
    // (invalid), so use a truncated execution instead: only its first field survives.
    auto exec = encode(execution_fields{"AAPL", "NASDAQ", 1, 2, 3, "NY"});
    auto d = decode_feed(feed_kind::execution, exec.substr(0, 6));  // tag+len+"AAPL"
    BOOST_TEST(!d.ok);
    BOOST_TEST(d.error.find("missing required fields") == 0, d.error);
    BOOST_TEST(d.error.find("market") != std::string::npos, d.error);
    BOOST_TEST(decode_feed(feed_kind::sport_event, full).ok);
}

BOOST_AUTO_TEST_CASE(a_sport_number_outside_the_enum_is_undecodable) {
    auto d = decode_feed(feed_kind::sport_event, encode(sport_event_fields{9, "A", "B"}));
    BOOST_TEST(!d.ok, "sport 9 decoded as " << d.data_json);
}

BOOST_AUTO_TEST_CASE(strings_postgres_cannot_store_make_the_message_undecodable) {
    BOOST_TEST(!decode_feed(feed_kind::sport_event, encode(sport_event_fields{1, "bad \xc3", "x"})).ok);
    BOOST_TEST(!decode_feed(feed_kind::sport_event,
                            encode(sport_event_fields{1, std::string("nul\0here", 8), "x"}))
                    .ok);
    BOOST_TEST(is_storable_utf8("Malmö — 東京"));
    BOOST_TEST(!is_storable_utf8("\xed\xa0\x80"), "a UTF-16 surrogate is not valid UTF-8");
}

BOOST_AUTO_TEST_CASE(every_simulated_message_decodes_and_the_generator_is_deterministic) {
    for (uint64_t n = 0; n < 2000; ++n) {
        for (auto kind : {feed_kind::sport_event, feed_kind::execution}) {
            auto payload = make_feed_payload(kind, 42, n);
            auto d = decode_feed(kind, payload);
            BOOST_TEST_REQUIRE(d.ok, "message " << n << " of " << to_string(kind) << ": " << d.error);
        }
    }
    BOOST_TEST(make_feed_payload(feed_kind::sport_event, 7, 3) ==
               make_feed_payload(feed_kind::sport_event, 7, 3));
    BOOST_TEST(make_feed_payload(feed_kind::sport_event, 7, 3) !=
               make_feed_payload(feed_kind::sport_event, 7, 4));
}
