// Grinding the blob identity (certificate check 15): a worker publishes a blob that is the
// honest mean gradient plus `a (e_0 - e_1)`, mass of its choosing on two coordinates, and
// re-rolls the gradient seed (which follows the blob hash) by nudging a third coordinate by a
// few ULPs, until the sketch of its blob matches the honest BWD sketches (it recomputes those
// honestly under each new seed) within tau. Under a one-block count sketch that takes about 2m
// tries (the two coordinates share a row and a sign with probability 1/(2m)); under the
// gradient sketch (m/4 blocks of 4 rows) a try escapes with probability at most 8^(-m/4),
// consensus/PROTOCOL.md §T.7.1.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/prng.hpp>
#include <learnchain/consensus/sketch.hpp>
#include <learnchain/consensus/units.hpp>

#include <gtest/gtest.h>

namespace learnchain::consensus {
namespace {

constexpr std::uint32_t rows = 64;  // the devnet's sketch_rows
constexpr double tau = 1e-3;        // the devnet's tolerance
constexpr std::size_t elements = 512;

using SketchFn = std::function<std::vector<float>(std::span<const float>, const Hash256&)>;

std::vector<float> honest_gradient() {
    SplitMix64 rng(42);
    std::vector<float> out(elements);
    for (auto& v : out)
        v = static_cast<float>(static_cast<std::int64_t>(rng.next() >> 40) - (1 << 23)) * 1e-9f;
    return out;
}

// The first try whose forged blob passes check 15 under `sketch_of`, or nullopt within `budget`.
std::optional<std::uint64_t> grind(const SketchFn& sketch_of, std::uint64_t budget) {
    const std::vector<float> honest = honest_gradient();
    const float peak = std::abs(*std::max_element(
        honest.begin(), honest.end(), [](float x, float y) { return std::abs(x) < std::abs(y); }));
    const float mass = 1000.0f * peak;  // three orders of magnitude above any honest element
    const Hash256 contribution = chain::sha256(std::string_view("a contribution seed"));
    for (std::uint64_t attempt = 0; attempt < budget; ++attempt) {
        std::vector<float> forged = honest;
        forged[0] += mass;
        forged[1] -= mass;
        // The re-roll: a few ULPs on a third coordinate, far inside tau.
        forged[2] = std::bit_cast<float>(std::bit_cast<std::uint32_t>(forged[2]) ^
                                         static_cast<std::uint32_t>(attempt & 0xff));
        forged[3] = std::bit_cast<float>(std::bit_cast<std::uint32_t>(forged[3]) ^
                                         static_cast<std::uint32_t>(attempt >> 8 & 0xff));
        forged[4] = std::bit_cast<float>(std::bit_cast<std::uint32_t>(forged[4]) ^
                                         static_cast<std::uint32_t>(attempt >> 16 & 0xff));
        const Hash256 seed = gradient_sketch_seed(contribution, gradient_hash(encode_blob(forged)));
        // What the BWD leaves sum to (honest gradients under the new seed) against the blob's.
        const double distance = relative_l2(sketch_of(honest, seed), sketch_of(forged, seed));
        if (distance <= tau) return attempt;
    }
    return std::nullopt;
}

TEST(SketchGrinding, AOneBlockCountSketchIsGroundInAFewHundredTries) {
    const auto found =
        grind([](std::span<const float> v, const Hash256& seed) { return sketch(v, seed, rows); },
              4096);  // 32x the expected 2m = 128 tries: missing it has probability ~1e-14
    ASSERT_TRUE(found) << "the count sketch resisted 4096 tries";
    std::cout << "count sketch: forged blob passes after " << *found + 1 << " tries\n";
}

TEST(SketchGrinding, TheGradientSketchResistsAFarLargerBudget) {
    // 20,000 tries: 156x what breaks the count sketch; each escapes with probability 2^-48.
    const auto found = grind([](std::span<const float> v,
                                const Hash256& seed) { return gradient_sketch(v, seed, rows); },
                             20000);
    EXPECT_FALSE(found) << "escaped after " << *found + 1 << " tries";
}

// The bound behind it, at a size where escapes can be counted: with 2 blocks of 2 rows, a
// nonzero perturbation vanishes from one block with probability at most 1/(2b) = 1/4, so from
// both at most 1/16; a two-coordinate one reaches it.
TEST(SketchGrinding, EscapesFollowTheBlockBound) {
    const std::vector<float> perturbation = {1.0f, -1.0f};
    int escapes = 0;
    constexpr int trials = 20000;
    for (int t = 0; t < trials; ++t) {
        const Hash256 seed = chain::sha256(std::string_view("trial " + std::to_string(t)));
        const auto s = sketch(perturbation, seed, 4, 0, 2);
        escapes += std::all_of(s.begin(), s.end(), [](float x) { return x == 0.0f; }) ? 1 : 0;
    }
    const double rate = static_cast<double>(escapes) / trials;
    EXPECT_NEAR(rate, 1.0 / 16, 0.01) << escapes << " escapes in " << trials;
}

}  // namespace
}  // namespace learnchain::consensus
