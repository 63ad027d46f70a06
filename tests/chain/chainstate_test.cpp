// Chainstate: one chain lock, and a block's expensive verification done without it, once.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <learnchain/chain/chainstate.hpp>
#include <learnchain/chain/time.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include "chain/store_test_support.hpp"

namespace learnchain::chain {
namespace {

using namespace std::chrono_literals;
using testing::BuildOptions;
using testing::DetachedTestEngine;
using testing::ForkBuilder;
using testing::store_test_genesis;

class ChainstateTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("learnchain_chainstate_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        set_mock_unix_time(builder_.now());
    }
    void TearDown() override {
        chainstate_.reset();
        store_.reset();
        set_mock_unix_time(0);
        std::filesystem::remove_all(dir_);
    }

    void open(std::chrono::milliseconds delay = {}) {
        engine_ = std::make_unique<DetachedTestEngine>(delay);
        engine_->start_at(builder_.genesis_block.hash());
        auto store = ChainStore::open({dir_, false}, builder_.genesis, *engine_);
        ASSERT_TRUE(store.ok()) << store.error().to_string();
        store_ = std::move(store).value();
        chainstate_ = std::make_unique<Chainstate>(*store_, mempool_, *engine_);
    }

    Hash256 tip() {
        LOCK(chainstate_->cs_main);
        return chainstate_->store().tip().hash;
    }

    std::filesystem::path dir_;
    ForkBuilder builder_{store_test_genesis()};
    Mempool mempool_{builder_.genesis.chain_id};
    std::unique_ptr<DetachedTestEngine> engine_;
    std::unique_ptr<ChainStore> store_;
    std::unique_ptr<Chainstate> chainstate_;
};

TEST_F(ChainstateTest, EachBlockIsVerifiedOnceWithoutTheLock) {
    open();
    const auto blocks = builder_.build_chain(builder_.genesis_block.hash(), 5);
    for (const auto& block : blocks) {
        auto accepted = chainstate_->process_block(block);
        ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
        EXPECT_TRUE(accepted->new_tip);
    }
    EXPECT_EQ(tip(), blocks.back().hash());
    std::vector<Hash256> hashes;
    for (const auto& block : blocks) hashes.push_back(block.hash());
    EXPECT_EQ(engine_->detached_verifications(), hashes);
    EXPECT_TRUE(engine_->locked_verifications().empty());
}

TEST_F(ChainstateTest, TheLockIsFreeWhileABlockIsVerified) {
    open(600ms);
    const auto block = builder_.build(builder_.genesis_block.hash());
    std::atomic<bool> done{false};
    std::thread processor([&] {
        EXPECT_TRUE(chainstate_->process_block(block).ok());
        done = true;
    });
    std::this_thread::sleep_for(100ms);  // into the verification
    std::chrono::steady_clock::duration slowest{};
    int taken = 0;
    while (!done) {
        const auto asked = std::chrono::steady_clock::now();
        {
            LOCK(chainstate_->cs_main);
            (void)chainstate_->store().height();
        }
        slowest = std::max(slowest, std::chrono::steady_clock::now() - asked);
        ++taken;
        std::this_thread::sleep_for(5ms);
    }
    processor.join();
    EXPECT_GT(taken, 20);
    EXPECT_LT(slowest, 100ms);
    EXPECT_EQ(tip(), block.hash());
}

TEST_F(ChainstateTest, AReorgsBranchIsVerifiedBeforeAnythingIsDisconnected) {
    open();
    const auto main = builder_.build_chain(builder_.genesis_block.hash(), 3);
    for (const auto& block : main) ASSERT_TRUE(chainstate_->process_block(block).ok());
    // A branch from the first block, one block longer: its first two blocks have no more work
    // than the tip and are only stored; the third makes the branch the heaviest.
    const auto branch = builder_.build_chain(main[0].hash(), 3, 0, 8);
    for (const auto& block : branch) {
        auto accepted = chainstate_->process_block(block);
        ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    }
    EXPECT_EQ(tip(), branch.back().hash());
    const auto detached = engine_->detached_verifications();
    ASSERT_EQ(detached.size(), 6u);
    // The whole branch, on the fork's model (the undo record of main[1]), lowest first.
    EXPECT_EQ(std::vector<Hash256>(detached.begin() + 3, detached.end()),
              (std::vector<Hash256>{branch[0].hash(), branch[1].hash(), branch[2].hash()}));
    EXPECT_TRUE(engine_->locked_verifications().empty());
}

TEST_F(ChainstateTest, ARuleBrokenWithoutTheLockIsNotRecomputedUnderIt) {
    open();
    BuildOptions bad;
    bad.invalid_work = true;
    const auto block = builder_.build(builder_.genesis_block.hash(), {}, bad);
    auto accepted = chainstate_->process_block(block);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().reason, "bad-cert-test-invalid");
    EXPECT_EQ(accepted.error().kind, ErrorKind::invalid);
    EXPECT_EQ(engine_->detached_verifications(), std::vector<Hash256>{block.hash()});
    EXPECT_TRUE(engine_->locked_verifications().empty());
}

