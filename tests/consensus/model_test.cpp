#include <cmath>
#include <set>

#include <learnchain/consensus/model.hpp>

#include <gtest/gtest.h>

#include "consensus/test_configs.hpp"

namespace learnchain::consensus {
namespace {

using testing::default_config;
using testing::tiny_config;

// Recorded once from init_weights() of the two test configs. A change here means every node's
// genesis weights changed: the init algorithm, the layout or the hash encoding moved.
constexpr const char* tiny_init_hash =
    "3a82273a31e0dd1e867bf2905235c05a09799b1c6a2d527b327fc0f8860c6c99";
constexpr const char* default_init_hash =
    "f132af25b849c85f9a50616c1a3325ee3c88733225bfbc2d33bf0e6d468b8edc";

TEST(ModelLayout, CanonicalOrderAndShapes) {
    const auto layout = ModelLayout::from_config(tiny_config());
    ASSERT_TRUE(layout.ok());
    const auto& t = layout->tensors();
    ASSERT_EQ(t.size(), 2 + 12 * 2 + 3u);
    EXPECT_EQ(t[0].name, "tok_emb");
    EXPECT_EQ(t[0].shape, (std::vector<std::uint32_t>{256, 32}));
    EXPECT_EQ(t[1].name, "pos_emb");
    EXPECT_EQ(t[1].shape, (std::vector<std::uint32_t>{16, 32}));
    EXPECT_EQ(t[ModelLayout::layer_tensor(1, 2)].name, "blocks.1.attn.qkv.weight");
    EXPECT_EQ(t[ModelLayout::layer_tensor(1, 2)].shape, (std::vector<std::uint32_t>{96, 32}));
    EXPECT_EQ(t[ModelLayout::layer_tensor(0, 10)].name, "blocks.0.mlp.proj.weight");
    EXPECT_EQ(t[ModelLayout::layer_tensor(0, 10)].shape, (std::vector<std::uint32_t>{32, 128}));
    EXPECT_EQ(t.back().name, "lm_head.weight");

    std::uint64_t offset = 0;
    std::set<std::string> names;
    for (const auto& spec : t) {
        EXPECT_EQ(spec.offset, offset) << spec.name;
        std::uint64_t size = 1;
        for (auto d : spec.shape) size *= d;
        EXPECT_EQ(spec.size, size);
        offset += size;
        names.insert(spec.name);
    }
    EXPECT_EQ(names.size(), t.size());
    EXPECT_EQ(layout->parameter_count(), offset);
    // 2 V D + T D + L (12 D^2 + 13 D) + 2 D, untied head.
    const std::uint64_t d = 32, l = 2;
    EXPECT_EQ(offset, 2 * 256 * d + 16 * d + l * (12 * d * d + 13 * d) + 2 * d);
}

TEST(ModelLayout, RejectsBadConfigs) {
    auto c = tiny_config();
    c.heads = 3;
    EXPECT_EQ(ModelLayout::from_config(c).error().reason, "model-config-invalid");
    c = tiny_config();
    c.layers = 0;
    EXPECT_EQ(ModelLayout::from_config(c).error().reason, "model-config-invalid");
    c = tiny_config();
    c.width = 1u << 20;
    c.heads = 1;
    EXPECT_EQ(ModelLayout::from_config(c).error().reason, "model-config-invalid");
}

TEST(InitWeights, DeterministicAndSeeded) {
    const auto a = init_weights(tiny_config());
    const auto b = init_weights(tiny_config());
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->values, b->values);
    auto other = tiny_config();
    other.init_seed = 43;
    EXPECT_NE(weights_hash(*a), weights_hash(init_weights(other).value()));
}

TEST(InitWeights, ExactPowerOfTwoScaling) {
    const auto w = init_weights(tiny_config()).value();
    for (std::size_t i = 0; i < w.layout.tensors().size(); ++i) {
        const auto& spec = w.layout.tensors()[i];
        const auto values = w.tensor(i);
        // tiny has 2 layers: residual projections get 2^-1 more (floor(log2(4) / 2) = 1).
        const double unit =
            spec.init == InitKind::residual ? std::ldexp(1.0, -22) : std::ldexp(1.0, -21);
        double sum = 0, sum_sq = 0;
        for (float v : values) {
            switch (spec.init) {
                case InitKind::zeros:
                    ASSERT_EQ(v, 0.0f) << spec.name;
                    break;
                case InitKind::ones:
                    ASSERT_EQ(v, 1.0f) << spec.name;
                    break;
                default: {
                    const double k = v / unit;  // an odd integer in [-(2^16 - 1), 2^16 - 1]
                    ASSERT_EQ(k, std::floor(k)) << spec.name;
                    ASSERT_EQ(std::fmod(std::fabs(k), 2.0), 1.0) << spec.name;
                    ASSERT_LT(std::fabs(k), 65536.0) << spec.name;
                    sum += v;
                    sum_sq += double(v) * v;
                }
            }
        }
        if (spec.init == InitKind::uniform && spec.size > 1000) {
            // Uniform on (-2^-5, 2^-5): mean 0, standard deviation 2^-5 / sqrt(3) ~ 0.018.
            const double n = static_cast<double>(spec.size);
            EXPECT_NEAR(sum / n, 0.0, 2e-3) << spec.name;
            EXPECT_NEAR(std::sqrt(sum_sq / n), 0.03125 / std::sqrt(3.0), 1e-3) << spec.name;
        }
    }
}

TEST(InitWeights, RecordedHashes) {
    EXPECT_EQ(weights_hash(init_weights(tiny_config()).value()).hex(), tiny_init_hash);
    const auto big = init_weights(default_config()).value();
    EXPECT_EQ(big.values.size(), 867072u);
    EXPECT_EQ(weights_hash(big).hex(), default_init_hash);
}

TEST(InitWeights, GenesisHashChecked) {
    auto c = tiny_config();
    EXPECT_EQ(genesis_weights(c).error().reason, "model-init-hash-mismatch");
    c.init_weights_hash = chain::Hash256::from_hex(tiny_init_hash).value();
    EXPECT_TRUE(genesis_weights(c).ok());
}

TEST(WeightsHash, CoversShapesAndValues) {
    auto w = init_weights(tiny_config()).value();
    const auto h = weights_hash(w);
    w.values[12345] = std::nextafter(w.values[12345], 1.0f);
    EXPECT_NE(weights_hash(w), h);
    // Same values, different shapes: context 16 -> 17 moves values between tensors.
    auto c = tiny_config();
    c.context = 17;
    const auto layout = ModelLayout::from_config(c).value();
    std::vector<float> values(layout.parameter_count(), 0.0f);
    auto c2 = tiny_config();
    const auto layout2 = ModelLayout::from_config(c2).value();
    EXPECT_NE(weights_hash(layout, values),
              weights_hash(layout2, std::vector<float>(layout2.parameter_count(), 0.0f)));
}

}  // namespace
}  // namespace learnchain::consensus
