// The GPT model behind a torch-free interface. Only consensus/trainer.cpp includes libtorch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/units.hpp>

namespace learnchain::consensus {

struct GradientResult {
    double loss = 0.0;            // mean cross-entropy (nats) over the targets
    std::uint64_t tokens = 0;     // targets the mean is over
    std::vector<float> gradient;  // d loss / d weights, canonical flat layout
};

// What an instrumented micro-batch fingerprints (PROTOCOL.md, "Units").
struct TraceSpec {
    Hash256 contribution_seed;  // activation sketch seeds derive from it
    const UnitPlan* plan = nullptr;
};

struct SketchPair {
    std::vector<float> in;
    std::vector<float> out;
};

// One micro-batch's forward and backward with every unit's activation sketches. The BWD
// outputs (parameter-gradient sketches) are not here: their seed depends on the published
// blob, so the caller sketches `gradient` once the blob is known.
struct MicroBatchTrace {
    double loss = 0.0;
    std::uint64_t tokens = 0;
    std::vector<float> gradient;               // d loss / d weights of this micro-batch
    std::vector<SketchPair> forward;           // FWD(s), s = 0..k-1
    std::vector<SketchPair> attention;         // ATT(l, g) at l * head_groups + g
    std::vector<std::vector<float>> backward;  // BWD(s) input: the upstream gradient's sketch
};

class Trainer {
public:
    // device: "cpu" or "cuda:N". "trainer-device-unavailable" when CUDA is asked for but this
    // libtorch has none; "trainer-device-invalid" for anything else unparsable.
    // threads > 0 sets libtorch's intra-op thread count (process-wide).
    [[nodiscard]] static Result<Trainer> create(const ModelConfig& config,
                                                const std::string& device = "cpu", int threads = 0);
    Trainer(Trainer&&) noexcept;
    Trainer& operator=(Trainer&&) noexcept;
    ~Trainer();

    [[nodiscard]] const ModelLayout& layout() const;
    [[nodiscard]] std::string device() const;

    // Forward and backward of the mean next-token cross-entropy over the batch.
    // "trainer-weights-mismatch", "trainer-batch-invalid", "trainer-torch-error".
    [[nodiscard]] Result<GradientResult> compute_gradient(const ModelWeights& weights,
                                                          const Batch& batch);

    // compute_gradient, plus the unit sketches of the micro-batch (same gradient bits).
    [[nodiscard]] Result<MicroBatchTrace> trace(const ModelWeights& weights, const Batch& batch,
                                                const TraceSpec& spec);

    // Forward only.
    [[nodiscard]] Result<double> compute_loss(const ModelWeights& weights, const Batch& batch);

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

// Exact-match accuracy of greedy answers on `count` held-out problems (synthetic datasets).
[[nodiscard]] Result<double> held_out_accuracy(Trainer& trainer, const ModelWeights& weights,
                                               const Dataset& dataset, std::size_t count);

}  // namespace learnchain::consensus
