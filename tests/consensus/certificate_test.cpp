// Contributions as the worker builds them: seeds, units, leaves, the certificate encoding and
// signature, the blob, and the linearity identity that binds the blob to the BWD leaves.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/sketch.hpp>

#include <gtest/gtest.h>

#include "consensus/pol_fixture.hpp"

namespace learnchain::consensus {
namespace {

using testing::PolFixture;

TEST(Units, SeedsAreDistinctPerInput) {
    const auto pk = testing::test_key(1).public_key();
    const auto a = contribution_seed(testing::test_hash(2), pk, 0);
    EXPECT_NE(a, contribution_seed(testing::test_hash(2), pk, 1));
    EXPECT_NE(a, contribution_seed(testing::test_hash(3), pk, 0));
    EXPECT_NE(a, contribution_seed(testing::test_hash(2), testing::test_key(2).public_key(), 0));
    // The preimage is parent || pk || u32le(n) under the seed tag.
    const Hash256 parent = testing::test_hash(2);
    std::vector<std::uint8_t> pre(parent.span().begin(), parent.span().end());
    pre.insert(pre.end(), pk.span().begin(), pk.span().end());
    pre.insert(pre.end(), {0, 0, 0, 0});
    EXPECT_EQ(a, chain::tagged_hash(chain::tag::seed, pre));
    const auto s = activation_sketch_seed(a, UnitKind::forward, 1, SketchSlot::input);
    EXPECT_NE(s, activation_sketch_seed(a, UnitKind::forward, 1, SketchSlot::output));
    EXPECT_NE(s, activation_sketch_seed(a, UnitKind::backward, 1, SketchSlot::input));
    EXPECT_NE(s, activation_sketch_seed(a, UnitKind::forward, 2, SketchSlot::input));
}

TEST(Units, SketchPatternMatchesSketch) {
    std::vector<float> v(10007);
    SplitMix64 rng(4);
    for (auto& x : v) x = static_cast<float>(static_cast<std::int64_t>(rng.next() >> 40)) * 1e-7f;
    for (std::uint32_t rows : {64u, 48u, 1u}) {
        const Hash256 seed = testing::test_hash(9);
        const SketchPattern pattern(seed, rows, 123, v.size());
        EXPECT_EQ(pattern.sketch(v), sketch(v, seed, rows, 123)) << rows;  // bit-equal
        std::vector<double> acc(rows, 0.0);
        pattern.accumulate(std::span<const float>(v).first(5000), acc, 0);
        pattern.accumulate(std::span<const float>(v).subspan(5000), acc, 5000);
        EXPECT_EQ(std::vector<float>(acc.begin(), acc.end()), sketch(v, seed, rows, 123));
    }
}

TEST(Units, PlanCountsAndOrder) {
    PolFixture f;
    const auto& plan = f.plan;
    EXPECT_EQ(plan.sections().size(), 4u);
    EXPECT_EQ(plan.attention_units(), 4u);  // 2 layers x 2 groups
    EXPECT_EQ(plan.units_per_micro_batch(), 12u);
    EXPECT_EQ(plan.leaf_count(), 48u);
    EXPECT_EQ(plan.unit(0), std::make_pair(UnitKind::forward, 0u));
    EXPECT_EQ(plan.unit(4), std::make_pair(UnitKind::attention, 0u));
    EXPECT_EQ(plan.unit(8), std::make_pair(UnitKind::backward, 0u));
    EXPECT_EQ(plan.unit(11), std::make_pair(UnitKind::backward, 3u));
    auto bad = f.params;
    bad.head_groups = 3;
    EXPECT_EQ(UnitPlan::create(f.weights.layout, bad).error().reason, "pol-params-invalid");
}

TEST(Trainer, TraceGradientEqualsPlainGradient) {
    PolFixture f;
    const Hash256 seed = contribution_seed(f.parent, f.worker.public_key(), 0);
    const auto batch = make_micro_batch(f.dataset, seed, 0, 4, 16).value();
    const auto plain = f.trainer.compute_gradient(f.weights, batch).value();
    const auto traced = f.trainer.trace(f.weights, batch, TraceSpec{seed, &f.plan}).value();
    EXPECT_EQ(traced.gradient, plain.gradient);  // instrumentation changes no bits
    EXPECT_EQ(traced.loss, plain.loss);
    EXPECT_EQ(traced.tokens, 64u);
    ASSERT_EQ(traced.forward.size(), 4u);
    ASSERT_EQ(traced.attention.size(), 4u);
    ASSERT_EQ(traced.backward.size(), 4u);
    for (const auto& p : traced.forward) {
        EXPECT_EQ(p.in.size(), 64u);
        EXPECT_EQ(p.out.size(), 64u);
    }
    // The first section starts at the embedding: its input is the token ids.
    std::vector<float> ids;
    for (std::uint32_t j = 0; j < batch.size; ++j)
        for (std::uint32_t t = 0; t < batch.context; ++t) ids.push_back(batch.sequence(j)[t]);
    EXPECT_EQ(
        traced.forward[0].in,
        sketch(ids, activation_sketch_seed(seed, UnitKind::forward, 0, SketchSlot::input), 64));
    // Deterministic on one machine.
    const auto again = f.trainer.trace(f.weights, batch, TraceSpec{seed, &f.plan}).value();
    EXPECT_EQ(again.attention[3].out, traced.attention[3].out);
    EXPECT_EQ(again.backward[2], traced.backward[2]);
}

TEST(Certificate, HonestContributionIsConsistent) {
    PolFixture f;
    const auto c =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 1)
            .value();
    const Certificate& cert = c.certificate;
    EXPECT_EQ(cert.worker, f.worker.public_key());
    EXPECT_EQ(cert.parent, f.parent);
    EXPECT_EQ(cert.n, 1u);
    EXPECT_EQ(cert.micro_batches, 4u);
    EXPECT_EQ(cert.tokens, 4u * 4 * 16);
    EXPECT_EQ(cert.leaves.size(), 48u);
    EXPECT_TRUE(cert.signature_valid());
    EXPECT_EQ(cert.merkle_root, cert.compute_merkle_root());
    EXPECT_EQ(cert.gradient_hash, gradient_hash(c.blob()));
    EXPECT_EQ(c.blob().size(), f.weights.values.size() * 4);
    EXPECT_NEAR(cert.loss, std::log(256.0), 0.1);

