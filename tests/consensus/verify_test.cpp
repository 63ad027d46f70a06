// Honest contributions verify: under `all` and under sampling, with another thread count, in
// another process on another OpenBLAS kernel path; and the tolerance is real (a nudge well
// below tau is accepted). The measured distances are printed for PROTOCOL.md.
#include <cmath>
#include <iostream>

#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/consensus/verify.hpp>

#include <gtest/gtest.h>

#include "consensus/pol_fixture.hpp"
#include "consensus/verify_child_run.hpp"

namespace learnchain::consensus {
namespace {

using testing::PolFixture;

TEST(VerifyPolicy, Parses) {
    EXPECT_EQ(VerifyPolicy::parse("all").value().mode, VerifyPolicy::Mode::all);
    const auto one = VerifyPolicy::parse("sample").value();
    EXPECT_EQ(one.mode, VerifyPolicy::Mode::sample);
    EXPECT_EQ(one.micro_batches, 1u);
    EXPECT_EQ(one.to_string(), "sample:1");
    const auto s = VerifyPolicy::parse("sample:3").value();
    EXPECT_EQ(s.micro_batches, 3u);
    EXPECT_EQ(s.to_string(), "sample:3");
    EXPECT_EQ(VerifyPolicy::parse("sample:4096").value().micro_batches, 4096u);
    for (const char* bad :
         {"", "al", "ALL", "sample:", "sample:0", "sample:-1", "sample:0.5", "sample:4097",
          "sample:abc", "sample:1x", "sample:nan", "some:1", "sample:99999999999"}) {
        const auto r = VerifyPolicy::parse(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().reason, "verify-policy-invalid") << bad;
        EXPECT_NE(r.error().detail.find(bad), std::string::npos) << r.error().detail;
    }
}

TEST(VerifyPolicy, ProposersDrawAtLeastTwo) {
    EXPECT_EQ(VerifyPolicy{}.for_proposer().mode, VerifyPolicy::Mode::all);
    EXPECT_EQ(VerifyPolicy::sample(1).for_proposer().micro_batches, 2u);
    EXPECT_EQ(VerifyPolicy::sample(5).for_proposer().micro_batches, 5u);
}

TEST(VerifyPolicy, ChoosesDistinctMicroBatches) {
    SplitMix64 rng(1);
    const auto all = choose_micro_batches(VerifyPolicy{}, 5, rng);
    EXPECT_EQ(all, (std::vector<std::uint32_t>{0, 1, 2, 3, 4}));
    std::vector<int> hits(4, 0);
    for (int i = 0; i < 400; ++i) {
        const auto one = choose_micro_batches(VerifyPolicy::sample(1), 4, rng);
        ASSERT_EQ(one.size(), 1u);
        ++hits[one[0]];
    }
    for (int h : hits) EXPECT_GT(h, 60);  // each about 100: the choice is spread
    const auto half = choose_micro_batches(VerifyPolicy::sample(5), 10, rng);
    ASSERT_EQ(half.size(), 5u);
    EXPECT_TRUE(std::is_sorted(half.begin(), half.end()));
    EXPECT_EQ(std::adjacent_find(half.begin(), half.end()), half.end());
    // More than the certificate has is every micro-batch.
    EXPECT_EQ(choose_micro_batches(VerifyPolicy::sample(9), 4, rng),
              (std::vector<std::uint32_t>{0, 1, 2, 3}));
}

TEST(Verify, HonestContributionPassesAll) {
    PolFixture f;
    const auto c =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 2)
            .value();
    SplitMix64 rng(7);
    const auto v = verify_contribution(f.trainer, f.weights, f.dataset, f.context(), c.work_item(),
                                       VerifyPolicy{}, rng);
    ASSERT_TRUE(v.ok()) << v.error().to_string();
    EXPECT_EQ(v->report.micro_batches, (std::vector<std::uint32_t>{0, 1, 2, 3}));
    EXPECT_EQ(v->report.max_distance, 0.0);  // same process, same threads: bit-identical
    EXPECT_EQ(v->report.gradient_distance, 0.0);
    EXPECT_EQ(v->root, c.certificate.root());
    EXPECT_EQ(v->checked.gradient, c.gradient);
    ASSERT_EQ(v->credited.size(), 1u);
    EXPECT_EQ(v->credited[0].tokens, 256u);

