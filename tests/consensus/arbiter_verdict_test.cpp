// Verdicts at the edge of tau do not depend on the verifier's hardware (PROTOCOL.md §T.11.5).
// A worker moves one unit sketch (or its blob) to a chosen distance from what the reference
// arbiter computes, re-deriving every commitment so the cheap checks pass. Within tau_lo the fast
// path accepts alone, far above tau it rejects alone, and in between the arbiter decides: just
// under tau is valid and just over is invalid, in this process and in a verifier process on
// another OpenBLAS kernel set with another thread count.
#include <cmath>
#include <iostream>
#include <optional>

#include <learnchain/consensus/reference_tracer.hpp>
#include <learnchain/consensus/verify.hpp>

#include <gtest/gtest.h>

#include "consensus/pol_fixture.hpp"
#include "consensus/verify_child_run.hpp"

namespace learnchain::consensus {
namespace {

using testing::PolFixture;

// `reference` scaled so that relative_l2(result, reference) is `distance` (up to f32 rounding,
// about 1e-4 of it here; the tests assert which side of a bound each lands on).
std::vector<float> at_distance(const std::vector<float>& reference, double distance) {
    const double scale = 1.0 + distance / (1.0 - distance);
    std::vector<float> out(reference.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(reference[i] * scale);
    return out;
}

double sum_of_squares(const std::vector<float>& v) {
    double sum = 0;
    for (const float x : v) sum += static_cast<double>(x) * x;
    return sum;
}

class ArbiterVerdict : public ::testing::Test {
protected:
    PolFixture f;
    Contribution honest =
        compute_contribution(f.trainer, f.weights, f.dataset, f.params, f.parent, f.worker, 0)
            .value();
    ReferenceTracer arbiter = ReferenceTracer::create(f.params.model).value();
    double tau = f.params.tolerance;
    double tau_lo = f.params.fast_tolerance;

    MicroBatchTrace reference_trace(std::uint32_t b) {
        const auto batch = make_micro_batch(f.dataset, honest.certificate.seed(), b,
                                            f.params.micro_batch_size, f.params.model.context)
                               .value();
        return arbiter.trace(f.weights, batch, TraceSpec{honest.certificate.seed(), &f.plan})
            .value();
    }

    // The honest contribution with ATT(0) of micro-batch 1 claimed at `distance` from the
    // arbiter's output sketch, resealed.
    Contribution attention_at(double distance) {
        Contribution c = honest;
        const std::uint32_t units = f.plan.units_per_micro_batch();
        for (std::uint32_t j = 0; j < units; ++j) {
            Leaf& leaf = c.certificate.leaves[units + j];
            if (leaf.kind != UnitKind::attention || leaf.index != 0) continue;
            const auto reference = reference_trace(1).attention[0].out;
            leaf.sketch_out = at_distance(reference, distance);
            const double actual = relative_l2(leaf.sketch_out, reference);
            EXPECT_NEAR(actual, distance, 1e-3 * distance);
        }
        testing::reseal(c.certificate, f.worker);
        return c;
    }

    Result<VerifiedContribution> verify(const Contribution& c) {
        SplitMix64 rng(1);
        return verify_contribution(f.trainer, f.weights, f.dataset, f.context(), c.work_item(),
                                   VerifyPolicy{}, rng);
    }
};

TEST_F(ArbiterVerdict, HonestWorkNeverReachesTheArbiter) {
    const auto v = verify(honest);
    ASSERT_TRUE(v.ok()) << v.error().to_string();
    EXPECT_TRUE(v->report.arbitrated.empty());
    EXPECT_FALSE(v->report.gradient_arbitrated);
    EXPECT_LT(v->report.max_distance, tau_lo / 100);
}

TEST_F(ArbiterVerdict, WithinTauLoTheFastPathAcceptsAlone) {
    const auto v = verify(attention_at(tau_lo / 2));
    ASSERT_TRUE(v.ok()) << v.error().to_string();
    EXPECT_TRUE(v->report.arbitrated.empty());
}

TEST_F(ArbiterVerdict, FarAboveTauTheFastPathRejectsAlone) {
    const auto v = verify(attention_at(3 * tau));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().reason, "bad-cert-unit-mismatch");
    EXPECT_NE(v.error().detail.find("micro-batch 1 ATT(0) sketch_out"), std::string::npos);
    EXPECT_EQ(v.error().detail.find("reference arbiter"), std::string::npos)
        << v.error().to_string();
}

TEST_F(ArbiterVerdict, JustUnderTauIsValidJustOverIsInvalid) {
    const auto under = verify(attention_at(0.999 * tau));
    ASSERT_TRUE(under.ok()) << under.error().to_string();
    EXPECT_EQ(under->report.arbitrated, std::vector<std::uint32_t>{1});

    const auto over = verify(attention_at(1.001 * tau));
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().reason, "bad-cert-unit-mismatch");
    EXPECT_NE(over.error().detail.find("micro-batch 1 ATT(0) sketch_out"), std::string::npos);
    EXPECT_NE(over.error().detail.find("(reference arbiter)"), std::string::npos)
        << over.error().to_string();
    std::cout << "  just over tau: " << over.error().to_string() << "\n";
}

TEST_F(ArbiterVerdict, ABlobNearTauIsDecidedByTheArbitersMeanGradient) {
    // The arbiter's gradients of every micro-batch and their mean.
    std::vector<MicroBatchTrace> traces;
    std::vector<double> sum(honest.gradient.size(), 0.0);
    for (std::uint32_t b = 0; b < f.params.micro_batches; ++b) {
        traces.push_back(reference_trace(b));
        for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += traces.back().gradient[i];
    }
    std::vector<float> mean(sum.size());
    for (std::size_t i = 0; i < sum.size(); ++i)
        mean[i] = static_cast<float>(sum[i] / f.params.micro_batches);
    // A blob at `distance` from that mean, moved on one coordinate, BWD leaves re-sketched from
    // the arbiter's gradients under the seed the new blob implies. The blob identity (check 15)
    // sees the move through the sketch, which stretches or shrinks it by a seed-dependent
    // factor, so coordinates are tried until the cheap checks pass and only recomputation is
    // left to judge the blob.
    const double norm = std::sqrt(sum_of_squares(mean));
    const auto blob_at = [&](double distance) -> std::optional<Contribution> {
        for (std::size_t i = 0; i < mean.size(); i += 97) {
            const float sign = mean[i] < 0 ? -1.0f : 1.0f;
            double low = 0, high = 4 * distance;
            std::vector<float> moved = mean;
            for (int step = 0; step < 60; ++step) {
                const double mid = (low + high) / 2;
                moved[i] = mean[i] + sign * static_cast<float>(mid * norm);
                (relative_l2(moved, mean) < distance ? low : high) = mid;
            }
            Contribution c = honest;
            c.gradient = moved;
            const auto blob = testing::replace_blob(c.certificate, c.gradient, f.worker);
            testing::resketch_backward(c.certificate, f.plan, traces);
            testing::reseal(c.certificate, f.worker);
            if (check_contribution(f.context(), f.plan, c.certificate, blob).ok()) return c;
        }
        return std::nullopt;
    };
    const auto under = blob_at(0.999 * tau), over = blob_at(1.001 * tau);
    ASSERT_TRUE(under && over) << "no coordinate passes the blob identity";
    const auto accepted = verify(*under);
    ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    EXPECT_TRUE(accepted->report.gradient_arbitrated);
    const auto rejected = verify(*over);
    ASSERT_FALSE(rejected.ok());
    EXPECT_EQ(rejected.error().reason, "bad-cert-gradient-mismatch");
    EXPECT_NE(rejected.error().detail.find("(reference arbiter)"), std::string::npos)
        << rejected.error().to_string();
    std::cout << "  blob just over tau: " << rejected.error().to_string() << "\n";
}

#ifdef LEARNCHAIN_VERIFY_CHILD
TEST_F(ArbiterVerdict, EdgeVerdictsAgreeOnAnotherKernelPathAndThreadCount) {
    for (const double distance : {0.999 * tau, 1.001 * tau}) {
        const Contribution c = attention_at(distance);
        const bool here = verify(c).ok();
        const auto child = testing::verify_in_child(f.params, f.parent, c.work_item());
        std::cout << "  " << distance / tau << " tau: here " << (here ? "valid" : "invalid")
                  << " (OpenBLAS " << testing::openblas_core() << "), child: " << child.output;
        EXPECT_EQ(here, distance < tau);
        EXPECT_EQ(child.exit_code, here ? 0 : 1) << child.output;
        EXPECT_NE(child.output.find("Prescott"), std::string::npos);
        EXPECT_NE(child.output.find(here ? "1 micro-batches decided by the reference arbiter"
                                         : "(reference arbiter)"),
                  std::string::npos)
            << child.output;
    }
}
#endif

}  // namespace
}  // namespace learnchain::consensus
