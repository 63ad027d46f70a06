// The learning task as fixed by genesis: plain data, no libtorch. The chain layer parses and
// hashes it (it is part of the genesis hash); the consensus layer builds the model from it.
#pragma once

#include <cstdint>
#include <string>

#include <learnchain/chain/hash.hpp>

namespace learnchain::chain {

struct ModelConfig {
    std::uint32_t vocab_size = 256;  // byte vocabulary
    std::uint32_t context = 64;      // tokens per sequence
    std::uint32_t width = 128;       // embedding width (d_model)
    std::uint32_t layers = 4;
    std::uint32_t heads = 4;
    std::uint32_t mlp_ratio = 4;  // MLP hidden = mlp_ratio * width
    std::uint64_t init_seed = 0;  // integer PRNG seed for the initial weights
    Hash256 init_weights_hash;    // tagged hash of the initial weights (checked on load)

    template <class Archive>
    void serialize(Archive& ar) {
        ar(vocab_size, context, width, layers, heads, mlp_ratio, init_seed, init_weights_hash);
    }
};

enum class DatasetKind : std::uint8_t { synthetic = 0, file = 1 };

struct DatasetSpec {
    DatasetKind kind = DatasetKind::synthetic;
    std::uint64_t seed = 0;           // synthetic: generator seed
    std::uint32_t max_operand = 999;  // synthetic: operands drawn from [0, max_operand]
    std::string path;                 // file: corpus path, relative to the genesis file
    Hash256 sha256;                   // file: SHA-256 of the corpus bytes

    template <class Archive>
    void serialize(Archive& ar) {
        ar(kind, seed, max_operand, path, sha256);
    }
};

// AdamW hyperparameters. Stored as IEEE doubles; JSON decimals are parsed with correct
// rounding, so every platform holds the same bits.
struct OptimizerParams {
    double learning_rate = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-8;
    double weight_decay = 0.0;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(learning_rate, beta1, beta2, epsilon, weight_decay);
    }
};

struct LearningParams {
    ModelConfig model;
    DatasetSpec dataset;
    OptimizerParams optimizer;
    std::uint32_t sections = 4;      // k: contiguous parameter sections (FWD/BWD units)
    std::uint32_t head_groups = 2;   // attention head groups per layer (ATT units)
    std::uint32_t sketch_rows = 64;  // m: rows of the linear sketch
    double tolerance = 1e-3;         // tau: max relative L2 distance on recomputation
    // tau_lo: a fast-path (libtorch, any device) recomputation within it passes; above it the
    // reference arbiter recomputes and decides against tau (PROTOCOL.md §T.11.5).
    double fast_tolerance = 2.5e-4;
    std::uint32_t micro_batches = 4;     // M: micro-batches per contribution
    std::uint32_t micro_batch_size = 8;  // sequences per micro-batch
    std::uint32_t max_per_worker = 16;   // bound on n per (parent, worker)
    double max_gradient_norm = 1e6;      // certificates above this L2 norm are invalid
    // Certificates with a micro-batch whose BWD sketches estimate a larger gradient L2 norm are
    // invalid: one faked micro-batch moves the blob by about its share (PROTOCOL.md §T.7.2).
    double max_micro_batch_gradient_norm = 1e6;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(model, dataset, optimizer, sections, head_groups, sketch_rows, tolerance, fast_tolerance,
           micro_batches, micro_batch_size, max_per_worker, max_gradient_norm,
           max_micro_batch_gradient_norm);
    }
};

}  // namespace learnchain::chain
