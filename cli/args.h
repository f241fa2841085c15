#pragma once
// A small command-line parser: --name value, --name=value, --flag, and positionals.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace stchat::cli {

class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class args {
public:
    // `flags` take no value; every other --option takes one.
    args(int argc, char** argv, int first, const std::set<std::string>& flags,
         const std::set<std::string>& options) {
        for (int i = first; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "-h" || a == "--help") { _help = true; continue; }
            if (a.rfind("--", 0) != 0 || a.size() == 2) { _positional.push_back(a); continue; }
            std::string name = a.substr(2), value;
            auto eq = name.find('=');
            bool has_value = eq != std::string::npos;
            if (has_value) { value = name.substr(eq + 1); name = name.substr(0, eq); }
            if (flags.count(name)) {
                if (has_value) throw usage_error("--" + name + " takes no value");
                _values[name] = "1";
            } else if (options.count(name)) {
                if (!has_value) {
                    if (i + 1 >= argc) throw usage_error("--" + name + " needs a value");
                    value = argv[++i];
                }
                _values[name] = value;
            } else {
                throw usage_error("unknown option --" + name);
            }
        }
    }
    bool help() const { return _help; }
    // Throws usage_error naming what is wrong: "missing <what>" with fewer than `min` arguments,
    // "unexpected argument 'x'" with more than `max`.
    // Example: `stchat status extra` -> "stchat status: unexpected argument 'extra' (see …)".
    // Nothing is checked with --help: the help is printed instead.
    void expect_positional(size_t min, size_t max, const std::string& what = "argument") const {
        if (_help) return;
        if (_positional.size() < min) throw usage_error("missing " + what);
        if (_positional.size() > max) throw usage_error("unexpected argument '" + _positional[max] + "'");
    }
    bool flag(const std::string& name) const { return _values.count(name) > 0; }
    std::optional<std::string> get(const std::string& name) const {
        auto it = _values.find(name);
        if (it == _values.end()) return std::nullopt;
        return it->second;
    }
    std::string get_or(const std::string& name, const std::string& fallback) const {
        auto v = get(name);
        return v ? *v : fallback;
    }
    int64_t integer(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
        auto v = get(name);
        if (!v) return fallback;
        char* end = nullptr;
        long long x = std::strtoll(v->c_str(), &end, 10);
        if (v->empty() || *end || x < min || x > max) {
            throw usage_error("--" + name + " must be an integer from " + std::to_string(min) +
                              " to " + std::to_string(max) + ", not '" + *v + "'");
        }
        return x;
    }
    double number(const std::string& name, double fallback, double min) const {
        auto v = get(name);
        if (!v) return fallback;
        char* end = nullptr;
        double x = std::strtod(v->c_str(), &end);
        if (v->empty() || *end || !(x >= min) || x > 1e12) {
            char shown[32];
            std::snprintf(shown, sizeof shown, "%g", min);  // 0.1, not 0.100000
            throw usage_error("--" + name + " must be a number >= " + shown + ", not '" + *v + "'");
        }
        return x;
    }
    const std::vector<std::string>& positional() const { return _positional; }

private:
    bool _help = false;
    std::map<std::string, std::string> _values;
    std::vector<std::string> _positional;
};

inline std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

}  // namespace stchat::cli
