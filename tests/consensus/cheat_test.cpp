// One test per way to cheat: each dishonest contribution is rejected with its own reason, and
// each is built so that every cheaper check passes (hashes, roots and signatures re-derived),
// leaving only the check under test to catch it.
#include <cmath>
#include <iostream>
#include <limits>

#include <learnchain/consensus/sketch.hpp>
#include <learnchain/consensus/verify.hpp>

#include <gtest/gtest.h>

#include "consensus/pol_fixture.hpp"

namespace learnchain::consensus {
namespace {

using testing::PolFixture;

class Cheat : public ::testing::Test {
protected:
    PolFixture f;

    Contribution honest(std::uint32_t n = 0) {
        return compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker,
                                    n)
            .value();
    }
    Result<CheckedContribution> cheap(const Certificate& cert,
                                      const std::vector<std::uint8_t>& blob) {
        return check_contribution(f.context(), f.plan, cert, blob);
    }
    Result<VerifiedContribution> verify(const Certificate& cert,
                                        const std::vector<std::uint8_t>& blob,
                                        const VerifyPolicy& policy = {},
                                        std::uint64_t rng_seed = 1) {
        SplitMix64 rng(rng_seed);
        return verify_contribution(f.trainer, f.weights, f.dataset, f.context(),
                                   {encode_certificate(cert), blob}, policy, rng);
    }
    static void expect_reason(const Status& s, const std::string& reason,
                              const std::string& detail_part = {}) {
        ASSERT_FALSE(s.ok()) << "accepted; expected " << reason;
        EXPECT_EQ(s.error().reason, reason) << s.error().to_string();
        EXPECT_NE(s.error().detail.find(detail_part), std::string::npos) << s.error().to_string();
        std::cout << "  rejected: " << s.error().to_string() << "\n";
    }
    template <class T>
    static Status status(const Result<T>& r) {
        return r.ok() ? ok_status() : Status(r.error());
    }
};

std::vector<float> perturbed(const std::vector<float>& g, double relative, std::uint64_t seed) {
    double norm = 0;
    for (float x : g) norm += double(x) * x;
    const double per = relative * std::sqrt(norm / double(g.size()));
    SplitMix64 rng(seed);
    auto out = g;
    for (auto& x : out) x += static_cast<float>(rng.below(2) ? per : -per);
    return out;
}

TEST_F(Cheat, GradientPerturbedBeyondTau) {
    // The strongest version: new blob, new hash, and BWD leaves re-sketched under the seed the
    // new hash implies, from the honest micro-batch gradients. Only the sketch check sees it.
    const auto traces = f.honest_traces(0);
    auto c = assemble_contribution(f.plan, f.parent, 0, f.worker, traces).value();
    auto blob = testing::replace_blob(c.certificate, perturbed(c.gradient, 0.05, 9), f.worker);
    testing::resketch_backward(c.certificate, f.plan, traces);
    testing::reseal(c.certificate, f.worker);
    expect_reason(status(cheap(c.certificate, blob)), "bad-cert-gradient-sketch", "blob sketch");

    // Without re-sketching: the seed moved with the hash, so the sketches no longer match.
    auto lazy = assemble_contribution(f.plan, f.parent, 0, f.worker, traces).value();
    blob = testing::replace_blob(lazy.certificate, perturbed(lazy.gradient, 0.05, 9), f.worker);
    expect_reason(status(cheap(lazy.certificate, blob)), "bad-cert-gradient-sketch");
}

TEST_F(Cheat, OneUnitSketchPerturbed) {
    // Leaf and root re-derived and signed: the cheap checks pass, recomputation does not.
    auto c = honest();
    auto& leaf = c.certificate.leaves[2 * f.plan.units_per_micro_batch() + 5];  // ATT(1), mb 2
    ASSERT_EQ(leaf.kind, UnitKind::attention);
    ASSERT_EQ(leaf.index, 1u);
    leaf.sketch_out[3] += 0.1f * std::fabs(leaf.sketch_out[3]) + 1e-3f;
    testing::reseal(c.certificate, f.worker);
    ASSERT_TRUE(cheap(c.certificate, c.blob()).ok());
    expect_reason(status(verify(c.certificate, c.blob())), "bad-cert-unit-mismatch",
                  "micro-batch 2 ATT(1) sketch_out: relative L2");
}

TEST_F(Cheat, OneMicroBatchFaked) {
    // Micro-batch 1 trained on data of the worker's choosing (another seed), sketched under
    // the right seeds; the other three honest. The blob is the mean of what was computed, so
    // every cheap check passes.
    const Hash256 seed = contribution_seed(f.parent, f.worker.public_key(), 0);
    auto traces = f.honest_traces(0);
    auto fake = f.traces(testing::test_hash(0x99), seed);
    traces[1] = std::move(fake[1]);
    const auto c = assemble_contribution(f.plan, f.parent, 0, f.worker, traces).value();
    ASSERT_TRUE(cheap(c.certificate, c.blob()).ok());

    // `all` always catches it.
    expect_reason(status(verify(c.certificate, c.blob())), "bad-cert-unit-mismatch",
                  "micro-batch 1 FWD(0) sketch_in");

    // sample:1 recomputes one micro-batch of four, chosen by the verifier's local rng:
    // caught exactly when the faked one is drawn.
    const VerifyPolicy quarter = VerifyPolicy::sample(1);
    int caught = 0, missed = 0;
    for (std::uint64_t rng_seed = 0; rng_seed < 16; ++rng_seed) {
        SplitMix64 rng(rng_seed);
        const bool drawn = choose_micro_batches(quarter, 4, rng) == std::vector<std::uint32_t>{1};
        const auto v = verify(c.certificate, c.blob(), quarter, rng_seed);
        EXPECT_EQ(v.ok(), !drawn) << "rng seed " << rng_seed;
        if (!v.ok()) {
            EXPECT_EQ(v.error().reason, "bad-cert-unit-mismatch");
        }
        (drawn ? caught : missed) += 1;
    }
    std::cout << "  sample:1 over 16 verifier seeds: caught " << caught << ", missed " << missed
              << " (the documented risk of sampling)\n";
    EXPECT_GT(caught, 0);
    EXPECT_GT(missed, 0);
}

double l2(const std::vector<float>& v) {
    double sum = 0;
    for (const float x : v) sum += static_cast<double>(x) * x;
    return std::sqrt(sum);
}

TEST_F(Cheat, OneMicroBatchCarriesAHugeGradient) {
    // Under sampling, a micro-batch that is not drawn is bound only by the cheap checks. Here
    // micro-batch 1 claims its honest gradient plus a spike on two coordinates, and the blob is
    // the mean of what is claimed, so the blob norm (check 14) and the blob identity (check 15)
    // pass; only the per-micro-batch bound on the BWD sketches sees it.
    auto traces = f.honest_traces(0);
    double honest_max = 0;
    for (const auto& t : traces) honest_max = std::max(honest_max, l2(t.gradient));
    const double bound = 4 * honest_max;
    f.params.max_micro_batch_gradient_norm = bound;

    const auto spiked = [&](double norm) {
        auto faked = traces;
        faked[1].gradient[100] += static_cast<float>(norm / std::sqrt(2.0));
        faked[1].gradient[20000] -= static_cast<float>(norm / std::sqrt(2.0));
        return assemble_contribution(f.plan, f.parent, 0, f.worker, faked).value();
    };
    const auto honest_one = assemble_contribution(f.plan, f.parent, 0, f.worker, traces).value();
    ASSERT_TRUE(cheap(honest_one.certificate, honest_one.blob()).ok());

    const auto huge = spiked(3 * bound);
    ASSERT_LT(l2(huge.gradient), f.params.max_gradient_norm);
    expect_reason(status(cheap(huge.certificate, huge.blob())),
                  "bad-cert-micro-batch-gradient-norm", "micro-batch 1 BWD sketches");
    // Sampling that misses micro-batch 1 no longer matters: the cheap checks run first.
    expect_reason(status(verify(huge.certificate, huge.blob(), VerifyPolicy::sample(1))),
                  "bad-cert-micro-batch-gradient-norm");

    // A spike within the bound passes the cheap checks: the blob it moves by its 1/M share of
    // at most the bound is the harm one undrawn micro-batch can do (PROTOCOL.md §T.7.2).
    const auto small = spiked(bound / 2);
    EXPECT_TRUE(cheap(small.certificate, small.blob()).ok());
}

TEST_F(Cheat, BatchOfAnotherN) {
    // Computed on the batches of n = 1, labelled n = 0, with every sketch seed of n = 0:
    // the cheap checks pass, the data does not.
    const Hash256 seed0 = contribution_seed(f.parent, f.worker.public_key(), 0);
    const Hash256 seed1 = contribution_seed(f.parent, f.worker.public_key(), 1);
    const auto c =
        assemble_contribution(f.plan, f.parent, 0, f.worker, f.traces(seed1, seed0)).value();
    ASSERT_TRUE(cheap(c.certificate, c.blob()).ok());
    expect_reason(status(verify(c.certificate, c.blob(), VerifyPolicy::sample(1))),
                  "bad-cert-unit-mismatch", "FWD(0) sketch_in");

    // Relabelling an honest n = 1 certificate as n = 0 moves every seed: caught cheaply.
    auto relabelled = honest(1);
    relabelled.certificate.n = 0;
    testing::reseal(relabelled.certificate, f.worker);
    expect_reason(status(cheap(relabelled.certificate, relabelled.blob())),
                  "bad-cert-gradient-sketch");
}

TEST_F(Cheat, AnotherWorkersCertificateResigned) {
    // The thief takes the certificate and blob, puts its key on every leaf and signs. The seed
    // depends on the worker key, so the gradient sketches no longer match the blob.
    auto c = honest();
    const auto thief = testing::test_key(0x77);
    for (auto& leaf : c.certificate.leaves) leaf.worker = thief.public_key();
    testing::reseal(c.certificate, thief);
    ASSERT_TRUE(c.certificate.signature_valid());
    expect_reason(status(cheap(c.certificate, c.blob())), "bad-cert-gradient-sketch");
}

TEST_F(Cheat, WrongParent) {
    auto c = honest();
    PolFixture other;
    other.parent = testing::test_hash(0xcd);
    expect_reason(status(check_contribution(other.context(), f.plan, c.certificate, c.blob())),
                  "bad-cert-parent");
    // Relabelled to the expected parent and re-signed: the seeds moved.
    c.certificate.parent = other.parent;
    testing::reseal(c.certificate, f.worker);
    expect_reason(status(check_contribution(other.context(), f.plan, c.certificate, c.blob())),
                  "bad-cert-gradient-sketch");
}

TEST_F(Cheat, NanOrInfInBlob) {
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
          -std::numeric_limits<float>::infinity()}) {
        auto c = honest();
        auto g = c.gradient;
        g[1234] = bad;
        const auto blob = testing::replace_blob(c.certificate, g, f.worker);
        expect_reason(status(cheap(c.certificate, blob)), "bad-cert-blob-nonfinite",
                      "element 1234");
    }
}

