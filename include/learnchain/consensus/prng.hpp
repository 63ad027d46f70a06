// Integer-only pseudo-randomness for everything consensus derives from a seed: initial
// weights, batches, sketches. Only 64-bit integer arithmetic, so every platform and compiler
// produces the same values (see PROTOCOL.md, "Integer PRNG").
#pragma once

#include <cstdint>

#include <learnchain/chain/hash.hpp>

namespace learnchain::consensus {

inline constexpr std::uint64_t golden_gamma = 0x9e3779b97f4a7c15ULL;

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijection on 64-bit words.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Derives an independent 64-bit key from a parent key and an index.
[[nodiscard]] constexpr std::uint64_t derive_key(std::uint64_t key, std::uint64_t index) {
    return mix64(key ^ mix64(index + golden_gamma));
}

class SplitMix64 {
public:
    explicit constexpr SplitMix64(std::uint64_t state) : state_(state) {}

    constexpr std::uint64_t next() {
        state_ += golden_gamma;
        return mix64(state_);
    }

    // Uniform in [0, n) by plain modulo; the tiny bias is irrelevant, what matters is that
    // the definition is trivial to reimplement. n must be > 0.
    constexpr std::uint64_t below(std::uint64_t n) { return next() % n; }

private:
    std::uint64_t state_;
};

// Folds a 32-byte seed into a 64-bit key: its four little-endian words, in order, through mix64.
[[nodiscard]] inline std::uint64_t seed_key(const chain::Hash256& seed) {
    std::uint64_t key = 0;
    for (std::size_t word = 0; word < 4; ++word) {
        std::uint64_t w = 0;
        for (std::size_t b = 0; b < 8; ++b)
            w |= static_cast<std::uint64_t>(seed.bytes()[word * 8 + b]) << (8 * b);
        key = mix64(key ^ w);
    }
    return key;
}

}  // namespace learnchain::consensus
