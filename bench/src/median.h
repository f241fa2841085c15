#pragma once
// Private to bench/: every figure a bench reports is the median of its runs.
#include <algorithm>
#include <vector>

namespace stchat::bench {

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace stchat::bench
