// The model on libtorch (ATen: the op library and autograd, without the nn/optim front end,
// which would cost seconds more per build).
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <utility>

#include <learnchain/chain/parallel.hpp>
#include <learnchain/consensus/sketch.hpp>
#include <learnchain/consensus/training/trainer.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

namespace learnchain::training {

using chain::Hash256;
using consensus::SketchPattern;
using consensus::SketchSlot;
using consensus::UnitKind;
using consensus::UnitPlan;

namespace {

constexpr double layer_norm_eps = 1e-5;

// Activations a traced forward keeps (PROTOCOL.md, "Units"): per op, the activation entering
// it and the one it produces; per layer, the fused q|k|v projection and the heads' output.
struct ForwardRecord {
    std::vector<std::pair<at::Tensor, at::Tensor>> ops;
    std::vector<std::pair<at::Tensor, at::Tensor>> attention;  // qkv [B,T,3D], y [B,T,D]
};

// The op that uses canonical tensor t: 0 embedding, then per layer ln1, qkv, attn.proj, ln2,
// fc, mlp.proj (two tensors each), then ln_f and lm_head.
std::size_t op_of_tensor(std::size_t t, std::uint32_t layers) {
    if (t < 2) return 0;
    const std::size_t per_layer = ModelLayout::tensors_per_layer();
    if (t < 2 + per_layer * layers) return 1 + (t - 2) / 2;
    return t == 4 + per_layer * layers ? 2 + 6 * std::size_t{layers} : 1 + 6 * std::size_t{layers};
}

// Forward pass of the GPT over views `p` of the flat parameter vector, in canonical order.
// idx: [B, T] int64 tokens. Returns logits [B, T, V]. With `rec`, records every op boundary.
at::Tensor forward(const ModelConfig& c, const std::vector<at::Tensor>& p, const at::Tensor& idx,
                   ForwardRecord* rec = nullptr) {
    const std::int64_t batch = idx.size(0), t = idx.size(1);
    const std::int64_t d = c.width, heads = c.heads, hd = d / heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const auto causal = at::ones({t, t}, idx.options().dtype(at::kBool)).triu(1);
    auto record = [&](const at::Tensor& in, const at::Tensor& out) {
        if (rec) rec->ops.emplace_back(in, out);
    };

    at::Tensor x = at::embedding(p[0], idx) + p[1].narrow(0, 0, t);
    record(idx, x);
    for (std::uint32_t l = 0; l < c.layers; ++l) {
        const auto* w = &p[ModelLayout::layer_tensor(l, 0)];
        at::Tensor h = at::layer_norm(x, {d}, w[0], w[1], layer_norm_eps);
        record(x, h);
        const at::Tensor qkv_all = at::linear(h, w[2], w[3]);
        record(h, qkv_all);
        const auto qkv = qkv_all.split(d, -1);
        auto heads_view = [&](const at::Tensor& y) {
            return y.view({batch, t, heads, hd}).transpose(1, 2);  // [B, H, T, hd]
        };
        const at::Tensor q = heads_view(qkv[0]), k = heads_view(qkv[1]), v = heads_view(qkv[2]);
        at::Tensor att = at::matmul(q, k.transpose(-2, -1)) * scale;
        att = at::softmax(att.masked_fill(causal, -std::numeric_limits<float>::infinity()), -1);
        const at::Tensor y = at::matmul(att, v).transpose(1, 2).reshape({batch, t, d});
        if (rec) rec->attention.emplace_back(qkv_all, y);
        x = x + at::linear(y, w[4], w[5]);
        record(y, x);
        h = at::layer_norm(x, {d}, w[6], w[7], layer_norm_eps);
        record(x, h);
        const at::Tensor u = at::linear(h, w[8], w[9]);
        record(h, u);
        const at::Tensor g = at::gelu(u);
        x = x + at::linear(g, w[10], w[11]);
        record(g, x);
    }
    const std::size_t n = p.size();
    const at::Tensor h = at::layer_norm(x, {d}, p[n - 3], p[n - 2], layer_norm_eps);
    record(x, h);
    at::Tensor logits = at::linear(h, p[n - 1]);
    record(h, logits);
    return logits;
}

// One sketch of a traced micro-batch: its input parts laid end to end, its seed, and where the
// result goes. A part is read in place as `rows` runs of `width` floats `stride` apart, so the
// attention units' column slices of q|k|v and y need no contiguous copy; the elements are
// added in the same order as from a copy, so the sketch has the same bits.
struct SketchPart {
    at::Tensor tensor;  // keeps the storage alive while the sketch runs
    const float* data = nullptr;
    std::int64_t rows = 0, width = 0, stride = 0;
};

struct SketchJob {
    std::vector<SketchPart> parts;
    Hash256 seed;
    std::size_t count = 0;
    std::vector<float>* out = nullptr;
    const SketchPattern* pattern = nullptr;

