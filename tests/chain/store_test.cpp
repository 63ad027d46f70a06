#include <algorithm>
#include <filesystem>
#include <random>

#include <learnchain/chain/store.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include "chain/store_test_support.hpp"

namespace learnchain::chain {
namespace {

using testing::BuildOptions;
using testing::ForkBuilder;
using testing::make_transfer;
using testing::PersistentTestEngine;
using testing::store_test_genesis;
using testing::test_key;

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("learnchain_store_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // `challenge_window` (the reorg limit) remakes the builder's genesis: before any block.
    std::unique_ptr<ChainStore> open(std::optional<std::uint32_t> challenge_window = {}) {
        if (challenge_window && *challenge_window != builder_.genesis.challenge_window) {
            Genesis genesis = builder_.genesis;
            genesis.challenge_window = *challenge_window;
            builder_ = ForkBuilder(std::move(genesis));
        }
        engine_ = std::make_unique<PersistentTestEngine>();
        auto store = ChainStore::open({dir_, false}, builder_.genesis, *engine_);
        EXPECT_TRUE(store.ok()) << store.error().to_string();
        return std::move(store).value();
    }

    Transaction pay(std::uint8_t from, std::uint8_t to, Amount amount, std::uint64_t nonce,
                    Amount fee = 1000) {
        return make_transfer(builder_.genesis, test_key(from), test_key(to).public_key(), amount,
                             fee, nonce);
    }

    AcceptResult accept(ChainStore& store, const Block& block) {
        auto result = store.accept_block(block, builder_.now());
        EXPECT_TRUE(result.ok()) << result.error().to_string();
        return result.ok() ? *result : AcceptResult{};
    }

    // The store's memory and disk both equal what the builder computed for its tip.
    void expect_state_of(ChainStore& store, const Hash256& hash) {
        ASSERT_EQ(store.tip().hash, hash);
        EXPECT_EQ(store.state(), builder_.state_after(hash));
        auto on_disk = store.stored_accounts();
        ASSERT_TRUE(on_disk.ok());
        EXPECT_EQ(*on_disk, builder_.state_after(hash));
        EXPECT_EQ(store.state().state_root(engine_->model_root()), store.tip().header.state_root);
        auto heights = store.stored_height_index();
        ASSERT_TRUE(heights.ok());
        ASSERT_EQ(heights->size(), store.height() + 1);
        for (std::uint64_t h = 0; h <= store.height(); ++h)
            EXPECT_EQ((*heights)[h], *store.hash_at(h));
    }

    std::filesystem::path dir_;
    ForkBuilder builder_{store_test_genesis()};
    std::unique_ptr<PersistentTestEngine> engine_;
};

TEST_F(StoreTest, CreatesFromGenesisAndReopens) {
    Hash256 genesis_hash;
    {
        auto store = open();
        EXPECT_EQ(store->height(), 0u);
        EXPECT_EQ(store->tip().hash, builder_.genesis_block.hash());
        genesis_hash = store->genesis_hash();
        expect_state_of(*store, genesis_hash);
        auto block = store->block_at(0);
        ASSERT_TRUE(block.ok());
        ASSERT_TRUE(block->has_value());
        EXPECT_EQ(**block, builder_.genesis_block);
    }
    auto store = open();
    EXPECT_EQ(store->tip().hash, genesis_hash);
    expect_state_of(*store, genesis_hash);
}

TEST_F(StoreTest, ConnectAndReopenKeepsTipStateAndModel) {
    Hash256 tip;
    {
        auto store = open();
        tip = store->tip().hash;
        for (std::uint64_t i = 0; i < 5; ++i) {
            const Block block = builder_.build(tip, {pay(1, 2, coin, i), pay(3, 1, 2 * coin, i)});
            auto result = accept(*store, block);
            EXPECT_TRUE(result.new_tip);
            EXPECT_EQ(result.connected, std::vector<Hash256>{block.hash()});
            tip = block.hash();
        }
        expect_state_of(*store, tip);
        auto model = store->model_entries();
        ASSERT_TRUE(model.ok());
        EXPECT_EQ(model->size(), 6u);  // "root" and one per height
    }
    auto store = open();
    EXPECT_EQ(store->height(), 5u);
    expect_state_of(*store, tip);
    EXPECT_EQ(store->account(test_key(1).public_key()).nonce, 5u);
    // The reopened engine can undo blocks connected before the restart.
    const auto fork = builder_.build_chain(*store->hash_at(2), 4);
    for (const auto& block : fork) (void)accept(*store, block);
    expect_state_of(*store, fork.back().hash());
}

TEST_F(StoreTest, RefusesAnotherGenesis) {
    (void)open();
    Genesis other = builder_.genesis;
    other.name = "learnchain-other";
    PersistentTestEngine engine;
    auto store = ChainStore::open({dir_}, other, engine);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().reason, "store-genesis-mismatch");
}

TEST_F(StoreTest, KeepsUnjudgedFraudProofsAcrossReopens) {
    const FraudProof first{sha256(std::string("block a")), {1, 2, 3}};
    const FraudProof second{sha256(std::string("block b")), {4}};
    {
        auto store = open();
        auto none = store->unjudged_fraud_proofs();
        ASSERT_TRUE(none.ok());
        EXPECT_TRUE(none->empty());
        ASSERT_TRUE(store->keep_unjudged_fraud_proof(sha256(std::string("1")), first));
        ASSERT_TRUE(store->keep_unjudged_fraud_proof(sha256(std::string("2")), second));
        ASSERT_TRUE(store->forget_unjudged_fraud_proof(sha256(std::string("1"))));
    }
    auto store = open();
    auto kept = store->unjudged_fraud_proofs();
    ASSERT_TRUE(kept.ok()) << kept.error().to_string();
    ASSERT_EQ(kept->size(), 1u);
    EXPECT_EQ((*kept)[0].first, sha256(std::string("2")));
    EXPECT_EQ((*kept)[0].second, second);
}

TEST_F(StoreTest, RejectsDuplicatesUnknownParentsAndBadBlocks) {
    auto store = open();
    const Block block = builder_.build(store->tip().hash);
    (void)accept(*store, block);
    auto again = store->accept_block(block, builder_.now());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().reason, "block-duplicate");

