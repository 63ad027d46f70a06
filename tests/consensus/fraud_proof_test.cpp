// Fraud proofs: one micro-batch's evidence, recomputed alone on the parent's model, proves a
// faked micro-batch and clears an honest one, with the arbiter deciding in the band near tau.
#include <string>
#include <vector>

#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/verify.hpp>

#include <gtest/gtest.h>

#include "consensus/pol_fixture.hpp"

namespace learnchain::consensus {
namespace {

using testing::PolFixture;

class FraudProofTest : public ::testing::Test {
protected:
    PolFixture f;
    static constexpr std::uint32_t n = 2;
    static constexpr std::uint32_t faked = 1;  // the micro-batch the cheater did not compute

    // A contribution whose micro-batch `faked` was traced on other data: every leaf of it is
    // plausible (a real trace) but not the work the seed asks for. All else is honest.
    Contribution cheated_contribution() {
        const Hash256 seed = contribution_seed(f.parent, f.worker.public_key(), n);
        auto traces = f.traces(seed, seed);
        traces[faked] = f.traces(testing::test_hash(0x77), seed)[faked];
        return assemble_contribution(f.plan, f.parent, n, f.worker, traces).value();
    }
    Certificate cheated() { return cheated_contribution().certificate; }
    Certificate honest() {
        return assemble_contribution(f.plan, f.parent, n, f.worker, f.honest_traces(n))
            .value()
            .certificate;
    }
    Result<ProvenFraud> check(const MicroBatchEvidence& evidence) {
        return check_fraud_proof(f.trainer, f.weights, f.dataset, f.plan, f.context(), evidence);
    }
    // The certificate with one FWD(0) input sketch of micro-batch b scaled by 1 + e (a relative
    // L2 distance of e from the honest one), resealed so that only recomputation can tell.
    Certificate nudged(std::uint32_t b, float e) {
        Certificate cert = honest();
        for (auto& leaf : cert.leaves)
            if (leaf.micro_batch == b && leaf.kind == UnitKind::forward && leaf.index == 0)
                for (float& x : leaf.sketch_in) x *= 1.0f + e;
        testing::reseal(cert, f.worker);
        return cert;
    }
};

TEST_F(FraudProofTest, AFakedMicroBatchIsProvenByItsEvidenceAlone) {
    const Contribution contribution = cheated_contribution();
    const Certificate& cert = contribution.certificate;
    // Every cheap check passes: only recomputing micro-batch 1 can tell.
    const auto checked = check_contribution(f.context(), f.plan, cert, contribution.blob());
    ASSERT_TRUE(checked.ok()) << checked.error().to_string();
    const auto proven = check(make_micro_batch_evidence(cert, faked).value());
    ASSERT_TRUE(proven.ok()) << proven.error().to_string();
    EXPECT_EQ(proven->broken.reason, "bad-cert-unit-mismatch");
    EXPECT_NE(proven->broken.detail.find("micro-batch 1 "), std::string::npos)
        << proven->broken.detail;
    EXPECT_FALSE(proven->arbitrated);  // far beyond the band: the fast path decides alone

    // The cheater's honest micro-batches prove nothing, and neither does honest work.
    for (std::uint32_t b : {0u, 2u, 3u}) {
        const auto unfounded = check(make_micro_batch_evidence(cert, b).value());
        ASSERT_FALSE(unfounded.ok()) << b;
        EXPECT_EQ(unfounded.error().reason, "fraud-proof-unfounded") << b;
        EXPECT_EQ(unfounded.error().kind, ErrorKind::invalid);
    }
}

TEST_F(FraudProofTest, AProofMustHoldBeforeAnythingIsRecomputed) {
    const auto evidence = make_micro_batch_evidence(cheated(), faked).value();
    // Another parent: the evidence is about another model.
    VerifyContext elsewhere = f.context();
    elsewhere.parent = testing::test_hash(0x01);
    EXPECT_EQ(check_fraud_proof(f.trainer, f.weights, f.dataset, f.plan, elsewhere, evidence)
                  .error()
                  .reason,
              "bad-cert-parent");
    // A prover who edits the leaves to make the work look faked breaks the path.
    auto forged = make_micro_batch_evidence(honest(), faked).value();
    forged.leaves[0].sketch_in[0] += 1.0f;
    EXPECT_EQ(check(forged).error().reason, "bad-evidence-path");
    // Evidence under a header nobody signed.
    auto unsigned_header = evidence;
    unsigned_header.header.loss += 1.0f;
    EXPECT_EQ(check(unsigned_header).error().reason, "bad-cert-signature");
}

TEST_F(FraudProofTest, InTheBandTheArbiterDecidesEveryProof) {
    const double tau = f.params.tolerance;
    // 0.5 tau: above tau_lo, so the fast path cannot clear it; the arbiter finds it honest.
    const auto below = check(make_micro_batch_evidence(nudged(1, 0.5f * tau), 1).value());
    ASSERT_FALSE(below.ok());
    EXPECT_EQ(below.error().reason, "fraud-proof-unfounded");
    EXPECT_TRUE(below.error().detail.ends_with("(reference arbiter)")) << below.error().detail;
    // 1.5 tau: below 2 tau - tau_lo, so the fast path cannot condemn it; the arbiter does.
    const auto above = check(make_micro_batch_evidence(nudged(1, 1.5f * tau), 1).value());
    ASSERT_TRUE(above.ok()) << above.error().to_string();
    EXPECT_EQ(above->broken.reason, "bad-cert-unit-mismatch");
    EXPECT_TRUE(above->arbitrated);
    EXPECT_TRUE(above->broken.detail.ends_with("(reference arbiter)")) << above->broken.detail;
    // 3 tau: beyond the band, the fast path condemns it alone.
    const auto far = check(make_micro_batch_evidence(nudged(1, 3.0f * tau), 1).value());
    ASSERT_TRUE(far.ok()) << far.error().to_string();
    EXPECT_FALSE(far->arbitrated);
}

}  // namespace
}  // namespace learnchain::consensus
