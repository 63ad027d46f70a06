// The GPT model behind a torch-free interface: the libtorch implementation of consensus::Tracer,
// plus plain gradients, losses and greedy completion. Only consensus/training/*.cpp include
// libtorch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/trace.hpp>
#include <learnchain/consensus/units.hpp>

namespace learnchain::training {

using consensus::Batch;
using consensus::Dataset;
using consensus::MicroBatchTrace;
using consensus::ModelConfig;
using consensus::ModelLayout;
using consensus::ModelWeights;
using consensus::TraceSpec;

struct GradientResult {
    double loss = 0.0;            // mean cross-entropy (nats) over the targets
    std::uint64_t tokens = 0;     // targets the mean is over
    std::vector<float> gradient;  // d loss / d weights, canonical flat layout
};

class Trainer final : public consensus::Tracer {
public:
    // device: "cpu" or "cuda:N". "trainer-device-unavailable" when CUDA is asked for but this
    // libtorch has none; "trainer-device-invalid" for anything else unparsable.
    // threads > 0 sets libtorch's intra-op thread count (process-wide).
    [[nodiscard]] static Result<Trainer> create(const ModelConfig& config,
                                                const std::string& device = "cpu", int threads = 0);
    Trainer(Trainer&&) noexcept;
    Trainer& operator=(Trainer&&) noexcept;
    ~Trainer() override;

    [[nodiscard]] const ModelLayout& layout() const;
    [[nodiscard]] std::string device() const;

    // Forward and backward of the mean next-token cross-entropy over the batch.
    // "trainer-weights-mismatch", "trainer-batch-invalid", "trainer-torch-error".
    [[nodiscard]] Result<GradientResult> compute_gradient(const ModelWeights& weights,
                                                          const Batch& batch);

    // compute_gradient, plus the unit sketches of the micro-batch (same gradient bits).
    [[nodiscard]] Result<MicroBatchTrace> trace(const ModelWeights& weights, const Batch& batch,
                                                const TraceSpec& spec) override;

    // Forward only.
    [[nodiscard]] Result<double> compute_loss(const ModelWeights& weights, const Batch& batch);

    // The next-token logits at every position of `text` (at most `context` bytes): text.size()
    // rows of vocab_size, row-major. What an exported checkpoint must reproduce.
    [[nodiscard]] Result<std::vector<float>> logits(const ModelWeights& weights,
                                                    const std::string& text);

    // Greedy decoding of up to max_new bytes after `prompt`, stopping before `stop`. Keeps the
    // last `context` bytes when the text outgrows the model's window.
    [[nodiscard]] Result<std::string> complete(const ModelWeights& weights,
                                               const std::string& prompt, std::size_t max_new,
                                               char stop = '\n');

private:
    struct Impl;
    explicit Trainer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// File datasets: the mean next-byte loss on `count` held-out sequences
// (Dataset::held_out_batch).
[[nodiscard]] Result<double> held_out_loss(Trainer& trainer, const ModelWeights& weights,
                                           const Dataset& dataset, std::uint32_t count);
// Exact-match accuracy of greedy answers on `count` held-out problems (synthetic datasets).
[[nodiscard]] Result<double> held_out_accuracy(Trainer& trainer, const ModelWeights& weights,
                                               const Dataset& dataset, std::size_t count);

// A factory of CPU or CUDA trainers for the work engine and the miner ("trainer-device-*"
// reasons come from the first call).
[[nodiscard]] consensus::TracerFactory tracer_factory(const ModelConfig& config,
                                                      std::string device = "cpu", int threads = 0);

}  // namespace learnchain::training
