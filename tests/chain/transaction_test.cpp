#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/transaction.hpp>

#include <gtest/gtest.h>

#include "chain/chain_test_support.hpp"

namespace learnchain::chain {
namespace {

using testing::make_transfer;
using testing::test_key;

constexpr std::uint32_t chain_id = 31337;

Genesis genesis_with_chain_id() {
    Genesis g;
    g.chain_id = chain_id;
    return g;
}

Transaction sample(Amount amount = 5 * coin, Amount fee = 1000, std::uint64_t nonce = 0,
                   std::vector<std::uint8_t> memo = {1, 2, 3}) {
    return make_transfer(genesis_with_chain_id(), test_key(1), test_key(2).public_key(), amount,
                         fee, nonce, std::move(memo));
}

AccountState funded(Amount balance, std::uint64_t nonce = 0) {
    AccountState state;
    state.set(test_key(1).public_key(), {balance, nonce});
    return state;
}

TEST(Transaction, EncodingLayoutAndRoundTrip) {
    const Transaction tx = sample();
    const auto bytes = encode(tx);
    EXPECT_EQ(bytes.size(), min_tx_encoded_size + 3);
    // chain_id little-endian first, then from, to.
    EXPECT_EQ(bytes[0], chain_id & 0xff);
    EXPECT_EQ(bytes[1], (chain_id >> 8) & 0xff);
    EXPECT_TRUE(std::equal(tx.from.bytes().begin(), tx.from.bytes().end(), bytes.begin() + 4));
    auto decoded = decode<Transaction>(bytes);
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(*decoded, tx);
    EXPECT_EQ(decoded->txid(), tx.txid());
}

TEST(Transaction, DecodeRejectsHugeMemoPrefixWithoutAllocating) {
    auto bytes = encode(sample());
    // memo count sits after 4 + 32 + 32 + 8 + 8 + 8 = 92 bytes.
    bytes[92] = 0xff;
    bytes[93] = 0xff;
    bytes[94] = 0xff;
    bytes[95] = 0x7f;
    EXPECT_EQ(decode<Transaction>(bytes).error().reason, "decode-length-exceeds-input");
}

TEST(Transaction, SighashCoversEveryUnsignedFieldAndNotTheSignature) {
    const Transaction base = sample();
    auto changed = [&](auto mutate) {
        Transaction tx = base;
        mutate(tx);
        return tx.sighash() != base.sighash();
    };
    EXPECT_TRUE(changed([](Transaction& t) { t.chain_id += 1; }));
    EXPECT_TRUE(changed([](Transaction& t) { t.from = test_key(3).public_key(); }));
    EXPECT_TRUE(changed([](Transaction& t) { t.to = test_key(3).public_key(); }));
    EXPECT_TRUE(changed([](Transaction& t) { t.amount += 1; }));
    EXPECT_TRUE(changed([](Transaction& t) { t.fee += 1; }));
    EXPECT_TRUE(changed([](Transaction& t) { t.nonce += 1; }));
    EXPECT_TRUE(changed([](Transaction& t) { t.memo.push_back(0); }));
    EXPECT_FALSE(changed([](Transaction& t) { t.signature = Signature{}; }));

    Transaction resigned = base;
    resigned.signature = Signature{};
    EXPECT_NE(resigned.txid(), base.txid());  // the txid commits to the signature
}

TEST(Transaction, SighashAndTxidAreDomainSeparated) {
    const Transaction tx = sample();
    std::vector<std::uint8_t> unsigned_bytes;
    EncodeWriter writer(unsigned_bytes);
    tx.serialize_unsigned(writer);
    EXPECT_EQ(tx.sighash(), tagged_hash(tag::tx_sighash, unsigned_bytes));
    EXPECT_EQ(tx.txid(), tagged_hash(tag::transaction, encode(tx)));
    EXPECT_NE(tagged_hash(tag::transaction, unsigned_bytes), tx.sighash());
}

TEST(Transaction, ValidTransactionPasses) {
    const auto status = check_transaction(sample(), funded(10 * coin), chain_id);
    EXPECT_TRUE(status) << status.error().to_string();
}

TEST(Transaction, RejectsBadSignature) {
    Transaction tx = sample();
    tx.amount += 1;  // signed over the old amount
    EXPECT_EQ(check_transaction(tx, funded(10 * coin), chain_id).reason(), "bad-tx-signature");

    Transaction forged = sample();
    forged.from = test_key(3).public_key();  // not the signer
    EXPECT_EQ(check_transaction(forged, funded(10 * coin), chain_id).reason(), "bad-tx-signature");

    Transaction bad_key = sample();
    bad_key.from = PublicKey{};  // zero is not a curve point
    EXPECT_EQ(check_transaction_context_free(bad_key, chain_id).reason(), "bad-tx-signature");
}

TEST(Transaction, RejectsWrongChainId) {
    EXPECT_EQ(check_transaction(sample(), funded(10 * coin), chain_id + 1).reason(),
              "bad-tx-chain-id");
}

TEST(Transaction, RejectsZeroAmount) {
    EXPECT_EQ(check_transaction(sample(0), funded(10 * coin), chain_id).reason(),
              "bad-tx-zero-amount");
}

TEST(Transaction, MemoLimitIs64Bytes) {
    const auto ok = sample(coin, 0, 0, std::vector<std::uint8_t>(max_memo_bytes, 0xab));
    EXPECT_TRUE(check_transaction(ok, funded(10 * coin), chain_id));
    const auto long_memo = sample(coin, 0, 0, std::vector<std::uint8_t>(max_memo_bytes + 1, 0xab));
    EXPECT_EQ(check_transaction(long_memo, funded(10 * coin), chain_id).reason(),
              "bad-tx-memo-too-long");
    EXPECT_EQ(encode(ok).size(), max_tx_encoded_size);
}

TEST(Transaction, RejectsAmountPlusFeeOverflow) {
    const auto tx = sample(UINT64_MAX, 1);
    EXPECT_EQ(check_transaction(tx, funded(UINT64_MAX), chain_id).reason(),
              "bad-tx-amount-overflow");
}

TEST(Transaction, RejectsNonceTooLowAndTooHigh) {
    EXPECT_EQ(check_transaction(sample(coin, 0, 2), funded(10 * coin, 3), chain_id).reason(),
              "bad-tx-nonce-too-low");
    EXPECT_EQ(check_transaction(sample(coin, 0, 4), funded(10 * coin, 3), chain_id).reason(),
              "bad-tx-nonce-too-high");
    EXPECT_TRUE(check_transaction(sample(coin, 0, 3), funded(10 * coin, 3), chain_id));
}

TEST(Transaction, RejectsInsufficientBalance) {
    // Amount alone fits, amount + fee does not.
    EXPECT_EQ(check_transaction(sample(10 * coin, 1), funded(10 * coin), chain_id).reason(),
              "bad-tx-insufficient-balance");
    EXPECT_TRUE(check_transaction(sample(10 * coin - 1, 1), funded(10 * coin), chain_id));
    // An unknown sender has balance zero.
    EXPECT_EQ(check_transaction(sample(), AccountState{}, chain_id).reason(),
              "bad-tx-insufficient-balance");
}

TEST(Transaction, RejectsRecipientBalanceOverflow) {
    AccountState state = funded(10 * coin);
    state.set(test_key(2).public_key(), {UINT64_MAX - 1, 0});
    EXPECT_EQ(check_transaction(sample(2), state, chain_id).reason(), "bad-tx-balance-overflow");
}

TEST(AccountState, ApplyAndUndoRestoreExactly) {
    AccountState state = funded(10 * coin, 0);
    const AccountState before = state;
    const Hash256 root_before = state.accounts_root();
    AccountJournal journal;
    ASSERT_TRUE(state.apply_transaction(sample(3 * coin, 500), &journal));
    EXPECT_EQ(state.get(test_key(1).public_key()), (Account{7 * coin - 500, 1}));
    EXPECT_EQ(state.get(test_key(2).public_key()), (Account{3 * coin, 0}));
    EXPECT_NE(state.accounts_root(), root_before);
    state.undo(journal);
    EXPECT_EQ(state, before);
    EXPECT_FALSE(state.contains(test_key(2).public_key()));  // created, then removed again
    EXPECT_EQ(state.accounts_root(), root_before);
}

TEST(AccountState, FailedApplyLeavesStateUnchanged) {
    AccountState state = funded(coin);
    const AccountState before = state;
    AccountJournal journal;
    EXPECT_EQ(state.apply_transaction(sample(2 * coin), &journal).reason(),
              "bad-tx-insufficient-balance");
    EXPECT_EQ(state, before);
    EXPECT_TRUE(journal.empty());
}

TEST(AccountState, SelfTransferCostsOnlyTheFee) {
    AccountState state = funded(10 * coin);
    const auto tx = make_transfer(genesis_with_chain_id(), test_key(1), test_key(1).public_key(),
                                  10 * coin - 7, 7, 0);
    ASSERT_TRUE(state.apply_transaction(tx));
    EXPECT_EQ(state.get(test_key(1).public_key()), (Account{10 * coin - 7, 1}));
}

TEST(AccountState, RootIgnoresEmptyAccountsAndInsertionOrder) {
    AccountState a;
    a.set(test_key(1).public_key(), {5, 0});
    a.set(test_key(2).public_key(), {6, 1});
    AccountState b;
    b.set(test_key(3).public_key(), {1, 0});
    b.set(test_key(2).public_key(), {6, 1});
    b.set(test_key(1).public_key(), {5, 0});
    b.set(test_key(3).public_key(), {0, 0});
    EXPECT_EQ(a.accounts_root(), b.accounts_root());
    EXPECT_EQ(AccountState{}.accounts_root(), Hash256{});
    // The state root folds in the model root.
    EXPECT_NE(a.state_root(Hash256{}), a.state_root(sha256(std::string_view("model"))));
    EXPECT_EQ(a.state_root(Hash256{}),
              TaggedHasher(tag::state).update(a.accounts_root()).update(Hash256{}).finalize());
}

TEST(AccountState, LeafCommitsToKeyBalanceAndNonce) {
    const PublicKey k = test_key(1).public_key();
    const Hash256 leaf = account_leaf_hash(k, {5, 1});
    EXPECT_NE(leaf, account_leaf_hash(k, {5, 2}));
    EXPECT_NE(leaf, account_leaf_hash(k, {6, 1}));
    EXPECT_NE(leaf, account_leaf_hash(test_key(2).public_key(), {5, 1}));
    std::vector<std::uint8_t> bytes(k.bytes().begin(), k.bytes().end());
    const auto put = [&](std::uint64_t v, int width) {
        for (int i = 0; i < width; ++i) bytes.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    put(5, 8);
    put(1, 8);
    put(0, 4);  // no immature rewards
    EXPECT_EQ(leaf, tagged_hash(tag::account, bytes));
    // Immature rewards are committed too: height then amount per entry.
    const Hash256 with_reward = account_leaf_hash(k, {5, 1, {{101, 7}}});
    EXPECT_NE(with_reward, leaf);
    bytes.resize(bytes.size() - 4);
    put(1, 4);
    put(101, 8);
    put(7, 8);
    EXPECT_EQ(with_reward, tagged_hash(tag::account, bytes));
}

TEST(AccountState, ImmatureRewardsJoinTheBalanceAtTheirHeightAndUndoExactly) {
    const PublicKey k = test_key(1).public_key();
    AccountState state;
    AccountJournal journal;
    ASSERT_TRUE(state.credit_immature(k, 5, 10, &journal));
    ASSERT_TRUE(state.credit_immature(k, 3, 10, &journal));  // same block: one entry
    ASSERT_TRUE(state.credit_immature(k, 2, 11, &journal));
    EXPECT_EQ(state.get(k), (Account{0, 0, {{10, 8}, {11, 2}}}));
    EXPECT_EQ(state.total_supply(), 10u);
    const AccountState before = state;
    AccountJournal matured;
    state.mature(9, &matured);
    EXPECT_EQ(state, before);
    state.mature(10, &matured);
    EXPECT_EQ(state.get(k), (Account{8, 0, {{11, 2}}}));
    state.undo(matured);
    EXPECT_EQ(state, before);
    // The undo restored the index too: maturing again finds both heights.
    state.mature(11);
    EXPECT_EQ(state.get(k), (Account{10, 0, {}}));
    state.undo(journal);
    EXPECT_FALSE(state.contains(k));
}

TEST(AccountState, BalancePlusImmatureRewardsFitIn64Bits) {
    const PublicKey rich = test_key(1).public_key();
    AccountState state;
    ASSERT_TRUE(state.credit(rich, UINT64_MAX - 5));
    ASSERT_TRUE(state.credit_immature(rich, 5, 3));
    const AccountState before = state;
    EXPECT_EQ(state.credit_immature(rich, 1, 4).reason(), "bad-balance-overflow");
    EXPECT_EQ(state.credit(rich, 1).reason(), "bad-balance-overflow");
    EXPECT_EQ(state, before);
    state.mature(3);
    EXPECT_EQ(state.get(rich).balance, UINT64_MAX);
}

}  // namespace
}  // namespace learnchain::chain
