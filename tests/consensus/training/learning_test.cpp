// The whole training step as the chain runs it: batch from a seed, Trainer gradient,
// token-weighted fp64 mean, bit-exact AdamW. The loss must fall by a clear margin.
#include <chrono>
#include <cstdlib>
#include <iostream>

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
