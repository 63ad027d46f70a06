// Evidence in blocks (PROTOCOL.md §T.11.10): a block may carry the evidence of a fraud proof, a
// certificate its signer made false on an ancestor within the challenge window, and burns
// that key's immature rewards, half to the block's proposer. Each rule a block's evidence can
// break is rejected with its reason by a node that judges it on its own store; a certificate
// that evidence proved false fails every block that carries it.
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/consensus/engine.hpp>

#include <gtest/gtest.h>

#include "consensus/cheating_worker.hpp"
#include "consensus/engine_fixture.hpp"

namespace learnchain::consensus::testing {
namespace {

class EvidenceChain : public ::testing::Test {
protected:
    TempDir miner_dir{"evidence-miner"};
    TempDir judge_dir{"evidence-judge"};
    Node miner{miner_dir.path()};
    Node judge{judge_dir.path()};  // checks every block on its own store
    chain::SecretKey cheater = key_of(0x21);
    chain::SecretKey honest = key_of(0x22);
    chain::SecretKey proposer = key_of(0x23);

    void accept_on_both(const chain::Block& block) {
        const auto at_miner = miner.accept(block);
        ASSERT_TRUE(at_miner.ok()) << at_miner.error().to_string();
        const auto at_judge = judge.accept(block);
        ASSERT_TRUE(at_judge.ok()) << at_judge.error().to_string();
    }

    // Block 1: the cheater's honest contribution, so that its key holds an immature reward.
    void cheater_earns() {
        auto work = miner.contribute(cheater, 0).value();
        accept_on_both(miner.build({work.work_item()}, proposer).value());
        ASSERT_GT(miner.store->account(cheater.public_key()).immature_total(), 0u);
    }

    // A contribution of `worker` on the miner's tip with micro-batch 1 faked; its evidence.
    chain::Evidence faked_evidence(const chain::SecretKey& worker, std::uint32_t n,
                                   std::uint32_t micro_batch = 1) {
        const std::vector<std::uint32_t> faked{1};
        cheat = faked_contribution(miner.engine->tracer(), miner.engine->weights(),
                                   miner.engine->dataset(), miner.genesis.learning,
                                   miner.store->tip().hash, worker, n, faked)
                    .value()
                    .certificate;
        return {encode_micro_batch_evidence(make_micro_batch_evidence(cheat, micro_batch).value())};
    }
    Certificate cheat;

    // An honest child of the tip with `evidence` put in as is (the template would leave out
    // what does not hold), re-rooted and re-signed: it breaks only the evidence rules.
    chain::Block block_with(std::vector<chain::Evidence> evidence) {
        auto work = miner.contribute(honest, next_honest_n++).value();
        chain::Block block = miner.build({work.work_item()}, proposer).value();
        block.evidence = std::move(evidence);
        block.header.evidence_root = chain::compute_evidence_root(block.evidence);
        block.header.sign(proposer);
        return block;
    }
    std::uint32_t next_honest_n = 0;

