// The model's parameters as chain state: a canonical ordered list of named tensors, stored as
// one flat float vector. Torch-free; consensus/training/trainer.cpp maps the same layout onto
// libtorch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::consensus {

using chain::Hash256;
using chain::ModelConfig;

// How a tensor is initialised (PROTOCOL.md, "Initial weights").
enum class InitKind : std::uint8_t {
    zeros,     // biases
    ones,      // layer-norm gains
    uniform,   // embeddings and ordinary linear weights: half-width 2^-5
    residual,  // projections that write into the residual stream: scaled down with depth
};

struct TensorSpec {
    std::string name;
    std::vector<std::uint32_t> shape;  // row-major; linear weights are [out, in] as in torch
    std::uint64_t offset = 0;          // first element in the flat vector
    std::uint64_t size = 0;            // product of shape
    InitKind init = InitKind::zeros;
};

// Limits that keep every index within 32-bit shapes and the flat vector within memory.
inline constexpr std::uint32_t max_dimension = 1u << 20;
inline constexpr std::uint64_t max_parameters = std::uint64_t{1} << 31;

class ModelLayout {
public:
    // Fails with "model-config-invalid" when the config cannot describe a model.
    [[nodiscard]] static Result<ModelLayout> from_config(const ModelConfig& config);

    [[nodiscard]] const ModelConfig& config() const { return config_; }
    [[nodiscard]] const std::vector<TensorSpec>& tensors() const { return tensors_; }
    [[nodiscard]] std::uint64_t parameter_count() const { return parameter_count_; }

    // Canonical tensor indices, for code that needs a specific tensor.
    [[nodiscard]] static constexpr std::size_t tensors_per_layer() { return 12; }
    [[nodiscard]] static constexpr std::size_t layer_tensor(std::uint32_t layer, std::size_t i) {
        return 2 + layer * tensors_per_layer() + i;
    }

private:
    ModelConfig config_;
    std::vector<TensorSpec> tensors_;
    std::uint64_t parameter_count_ = 0;
};

// The parameter values in canonical layout order.
struct ModelWeights {
    ModelLayout layout;
    std::vector<float> values;

    [[nodiscard]] std::span<const float> tensor(std::size_t index) const {
        const auto& spec = layout.tensors()[index];
        return std::span<const float>(values).subspan(spec.offset, spec.size);
    }
    [[nodiscard]] std::span<float> tensor(std::size_t index) {
        const auto& spec = layout.tensors()[index];
        return std::span<float>(values).subspan(spec.offset, spec.size);
    }
};

// Deterministic initial weights from config.init_seed (integer PRNG, exact power-of-two
// scaling; identical bits on every platform).
[[nodiscard]] Result<ModelWeights> init_weights(const ModelConfig& config);

// H_weights over the canonical encoding: u32 tensor count, then per tensor u32 rank, u32 dims,
// and the values as little-endian IEEE-754 binary32. `values` must match the layout's size.
[[nodiscard]] Hash256 weights_hash(const ModelLayout& layout, std::span<const float> values);
[[nodiscard]] inline Hash256 weights_hash(const ModelWeights& weights) {
    return weights_hash(weights.layout, weights.values);
}

// init_weights, then checks the result against config.init_weights_hash (as genesis records
// it): "model-init-hash-mismatch" when they differ.
[[nodiscard]] Result<ModelWeights> genesis_weights(const ModelConfig& config);

}  // namespace learnchain::consensus
