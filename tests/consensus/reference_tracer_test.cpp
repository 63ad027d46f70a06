// The reference arbiter (consensus/reference_tracer.cpp): one recorded hash of its trace bits
// (also checked under four build variants by consensus_reference_variants), refusals, and its
// hand-written backward against finite differences of its own loss, so the gradient is proven
// without libtorch (reference_agreement_test compares it with libtorch).
#include <algorithm>
#include <bit>
#include <cfenv>
#include <cmath>
#include <cstdio>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/consensus/reference_tracer.hpp>
#include <learnchain/consensus/units.hpp>

#include <gtest/gtest.h>

#include "consensus/reference_golden.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace learnchain::consensus::testing {

namespace {

chain::LearningParams test_params() {
    return chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/genesis/test.json")
        .value()
        .learning;
}

struct Fixture {
    chain::LearningParams params = test_params();
    ModelWeights weights = reference_test_weights(params.model);
    Dataset dataset = Dataset::open(params.dataset).value();
    UnitPlan plan = UnitPlan::create(weights.layout, params).value();
    Hash256 seed = chain::sha256(std::string_view("reference tracer test"));
    Batch batch =
        make_micro_batch(dataset, seed, 0, params.micro_batch_size, params.model.context).value();
    ReferenceTracer tracer = ReferenceTracer::create(params.model, 1).value();

    [[nodiscard]] TraceSpec spec() const { return {seed, &plan}; }
};

TEST(ReferenceTracer, GoldenTraceHash) {
    // The same bits with any thread count: threads split outputs, never a sum.
    for (unsigned threads : {1u, 2u, 3u}) {
        const auto trace = reference_golden_trace(threads);
        ASSERT_TRUE(trace.ok()) << trace.error().to_string();
        const std::string hex = reference_trace_hash(*trace).hex();
        std::printf("reference golden trace hash (%u threads): %s\n", threads, hex.c_str());
        EXPECT_EQ(hex, reference_golden_hash);
    }
}

TEST(ReferenceTracer, TraceHasTheTrainersShape) {
    Fixture s;
    const auto trace = s.tracer.trace(s.weights, s.batch, s.spec());
    ASSERT_TRUE(trace.ok()) << trace.error().to_string();
    EXPECT_EQ(trace->tokens, s.batch.target_count());
    EXPECT_EQ(trace->gradient.size(), s.weights.layout.parameter_count());
    ASSERT_EQ(trace->forward.size(), s.plan.sections().size());
    ASSERT_EQ(trace->attention.size(), s.plan.attention_units());
    ASSERT_EQ(trace->backward.size(), s.plan.sections().size());
    for (const auto& pair : trace->forward) {
        EXPECT_EQ(pair.in.size(), s.plan.sketch_rows());
        EXPECT_EQ(pair.out.size(), s.plan.sketch_rows());
    }
    for (const auto& pair : trace->attention) {
        EXPECT_EQ(pair.in.size(), s.plan.sketch_rows());
        EXPECT_EQ(pair.out.size(), s.plan.sketch_rows());
    }
    for (const auto& in : trace->backward) EXPECT_EQ(in.size(), s.plan.sketch_rows());
    // Near ln 256 for a model that has not learned, and finite everywhere.
    EXPECT_GT(trace->loss, 4.5);
    EXPECT_LT(trace->loss, 7.0);
    for (float g : trace->gradient) ASSERT_TRUE(std::isfinite(g));
    // FWD(0) fingerprints the token ids as f32, exactly as the trainer does.
    std::vector<float> ids;
    for (std::uint32_t j = 0; j < s.batch.size; ++j)
        for (std::uint32_t p = 0; p < s.batch.context; ++p) ids.push_back(s.batch.sequence(j)[p]);
    EXPECT_EQ(trace->forward[0].in,
              sketch(ids, activation_sketch_seed(s.seed, UnitKind::forward, 0, SketchSlot::input),
                     s.plan.sketch_rows()));
}

TEST(ReferenceTracer, RefusesWhatDoesNotFit) {
    Fixture s;
    auto reason = [&](const ModelWeights& w, const Batch& b, const TraceSpec& spec) {
        const auto r = s.tracer.trace(w, b, spec);
        return r.ok() ? std::string("ok") : r.error().reason;
    };
    EXPECT_EQ(reason(s.weights, s.batch, s.spec()), "ok");

    ModelConfig other = s.params.model;
    other.layers += 1;
    EXPECT_EQ(reason(init_weights(other).value(), s.batch, s.spec()), "arbiter-weights-mismatch");
    ModelWeights short_values = s.weights;
    short_values.values.pop_back();
    EXPECT_EQ(reason(short_values, s.batch, s.spec()), "arbiter-weights-mismatch");

    Batch empty = s.batch;
    empty.size = 0;
    empty.tokens.clear();
    EXPECT_EQ(reason(s.weights, empty, s.spec()), "arbiter-batch-invalid");
    Batch long_context =
        make_micro_batch(s.dataset, s.seed, 0, 1, s.params.model.context + 1).value();
    EXPECT_EQ(reason(s.weights, long_context, s.spec()), "arbiter-batch-invalid");
    Batch truncated = s.batch;
    truncated.tokens.pop_back();
    EXPECT_EQ(reason(s.weights, truncated, s.spec()), "arbiter-batch-invalid");

    EXPECT_EQ(reason(s.weights, s.batch, TraceSpec{s.seed, nullptr}), "arbiter-trace-invalid");
    const auto other_plan = UnitPlan::create(init_weights(other).value().layout, s.params).value();
    EXPECT_EQ(reason(s.weights, s.batch, TraceSpec{s.seed, &other_plan}), "arbiter-trace-invalid");

    // A token outside a smaller vocabulary.
    ModelConfig small = s.params.model;
    small.vocab_size = 64;
    auto small_tracer = ReferenceTracer::create(small, 1).value();
    const auto small_weights = init_weights(small).value();
    const auto small_plan = UnitPlan::create(small_weights.layout, s.params).value();
    Batch high = s.batch;
    high.tokens[3] = 200;
    const auto r = small_tracer.trace(small_weights, high, TraceSpec{s.seed, &small_plan});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, "arbiter-batch-invalid");
    EXPECT_EQ(r.error().detail, "token outside the vocabulary");