    // Must not throw: it runs on a helper thread beside the backward pass. Without a pattern
    // the elements are hashed as they are added, with the same bits (sketch.hpp).
    void sketch(std::uint32_t rows) const {
        std::vector<double> acc(rows, 0.0);
        std::size_t first = 0;
        for (const auto& part : parts) {
            const auto width = static_cast<std::size_t>(part.width);
            for (std::int64_t r = 0; r < part.rows; ++r) {
                const std::span<const float> values{part.data + r * part.stride, width};
                if (pattern != nullptr)
                    pattern->accumulate(values, acc, first);
                else
                    consensus::sketch_accumulate(values, seed, first, acc);
                first += width;
            }
        }
        out->assign(acc.begin(), acc.end());
    }
};

// An f32 CPU tensor as rows of its last dimension, in place when its leading dimensions
// collapse to one stride (a slice of the last dimension of a contiguous tensor does), else as a
// contiguous copy.
SketchPart sketch_part(const at::Tensor& t) {
    at::Tensor x = t.detach();
    if (x.device() != at::kCPU || x.scalar_type() != at::kFloat) x = x.to(at::kCPU, at::kFloat);
    const std::int64_t dims = x.dim();
    bool in_place = dims >= 1 && x.stride(dims - 1) == 1;
    for (std::int64_t d = 0; in_place && d + 2 < dims; ++d)
        in_place = x.stride(d) == x.size(d + 1) * x.stride(d + 1);
    if (!in_place || dims < 2) x = x.contiguous();
    SketchPart part;
    part.width = dims == 0 ? 1 : x.size(dims - 1);
    part.rows = part.width == 0 ? 0 : x.numel() / part.width;
    part.stride = dims >= 2 ? x.stride(dims - 2) : part.width;
    part.data = x.data_ptr<float>();
    part.tensor = std::move(x);
    return part;
}

// One sequence of bytes as token ids, [1, bytes.size()]: the vocabulary is the bytes.
Result<at::Tensor> byte_tokens(std::string_view bytes, std::uint32_t vocab_size) {
    at::Tensor idx = at::empty({1, static_cast<std::int64_t>(bytes.size())}, at::kLong);
    for (std::size_t j = 0; j < bytes.size(); ++j) {
        const auto byte = static_cast<std::uint8_t>(bytes[j]);
        if (byte >= vocab_size)
            return make_error(ErrorKind::local, "trainer-batch-invalid",
                              "token outside the vocabulary");
        idx.data_ptr<std::int64_t>()[j] = byte;
    }
    return idx;
}

bool same_shapes(const ModelLayout& a, const ModelLayout& b) {
    if (a.tensors().size() != b.tensors().size()) return false;
    for (std::size_t i = 0; i < a.tensors().size(); ++i)
        if (a.tensors()[i].shape != b.tensors()[i].shape) return false;
    return true;
}

}  // namespace

struct Trainer::Impl {
    ModelLayout layout;
    at::Device device{at::kCPU};
    // Sketch patterns of the contribution being traced: hashed once, used by every later
    // micro-batch. The first micro-batch of a contribution is hashed inline instead: a pattern
    // costs as much as hashing in place, and a sampling verifier traces one micro-batch of each
    // contribution, so building patterns there would only add their memory and a second pass.
    Hash256 patterns_for;
    std::uint64_t traces_of_contribution = 0;
    std::map<Hash256, std::unique_ptr<SketchPattern>> patterns;

