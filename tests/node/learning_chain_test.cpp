// The chain learns: one node (RocksDB ChainStore in a temporary directory, PolWorkEngine with
// verify=all, Miner) mines K blocks of the test genesis, and the loss on held-out problems
// falls by a stated margin (PROTOCOL.md, "Measured figures").
#include <condition_variable>
#include <cstdio>
#include <deque>

#include <learnchain/chain/time.hpp>
#include <learnchain/node/miner.hpp>

#include <gtest/gtest.h>

#include "consensus/engine_fixture.hpp"

namespace learnchain::node {

using namespace consensus;
using namespace consensus::testing;
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t blocks_to_mine = 300;
// Held-out loss starts at 5.545 nats (about uniform over 256 bytes); measured after 300 blocks:
// 1.68 to 1.83 (PROTOCOL.md). Runs differ because block signatures (BIP340, fresh auxiliary
// randomness) change the block hashes and so every later contribution's batches.
constexpr double required_drop = 3.0;

// Sequences of context + 1 bytes cut from the texts of held-out problems, which no training
// draw can produce.
Batch held_out_batch(const Dataset& dataset, std::uint32_t context, std::uint32_t sequences) {
    std::string text;
    for (const auto& problem : dataset.held_out_problems(400)) text += problem.text();
    Batch batch{sequences, context, {}};
    const std::size_t length = context + 1;
    for (std::uint32_t j = 0; j < sequences; ++j) {
        // Start each sequence at a problem boundary, like training sequences do.
        std::size_t start = j * length;
        while (start > 0 && text[start - 1] != '\n') ++start;
        batch.tokens.insert(batch.tokens.end(), text.begin() + static_cast<std::ptrdiff_t>(start),
                            text.begin() + static_cast<std::ptrdiff_t>(start + length));
    }
    return batch;
}

TEST(LearningChain, MinedBlocksLowerTheHeldOutLoss) {
    TempDir dir("learning-chain");
    Node node(dir.path());
    set_mock_unix_time(node.next_time());
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<chain::Block> ready;
    MinerOptions options;
    options.progress_interval = 2000ms;
    // D is one contribution: every block then carries exactly one, and the run is repeatable.
    options.max_contributions = 1;
    auto miner = Miner::create(node.genesis, MinerChain{node.chainstate.get(), node.engine.get()},
                               MinerKeys{key_of(0x11), key_of(0x21)}, options,
                               [&](chain::Block block) {
                                   std::lock_guard lock(mutex);
                                   ready.push_back(std::move(block));
                                   cv.notify_all();
                               })
                     .value();

    auto eval_trainer = training::Trainer::create(node.genesis.learning.model).value();
    const Batch eval =
        held_out_batch(node.engine->dataset(), node.genesis.learning.model.context, 32);
    const double initial = eval_trainer.compute_loss(node.engine->weights(), eval).value();

    const auto start = std::chrono::steady_clock::now();
    miner->start();
    while (node.store->height() < blocks_to_mine) {
        std::unique_lock lock(mutex);
        ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return !ready.empty(); }))
            << "no block: " << miner->stats().last_error;
        const chain::Block block = std::move(ready.front());
        ready.pop_front();
        lock.unlock();
        {
            LOCK(node.chainstate->cs_main);
            auto accepted = node.accept(block);
            ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
            set_mock_unix_time(node.next_time());
        }
        miner->on_new_tip();
    }
    miner->stop();
    set_mock_unix_time(0);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    const double final_loss = eval_trainer.compute_loss(node.engine->weights(), eval).value();
    const auto stats = miner->stats();
    std::printf(
        "held-out loss %.4f -> %.4f after %llu blocks (%.1f s, %.0f blocks/s, miner %.0f "
        "tokens/s while computing)\n",
        initial, final_loss, static_cast<unsigned long long>(node.store->height()), seconds,
        static_cast<double>(node.store->height()) / seconds,
        stats.busy_seconds > 0 ? static_cast<double>(stats.tokens) / stats.busy_seconds : 0.0);
    EXPECT_GT(initial - final_loss, required_drop);
    EXPECT_EQ(node.engine->state().optimizer.step.step, node.store->height());
}

}  // namespace
}  // namespace learnchain::node
