// The seam between proof-of-learning rules and the code that runs the model.
//
// Consensus code (certificates, verification, the work engine) needs one thing from the model:
// an instrumented forward and backward pass over one micro-batch, with every unit's activation
// sketches. A Tracer provides it. consensus/training/ implements it with libtorch (Trainer); the
// rules here never see a tensor, so this library builds without libtorch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/units.hpp>

namespace learnchain::consensus {

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

class Tracer {
public:
    virtual ~Tracer() = default;
    // The micro-batch's forward and backward on `weights`, with its unit sketches. Not
    // thread-safe: one call at a time per tracer.
    [[nodiscard]] virtual Result<MicroBatchTrace> trace(const ModelWeights& weights,
                                                        const Batch& batch,
                                                        const TraceSpec& spec) = 0;
};

// Makes a tracer for one user (the engine's connect path, its off-lock verifier, a miner).
using TracerFactory = std::function<Result<std::unique_ptr<Tracer>>()>;

}  // namespace learnchain::consensus