    ModelConfig broken = s.params.model;
    broken.heads = 3;  // does not divide the width
    const auto bad = ReferenceTracer::create(broken);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().reason, "model-config-invalid");
}

TEST(ReferenceTracer, OneBitOfOneWeightChangesTheHash) {
    Fixture s;
    const Hash256 base = reference_trace_hash(s.tracer.trace(s.weights, s.batch, s.spec()).value());
    EXPECT_EQ(reference_trace_hash(s.tracer.trace(s.weights, s.batch, s.spec()).value()), base);
    // The last mantissa bit of one weight in the middle of layer 0's MLP.
    ModelWeights nudged = s.weights;
    auto fc = nudged.tensor(ModelLayout::layer_tensor(0, 8));
    float& w = fc[fc.size() / 2];
    w = std::bit_cast<float>(std::bit_cast<std::uint32_t>(w) ^ 1u);
    const auto trace = s.tracer.trace(nudged, s.batch, s.spec()).value();
    EXPECT_NE(reference_trace_hash(trace), base);
}

// A caller's rounding mode (and, on x86, flush-to-zero and denormals-are-zero) does not reach the
// arbiter's threads, and the caller gets its own environment back.
TEST(ReferenceTracer, IgnoresTheCallersFloatingPointEnvironment) {
    Fixture s;
    const Hash256 base = reference_trace_hash(s.tracer.trace(s.weights, s.batch, s.spec()).value());
    auto two = ReferenceTracer::create(s.params.model, 2).value();
    std::fenv_t saved;
    std::fegetenv(&saved);
    for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
        ASSERT_EQ(std::fesetround(mode), 0);
#if defined(__SSE2__)
        _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ | DAZ
#endif
        const auto one_thread = s.tracer.trace(s.weights, s.batch, s.spec());
        const auto two_threads = two.trace(s.weights, s.batch, s.spec());
        const int after = std::fegetround();
#if defined(__SSE2__)
        const unsigned csr = _mm_getcsr();
#endif
        std::fesetenv(&saved);
        EXPECT_EQ(after, mode);
#if defined(__SSE2__)
        EXPECT_EQ(csr & 0x8040u, 0x8040u);
#endif
        EXPECT_EQ(reference_trace_hash(one_thread.value()), base) << mode;
        EXPECT_EQ(reference_trace_hash(two_threads.value()), base) << mode;
    }
}

// Central differences of the arbiter's loss, in double, at the coordinate of largest gradient in
// every tensor: each agrees with the hand-written backward to 1% of that gradient. The loss sees
// the weights through float activations, so its rounding noise (about 1e-9 here) bounds how small
// the step can be; 2^-9 keeps both it and the curvature error well below the tolerance.
TEST(ReferenceTracer, GradientMatchesFiniteDifferences) {
    Fixture s;
    const auto trace = s.tracer.trace(s.weights, s.batch, s.spec()).value();
    auto loss_at = [&](std::size_t index, float value) {
        ModelWeights w = s.weights;
        w.values[index] = value;
        return s.tracer.trace(w, s.batch, s.spec()).value().loss;
    };
    double worst = 0.0;
    for (std::size_t t = 0; t < s.weights.layout.tensors().size(); ++t) {
        const auto& spec = s.weights.layout.tensors()[t];
        std::size_t index = spec.offset;
        for (std::size_t i = spec.offset; i < spec.offset + spec.size; ++i)
            if (std::abs(trace.gradient[i]) > std::abs(trace.gradient[index])) index = i;
        const float w = s.weights.values[index];
        const float hi = w + 0x1p-9f, lo = w - 0x1p-9f;
        const double fd = (loss_at(index, hi) - loss_at(index, lo)) /
                          (static_cast<double>(hi) - static_cast<double>(lo));
        const double g = trace.gradient[index];
        const double error = std::abs(fd - g) / std::abs(g);
        worst = std::max(worst, error);
        EXPECT_LT(error, 1e-2) << spec.name << " [" << index - spec.offset << "]: backward " << g
                               << ", finite difference " << fd;
    }
    std::printf("finite differences: largest relative error %.3g\n", worst);
}

}  // namespace
}  // namespace learnchain::consensus::testing