    // Same inputs, same certificate (up to the signature's fresh nonce).
    const auto again =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 1)
            .value();
    EXPECT_EQ(again.certificate.sighash(), cert.sighash());
    EXPECT_EQ(again.gradient, c.gradient);

    // The blob is the mean of the micro-batch gradients (compute_gradient on each batch).
    const Hash256 seed = cert.seed();
    std::vector<double> sum(c.gradient.size(), 0.0);
    for (std::uint32_t b = 0; b < 4; ++b) {
        const auto batch = make_micro_batch(f.dataset, seed, b, 4, 16).value();
        const auto g = f.trainer.compute_gradient(f.weights, batch).value().gradient;
        for (std::size_t i = 0; i < g.size(); ++i) sum[i] += g[i];
    }
    for (std::size_t i = 0; i < sum.size(); ++i)
        ASSERT_EQ(c.gradient[i], static_cast<float>(sum[i] / 4)) << i;
}

TEST(Certificate, ContributionStopsBeforeTheNextMicroBatchWhenAsked) {
    PolFixture f;
    int asked = 0;
    const auto c = compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent,
                                        f.worker, 0, [&] { return ++asked <= 2; });
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().reason, "pol-contribution-cancelled");
    EXPECT_EQ(c.error().detail, "after 2 micro-batches");
    EXPECT_EQ(asked, 3);
    // Asked once per micro-batch, and a yes every time gives the whole contribution.
    asked = 0;
    EXPECT_TRUE(
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 0, [&] {
            return ++asked > 0;
        }).ok());
    EXPECT_EQ(asked, 4);
}

TEST(Certificate, BlobSketchIsTheMeanOfBackwardSketches) {
    PolFixture f;
    const auto c =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 0)
            .value();
    const auto& cert = c.certificate;
    std::vector<double> sum(64, 0.0);
    for (const auto& leaf : cert.leaves)
        if (leaf.kind == UnitKind::backward)
            for (std::size_t r = 0; r < 64; ++r) sum[r] += leaf.sketch_out[r];
    std::vector<float> mean(64);
    for (std::size_t r = 0; r < 64; ++r) mean[r] = static_cast<float>(sum[r] / 4);
    const auto blob_sketch =
        gradient_sketch(c.gradient, gradient_sketch_seed(cert.seed(), cert.gradient_hash), 64);
    const double d = relative_l2(mean, blob_sketch);
    std::cout << "blob sketch vs mean BWD sketch: relative L2 " << d << "\n";
    EXPECT_LT(d, 1e-6);  // float rounding only
}

