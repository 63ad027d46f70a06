// Proof-of-learning costs on the devnet-size model (~0.87M parameters, M = 4 micro-batches of
// 8 x 64 tokens). Headlines:
//   BENCH contribution_vs_bare_gradient   tokens/s of compute_contribution (traces, sketches,
//                                         leaves, Merkle, signature) / tokens/s of the bare
//                                         trainer gradient on the same batches; goal >= 0.9
//   BENCH verify_all_cost                 verify under `all` / compute_contribution
//   BENCH verify_sample_1_cost            verify under `sample:1` / compute_contribution
//   BENCH contribution_tokens_per_sec, bare_gradient_tokens_per_sec
//   BENCH gradient_sketch_share           one devnet micro-batch's gradient sketches (sparse JL,
//                                         m/4 blocks) and a 1/M share of building their
//                                         patterns, over that micro-batch's bare gradient
//                                         (B x T tokens at the measured rate); goal < 0.02
//   BENCH arbiter_microbatch_s            one ReferenceTracer::trace of one devnet micro-batch
//                                         (genesis/devnet.json, 128 x 64 tokens); goal <= 60 s
//                                         on 2 cores (on an idle machine its wall time is at
//                                         most this CPU time of all its threads;
//                                         arbiter_microbatch_wall_s is printed beside it)
//   BENCH arbiter_vs_libtorch_microbatch  that time / Trainer::trace's on the same micro-batch
//                                         (its sketch patterns cached, as for a contribution's
//                                         later micro-batches)
// Times are process CPU time (all libtorch threads), fastest repetition.
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/reference_tracer.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/consensus/units.hpp>
#include <learnchain/consensus/verify.hpp>

#include "bench/bench_report.hpp"
#include "consensus/test_configs.hpp"

