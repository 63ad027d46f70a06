// Shared setup for the proof-of-learning tests: the tiny model, small genesis parameters, and
// an honest contribution built from its traces, so that cheats can reuse the honest parts.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/sketch.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/consensus/verify.hpp>

#include "consensus/test_configs.hpp"

namespace learnchain::consensus::testing {

inline LearningParams tiny_params() {
    LearningParams p;
    p.model = tiny_config();
    p.dataset.kind = chain::DatasetKind::synthetic;
    p.dataset.seed = 1;
    p.dataset.max_operand = 99;
    p.sections = 4;
    p.head_groups = 2;
    p.sketch_rows = 64;
    p.tolerance = 1e-3;
    p.micro_batches = 4;
    p.micro_batch_size = 4;
    p.max_per_worker = 4;
    p.max_gradient_norm = 1e6;
    return p;
}

inline SecretKey test_key(std::uint8_t fill) {
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(fill);
    return SecretKey::from_bytes(bytes).value();
}

inline Hash256 test_hash(std::uint8_t fill) {
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(fill);
    return Hash256(bytes);
}

// Everything a test needs to build honest or dishonest contributions for one parent.
struct PolFixture {
    LearningParams params = tiny_params();
    ModelWeights weights = init_weights(params.model).value();
    Dataset dataset = Dataset::open(params.dataset).value();
    UnitPlan plan = UnitPlan::create(weights.layout, params).value();
    training::Trainer trainer = training::Trainer::create(params.model).value();
    Hash256 parent = test_hash(0xab);
    SecretKey worker = test_key(0x11);

    [[nodiscard]] VerifyContext context() const { return {&params, parent}; }

    // Traces of micro-batches 0..M-1: data from `batch_seed`, sketches under `sketch_seed`
    // (the two differ only when a test cheats on the data).
    std::vector<MicroBatchTrace> traces(const Hash256& batch_seed, const Hash256& sketch_seed) {
        std::vector<MicroBatchTrace> out;
        for (std::uint32_t b = 0; b < params.micro_batches; ++b) {
            const auto batch = make_micro_batch(dataset, batch_seed, b, params.micro_batch_size,
                                                params.model.context)
                                   .value();
            out.push_back(trainer.trace(weights, batch, TraceSpec{sketch_seed, &plan}).value());
        }
        return out;
    }
    std::vector<MicroBatchTrace> honest_traces(std::uint32_t n) {
        const Hash256 seed = contribution_seed(parent, worker.public_key(), n);
        return traces(seed, seed);
    }
};

// Recomputes the BWD output leaves of `cert` from per-micro-batch gradients under the seed its
// current gradient_hash implies, as a cheater who changed the blob would.
inline void resketch_backward(Certificate& cert, const UnitPlan& plan,
                              const std::vector<MicroBatchTrace>& traces) {
    const Hash256 seed = gradient_sketch_seed(cert.seed(), cert.gradient_hash);
    for (auto& leaf : cert.leaves) {
        if (leaf.kind != UnitKind::backward) continue;
        const auto& s = plan.sections()[leaf.index];
        const auto& g = traces[leaf.micro_batch].gradient;
        leaf.sketch_out = gradient_sketch(std::span<const float>(g).subspan(s.offset, s.size), seed,
                                          plan.sketch_rows(), s.offset);
    }
}

// Replaces the blob, then re-hashes, re-roots and re-signs: only the content checks remain.
inline std::vector<std::uint8_t> replace_blob(Certificate& cert, const std::vector<float>& gradient,
                                              const SecretKey& key) {
    auto blob = encode_blob(gradient);
    cert.gradient_hash = gradient_hash(blob);
    cert.merkle_root = cert.compute_merkle_root();
    cert.sign(key);
    return blob;
}

inline void reseal(Certificate& cert, const SecretKey& key) {
    cert.merkle_root = cert.compute_merkle_root();
    cert.sign(key);
}

}  // namespace learnchain::consensus::testing