    const auto sampled = verify_contribution(f.trainer, f.weights, f.dataset, f.context(),
                                             c.work_item(), VerifyPolicy::sample(1), rng);
    ASSERT_TRUE(sampled.ok()) << sampled.error().to_string();
    EXPECT_EQ(sampled->report.micro_batches.size(), 1u);
    EXPECT_EQ(sampled->report.gradient_distance, -1.0);  // blob not recomputed in full
}

TEST(Verify, BlockOfHonestWorkItems) {
    PolFixture f;
    std::vector<chain::WorkItem> items;
    for (std::uint32_t n = 0; n < 2; ++n)
        items.push_back(
            compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, n)
                .value()
                .work_item());
    items.push_back(compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent,
                                         testing::test_key(0x33), 0)
                        .value()
                        .work_item());
    SplitMix64 rng(3);
    const auto v = verify_work_items(f.trainer, f.weights, f.dataset, f.context(), items,
                                     VerifyPolicy::sample(2), rng);
    ASSERT_TRUE(v.ok()) << v.error().to_string();
    ASSERT_EQ(v->size(), 3u);
    for (const auto& c : *v) EXPECT_EQ(c.report.micro_batches.size(), 2u);
}

TEST(Verify, HonestDriftAcrossThreadCounts) {
    // Worker with 2 libtorch threads, verifier with 1: other kernel partitions, other bits.
    PolFixture f;
    auto two = training::Trainer::create(f.params.model, "cpu", 2).value();
    const auto c =
        compute_contribution(two, f.weights, f.dataset, f.params, f.parent, f.worker, 3).value();
    auto one = training::Trainer::create(f.params.model, "cpu", 1).value();
    SplitMix64 rng(1);
    const auto v = verify_contribution(one, f.weights, f.dataset, f.context(), c.work_item(),
                                       VerifyPolicy{}, rng);
    ASSERT_TRUE(v.ok()) << v.error().to_string();
    std::cout << "2 vs 1 threads: max unit distance " << v->report.max_distance << " at "
              << v->report.max_at << ", blob vs recomputed " << v->report.gradient_distance
              << ", blob sketch " << v->checked.sketch_distance << " (tau " << f.params.tolerance
              << ")\n";
    EXPECT_LT(v->report.max_distance, 1e-5);
}

TEST(Verify, NudgeWellBelowTauIsAccepted) {
    // A worker that moves its blob by 1e-5 relative (100x below tau) and re-derives every
    // commitment passes: the tolerance is real, and such nudges are what tau allows.
    PolFixture f;
    const auto traces = f.honest_traces(0);
    auto c = assemble_contribution(f.plan, f.parent, 0, f.worker, traces).value();
    double norm = 0;
    for (float g : c.gradient) norm += double(g) * g;
    norm = std::sqrt(norm);
    SplitMix64 rng(5);
    auto nudged = c.gradient;
    const double per = 1e-5 * norm / std::sqrt(double(nudged.size()));
    for (auto& g : nudged) g += static_cast<float>(rng.below(2) ? per : -per);
    auto blob = testing::replace_blob(c.certificate, nudged, f.worker);
    testing::resketch_backward(c.certificate, f.plan, traces);
    testing::reseal(c.certificate, f.worker);
    const auto v =
        verify_contribution(f.trainer, f.weights, f.dataset, f.context(),
                            {encode_certificate(c.certificate), blob}, VerifyPolicy{}, rng);
    ASSERT_TRUE(v.ok()) << v.error().to_string();
    std::cout << "nudge 1e-5: blob vs recomputed " << v->report.gradient_distance
              << ", blob sketch " << v->checked.sketch_distance << "\n";
    EXPECT_GT(v->report.gradient_distance, 5e-6);
    EXPECT_LT(v->report.gradient_distance, 2e-5);
}

#ifdef LEARNCHAIN_VERIFY_CHILD
TEST(Verify, HonestCertificateVerifiesUnderAnotherBlasPath) {
    PolFixture f;
    const auto c =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 1)
            .value();
    const auto child = testing::verify_in_child(f.params, f.parent, c.work_item());
    std::cout << "parent OpenBLAS core " << testing::openblas_core() << "; child says:\n"
              << child.output;
    EXPECT_EQ(child.exit_code, 0) << child.output;
    EXPECT_NE(child.output.find("verified"), std::string::npos);
    EXPECT_NE(child.output.find("Prescott"), std::string::npos)
        << "the child did not switch kernels";
}
#endif

}  // namespace
}  // namespace learnchain::consensus
