#include <bit>
#include <cmath>

#include <learnchain/consensus/optimizer.hpp>
#include <learnchain/consensus/prng.hpp>

#include <gtest/gtest.h>

namespace learnchain::consensus {
namespace {

constexpr std::size_t n = 10000;

std::vector<double> gradient(std::uint64_t seed) {
    SplitMix64 rng(seed);
    std::vector<double> g(n);
    for (auto& v : g) v = (static_cast<double>(rng.next() >> 11) / 9007199254740992.0 - 0.5) * 0.1;
    return g;
}

std::vector<float> initial_weights() {
    SplitMix64 rng(99);
    std::vector<float> w(n);
    for (auto& v : w)
        v = static_cast<float>(static_cast<std::int64_t>(rng.next() >> 48) - 32768) *
            std::ldexp(1.0f, -20);
    return w;
}

OptimizerParams params() {
    OptimizerParams p;
    p.learning_rate = 3e-3;
    p.beta1 = 0.9;
    p.beta2 = 0.95;
    p.epsilon = 1e-8;
    p.weight_decay = 0.1;
    return p;
}

// SHA-256 over the little-endian bits of weights, m and v.
std::string state_hash(const std::vector<float>& w, const OptimizerState& s) {
    chain::Sha256 sha;
    for (const auto* vec : {&w, &s.m, &s.v})
        for (float f : *vec) {
            const auto bits = std::bit_cast<std::uint32_t>(f);
            const std::uint8_t bytes[4] = {std::uint8_t(bits), std::uint8_t(bits >> 8),
                                           std::uint8_t(bits >> 16), std::uint8_t(bits >> 24)};
            sha.update(chain::Bytes(bytes, 4));
        }
    return sha.finalize().hex();
}

TEST(AdamW, RecordedGoldenState) {
    auto w = initial_weights();
    auto state = OptimizerState::zeros(n);
    for (std::uint64_t step = 0; step < 5; ++step)
        ASSERT_TRUE(apply_adamw(w, state, gradient(step), params()).ok());
    EXPECT_EQ(state.step.step, 5u);
    // Recorded once. Any change in formula, operation order or FMA contraction changes it.
    EXPECT_EQ(state_hash(w, state),
              "29909913934dace67f074b33b2181cbc187cc2da9358517750fd2930855a4fe9");
}

TEST(AdamW, MatchesTextbookFormula) {
    // The same update computed the textbook way (pow, torch's operation order) agrees to
    // within float rounding: the exact formulation changes bits, not the mathematics.
    auto w = initial_weights();
    auto state = OptimizerState::zeros(n);
    std::vector<double> rw(w.begin(), w.end()), rm(n, 0.0), rv(n, 0.0);
    const auto p = params();
    for (int t = 1; t <= 5; ++t) {
        const auto g = gradient(static_cast<std::uint64_t>(t));
        ASSERT_TRUE(apply_adamw(w, state, g, p).ok());
        for (std::size_t i = 0; i < n; ++i) {
            rw[i] *= 1 - p.learning_rate * p.weight_decay;
            rm[i] = p.beta1 * rm[i] + (1 - p.beta1) * g[i];
            rv[i] = p.beta2 * rv[i] + (1 - p.beta2) * g[i] * g[i];
            const double bc1 = 1 - std::pow(p.beta1, t), bc2 = 1 - std::pow(p.beta2, t);
            rw[i] -=
                p.learning_rate / bc1 * rm[i] / (std::sqrt(rv[i]) / std::sqrt(bc2) + p.epsilon);
        }
    }
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(w[i], rw[i], 1e-6) << i;
    EXPECT_DOUBLE_EQ(state.step.beta1_power, 0.9 * 0.9 * 0.9 * 0.9 * 0.9);
}

TEST(AdamW, FirstStepMovesByLearningRate) {
    // Step 1 without decay: m_hat / sqrt(v_hat) = sign(g), so each weight moves by ~lr.
    std::vector<float> w(n, 0.5f);
    auto state = OptimizerState::zeros(n);
    auto p = params();
    p.weight_decay = 0;
    const auto g = gradient(1);
    ASSERT_TRUE(apply_adamw(w, state, g, p).ok());
    for (std::size_t i = 0; i < n; ++i) {
        if (std::fabs(g[i]) < 1e-4) continue;  // there epsilon is no longer negligible
        ASSERT_NEAR(w[i], 0.5 - (g[i] > 0 ? 1 : -1) * p.learning_rate, 1e-6);
    }
}

TEST(AdamW, RejectsSizeMismatch) {
    std::vector<float> w(n);
    auto state = OptimizerState::zeros(n - 1);
    EXPECT_EQ(apply_adamw(w, state, gradient(1), params()).error().reason,
              "optimizer-size-mismatch");
    EXPECT_EQ(state.step.step, 0u);
}

TEST(GradientAccumulator, TokenWeightedMean) {
    GradientAccumulator acc(3);
    ASSERT_TRUE(acc.add(std::vector<float>{1, 2, 3}, 100).ok());
    ASSERT_TRUE(acc.add(std::vector<float>{4, 5, 6}, 300).ok());
    EXPECT_EQ(acc.tokens(), 400u);
    EXPECT_EQ(acc.mean().value(), (std::vector<double>{3.25, 4.25, 5.25}));
    EXPECT_EQ(acc.add(std::vector<float>{1, 2}, 1).reason(), "gradient-size-mismatch");
    EXPECT_EQ(acc.add(std::vector<float>{1, 2, 3}, 0).reason(), "gradient-no-tokens");
    EXPECT_EQ(GradientAccumulator(3).mean().error().reason, "gradient-no-tokens");
}

}  // namespace
}  // namespace learnchain::consensus
