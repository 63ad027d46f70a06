// Generation: the KV cache computes the same logits as the uncached forward pass, greedy
// decoding agrees with the trainer's own forward, sampling is reproducible by seed, and
// generation stops at the context.
#include <cmath>

#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/training/generate.hpp>
#include <learnchain/consensus/training/trainer.hpp>

#include <gtest/gtest.h>

namespace learnchain::training {

using namespace consensus;
namespace {

ModelConfig small_config() {
    ModelConfig c;
    c.context = 48;
    c.width = 32;
    c.layers = 2;
    c.heads = 4;
    c.init_seed = 11;
    return c;
}

// Random-init weights give near-uniform predictions; sharpen the head so greedy and sampled
// outputs are not all ties, and perturb layer-norm gains so every tensor matters.
ModelWeights weights_for(const ModelConfig& c) {
    ModelWeights w = init_weights(c).value();
    SplitMix64 rng(5);
    for (auto& v : w.values)
        v += static_cast<float>(static_cast<double>(rng.next() >> 40) * 0x1p-24 - 0.5) * 0.05f;
    for (auto& v : w.tensor(w.layout.tensors().size() - 1)) v *= 40.0f;
    return w;
}

std::vector<std::uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

TEST(Generate, KvCacheLogitsEqualUncachedForward) {
    const auto c = small_config();
    const auto w = weights_for(c);
    auto generator = Generator::create(w).value();
    const auto tokens = bytes("12+34=46\n7+8=15\n100+23=123\n5+5=10\n");
    ASSERT_LE(tokens.size(), c.context);
    for (std::size_t first : {std::size_t{1}, std::size_t{6}}) {
        auto cached = generator.prefix_logits(tokens, first, CacheMode::kv_cache);
        auto plain = generator.prefix_logits(tokens, first, CacheMode::none);
        ASSERT_TRUE(cached.ok() && plain.ok());
        ASSERT_EQ(cached->size(), tokens.size() - first + 1);
        ASSERT_EQ(cached->size(), plain->size());
        double worst = 0.0;
        for (std::size_t i = 0; i < cached->size(); ++i) {
            ASSERT_EQ((*cached)[i].size(), 256u);
            double scale = 0.0;
            for (float v : (*plain)[i]) scale = std::max(scale, std::abs(double(v)));
            for (std::size_t j = 0; j < 256; ++j)
                worst = std::max(worst, std::abs(double((*cached)[i][j]) - (*plain)[i][j]) / scale);
        }
        EXPECT_LT(worst, 1e-5) << "first = " << first;
    }
}

TEST(Generate, GreedyMatchesTrainerForward) {
    const auto c = small_config();
    const auto w = weights_for(c);
    auto generator = Generator::create(w).value();
    auto trainer = Trainer::create(c).value();
    // Trainer::complete is greedy over its own (uncached) forward pass and stops at '\n'; the
    // generator has no stop byte, so compare up to the first newline.
    const std::string prompt = "31+4=";
    auto expected = trainer.complete(w, prompt, 20, '\n');
    ASSERT_TRUE(expected.ok());
    ASSERT_GE(expected->size(), 3u) << "sharpen the test weights: greedy stops too soon";
    auto got = generator.generate(prompt, {20, 0.0, 0, 0});
    ASSERT_TRUE(got.ok());
    const std::string text = got->text();
    EXPECT_EQ(text.substr(0, expected->size()), *expected);
    EXPECT_EQ(generator.generate(prompt, {20, 0.0, 0, 0}, CacheMode::none)->text(), text);
}

TEST(Generate, SeedReproducesSamples) {
    const auto c = small_config();
    auto generator = Generator::create(weights_for(c)).value();
    const SamplingOptions a{24, 1.0, 0, 1234};
    const auto first = generator.generate("9+9=", a).value().text();
    EXPECT_EQ(generator.generate("9+9=", a).value().text(), first);
    // The uncached path draws the same samples from (nearly) the same logits.
    EXPECT_EQ(generator.generate("9+9=", a, CacheMode::none).value().text(), first);
    // A second generator over the same weights, too.
    EXPECT_EQ(Generator::create(weights_for(c)).value().generate("9+9=", a).value().text(), first);
    SamplingOptions b = a;
    b.seed = 1235;
    EXPECT_NE(generator.generate("9+9=", b).value().text(), first);
}

TEST(Generate, TopKOneIsGreedy) {
    auto generator = Generator::create(weights_for(small_config())).value();
    const auto greedy = generator.generate("2+2=", {16, 0.0, 0, 0}).value().text();
    EXPECT_EQ(generator.generate("2+2=", {16, 1.5, 1, 99}).value().text(), greedy);
}

TEST(Generate, StopsAtTheContext) {
    const auto c = small_config();
    auto generator = Generator::create(weights_for(c)).value();
    const std::string prompt(c.context - 5, 'a');
    auto out = generator.generate(prompt, {100, 1.0, 0, 3}).value();
    EXPECT_EQ(out.tokens.size(), 5u);
    EXPECT_EQ(out.finish, FinishReason::context);
    auto exact = generator.generate(prompt, {5, 1.0, 0, 3}).value();
    EXPECT_EQ(exact.finish, FinishReason::max_tokens);
    EXPECT_EQ(exact.tokens, out.tokens);
    EXPECT_EQ(generator.generate(std::string(c.context, 'a'), {1, 1.0, 0, 3}).error().reason,
              "generate-prompt-too-long");
}

TEST(Generate, RejectsBadInput) {
    auto generator = Generator::create(weights_for(small_config())).value();
    EXPECT_EQ(generator.generate("", {4, 1.0, 0, 0}).error().reason, "generate-bad-prompt");
    EXPECT_EQ(generator.generate("a", {4, -1.0, 0, 0}).error().reason, "generate-bad-params");
    EXPECT_EQ(generator.generate("a", {4, INFINITY, 0, 0}).error().reason, "generate-bad-params");
    EXPECT_TRUE(generator.generate("a", {0, 1.0, 0, 0}).value().tokens.empty());
    ModelWeights broken = weights_for(small_config());
    broken.values.pop_back();
    EXPECT_EQ(Generator::create(broken).error().reason, "generate-bad-weights");
}

TEST(Generate, SamplerRespectsTopKAndTemperature) {
    std::vector<float> logits(256, -10.0f);
    logits[65] = 5.0f;
    logits[66] = 4.9f;
    logits[67] = 4.8f;
    SplitMix64 rng(1);
    std::array<int, 256> seen{};
    for (int i = 0; i < 3000; ++i) ++seen[sample_token(logits, {1, 1.0, 2, 0}, rng)];
    EXPECT_GT(seen[65], 1000);
    EXPECT_GT(seen[66], 1000);
    EXPECT_EQ(seen[65] + seen[66], 3000);  // top_k = 2 excludes byte 67 and the rest
    // Ties resolve to the smaller byte when greedy.
    logits[70] = 5.0f;
    EXPECT_EQ(sample_token(logits, {1, 0.0, 0, 0}, rng), 65);
}

TEST(Generate, BareReferenceAgreesWithGreedy) {
    const auto c = small_config();
    const auto w = weights_for(c);
    auto generator = Generator::create(w).value();
    const auto prompt = bytes("40+2=");
    auto bare = bare_libtorch_generate(w, prompt, 12);
    ASSERT_TRUE(bare.ok()) << bare.error().to_string();
    EXPECT_EQ(*bare, generator.generate(prompt, {12, 0.0, 0, 0}).value().tokens);
}

}  // namespace
}  // namespace learnchain::training
