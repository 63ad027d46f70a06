// Mining on the devnet genesis (~0.87M parameters; a contribution is M = 64 micro-batches of
// 128 x 64 tokens, D = 524,288 tokens = one contribution per block). Headlines:
//   BENCH mine_tokens_per_sec              tokens in connected blocks / wall time: the Miner
//                                          (traces, sketches, leaves, Merkle, signatures), block
//                                          templates, and connecting each block to a synced
//                                          RocksDB store (cheap checks, aggregation, AdamW, model
//                                          root, ~10 MB of model writes + undo)
//   BENCH bare_libtorch_tokens_per_sec     a plain libtorch loop of the same model: per step
//                                          64 micro-batches of 128 x 64 (D tokens), forward,
//                                          backward, AdamW with ATen ops
//   BENCH mine_vs_bare_libtorch            the ratio; goal >= 0.90
//   BENCH aggregate_optimizer_gbps, memcpy_gbps, aggregate_vs_memcpy
//                                          aggregate_and_step over 4 contributions (a block of
//                                          several miners' work): bytes =
//                                          4 gradients read (16 P) + w, m, v read and written
//                                          (24 P); memcpy of as many bytes
//   BENCH mining_model_flops, sgemm_flops, mfu_cpu
//                                          6 * P * mine_tokens_per_sec (attention's T-dependent
//                                          FLOPs left out, ~8% here) over the best f32 matmul
//                                          rate libtorch reaches (2048^3)
// Wall time, same process and threads for both sides, interleaved, fastest repetition. A run
// takes 5-15 minutes on 2 shared cores. For perf and quick A/B runs:
//   --profile-contributions [N]   N contributions (default 1), nothing else
//   --profile-gradients [N]       the same micro-batches through Trainer::compute_gradient
//   --compare-trace [N] [thread]  Trainer::trace vs compute_gradient vs the bare loop, per
//                                 micro-batch, alternating over N batches (default 8)
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/chain/time.hpp>
#include <learnchain/consensus/training/bare_training.hpp>
#include <learnchain/node/miner.hpp>

#include <sys/resource.h>

#include "bench/bench_report.hpp"
#include "consensus/engine_fixture.hpp"

namespace {

using namespace learnchain;
using namespace learnchain::consensus;
using namespace learnchain::node;
using namespace std::chrono_literals;

chain::Genesis devnet() {
    auto genesis = chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/" +
                                       std::string(chain::devnet_genesis_file));
    if (!genesis) throw std::runtime_error(genesis.error().to_string());
    return *genesis;
}