TEST_F(Cheat, GradientNormAboveBound) {
    auto c = honest();
    f.params.max_gradient_norm = 1e-3;
    expect_reason(status(cheap(c.certificate, c.blob())), "bad-cert-gradient-norm");
}

TEST_F(Cheat, DuplicateWorkerAndN) {
    const auto c = honest(0);
    const auto other_n = honest(1);
    EXPECT_TRUE(check_distinct(std::vector{c.certificate, other_n.certificate}).ok());
    expect_reason(check_distinct(std::vector{c.certificate, other_n.certificate, c.certificate}),
                  "bad-cert-duplicate", "work item 2");
    // In a block: the same contribution twice (also with a fresh signature).
    auto resigned = c;
    resigned.certificate.sign(f.worker);
    SplitMix64 rng(1);
    const std::vector<chain::WorkItem> items = {c.work_item(), resigned.work_item()};
    const auto v =
        verify_work_items(f.trainer, f.weights, f.dataset, f.context(), items, VerifyPolicy{}, rng);
    expect_reason(status(v), "bad-cert-duplicate");
}

TEST_F(Cheat, NOutOfRange) {
    const auto c = honest(f.params.max_per_worker);
    expect_reason(status(cheap(c.certificate, c.blob())), "bad-cert-n-range", "n 4 >= 4");
}

