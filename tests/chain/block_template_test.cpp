#include <filesystem>

#include <learnchain/chain/block_template.hpp>
#include <learnchain/chain/store.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include "chain/store_test_support.hpp"

namespace learnchain::chain {
namespace {

using testing::make_transfer;
using testing::make_work_item;
using testing::PersistentTestEngine;
using testing::store_test_genesis;
using testing::test_key;

class BlockTemplateTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("learnchain_template_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        store_ = std::move(ChainStore::open({dir_, false}, genesis_, engine_).value());
    }
    void TearDown() override {
        store_.reset();
        std::filesystem::remove_all(dir_);
    }

    Transaction pay(std::uint8_t from, std::uint64_t nonce, Amount fee) {
        return make_transfer(genesis_, test_key(from), test_key(5).public_key(), coin, fee, nonce);
    }

    Result<BlockTemplate> build(std::uint64_t tokens, const TemplateLimits& limits = {}) {
        std::vector<WorkItem> items = {make_work_item(test_key(7).public_key(), tokens)};
        Block probe;
        probe.work_items = items;
        const BlockWork work = engine_.verify(probe, {}).value();
        return build_block_template(*store_, store_->tip(), store_->state(), engine_, pool_, items,
                                    work, test_key(9), genesis_, now(), limits);
    }
    std::uint64_t now() const { return genesis_.time + 1'000'000; }

    Genesis genesis_ = store_test_genesis();
    PersistentTestEngine engine_;
    std::filesystem::path dir_;
    std::unique_ptr<ChainStore> store_;
    Mempool pool_{genesis_.chain_id};
};

TEST_F(BlockTemplateTest, BuildsABlockTheStoreAccepts) {
    const auto a0 = pay(1, 0, 300);
    const auto a1 = pay(1, 1, 9000);
    const auto b0 = pay(2, 0, 4000);
    for (const auto& tx : {a0, a1, b0}) ASSERT_TRUE(pool_.add(tx, store_->state()).ok());
    const Hash256 model_before = engine_.model_root();

    auto built = build(genesis_.initial_work + 5);
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    EXPECT_EQ(engine_.model_root(), model_before);  // the engine ends where it began
    EXPECT_EQ(built->block.transactions, (std::vector<Transaction>{b0, a0, a1}));
    EXPECT_EQ(built->fees, 300u + 9000u + 4000u);
    EXPECT_EQ(built->block.header.work, genesis_.initial_work + 5);

    auto accepted = store_->accept_block(built->block, now());
    ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    EXPECT_TRUE(accepted->new_tip);
    pool_.update(store_->state(), accepted->returned_transactions);
    EXPECT_EQ(pool_.size(), 0u);
    // Proposer: the block reward minus the worker's share, plus every fee.
    EXPECT_EQ(store_->account(test_key(7).public_key()).total(), block_reward);
    EXPECT_EQ(store_->account(test_key(9).public_key()).total(), 13'300u);
}

TEST_F(BlockTemplateTest, SkipsWhatNoLongerAppliesAndHonoursLimits) {
    const auto a0 = pay(1, 0, 300);
    const auto a1 = pay(1, 1, 9000);
    const auto b0 = pay(2, 0, 4000);
    const auto c0 = pay(3, 0, 2000);
    for (const auto& tx : {a0, a1, b0, c0}) ASSERT_TRUE(pool_.add(tx, store_->state()).ok());

    // Confirm b0 without telling the pool: the template must skip it.
    Mempool other(genesis_.chain_id);
    ASSERT_TRUE(other.add(b0, store_->state()).ok());
    std::vector<WorkItem> items = {make_work_item(test_key(7).public_key(), genesis_.initial_work)};
    Block probe;
    probe.work_items = items;
    auto first =
        build_block_template(*store_, store_->tip(), store_->state(), engine_, other, items,
                             engine_.verify(probe, {}).value(), test_key(9), genesis_, now());
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(store_->accept_block(first->block, now()).ok());

    auto built = build(genesis_.initial_work, TemplateLimits{2, max_block_bytes});
    ASSERT_TRUE(built.ok()) << built.error().to_string();
    EXPECT_EQ(built->block.transactions, (std::vector<Transaction>{c0, a0}));
    ASSERT_TRUE(store_->accept_block(built->block, now()).ok());
}

TEST_F(BlockTemplateTest, RefusesTooLittleWork) {
    auto built = build(genesis_.initial_work - 1);
    ASSERT_FALSE(built.ok());
    EXPECT_EQ(built.error().reason, "template-insufficient-work");
}

}  // namespace
}  // namespace learnchain::chain
