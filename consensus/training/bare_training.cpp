// Benchmark baselines in libtorch (ATen only, as consensus/training/trainer.cpp). The model is the
// same GPT as trainer.cpp's forward (PROTOCOL.md 2.2), written here without its recording hooks so
// that the baseline pays for nothing the chain adds.
#include <chrono>
#include <cmath>
#include <limits>

#include <learnchain/consensus/training/bare_training.hpp>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace learnchain::training {
namespace {

constexpr double layer_norm_eps = 1e-5;

at::Tensor forward(const chain::ModelConfig& c, const std::vector<at::Tensor>& p,
                   const at::Tensor& idx) {
    const std::int64_t batch = idx.size(0), t = idx.size(1);
    const std::int64_t d = c.width, heads = c.heads, hd = d / heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const auto causal = at::ones({t, t}, idx.options().dtype(at::kBool)).triu(1);
    at::Tensor x = at::embedding(p[0], idx) + p[1].narrow(0, 0, t);
    for (std::uint32_t l = 0; l < c.layers; ++l) {
        const auto* w = &p[ModelLayout::layer_tensor(l, 0)];
        at::Tensor h = at::layer_norm(x, {d}, w[0], w[1], layer_norm_eps);
        const auto qkv = at::linear(h, w[2], w[3]).split(d, -1);
        auto heads_view = [&](const at::Tensor& y) {
            return y.view({batch, t, heads, hd}).transpose(1, 2);
        };
        const at::Tensor q = heads_view(qkv[0]), k = heads_view(qkv[1]), v = heads_view(qkv[2]);
        at::Tensor att = at::matmul(q, k.transpose(-2, -1)) * scale;
        att = at::softmax(att.masked_fill(causal, -std::numeric_limits<float>::infinity()), -1);
        const at::Tensor y = at::matmul(att, v).transpose(1, 2).reshape({batch, t, d});
        x = x + at::linear(y, w[4], w[5]);
        h = at::layer_norm(x, {d}, w[6], w[7], layer_norm_eps);
        x = x + at::linear(at::gelu(at::linear(h, w[8], w[9])), w[10], w[11]);
    }
    const std::size_t n = p.size();
    return at::linear(at::layer_norm(x, {d}, p[n - 3], p[n - 2], layer_norm_eps), p[n - 1]);
}

}  // namespace

Result<BareTrainingReport> bare_training_run(const ModelWeights& initial,
                                             const chain::OptimizerParams& params,
                                             const std::vector<Batch>& batches, std::uint32_t steps,
                                             std::uint32_t micro_batches) {
    if (batches.empty() || micro_batches == 0)
        return make_error(ErrorKind::local, "bare-training-invalid", "no batches");
    const auto& config = initial.layout.config();
    try {
        at::AutoGradMode grad_mode(true);
        std::vector<at::Tensor> p, m, v;
        for (const auto& spec : initial.layout.tensors()) {
            std::vector<std::int64_t> shape(spec.shape.begin(), spec.shape.end());
            const auto values = initial.tensor(&spec - initial.layout.tensors().data());
            p.push_back(at::from_blob(const_cast<float*>(values.data()), shape, at::kFloat)
                            .clone()
                            .set_requires_grad(true));
            m.push_back(at::zeros(shape, at::kFloat));
            v.push_back(at::zeros(shape, at::kFloat));
        }
        // Token tensors built up front: the loop times training only.
        std::vector<std::pair<at::Tensor, at::Tensor>> tokens;
        for (const auto& batch : batches) {
            const std::int64_t b = batch.size, t = batch.context;
            at::Tensor all = at::empty({b, t + 1}, at::kLong);
            auto* out = all.data_ptr<std::int64_t>();
            for (std::size_t i = 0; i < batch.tokens.size(); ++i) out[i] = batch.tokens[i];
            tokens.emplace_back(all.narrow(1, 0, t), all.narrow(1, 1, t).reshape({-1}));
        }

        BareTrainingReport report;
        const auto start = std::chrono::steady_clock::now();
        double beta1_power = 1, beta2_power = 1;
        std::size_t next = 0;
        for (std::uint32_t step = 0; step < steps; ++step) {
            for (std::uint32_t b = 0; b < micro_batches; ++b) {
                const auto& [inputs, targets] = tokens[next++ % tokens.size()];
                const at::Tensor logits = forward(config, p, inputs);
                const at::Tensor loss =
                    at::cross_entropy_loss(logits.reshape({-1, std::int64_t{config.vocab_size}}),
                                           targets) /
                    static_cast<double>(micro_batches);
                loss.backward();
                const double value = loss.item<double>() * micro_batches;
                if (report.tokens == 0) report.first_loss = value;
                report.last_loss = value;
                report.tokens += static_cast<std::uint64_t>(targets.numel());
            }
            at::NoGradGuard no_grad;
            beta1_power *= params.beta1;
            beta2_power *= params.beta2;
            const double step_size = params.learning_rate / (1 - beta1_power);
            const double correction2_sqrt = std::sqrt(1 - beta2_power);
            for (std::size_t i = 0; i < p.size(); ++i) {
                at::Tensor g = p[i].mutable_grad();
                p[i].mul_(1 - params.learning_rate * params.weight_decay);
                m[i].mul_(params.beta1).add_(g, 1 - params.beta1);
                v[i].mul_(params.beta2).addcmul_(g, g, 1 - params.beta2);
                const at::Tensor denom = (v[i].sqrt() / correction2_sqrt).add_(params.epsilon);
                p[i].addcdiv_(m[i], denom, -step_size);
                g.zero_();
            }
            ++report.steps;
        }
        report.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return report;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "bare-training-torch", e.what());
    }
}

double measure_sgemm_flops(std::int64_t n, int repeats) {
    at::NoGradGuard no_grad;
    const at::Tensor a = at::rand({n, n}, at::kFloat), b = at::rand({n, n}, at::kFloat);
    at::Tensor c = at::mm(a, b);  // warm-up
    double best = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        at::mm_out(c, a, b);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::max(best, 2.0 * static_cast<double>(n) * n * n / seconds);
    }
    return best;
}

}  // namespace learnchain::training
