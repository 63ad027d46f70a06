#include <learnchain/chain/mempool.hpp>

#include <gtest/gtest.h>

#include "chain/store_test_support.hpp"

namespace learnchain::chain {
namespace {

using testing::make_transfer;
using testing::store_test_genesis;
using testing::test_key;

class MempoolTest : public ::testing::Test {
protected:
    Transaction pay(std::uint8_t from, std::uint64_t nonce, Amount fee, Amount amount = coin) {
        return make_transfer(genesis_, test_key(from), test_key(6).public_key(), amount, fee,
                             nonce);
    }
    static std::string reason(const Result<Hash256>& result) {
        return result.ok() ? "ok" : result.error().reason;
    }

    Genesis genesis_ = store_test_genesis();
    AccountState state_ = genesis_state(genesis_).value();
    Mempool pool_{genesis_.chain_id};
};

TEST_F(MempoolTest, AcceptsGaplessNonceChains) {
    const auto a1 = pay(1, 1, 500);
    EXPECT_EQ(reason(pool_.add(pay(1, 0, 500), state_)), "ok");
    EXPECT_EQ(reason(pool_.add(a1, state_)), "ok");
    EXPECT_EQ(pool_.next_nonce(test_key(1).public_key(), state_), 2u);
    EXPECT_EQ(reason(pool_.add(pay(1, 3, 500), state_)), "mempool-nonce-gap");
    EXPECT_EQ(reason(pool_.add(pay(1, 1, 900), state_)), "mempool-nonce-conflict");
    EXPECT_EQ(reason(pool_.add(a1, state_)), "mempool-duplicate");
    EXPECT_EQ(reason(pool_.add(pay(2, 1, 500), state_)), "mempool-nonce-gap");
    EXPECT_EQ(pool_.size(), 2u);
    EXPECT_EQ(pool_.bytes(), 2 * min_tx_encoded_size);
}

TEST_F(MempoolTest, RejectsWithLedgerAndPolicyReasons) {
    EXPECT_EQ(reason(pool_.add(pay(1, 0, 10), state_)), "mempool-fee-too-low");
    Transaction forged = pay(1, 0, 500);
    forged.amount += 1;
    EXPECT_EQ(reason(pool_.add(forged, state_)), "bad-tx-signature");
    Transaction other_chain = pay(1, 0, 500);
    other_chain.chain_id += 1;
    other_chain.sign(test_key(1));
    EXPECT_EQ(reason(pool_.add(other_chain, state_)), "bad-tx-chain-id");

    state_.set(test_key(1).public_key(), Account{1000 * coin, 5});
    EXPECT_EQ(reason(pool_.add(pay(1, 4, 500), state_)), "bad-tx-nonce-too-low");
    // The chain as a whole must be affordable.
    EXPECT_EQ(reason(pool_.add(pay(1, 5, 500, 600 * coin), state_)), "ok");
    EXPECT_EQ(reason(pool_.add(pay(1, 6, 500, 600 * coin), state_)), "bad-tx-insufficient-balance");
    Mempool short_chains(genesis_.chain_id, MempoolOptions{1 << 20, 1, 1});
    EXPECT_EQ(reason(short_chains.add(pay(2, 0, 500), state_)), "ok");
    EXPECT_EQ(reason(short_chains.add(pay(2, 1, 500), state_)), "mempool-chain-too-long");
}

TEST_F(MempoolTest, EvictsCheapestTailsNeverADependency) {
    Mempool pool(genesis_.chain_id, MempoolOptions{3 * min_tx_encoded_size, 1, 64});
    const auto a0 = pay(1, 0, 200);
    const auto a1 = pay(1, 1, 5000);
    const auto b0 = pay(2, 0, 1000);
    ASSERT_TRUE(pool.add(a0, state_).ok());
    ASSERT_TRUE(pool.add(a1, state_).ok());
    ASSERT_TRUE(pool.add(b0, state_).ok());

    EXPECT_EQ(reason(pool.add(pay(3, 0, 900), state_)), "mempool-full");  // cheaper than all tails
    EXPECT_EQ(reason(pool.add(pay(3, 0, 2000), state_)), "ok");           // evicts b0, not a0
    EXPECT_FALSE(pool.contains(b0.txid()));
    EXPECT_TRUE(pool.contains(a0.txid()));
    // a0 is the cheapest transaction but a1 depends on it: a1 (a tail) goes first, a0 stays.
    EXPECT_EQ(reason(pool.add(pay(4, 0, 6000), state_)), "ok");  // evicts c0 (2000)
    EXPECT_EQ(reason(pool.add(pay(5, 0, 7000), state_)), "ok");  // evicts a1 (5000)
    EXPECT_FALSE(pool.contains(a1.txid()));
    EXPECT_TRUE(pool.contains(a0.txid()));
    EXPECT_EQ(pool.size(), 3u);
    EXPECT_LE(pool.bytes(), 3 * min_tx_encoded_size);
}

TEST_F(MempoolTest, SelectsByFeeRateInNonceOrder) {
    const std::vector<std::uint8_t> memo(64, 1);
    const auto a0 =
        make_transfer(genesis_, test_key(1), test_key(6).public_key(), coin, 300, 0, memo);
    const auto a1 = pay(1, 1, 10'000);
    const auto b0 = pay(2, 0, 5000);
    const auto c0 = make_transfer(genesis_, test_key(3), test_key(6).public_key(), coin, 5000, 0,
                                  memo);  // same fee as b0, more bytes
    for (const auto& tx : {a0, a1, b0, c0}) ASSERT_TRUE(pool_.add(tx, state_).ok());
    EXPECT_EQ(pool_.select(10, 1 << 20), (std::vector<Transaction>{b0, c0, a0, a1}));
    EXPECT_EQ(pool_.select(2, 1 << 20), (std::vector<Transaction>{b0, c0}));
    // A byte budget that a0 does not fit ends sender 1's run: a1 fits but must not come alone.
    const std::size_t budget = tx_encoded_size(b0) + tx_encoded_size(c0) + 200;
    ASSERT_LT(budget - tx_encoded_size(b0) - tx_encoded_size(c0), tx_encoded_size(a0));
    ASSERT_GE(budget - tx_encoded_size(b0) - tx_encoded_size(c0), tx_encoded_size(a1));
    EXPECT_EQ(pool_.select(10, budget), (std::vector<Transaction>{b0, c0}));
}

TEST_F(MempoolTest, UpdateDropsConfirmedAndTakesBackDisconnected) {
    const auto a0 = pay(1, 0, 500);
    const auto a1 = pay(1, 1, 500);
    const auto b0 = pay(2, 0, 500);
    for (const auto& tx : {a0, a1, b0}) ASSERT_TRUE(pool_.add(tx, state_).ok());

    // A block confirmed a0 and b0.
    AccountState after = state_;
    ASSERT_TRUE(after.apply_transaction(a0).ok());
    ASSERT_TRUE(after.apply_transaction(b0).ok());
    pool_.update(after, {});
    EXPECT_EQ(pool_.size(), 1u);
    EXPECT_TRUE(pool_.contains(a1.txid()));

    // The block was reorganised away: its transactions come back, in nonce order with a1.
    pool_.update(state_, {a0, b0});
    EXPECT_EQ(pool_.size(), 3u);
    EXPECT_EQ(pool_.select(10, 1 << 20).front().nonce, 0u);

    // Sender 1 was drained on the new tip: its whole chain no longer applies.
    AccountState poorer = state_;
    poorer.set(test_key(1).public_key(), Account{coin, 0});
    pool_.update(poorer, {});
    EXPECT_FALSE(pool_.contains(a0.txid()));
    EXPECT_FALSE(pool_.contains(a1.txid()));
    EXPECT_TRUE(pool_.contains(b0.txid()));
}

}  // namespace
}  // namespace learnchain::chain
