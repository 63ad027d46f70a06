// Generation with a key/value cache. The second libtorch TU of consensus (after trainer.cpp);
// it repeats the training forward pass (trainer.cpp's forward, PROTOCOL.md 2.2) for one
// sequence, so that positions can be fed a few at a time against cached keys and values.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>

#include <learnchain/consensus/training/generate.hpp>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace learnchain::training {
namespace {

constexpr double layer_norm_eps = 1e-5;

// Keys and values of every position fed so far, per layer, as [heads, context, head size];
// allocated once per generation so that a step writes one row instead of re-concatenating.
struct KvCache {
    std::vector<at::Tensor> keys;
    std::vector<at::Tensor> values;

    explicit KvCache(const ModelConfig& c) {
        const std::int64_t hd = c.width / c.heads;
        for (std::uint32_t l = 0; l < c.layers; ++l) {
            keys.push_back(at::empty({c.heads, c.context, hd}, at::kFloat));
            values.push_back(at::empty({c.heads, c.context, hd}, at::kFloat));
        }
    }
};

at::Tensor token_tensor(std::span<const std::uint8_t> tokens) {
    at::Tensor idx = at::empty({static_cast<std::int64_t>(tokens.size())}, at::kLong);
    auto* out = idx.data_ptr<std::int64_t>();
    for (std::size_t i = 0; i < tokens.size(); ++i) out[i] = tokens[i];
    return idx;
}

std::vector<float> to_vector(const at::Tensor& row) {
    const at::Tensor cpu = row.to(at::kFloat).contiguous();
    const float* data = cpu.data_ptr<float>();
    return {data, data + cpu.numel()};
}

Status check_tokens(const ModelConfig& c, std::span<const std::uint8_t> tokens) {
    if (tokens.empty())
        return make_error(ErrorKind::malformed, "generate-bad-prompt", "empty prompt");
    for (auto t : tokens)
        if (t >= c.vocab_size)
            return make_error(ErrorKind::malformed, "generate-bad-prompt",
                              "byte " + std::to_string(t) + " is outside the vocabulary");
    return ok_status();
}

}  // namespace

std::string_view to_string(FinishReason reason) {
    switch (reason) {
        case FinishReason::max_tokens:
            return "max-tokens";
        case FinishReason::context:
            return "context";
    }
    return "unknown";
}

struct Generator::Impl {
    ModelLayout layout;
    at::Tensor flat;            // owns the values
    std::vector<at::Tensor> p;  // views of `flat`, canonical order

    // Feeds tokens[0..n) at positions start .. start+n-1 and returns the logits [rows, V] of the
    // last `rows` positions. With a cache, attention reads positions 0 .. start+n-1 from it (and
    // this call's keys and values are written into it first); without, start must be 0 and
    // attention uses this call's keys and values directly, exactly as the training pass does.
    at::Tensor forward(const at::Tensor& idx, std::int64_t start, KvCache* cache,
                       std::int64_t rows) const {
        const auto& c = layout.config();
        const std::int64_t n = idx.size(0), d = c.width, heads = c.heads, hd = d / heads;
        const std::int64_t total = start + n;
        const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
        // Query i (position start + i) may see keys 0 .. start + i.
        at::Tensor mask;
        if (n > 1) mask = at::ones({n, total}, at::kBool).triu(start + 1);

        at::Tensor x = at::embedding(p[0], idx) + p[1].narrow(0, start, n);
        for (std::uint32_t l = 0; l < c.layers; ++l) {
            const auto* w = &p[ModelLayout::layer_tensor(l, 0)];
            at::Tensor h = at::layer_norm(x, {d}, w[0], w[1], layer_norm_eps);
            const at::Tensor qkv = at::linear(h, w[2], w[3]);
            auto heads_view = [&](std::int64_t part) {
                return qkv.narrow(1, part * d, d).view({n, heads, hd}).transpose(0, 1);
            };
            const at::Tensor q = heads_view(0);
            at::Tensor k = heads_view(1), v = heads_view(2);
            if (cache != nullptr) {
                cache->keys[l].narrow(1, start, n).copy_(k);
                cache->values[l].narrow(1, start, n).copy_(v);
                k = cache->keys[l].narrow(1, 0, total);
                v = cache->values[l].narrow(1, 0, total);
            }
            at::Tensor att = at::matmul(q, k.transpose(-2, -1)) * scale;  // [H, n, total]
            if (mask.defined())
                att = att.masked_fill(mask, -std::numeric_limits<float>::infinity());
            att = at::softmax(att, -1);
            const at::Tensor y = at::matmul(att, v).transpose(0, 1).reshape({n, d});
            x = x + at::linear(y, w[4], w[5]);
            h = at::layer_norm(x, {d}, w[6], w[7], layer_norm_eps);
            x = x + at::linear(at::gelu(at::linear(h, w[8], w[9])), w[10], w[11]);
        }
        const std::size_t last = p.size();
        const at::Tensor tail = x.narrow(0, n - rows, rows);
        const at::Tensor h = at::layer_norm(tail, {d}, p[last - 3], p[last - 2], layer_norm_eps);
        return at::linear(h, p[last - 1]);
    }

