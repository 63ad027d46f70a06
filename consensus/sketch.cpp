// Built with -ffp-contract=off (consensus/CMakeLists.txt): sketches are hashed into leaves.
#include <bit>
#include <cmath>
#include <limits>

#include <learnchain/consensus/prng.hpp>
#include <learnchain/consensus/sketch.hpp>

namespace learnchain::consensus {

namespace {

// Element g's code in block t: its row (in [0, rows)) in the low 15 bits, its sign in bit 15.
// `reduce` maps the 63 random bits to [0, b).
template <class Reduce>
std::uint16_t code_of(std::uint64_t key, std::uint64_t g, std::uint32_t blocks, std::uint32_t t,
                      std::uint32_t b, Reduce reduce) {
    const std::uint64_t h = derive_key(key, g * blocks + t);
    return static_cast<std::uint16_t>((t * b + reduce(h & 0x7fffffffffffffffULL)) | (h >> 63)
                                                                                        << 15);
}

}  // namespace

void sketch_accumulate(std::span<const float> values, const Hash256& seed,
                       std::uint64_t index_offset, std::span<double> rows, std::uint32_t blocks) {
    const std::uint64_t key = seed_key(seed);
    const std::uint64_t b = rows.size() / blocks;
    // A 64-bit division costs more than the hash; for a power-of-two block (genesis uses 64
    // rows, gradients 4-row blocks) the remainder is a mask, with identical results. Sketching
    // runs on every activation of every unit, so this is the cost of proof-of-learning over
    // plain training.
    auto run = [&](auto row_of) {
        for (std::size_t i = 0; i < values.size(); ++i) {
            const std::uint64_t g = index_offset + i;
            const auto v = std::bit_cast<std::uint64_t>(static_cast<double>(values[i]));
            for (std::uint32_t t = 0; t < blocks; ++t) {
                const std::uint64_t h = derive_key(key, g * blocks + t);
                // The top bit picks the sign, the rest the row, so the two are independent.
                // The sign is applied by flipping the sign bit (exactly -v): a branch on a
                // random bit would mispredict half the time.
                rows[t * b + row_of(h & 0x7fffffffffffffffULL)] +=
                    std::bit_cast<double>(v ^ (h & 0x8000000000000000ULL));
            }
        }
    };
    if (b != 0 && (b & (b - 1)) == 0)
        run([mask = b - 1](std::uint64_t x) { return x & mask; });
    else
        run([b](std::uint64_t x) { return x % b; });
}

std::vector<float> sketch(std::span<const float> values, const Hash256& seed, std::uint32_t rows,
                          std::uint64_t index_offset, std::uint32_t blocks) {
    std::vector<double> acc(rows, 0.0);
    if (rows != 0) sketch_accumulate(values, seed, index_offset, acc, blocks);
    return std::vector<float>(acc.begin(), acc.end());
}

SketchPattern::SketchPattern(const Hash256& seed, std::uint32_t rows, std::uint64_t index_offset,
                             std::size_t count, std::uint32_t blocks)
    : rows_(rows), blocks_(blocks), codes_(count * blocks) {
    const std::uint64_t key = seed_key(seed);
    const std::uint32_t b = rows / blocks;
    for (std::size_t i = 0; i < count; ++i)
        for (std::uint32_t t = 0; t < blocks; ++t)
            codes_[i * blocks + t] = code_of(key, index_offset + i, blocks, t, b,
                                             [b](std::uint64_t x) { return x % b; });
}

void SketchPattern::accumulate(std::span<const float> values, std::span<double> rows,
                               std::size_t first) const {
    const std::size_t n = values.size();
    if (blocks_ > 1) {
        // Each value widened once, then added to one row per block, in sketch_accumulate's order.
        const std::uint16_t* codes = codes_.data() + first * blocks_;
        for (std::size_t i = 0; i < n; ++i) {
            const auto v = std::bit_cast<std::uint64_t>(static_cast<double>(values[i]));
            for (std::uint32_t t = 0; t < blocks_; ++t) {
                const std::uint64_t code = codes[i * blocks_ + t];
                rows[code & 0x7fff] += std::bit_cast<double>(v ^ (code >> 15) << 63);
            }
        }
        return;
    }
    const std::uint16_t* codes = codes_.data() + first;
    // Eight at a time: signs applied and values widened as one vector operation, then the adds
    // one by one in index order, so every row sums in the same order as the plain loop below
    // (about twice as fast: the plain loop moves each value between vector and integer
    // registers). Flipping the f32 sign bit before widening gives exactly the bits of flipping
    // the f64's after: widening is exact and commutes with negation.
    constexpr std::size_t lanes = 8;
    std::size_t i = 0;
    for (; i + lanes <= n; i += lanes) {
        double widened[lanes];
        for (std::size_t j = 0; j < lanes; ++j) {
            const std::uint32_t bits = std::bit_cast<std::uint32_t>(values[i + j]) ^
                                       (std::uint32_t{codes[i + j]} >> 15 << 31);
            widened[j] = static_cast<double>(std::bit_cast<float>(bits));
        }
        for (std::size_t j = 0; j < lanes; ++j) rows[codes[i + j] & 0x7fff] += widened[j];
    }
    for (; i < n; ++i) {
        const std::uint64_t code = codes[i];
        const auto v = std::bit_cast<std::uint64_t>(static_cast<double>(values[i]));
        rows[code & 0x7fff] += std::bit_cast<double>(v ^ (code >> 15) << 63);
    }
}

std::vector<float> SketchPattern::sketch(std::span<const float> values) const {
    std::vector<double> acc(rows_, 0.0);
    accumulate(values, acc);
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
