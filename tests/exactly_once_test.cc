#define BOOST_TEST_MODULE exactly_once
#include <boost/test/unit_test.hpp>
BOOST_AUTO_TEST_CASE(placeholder_builds) { BOOST_TEST(true); }