TEST_F(ChainstateTest, AnEngineWithoutSnapshotsIsVerifiedUnderTheLock) {
    open();
    engine_->detached = false;
    const auto block = builder_.build(builder_.genesis_block.hash());
    ASSERT_TRUE(chainstate_->process_block(block).ok());
    EXPECT_TRUE(engine_->detached_verifications().empty());
    EXPECT_EQ(engine_->locked_verifications(), std::vector<Hash256>{block.hash()});
}

// A body whose blob does not match what its header commits to is the sender's fault, never the
// header's: it is refused as mutated, nothing is condemned, and the honest body then connects.
TEST_F(ChainstateTest, AMutatedBodyIsRefusedAndTheHeaderStaysValid) {
    open();
    const auto honest = builder_.build(builder_.genesis_block.hash());
    Block mutated = honest;
    mutated.work_items[0].blob = testing::mutated_blob;
    ASSERT_EQ(mutated.hash(), honest.hash());

    // Header first, then the mutated body on the fast path.
    {
        LOCK(chainstate_->cs_main);
        ASSERT_TRUE(chainstate_->store().accept_header(honest.header, builder_.now()).ok());
    }
    auto refused = chainstate_->process_block(mutated);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().reason, "bad-cert-test-blob");
    EXPECT_EQ(refused.error().kind, ErrorKind::mutated);
    {
        LOCK(chainstate_->cs_main);
        const auto record = chainstate_->store().record(honest.hash());
        ASSERT_TRUE(record);
        EXPECT_FALSE(record->invalid());
        EXPECT_FALSE(record->has(block_status::have_body));
    }
    ASSERT_TRUE(chainstate_->process_block(honest).ok());
    EXPECT_EQ(tip(), honest.hash());
}

TEST_F(ChainstateTest, AMutatedSideBranchBodyIsDroppedAndTheHeaderStaysValid) {
    open();
    const auto main = builder_.build_chain(builder_.genesis_block.hash(), 2);
    for (const auto& block : main) ASSERT_TRUE(chainstate_->process_block(block).ok());
    const auto branch = builder_.build_chain(builder_.genesis_block.hash(), 3, 0, 8);
    ASSERT_TRUE(chainstate_->process_block(branch[0]).ok());
    ASSERT_TRUE(chainstate_->process_block(branch[1]).ok());
    Block mutated = branch[2];
    mutated.work_items[0].blob = testing::mutated_blob;
    // Its header came first (headers-first sync). The mutated body would make the branch the
    // best, so it meets the checks that need no parent state before it is stored, and fails.
    {
        LOCK(chainstate_->cs_main);
        ASSERT_TRUE(chainstate_->store().accept_header(branch[2].header, builder_.now()).ok());
    }
    auto refused = chainstate_->process_block(mutated);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().kind, ErrorKind::mutated);
    EXPECT_EQ(tip(), main.back().hash());
    {
        LOCK(chainstate_->cs_main);
        const auto record = chainstate_->store().record(branch[2].hash());
        ASSERT_TRUE(record);
        EXPECT_FALSE(record->invalid());
        EXPECT_FALSE(record->has(block_status::have_body));
    }
    // The honest body of the same header is accepted and wins.
    ASSERT_TRUE(chainstate_->process_block(branch[2]).ok());
    EXPECT_EQ(tip(), branch[2].hash());
}

}  // namespace
}  // namespace learnchain::chain
