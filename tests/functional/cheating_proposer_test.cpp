// A cheating proposer on a network of one honest miner and sampling followers. The cheater
// follows the honest chain in-process (a ChainStore and PolWorkEngine of its own) and builds on
// its tip a block whose contribution fakes 7 of 8 micro-batches with plausible leaves
// (consensus/cheating_worker.hpp); it offers such blocks to follower F1 until F1's one sampled
// micro-batch per certificate misses the fakes. F1 relays the block; whichever node draws a
// fake rejects it and sends its fraud proof; the proof reaches F1 through honest relays, F1
// condemns the block, and no node ends on it. The cheating worker key had earned a reward
// honestly first; the honest miner's next block carries the proof as evidence, which burns that
// reward on every node, and every node follows the valid chain.
#include <learnchain/chain/address.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/p2p/messages.hpp>

#include "consensus/cheating_worker.hpp"
#include "consensus/engine_fixture.hpp"
#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

constexpr std::uint32_t micro_batches = 8;

int proofs_found(Daemon& node) {
    return node.must("getblockchaininfo")["fraud_proofs"]["found"].get<int>();
}

TEST_F(Functional, ACheatersBlockIsProvenInvalidAndEveryNodeLeavesIt) {
    // 8 micro-batches of 2 x 32 tokens: one contribution is the required work.
    edit_genesis({{"learning", {{"micro_batches", micro_batches}}}, {"initial_work", 512}});
    ASSERT_FALSE(HasFatalFailure());
    Daemon& a = daemon("a");
    a.start({"--mine"});
    std::vector<Daemon*> followers;
    for (const char* name : {"f1", "f2", "f3"}) {
        Daemon& f = daemon(name);
        f.start({"--verify=sample", "--connect=" + a.endpoint()});
        followers.push_back(&f);
    }
    ASSERT_TRUE(eventually([&] { return a.height() >= 2; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, followers[0], followers[1], followers[2]});
        },
        30s));

    // The cheater's copy of the chain, from A's blocks.
    consensus::testing::TempDir dir("cheater");
    consensus::testing::Node cheater(dir.path(), genesis_);
    for (std::uint64_t h = 1; h <= a.height(); ++h) {
        const auto accepted = cheater.accept(a.block_at(h));
        ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    }
    ASSERT_EQ(cheater.store->tip().hash.hex(), a.tip());

    // First the cheating worker key earns honestly: a block of its contribution, which A takes.
    const chain::SecretKey key = consensus::testing::key_of(0x66);  // the proposer's
    const chain::SecretKey first_worker = consensus::testing::key_of(0x70);
    const std::string cheater_address = chain::encode_address(first_worker.public_key());
    {
        const auto earned = cheater.contribute(first_worker, 0).value();
        const chain::Block block = cheater.build({earned.work_item()}, key).value();
        offer_block(a, "127.0.0.9", block, [&] { return a.tip() == block.hash().hex(); });
        ASSERT_EQ(a.tip(), block.hash().hex());
        ASSERT_TRUE(cheater.accept(block).ok());
    }
    const std::uint64_t height = a.height();
    const std::string honest_tip = a.tip();
    for (Daemon* f : followers)
        ASSERT_TRUE(eventually([&] { return f->tip() == honest_tip; }, 30s)) << f->name();
    const json before_burn = a.must("getaccount", json::array({cheater_address}));
    ASSERT_GT(before_burn["immature_units"].get<std::uint64_t>(), 0u) << before_burn.dump();
    const auto required =
        chain::required_work_for_child(*cheater.store, cheater.store->tip(), genesis_).value();
    ASSERT_LE(required, chain::tokens_per_contribution(genesis_.learning)) << "one contribution";

    // Cheating blocks until F1 takes one: each is caught with probability 7/8. The first three
    // are signed by the key that earned.
    Daemon& f1 = *followers[0];
    const std::vector<std::uint32_t> faked{0, 1, 2, 3, 4, 5, 6};
    std::optional<chain::Block> taken;
    int offered = 0;
    for (std::uint32_t n = 1; n < 60 && !taken; ++n) {
        // A worker's n stays below max_per_worker (4): past that, another worker key.
        const chain::SecretKey worker =
            consensus::testing::key_of(static_cast<std::uint8_t>(0x70 + n / 4));
        auto* engine = cheater.engine.get();
        const auto cheat = consensus::testing::faked_contribution(
                               engine->tracer(), engine->weights(), engine->dataset(),
                               genesis_.learning, cheater.store->tip().hash, worker, n % 4, faked)
                               .value();
        const chain::Block block = cheater.build({cheat.work_item()}, key).value();
        const int proofs_before = proofs_found(f1);
        offer_block(f1, "127.0.0." + std::to_string(10 + n), block, [&] {
            return f1.tip() == block.hash().hex() || proofs_found(f1) > proofs_before;
        });
        ++offered;
        if (f1.tip() == block.hash().hex())
            taken = block;
        else
            ASSERT_EQ(proofs_found(f1), proofs_before + 1)
                << "F1 neither took block " << block.hash().hex() << " nor proved it invalid";
    }
    ASSERT_TRUE(taken) << "F1 caught all " << offered << " cheating blocks";
    std::cout << "  F1 caught " << offered - 1 << " cheating blocks before one got past it\n";

    // Relayed by F1, caught by another sampler, proven to F1: nobody ends on the block.
    const std::vector<Daemon*> everyone{&a, followers[0], followers[1], followers[2]};
    for (Daemon* node : everyone)
        EXPECT_TRUE(eventually([&] { return node->tip() == honest_tip; }, 60s))
            << node->name() << " stays on " << node->tip();
    const json f1_proofs = f1.must("getblockchaininfo")["fraud_proofs"];
    EXPECT_EQ(f1_proofs["blocks_condemned"], 1) << f1_proofs.dump();
    EXPECT_EQ(f1_proofs["proven"], 1) << f1_proofs.dump();
    int found = 0;
    for (Daemon* node : everyone) found += proofs_found(*node);
    EXPECT_GE(found, offered) << "each cheating block was proven by the node that caught it";
    // The block stays invalid where it was accepted: offered again, F1 refuses it.
    const json header = f1.must("getblockheader", json::array({taken->hash().hex()}));
    EXPECT_EQ(header["status"], "invalid") << header.dump();

    // The honest miner extends the valid chain, its next block carrying the proof of a cheat by
    // the key that earned (whichever node caught one), and every node follows it.
    ASSERT_TRUE(a.call("setmining", json::array({true})));
    ASSERT_TRUE(eventually([&] { return a.height() >= height + 2; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    EXPECT_TRUE(eventually(
        [&] {
            return converged({&a, followers[0], followers[1], followers[2]});
        },
        30s));
    const json evidence_block =
        a.must("getblock", json::array({a.must("getblockhash", json::array({height + 1}))}));
    ASSERT_EQ(evidence_block["evidence"].size(), 1u) << evidence_block.dump();
    EXPECT_EQ(evidence_block["evidence"][0]["cheater"], cheater_address);
    for (Daemon* node : everyone) {
        const json account = node->must("getaccount", json::array({cheater_address}));
        EXPECT_EQ(account["immature_units"], 0) << node->name() << ": " << account.dump();
        EXPECT_EQ(account["balance_units"], 0) << node->name();
    }
    for (Daemon* node : everyone) EXPECT_FALSE(is_banned(*node, "127.0.0.1")) << node->name();
}

}  // namespace
}  // namespace learnchain::functional
