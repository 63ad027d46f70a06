// Built with -ffp-contract=off (consensus/CMakeLists.txt): sketches are hashed into leaves.
#include <cmath>
#include <limits>

#include <learnchain/consensus/prng.hpp>
#include <learnchain/consensus/sketch.hpp>

namespace learnchain::consensus {

void sketch_accumulate(std::span<const float> values, const Hash256& seed,
                       std::uint64_t index_offset, std::span<double> rows) {
    const std::uint64_t key = seed_key(seed);
    const std::uint64_t m = rows.size();
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint64_t h = derive_key(key, index_offset + i);
        // The top bit picks the sign, the rest the row, so the two are independent.
        const double v = static_cast<double>(values[i]);
        rows[(h & 0x7fffffffffffffffULL) % m] += (h >> 63) ? -v : v;
    }
}

std::vector<float> sketch(std::span<const float> values, const Hash256& seed, std::uint32_t rows,
                          std::uint64_t index_offset) {
    std::vector<double> acc(rows, 0.0);
    if (rows != 0) sketch_accumulate(values, seed, index_offset, acc);
    return std::vector<float>(acc.begin(), acc.end());
}

double relative_l2(std::span<const float> a, std::span<const float> b) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    if (a.size() != b.size()) return inf;
    double diff = 0.0, na = 0.0, nb = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = a[i], y = b[i];
        if (!std::isfinite(x) || !std::isfinite(y)) return inf;
        diff += (x - y) * (x - y);
        na += x * x;
        nb += y * y;
    }
    const double denom = std::max(na, nb);
    if (denom == 0.0) return 0.0;
    return std::sqrt(diff / denom);
}

}  // namespace learnchain::consensus