// Mines `blocks` blocks on a fresh synced store; tokens per second of wall time.
double mine(const chain::Genesis& genesis, std::uint64_t blocks) {
    testing::TempDir dir("bench-mining");
    testing::Node node(dir.path(), genesis, {}, /*sync=*/true);
    set_mock_unix_time(node.next_time());
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<chain::Block> ready;
    MinerOptions options;
    // A solo miner knows D: stopping there wastes no contribution on a heavier re-proposal.
    options.max_contributions = static_cast<std::uint32_t>(
        genesis.initial_work / chain::tokens_per_contribution(genesis.learning));
    options.progress_interval = 5000ms;
    auto miner = Miner::create(genesis, MinerChain{node.chainstate.get(), node.engine.get()},
                               MinerKeys{testing::key_of(0x11), testing::key_of(0x21)}, options,
                               [&](chain::Block block) {
                                   std::lock_guard lock(mutex);
                                   ready.push_back(std::move(block));
                                   cv.notify_all();
                               })
                     .value();
    std::uint64_t tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    miner->start();
    while (node.store->height() < blocks) {
        std::unique_lock lock(mutex);
        if (!cv.wait_for(lock, 120s, [&] { return !ready.empty(); }))
            throw std::runtime_error("no block: " + miner->stats().last_error);
        const chain::Block block = std::move(ready.front());
        ready.pop_front();
        lock.unlock();
        LOCK(node.chainstate->cs_main);
        if (block.header.parent != node.store->tip().hash) continue;
        auto accepted = node.accept(block);
        if (!accepted) throw std::runtime_error(accepted.error().to_string());
        tokens += block.header.work;
        set_mock_unix_time(node.next_time());
        miner->on_new_tip();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    miner->stop();
    return static_cast<double>(tokens) / seconds;
}

double bare(const chain::Genesis& genesis, std::uint32_t steps) {
    const auto& p = genesis.learning;
    const auto weights = genesis_weights(p.model).value();
    const auto dataset = Dataset::open(p.dataset).value();
    const auto per_step = static_cast<std::uint32_t>(
        genesis.initial_work / (std::uint64_t{p.micro_batch_size} * p.model.context));
    std::vector<Batch> batches;
    const Hash256 seed = chain::sha256(std::string_view("bench bare"));
    for (std::uint32_t b = 0; b < per_step; ++b)
        batches.push_back(
            make_micro_batch(dataset, seed, b, p.micro_batch_size, p.model.context).value());
    auto report =
        training::bare_training_run(weights, p.optimizer, batches, steps, per_step).value();
    return static_cast<double>(report.tokens) / report.seconds;
}

struct Throughput {
    double gbps = 0;
    double memcpy_gbps = 0;
};

Throughput aggregate(const chain::Genesis& genesis) {
    ModelState state = genesis_model_state(genesis.learning.model).value();
    const std::size_t n = state.weights.values.size();
    std::vector<std::vector<float>> gradients(4, std::vector<float>(n));
    for (std::size_t c = 0; c < gradients.size(); ++c)
        for (std::size_t i = 0; i < n; ++i)
            gradients[c][i] = static_cast<float>((i * 7 + c * 13) % 101) * 1e-4f - 5e-3f;
    const double bytes = static_cast<double>(n) * (16.0 + 24.0);
    double best = 1e9, best_copy = 1e9;
    std::vector<std::uint8_t> src(static_cast<std::size_t>(bytes), 1), dst(src.size());
    for (int r = 0; r < 5; ++r) {
        std::vector<AggregateInput> inputs;
        for (std::size_t c = 0; c < gradients.size(); ++c)
            inputs.push_back({chain::sha256(std::string_view(&"abcd"[c], 1)), gradients[c], 2048});
        auto start = std::chrono::steady_clock::now();
        if (!aggregate_and_step(state, inputs, genesis.learning.optimizer))
            throw std::runtime_error("aggregate failed");
        best = std::min(
            best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        start = std::chrono::steady_clock::now();
        std::memcpy(dst.data(), src.data(), src.size());
        best_copy = std::min(
            best_copy,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        src[static_cast<std::size_t>(r)] = dst[src.size() - 1 - static_cast<std::size_t>(r)];
    }
    return {bytes / best / 1e9, bytes / best_copy / 1e9};
}

// Where a block's time goes, on one thread of control: the contributions, the template
// (apply + undo + roots + signature), and connecting the block to a synced store.
void breakdown(const chain::Genesis& genesis) {
    testing::TempDir dir("bench-breakdown");
    testing::Node node(dir.path(), genesis, {}, /*sync=*/true);
    const auto& p = genesis.learning;
    auto timed = [](auto&& fn) {
        const auto start = std::chrono::steady_clock::now();
        fn();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const auto per_block = genesis.initial_work / chain::tokens_per_contribution(p);
    std::vector<chain::WorkItem> items;
    const double contributions = timed([&] {
        for (std::uint32_t n = 0; n < per_block; ++n) {
            auto c = node.contribute(testing::key_of(0x11), n).value();
            node.engine->remember_verified(node.store->tip().hash, c.certificate.root());
            items.push_back(c.work_item());
        }
    });
    const auto dataset = Dataset::open(p.dataset).value();
    auto trainer = training::Trainer::create(p.model).value();
    const Hash256 seed = chain::sha256(std::string_view("bench gradient"));
    const double gradients = timed([&] {
        for (std::uint32_t b = 0; b < per_block * p.micro_batches; ++b) {
            const auto batch =
                make_micro_batch(dataset, seed, b, p.micro_batch_size, p.model.context).value();
            (void)trainer.compute_gradient(node.engine->weights(), batch).value();
        }
    });
    chain::Block block;
    const double build = timed([&] { block = node.build(items, testing::key_of(0x21)).value(); });
    const double connect = timed([&] {
        LOCK(node.chainstate->cs_main);
        (void)node.accept(block).value();
    });
    std::printf(
        "block of %llu contributions: contributions %.3f s (Trainer::compute_gradient on "
        "the same number of micro-batches %.3f s), template %.3f s, connect %.3f s\n",
        static_cast<unsigned long long>(per_block), contributions, gradients, build, connect);
    std::fflush(stdout);
}

long minor_faults() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void compare_trace(const chain::Genesis& genesis, std::uint32_t pairs) {
    const auto& p = genesis.learning;
    auto trainer = training::Trainer::create(p.model).value();
    const auto weights = genesis_weights(p.model).value();
    const auto dataset = Dataset::open(p.dataset).value();
    const auto plan = UnitPlan::create(weights.layout, p).value();
    const Hash256 seed = chain::sha256(std::string_view("compare"));
    // Sides: 0 compute_gradient, 1 trace, 2 the bare loop (one step of one micro-batch).
    double wall[3] = {1e9, 1e9, 1e9}, cpu[3] = {1e9, 1e9, 1e9}, wall_sum[3] = {}, cpu_sum[3] = {};
    long faults[3] = {};
    for (std::uint32_t b = 0; b <= pairs; ++b) {
        const auto batch =
            make_micro_batch(dataset, seed, b, p.micro_batch_size, p.model.context).value();
        for (int side = 0; side < 3; ++side) {
            const auto start = std::chrono::steady_clock::now();
            const double start_cpu = cpu_seconds();
            const long start_faults = minor_faults();
            if (side == 0)
                (void)trainer.compute_gradient(weights, batch).value();
            else if (side == 1)
                (void)trainer.trace(weights, batch, TraceSpec{seed, &plan}).value();
            else
                (void)training::bare_training_run(weights, p.optimizer, {batch}, 1, 1).value();
            const double w =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            const double c = cpu_seconds() - start_cpu;
            if (b == 0) continue;  // warm-up, and the trace's one-off pattern hashing
            faults[side] += minor_faults() - start_faults;
            wall[side] = std::min(wall[side], w);
            cpu[side] = std::min(cpu[side], c);
            wall_sum[side] += w;
            cpu_sum[side] += c;
        }
    }
    const char* names[3] = {"compute_gradient", "trace", "bare"};
    for (int side = 0; side < 3; ++side)
        std::printf(
            "%-16s best %6.1f ms wall %6.1f ms cpu; total %7.1f ms wall %7.1f ms cpu; %ld minor "
            "faults per call\n",
            names[side], wall[side] * 1e3, cpu[side] * 1e3, wall_sum[side] * 1e3,
            cpu_sum[side] * 1e3, faults[side] / static_cast<long>(pairs));
    std::printf("bare/trace: best wall %.3f cpu %.3f, total wall %.3f cpu %.3f\n",
                wall[2] / wall[1], cpu[2] / cpu[1], wall_sum[2] / wall_sum[1],
                cpu_sum[2] / cpu_sum[1]);
    std::printf("bare/gradient: best wall %.3f cpu %.3f, total wall %.3f cpu %.3f\n",
                wall[2] / wall[0], cpu[2] / cpu[0], wall_sum[2] / wall_sum[0],
                cpu_sum[2] / cpu_sum[0]);
}

}  // namespace

int main(int argc, char** argv) {
    using bench::print_line;
    (void)log::set_level("info");
    const chain::Genesis genesis = devnet();
    // For perf, the same work both ways: `count` contributions (default 1, 64 micro-batches on
    // the devnet), or as many micro-batches through Trainer::compute_gradient alone.
    const auto count = [&] {
        return argc > 2 ? static_cast<std::uint32_t>(std::stoul(argv[2])) : 1u;
    };
    if (argc > 1 && std::string_view(argv[1]) == "--profile-contributions") {
        testing::TempDir dir("bench-profile");
        testing::Node node(dir.path(), genesis);
        for (std::uint32_t n = 0; n < count(); ++n)
            (void)node.contribute(testing::key_of(0x11), n).value();
        return 0;
    }
    if (argc > 1 && std::string_view(argv[1]) == "--profile-gradients") {
        const auto& p = genesis.learning;
        auto trainer = training::Trainer::create(p.model).value();
        const auto weights = genesis_weights(p.model).value();
        const auto dataset = Dataset::open(p.dataset).value();
        const Hash256 seed = chain::sha256(std::string_view("profile"));
        for (std::uint32_t b = 0; b < count() * p.micro_batches; ++b) {
            const auto batch =
                make_micro_batch(dataset, seed, b, p.micro_batch_size, p.model.context).value();
            (void)trainer.compute_gradient(weights, batch).value();
        }
        return 0;
    }
    if (argc > 1 && std::string_view(argv[1]) == "--compare-trace") {
        // Per micro-batch cost of Trainer::trace over Trainer::compute_gradient, alternating on
        // the same batches (patterns hashed once, as within a contribution): a quick A/B.
        // "thread" runs it off the main thread, as the Miner runs.
        const std::uint32_t pairs = argc > 2 ? count() : 8;
        if (argc > 3 && std::string_view(argv[3]) == "thread")
            std::thread([&] { compare_trace(genesis, pairs); }).join();
        else
            compare_trace(genesis, pairs);
        return 0;
    }
    const double parameters =
        static_cast<double>(genesis_weights(genesis.learning.model).value().values.size());

    breakdown(genesis);
    // Warm-up, then interleaved repetitions so background load hits both sides alike.
    (void)bare(genesis, 1);
    double best_mine = 0, best_bare = 0;
    for (int r = 0; r < 2; ++r) {
        std::printf("repetition %d/2: bare libtorch...\n", r + 1);
        std::fflush(stdout);
        best_bare = std::max(best_bare, bare(genesis, 2));
        std::printf("repetition %d/2: mining 2 blocks...\n", r + 1);
        std::fflush(stdout);
        best_mine = std::max(best_mine, mine(genesis, 2));
        std::printf("  bare %.0f tokens/s, mining %.0f tokens/s\n", best_bare, best_mine);
    }
    print_line("mine_tokens_per_sec", best_mine, "tokens/s");
    print_line("bare_libtorch_tokens_per_sec", best_bare, "tokens/s");
    print_line("mine_vs_bare_libtorch", best_mine / best_bare, "ratio");

    const Throughput t = aggregate(genesis);
    print_line("aggregate_optimizer_gbps", t.gbps, "GB/s");
    print_line("memcpy_gbps", t.memcpy_gbps, "GB/s");
    print_line("aggregate_vs_memcpy", t.gbps / t.memcpy_gbps, "ratio");

    const double sgemm = training::measure_sgemm_flops(2048, 5);
    const double mining_flops = 6.0 * parameters * best_mine;
    print_line("mining_model_flops", mining_flops, "FLOP/s");
    print_line("sgemm_flops", sgemm, "FLOP/s");
    print_line("mfu_cpu", mining_flops / sgemm, "ratio");
    print_line("mfu_cpu_bare_libtorch", 6.0 * parameters * best_bare / sgemm, "ratio");
    return 0;
}