    std::string judged(const chain::Block& block) {
        const auto accepted = judge.accept(block);
        if (accepted) return "accepted";
        EXPECT_EQ(accepted.error().kind, ErrorKind::invalid) << accepted.error().to_string();
        return accepted.error().reason;
    }
};

TEST_F(EvidenceChain, ABlockCarryingEvidenceBurnsTheCheatersImmatureRewardsHalfToItsProposer) {
    cheater_earns();
    const chain::Amount immature = miner.store->account(cheater.public_key()).immature_total();
    const chain::Amount proposer_before =
        miner.store->account(proposer.public_key()).immature_total();
    const chain::Amount supply_before = *miner.store->state().total_supply();
    const chain::Evidence evidence = faked_evidence(cheater, 1);

    auto work = miner.contribute(honest, 0).value();
    const chain::Block block = miner.build({work.work_item()}, proposer, {evidence}).value();
    ASSERT_EQ(block.evidence, std::vector<chain::Evidence>{evidence}) << "the template takes it";
    accept_on_both(block);

    // The judge checked the evidence on its own undo record of block 1's parent model.
    for (Node* node : {&miner, &judge}) {
        const chain::Account burned = node->store->account(cheater.public_key());
        EXPECT_EQ(burned.immature_total(), 0u);
        EXPECT_EQ(burned.balance, 0u);
        const chain::Account reporter = node->store->account(proposer.public_key());
        // Block 2's own payout to the proposer is the remainder of the split, plus half.
        EXPECT_GE(reporter.immature_total(), proposer_before + immature / 2);
        EXPECT_EQ(*node->store->state().total_supply(),
                  supply_before + chain::block_reward - (immature - immature / 2))
            << "one coin minted, the unpaid half burned";
    }
    EXPECT_EQ(miner.store->tip().header.state_root, judge.store->tip().header.state_root);

    // Carried again, the same proof burns what the key earned since: nothing yet.
    EXPECT_EQ(judged(block_with({evidence})), "bad-evidence-nothing-to-burn");
}

TEST_F(EvidenceChain, TheTemplateLeavesOutEvidenceThatWouldMakeTheBlockInvalid) {
    // The key has nothing to burn: the block would be invalid, so the template leaves it out.
    const chain::Evidence evidence = faked_evidence(cheater, 1);
    auto work = miner.contribute(honest, 0).value();
    const chain::Block block = miner.build({work.work_item()}, proposer, {evidence}).value();
    EXPECT_TRUE(block.evidence.empty());
    EXPECT_TRUE(judge.accept(block).ok());
}

TEST_F(EvidenceChain, EvidenceOfAnHonestMicroBatchIsUnfounded) {
    cheater_earns();
    // Micro-batch 0 of the cheat is honest: it recomputes within tau.
    EXPECT_EQ(judged(block_with({faked_evidence(cheater, 1, 0)})), "bad-evidence-unfounded");
    EXPECT_EQ(judge.store->height(), 1u);
}

TEST_F(EvidenceChain, EvidenceOfAKeyWithNothingImmatureIsRefused) {
    cheater_earns();
    const chain::SecretKey idle = key_of(0x24);
    EXPECT_EQ(judged(block_with({faked_evidence(idle, 0)})), "bad-evidence-nothing-to-burn");
}

TEST_F(EvidenceChain, TheSameCertificateTwiceIsADuplicate) {
    cheater_earns();
    const chain::Evidence once = faked_evidence(cheater, 1);
    // The same certificate through the same micro-batch, and through both of its micro-batches
    // (the test genesis has two), each faked.
    EXPECT_EQ(judged(block_with({once, once})), "bad-evidence-duplicate");
    const std::vector<std::uint32_t> faked{0, 1};
    const Certificate two =
        faked_contribution(miner.engine->tracer(), miner.engine->weights(), miner.engine->dataset(),
                           miner.genesis.learning, miner.store->tip().hash, cheater, 2, faked)
            .value()
            .certificate;
    const auto proof = [&](std::uint32_t b) {
        return chain::Evidence{
            encode_micro_batch_evidence(make_micro_batch_evidence(two, b).value())};
    };
    EXPECT_EQ(judged(block_with({proof(0), proof(1)})), "bad-evidence-duplicate");
}

TEST_F(EvidenceChain, EvidenceMustNameAnAncestorWithinTheChallengeWindow) {
    cheater_earns();
    // A certificate on a block this chain does not have.
    chain::Evidence elsewhere = faked_evidence(cheater, 1);
    MicroBatchEvidence moved = decode_micro_batch_evidence(elsewhere.proof).value();
    moved.header.parent = chain::sha256(std::string_view("another chain's block"));
    moved.header.sign(cheater);
    elsewhere.proof = encode_micro_batch_evidence(moved);
    EXPECT_EQ(judged(block_with({elsewhere})), "bad-evidence-parent");
}

TEST_F(EvidenceChain, EvidenceOlderThanTheWindowIsRefused) {
    chain::Genesis genesis = test_genesis();
    genesis.challenge_window = 1;
    genesis.reward_maturity = 4;
    TempDir dir("evidence-window");
    Node node(dir.path(), genesis);
    auto earned = node.contribute(cheater, 0).value();
    ASSERT_TRUE(node.accept(node.build({earned.work_item()}, proposer).value()).ok());
    // The cheat is on block 1; evidence for it is valid in block 2 and refused from block 3 on.
    const std::vector<std::uint32_t> faked{1};
    const Certificate cheat_on_1 =
        faked_contribution(node.engine->tracer(), node.engine->weights(), node.engine->dataset(),
                           genesis.learning, node.store->tip().hash, cheater, 1, faked)
            .value()
            .certificate;
    const chain::Evidence evidence{
        encode_micro_batch_evidence(make_micro_batch_evidence(cheat_on_1, 1).value())};
    auto filler = node.contribute(honest, 0).value();
    ASSERT_TRUE(node.accept(node.build({filler.work_item()}, proposer).value()).ok());
    auto late_work = node.contribute(honest, 1).value();
    chain::Block late = node.build({late_work.work_item()}, proposer).value();
    late.evidence = {evidence};
    late.header.evidence_root = chain::compute_evidence_root(late.evidence);
    late.header.sign(proposer);
    const auto accepted = node.accept(late);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().reason, "bad-evidence-parent") << accepted.error().to_string();
}

TEST_F(EvidenceChain, UndecodableEvidenceAndTooMuchOfItAreRefused) {
    cheater_earns();
    EXPECT_EQ(judged(block_with({chain::Evidence{{1, 2, 3}}})), "bad-evidence-decode");
    const chain::Evidence one = faked_evidence(cheater, 1);
    std::vector<chain::Evidence> many(chain::max_block_evidence + 1, one);
    EXPECT_EQ(judged(block_with(many)), "bad-block-too-much-evidence");
}

TEST_F(EvidenceChain, EvidenceChangedOnTheWayIsAMutatedBody) {
    cheater_earns();
    chain::Block block = block_with({faked_evidence(cheater, 1)});
    block.evidence[0].proof.back() ^= 1;  // the header still commits to the original
    const auto accepted = judge.accept(block);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().reason, "bad-block-evidence-root");
    EXPECT_EQ(accepted.error().kind, ErrorKind::mutated);
}

