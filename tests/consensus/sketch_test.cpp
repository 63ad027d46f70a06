#include <bit>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include <learnchain/consensus/prng.hpp>
#include <learnchain/consensus/sketch.hpp>

#include <gtest/gtest.h>

namespace learnchain::consensus {
namespace {

Hash256 seed_of(std::uint8_t fill) {
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(fill);
    return Hash256(bytes);
}

// Values of mixed sign and magnitude, like a gradient.
std::vector<float> random_values(std::size_t n, std::uint64_t seed) {
    SplitMix64 rng(seed);
    std::vector<float> out(n);
    for (auto& v : out) {
        const auto k = static_cast<std::int64_t>(rng.next() >> 40) - (1 << 23);
        v = static_cast<float>(k) * 1e-6f * static_cast<float>(1 + rng.below(100));
    }
    return out;
}

std::vector<float> add(const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> out(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
    return out;
}

TEST(Sketch, IsLinear) {
    const auto a = random_values(100000, 1);
    const auto b = random_values(100000, 2);
    const auto seed = seed_of(3);
    const auto sa = sketch(a, seed, 64);
    const auto sb = sketch(b, seed, 64);
    const auto sab = sketch(add(a, b), seed, 64);
    ASSERT_EQ(sab.size(), 64u);
    // Only the float rounding of a + b and of the outputs separates the two sides.
    EXPECT_LT(relative_l2(add(sa, sb), sab), 1e-6);
    // Scaling commutes too.
    std::vector<float> twice(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) twice[i] = 2 * a[i];
    const auto s2 = sketch(twice, seed, 64);
    for (std::size_t r = 0; r < 64; ++r) EXPECT_EQ(s2[r], 2 * sa[r]);
}

TEST(Sketch, SlicesWithOffsetsSumToTheWhole) {
    const auto a = random_values(10000, 4);
    const auto seed = seed_of(5);
    std::vector<double> parts(32, 0.0);
    const std::span<const float> all(a);
    sketch_accumulate(all.subspan(0, 3000), seed, 0, parts);
    sketch_accumulate(all.subspan(3000), seed, 3000, parts);
    const auto whole = sketch(a, seed, 32);
    // The same additions in the same order: identical bits.
    for (std::size_t r = 0; r < 32; ++r) EXPECT_EQ(static_cast<float>(parts[r]), whole[r]);
}

TEST(Sketch, DependsOnSeedAndDetectsChanges) {
    const auto a = random_values(5000, 6);
    EXPECT_EQ(sketch(a, seed_of(1), 64), sketch(a, seed_of(1), 64));
    EXPECT_GT(relative_l2(sketch(a, seed_of(1), 64), sketch(a, seed_of(2), 64)), 0.5);
    auto b = a;
    b[1234] += 1.0f;  // one changed element moves its row
    EXPECT_NE(sketch(a, seed_of(1), 64), sketch(b, seed_of(1), 64));
}

TEST(Sketch, PreservesNormRoughly) {
    // A count-sketch is an unbiased norm estimator: ||S x||^2 ~ ||x||^2.
    const auto a = random_values(50000, 7);
    const auto s = sketch(a, seed_of(9), 64);
    double na = 0, ns = 0;
    for (float v : a) na += double(v) * v;
    for (float v : s) ns += double(v) * v;
    EXPECT_NEAR(ns / na, 1.0, 0.5);
}

TEST(Sketch, RecordedValue) {
    // Recorded once; sketches go into Merkle leaves, so their bits are consensus.
    const auto s = sketch(random_values(4096, 8), seed_of(10), 8);
    std::vector<std::uint32_t> bits;
    for (float v : s) bits.push_back(std::bit_cast<std::uint32_t>(v));
    EXPECT_EQ(bits, (std::vector<std::uint32_t>{3309313530, 3277821189, 3292330455, 3322512193,
                                                1169149348, 3287487655, 3309934979, 3307996646}));
}

TEST(SketchPattern, BitEqualToSketchForEveryLengthAndOffset) {
    // The pattern path sketches every activation of every unit; it must give sketch()'s exact
    // bits, including signed zeros, infinities and NaN payloads, lengths that are not a
    // multiple of its 8-wide blocks, slices accumulated from an offset, and any row count.
    auto values = random_values(1000, 11);
    values[3] = -0.0f;
    values[4] = 0.0f;
    values[9] = std::numeric_limits<float>::infinity();
    values[10] = -std::numeric_limits<float>::denorm_min();
    values[17] = std::bit_cast<float>(0x7fc01234u);  // a NaN with a payload
    const std::span<const float> all(values);
    for (std::uint32_t rows : {1u, 7u, 64u, 100u}) {
        const SketchPattern pattern(seed_of(12), rows, 0, values.size());
        for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 999u, 1000u}) {
            const auto expected = sketch(all.subspan(0, n), seed_of(12), rows);
            const auto got = pattern.sketch(all.subspan(0, n));
            ASSERT_EQ(got.size(), expected.size());
            for (std::size_t r = 0; r < rows; ++r)
                ASSERT_EQ(std::bit_cast<std::uint32_t>(got[r]),
                          std::bit_cast<std::uint32_t>(expected[r]))
                    << "rows " << rows << ", n " << n << ", row " << r;
        }
        // Pieces from their offsets, as a strided activation is read, add up bit for bit.
        std::vector<double> pieces(rows, 0.0), whole(rows, 0.0);
        for (std::size_t at = 0; at < values.size(); at += 13)
            pattern.accumulate(all.subspan(at, std::min<std::size_t>(13, values.size() - at)),
                               pieces, at);
        sketch_accumulate(all, seed_of(12), 0, whole);
        for (std::size_t r = 0; r < rows; ++r)
            ASSERT_EQ(std::bit_cast<std::uint64_t>(pieces[r]),
                      std::bit_cast<std::uint64_t>(whole[r]))
                << "rows " << rows << ", row " << r;
    }
}

// The gradient sketch's blocks: each element lands in exactly one row of every block, with the
// pattern path bit-equal to sketch(), slices from their offsets adding up to the whole, and one
// block the plain count-sketch.
TEST(SketchPattern, BlocksAreBitEqualAndOneRowPerBlock) {
    const auto values = random_values(777, 21);
    const std::span<const float> all(values);
    for (const auto& [rows, blocks] :
         {std::pair{64u, 16u}, std::pair{16u, 4u}, std::pair{12u, 3u}}) {
        const SketchPattern pattern(seed_of(13), rows, 5, values.size(), blocks);
        EXPECT_EQ(pattern.size(), values.size());
        const auto expected = sketch(all, seed_of(13), rows, 5, blocks);
        const auto got = pattern.sketch(all);
        for (std::size_t r = 0; r < rows; ++r)
            ASSERT_EQ(std::bit_cast<std::uint32_t>(got[r]),
                      std::bit_cast<std::uint32_t>(expected[r]))
                << rows << "/" << blocks << " row " << r;
        std::vector<double> parts(rows, 0.0);
        sketch_accumulate(all.subspan(0, 300), seed_of(13), 5, parts, blocks);
        sketch_accumulate(all.subspan(300), seed_of(13), 305, parts, blocks);
        for (std::size_t r = 0; r < rows; ++r)
            ASSERT_EQ(static_cast<float>(parts[r]), expected[r]) << rows << "/" << blocks;
        // A single 1: +-1 in one row of each block, 0 elsewhere.
        const std::vector<float> one = {1.0f};
        const auto s = sketch(one, seed_of(14), rows, 0, blocks);
        const std::uint32_t b = rows / blocks;
        for (std::uint32_t t = 0; t < blocks; ++t) {
            int hits = 0;
            for (std::uint32_t r = t * b; r < (t + 1) * b; ++r) {
                if (s[r] != 0.0f) ++hits;
                EXPECT_TRUE(s[r] == 0.0f || std::abs(s[r]) == 1.0f);
            }
            EXPECT_EQ(hits, 1) << rows << "/" << blocks << " block " << t;
        }
    }
    EXPECT_EQ(sketch(all, seed_of(15), 64, 0, 1), sketch(all, seed_of(15), 64));
}

TEST(RelativeL2, Definition) {
    const std::vector<float> a{3, 4}, b{3, 4}, c{0, 0}, d{3, 5};
    EXPECT_EQ(relative_l2(a, b), 0.0);
    EXPECT_EQ(relative_l2(c, c), 0.0);
    EXPECT_DOUBLE_EQ(relative_l2(a, c), 1.0);
    EXPECT_DOUBLE_EQ(relative_l2(c, a), 1.0);
    EXPECT_DOUBLE_EQ(relative_l2(a, d), 1.0 / std::sqrt(34.0));
    EXPECT_DOUBLE_EQ(relative_l2(d, a), relative_l2(a, d));
    const std::vector<float> nan{std::numeric_limits<float>::quiet_NaN(), 0};
    EXPECT_TRUE(std::isinf(relative_l2(a, nan)));
    EXPECT_TRUE(std::isinf(relative_l2(a, std::vector<float>{3})));
}

}  // namespace
}  // namespace learnchain::consensus
