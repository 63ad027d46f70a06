// The libtorch model against an independent reference: the same GPT written as bare loops in
// double precision, differentiated by central finite differences.
#include <cmath>
#include <iostream>

#include <learnchain/consensus/prng.hpp>
#include <learnchain/consensus/sketch.hpp>
#include <learnchain/consensus/training/trainer.hpp>

#include <gtest/gtest.h>

#include "consensus/test_configs.hpp"

namespace learnchain::training {

using namespace consensus;
namespace {

using Vec = std::vector<double>;

// Row-major [rows, cols] times x[cols] for each of `t` positions: y[t][rows] = W x[t] + b.
Vec linear(const Vec& x, std::size_t t, std::size_t in, const double* w, const double* b,
           std::size_t out) {
    Vec y(t * out);
    for (std::size_t p = 0; p < t; ++p)
        for (std::size_t o = 0; o < out; ++o) {
            double s = b ? b[o] : 0.0;
            for (std::size_t i = 0; i < in; ++i) s += w[o * in + i] * x[p * in + i];
            y[p * out + o] = s;
        }
    return y;
}

Vec layer_norm(const Vec& x, std::size_t t, std::size_t d, const double* g, const double* b) {
    Vec y(x.size());
    for (std::size_t p = 0; p < t; ++p) {
        double mean = 0, var = 0;
        for (std::size_t i = 0; i < d; ++i) mean += x[p * d + i];
        mean /= double(d);
        for (std::size_t i = 0; i < d; ++i) var += (x[p * d + i] - mean) * (x[p * d + i] - mean);
        var /= double(d);
        const double inv = 1.0 / std::sqrt(var + 1e-5);
        for (std::size_t i = 0; i < d; ++i)
            y[p * d + i] = (x[p * d + i] - mean) * inv * g[i] + b[i];
    }
    return y;
}

// Mean next-token cross-entropy of the model with flat parameters w (canonical layout).
double reference_loss(const ModelLayout& layout, const Vec& w, const Batch& batch) {
    const auto& c = layout.config();
    const std::size_t d = c.width, t = batch.context, v = c.vocab_size, nh = c.heads;
    const std::size_t hd = d / nh, h = d * c.mlp_ratio;
    auto at = [&](std::size_t tensor) { return w.data() + layout.tensors()[tensor].offset; };
    const std::size_t n = layout.tensors().size();
    double total = 0;
    for (std::size_t s = 0; s < batch.size; ++s) {
        const auto seq = batch.sequence(s);
        Vec x(t * d);
        for (std::size_t p = 0; p < t; ++p)
            for (std::size_t i = 0; i < d; ++i)
                x[p * d + i] = at(0)[seq[p] * d + i] + at(1)[p * d + i];
        for (std::uint32_t l = 0; l < c.layers; ++l) {
            const std::size_t base = ModelLayout::layer_tensor(l, 0);
            Vec a = layer_norm(x, t, d, at(base), at(base + 1));
            const Vec qkv = linear(a, t, d, at(base + 2), at(base + 3), 3 * d);
            Vec y(t * d, 0.0);
            for (std::size_t head = 0; head < nh; ++head)
                for (std::size_t p = 0; p < t; ++p) {
                    Vec score(p + 1);
                    double mx = -1e300;
                    for (std::size_t q = 0; q <= p; ++q) {
                        double dot = 0;
                        for (std::size_t e = 0; e < hd; ++e)
                            dot +=
                                qkv[p * 3 * d + head * hd + e] * qkv[q * 3 * d + d + head * hd + e];
                        score[q] = dot / std::sqrt(double(hd));
                        mx = std::max(mx, score[q]);
                    }
                    double z = 0;
                    for (auto& sc : score) z += (sc = std::exp(sc - mx));
                    for (std::size_t q = 0; q <= p; ++q)
                        for (std::size_t e = 0; e < hd; ++e)
                            y[p * d + head * hd + e] +=
                                score[q] / z * qkv[q * 3 * d + 2 * d + head * hd + e];
                }
            const Vec proj = linear(y, t, d, at(base + 4), at(base + 5), d);
            for (std::size_t i = 0; i < x.size(); ++i) x[i] += proj[i];
            a = layer_norm(x, t, d, at(base + 6), at(base + 7));
            Vec f = linear(a, t, d, at(base + 8), at(base + 9), h);
            for (auto& u : f) u = 0.5 * u * (1 + std::erf(u / std::sqrt(2.0)));
            const Vec m = linear(f, t, h, at(base + 10), at(base + 11), d);
            for (std::size_t i = 0; i < x.size(); ++i) x[i] += m[i];
        }
        x = layer_norm(x, t, d, at(n - 3), at(n - 2));
        const Vec logits = linear(x, t, d, at(n - 1), nullptr, v);
        for (std::size_t p = 0; p < t; ++p) {
            double mx = -1e300, z = 0;
            for (std::size_t k = 0; k < v; ++k) mx = std::max(mx, logits[p * v + k]);
            for (std::size_t k = 0; k < v; ++k) z += std::exp(logits[p * v + k] - mx);
            total += std::log(z) + mx - logits[p * v + seq[p + 1]];
        }
    }
    return total / double(batch.target_count());
}

// Initial weights with every tensor (LN gains and biases included) perturbed, so that no
// gradient is zero or symmetric by construction.
ModelWeights generic_weights() {
    auto w = init_weights(testing::tiny_config()).value();
    SplitMix64 rng(3);
    for (auto& v : w.values)
        v += static_cast<float>(static_cast<std::int64_t>(rng.next() >> 44) - (1 << 19)) *
             std::ldexp(1.0f, -24);  // uniform in about [-0.03, 0.03]
    return w;
}

Batch test_batch() {
    chain::DatasetSpec spec;
    spec.seed = 1;
    spec.max_operand = 99;
    const auto dataset = Dataset::open(spec).value();
    return make_micro_batch(dataset, chain::Hash256{}, 0, 3, 12).value();
}

TEST(Trainer, LossMatchesReference) {
    auto trainer = Trainer::create(testing::tiny_config()).value();
    const auto w = generic_weights();
    const auto batch = test_batch();
    const auto result = trainer.compute_gradient(w, batch);
    ASSERT_TRUE(result.ok()) << result.error().to_string();
    const Vec wd(w.values.begin(), w.values.end());
    EXPECT_NEAR(result->loss, reference_loss(w.layout, wd, batch), 1e-5);
    EXPECT_EQ(result->tokens, 36u);
    EXPECT_NEAR(trainer.compute_loss(w, batch).value(), result->loss, 1e-6);
}

TEST(Trainer, GradientMatchesFiniteDifferences) {
    auto trainer = Trainer::create(testing::tiny_config()).value();
    const auto w = generic_weights();
    const auto batch = test_batch();
    const auto grad = trainer.compute_gradient(w, batch).value().gradient;
    ASSERT_EQ(grad.size(), w.values.size());
    const Vec base(w.values.begin(), w.values.end());
    auto fd = [&](const Vec& direction, double h) {
        Vec plus = base, minus = base;
        for (std::size_t i = 0; i < base.size(); ++i) {
            plus[i] += h * direction[i];
            minus[i] -= h * direction[i];
        }
        return (reference_loss(w.layout, plus, batch) - reference_loss(w.layout, minus, batch)) /
               (2 * h);
    };

    // Coordinates: a few per tensor, so a misplaced or transposed tensor cannot hide. For the
    // token embedding, rows of tokens that occur in the batch.
    SplitMix64 rng(17);
    for (std::size_t t = 0; t < w.layout.tensors().size(); ++t) {
        const auto& spec = w.layout.tensors()[t];
        double scale = 0;
        for (std::size_t i = 0; i < spec.size; ++i)
            scale = std::max(scale, std::fabs(double(grad[spec.offset + i])));
        for (int trial = 0; trial < 3; ++trial) {
            std::uint64_t index = spec.offset + rng.below(spec.size);
            if (t == 0) index = batch.tokens[rng.below(batch.size * 13)] * 32 + rng.below(32);
            Vec e(base.size(), 0.0);
            e[index] = 1;
            // Measured agreement is ~4e-7 of the tensor's largest gradient (float rounding).
            EXPECT_NEAR(grad[index], fd(e, 1e-4), 1e-5 * scale + 1e-7)
                << spec.name << " element " << index - spec.offset;
        }
    }
    // Random directions over all parameters at once.
    for (int trial = 0; trial < 3; ++trial) {
        Vec u(base.size());
        for (auto& x : u) x = rng.below(2) ? 1.0 : -1.0;
        double dot = 0;
        for (std::size_t i = 0; i < u.size(); ++i) dot += u[i] * grad[i];
        // A small step: along u every parameter moves, so the truncation error is larger.
        const double expected = fd(u, 1e-6);
        EXPECT_NEAR(dot, expected, 1e-5 * std::fabs(expected) + 1e-6);  // measured ~5e-7
    }
}

TEST(Trainer, HonestRecomputationIsWithinTolerance) {
    // What verification relies on: the same gradient recomputed, here with another thread
    // count (other kernel partitions), lands far inside tau = 1e-3.
    const auto config = testing::default_config();
    const auto w = init_weights(config).value();
    chain::DatasetSpec spec;
    const auto dataset = Dataset::open(spec).value();
    const auto batch = make_micro_batch(dataset, chain::Hash256{}, 0, 4, config.context).value();
    auto one = Trainer::create(config, "cpu", 1).value();
    const auto a = one.compute_gradient(w, batch).value();
    const auto again = one.compute_gradient(w, batch).value();
    auto two = Trainer::create(config, "cpu", 2).value();
    const auto b = two.compute_gradient(w, batch).value();
    std::size_t differing = 0;
    for (std::size_t i = 0; i < a.gradient.size(); ++i) differing += a.gradient[i] != b.gradient[i];
    const double drift = relative_l2(a.gradient, b.gradient);
    std::cout << "1 vs 2 threads: " << differing << " of " << a.gradient.size()
              << " gradient elements differ, relative L2 " << drift << ", loss " << a.loss - b.loss
              << "\n";
    EXPECT_EQ(a.gradient, again.gradient);  // same machine, same threads: repeatable
    EXPECT_LT(drift, 1e-5);
    EXPECT_NEAR(a.loss, b.loss, 1e-5);
}

TEST(Trainer, InitialLossIsNearUniform) {
    auto trainer = Trainer::create(testing::tiny_config()).value();
    const auto w = init_weights(testing::tiny_config()).value();
    EXPECT_NEAR(trainer.compute_loss(w, test_batch()).value(), std::log(256.0), 0.1);
}

TEST(Trainer, RejectsMismatches) {
    auto trainer = Trainer::create(testing::tiny_config()).value();
    auto w = init_weights(testing::tiny_config()).value();
    auto batch = test_batch();
    batch.context = 17;  // longer than the model's context
    batch.tokens.resize(batch.size * 18);
    EXPECT_EQ(trainer.compute_gradient(w, batch).error().reason, "trainer-batch-invalid");
    w.values.pop_back();
    EXPECT_EQ(trainer.compute_gradient(w, test_batch()).error().reason, "trainer-weights-mismatch");
    auto other = testing::tiny_config();
    other.width = 64;
    EXPECT_EQ(trainer.compute_loss(init_weights(other).value(), test_batch()).error().reason,
              "trainer-weights-mismatch");
}

TEST(Trainer, DeviceSelection) {
    EXPECT_EQ(Trainer::create(testing::tiny_config(), "tpu:0").error().reason,
              "trainer-device-invalid");
    const auto cuda = Trainer::create(testing::tiny_config(), "cuda:0");
    if (!cuda.ok()) {
        EXPECT_EQ(cuda.error().reason, "trainer-device-unavailable");
    }
    EXPECT_EQ(Trainer::create(testing::tiny_config(), "cpu").value().device(), "cpu");
}

TEST(Trainer, GreedyCompletionStaysInWindow) {
    auto trainer = Trainer::create(testing::tiny_config()).value();
    const auto w = init_weights(testing::tiny_config()).value();
    const auto out = trainer.complete(w, "12+34=", 40, '\n');
    ASSERT_TRUE(out.ok()) << out.error().to_string();
    EXPECT_LE(out->size(), 40u);
    EXPECT_EQ(out.value(), trainer.complete(w, "12+34=", 40, '\n').value());
}

}  // namespace
}  // namespace learnchain::training
