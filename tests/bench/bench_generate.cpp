// Generation throughput on the devnet model shape (width 128, 4 layers, 4 heads; random
// initial weights, greedy): the node's KV-cache generator against a bare libtorch KV-cache
// loop, and against recomputing the whole sequence per token, at 256 new tokens (context
// widened to 288 for that; the devnet context is 64).
#include <map>
#include <string>
#include <vector>

#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/training/generate.hpp>

#include "bench/bench_report.hpp"

namespace {

using namespace learnchain::consensus;
using namespace learnchain::training;

constexpr std::uint32_t short_tokens = 56;  // fills the devnet context after an 8-byte prompt
constexpr std::uint32_t long_tokens = 256;
const std::string prompt = "123+45=";

const ModelWeights& weights(std::uint32_t context) {
    static std::map<std::uint32_t, ModelWeights> cache;
    auto it = cache.find(context);
    if (it == cache.end()) {
        ModelConfig c;  // the devnet shape
        c.context = context;
        c.init_seed = 1;
        it = cache.emplace(context, init_weights(c).value()).first;
    }
    return it->second;
}

void run_generator(benchmark::State& state, std::uint32_t context, std::uint32_t tokens,
                   CacheMode mode) {
    const auto generator = Generator::create(weights(context)).value();
    const SamplingOptions options{tokens, 0.0, 0, 0};
    for (auto _ : state) {
        auto out = generator.generate(prompt, options, mode);
        if (!out || out->tokens.size() != tokens) state.SkipWithError("generation failed");
        benchmark::DoNotOptimize(out);
    }
    state.counters["tokens_per_s"] = benchmark::Counter(double(tokens) * double(state.iterations()),
                                                        benchmark::Counter::kIsRate);
}

void BM_generate_kv(benchmark::State& state) {
    run_generator(state, 64, short_tokens, CacheMode::kv_cache);
}
void BM_bare_libtorch_kv(benchmark::State& state) {
    const auto& w = weights(64);
    const std::vector<std::uint8_t> bytes(prompt.begin(), prompt.end());
    for (auto _ : state) {
        auto out = bare_libtorch_generate(w, bytes, short_tokens);
        if (!out || out->size() != short_tokens) state.SkipWithError("generation failed");
        benchmark::DoNotOptimize(out);
    }
    state.counters["tokens_per_s"] = benchmark::Counter(
        double(short_tokens) * double(state.iterations()), benchmark::Counter::kIsRate);
}
void BM_generate_kv_256(benchmark::State& state) {
    run_generator(state, 288, long_tokens, CacheMode::kv_cache);
}
void BM_generate_nocache_256(benchmark::State& state) {
    run_generator(state, 288, long_tokens, CacheMode::none);
}

BENCHMARK(BM_generate_kv)->Unit(benchmark::kMillisecond)->Repetitions(3);
BENCHMARK(BM_bare_libtorch_kv)->Unit(benchmark::kMillisecond)->Repetitions(3);
BENCHMARK(BM_generate_kv_256)->Unit(benchmark::kMillisecond)->Repetitions(2);
BENCHMARK(BM_generate_nocache_256)->Unit(benchmark::kMillisecond)->Repetitions(2)->Iterations(2);

}  // namespace

int main(int argc, char** argv) {
    using learnchain::bench::print_line;
    return learnchain::bench::run_main(argc, argv, [](const learnchain::bench::Results& r) {
        const double ours = r.counter("BM_generate_kv", "tokens_per_s");
        const double bare = r.counter("BM_bare_libtorch_kv", "tokens_per_s");
        print_line("generate_tokens_per_s", ours, "tokens/s");
        print_line("bare_libtorch_tokens_per_s", bare, "tokens/s");
        print_line("generate_vs_bare_libtorch", ours / bare, "x");
        const double kv = r.seconds_per_iteration("BM_generate_kv_256");
        const double none = r.seconds_per_iteration("BM_generate_nocache_256");
        print_line("generate_kv_256_tokens_per_s", long_tokens / kv, "tokens/s");
        print_line("generate_kv_vs_nocache", none / kv, "x");
    });
}
