#include "stchat/common/metrics.h"

#include <cmath>
#include <cstdio>
#include <set>

namespace stchat::metrics {

histogram::histogram(std::vector<double> bounds_seconds)
    : _bounds(std::move(bounds_seconds)), _counts(new std::atomic<uint64_t>[_bounds.size() + 1]) {
    for (size_t i = 0; i <= _bounds.size(); ++i) _counts[i].store(0);
}

void histogram::observe(double seconds) {
    size_t i = 0;
    while (i < _bounds.size() && seconds > _bounds[i]) ++i;
    _counts[i].fetch_add(1, std::memory_order_relaxed);
    _sum_us.fetch_add(static_cast<uint64_t>(std::llround(std::max(0.0, seconds) * 1e6)),
                      std::memory_order_relaxed);
    _count.fetch_add(1, std::memory_order_relaxed);
}

namespace {
std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}
std::string with_labels(const std::string& labels, const std::string& extra) {
    if (labels.empty() && extra.empty()) return "";
    if (labels.empty()) return "{" + extra + "}";
    if (extra.empty()) return "{" + labels + "}";
    return "{" + labels + "," + extra + "}";
}
}  // namespace

std::string histogram::render(const std::string& name, const std::string& labels) const {
    std::string out;
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= _bounds.size(); ++i) {
        cumulative += _counts[i].load(std::memory_order_relaxed);
        std::string le = i < _bounds.size() ? number(_bounds[i]) : "+Inf";
        out += name + "_bucket" + with_labels(labels, "le=\"" + le + "\"") + " " +
               std::to_string(cumulative) + "\n";
    }
    out += name + "_sum" + with_labels(labels, "") + " " +
           number(static_cast<double>(_sum_us.load(std::memory_order_relaxed)) / 1e6) + "\n";
    out += name + "_count" + with_labels(labels, "") + " " +
           std::to_string(_count.load(std::memory_order_relaxed)) + "\n";
    return out;
}

void health_state::set(const std::string& dependency, const std::string& problem) {
    std::lock_guard<std::mutex> lock(_mutex);
    for (auto it = _problems.begin(); it != _problems.end(); ++it) {
        if (it->first == dependency) {
            _problems.erase(it);
            break;
        }
    }
    if (!problem.empty()) _problems.emplace_back(dependency, problem);
}

std::string health_state::problems() const {
    std::lock_guard<std::mutex> lock(_mutex);
    std::string out;
    for (const auto& p : _problems) out += (out.empty() ? "" : "; ") + p.first + ": " + p.second;
    return out;
}

std::vector<double> latency_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

counter& registry::make_counter(const std::string& name, const std::string& help,
                                const std::string& labels) {
    std::lock_guard<std::mutex> lock(_mutex);
    counter& c = _counters.emplace_back();
    _series.push_back({name, help, "counter", labels, &c, nullptr, nullptr, {}});
    return c;
}

gauge& registry::make_gauge(const std::string& name, const std::string& help,
                            const std::string& labels) {
    std::lock_guard<std::mutex> lock(_mutex);
    gauge& g = _gauges.emplace_back();
    _series.push_back({name, help, "gauge", labels, nullptr, &g, nullptr, {}});
    return g;
}

histogram& registry::make_histogram(const std::string& name, const std::string& help,
                                    std::vector<double> bounds, const std::string& labels) {
    std::lock_guard<std::mutex> lock(_mutex);
    histogram& h = _histograms.emplace_back(std::move(bounds));
    _series.push_back({name, help, "histogram", labels, nullptr, nullptr, &h, {}});
    return h;
}

void registry::make_gauge_fn(const std::string& name, const std::string& help,
                             std::function<double()> read) {
    std::lock_guard<std::mutex> lock(_mutex);
    _series.push_back({name, help, "gauge", "", nullptr, nullptr, nullptr, std::move(read)});
}

std::string registry::render() const {
    std::lock_guard<std::mutex> lock(_mutex);
    // Prometheus wants the samples of one name together, under one HELP and TYPE.
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (const auto& s : _series) {
        if (seen.insert(s.name).second) names.push_back(s.name);
    }
    std::string out;
    for (const auto& name : names) {
        bool described = false;
        for (const auto& s : _series) {
            if (s.name != name) continue;
            if (!described)
                out +=
                    "# HELP " + s.name + " " + s.help + "\n# TYPE " + s.name + " " + s.type + "\n";
            described = true;
            if (s.c)
                out +=
                    s.name + with_labels(s.labels, "") + " " + std::to_string(s.c->value()) + "\n";
            if (s.g)
                out +=
                    s.name + with_labels(s.labels, "") + " " + std::to_string(s.g->value()) + "\n";
            if (s.h) out += s.h->render(s.name, s.labels);
            if (s.read) out += s.name + with_labels(s.labels, "") + " " + number(s.read()) + "\n";
        }
    }
    return out;
}

std::string registry::values_json() const {
    std::lock_guard<std::mutex> lock(_mutex);
    std::string out = "{";
    for (const auto& s : _series) {
        if (!s.c && !s.g && !s.read) continue;
        std::string key = s.name + with_labels(s.labels, "");
        std::string escaped;
        for (char ch : key) {
            if (ch == '"' || ch == '\\') escaped += '\\';
            escaped += ch;
        }
        if (out.size() > 1) out += ", ";
        out += "\"" + escaped + "\": ";
        double read = s.read ? s.read() : 0;
        out += s.c ? std::to_string(s.c->value())
             : s.g ? std::to_string(s.g->value())
             : std::isfinite(read) ? number(read) : "null";  // JSON has no NaN
    }
    return out + "}";
}

}  // namespace stchat::metrics
