// Built with -ffp-contract=off and without -ffast-math (consensus/CMakeLists.txt): a fused
// multiply-add would round differently on CPUs that have one, and the result is chain state.
#include <cmath>
#include <string>

#include <learnchain/consensus/optimizer.hpp>

namespace learnchain::consensus {

Status GradientAccumulator::add(std::span<const float> gradient, std::uint64_t tokens) {
    if (gradient.size() != sum_.size())
        return make_error(ErrorKind::local, "gradient-size-mismatch",
                          std::to_string(gradient.size()) + " != " + std::to_string(sum_.size()));
    if (tokens == 0) return make_error(ErrorKind::local, "gradient-no-tokens");
    // Exact while tokens < 2^29: a 24-bit significand times it fits in 53 bits.
    const auto weight = static_cast<double>(tokens);
    for (std::size_t i = 0; i < sum_.size(); ++i)
        sum_[i] = sum_[i] + static_cast<double>(gradient[i]) * weight;
    tokens_ += tokens;
    return ok_status();
}

Result<std::vector<double>> GradientAccumulator::mean() const {
    if (tokens_ == 0) return make_error(ErrorKind::local, "gradient-no-tokens");
    const auto total = static_cast<double>(tokens_);
    std::vector<double> out(sum_.size());
    for (std::size_t i = 0; i < sum_.size(); ++i) out[i] = sum_[i] / total;
    return out;
}

Status apply_adamw(std::span<float> weights, std::span<float> m, std::span<float> v,
                   StepState& step, std::span<const double> gradient,
                   const OptimizerParams& params) {
    const std::size_t n = weights.size();
    if (m.size() != n || v.size() != n || gradient.size() != n)
        return make_error(ErrorKind::local, "optimizer-size-mismatch");

    step.step += 1;
    step.beta1_power = step.beta1_power * params.beta1;
    step.beta2_power = step.beta2_power * params.beta2;

    const double lr = params.learning_rate;
    const double b1 = params.beta1;
    const double b2 = params.beta2;
    const double c1 = 1.0 - b1;
    const double c2 = 1.0 - b2;
    const double decay = 1.0 - lr * params.weight_decay;
    const double step_size = lr / (1.0 - step.beta1_power);
    const double correction2 = 1.0 - step.beta2_power;
    const double eps = params.epsilon;

    for (std::size_t i = 0; i < n; ++i) {
        const double g = gradient[i];
        const double mi = b1 * static_cast<double>(m[i]) + c1 * g;
        const double vi = b2 * static_cast<double>(v[i]) + c2 * (g * g);
        const double denom = std::sqrt(vi / correction2) + eps;
        const double w = static_cast<double>(weights[i]) * decay - (step_size * mi) / denom;
        m[i] = static_cast<float>(mi);
        v[i] = static_cast<float>(vi);
        weights[i] = static_cast<float>(w);
    }
    return ok_status();
}

}  // namespace learnchain::consensus
