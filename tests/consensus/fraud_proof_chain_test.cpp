// Fraud proofs through the chain: a node whose recomputation draws a faked micro-batch rejects
// the block and keeps the proof (WorkEngine::take_found_fraud_proofs); a node that sampled past
// it judges that proof on the block's parent model (Chainstate::judge_fraud_proof) and condemns
// the block and its descendants (condemn_block). A proof that does not hold, or names another
// certificate or an unknown block, changes nothing and says why.
#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/engine.hpp>

#include <gtest/gtest.h>

#include "consensus/cheating_worker.hpp"
#include "consensus/engine_fixture.hpp"

namespace learnchain::consensus::testing {
namespace {

class FraudProofChain : public ::testing::Test {
protected:
    TempDir proposer_dir{"fraud-proposer"};
    TempDir catcher_dir{"fraud-catcher"};
    TempDir follower_dir{"fraud-follower"};
    Node proposer{proposer_dir.path()};
    Node catcher{catcher_dir.path()};  // recomputes everything (VerifyPolicy{} is `all`)
    Node follower{follower_dir.path()};
    chain::SecretKey cheater = key_of(0x11);
    chain::SecretKey honest = key_of(0x12);

    // A block at height 1: the cheater's contribution with micro-batch 1 faked, and an honest
    // one. Every cheap check passes.
    chain::Block cheating_block() {
        const std::vector<std::uint32_t> faked{1};
        auto cheat = faked_contribution(proposer.engine->tracer(), proposer.engine->weights(),
                                        proposer.engine->dataset(), proposer.genesis.learning,
                                        proposer.store->tip().hash, cheater, 0, faked)
                         .value();
        auto fair = proposer.contribute(honest, 0).value();
        cheat_certificate = cheat.certificate;
        fair_certificate = fair.certificate;
        return proposer.build({cheat.work_item(), fair.work_item()}, cheater).value();
    }
    Certificate cheat_certificate;
    Certificate fair_certificate;

    static chain::FraudProof proof_of(const chain::Block& block, const Certificate& certificate,
                                      std::uint32_t micro_batch) {
        return {block.hash(), encode_micro_batch_evidence(
                                  make_micro_batch_evidence(certificate, micro_batch).value())};
    }
};

TEST_F(FraudProofChain, RecomputationThatDrawsTheFakeRejectsTheBlockAndKeepsTheProof) {
    const chain::Block block = cheating_block();
    const auto accepted = catcher.accept(block);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().reason, "bad-cert-unit-mismatch");
    EXPECT_NE(accepted.error().detail.find("micro-batch 1"), std::string::npos)
        << accepted.error().to_string();

    const auto found = catcher.engine->take_found_fraud_proofs();
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0], proof_of(block, cheat_certificate, 1));
    EXPECT_EQ(found[0].evidence.size(), chain::micro_batch_evidence_size(catcher.genesis.learning));
    EXPECT_TRUE(catcher.engine->take_found_fraud_proofs().empty()) << "taken once";
}

TEST_F(FraudProofChain, AFollowerThatSampledPastItIsProvenWrongAndLeavesTheBlock) {
    const chain::Block block = cheating_block();
    // The follower trusts both certificates (as if its samples missed the fake), so the block
    // connects, and a child builds on it.
    for (const auto& item : block.work_items)
        follower.engine->remember_verified(block.header.parent,
                                           chain::certificate_root(item.certificate));
    ASSERT_TRUE(follower.accept(block).ok());
    auto child_work = follower.contribute(honest, 1).value();
    const auto child = follower.build({child_work.work_item()}, honest).value();
    ASSERT_TRUE(follower.accept(child).ok());
    ASSERT_EQ(follower.store->height(), 2u);
    const Hash256 root_at_genesis = catcher.engine->model_root();

    auto& chainstate = *follower.chainstate;
    // A proof against the honest micro-batch does not hold.
    const auto unfounded = chainstate.judge_fraud_proof(proof_of(block, cheat_certificate, 0));
    ASSERT_FALSE(unfounded.ok());
    EXPECT_EQ(unfounded.error().reason, "fraud-proof-unfounded");
    EXPECT_EQ(unfounded.error().kind, ErrorKind::invalid);
    // Nor one against the honest certificate.
    const auto fair = chainstate.judge_fraud_proof(proof_of(block, fair_certificate, 1));
    ASSERT_FALSE(fair.ok());
    EXPECT_EQ(fair.error().reason, "fraud-proof-unfounded");
    // Evidence of a certificate the block does not carry.
    auto elsewhere = proof_of(block, cheat_certificate, 1);
    elsewhere.block = child.hash();
    const auto misplaced = chainstate.judge_fraud_proof(elsewhere);
    ASSERT_FALSE(misplaced.ok());
    EXPECT_EQ(misplaced.error().reason, "fraud-proof-not-in-block");
    // Bytes that are no evidence at all.
    auto junk = proof_of(block, cheat_certificate, 1);
    junk.evidence[3] ^= 0xff;  // the version
    const auto garbled = chainstate.judge_fraud_proof(junk);
    ASSERT_FALSE(garbled.ok());
    EXPECT_NE(garbled.error().kind, ErrorKind::local) << garbled.error().to_string();
    // A block nobody has.
    auto unknown = proof_of(block, cheat_certificate, 1);
    unknown.block = chain::sha256(std::string_view("no such block"));
    const auto missing = chainstate.judge_fraud_proof(unknown);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().reason, "fraud-proof-block-unknown");
    EXPECT_EQ(missing.error().kind, ErrorKind::missing);
    EXPECT_EQ(follower.store->height(), 2u) << "no failed judgment changes anything";

    // The true proof holds; condemning returns the node to the genesis.
    const auto proven = chainstate.judge_fraud_proof(proof_of(block, cheat_certificate, 1));
    ASSERT_TRUE(proven.ok()) << proven.error().to_string();
    EXPECT_EQ(proven->broken.reason, "bad-cert-unit-mismatch");
    EXPECT_EQ(proven->broken.kind, ErrorKind::fraud);
    EXPECT_NE(proven->broken.detail.find("fraud proof, micro-batch 1"), std::string::npos)
        << proven->broken.to_string();
    const auto condemned = chainstate.condemn_block(block.hash(), proven->broken);
    ASSERT_TRUE(condemned.ok()) << condemned.error().to_string();
    EXPECT_EQ(condemned->disconnected, (std::vector<Hash256>{child.hash(), block.hash()}));
    EXPECT_EQ(follower.store->height(), 0u);
    EXPECT_EQ(follower.engine->model_root(), root_at_genesis);
    EXPECT_TRUE(follower.store->record(block.hash())->invalid());
    EXPECT_TRUE(follower.store->record(child.hash())->invalid());

    // Judged again, it has nothing left to do; the block stays refused.
    const auto again = chainstate.judge_fraud_proof(proof_of(block, cheat_certificate, 1));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().reason, "fraud-proof-block-invalid");
    EXPECT_FALSE(follower.accept(block).ok());
}

}  // namespace
}  // namespace learnchain::consensus::testing
