// Chain training equals plain training: N blocks of the test genesis through the real
// ChainStore and PolWorkEngine (one worker, one contribution per block) leave bit-for-bit the
// weights and moments of a plain loop over the same batches (the same contribution seeds) with
// compute_gradient, GradientAccumulator and apply_adamw.
#include <learnchain/consensus/engine.hpp>
#include <learnchain/consensus/optimizer.hpp>
#include <learnchain/consensus/training/trainer.hpp>

#include <gtest/gtest.h>

#include "consensus/engine_fixture.hpp"

namespace learnchain::consensus::testing {
namespace {

constexpr std::size_t blocks = 8;

TEST(ChainTraining, EqualsPlainTrainingBitForBit) {
    TempDir dir("chain-training");
    Node node(dir.path());
    const chain::SecretKey worker = key_of(0x11);
    std::vector<Hash256> parents;
    for (std::size_t i = 0; i < blocks; ++i) {
        parents.push_back(node.store->tip().hash);
        auto contribution = node.contribute(worker, 0);
        ASSERT_TRUE(contribution.ok()) << contribution.error().to_string();
        auto block = node.build({contribution->work_item()}, key_of(0x21));
        ASSERT_TRUE(block.ok()) << block.error().to_string();
        auto accepted = node.accept(*block);
        ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
        ASSERT_TRUE(accepted->new_tip);
    }
    EXPECT_EQ(node.store->height(), blocks);

    // The plain loop: no certificates, no sketches, no store.
    const chain::LearningParams& params = node.genesis.learning;
    ModelState plain = genesis_model_state(params.model).value();
    auto trainer = training::Trainer::create(params.model).value();
    const Dataset dataset = Dataset::open(params.dataset).value();
    for (const Hash256& parent : parents) {
        const Hash256 seed = contribution_seed(parent, worker.public_key(), 0);
        std::vector<double> sum(plain.weights.values.size(), 0.0);
        std::uint64_t tokens = 0;
        for (std::uint32_t b = 0; b < params.micro_batches; ++b) {
            const auto batch =
                make_micro_batch(dataset, seed, b, params.micro_batch_size, params.model.context)
                    .value();
            const auto gradient = trainer.compute_gradient(plain.weights, batch).value();
            for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += gradient.gradient[i];
            tokens += gradient.tokens;
        }
        // The contribution's mean gradient, as its blob carries it.
        std::vector<float> mean(sum.size());
        for (std::size_t i = 0; i < sum.size(); ++i)
            mean[i] = static_cast<float>(sum[i] / static_cast<double>(params.micro_batches));
        GradientAccumulator accumulator(mean.size());
        ASSERT_TRUE(accumulator.add(mean, tokens).ok());
        ASSERT_TRUE(apply_adamw(plain.weights.values, plain.optimizer, accumulator.mean().value(),
                                params.optimizer)
                        .ok());
    }

    const ModelState& chained = node.engine->state();
    EXPECT_EQ(chained.optimizer.step, plain.optimizer.step);
    EXPECT_TRUE(chained.weights.values == plain.weights.values) << "weights differ";
    EXPECT_TRUE(chained.optimizer.m == plain.optimizer.m) << "first moments differ";
    EXPECT_TRUE(chained.optimizer.v == plain.optimizer.v) << "second moments differ";
    EXPECT_EQ(model_state_root(plain), node.engine->model_root());
    // And the weights did move: this is a training run, not a no-op.
    const auto initial = genesis_model_state(params.model).value();
    EXPECT_NE(initial.weights.values, plain.weights.values);
}

}  // namespace
}  // namespace learnchain::consensus::testing