    // Counts the traces of one contribution in a row; patterns are kept for one at a time.
    void begin_trace(const Hash256& contribution) {
        if (contribution != patterns_for) {
            patterns.clear();
            patterns_for = contribution;
            traces_of_contribution = 0;
        }
        ++traces_of_contribution;
    }

    // From the contribution's second trace on, points every job at its pattern, hashing the
    // missing ones on all cores.
    void resolve(std::uint32_t rows, std::vector<SketchJob>& jobs) {
        if (traces_of_contribution < 2) return;
        std::vector<std::size_t> missing;
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            const auto it = patterns.find(jobs[i].seed);
            if (it != patterns.end() && it->second->size() == jobs[i].count &&
                it->second->rows() == rows)
                jobs[i].pattern = it->second.get();
            else
                missing.push_back(i);
        }
        std::vector<std::unique_ptr<SketchPattern>> built(missing.size());
        parallel_jobs(missing.size(), [&](std::size_t i) {
            const SketchJob& job = jobs[missing[i]];
            built[i] = std::make_unique<SketchPattern>(job.seed, rows, 0, job.count);
        });
        for (std::size_t i = 0; i < missing.size(); ++i) {
            jobs[missing[i]].pattern = built[i].get();
            patterns[jobs[missing[i]].seed] = std::move(built[i]);
        }
    }

    Status check(const ModelWeights& weights) const {
        if (!same_shapes(weights.layout, layout) ||
            weights.values.size() != layout.parameter_count())
            return make_error(ErrorKind::local, "trainer-weights-mismatch",
                              "weights do not have the trainer's layout");
        return ok_status();
    }

    Status check(const Batch& batch) const {
        const auto& c = layout.config();
        if (batch.size == 0 || batch.context == 0 || batch.context > c.context ||
            batch.tokens.size() != std::uint64_t{batch.size} * (batch.context + 1))
            return make_error(ErrorKind::local, "trainer-batch-invalid",
                              "batch shape does not fit the model");
        for (auto token : batch.tokens)
            if (token >= c.vocab_size)
                return make_error(ErrorKind::local, "trainer-batch-invalid",
                                  "token outside the vocabulary");
        return ok_status();
    }

    // The flat parameters on the device, and views of them in canonical order.
    std::pair<at::Tensor, std::vector<at::Tensor>> load(const ModelWeights& weights,
                                                        bool requires_grad) const {
        auto cpu = at::from_blob(const_cast<float*>(weights.values.data()),
                                 {static_cast<std::int64_t>(weights.values.size())},
                                 at::TensorOptions().dtype(at::kFloat));
        at::Tensor flat = cpu.to(device, at::kFloat, /*non_blocking=*/false, /*copy=*/true);
        if (requires_grad) flat.set_requires_grad(true);
        std::vector<at::Tensor> views;
        for (const auto& spec : layout.tensors()) {
            std::vector<std::int64_t> shape(spec.shape.begin(), spec.shape.end());
            views.push_back(flat.narrow(0, static_cast<std::int64_t>(spec.offset),
                                        static_cast<std::int64_t>(spec.size))
                                .view(shape));
        }
        return {flat, views};
    }

    // Parameters for a backward pass: one leaf per canonical tensor, as a plain libtorch program
    // has them. Views of one flat leaf made autograd's narrow backward materialise a zero-filled
    // full-size gradient per tensor and sum them all into the flat .grad (about 28 x 3.5 MB per
    // micro-batch on the devnet model): most of the gap to a bare libtorch loop.
    std::vector<at::Tensor> leaves(const ModelWeights& weights) const {
        auto [flat, views] = load(weights, /*requires_grad=*/false);
        for (auto& v : views) v.set_requires_grad(true);
        return views;
    }

