// The miner: proposes as soon as pooled work reaches D, pools verified contributions from
// peers (and only those), holds contributions for a tip it does not have yet, and restarts on
// every new tip.
#include <condition_variable>
#include <deque>
#include <future>
#include <set>

#include <learnchain/chain/time.hpp>
#include <learnchain/node/miner.hpp>

#include <gtest/gtest.h>

#include "consensus/cheating_worker.hpp"
#include "consensus/engine_fixture.hpp"

namespace learnchain::node {

using namespace consensus;
using namespace consensus::testing;
namespace {

using namespace std::chrono_literals;

// A node with a miner whose blocks land in a queue for the test to accept.
struct MiningNode {
    explicit MiningNode(const std::filesystem::path& dir, chain::Genesis genesis = test_genesis(),
                        std::uint32_t max_contributions = UINT32_MAX)
        : node(dir, std::move(genesis)) {
        MinerOptions options;
        options.max_contributions = max_contributions;
        options.progress_interval = 0ms;
        options.rng_seed = 7;
        set_mock_unix_time(node.next_time());
        miner = Miner::create(node.genesis, MinerChain{node.chainstate.get(), node.engine.get()},
                              MinerKeys{key_of(0x11), key_of(0x21)}, options,
                              [this](chain::Block block) {
                                  std::lock_guard lock(mutex);
                                  ready.push_back(std::move(block));
                                  cv.notify_all();
                              })
                    .value();
    }
    ~MiningNode() {
        miner.reset();
        set_mock_unix_time(0);
    }

    std::optional<chain::Block> wait_block(std::chrono::seconds timeout = 30s) {
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, timeout, [&] { return !ready.empty(); })) return std::nullopt;
        chain::Block block = std::move(ready.front());
        ready.pop_front();
        return block;
    }

    // Accepts under the chain lock, as the node does, and tells the miner.
    Result<chain::AcceptResult> accept(const chain::Block& block) {
        Result<chain::AcceptResult> result = make_error(ErrorKind::local, "unset");
        {
            LOCK(node.chainstate->cs_main);
            result = node.accept(block);
            set_mock_unix_time(node.next_time());
        }
        miner->on_new_tip();
        return result;
    }

    Node node;
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<chain::Block> ready;
    std::unique_ptr<Miner> miner;
};

TEST(Miner, ProposesABlockOnceTheWorkReachesD) {
    TempDir dir("miner-basic");
    MiningNode m(dir.path());
    m.miner->start();
    for (std::uint64_t height = 1; height <= 3; ++height) {
        auto block = m.wait_block();
        ASSERT_TRUE(block.has_value()) << m.miner->stats().last_error;
        EXPECT_EQ(block->header.height, height);
        EXPECT_GE(block->header.work, m.node.genesis.initial_work);
        auto accepted = m.accept(*block);
        ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
        EXPECT_TRUE(accepted->new_tip);
    }
    m.miner->stop();
    const auto stats = m.miner->stats();
    EXPECT_GE(stats.blocks, 3u);
    EXPECT_GE(stats.contributions, 3u);
    // D is one contribution on the test genesis: the whole coin goes to the worker's key.
    EXPECT_EQ(m.node.store->account(key_of(0x11).public_key()).total(), 3 * chain::coin);
}

// A genesis whose gradient bound its own honest work exceeds: the miner drops each such
// contribution instead of pooling it, so it never proposes a block that every node, itself
// first, refuses (before, it proposed the same refused block at every turn).
TEST(Miner, DropsItsOwnContributionThatBreaksAGenesisBound) {
    TempDir dir("miner-bound");
    chain::Genesis genesis = test_genesis();
    genesis.learning.max_gradient_norm = 1e-9;
    MiningNode m(dir.path(), genesis);
    m.miner->start();
    EXPECT_FALSE(m.wait_block(5s).has_value());
    m.miner->stop();
    const auto stats = m.miner->stats();
    EXPECT_EQ(stats.blocks, 0u);
    EXPECT_EQ(stats.contributions, 0u);
    EXPECT_NE(stats.last_error.find("bad-cert-gradient-norm"), std::string::npos)
        << stats.last_error;
}