namespace {

using namespace learnchain;
using namespace learnchain::consensus;

struct Setup {
    chain::LearningParams params;
    ModelWeights weights;
    Dataset dataset;
    training::Trainer trainer;
    chain::SecretKey worker;
    Hash256 parent;
    std::vector<chain::WorkItem> items;  // verified by the verify benchmarks, alternately
};

Setup& setup() {
    static std::unique_ptr<Setup> s = [] {
        chain::LearningParams p;  // genesis defaults: k 4, G 2, m 64, M 4, B 8
        p.model = testing::default_config();
        p.dataset.max_operand = 999;
        auto weights = init_weights(p.model).value();
        auto dataset = Dataset::open(p.dataset).value();
        auto trainer = training::Trainer::create(p.model).value();
        std::array<std::uint8_t, 32> key{};
        key.fill(7);
        auto worker = chain::SecretKey::from_bytes(key).value();
        Hash256 parent = chain::sha256(std::string_view("bench parent"));
        std::vector<chain::WorkItem> items;
        for (std::uint32_t n = 0; n < 2; ++n)
            items.push_back(compute_contribution(trainer, weights, dataset, p, parent, worker, n)
                                .value()
                                .work_item());
        return std::make_unique<Setup>(Setup{p, std::move(weights), std::move(dataset),
                                             std::move(trainer), worker, parent, std::move(items)});
    }();
    return *s;
}

// Contribution indices for the work benchmarks; the seeds matter here, not the n bound.
std::uint32_t next_n() {
    static std::uint32_t n = 1000;
    return n++;
}

std::uint64_t contribution_tokens(const Setup& s) {
    return chain::tokens_per_contribution(s.params);
}

// The same work without proof: M plain forward+backward passes and the mean gradient.
void BM_BareGradient(benchmark::State& state) {
    auto& s = setup();
    log::Progress progress("bare gradient", "contributions", state.max_iterations);
    std::uint64_t done = 0;
    for (auto _ : state) {
        const Hash256 seed = contribution_seed(s.parent, s.worker.public_key(), next_n());
        std::vector<double> sum(s.weights.values.size(), 0.0);
        for (std::uint32_t b = 0; b < s.params.micro_batches; ++b) {
            const auto batch = make_micro_batch(s.dataset, seed, b, s.params.micro_batch_size,
                                                s.params.model.context)
                                   .value();
            const auto g = s.trainer.compute_gradient(s.weights, batch).value();
            for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += g.gradient[i];
        }
        benchmark::DoNotOptimize(sum.data());
        progress.update(++done);
    }
    state.counters["tokens_per_second"] =
        benchmark::Counter(static_cast<double>(contribution_tokens(s) * state.iterations()),
                           benchmark::Counter::kIsRate);
}

void BM_Contribution(benchmark::State& state) {
    auto& s = setup();
    log::Progress progress("contribution", "contributions", state.max_iterations);
    std::uint64_t done = 0;
    for (auto _ : state) {
        // A fresh n each time: nothing hashed for one contribution helps the next.
        auto c = compute_contribution(s.trainer, s.weights, s.dataset, s.params, s.parent, s.worker,
                                      next_n());
        if (!c) state.SkipWithError(c.error().to_string().c_str());
        benchmark::DoNotOptimize(c);
        progress.update(++done);
    }
    state.counters["tokens_per_second"] =
        benchmark::Counter(static_cast<double>(contribution_tokens(s) * state.iterations()),
                           benchmark::Counter::kIsRate);
}

void verify_with(benchmark::State& state, const char* policy_text) {
    auto& s = setup();
    const auto policy = VerifyPolicy::parse(policy_text).value();
    const VerifyContext context{&s.params, s.parent};
    auto rng = local_rng();
    log::Progress progress(std::string("verify ") + policy_text, "contributions",
                           state.max_iterations);
    std::uint64_t done = 0;
    for (auto _ : state) {
        // Alternating, so the trainer's cached sketch patterns never carry over, as they do not
        // between the different contributions of a block.
        const auto& item = s.items[done % s.items.size()];
        auto v = verify_contribution(s.trainer, s.weights, s.dataset, context, item, policy, rng);
        if (!v) state.SkipWithError(v.error().to_string().c_str());
        benchmark::DoNotOptimize(v);
        progress.update(++done);
    }
}
void BM_VerifyAll(benchmark::State& state) {
    verify_with(state, "all");
}
void BM_VerifySample(benchmark::State& state) {
    verify_with(state, "sample:1");
}

// The gradient sketch (sparse JL, m/4 blocks; PROTOCOL.md §T.7.1): one micro-batch's BWD
// outputs through prebuilt patterns, and building the patterns, once per contribution.
void BM_GradientSketchMicroBatch(benchmark::State& state) {
    auto& s = setup();
    const auto plan = UnitPlan::create(s.weights.layout, s.params).value();
    const auto patterns =
        backward_patterns(plan, chain::sha256(std::string_view("bench gradient seed")));
    const std::vector<float>& gradient = s.weights.values;  // any values: the cost is the same
    for (auto _ : state) {
        for (std::size_t k = 0; k < plan.sections().size(); ++k) {
            const auto& section = plan.sections()[k];
            auto sketched = patterns[k].sketch(
                std::span<const float>(gradient).subspan(section.offset, section.size));
            benchmark::DoNotOptimize(sketched.data());
        }
    }
}

void BM_GradientPatterns(benchmark::State& state) {
    auto& s = setup();
    const auto plan = UnitPlan::create(s.weights.layout, s.params).value();
    std::uint64_t n = 0;
    for (auto _ : state) {
        auto patterns = backward_patterns(plan, chain::sha256("bench seed " + std::to_string(n++)));
        benchmark::DoNotOptimize(patterns.data());
    }
}

// The reference arbiter and libtorch on the same devnet micro-batch (the genesis weights; the
// arbiter's cost does not depend on their values but for a few erf terms).
struct ArbiterSetup {
    chain::LearningParams params;
    ModelWeights weights;
    UnitPlan plan;
    Batch batch;
    Hash256 seed;
    ReferenceTracer arbiter;
    training::Trainer trainer;
};

ArbiterSetup& arbiter_setup() {
    static std::unique_ptr<ArbiterSetup> s = [] {
        auto p = chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/genesis/devnet.json")
                     .value()
                     .learning;
        auto weights = genesis_weights(p.model).value();
        auto plan = UnitPlan::create(weights.layout, p).value();
        const auto dataset = Dataset::open(p.dataset).value();
        const Hash256 seed = chain::sha256(std::string_view("bench arbiter"));
        auto batch =
            make_micro_batch(dataset, seed, 0, p.micro_batch_size, p.model.context).value();
        auto arbiter = ReferenceTracer::create(p.model).value();
        auto trainer = training::Trainer::create(p.model).value();
        return std::make_unique<ArbiterSetup>(ArbiterSetup{p, std::move(weights), std::move(plan),
                                                           std::move(batch), seed,
                                                           std::move(arbiter), std::move(trainer)});
    }();
    return *s;
}

void trace_with(benchmark::State& state, Tracer& tracer) {
    auto& s = arbiter_setup();
    for (auto _ : state) {
        auto trace = tracer.trace(s.weights, s.batch, TraceSpec{s.seed, &s.plan});
        if (!trace) state.SkipWithError(trace.error().to_string().c_str());
        benchmark::DoNotOptimize(trace);
    }
}
void BM_ArbiterMicroBatch(benchmark::State& state) {
    trace_with(state, arbiter_setup().arbiter);
}
void BM_LibtorchTraceMicroBatch(benchmark::State& state) {
    trace_with(state, arbiter_setup().trainer);
}

BENCHMARK(BM_BareGradient)->Iterations(2)->Repetitions(3)->MeasureProcessCPUTime();
BENCHMARK(BM_GradientSketchMicroBatch)->Iterations(20)->Repetitions(3)->MeasureProcessCPUTime();
BENCHMARK(BM_GradientPatterns)->Iterations(5)->Repetitions(3)->MeasureProcessCPUTime();
BENCHMARK(BM_Contribution)->Iterations(2)->Repetitions(3)->MeasureProcessCPUTime();
BENCHMARK(BM_VerifyAll)->Iterations(2)->Repetitions(3)->MeasureProcessCPUTime();
BENCHMARK(BM_VerifySample)->Iterations(2)->Repetitions(3)->MeasureProcessCPUTime();
BENCHMARK(BM_ArbiterMicroBatch)
    ->Iterations(1)
    ->Repetitions(2)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kSecond);