    Block orphan = block;
    orphan.header.parent = Hash256{};
    auto result = store->accept_block(orphan, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-parent-unknown");

    Block unsigned_block = builder_.build(block.hash());
    unsigned_block.header.signature = Signature{};
    result = store->accept_block(unsigned_block, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-signature");

    const Block bad_nonce = builder_.build(block.hash(), {pay(1, 2, coin, 7)});
    result = store->accept_block(bad_nonce, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-tx-nonce-too-high");
    EXPECT_EQ(store->tip().hash, block.hash());
}

TEST_F(StoreTest, ForkChoiceFollowsCumulativeWork) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 3);
    for (const auto& block : main) (void)accept(*store, block);

    // Two blocks with more work each outweigh three at the minimum.
    const auto heavy = builder_.build_chain(genesis, 2, 200, 8);
    auto first = accept(*store, heavy[0]);
    EXPECT_FALSE(first.new_tip);  // 328 < 384
    EXPECT_EQ(store->tip().hash, main.back().hash());
    auto second = accept(*store, heavy[1]);
    EXPECT_TRUE(second.new_tip);
    EXPECT_EQ(second.disconnected,
              (std::vector<Hash256>{main[2].hash(), main[1].hash(), main[0].hash()}));
    EXPECT_EQ(second.connected, (std::vector<Hash256>{heavy[0].hash(), heavy[1].hash()}));
    expect_state_of(*store, heavy[1].hash());
    EXPECT_FALSE(store->on_main_chain(main[0].hash()));

    // Two branch ends: the heavy tip, and the chain it replaced, three blocks off genesis.
    auto tips = store->chain_tips();
    ASSERT_EQ(tips.size(), 2u);
    std::sort(tips.begin(), tips.end(), [](const auto& a, const auto& b) {
        return a.entry.header.height < b.entry.header.height;
    });
    EXPECT_EQ(tips[0].entry.hash, heavy[1].hash());
    EXPECT_EQ(tips[1].entry.hash, main[2].hash());
    EXPECT_EQ(store->fork_height(main[2].hash()), 0u);
    EXPECT_EQ(store->fork_height(heavy[1].hash()), 2u);
}

TEST_F(StoreTest, FirstSeenWinsTies) {
    Hash256 first_hash;
    {
        auto store = open();
        const Hash256 genesis = store->tip().hash;
        const Block a = builder_.build(genesis, {}, BuildOptions{0, 7});
        const Block b = builder_.build(genesis, {}, BuildOptions{0, 8});
        first_hash = a.hash();
        EXPECT_TRUE(accept(*store, a).new_tip);
        EXPECT_FALSE(accept(*store, b).new_tip);
        EXPECT_EQ(store->tip().hash, a.hash());
    }
    auto store = open();  // the order survives a restart
    EXPECT_EQ(store->tip().hash, first_hash);
}

TEST_F(StoreTest, ReorgRestoresExactStateAndReturnsTransactions) {
    auto store = open();
    Hash256 tip = store->tip().hash;
    for (std::uint64_t i = 0; i < 2; ++i) {
        const Block block = builder_.build(tip, {pay(1, 2, coin, i)});
        (void)accept(*store, block);
        tip = block.hash();
    }
    const Hash256 fork_point = tip;
    std::vector<Block> old_branch;
    std::vector<Transaction> old_txs;
    for (std::uint64_t i = 2; i < 8; ++i) {  // depth 6 below the fork point
        std::vector<Transaction> txs = {pay(1, 3, coin, i), pay(2, 4, 5 * coin, i - 2)};
        old_txs.insert(old_txs.end(), txs.begin(), txs.end());
        old_branch.push_back(builder_.build(tip, txs));
        (void)accept(*store, old_branch.back());
        tip = old_branch.back().hash();
    }
    const Hash256 old_tip = tip;

    // The new branch spends differently; at its sixth block it ties (the old branch stays,
    // first seen) and its seventh outweighs the old one.
    tip = fork_point;
    std::vector<Block> new_branch;
    for (std::uint64_t i = 2; i < 9; ++i) {
        new_branch.push_back(builder_.build(tip, {pay(1, 5, 3 * coin, i)}, BuildOptions{0, 8}));
        tip = new_branch.back().hash();
    }
    AcceptResult last;
    for (const auto& block : new_branch) last = accept(*store, block);
    EXPECT_TRUE(last.new_tip);
    EXPECT_EQ(last.disconnected.size(), 6u);
    EXPECT_EQ(last.connected.size(), 7u);
    EXPECT_EQ(last.returned_transactions, old_txs);  // oldest block first, in block order
    expect_state_of(*store, new_branch.back().hash());

    // Indexes follow the main chain only.
    auto gone = store->transaction(old_txs.front().txid());
    ASSERT_TRUE(gone.ok());
    EXPECT_FALSE(gone->has_value());
    auto found = store->transaction(new_branch[3].transactions[0].txid());
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ((*found)->block, new_branch[3].hash());
    EXPECT_EQ((*found)->height, new_branch[3].header.height);
    EXPECT_EQ((*found)->tx, new_branch[3].transactions[0]);

    // And back: the old branch grows heavier again.
    const auto more = builder_.build_chain(old_tip, 1, 200);
    last = accept(*store, more[0]);
    EXPECT_TRUE(last.new_tip);
    EXPECT_EQ(last.disconnected.size(), 7u);
    expect_state_of(*store, more.back().hash());
}

TEST_F(StoreTest, InvalidBlockOnNewBranchFallsBackToBestValidChain) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 2);
    for (const auto& block : main) (void)accept(*store, block);

    const Block b1 = builder_.build(genesis, {pay(1, 2, coin, 0)}, BuildOptions{0, 8});
    const Block b2 = builder_.build(b1.hash(), {}, BuildOptions{1000, 8, 9, false, true});
    const Block b3 = builder_.build(b2.hash(), {}, BuildOptions{0, 8});
    EXPECT_FALSE(accept(*store, b1).new_tip);

    auto result = store->accept_block(b2, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-state-root");
    expect_state_of(*store, main.back().hash());
    const auto record = store->record(b2.hash());
    ASSERT_TRUE(record.has_value());
    EXPECT_TRUE(record->has(block_status::failed));
    EXPECT_EQ(record->invalid_reason, "bad-block-state-root");

    result = store->accept_block(b3, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-invalid-parent");

    // Work the engine rejects: same fallback, the engine's reason.
    const Block c1 = builder_.build(genesis, {}, BuildOptions{1000, 8, 9, true, false});
    result = store->accept_block(c1, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-cert-test-invalid");
    expect_state_of(*store, main.back().hash());

    // The branch's valid block is still usable.
    const auto valid = builder_.build_chain(b1.hash(), 2, 10, 8);
    for (const auto& block : valid) (void)accept(*store, block);
    expect_state_of(*store, valid.back().hash());
}

TEST_F(StoreTest, InvalidDescendantMarkedWhenBranchArrivesFirst) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 3);
    for (const auto& block : main) (void)accept(*store, block);
    const Block b1 = builder_.build(genesis, {}, BuildOptions{0, 8, 9, false, true});
    const Block b2 = builder_.build(b1.hash(), {}, BuildOptions{0, 8});
    const Block b3 = builder_.build(b2.hash(), {}, BuildOptions{500, 8});
    EXPECT_FALSE(accept(*store, b1).new_tip);
    EXPECT_FALSE(accept(*store, b2).new_tip);
    auto result = store->accept_block(b3, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-state-root");
    EXPECT_TRUE(store->record(b2.hash())->has(block_status::failed_child));
    EXPECT_TRUE(store->record(b3.hash())->has(block_status::failed_child));
    expect_state_of(*store, main.back().hash());
}

TEST_F(StoreTest, RefusesForksDeeperThanTheLimit) {
    auto store = open(3);
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 5);
    for (const auto& block : main) (void)accept(*store, block);

    const Block too_deep = builder_.build(main[0].hash(), {}, BuildOptions{10'000, 8});
    auto result = store->accept_block(too_deep, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-fork-too-deep");

    const Block deep_enough = builder_.build(main[1].hash(), {}, BuildOptions{10'000, 8});
    auto accepted = accept(*store, deep_enough);
    EXPECT_TRUE(accepted.new_tip);
    EXPECT_EQ(accepted.disconnected.size(), 3u);
    expect_state_of(*store, deep_enough.hash());
}

TEST_F(StoreTest, IndexesTransactionsAndCertificates) {
    auto store = open();
    const Block block = builder_.build(store->tip().hash, {pay(1, 2, coin, 0), pay(1, 2, coin, 1)});
    (void)accept(*store, block);
    auto found = store->transaction(block.transactions[1].txid());
    ASSERT_TRUE(found.ok() && found->has_value());
    EXPECT_EQ((*found)->tx, block.transactions[1]);
    EXPECT_EQ((*found)->height, 1u);
    auto missing = store->transaction(Hash256{});
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());

    const Hash256 cert_root = tagged_hash(tag::certificate, block.work_items[0].certificate);
    auto cert = store->certificate_block(cert_root);
    ASSERT_TRUE(cert.ok() && cert->has_value());
    EXPECT_EQ(**cert, block.hash());

    auto stored = store->block(block.hash());
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_EQ(**stored, block);
    auto undo = store->undo(block.hash());
    ASSERT_TRUE(undo.ok() && undo->has_value());
    EXPECT_FALSE((*undo)->accounts.empty());
}

TEST_F(StoreTest, BlobsRoundTripApartFromBodies) {
    auto store = open();
    Block block = builder_.build(store->tip().hash);
    block.work_items[0].blob.assign(4096, 0x5a);  // blobs are not covered by the test engine
    block.header.sign(test_key(9));
    (void)accept(*store, block);
    auto stored = store->block(block.hash());
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_EQ((*stored)->work_items[0].blob, block.work_items[0].blob);
    auto bare = store->block_without_blobs(block.hash());
    ASSERT_TRUE(bare.ok() && bare->has_value());
    EXPECT_EQ((*bare)->work_items[0].certificate, block.work_items[0].certificate);
    EXPECT_TRUE((*bare)->work_items[0].blob.empty());
    EXPECT_EQ((*bare)->header, block.header);
}

TEST_F(StoreTest, HeadersFirstThenBodies) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 3);
    for (const auto& block : main) {
        auto entry = store->accept_header(block.header, builder_.now());
        ASSERT_TRUE(entry.ok()) << entry.error().to_string();
    }
    EXPECT_EQ(store->height(), 0u);
    auto dup = store->accept_header(main[0].header, builder_.now());
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().reason, "header-duplicate");
    // Bodies out of order: nothing connects until the first arrives.
    EXPECT_FALSE(accept(*store, main[2]).new_tip);
    EXPECT_FALSE(accept(*store, main[1]).new_tip);
    auto last = accept(*store, main[0]);
    EXPECT_EQ(last.connected.size(), 3u);
    expect_state_of(*store, main[2].hash());
}

TEST_F(StoreTest, BodyOfAKnownHeaderExtendingTheTipConnectsAtOnce) {
    auto store = open();
    const auto main = builder_.build_chain(store->tip().hash, 3);
    for (const auto& block : main)
        ASSERT_TRUE(store->accept_header(block.header, builder_.now()).ok());
    std::uint64_t last_sequence = 0;
    for (const auto& block : main) {
        const auto result = accept(*store, block);
        EXPECT_TRUE(result.new_tip);
        ASSERT_EQ(result.connected, std::vector<Hash256>{block.hash()});
        const auto record = store->record(block.hash());
        ASSERT_TRUE(record.has_value());
        EXPECT_TRUE(record->has(block_status::have_body) && record->has(block_status::valid));
        // The sequence ("first seen") is the body's arrival, as for a body stored apart.
        EXPECT_GT(record->sequence, last_sequence);
        last_sequence = record->sequence;
    }
    expect_state_of(*store, main.back().hash());
    auto body = store->block(main[1].hash());
    ASSERT_TRUE(body.ok() && body->has_value());
    EXPECT_EQ(**body, main[1]);

    // Reopened: the index, bodies and state were all committed.
    store.reset();
    store = open();
    expect_state_of(*store, main.back().hash());
}

TEST_F(StoreTest, InvalidBodyOfAKnownHeaderCondemnsItAndItsDescendants) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const Block bad = builder_.build(genesis, {}, BuildOptions{0, 7, 9, false, true});
    const Block child = builder_.build(bad.hash());
    ASSERT_TRUE(store->accept_header(bad.header, builder_.now()).ok());
    ASSERT_TRUE(store->accept_header(child.header, builder_.now()).ok());
    auto result = store->accept_block(bad, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-state-root");
    EXPECT_TRUE(store->record(bad.hash())->has(block_status::failed));
    EXPECT_EQ(store->record(bad.hash())->invalid_reason, "bad-block-state-root");
    EXPECT_TRUE(store->record(child.hash())->has(block_status::failed_child));
    result = store->accept_block(bad, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "block-known-invalid");
    expect_state_of(*store, genesis);
}

TEST_F(StoreTest, MangledBodyDoesNotCondemnAKnownHeader) {
    // Anyone can send a body that does not match its header; the header stays good and the
    // genuine body still connects.
    auto store = open();
    const Block block = builder_.build(store->tip().hash);
    ASSERT_TRUE(store->accept_header(block.header, builder_.now()).ok());
    Block mangled = block;
    mangled.transactions.push_back(pay(1, 2, coin, 0));
    ASSERT_EQ(mangled.hash(), block.hash());
    auto result = store->accept_block(mangled, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-block-tx-root");
    EXPECT_FALSE(store->record(block.hash())->invalid());
    EXPECT_FALSE(store->record(block.hash())->has(block_status::have_body));
    EXPECT_TRUE(accept(*store, block).new_tip);
    expect_state_of(*store, block.hash());
}

TEST_F(StoreTest, AcceptHeadersStopsAtTheFirstRefusal) {
    auto store = open();
    const auto main = builder_.build_chain(store->tip().hash, 4);
    ASSERT_TRUE(store->accept_header(main[0].header, builder_.now()).ok());  // known: fine
    std::vector<PreparedHeader> headers;
    for (const auto& block : main) headers.emplace_back(block.header);
    BlockHeader forged = main[2].header;
    forged.signature = Signature{};
    headers[2] = PreparedHeader(forged);
    headers[1].verify_signature();  // verified ahead (as sync does) or not: same outcome

    const auto result = store->accept_headers(headers, builder_.now());
    ASSERT_EQ(result.entries.size(), 2u);
    EXPECT_EQ(result.entries[0].hash, main[0].hash());
    EXPECT_EQ(result.entries[1].hash, main[1].hash());
    ASSERT_TRUE(result.error.has_value());
    EXPECT_EQ(result.error->reason, "bad-block-signature");
    EXPECT_FALSE(store->lookup(forged.hash()).has_value());
    EXPECT_FALSE(store->lookup(main[3].hash()).has_value());

    // The accepted records reached the disk in their batch.
    store.reset();
    store = open();
    EXPECT_TRUE(store->lookup(main[1].hash()).has_value());
}

TEST_F(StoreTest, ReorgsAtRandomMatchReplay) {
    // Random branching: the store must always sit on the heaviest valid chain with exactly
    // the state a replay of that chain gives.
    auto store = open();
    std::mt19937_64 rng(42);
    std::vector<Hash256> known = {store->tip().hash};
    std::map<Hash256, std::uint64_t> nonce_of_1 = {{known[0], 0}};
    for (int step = 0; step < 60; ++step) {
        const Hash256 parent = step % 5 == 0 ? known[rng() % known.size()] : store->tip().hash;
        if (store->record(parent)->invalid()) continue;
        const auto fork = store->record(parent)->entry.header.height;
        if (store->height() - std::min(store->height(), fork) > store->max_reorg_depth()) continue;
        const std::uint64_t nonce =
            builder_.state_after(parent).get(test_key(1).public_key()).nonce;
        const Block block =
            builder_.build(parent, {pay(1, 2, 1000 + step, nonce)},
                           BuildOptions{rng() % 64, static_cast<std::uint8_t>(7 + rng() % 3)});
        auto result = store->accept_block(block, builder_.now());
        ASSERT_TRUE(result.ok()) << result.error().to_string();
        known.push_back(block.hash());
        expect_state_of(*store, store->tip().hash);
    }
    std::vector<Block> main;
    for (std::uint64_t h = 1; h <= store->height(); ++h) main.push_back(**store->block_at(h));
    auto replay = ForkBuilder::replay(builder_.genesis, main);
    ASSERT_TRUE(replay.ok()) << replay.error().to_string();
    EXPECT_EQ(replay->state, store->state());
    EXPECT_EQ(replay->model_root, engine_->model_root());
}

}  // namespace
}  // namespace learnchain::chain

