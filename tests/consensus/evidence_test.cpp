// Certificate v2's two-level tree: one subtree per micro-batch under a compact signed header,
// so that one micro-batch's leaves and a short path prove what the worker claimed for it.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/merkle.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/verify.hpp>

#include <gtest/gtest.h>

#include "consensus/pol_fixture.hpp"

namespace learnchain::consensus {
namespace {

using testing::PolFixture;

class EvidenceTest : public ::testing::Test {
protected:
    PolFixture f;
    Certificate cert =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 1)
            .value()
            .certificate;

    [[nodiscard]] std::string reason_of(const MicroBatchEvidence& evidence) const {
        const Status status = check_micro_batch_evidence(evidence, f.plan, f.params);
        return status.ok() ? "accepted" : status.error().reason;
    }
};

TEST_F(EvidenceTest, EachMicroBatchIsOneSubtreeOfTheRoot) {
    std::vector<Hash256> roots;
    for (std::uint32_t b = 0; b < cert.micro_batches; ++b) {
        const auto leaves = cert.micro_batch_leaves(b);
        ASSERT_EQ(leaves.size(), f.plan.units_per_micro_batch());
        for (const Leaf& leaf : leaves) EXPECT_EQ(leaf.micro_batch, b);
        roots.push_back(micro_batch_root(b, cert.losses[b], leaves));
    }
    EXPECT_EQ(cert.merkle_root, chain::merkle_root(roots));

    // The loss is in its micro-batch's subtree, and the index is in the subtree's root: the
    // same leaves and loss under another index give another root.
    Certificate other_loss = cert;
    other_loss.losses[2] += 0.5f;
    EXPECT_NE(other_loss.compute_merkle_root(), cert.merkle_root);
    EXPECT_NE(micro_batch_root(0, cert.losses[1], cert.micro_batch_leaves(1)), roots[1]);

    // A body that does not split into micro_batches subtrees has no root.
    Certificate ragged = cert;
    ragged.leaves.pop_back();
    EXPECT_TRUE(ragged.compute_merkle_root().is_zero());
    EXPECT_TRUE(ragged.micro_batch_leaves(0).empty());
}

TEST_F(EvidenceTest, OneMicroBatchIsProvenAlone) {
    for (std::uint32_t b = 0; b < cert.micro_batches; ++b) {
        const auto evidence = make_micro_batch_evidence(cert, b).value();
        EXPECT_EQ(evidence.header, cert.header());
        EXPECT_EQ(evidence.loss, cert.losses[b]);
        EXPECT_EQ(reason_of(evidence), "accepted") << b;
        const auto bytes = encode_micro_batch_evidence(evidence);
        EXPECT_EQ(bytes.size(), chain::micro_batch_evidence_size(f.params));
        EXPECT_EQ(decode_micro_batch_evidence(bytes).value(), evidence);
    }
    EXPECT_EQ(make_micro_batch_evidence(cert, cert.micro_batches).error().reason,
              "bad-evidence-micro-batch");
}

TEST_F(EvidenceTest, EvidenceTheHeaderDoesNotCommitToIsRejectedWithItsReason) {
    const auto honest = make_micro_batch_evidence(cert, 1).value();
    const auto other = make_micro_batch_evidence(cert, 2).value();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<std::pair<std::function<void(MicroBatchEvidence&)>, std::string>> cases = {
        {[](auto& e) { e.leaves[3].sketch_in[0] += 1.0f; }, "bad-evidence-path"},
        {[](auto& e) { e.leaves[0].worker = e.leaves[1].worker; }, "accepted"},  // same key
        {[](auto& e) { e.loss += 0.25f; }, "bad-evidence-path"},
        {[](auto& e) { e.path.pop_back(); }, "bad-evidence-path"},
        {[](auto& e) { e.path.push_back(e.path.front()); }, "bad-evidence-path"},
        {[](auto& e) { std::swap(e.path.front(), e.path.back()); }, "bad-evidence-path"},
        // Another micro-batch's leaves and loss under this one's path.
        {[&](auto& e) {
             e.leaves = other.leaves;
             for (auto& leaf : e.leaves) leaf.micro_batch = 1;
             e.loss = other.loss;
         },
         "bad-evidence-path"},
        // Another micro-batch's whole evidence, claimed at this index.
        {[&](auto& e) { e.leaves = other.leaves, e.loss = other.loss; }, "bad-cert-leaf-shape"},
        {[&](auto& e) { e.micro_batch = 2; }, "bad-cert-leaf-shape"},
        {[](auto& e) { e.micro_batch = e.header.micro_batches; }, "bad-evidence-micro-batch"},
        {[](auto& e) { e.leaves.pop_back(); }, "bad-cert-leaf-shape"},
        {[](auto& e) { e.leaves[5].sketch_out.pop_back(); }, "bad-cert-leaf-shape"},
        {[&](auto& e) { e.loss = nan; }, "bad-cert-loss"},
        {[](auto& e) { e.header.merkle_root = Hash256{}; }, "bad-cert-signature"},
        {[](auto& e) { e.header.version = 1; }, "bad-cert-version"},
        {[&](auto& e) { e.header.n = f.params.max_per_worker; }, "bad-cert-n-range"},
        {[&](auto& e) {
             e.header.tokens += 1;
             e.header.sign(f.worker);
         },
         "bad-cert-shape"},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        MicroBatchEvidence e = honest;
        cases[i].first(e);
        EXPECT_EQ(reason_of(e), cases[i].second) << "case " << i;
    }
}

TEST_F(EvidenceTest, DecodingIsBoundedAndExact) {
    const auto bytes = encode_micro_batch_evidence(make_micro_batch_evidence(cert, 3).value());
    for (std::size_t cut : {std::size_t{0}, certificate_header_size, bytes.size() - 1})
        EXPECT_EQ(decode_micro_batch_evidence(std::span(bytes).first(cut)).error().reason,
                  "bad-evidence-decode");
    auto trailing = bytes;
    trailing.push_back(0);
    EXPECT_EQ(decode_micro_batch_evidence(trailing).error().reason, "bad-evidence-decode");
    // A leaf count the remaining bytes cannot hold fails before anything is allocated.
    auto lying = bytes;
    lying[certificate_header_size + 8 + 3] = 0x7f;
    EXPECT_EQ(decode_micro_batch_evidence(lying).error().reason, "bad-evidence-decode");
}

}  // namespace
}  // namespace learnchain::consensus