BENCHMARK(BM_LibtorchTraceMicroBatch)
    ->Iterations(1)
    ->Repetitions(3)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    // Random interleaving of repetitions, so load from other processes hits every benchmark
    // alike (the ratios below compare them).
    std::vector<char*> args(argv, argv + argc);
    std::string interleave = "--benchmark_enable_random_interleaving=true";
    args.insert(args.begin() + 1, interleave.data());
    int count = static_cast<int>(args.size());
    return learnchain::bench::run_main(count, args.data(), [](const learnchain::bench::Results& r) {
        using learnchain::bench::print_line;
        const double bare = r.seconds_per_iteration("BM_BareGradient");
        const double contribution = r.seconds_per_iteration("BM_Contribution");
        const double all = r.seconds_per_iteration("BM_VerifyAll");
        const double sample = r.seconds_per_iteration("BM_VerifySample");
        print_line("bare_gradient_tokens_per_sec",
                   r.counter("BM_BareGradient", "tokens_per_second"), "tokens/s");
        print_line("contribution_tokens_per_sec", r.counter("BM_Contribution", "tokens_per_second"),
                   "tokens/s");
        print_line("contribution_vs_bare_gradient", bare / contribution, "ratio");
        print_line("verify_all_cost", all / contribution, "ratio");
        print_line("verify_sample_1_cost", sample / contribution, "ratio");
        // Per devnet micro-batch (B x T tokens; the patterns are built once for its M): the BWD
        // sketches plus a 1/M share of the patterns, against that micro-batch's bare gradient
        // at the measured rate (goal < 0.02). The sketch's cost does not depend on B.
        const auto devnet =
            chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/genesis/devnet.json")
                .value()
                .learning;
        const double tokens = static_cast<double>(devnet.micro_batch_size) * devnet.model.context;
        const double per_micro_batch =
            r.seconds_per_iteration("BM_GradientSketchMicroBatch") +
            r.seconds_per_iteration("BM_GradientPatterns") / devnet.micro_batches;
        const double bare_rate = r.counter("BM_BareGradient", "tokens_per_second");
        print_line("gradient_sketch_ms_per_micro_batch", per_micro_batch * 1e3, "ms");
        print_line("gradient_sketch_share", per_micro_batch / (tokens / bare_rate), "ratio");
        const double arbiter = r.seconds_per_iteration("BM_ArbiterMicroBatch");
        const auto* arbiter_run = r.find("BM_ArbiterMicroBatch");
        print_line("arbiter_microbatch_s", arbiter, "s");
        print_line("arbiter_microbatch_wall_s",
                   arbiter_run ? arbiter_run->real_accumulated_time /
                                     static_cast<double>(arbiter_run->iterations)
                               : std::numeric_limits<double>::quiet_NaN(),
                   "s");
        print_line("arbiter_vs_libtorch_microbatch",
                   arbiter / r.seconds_per_iteration("BM_LibtorchTraceMicroBatch"), "x");
    });
}