namespace learnchain::chain {
namespace {

TEST_F(StoreTest, LongHeaderBranchesUseTheSkipList) {
    auto store = open(5);
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 300);
    for (const auto& block : main)
        ASSERT_TRUE(store->accept_header(block.header, builder_.now()).ok());
    // Ancestors of a header-only tip, through the skip list, match the builder's walk.
    for (std::uint64_t h : {0u, 1u, 63u, 64u, 65u, 128u, 255u, 299u})
        EXPECT_EQ(store->ancestor(main.back().hash(), h)->hash,
                  builder_.view().ancestor(main.back().hash(), h)->hash);
    for (const auto& block : main) (void)accept(*store, block);
    EXPECT_EQ(store->height(), 300u);
    expect_state_of(*store, main.back().hash());

    // With the tip at 300 and a limit of 5, a fork at 294 is refused and one at 295 is not.
    auto deep = store->accept_header(builder_.build(main[293].hash()).header, builder_.now());
    ASSERT_FALSE(deep.ok());
    EXPECT_EQ(deep.error().reason, "bad-block-fork-too-deep");
    EXPECT_TRUE(store->accept_header(builder_.build(main[294].hash()).header, builder_.now()).ok());
}

}  // namespace
}  // namespace learnchain::chain

namespace learnchain::chain {
namespace {

TEST_F(StoreTest, EngineResourceErrorsDoNotCondemnBlocks) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 2);
    for (const auto& block : main) (void)accept(*store, block);
    const auto side = builder_.build_chain(genesis, 3, 100, 8);
    EXPECT_FALSE(accept(*store, side[0]).new_tip);

