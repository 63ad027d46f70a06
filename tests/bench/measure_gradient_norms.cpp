// Honest gradient norms over a training run, the measurement that genesis's
// max_gradient_norm and max_micro_batch_gradient_norm are set from (PROTOCOL.md §T.7.2).
//
//   measure_gradient_norms GENESIS [STEPS] [MICRO_BATCHES_PER_STEP]
//
// Trains the genesis model from its initial weights with the chain's AdamW, one step per block,
// each step the mean gradient of MICRO_BATCHES_PER_STEP micro-batches (genesis shape) drawn from
// fresh contribution seeds. Per micro-batch it records the gradient's L2 norm and the estimate a
// verifier makes from its BWD output sketches (sqrt(sum of squares / blocks)); per step, the
// norm of the mean gradient, which is what a blob carries. A step here averages fewer
// micro-batches than a devnet block (M = 64 per contribution), so its mean is noisier and its
// norm larger: the blob figure errs on the safe side.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/optimizer.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/consensus/units.hpp>

#include <fmt/format.h>

namespace {

using namespace learnchain;
using namespace learnchain::consensus;

double l2(std::span<const float> v) {
    double sum = 0;
    for (const float x : v) sum += static_cast<double>(x) * x;
    return std::sqrt(sum);
}

// The verifier's estimate: every section's BWD output sketch has blocks rows per element, each
// +-value, so E|S g|^2 = blocks * |g|^2.
double sketch_estimate(std::span<const float> gradient, const UnitPlan& plan, const Hash256& seed) {
    double sum = 0;
    for (const auto& section : plan.sections()) {
        const auto rows = gradient_sketch(gradient.subspan(section.offset, section.size), seed,
                                          plan.sketch_rows(), section.offset);
        for (const float r : rows) sum += static_cast<double>(r) * r;
    }
    return std::sqrt(sum / gradient_sketch_blocks(plan.sketch_rows()));
}

double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

int fail(const Error& e) {
    std::fprintf(stderr, "measure_gradient_norms: %s\n", e.to_string().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: measure_gradient_norms GENESIS [STEPS] [PER_STEP]\n");
        return 2;
    }
    const int steps = argc > 2 ? std::stoi(argv[2]) : 100;
    const int per_step = argc > 3 ? std::stoi(argv[3]) : 4;
    auto genesis = chain::load_genesis(argv[1]);
    if (!genesis) return fail(genesis.error());
    const LearningParams& params = genesis->learning;
    auto weights = genesis_weights(params.model);
    if (!weights) return fail(weights.error());
    auto plan = UnitPlan::create(weights->layout, params);
    if (!plan) return fail(plan.error());
    auto dataset = Dataset::open(params.dataset);
    if (!dataset) return fail(dataset.error());
    auto trainer = training::Trainer::create(params.model);
    if (!trainer) return fail(trainer.error());
    auto optimizer = OptimizerState::zeros(weights->values.size());

    std::vector<double> micro_norms, estimates, estimate_ratios, step_norms;
    double last_loss = 0;
    log::Progress progress("gradient norms", "steps", static_cast<std::uint64_t>(steps),
                           std::chrono::seconds(10));
    for (int step = 0; step < steps; ++step) {
        GradientAccumulator accumulator(weights->values.size());
        double loss = 0;
        for (int b = 0; b < per_step; ++b) {
            const Hash256 seed = chain::sha256(fmt::format("norm step {} micro-batch {}", step, b));
            auto batch =
                make_micro_batch(*dataset, seed, 0, params.micro_batch_size, params.model.context);
            if (!batch) return fail(batch.error());
            auto result = trainer->compute_gradient(*weights, *batch);
            if (!result) return fail(result.error());
            const double norm = l2(result->gradient);
            micro_norms.push_back(norm);
            const double estimate = sketch_estimate(result->gradient, *plan, seed);
            estimates.push_back(estimate);
            if (norm > 0) estimate_ratios.push_back(estimate / norm);
            loss += result->loss / per_step;
            if (auto added = accumulator.add(result->gradient, result->tokens); !added)
                return fail(added.error());
        }
        auto mean = accumulator.mean();
        if (!mean) return fail(mean.error());
        double sum = 0;
        for (const double g : *mean) sum += g * g;
        step_norms.push_back(std::sqrt(sum));
        if (auto stepped = apply_adamw(weights->values, optimizer, *mean, params.optimizer);
            !stepped)
            return fail(stepped.error());
        last_loss = loss;
        progress.update(static_cast<std::uint64_t>(step + 1), fmt::format("loss {:.4f}", loss));
    }

    const std::string name = genesis->name;
    std::printf("BENCH %s_micro_batch_gradient_norm_max %.6g l2\n", name.c_str(),
                quantile(micro_norms, 1.0));
    std::printf("BENCH %s_micro_batch_gradient_norm_p99 %.6g l2\n", name.c_str(),
                quantile(micro_norms, 0.99));
    std::printf("BENCH %s_micro_batch_gradient_norm_median %.6g l2\n", name.c_str(),
                quantile(micro_norms, 0.5));
    std::printf("BENCH %s_micro_batch_sketch_estimate_max %.6g l2\n", name.c_str(),
                quantile(estimates, 1.0));
    std::printf("BENCH %s_sketch_norm_estimate_ratio_max %.6g x\n", name.c_str(),
                quantile(estimate_ratios, 1.0));
    std::printf("BENCH %s_sketch_norm_estimate_ratio_min %.6g x\n", name.c_str(),
                quantile(estimate_ratios, 0.0));
    std::printf("BENCH %s_step_gradient_norm_max %.6g l2\n", name.c_str(),
                quantile(step_norms, 1.0));
    std::printf("BENCH %s_final_loss %.6g nats\n", name.c_str(), last_loss);
    std::printf("measured %zu micro-batches over %d steps of %d\n", micro_norms.size(), steps,
                per_step);
    return 0;
}
