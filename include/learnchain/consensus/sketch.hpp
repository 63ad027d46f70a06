// The linear sketch that fingerprints a tensor, with rows and signs derived from a 32-byte seed:
// the m rows are cut into `blocks` equal blocks, and each element is added, with its own random
// sign, to one random row of every block. One block is a count-sketch (activations); m/4 blocks
// of 4 rows is the sparse Johnson-Lindenstrauss sketch of gradients, whose null space cannot be
// ground (consensus/PROTOCOL.md §T.7.1). Linear by construction, so the sketch of a summed
// gradient equals the sum of the parts' sketches (up to float rounding). Bit-reproducible:
// compiled with -ffp-contract=off.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <learnchain/chain/hash.hpp>

namespace learnchain::consensus {

using chain::Hash256;

// With b = rows / blocks, element i at global index g = index_offset + i draws, for each block
// t, h = derive_key(seed_key(seed), g * blocks + t) and is added to row t * b + (h mod 2^63)
// mod b, negated when bit 63 of h is set. S is accumulated in double in index order (blocks in
// order within an element) and rounded to float at the end. Sketches of consecutive slices with
// their offsets sum to the sketch of the whole; blocks = 1 is the plain count-sketch. rows must
// be > 0 and a multiple of blocks.
[[nodiscard]] std::vector<float> sketch(std::span<const float> values, const Hash256& seed,
                                        std::uint32_t rows, std::uint64_t index_offset = 0,
                                        std::uint32_t blocks = 1);

// The same in double, for summing partial sketches without a rounding per part.
void sketch_accumulate(std::span<const float> values, const Hash256& seed,
                       std::uint64_t index_offset, std::span<double> rows,
                       std::uint32_t blocks = 1);

// The rows and signs sketch() uses for `count` elements from `index_offset` under one seed,
// precomputed: sketching many vectors under one seed (every micro-batch of a contribution)
// then costs a table lookup per element instead of a hash. Same operations in the same order,
// so results are bit-identical to sketch_accumulate. rows must be in [1, 32768].
class SketchPattern {
public:
    SketchPattern(const Hash256& seed, std::uint32_t rows, std::uint64_t index_offset,
                  std::size_t count, std::uint32_t blocks = 1);

    [[nodiscard]] std::uint32_t rows() const { return rows_; }
    [[nodiscard]] std::size_t size() const { return codes_.size() / blocks_; }
    // Elements [first, first + values.size()) of the pattern; rows.size() must be rows().
    void accumulate(std::span<const float> values, std::span<double> rows,
                    std::size_t first = 0) const;
    [[nodiscard]] std::vector<float> sketch(std::span<const float> values) const;

private:
    std::uint32_t rows_ = 0;
    std::uint32_t blocks_ = 1;
    std::vector<std::uint16_t> codes_;  // row | sign << 15, `blocks_` per element
};

// ||a - b|| / max(||a||, ||b||) in double; 0 when both are zero, +inf when sizes differ or
// either holds a non-finite value. Symmetric, so neither side is "the reference".
[[nodiscard]] double relative_l2(std::span<const float> a, std::span<const float> b);

}  // namespace learnchain::consensus