    engine_->transient_failure = "engine-busy";
    auto result = store->accept_block(side[1], builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "engine-busy");
    EXPECT_FALSE(store->record(side[1].hash())->invalid());
    EXPECT_FALSE(store->record(side[0].hash())->invalid());

    engine_->transient_failure.clear();
    auto last = accept(*store, side[2]);
    EXPECT_TRUE(last.new_tip);
    expect_state_of(*store, side[2].hash());
}

// A junk block forking far below the tip with more claimed work than the whole main chain:
// its cheap checks fail before anything is disconnected, so refusing it costs the same as
// refusing a junk block on the tip.
TEST_F(StoreTest, AJunkBranchIsRefusedBeforeAnythingIsDisconnected) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 10);
    for (const auto& block : main) (void)accept(*store, block);
    BuildOptions junk;
    junk.invalid_work = true;  // claims bad_tokens of work: more than the ten blocks together
    junk.worker = 8;
    const Block deep = builder_.build(main[0].hash(), {}, junk);
    auto result = store->accept_block(deep, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-cert-test-invalid");
    EXPECT_EQ(engine_->undos, 0) << "the main chain was disconnected for a junk branch";
    EXPECT_FALSE(store->record(deep.hash())) << "junk that would beat the tip was stored";
    expect_state_of(*store, main.back().hash());
}