TEST_F(Cheat, BadSignature) {
    auto c = honest();
    auto sig = c.certificate.signature.bytes();
    sig[5] ^= 1;
    c.certificate.signature = Signature(sig);
    expect_reason(status(cheap(c.certificate, c.blob())), "bad-cert-signature");
    // A field changed after signing.
    auto changed = honest();
    changed.certificate.loss += 1.0f;
    expect_reason(status(cheap(changed.certificate, changed.blob())), "bad-cert-signature");
}

TEST_F(Cheat, BadMerkleRoot) {
    auto c = honest();
    c.certificate.leaves[7].sketch_in[0] += 1.0f;
    c.certificate.sign(f.worker);  // signed, but the root still commits to the old leaves
    expect_reason(status(cheap(c.certificate, c.blob())), "bad-cert-merkle-root");
}

TEST_F(Cheat, TruncatedBlobOrCertificate) {
    auto c = honest();
    auto blob = c.blob();
    blob.pop_back();
    // A blob cut on the way no longer matches the certificate: the body's fault, not the
    // certificate's (mutated, checked before anything else).
    const auto cut = cheap(c.certificate, blob);
    expect_reason(status(cut), "bad-cert-blob-hash");
    EXPECT_EQ(cut.error().kind, ErrorKind::mutated);
    // A certificate that commits to a blob of the wrong size is the worker's own fault.
    c.certificate.gradient_hash = gradient_hash(blob);
    c.certificate.sign(f.worker);
    const auto committed = cheap(c.certificate, blob);
    expect_reason(status(committed), "bad-cert-blob-size");
    EXPECT_EQ(committed.error().kind, ErrorKind::invalid);
    const auto bytes = encode_certificate(c.certificate);
    expect_reason(status(check_contribution(f.context(), f.plan,
                                            std::span(bytes).first(bytes.size() - 1), c.blob())),
                  "bad-cert-decode");
    // A blob swapped for another of the right size: its hash gives it away.
    auto other = honest(1).blob();
    expect_reason(status(cheap(c.certificate, other)), "bad-cert-blob-hash");
}