TEST(Certificate, EncodingRoundTripsAndIsBounded) {
    PolFixture f;
    const auto c =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 0)
            .value();
    const auto bytes = encode_certificate(c.certificate);
    const auto back = decode_certificate(bytes).value();
    EXPECT_EQ(back, c.certificate);
    EXPECT_EQ(back.root(), c.certificate.root());
    EXPECT_NE(c.certificate.root(), c.certificate.sighash());
    // Layout: the fixed-size header (u32 version, parent, worker, u32 n, ...), then the body.
    EXPECT_EQ(bytes[0], 2);
    EXPECT_EQ(std::vector<std::uint8_t>(bytes.begin() + 4, bytes.begin() + 36),
              std::vector<std::uint8_t>(f.parent.span().begin(), f.parent.span().end()));
    const auto header = encode_certificate_header(c.certificate.header());
    ASSERT_EQ(header.size(), certificate_header_size);
    EXPECT_TRUE(std::equal(header.begin(), header.end(), bytes.begin()));
    EXPECT_EQ(decode_certificate_header(header).value(), c.certificate.header());
    EXPECT_EQ(c.certificate.root(), chain::certificate_root(bytes));
    // Losses (u32 count + 4 f32), then leaves (u32 count + 48 of 1 + 4 + 4 + (4 + 64*4) * 2 + 32).
    const std::size_t expected = certificate_header_size + (4 + 4 * 4) + (4 + 48 * 561);
    EXPECT_EQ(bytes.size(), expected);
    for (std::size_t cut : {std::size_t{0}, std::size_t{10}, bytes.size() / 2, bytes.size() - 1})
        EXPECT_EQ(decode_certificate(std::span(bytes).first(cut)).error().reason,
                  "bad-cert-decode");
    EXPECT_EQ(decode_certificate_header(std::span(bytes).first(certificate_header_size + 1))
                  .error()
                  .reason,
              "bad-cert-decode");
    // A length prefix claiming more leaves than the bytes could hold fails before allocating.
    auto lying = bytes;
    const std::size_t leaves_at = certificate_header_size + (4 + 16);
    lying[leaves_at + 3] = 0x7f;
    EXPECT_EQ(decode_certificate(lying).error().reason, "bad-cert-decode");

    const auto blob = c.blob();
    EXPECT_EQ(decode_blob(blob, c.gradient.size()).value(), c.gradient);
    EXPECT_EQ(decode_blob(std::span(blob).first(blob.size() - 1), c.gradient.size()).error().reason,
              "bad-cert-blob-size");
    const auto item = c.work_item();
    EXPECT_EQ(item.certificate, bytes);
    EXPECT_EQ(item.blob, blob);
}

TEST(Certificate, CreditFollowsLeafKeys) {
    PolFixture f;
    auto c = compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 0)
                 .value();
    auto credited = credited_work(c.certificate);
    ASSERT_EQ(credited.size(), 1u);
    EXPECT_EQ(credited[0].worker, f.worker.public_key());
    EXPECT_EQ(credited[0].tokens, 256u);
    // A pipeline partner did the attention units: 16 of 48 leaves.
    const auto partner = testing::test_key(0x22).public_key();
    for (auto& leaf : c.certificate.leaves)
        if (leaf.kind == UnitKind::attention) leaf.worker = partner;
    credited = credited_work(c.certificate);
    std::uint64_t total = 0, mine = 0, theirs = 0;
    for (const auto& w : credited) {
        total += w.tokens;
        if (w.worker == partner) theirs = w.tokens;
        if (w.worker == f.worker.public_key()) mine = w.tokens;
    }
    EXPECT_EQ(total, 256u);
    EXPECT_EQ(theirs, 256u * 16 / 48);
    EXPECT_EQ(mine, 256u - 256u * 16 / 48);
    // Such a certificate still verifies: leaf keys need not match the signer.
    testing::reseal(c.certificate, f.worker);
    auto checked = check_contribution(f.context(), f.plan, c.certificate, c.blob());
    EXPECT_TRUE(checked.ok()) << checked.error().to_string();
}

}  // namespace
}  // namespace learnchain::consensus