    std::vector<float> next_logits(std::span<const std::uint8_t> sequence) const {
        const at::Tensor logits = forward(token_tensor(sequence), 0, nullptr, 1);
        return to_vector(logits[0]);
    }
};

Generator::Generator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;
Generator::~Generator() = default;

const ModelLayout& Generator::layout() const {
    return impl_->layout;
}

Result<Generator> Generator::create(const ModelWeights& weights) {
    if (weights.values.size() != weights.layout.parameter_count())
        return make_error(ErrorKind::malformed, "generate-bad-weights",
                          "values do not match the layout");
    try {
        c10::InferenceMode guard;
        auto impl = std::make_unique<Impl>(Impl{weights.layout, {}, {}});
        impl->flat = at::empty({static_cast<std::int64_t>(weights.values.size())}, at::kFloat);
        std::copy(weights.values.begin(), weights.values.end(), impl->flat.data_ptr<float>());
        for (const auto& spec : impl->layout.tensors()) {
            std::vector<std::int64_t> shape(spec.shape.begin(), spec.shape.end());
            impl->p.push_back(impl->flat
                                  .narrow(0, static_cast<std::int64_t>(spec.offset),
                                          static_cast<std::int64_t>(spec.size))
                                  .view(shape));
        }
        return Generator(std::move(impl));
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "generate-torch-error", e.what());
    }
}

Result<Generation> Generator::generate(std::string_view prompt, const SamplingOptions& options,
                                       CacheMode mode) const {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(prompt.data());
    return generate(std::span<const std::uint8_t>(bytes, prompt.size()), options, mode);
}

Result<Generation> Generator::generate(std::span<const std::uint8_t> prompt,
                                       const SamplingOptions& options, CacheMode mode) const {
    const auto& c = impl_->layout.config();
    LEARNCHAIN_TRY(check_tokens(c, prompt));
    if (prompt.size() >= c.context)
        return make_error(ErrorKind::policy, "generate-prompt-too-long",
                          std::to_string(prompt.size()) + " bytes leave no room in a context of " +
                              std::to_string(c.context));
    if (!std::isfinite(options.temperature) || options.temperature < 0.0)
        return make_error(ErrorKind::malformed, "generate-bad-params",
                          "temperature must be finite and >= 0");

    Generation out;
    if (options.max_tokens == 0) return out;
    try {
        c10::InferenceMode guard;
        SplitMix64 rng(options.seed);
        std::vector<std::uint8_t> sequence(prompt.begin(), prompt.end());
        std::optional<KvCache> cache;
        std::vector<float> logits;
        if (mode == CacheMode::kv_cache) {
            cache.emplace(c);
            logits = to_vector(impl_->forward(token_tensor(prompt), 0, &*cache, 1)[0]);
        } else {
            logits = impl_->next_logits(sequence);
        }
        while (true) {
            const std::uint8_t token = sample_token(logits, options, rng);
            out.tokens.push_back(token);
            sequence.push_back(token);
            if (out.tokens.size() == options.max_tokens) break;
            if (sequence.size() == c.context) {
                out.finish = FinishReason::context;
                break;
            }
            if (cache) {
                const auto start = static_cast<std::int64_t>(sequence.size() - 1);
                logits = to_vector(impl_->forward(token_tensor({&token, 1}), start, &*cache, 1)[0]);
            } else {
                logits = impl_->next_logits(sequence);
            }
        }
        return out;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "generate-torch-error", e.what());
    }
}

Result<std::vector<std::vector<float>>> Generator::prefix_logits(
    std::span<const std::uint8_t> tokens, std::size_t first, CacheMode mode) const {
    const auto& c = impl_->layout.config();
    LEARNCHAIN_TRY(check_tokens(c, tokens));
    if (first == 0 || first > tokens.size() || tokens.size() > c.context)
        return make_error(ErrorKind::malformed, "generate-bad-params",
                          "prefixes must be non-empty and fit the context");
    try {
        c10::InferenceMode guard;
        std::vector<std::vector<float>> rows;
        if (mode == CacheMode::none) {
            for (std::size_t n = first; n <= tokens.size(); ++n)
                rows.push_back(impl_->next_logits(tokens.first(n)));
            return rows;
        }
        KvCache cache(c);
        rows.push_back(
            to_vector(impl_->forward(token_tensor(tokens.first(first)), 0, &cache, 1)[0]));
        for (std::size_t n = first + 1; n <= tokens.size(); ++n) {
            const auto start = static_cast<std::int64_t>(n - 1);
            rows.push_back(to_vector(
                impl_->forward(token_tensor(tokens.subspan(n - 1, 1)), start, &cache, 1)[0]));
        }
        return rows;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "generate-torch-error", e.what());
    }
}

