#define BOOST_TEST_MODULE metrics
#include "stchat/common/metrics.h"

#include <boost/test/unit_test.hpp>
#include <thread>
#include <vector>

using namespace stchat::metrics;

BOOST_AUTO_TEST_CASE(counters_from_many_threads_add_up_exactly) {
    registry reg;
    auto& c = reg.make_counter("t_total", "test");
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100000; ++i) c.add();
        });
    for (auto& t : threads) t.join();
    BOOST_TEST(c.value() == 400000u, "every add counted once");
    BOOST_TEST(reg.render().find("t_total 400000\n") != std::string::npos, reg.render());
}

BOOST_AUTO_TEST_CASE(series_of_one_name_render_together_under_one_help) {
    registry reg;
    reg.make_counter("errors_total", "errors by code", R"(code="a")").add(2);
    reg.make_gauge("sessions", "open sessions").set(7);
    reg.make_counter("errors_total", "errors by code", R"(code="b")").add(3);
    std::string text = reg.render();
    BOOST_TEST(text ==
                   "# HELP errors_total errors by code\n# TYPE errors_total counter\n"
                   "errors_total{code=\"a\"} 2\nerrors_total{code=\"b\"} 3\n"
                   "# HELP sessions open sessions\n# TYPE sessions gauge\nsessions 7\n",
               text);
}

BOOST_AUTO_TEST_CASE(a_histogram_renders_cumulative_buckets_sum_and_count) {
    registry reg;
    auto& h = reg.make_histogram("lat_seconds", "latency", {0.01, 0.1});
    h.observe(0.005);
    h.observe(0.05);
    h.observe(0.05);
    h.observe(3);
    std::string text = reg.render();
    BOOST_TEST(text.find("lat_seconds_bucket{le=\"0.01\"} 1\n") != std::string::npos, text);
    BOOST_TEST(text.find("lat_seconds_bucket{le=\"0.1\"} 3\n") != std::string::npos, text);
    BOOST_TEST(text.find("lat_seconds_bucket{le=\"+Inf\"} 4\n") != std::string::npos, text);
    BOOST_TEST(text.find("lat_seconds_sum 3.105\n") != std::string::npos, text);
    BOOST_TEST(text.find("lat_seconds_count 4\n") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(values_json_lists_counters_and_gauges_with_labels_escaped) {
    registry reg;
    reg.make_counter("errors_total", "errors by code", R"(code="a")").add(2);
    reg.make_gauge("sessions", "open sessions").set(-1);
    reg.make_histogram("seconds", "not a value");
    reg.make_gauge_fn("ratio", "read when asked", [] { return 0.0 / 0.0; });
    std::string json = reg.values_json();
    BOOST_TEST(json == R"({"errors_total{code=\"a\"}": 2, "sessions": -1, "ratio": null})", json);
}
