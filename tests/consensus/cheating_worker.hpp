// TEST ONLY: a worker that fakes micro-batches of a contribution. A faked micro-batch is trained
// on data of the worker's choosing (another seed) and sketched under the right seeds, so its
// leaves are plausible, the blob is the mean of what was computed, and every cheap check
// passes: only recomputing a faked micro-batch shows it. Nothing of this ships in a binary.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/trace.hpp>
#include <learnchain/consensus/units.hpp>

namespace learnchain::consensus::testing {

// Contribution `n` of `worker` on `parent`'s model `weights`, with the micro-batches listed in
// `faked` trained on the wrong data.
[[nodiscard]] inline Result<Contribution> faked_contribution(
    Tracer& tracer, const ModelWeights& weights, const Dataset& dataset,
    const chain::LearningParams& params, const Hash256& parent, const chain::SecretKey& worker,
    std::uint32_t n, std::span<const std::uint32_t> faked) {
    auto plan = UnitPlan::create(weights.layout, params);
    if (!plan) return plan.error();
    const Hash256 seed = contribution_seed(parent, worker.public_key(), n);
    const Hash256 wrong_data = chain::sha256(std::string_view("data of the cheater's choosing"));
    std::vector<MicroBatchTrace> traces;
    for (std::uint32_t b = 0; b < params.micro_batches; ++b) {
        const bool fake = std::find(faked.begin(), faked.end(), b) != faked.end();
        auto batch = make_micro_batch(dataset, fake ? wrong_data : seed, b, params.micro_batch_size,
                                      params.model.context);
        if (!batch) return batch.error();
        auto trace = tracer.trace(weights, *batch, TraceSpec{seed, &*plan});
        if (!trace) return trace.error();
        traces.push_back(std::move(trace).value());
    }
    return assemble_contribution(*plan, parent, n, worker, traces);
}

}  // namespace learnchain::consensus::testing