TEST_F(Cheat, WrongShape) {
    auto c = honest();
    c.certificate.leaves.pop_back();
    testing::reseal(c.certificate, f.worker);
    expect_reason(status(cheap(c.certificate, c.blob())), "bad-cert-shape");
    auto swapped = honest();
    std::swap(swapped.certificate.leaves[0], swapped.certificate.leaves[1]);
    testing::reseal(swapped.certificate, f.worker);
    expect_reason(status(cheap(swapped.certificate, swapped.blob())), "bad-cert-leaf-shape",
                  "leaf 0");
    auto fewer_tokens = honest();
    fewer_tokens.certificate.tokens += 1;  // claiming more work than the batches hold
    testing::reseal(fewer_tokens.certificate, f.worker);
    expect_reason(status(cheap(fewer_tokens.certificate, fewer_tokens.blob())), "bad-cert-shape");
}

TEST_F(Cheat, LossMisstated) {
    // A claimed loss that is not what the batches give: the mean is checked cheaply, each
    // micro-batch's loss on recomputation.
    auto c = honest();
    c.certificate.losses[3] *= 0.5f;
    c.certificate.loss = mean_loss(c.certificate.losses);
    testing::reseal(c.certificate, f.worker);
    ASSERT_TRUE(cheap(c.certificate, c.blob()).ok());
    expect_reason(status(verify(c.certificate, c.blob())), "bad-cert-loss-mismatch",
                  "micro-batch 3 loss");
    auto d = honest();
    d.certificate.loss *= 0.5f;
    testing::reseal(d.certificate, f.worker);
    expect_reason(status(cheap(d.certificate, d.blob())), "bad-cert-loss");
}

}  // namespace
}  // namespace learnchain::consensus