    // The leaves' gradients in the canonical flat layout. Adding +0 turns -0 into +0, exactly
    // what summing into the flat .grad did, so gradients keep the bits they had.
    std::vector<float> gather(const std::vector<at::Tensor>& leaves) const {
        std::vector<float> out(layout.parameter_count(), 0.0f);
        for (std::size_t i = 0; i < leaves.size(); ++i) {
            const at::Tensor& g = leaves[i].grad();
            if (!g.defined()) continue;
            const at::Tensor cpu = g.to(at::kCPU, at::kFloat).contiguous();
            const float* src = cpu.data_ptr<float>();
            float* dst = out.data() + layout.tensors()[i].offset;
            for (std::int64_t j = 0; j < cpu.numel(); ++j) dst[j] = src[j] + 0.0f;
        }
        return out;
    }

    // Inputs and targets as [B, T] int64 on the device.
    std::pair<at::Tensor, at::Tensor> tokens(const Batch& batch) const {
        const std::int64_t b = batch.size, t = batch.context;
        at::Tensor all = at::empty({b, t + 1}, at::kLong);
        auto* out = all.data_ptr<std::int64_t>();
        for (std::size_t i = 0; i < batch.tokens.size(); ++i) out[i] = batch.tokens[i];
        all = all.to(device);
        return {all.narrow(1, 0, t), all.narrow(1, 1, t)};
    }

    at::Tensor loss(const std::vector<at::Tensor>& views, const Batch& batch) const {
        const auto [inputs, targets] = tokens(batch);
        const at::Tensor logits = forward(layout.config(), views, inputs);
        const std::int64_t v = layout.config().vocab_size;
        return at::cross_entropy_loss(logits.reshape({-1, v}), targets.reshape({-1}));
    }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::Trainer(Trainer&&) noexcept = default;
Trainer& Trainer::operator=(Trainer&&) noexcept = default;
Trainer::~Trainer() = default;

Result<Trainer> Trainer::create(const ModelConfig& config, const std::string& device, int threads) {
    auto layout = ModelLayout::from_config(config);
    if (!layout) return layout.error();
    auto impl = std::make_unique<Impl>();
    impl->layout = std::move(layout).value();
    try {
        impl->device = at::Device(device);
    } catch (const std::exception&) {
        return make_error(ErrorKind::malformed, "trainer-device-invalid", device);
    }
    if (impl->device.is_cuda()) {
        if (!at::hasCUDA())
            return make_error(ErrorKind::local, "trainer-device-unavailable",
                              "this libtorch has no CUDA device");
        // TF32 matmuls drop 13 mantissa bits: far outside the verification tolerance.
        at::globalContext().setAllowTF32CuBLAS(false);
        at::globalContext().setAllowTF32CuDNN(false);
    } else if (!impl->device.is_cpu()) {
        return make_error(ErrorKind::malformed, "trainer-device-invalid",
                          device + " (only cpu and cuda:N)");
    }
    if (threads > 0) at::set_num_threads(threads);
    return Trainer(std::move(impl));
}

const ModelLayout& Trainer::layout() const {
    return impl_->layout;
}
std::string Trainer::device() const {
    return impl_->device.str();
}

Result<GradientResult> Trainer::compute_gradient(const ModelWeights& weights, const Batch& batch) {
    LEARNCHAIN_TRY(impl_->check(weights));
    LEARNCHAIN_TRY(impl_->check(batch));
    try {
        at::AutoGradMode grad_mode(true);
        const auto views = impl_->leaves(weights);
        at::Tensor loss = impl_->loss(views, batch);
        loss.backward();
        GradientResult result;
        result.loss = loss.item<double>();
        result.tokens = batch.target_count();
        result.gradient = impl_->gather(views);
        return result;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "trainer-torch-error", e.what());
    }
}