TEST(Miner, PoolsVerifiedContributionsFromPeersAndSplitsTheReward) {
    TempDir dir("miner-peers");
    auto genesis = test_genesis();
    genesis.initial_work = 2 * genesis.initial_work;  // two contributions per block
    MiningNode m(dir.path(), genesis, /*max_contributions=*/1);

    // A peer's honest contribution, a forged one (blob altered), and a duplicate.
    const chain::SecretKey peer = key_of(0x12);
    auto honest = m.node.contribute(peer, 0).value();
    auto forged = m.node.contribute(peer, 1).value().work_item();
    forged.blob[40] ^= 0x01;
    // Each gets a verdict, in order: the node relays on ok and scores the sender on bad-*.
    std::mutex verdicts_mutex;
    std::vector<std::string> verdicts;
    const auto record = [&](const Status& verdict, bool) {
        std::lock_guard lock(verdicts_mutex);
        verdicts.push_back(verdict ? "ok" : verdict.error().reason);
    };
    ASSERT_TRUE(m.miner->submit_work_item(forged, record).ok());
    ASSERT_TRUE(m.miner->submit_work_item(honest.work_item(), record).ok());
    ASSERT_TRUE(m.miner->submit_work_item(honest.work_item(), record).ok());
    m.miner->start();

    auto block = m.wait_block();
    ASSERT_TRUE(block.has_value()) << m.miner->stats().last_error;
    EXPECT_EQ(block->work_items.size(), 2u);
    ASSERT_TRUE(m.accept(*block).ok());
    m.miner->stop();
    const auto stats = m.miner->stats();
    EXPECT_EQ(stats.received, 3u);
    EXPECT_EQ(stats.accepted, 1u);
    EXPECT_EQ(stats.rejected, 2u);
    EXPECT_EQ(verdicts, (std::vector<std::string>{"bad-cert-blob-hash", "ok", "miner-duplicate"}));
    EXPECT_EQ(m.node.store->account(peer.public_key()).total(), chain::coin / 2);
    EXPECT_EQ(m.node.store->account(key_of(0x11).public_key()).total(), chain::coin / 2);
}

// A block the node took on trust and a fraud proof then condemned: its honest contribution goes
// back to the pool and into the block that replaces it; the proven-false one does not, although
// a miner's sample of two micro-batches in eight would most likely have missed it.
TEST(Miner, ReturnsTheHonestWorkOfACondemnedBlockToThePool) {
    TempDir dir("miner-condemned");
    auto genesis = test_genesis();
    genesis.learning.micro_batches = 8;
    genesis.initial_work = 2 * chain::tokens_per_contribution(genesis.learning);
    MiningNode m(dir.path(), genesis, /*max_contributions=*/1);
    const Hash256 parent = m.node.store->tip().hash;
    auto honest = m.node.contribute(key_of(0x12), 0).value();
    const std::uint32_t faked[] = {3};
    auto* engine = m.node.engine.get();
    auto cheat = faked_contribution(engine->tracer(), engine->weights(), engine->dataset(),
                                    genesis.learning, parent, key_of(0x13), 0, faked)
                     .value();
    // Taken on trust: the node "verified" the cheat already, so the block connects.
    engine->remember_verified(parent, cheat.certificate.root());
    const chain::Block block =
        m.node.build({honest.work_item(), cheat.work_item()}, key_of(0x21)).value();
    ASSERT_TRUE(m.accept(block).ok());
    ASSERT_EQ(m.node.store->tip().hash, block.hash());

    const chain::FraudProof proof{
        block.hash(),
        encode_micro_batch_evidence(make_micro_batch_evidence(cheat.certificate, 3).value())};
    const auto proven = m.node.chainstate->judge_fraud_proof(proof);
    ASSERT_TRUE(proven.ok()) << proven.error().to_string();
    const auto left = m.node.chainstate->condemn_block(block.hash(), proven->broken);
    ASSERT_TRUE(left.ok()) << left.error().to_string();
    ASSERT_EQ(left->tip, parent);
    m.miner->on_new_tip();
    m.miner->return_work(*left);
    m.miner->start();

    auto replacement = m.wait_block();
    ASSERT_TRUE(replacement.has_value()) << m.miner->stats().last_error;
    m.miner->stop();
    EXPECT_EQ(replacement->header.parent, parent);
    std::set<chain::PublicKey> workers;
    for (const auto& item : replacement->work_items)
        workers.insert(decode_certificate(item.certificate).value().worker);
    EXPECT_EQ(workers,
              (std::set<chain::PublicKey>{key_of(0x11).public_key(), key_of(0x12).public_key()}));
    const auto stats = m.miner->stats();
    EXPECT_EQ(stats.accepted, 1u);
    EXPECT_EQ(stats.rejected, 1u);
    EXPECT_EQ(stats.last_error, proven->broken.to_string());
    ASSERT_TRUE(m.accept(*replacement).ok());
}

