// The whole training step as the chain runs it: batch from a seed, Trainer gradient,
// token-weighted fp64 mean, bit-exact AdamW. The loss must fall by a clear margin.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/consensus/optimizer.hpp>
#include <learnchain/consensus/training/trainer.hpp>

#include <gtest/gtest.h>

#include "consensus/test_configs.hpp"

namespace learnchain::training {

using namespace consensus;
namespace {

Hash256 step_seed(std::uint32_t step, std::uint8_t stream) {
    std::array<std::uint8_t, 32> bytes{};
    bytes[0] = stream;
    for (int i = 0; i < 4; ++i) bytes[1 + i] = static_cast<std::uint8_t>(step >> (8 * i));
    return Hash256(bytes);
}

std::uint32_t env_or(const char* name, std::uint32_t fallback) {
    const char* v = std::getenv(name);
    return v ? static_cast<std::uint32_t>(std::strtoul(v, nullptr, 10)) : fallback;
}

std::uint64_t tokens_per_block(const chain::LearningParams& learning) {
    return std::uint64_t{learning.micro_batches} * learning.micro_batch_size *
           learning.model.context;
}

double mean_loss(Trainer& trainer, const ModelWeights& w, const std::vector<Batch>& batches) {
    double sum = 0;
    for (const auto& b : batches) sum += trainer.compute_loss(w, b).value();
    return sum / static_cast<double>(batches.size());
}

TEST(Learning, AdamWOnTrainerGradientsReducesLoss) {
    const auto config = testing::tiny_config();
    chain::DatasetSpec spec;
    spec.seed = 5;
    spec.max_operand = 99;
    const auto dataset = Dataset::open(spec).value();
    OptimizerParams params;
    params.learning_rate = 1e-2;
    params.beta1 = 0.9;
    params.beta2 = 0.99;
    params.weight_decay = 0.0;

    auto trainer = Trainer::create(config).value();
    auto w = init_weights(config).value();
    auto state = OptimizerState::zeros(w.values.size());
    std::vector<Batch> eval;
    for (std::uint32_t i = 0; i < 4; ++i)
        eval.push_back(
            make_micro_batch(dataset, step_seed(i, 0xee), 0, 16, config.context).value());

    const double before = mean_loss(trainer, w, eval);
    const std::uint32_t steps = env_or("LEARNCHAIN_LEARNING_STEPS", 150);
    const std::uint32_t micro_batches = 2, micro_batch_size = 16;
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t tokens = 0;
    for (std::uint32_t step = 0; step < steps; ++step) {
        GradientAccumulator acc(w.values.size());
        for (std::uint32_t mb = 0; mb < micro_batches; ++mb) {
            const auto batch =
                make_micro_batch(dataset, step_seed(step, 1), mb, micro_batch_size, config.context)
                    .value();
            const auto g = trainer.compute_gradient(w, batch);
            ASSERT_TRUE(g.ok()) << g.error().to_string();
            ASSERT_TRUE(acc.add(g->gradient, g->tokens).ok());
        }
        tokens += acc.tokens();
        ASSERT_TRUE(apply_adamw(w.values, state, acc.mean().value(), params).ok());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double after = mean_loss(trainer, w, eval);
    std::cout << "loss " << before << " -> " << after << " after " << steps << " steps, "
              << static_cast<double>(tokens) / seconds << " training tokens/s\n";
    if (const auto n = env_or("LEARNCHAIN_ACCURACY_PROBLEMS", 0))
        std::cout << "held-out accuracy " << held_out_accuracy(trainer, w, dataset, n).value()
                  << "\n";

    // ln 256 = 5.55 at init; learning the format and digit statistics alone reaches < 2.5.
    EXPECT_NEAR(before, 5.55, 0.1);
    EXPECT_LT(after, before - 2.5);
}

// The real-text genesis (genesis/kjv.json, the King James Version that install-deps.sh writes
// from Debian's bible-kjv): twenty blocks of one contribution each, as a lone 2-core miner makes
// them (its micro-batches, its AdamW), and the held-out loss getmodelinfo reports must fall.
TEST(Learning, TheKjvGenesisHeldOutLossFallsWithinTwentyBlocks) {
    const std::filesystem::path dir = std::filesystem::path(LEARNCHAIN_SOURCE_DIR) / "genesis";
    if (!std::filesystem::exists(dir / "kjv.txt"))
        GTEST_SKIP() << "no genesis/kjv.txt: run .ci/install-deps.sh";
    const auto genesis = chain::load_genesis((dir / "kjv.json").string()).value();
    const chain::LearningParams& learning = genesis.learning;
    const auto dataset = Dataset::open(learning.dataset, dir);
    ASSERT_TRUE(dataset.ok()) << dataset.error().to_string();
    EXPECT_EQ(dataset->corpus_size(), 4'404'412u);

    auto trainer = Trainer::create(learning.model).value();
    auto w = init_weights(learning.model).value();
    auto state = OptimizerState::zeros(w.values.size());
    const double before = held_out_loss(trainer, w, *dataset, 64).value();
    const auto start = std::chrono::steady_clock::now();
    const std::uint32_t blocks = env_or("LEARNCHAIN_KJV_BLOCKS", 20);
    double max_norm = 0;  // of a block's gradient, which check 14 bounds by max_gradient_norm
    for (std::uint32_t block = 0; block < blocks; ++block) {
        GradientAccumulator acc(w.values.size());
        for (std::uint32_t mb = 0; mb < learning.micro_batches; ++mb) {
            const auto batch = make_micro_batch(*dataset, step_seed(block, 3), mb,
                                                learning.micro_batch_size, learning.model.context)
                                   .value();
            const auto g = trainer.compute_gradient(w, batch);
            ASSERT_TRUE(g.ok()) << g.error().to_string();
            ASSERT_TRUE(acc.add(g->gradient, g->tokens).ok());
        }
        const auto mean = acc.mean().value();
        double squares = 0;
        for (const double g : mean) squares += g * g;
        max_norm = std::max(max_norm, std::sqrt(squares));
        if (std::getenv("LEARNCHAIN_KJV_TRACE"))
            std::cout << "block " << block << " norm " << std::sqrt(squares) << " held-out "
                      << held_out_loss(trainer, w, *dataset, 64).value() << "\n";
        ASSERT_TRUE(apply_adamw(w.values, state, mean, learning.optimizer).ok());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double after = held_out_loss(trainer, w, *dataset, 64).value();
    std::cout << "kjv held-out loss " << before << " -> " << after << " after " << blocks
              << " blocks of " << tokens_per_block(learning) << " tokens, " << seconds << " s\n";
    EXPECT_NEAR(before, 5.55, 0.1);
    EXPECT_LT(after, before - 1.5);
    // Honest blocks stay well inside the genesis's gradient bound (check 14).
    EXPECT_LT(max_norm, learning.max_gradient_norm / 4) << max_norm;
}

// Reports the gradient throughput (forward + backward) of the two test configs; asserts only
// that it runs. LEARNCHAIN_THROUGHPUT_REPS scales the measurement.
TEST(Learning, GradientThroughput) {
    chain::DatasetSpec spec;
    spec.max_operand = 999;
    const auto dataset = Dataset::open(spec).value();
    const std::uint32_t reps = env_or("LEARNCHAIN_THROUGHPUT_REPS", 3);
    for (const auto& config : {testing::tiny_config(), testing::default_config()}) {
        auto trainer = Trainer::create(config).value();
        const auto w = init_weights(config).value();
        const auto batch = make_micro_batch(dataset, step_seed(0, 2), 0, 8, config.context).value();
        ASSERT_TRUE(trainer.compute_gradient(w, batch).ok());  // warm-up
        const auto start = std::chrono::steady_clock::now();
        for (std::uint32_t r = 0; r < reps; ++r)
            ASSERT_TRUE(trainer.compute_gradient(w, batch).ok());
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::cout << w.values.size() << " parameters, batch 8 x " << config.context << ": "
                  << static_cast<double>(reps * batch.target_count()) / seconds << " tokens/s, "
                  << 1e3 * seconds / reps << " ms per micro-batch\n";
    }
}

}  // namespace
}  // namespace learnchain::training
