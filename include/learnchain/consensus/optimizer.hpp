// Gradient aggregation and AdamW, bit-exact on every platform: plain loops over IEEE-754
// binary64 using only + - * / and sqrt, in a TU built with -ffp-contract=off. Weights and
// moments are binary32 chain state; the step state is carried so no pow() is ever needed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::consensus {

using chain::OptimizerParams;

// Bias-correction state: beta^t kept as running products, multiplied once per step.
struct StepState {
    std::uint64_t step = 0;
    double beta1_power = 1.0;  // beta1^step
    double beta2_power = 1.0;  // beta2^step

    template <class Archive>
    void serialize(Archive& ar) {
        ar(step, beta1_power, beta2_power);
    }
    friend bool operator==(const StepState&, const StepState&) = default;
};

struct OptimizerState {
    std::vector<float> m;  // first moment, one per parameter
    std::vector<float> v;  // second moment
    StepState step;

    [[nodiscard]] static OptimizerState zeros(std::size_t parameters) {
        return {std::vector<float>(parameters, 0.0f), std::vector<float>(parameters, 0.0f), {}};
    }
};

// Token-weighted mean of gradients in fp64. Contributions must be added in canonical order
// (by certificate root): the sum is exact per product but rounded per addition.
class GradientAccumulator {
public:
    explicit GradientAccumulator(std::size_t parameters) : sum_(parameters, 0.0) {}

    // sum[i] += double(gradient[i]) * tokens. "gradient-size-mismatch", "gradient-no-tokens".
    [[nodiscard]] Status add(std::span<const float> gradient, std::uint64_t tokens);

    [[nodiscard]] std::uint64_t tokens() const { return tokens_; }

    // sum[i] / tokens. "gradient-no-tokens" when nothing was added.
    [[nodiscard]] Result<std::vector<double>> mean() const;

private:
    std::vector<double> sum_;
    std::uint64_t tokens_ = 0;
};

// One AdamW step (decoupled weight decay) in place; see PROTOCOL.md for the exact formulas.
// "optimizer-size-mismatch" when weights, moments and gradient differ in length.
[[nodiscard]] Status apply_adamw(std::span<float> weights, std::span<float> m, std::span<float> v,
                                 StepState& step, std::span<const double> gradient,
                                 const OptimizerParams& params);

[[nodiscard]] inline Status apply_adamw(std::span<float> weights, OptimizerState& state,
                                        std::span<const double> gradient,
                                        const OptimizerParams& params) {
    return apply_adamw(weights, state.m, state.v, state.step, gradient, params);
}

}  // namespace learnchain::consensus
