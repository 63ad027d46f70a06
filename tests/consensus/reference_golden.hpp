// The reference arbiter's golden micro-batch (tests/consensus/reference_golden.cpp, linked into
// the tests that use it by tests/CMakeLists.txt).
#pragma once

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/trace.hpp>

namespace learnchain::consensus::testing {

// SHA-256 of the golden trace, one constant for every build variant and thread count.
extern const char* const reference_golden_hash;
// The initial weights of `config`, every value moved a little, so every term shows in a trace.
[[nodiscard]] ModelWeights reference_test_weights(const ModelConfig& config);
// SHA-256 over every bit of a trace: loss, gradient, every sketch.
[[nodiscard]] Hash256 reference_trace_hash(const MicroBatchTrace& trace);
// The arbiter's trace of the golden micro-batch on `threads` threads.
[[nodiscard]] Result<MicroBatchTrace> reference_golden_trace(unsigned threads);

}  // namespace learnchain::consensus::testing
