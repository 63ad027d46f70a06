// Baselines for the benchmarks, behind a torch-free interface: a bare libtorch training loop
// of the consensus model (no units, sketches, certificates or chain), and the sgemm rate
// libtorch reaches on this machine. Not consensus code.
#pragma once

#include <cstdint>
#include <vector>

#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/model.hpp>

namespace learnchain::training {

using consensus::Batch;
using consensus::ModelLayout;
using consensus::ModelWeights;

struct BareTrainingReport {
    std::uint64_t steps = 0;
    std::uint64_t tokens = 0;  // training targets processed
    double seconds = 0;        // wall time of the loop
    double first_loss = 0;     // mean loss of the first micro-batch
    double last_loss = 0;      // mean loss of the last micro-batch
};

// Trains a copy of `initial` for `steps` optimizer steps, each over `micro_batches` batches
// (taken round-robin from `batches`): forward and backward per batch with gradients summed
// in the parameters' .grad and scaled to their mean, then one AdamW step written with ATen's
// in-place ops (PyTorch's single-tensor AdamW). Parameters are separate leaf tensors on the
// CPU, as a plain libtorch program has them. "bare-training-invalid", "bare-training-torch".
[[nodiscard]] Result<BareTrainingReport> bare_training_run(const ModelWeights& initial,
                                                           const chain::OptimizerParams& params,
                                                           const std::vector<Batch>& batches,
                                                           std::uint32_t steps,
                                                           std::uint32_t micro_batches);

// FLOP/s of an n x n by n x n f32 matmul in libtorch (2 n^3 per product), best of `repeats`.
[[nodiscard]] double measure_sgemm_flops(std::int64_t n, int repeats);

}  // namespace learnchain::training
