// The linear sketch that fingerprints a tensor: a count-sketch with rows and signs derived from
// a 32-byte seed. Linear by construction, so the sketch of a summed gradient equals the sum of
// the parts' sketches (up to float rounding). Bit-reproducible: compiled with -ffp-contract=off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <learnchain/chain/hash.hpp>

namespace learnchain::consensus {

using chain::Hash256;

// S[r] = sum over i with row(i) == r of sign(i) * values[i], accumulated in double in index
// order and rounded to float at the end. Element i is hashed at global index index_offset + i,
// so sketches of consecutive slices with their offsets sum to the sketch of the whole.
// rows must be > 0.
[[nodiscard]] std::vector<float> sketch(std::span<const float> values, const Hash256& seed,
                                        std::uint32_t rows, std::uint64_t index_offset = 0);

// The same in double, for summing partial sketches without a rounding per part.
void sketch_accumulate(std::span<const float> values, const Hash256& seed,
                       std::uint64_t index_offset, std::span<double> rows);

// The rows and signs sketch() uses for `count` elements from `index_offset` under one seed,
// precomputed: sketching many vectors under one seed (every micro-batch of a contribution)
// then costs a table lookup per element instead of a hash. Same operations in the same order,
// so results are bit-identical to sketch_accumulate. rows must be in [1, 32768].
class SketchPattern {
public:
    SketchPattern(const Hash256& seed, std::uint32_t rows, std::uint64_t index_offset,
                  std::size_t count);

    [[nodiscard]] std::uint32_t rows() const { return rows_; }
    [[nodiscard]] std::size_t size() const { return codes_.size(); }
    // Elements [first, first + values.size()) of the pattern; rows.size() must be rows().
    void accumulate(std::span<const float> values, std::span<double> rows,
                    std::size_t first = 0) const;
    [[nodiscard]] std::vector<float> sketch(std::span<const float> values) const;

private:
    std::uint32_t rows_ = 0;
    std::vector<std::uint16_t> codes_;  // row | sign << 15
};

// ||a - b|| / max(||a||, ||b||) in double; 0 when both are zero, +inf when sizes differ or
// either holds a non-finite value. Symmetric, so neither side is "the reference".
[[nodiscard]] double relative_l2(std::span<const float> a, std::span<const float> b);

}  // namespace learnchain::consensus