// The block that makes a branch the best is checked before it is stored, and the branch check
// before the reorganisation does not run again on it: every block is checked once.
TEST_F(StoreTest, EveryBlockOfAWinningBranchIsCheckedOnce) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    for (const auto& block : builder_.build_chain(genesis, 3)) (void)accept(*store, block);
    const auto branch = builder_.build_chain(genesis, 4, 0, 8);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_FALSE(accept(*store, branch[i]).new_tip);
    EXPECT_TRUE(accept(*store, branch[3]).new_tip);
    for (const auto& block : branch)
        EXPECT_EQ(engine_->work_checks[block.hash()], 1) << "height " << block.header.height;
}

// Junk stored while its branch could not win (a side block with less work than the tip) is
// found by the branch check once a descendant makes the branch the best: refused, condemned
// with its descendant, and still nothing disconnected.
TEST_F(StoreTest, AJunkAncestorIsFoundBeforeAnythingIsDisconnected) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 30);
    for (const auto& block : main) (void)accept(*store, block);
    BuildOptions junk;
    junk.invalid_work = true;
    junk.worker = 8;
    const Block ancestor = builder_.build(main[0].hash(), {}, junk);
    ASSERT_LT(store->lookup(main[0].hash())->cumulative_work.plus(ancestor.header.work),
              store->tip().cumulative_work);
    EXPECT_FALSE(accept(*store, ancestor).new_tip);
    EXPECT_TRUE(store->record(ancestor.hash()));
    const Block child = builder_.build(ancestor.hash(), {}, BuildOptions{4000, 8});
    auto result = store->accept_block(child, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "bad-cert-test-invalid");
    EXPECT_EQ(engine_->undos, 0) << "the main chain was disconnected for a junk branch";
    EXPECT_TRUE(store->record(ancestor.hash())->invalid());
    expect_state_of(*store, main.back().hash());
}