Result<MicroBatchTrace> Trainer::trace(const ModelWeights& weights, const Batch& batch,
                                       const TraceSpec& spec) {
    LEARNCHAIN_TRY(impl_->check(weights));
    LEARNCHAIN_TRY(impl_->check(batch));
    if (spec.plan == nullptr)
        return make_error(ErrorKind::local, "trainer-trace-invalid", "no unit plan");
    const UnitPlan& plan = *spec.plan;
    const auto& c = impl_->layout.config();
    if (plan.layers() != c.layers || c.heads % plan.head_groups() != 0 || plan.sections().empty() ||
        plan.sections().back().end_tensor != impl_->layout.tensors().size())
        return make_error(ErrorKind::local, "trainer-trace-invalid",
                          "unit plan does not fit the model");
    const std::uint32_t rows = plan.sketch_rows();
    const std::size_t k = plan.sections().size();
    try {
        impl_->begin_trace(spec.contribution_seed);
        MicroBatchTrace trace;
        trace.forward.resize(k);
        trace.backward.resize(k);
        trace.attention.resize(plan.attention_units());
        std::vector<SketchJob> jobs;
        auto add = [&](std::vector<at::Tensor> parts, UnitKind kind, std::uint32_t index,
                       SketchSlot slot, std::vector<float>& out) {
            SketchJob job;
            job.seed = consensus::activation_sketch_seed(spec.contribution_seed, kind, index, slot);
            job.out = &out;
            for (const auto& p : parts) {
                job.parts.push_back(sketch_part(p));
                job.count += static_cast<std::size_t>(p.numel());
            }
            jobs.push_back(std::move(job));
        };

        at::AutoGradMode grad_mode(true);
        const auto views = impl_->leaves(weights);
        const auto [inputs, targets] = impl_->tokens(batch);
        ForwardRecord rec;
        const at::Tensor logits = forward(c, views, inputs, &rec);
        const at::Tensor loss = at::cross_entropy_loss(
            logits.reshape({-1, std::int64_t{c.vocab_size}}), targets.reshape({-1}));

        std::vector<at::Tensor> section_out;
        for (std::uint32_t s = 0; s < k; ++s) {
            const auto& section = plan.sections()[s];
            // The embedding's input is the token ids, sketched as f32 (exact below 2^24).
            add({rec.ops[op_of_tensor(section.first_tensor, c.layers)].first}, UnitKind::forward, s,
                SketchSlot::input, trace.forward[s].in);
            auto& out = rec.ops[op_of_tensor(section.end_tensor - 1, c.layers)].second;
            add({out}, UnitKind::forward, s, SketchSlot::output, trace.forward[s].out);
            if (!out.retains_grad()) out.retain_grad();
            section_out.push_back(out);
        }
        const std::int64_t d = c.width, width = d / plan.head_groups();
        for (std::uint32_t l = 0; l < c.layers; ++l) {
            const auto& [qkv, y] = rec.attention[l];
            for (std::uint32_t g = 0; g < plan.head_groups(); ++g) {
                const std::uint32_t index = l * plan.head_groups() + g;
                const std::int64_t first = g * width;
                add({qkv.narrow(-1, first, width), qkv.narrow(-1, d + first, width),
                     qkv.narrow(-1, 2 * d + first, width)},
                    UnitKind::attention, index, SketchSlot::input, trace.attention[index].in);
                add({y.narrow(-1, first, width)}, UnitKind::attention, index, SketchSlot::output,
                    trace.attention[index].out);
            }
        }
        rec = {};
        std::vector<SketchJob> forward_jobs = std::exchange(jobs, {});
        impl_->resolve(rows, forward_jobs);
        {
            // FWD and ATT sketches on a helper thread while the backward pass runs. With
            // libtorch's default of one intra-op thread on small machines, ATen's own ops leave
            // the second core to OpenBLAS's worker, which spins between matrix products, so the
            // sketches mostly fill time that core would waste (sketched between forward and
            // backward they cost ~7% of a micro-batch). The activations are only read; the jobs
            // keep them alive until the helper is joined, also when backward() throws.
            std::jthread helper([&jobs = std::as_const(forward_jobs), rows] {
                for (const auto& job : jobs) job.sketch(rows);
            });
            loss.backward();
        }
        {
            at::NoGradGuard no_grad;
            for (std::uint32_t s = 0; s < k; ++s)
                add({section_out[s].grad()}, UnitKind::backward, s, SketchSlot::input,
                    trace.backward[s]);
            impl_->resolve(rows, jobs);
            parallel_jobs(jobs.size(), [&](std::size_t i) { jobs[i].sketch(rows); });
            jobs.clear();
            trace.gradient = impl_->gather(views);
        }
        trace.loss = loss.item<double>();
        trace.tokens = batch.target_count();
        return trace;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "trainer-torch-error", e.what());
    }
}

