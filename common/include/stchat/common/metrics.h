#pragma once
// Prometheus metrics: counters, gauges and histograms in a registry rendered as the text
// exposition format (GET /metrics). Updates are lock-free atomics: safe from any thread, cheap
// enough for every frame.
//
//   metrics::registry reg;
//   auto& sent = reg.make_counter("stchat_chat_frames_sent_total", "Frames sent to clients");
//   sent.add();
//   reg.render();  // "# HELP stchat_chat_frames_sent_total Frames sent...\n# TYPE ...
//   counter\n..."
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace stchat::metrics {

class counter {
  public:
    void add(uint64_t n = 1) { _value.fetch_add(n, std::memory_order_relaxed); }
    uint64_t value() const { return _value.load(std::memory_order_relaxed); }

  private:
    std::atomic<uint64_t> _value{0};
};

class gauge {
  public:
    void set(int64_t v) { _value.store(v, std::memory_order_relaxed); }
    void add(int64_t n) { _value.fetch_add(n, std::memory_order_relaxed); }
    int64_t value() const { return _value.load(std::memory_order_relaxed); }

  private:
    std::atomic<int64_t> _value{0};
};

// Cumulative buckets with upper bounds in seconds; observations are kept in microseconds.
class histogram {
  public:
    explicit histogram(std::vector<double> bounds_seconds);
    void observe(double seconds);
    std::string render(const std::string& name, const std::string& labels) const;

  private:
    std::vector<double> _bounds;
    std::unique_ptr<std::atomic<uint64_t>[]> _counts;  // one per bound, plus +Inf
    std::atomic<uint64_t> _sum_us{0};
    std::atomic<uint64_t> _count{0};
};

// Latency buckets from 0.5 ms to 10 s.
std::vector<double> latency_buckets();

// What /healthz reports: problems by dependency ("nats", "postgres"); none means healthy.
// Set by the component on each state change, read by the HTTP thread.
class health_state {
public:
    void set(const std::string& dependency, const std::string& problem);  // "" clears
    std::string problems() const;  // "" when healthy, else "postgres: ...; nats: ..."

private:
    mutable std::mutex _mutex;
    std::vector<std::pair<std::string, std::string>> _problems;
};

class registry {
  public:
    // `labels` is the inside of the braces, e.g. R"(code="bad_json")"; several series may
    // share a name with different labels. References stay valid for the registry's life.
    counter& make_counter(const std::string& name, const std::string& help,
                          const std::string& labels = "");
    gauge& make_gauge(const std::string& name, const std::string& help,
                      const std::string& labels = "");
    histogram& make_histogram(const std::string& name, const std::string& help,
                              std::vector<double> bounds = latency_buckets(),
                              const std::string& labels = "");
    // A gauge read when rendered (e.g. a queue length owned elsewhere).
    void make_gauge_fn(const std::string& name, const std::string& help,
                       std::function<double()> read);

    std::string render() const;
    // The counters and gauges as one JSON object, e.g. {"stchat_ingest_messages_ingested_total": 120,
    // "stchat_chat_errors_total{code=\"bad_json\"}": 2}: what a heartbeat carries to /ops.
    std::string values_json() const;

  private:
    struct series {
        std::string name, help, type, labels;
        counter* c = nullptr;
        gauge* g = nullptr;
        histogram* h = nullptr;
        std::function<double()> read;
    };
    mutable std::mutex _mutex;
    std::vector<series> _series;
    std::deque<counter> _counters;
    std::deque<gauge> _gauges;
    std::deque<histogram> _histograms;
};

}  // namespace stchat::metrics