// A failure of the node itself in the middle of a reorganisation (a device error connecting
// the branch) leaves the node on the chain it had, never at the fork point.
TEST_F(StoreTest, ALocalFailureMidReorgLeavesTheNodeOnItsTip) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 3);
    for (const auto& block : main) (void)accept(*store, block);
    const auto branch = builder_.build_chain(genesis, 5, 0, 8);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_FALSE(accept(*store, branch[i]).new_tip);

    engine_->fail_locally_at = {branch[2].hash()};
    auto result = store->accept_block(branch[3], builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "test-engine-device-error");
    EXPECT_EQ(result.error().kind, ErrorKind::local);
    expect_state_of(*store, main.back().hash());
    for (const auto& block : branch) {
        const auto record = store->record(block.hash());
        if (record) {
            EXPECT_FALSE(record->invalid());
        }
    }

    // Once the device works again, the next block of the branch takes the node there.
    engine_->fail_locally_at.clear();
    EXPECT_TRUE(accept(*store, branch[4]).new_tip);
    expect_state_of(*store, branch[4].hash());
}

// A block proven invalid after it connected (a fraud proof): it and its descendants leave the
// main chain for the best valid one, and the store remembers across a restart.
TEST_F(StoreTest, ABlockCondemnedAfterConnectingLeavesTheMainChainWithItsDescendants) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 4);
    for (const auto& block : main) (void)accept(*store, block);
    const auto side = builder_.build_chain(main[0].hash(), 2, 0, 8);
    for (const auto& block : side) EXPECT_FALSE(accept(*store, block).new_tip);

    const Error why = make_error(ErrorKind::invalid, "bad-cert-unit-mismatch", "proven");
    auto result = store->invalidate_block(main[1].hash(), why, builder_.now());
    ASSERT_TRUE(result.ok()) << result.error().to_string();
    EXPECT_EQ(result->disconnected,
              (std::vector<Hash256>{main[3].hash(), main[2].hash(), main[1].hash()}));
    EXPECT_EQ(result->connected, (std::vector<Hash256>{side[0].hash(), side[1].hash()}));
    EXPECT_EQ(result->tip, side.back().hash());
    expect_state_of(*store, side.back().hash());
    EXPECT_TRUE(store->record(main[1].hash())->has(block_status::failed));
    EXPECT_EQ(store->record(main[1].hash())->invalid_reason, "bad-cert-unit-mismatch");
    for (std::size_t i = 2; i < main.size(); ++i)
        EXPECT_TRUE(store->record(main[i].hash())->has(block_status::failed_child)) << i;
    EXPECT_FALSE(store->record(main[0].hash())->invalid());

    // Nothing builds on it again, and a second proof changes nothing.
    const Block child = builder_.build(main[3].hash());
    EXPECT_EQ(store->accept_block(child, builder_.now()).error().reason,
              "bad-block-invalid-parent");
    result = store->invalidate_block(main[1].hash(), why, builder_.now());
    ASSERT_TRUE(result.ok());
    EXPECT_TRUE(result->disconnected.empty());

    store.reset();
    store = open();
    expect_state_of(*store, side.back().hash());
    EXPECT_TRUE(store->record(main[1].hash())->has(block_status::failed));
}