Result<double> Trainer::compute_loss(const ModelWeights& weights, const Batch& batch) {
    LEARNCHAIN_TRY(impl_->check(weights));
    LEARNCHAIN_TRY(impl_->check(batch));
    try {
        at::NoGradGuard no_grad;
        auto [flat, views] = impl_->load(weights, /*requires_grad=*/false);
        return impl_->loss(views, batch).item<double>();
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "trainer-torch-error", e.what());
    }
}

Result<std::vector<float>> Trainer::logits(const ModelWeights& weights, const std::string& text) {
    LEARNCHAIN_TRY(impl_->check(weights));
    const auto& c = impl_->layout.config();
    if (text.empty() || text.size() > c.context)
        return make_error(ErrorKind::local, "trainer-batch-invalid",
                          "text does not fit the context");
    try {
        at::NoGradGuard no_grad;
        auto [flat, views] = impl_->load(weights, /*requires_grad=*/false);
        auto idx = byte_tokens(text, c.vocab_size);
        if (!idx) return idx.error();
        const at::Tensor out = forward(c, views, idx->to(impl_->device)).to(at::kCPU).contiguous();
        const float* data = out.data_ptr<float>();
        return std::vector<float>(data, data + out.numel());
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "trainer-torch-error", e.what());
    }
}

Result<std::string> Trainer::complete(const ModelWeights& weights, const std::string& prompt,
                                      std::size_t max_new, char stop) {
    LEARNCHAIN_TRY(impl_->check(weights));
    const auto& c = impl_->layout.config();
    if (prompt.empty())
        return make_error(ErrorKind::local, "trainer-batch-invalid", "empty prompt");
    try {
        at::NoGradGuard no_grad;
        auto [flat, views] = impl_->load(weights, /*requires_grad=*/false);
        std::string text = prompt, out;
        for (std::size_t i = 0; i < max_new; ++i) {
            const std::size_t t = std::min<std::size_t>(text.size(), c.context);
            auto idx = byte_tokens(std::string_view(text).substr(text.size() - t), c.vocab_size);
            if (!idx) return idx.error();
            const at::Tensor logits = forward(c, views, idx->to(impl_->device));
            // argmax returns the first maximum, so ties resolve to the smallest byte.
            const auto next = static_cast<char>(
                logits[0][static_cast<std::int64_t>(t) - 1].argmax().item<std::int64_t>());
            if (next == stop) break;
            text.push_back(next);
            out.push_back(next);
        }
        return out;
    } catch (const std::exception& e) {
        return make_error(ErrorKind::local, "trainer-torch-error", e.what());
    }
}

Result<double> held_out_loss(Trainer& trainer, const ModelWeights& weights, const Dataset& dataset,
                             std::uint32_t count) {
    auto batch = dataset.held_out_batch(count, weights.layout.config().context);
    if (!batch) return batch.error();
    return trainer.compute_loss(weights, *batch);
}

Result<double> held_out_accuracy(Trainer& trainer, const ModelWeights& weights,
                                 const Dataset& dataset, std::size_t count) {
    const auto problems = dataset.held_out_problems(count);
    if (problems.empty())
        return make_error(ErrorKind::local, "dataset-no-held-out", "not a synthetic dataset");
    std::optional<Error> failure;
    const double accuracy =
        consensus::exact_match_accuracy(problems, [&](const std::string& prompt) {
            auto answer = trainer.complete(weights, prompt, 12);
            if (!answer) {
                failure = answer.error();
                return std::string();
            }
            return std::move(answer).value();
        });
    if (failure) return *failure;
    return accuracy;
}

consensus::TracerFactory tracer_factory(const ModelConfig& config, std::string device,
                                        int threads) {
    return [config, device = std::move(device),
            threads]() -> Result<std::unique_ptr<consensus::Tracer>> {
        auto trainer = Trainer::create(config, device, threads);
        if (!trainer) return trainer.error();
        return std::unique_ptr<consensus::Tracer>(
            std::make_unique<Trainer>(std::move(trainer).value()));
    };
}

}  // namespace learnchain::training