TEST_F(EvidenceChain, EvidenceJudgedAloneFailsEveryBlockThatCarriesTheCertificate) {
    cheater_earns();
    const chain::Evidence evidence = faked_evidence(cheater, 1);
    const auto claim = judge.chainstate->judge_evidence(evidence);
    ASSERT_TRUE(claim.ok()) << claim.error().to_string();
    EXPECT_EQ(claim->worker, cheater.public_key());

    // A block carrying the proven certificate fails at once, even where its every sample
    // would pass (a remembered pass does not outweigh a proof).
    auto with_blob =
        faked_contribution(miner.engine->tracer(), miner.engine->weights(), miner.engine->dataset(),
                           miner.genesis.learning, miner.store->tip().hash, cheater, 1,
                           std::vector<std::uint32_t>{1})
            .value();
    const chain::Block block = miner.build({with_blob.work_item()}, proposer).value();
    judge.engine->remember_verified(block.header.parent,
                                    chain::certificate_root(block.work_items[0].certificate));
    const auto accepted = judge.accept(block);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().reason, "bad-cert-unit-mismatch") << accepted.error().to_string();
    EXPECT_EQ(accepted.error().kind, ErrorKind::fraud);
}

TEST_F(EvidenceChain, EvidenceAloneIsJudgedOnlyForAKeyWithSomethingToBurn) {
    const auto claim = judge.chainstate->judge_evidence(faked_evidence(cheater, 0));
    ASSERT_FALSE(claim.ok());
    EXPECT_EQ(claim.error().reason, "evidence-nothing-to-burn");
    EXPECT_EQ(claim.error().kind, ErrorKind::policy);
}

}  // namespace
}  // namespace learnchain::consensus::testing