// A node that stops between marking the block and leaving it (here: the engine's undo fails,
// which stops the store where a crash would) ends on the valid chain when it opens again.
TEST_F(StoreTest, ARestartBetweenTheMarkAndTheDisconnectEndsOnTheValidChain) {
    auto store = open();
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 3);
    for (const auto& block : main) (void)accept(*store, block);
    const auto side = builder_.build_chain(genesis, 2, 0, 8);
    for (const auto& block : side) EXPECT_FALSE(accept(*store, block).new_tip);

    engine_->fail_undo = true;
    const Error why = make_error(ErrorKind::invalid, "bad-cert-loss-mismatch", "proven");
    auto result = store->invalidate_block(main[0].hash(), why, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "store-engine-undo-failed");
    EXPECT_EQ(store->tip().hash, main.back().hash());  // stopped on the condemned chain

    store.reset();
    store = open();
    expect_state_of(*store, side.back().hash());
    EXPECT_TRUE(store->record(main[0].hash())->has(block_status::failed));
    EXPECT_TRUE(store->record(main[2].hash())->has(block_status::failed_child));
}

TEST_F(StoreTest, OnlyABlockWithinTheReorgLimitCanBeCondemned) {
    auto store = open(3);
    const Hash256 genesis = store->tip().hash;
    const auto main = builder_.build_chain(genesis, 5);
    for (const auto& block : main) (void)accept(*store, block);
    const Error why = make_error(ErrorKind::invalid, "bad-cert-unit-mismatch");

    // Five blocks deep with a limit of three: final.
    auto result = store->invalidate_block(main[0].hash(), why, builder_.now());
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().reason, "store-block-final");
    EXPECT_EQ(result.error().kind, ErrorKind::policy);
    EXPECT_FALSE(store->record(main[0].hash())->invalid());
    expect_state_of(*store, main.back().hash());

    EXPECT_EQ(store->invalidate_block(genesis, why, builder_.now()).error().reason,
              "store-block-genesis");
    EXPECT_EQ(
        store->invalidate_block(Hash256(std::array<std::uint8_t, 32>{0x5a}), why, builder_.now())
            .error()
            .reason,
        "store-block-unknown");

    // Three deep is within the limit; with no other branch the node falls back to its parent.
    result = store->invalidate_block(main[2].hash(), why, builder_.now());
    ASSERT_TRUE(result.ok()) << result.error().to_string();
    expect_state_of(*store, main[1].hash());
}

}  // namespace
}  // namespace learnchain::chain
