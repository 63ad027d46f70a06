// The reference arbiter: a Tracer whose output bits are the same on every platform and build.
//
// What it computes. ReferenceTracer::trace is the instrumented micro-batch of PROTOCOL.md §T.2.2
// and §T.9, the same MicroBatchTrace that training::Trainer::trace (libtorch) produces: the mean
// next-token cross-entropy of the batch, its gradient with respect to every parameter in the
// canonical flat layout (§T.2.1), the FWD(s) and ATT(l, g) input and output sketches and the
// BWD(s) input sketches (the gradient of the loss with respect to each section's output
// activation), under the activation seeds of §T.9.1, in the same element order. The loss is the
// double mean of the tokens' losses, not rounded to f32 as libtorch's is (verification rounds
// both). The forward pass and a hand-written backward pass are plain C++: no libtorch, no BLAS,
// no libm beyond std::sqrt and <cfenv> (its own exp, log and erf, built from + - * / on double).
//
// Bits. Every value is produced by a fixed sequence of IEEE-754 operations, each rounded on its
// own: dot products and reductions are accumulated in double in a fixed index order, and the
// activations between ops are stored as float, as libtorch stores them. The file is compiled
// with -ffp-contract=off -fno-fast-math, threads only split independent outputs, so the result
// does not depend on the compiler's optimisation level, the instruction set, the thread count
// or the machine (tests/consensus/reference_golden.cpp records one SHA-256 of a trace, checked
// under -O0, -O3, -O3 -march=x86-64 and -O3 -march=native and with 1 to 3 threads). Each thread
// of a trace installs the default floating-point environment (round to nearest, no flush to
// zero) and restores the caller's, and a NaN in the output is the one canonical quiet NaN. It is
// not bit-equal to libtorch, whose f32 kernels round differently: it agrees with the trainer to
// within 1e-6 relative per unit sketch, loss and gradient (measured up to 7e-7 on the devnet
// model, which is libtorch's own f32 accumulation error: a single f32 linear layer of depth 512
// is off by 3e-7 from its exact value; tests/consensus/reference_agreement_test.cpp).
//
// Cost. About 3 P B T multiply-adds in double for P parameters and B x T tokens, plus the
// attention, on `threads` cores: about 4 s of CPU for a devnet micro-batch (0.87M
// parameters, 128 x 64 tokens) on the development machine, 3 to 4 times libtorch's time
// (BENCH arbiter_microbatch_s and arbiter_vs_libtorch_microbatch in bench_consensus; the goal is
// one minute on 2 cores). Memory: the float activations of the whole micro-batch, about 0.4 GB
// for the devnet one. It is meant for disputes, not for training.
#pragma once

#include <memory>
#include <utility>

#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/trace.hpp>

namespace learnchain::consensus {

class ReferenceTracer final : public Tracer {
public:
    // A tracer for models of `config` ("model-config-invalid" otherwise). `threads` (0: the
    // hardware's) only changes the speed, never a bit of the result.
    [[nodiscard]] static Result<ReferenceTracer> create(const ModelConfig& config,
                                                        unsigned threads = 0);

    [[nodiscard]] const ModelLayout& layout() const { return layout_; }
    [[nodiscard]] unsigned threads() const { return threads_; }

    // The micro-batch's trace. Refuses, like the trainer, weights of another layout
    // ("arbiter-weights-mismatch"), a batch that does not fit the model ("arbiter-batch-invalid")
    // and a missing or foreign unit plan ("arbiter-trace-invalid"); "arbiter-error" when memory
    // or a thread cannot be had.
    [[nodiscard]] Result<MicroBatchTrace> trace(const ModelWeights& weights, const Batch& batch,
                                                const TraceSpec& spec) override;

private:
    ReferenceTracer(ModelLayout layout, unsigned threads)
        : layout_(std::move(layout)), threads_(threads) {}

    ModelLayout layout_;
    unsigned threads_ = 1;
};

// A factory of reference tracers (the reasons of create() come from its first call).
[[nodiscard]] TracerFactory reference_tracer_factory(const ModelConfig& config,
                                                     unsigned threads = 0);

}  // namespace learnchain::consensus