// Where a block fits fewer contributions than a pool holds, the proposal carries as many as
// fit (which meet D, PROTOCOL.md §L.6.3), and the miner computes no more of its own than fit.
TEST(Miner, ProposesOnlyWhatFitsIntoOneBlock) {
    TempDir dir("miner-fit");
    auto genesis = test_genesis();
    genesis.learning.model.width = 512;  // ~6.6M parameters: 26 MB blobs, 2 fit into 64 MiB
    genesis.learning.model.init_weights_hash =
        weights_hash(init_weights(genesis.learning.model).value());
    genesis.learning.max_per_worker = 8;
    ASSERT_EQ(chain::max_contributions_per_block(genesis.learning), 2u);
    genesis.initial_work = 2 * chain::tokens_per_contribution(genesis.learning);
    ASSERT_TRUE(chain::validate_genesis(genesis).ok());
    MiningNode m(dir.path(), genesis);

    // Three peers' contributions are verified and pooled together, before the miner's own.
    for (std::uint8_t peer = 0x31; peer < 0x34; ++peer)
        ASSERT_TRUE(m.miner->submit_work_item(m.node.contribute(key_of(peer), 0)->work_item()));
    m.miner->start();
    auto block = m.wait_block(120s);
    ASSERT_TRUE(block.has_value()) << m.miner->stats().last_error;
    EXPECT_EQ(block->work_items.size(), 2u);
    EXPECT_EQ(block->header.work, genesis.initial_work);
    ASSERT_TRUE(m.accept(*block).ok());
    m.miner->stop();
    EXPECT_EQ(m.miner->stats().accepted, 3u);
}

TEST(Miner, HoldsWorkForATipItDoesNotHaveYet) {
    TempDir dir("miner-future");
    auto genesis = test_genesis();
    genesis.initial_work = 2 * genesis.initial_work;
    MiningNode m(dir.path(), genesis, /*max_contributions=*/1);

    // Block 1 comes from elsewhere; a peer's contribution on it arrives before the block.
    TempDir dir2("miner-future-b");
    Node other(dir2.path(), genesis);
    auto a = other.contribute(key_of(0x13), 0).value();
    auto b = other.contribute(key_of(0x13), 1).value();
    const auto block1 = other.build({a.work_item(), b.work_item()}, key_of(0x22)).value();
    ASSERT_TRUE(other.accept(block1).ok());
    auto early = other.contribute(key_of(0x14), 0).value();

    m.miner->start();
    ASSERT_TRUE(m.miner->submit_work_item(early.work_item()).ok());
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(m.accept(block1).ok());

    // Work on a parent the chain has left behind waits, and is told so once a tip shows it.
    std::promise<std::string> stale_verdict;
    ASSERT_TRUE(m.miner
                    ->submit_work_item(a.work_item(),
                                       [&](const Status& verdict, bool) {
                                           stale_verdict.set_value(
                                               verdict ? "ok" : verdict.error().reason);
                                       })
                    .ok());

    auto block2 = m.wait_block();
    ASSERT_TRUE(block2.has_value()) << m.miner->stats().last_error;
    EXPECT_EQ(block2->header.parent, block1.hash());
    EXPECT_EQ(block2->work_items.size(), 2u);
    ASSERT_TRUE(m.accept(*block2).ok());
    auto told = stale_verdict.get_future();
    ASSERT_EQ(told.wait_for(30s), std::future_status::ready);
    EXPECT_EQ(told.get(), "miner-stale-work");
    m.miner->stop();
    EXPECT_EQ(m.node.store->account(key_of(0x14).public_key()).total(), chain::coin / 2);
}

TEST(Miner, StopsAndRestarts) {
    TempDir dir("miner-restart");
    MiningNode m(dir.path());
    m.miner->start();
    m.miner->stop();
    m.miner->stop();
    m.miner->start();
    auto block = m.wait_block();
    ASSERT_TRUE(block.has_value());
    ASSERT_TRUE(m.accept(*block).ok());
    m.miner->stop();
}

TEST(Miner, RefusesAnIncompleteChain) {
    auto genesis = test_genesis();
    auto created = Miner::create(genesis, MinerChain{}, MinerKeys{key_of(1), key_of(2)},
                                 MinerOptions{}, nullptr);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.error().reason, "miner-chain-invalid");
}

}  // namespace
}  // namespace learnchain::node