std::uint8_t sample_token(std::span<const float> logits, const SamplingOptions& options,
                          SplitMix64& rng) {
    // NaN never wins: it compares as -infinity.
    auto value = [&](std::uint32_t i) { return std::isnan(logits[i]) ? -INFINITY : logits[i]; };
    const auto size = static_cast<std::uint32_t>(logits.size());
    if (options.temperature == 0.0 || options.top_k == 1) {
        std::uint32_t best = 0;  // the first maximum: ties go to the smaller byte
        for (std::uint32_t i = 1; i < size; ++i)
            if (value(i) > value(best)) best = i;
        return static_cast<std::uint8_t>(best);
    }
    // Candidates in byte order, or with top_k the k largest ordered by logit then byte, so that
    // the draw depends on the logits alone and never on a sort's instability.
    std::vector<std::uint32_t> order(size);
    std::iota(order.begin(), order.end(), 0u);
    std::size_t keep = order.size();
    if (options.top_k != 0 && options.top_k < size) {
        keep = options.top_k;
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep),
                          order.end(), [&](std::uint32_t a, std::uint32_t b) {
                              return value(a) != value(b) ? value(a) > value(b) : a < b;
                          });
    }
    float top = -INFINITY;
    for (std::size_t i = 0; i < keep; ++i) top = std::max(top, value(order[i]));
    std::vector<double> weight(keep);
    double total = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
        const double l = value(order[i]);
        weight[i] = std::isfinite(l) ? std::exp((l - double(top)) / options.temperature) : 0.0;
        total += weight[i];
    }
    if (!(total > 0.0) || !std::isfinite(total)) {
        SamplingOptions greedy = options;
        greedy.temperature = 0.0;
        return sample_token(logits, greedy, rng);
    }
    // A 53-bit uniform in [0, 1), scaled to the total mass.
    const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53 * total;
    double acc = 0.0;
    for (std::size_t i = 0; i < keep; ++i) {
        acc += weight[i];
        if (u < acc) return static_cast<std::uint8_t>(order[i]);
    }
    return static_cast<std::uint8_t>(order[keep - 1]);
}

// ---------------------------------------------------------------------------------------------
// The benchmark's reference, written as a libtorch user would: one tensor per parameter, keys
// and values concatenated onto growing caches, argmax read back each step. No validation.

Result<std::vector<std::uint8_t>> bare_libtorch_generate(const ModelWeights& weights,
                                                         std::span<const std::uint8_t> prompt,
                                                         std::uint32_t max_tokens) {
    try {
        at::NoGradGuard no_grad;
        const auto& c = weights.layout.config();
        std::vector<at::Tensor> p;
        for (const auto& spec : weights.layout.tensors()) {
            std::vector<std::int64_t> shape(spec.shape.begin(), spec.shape.end());
            p.push_back(at::from_blob(const_cast<float*>(weights.values.data() + spec.offset),
                                      shape, at::kFloat)
                            .clone());
        }
        const std::int64_t d = c.width, heads = c.heads, hd = d / heads;
        std::vector<at::Tensor> ks(c.layers), vs(c.layers);
        std::vector<std::uint8_t> out;
        std::int64_t pos = 0;
        at::Tensor idx = token_tensor(prompt);
        const std::size_t limit = std::min<std::size_t>(
            max_tokens, c.context - std::min<std::size_t>(prompt.size(), c.context));
        while (out.size() < limit) {
            const std::int64_t n = idx.size(0);
            at::Tensor x = at::embedding(p[0], idx) + p[1].narrow(0, pos, n);
            for (std::uint32_t l = 0; l < c.layers; ++l) {
                const auto* w = &p[2 + 12 * l];
                at::Tensor h = at::layer_norm(x, {d}, w[0], w[1], layer_norm_eps);
                const auto qkv =
                    at::linear(h, w[2], w[3]).view({n, 3, heads, hd}).permute({1, 2, 0, 3});
                const at::Tensor q = qkv[0];
                ks[l] = ks[l].defined() ? at::cat({ks[l], qkv[1]}, 1) : qkv[1];
                vs[l] = vs[l].defined() ? at::cat({vs[l], qkv[2]}, 1) : qkv[2];
                at::Tensor att = at::matmul(q, ks[l].transpose(-2, -1)) / std::sqrt(double(hd));
                if (n > 1)
                    att =
                        att.masked_fill(at::ones({n, pos + n}, at::kBool).triu(pos + 1), -INFINITY);
                const at::Tensor y =
                    at::matmul(at::softmax(att, -1), vs[l]).transpose(0, 1).reshape({n, d});
                x = x + at::linear(y, w[4], w[5]);
                h = at::layer_norm(x, {d}, w[6], w[7], layer_norm_eps);
                x = x + at::linear(at::gelu(at::linear(h, w[8], w[9])), w[10], w[11]);
            }
            const std::size_t last = p.size();
            const at::Tensor logits =
                at::linear(at::layer_norm(x[n - 1], {d}, p[last - 3], p[last - 2], layer_norm_eps),
                           p[last - 1]);
            const auto next = logits.argmax().item<std::int64_t>();
            out.push_back(static_cast<std::uint8_t>(next));
            pos += n;
            idx = at::full({1}, next, at::kLong);
        }
        return out;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "generate-torch-error", e.what());
    }
}

}  // namespace learnchain::training
