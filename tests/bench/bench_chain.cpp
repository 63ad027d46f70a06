// Chain storage and validation. Headlines:
//   BENCH connect_block_1000tx        blocks/s (wall): blocks of 1000 signed transfers accepted
//                                     into a real RocksDB store (sync writes, signatures
//                                     checked); connect_block_1000tx_cpu: the same on CPU time
//   BENCH tx_verify_vs_raw_schnorr    (raw libsecp256k1 parse+verify CPU time) / (full per-tx
//                                     validation CPU time); goal >= 0.8
//   BENCH reorg_depth10_ms            ms (wall) to reorganise 10 blocks (100 transfers each)
//                                     away for an 11-block branch
//   BENCH reorg_junk_tip_ms           ms (wall) to refuse a junk block (max claimed work, a
//                                     failing certificate) on a 95-block tip
//   BENCH reorg_junk_deep_ms          ms (wall) to refuse the same junk forking 95 blocks down
//   BENCH reorg_junk_deep_vs_tip      their ratio (goal: <= 2)
//   BENCH reorg_junk_deep_unchecked_ms the deep junk with the engine's parent-state-free checks
//                                     off: 95 disconnections, the failed connect, 95 reconnects
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>

#include <learnchain/chain/log.hpp>
#include <learnchain/chain/store.hpp>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <unistd.h>

#include "bench/bench_report.hpp"
#include "bench/bench_transfers.hpp"
#include "chain/store_test_support.hpp"

namespace {

using namespace learnchain;
using namespace learnchain::chain;
using chain::testing::BuildOptions;
using chain::testing::ForkBuilder;
using chain::testing::PersistentTestEngine;

constexpr std::size_t senders = bench::transfer_senders;
constexpr std::size_t connect_blocks = 16;
using bench::transfers;

Genesis bench_genesis() {
    Genesis genesis = chain::testing::load_test_genesis();
    genesis.allocations.clear();
    bench::fund_senders(genesis);
    return genesis;
}

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& name)
        : path(std::filesystem::temp_directory_path() /
               ("learnchain_bench_" + name + "_" + std::to_string(::getpid()))) {
        std::filesystem::remove_all(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

struct ConnectFixture {
    Genesis genesis = bench_genesis();
    std::vector<Block> blocks;
    ConnectFixture() {
        ForkBuilder builder(genesis);
        Hash256 parent = builder.genesis_block.hash();
        log::Progress progress("building bench blocks", "blocks", connect_blocks);
        for (std::size_t b = 0; b < connect_blocks; ++b) {
            blocks.push_back(builder.build(parent, transfers(genesis, senders, b)));
            parent = blocks.back().hash();
            progress.update(b + 1);
        }
    }
};

const ConnectFixture& connect_fixture() {
    static const ConnectFixture fixture;
    return fixture;
}

void BM_connect_block_1000tx(benchmark::State& state) {
    const auto& fixture = connect_fixture();
    TempDir dir("connect");
    PersistentTestEngine engine;
    auto store = std::move(ChainStore::open({dir.path}, fixture.genesis, engine).value());
    const std::uint64_t now = fixture.genesis.time + 1'000'000;
    std::size_t next = 0;
    for (auto _ : state) {
        auto result = store->accept_block(fixture.blocks[next++], now);
        if (!result) {
            state.SkipWithError(result.error().to_string().c_str());
            break;
        }
    }
    state.counters["txs_per_second"] =
        benchmark::Counter(static_cast<double>(next * senders), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_connect_block_1000tx)
    ->Iterations(connect_blocks)
    ->Repetitions(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// --- per-transaction validation against raw libsecp256k1 ----------------------------------

struct VerifyFixture {
    Genesis genesis = bench_genesis();
    AccountState state = genesis_state(genesis).value();
    std::vector<Transaction> txs = transfers(genesis, 64, 0);
    std::vector<Hash256> sighashes;
    secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    VerifyFixture() {
        for (const auto& tx : txs) sighashes.push_back(tx.sighash());
    }
};

const VerifyFixture& verify_fixture() {
    static const VerifyFixture fixture;
    return fixture;
}

// What the node does per transaction: context-free checks (sighash, signature) and the
// account checks against the state.
void BM_tx_verify(benchmark::State& state) {
    const auto& f = verify_fixture();
    std::size_t i = 0;
    for (auto _ : state) {
        const auto& tx = f.txs[i++ % f.txs.size()];
        const Status status = check_transaction(tx, f.state, f.genesis.chain_id);
        if (!status) state.SkipWithError(status.error().to_string().c_str());
    }
}
BENCHMARK(BM_tx_verify)->Repetitions(5)->Unit(benchmark::kNanosecond);

// The floor: libsecp256k1 parsing the key and verifying a precomputed message.
void BM_raw_schnorr(benchmark::State& state) {
    const auto& f = verify_fixture();
    std::size_t i = 0;
    for (auto _ : state) {
        const std::size_t k = i++ % f.txs.size();
        secp256k1_xonly_pubkey key;
        int ok = secp256k1_xonly_pubkey_parse(f.ctx, &key, f.txs[k].from.bytes().data());
        ok &= secp256k1_schnorrsig_verify(f.ctx, f.txs[k].signature.bytes().data(),
                                          f.sighashes[k].data(), Hash256::size, &key);
        benchmark::DoNotOptimize(ok);
    }
}
BENCHMARK(BM_raw_schnorr)->Repetitions(5)->Unit(benchmark::kNanosecond);

// --- reorg ----------------------------------------------------------------------------------

struct ReorgFixture {
    Genesis genesis = bench_genesis();
    std::vector<Block> old_branch;  // 10 blocks
    std::vector<Block> new_branch;  // 11 blocks: the last one triggers the reorg
    ReorgFixture() {
        ForkBuilder builder(genesis);
        Hash256 a = builder.genesis_block.hash();
        Hash256 b = a;
        for (std::uint64_t i = 0; i < 11; ++i) {
            if (i < 10) {
                old_branch.push_back(builder.build(a, transfers(genesis, 100, i)));
                a = old_branch.back().hash();
            }
            new_branch.push_back(builder.build(b, transfers(genesis, 100, i), BuildOptions{0, 8}));
            b = new_branch.back().hash();
        }
    }
};

void BM_reorg_depth10(benchmark::State& state) {
    static const ReorgFixture fixture;
    const std::uint64_t now = fixture.genesis.time + 1'000'000;
    int run = 0;
    double total = 0;
    for (auto _ : state) {
        // Setup is most of each iteration, so the reorg alone is timed by hand.
        TempDir dir("reorg" + std::to_string(run++));
        PersistentTestEngine engine;
        auto store = std::move(ChainStore::open({dir.path}, fixture.genesis, engine).value());
        for (const auto& block : fixture.old_branch) (void)store->accept_block(block, now);
        for (std::size_t i = 0; i < 10; ++i) (void)store->accept_block(fixture.new_branch[i], now);
        const auto start = std::chrono::steady_clock::now();
        auto result = store->accept_block(fixture.new_branch.back(), now);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        state.SetIterationTime(seconds);
        total += seconds;
        if (!result || result->disconnected.size() != 10)
            state.SkipWithError("reorg did not happen");
    }
    // Reported from a counter: with manual time the run's accumulated real time is the wall
    // time of the whole iteration (setup included), not what SetIterationTime recorded.
    state.counters["reorg_ms"] = total * 1e3 / static_cast<double>(state.iterations());
}
BENCHMARK(BM_reorg_depth10)
    ->Iterations(5)
    ->Repetitions(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// --- junk reorg -----------------------------------------------------------------------------

// A junk block outweighing a 95-block main chain: it claims the most work a block can carry
// and its certificate fails its check. The branch is checked before anything is disconnected,
// so refusing it 95 blocks down costs what refusing the same junk on the tip costs (goal:
// within 2x), not 95 disconnections and reconnections.
constexpr std::uint64_t junk_depth = 95;

struct JunkReorgFixture {
    Genesis genesis = bench_genesis();
    std::vector<Block> main_chain;
    Block junk_on_tip;
    Block junk_deep;  // on genesis
    JunkReorgFixture() {
        ForkBuilder builder(genesis);
        main_chain = builder.build_chain(builder.genesis_block.hash(), junk_depth);
        junk_on_tip = heavy_junk(builder, main_chain.back().hash());
        junk_deep = heavy_junk(builder, builder.genesis_block.hash());
        std::uint64_t main_work = 0;
        for (const auto& block : main_chain) main_work += block.header.work;
        if (junk_deep.header.work <= main_work) std::abort();  // it must outweigh the chain
    }

    // A block whose certificate fails verification, claiming max_block_work.
    Block heavy_junk(ForkBuilder& builder, const Hash256& parent) const {
        BuildOptions junk;
        junk.invalid_work = true;
        Block block = builder.build(parent, {}, junk);
        block.header.work = max_block_work(genesis.learning);
        block.header.sign(chain::testing::test_key(junk.proposer));
        return block;
    }
};

// The same engine without the parent-state-free checks: what a junk branch cost before they
// ran ahead of the disconnections (disconnect 95, fail connecting the junk, reconnect 95).
struct UncheckedEngine : PersistentTestEngine {
    Status check_work(const Block&, const WorkContext&) override { return ok_status(); }
};

enum class Junk { tip, deep, deep_unchecked };

// One iteration: a fresh store holding the main chain, then the timed refusal.
void junk_reorg(benchmark::State& state, Junk junk) {
    const bool deep = junk != Junk::tip;
    static const JunkReorgFixture fixture;
    const std::uint64_t now = fixture.genesis.time + 1'000'000;
    int run = 0;
    double total = 0;
    for (auto _ : state) {
        TempDir dir(std::string(deep ? "junk-deep" : "junk-tip") + std::to_string(run++));
        PersistentTestEngine checked;
        UncheckedEngine unchecked;
        PersistentTestEngine& engine = junk == Junk::deep_unchecked ? unchecked : checked;
        auto store = std::move(ChainStore::open({dir.path}, fixture.genesis, engine).value());
        for (const auto& block : fixture.main_chain) (void)store->accept_block(block, now);
        const Hash256 tip = store->tip().hash;
        const auto start = std::chrono::steady_clock::now();
        const auto refused =
            store->accept_block(deep ? fixture.junk_deep : fixture.junk_on_tip, now);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        state.SetIterationTime(seconds);
        total += seconds;
        if (refused || store->tip().hash != tip) state.SkipWithError("the junk was accepted");
    }
    state.counters["refuse_ms"] = total * 1e3 / static_cast<double>(state.iterations());
}

void BM_reorg_junk_tip(benchmark::State& state) {
    junk_reorg(state, Junk::tip);
}
void BM_reorg_junk_deep(benchmark::State& state) {
    junk_reorg(state, Junk::deep);
}
void BM_reorg_junk_deep_unchecked(benchmark::State& state) {
    junk_reorg(state, Junk::deep_unchecked);
}
BENCHMARK(BM_reorg_junk_tip)
    ->Iterations(5)
    ->Repetitions(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_reorg_junk_deep)
    ->Iterations(5)
    ->Repetitions(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_reorg_junk_deep_unchecked)
    ->Iterations(3)
    ->Repetitions(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    (void)log::set_level("warn");
    return learnchain::bench::run_main(argc, argv, [](const learnchain::bench::Results& results) {
        // Wall time for the store: its fsyncs are part of the cost and use no CPU. The CPU-only
        // figure is printed beside it, since this machine is shared.
        if (const auto* run = results.find("BM_connect_block_1000tx"); run != nullptr) {
            const double iterations = static_cast<double>(run->iterations);
            learnchain::bench::print_line("connect_block_1000tx",
                                          iterations / run->real_accumulated_time, "blocks/s");
            learnchain::bench::print_line("connect_block_1000tx_cpu",
                                          iterations / run->cpu_accumulated_time, "blocks/s");
        }
        // CPU time: on a shared machine, being descheduled inflates real time at random, and
        // the ratio should compare work, not luck.
        const auto* verify_run = results.find("BM_tx_verify");
        const auto* raw_run = results.find("BM_raw_schnorr");
        const double verify = verify_run != nullptr ? verify_run->GetAdjustedCPUTime() * 1e-9 : NAN;
        const double raw = raw_run != nullptr ? raw_run->GetAdjustedCPUTime() * 1e-9 : NAN;
        learnchain::bench::print_line("tx_verify_per_sec", 1.0 / verify, "ops/s");
        learnchain::bench::print_line("tx_verify_vs_raw_schnorr", raw / verify, "ratio");
        learnchain::bench::print_line("reorg_depth10_ms",
                                      results.counter("BM_reorg_depth10", "reorg_ms"), "ms");
        const double tip = results.counter("BM_reorg_junk_tip", "refuse_ms");
        const double deep = results.counter("BM_reorg_junk_deep", "refuse_ms");
        learnchain::bench::print_line("reorg_junk_tip_ms", tip, "ms");
        learnchain::bench::print_line("reorg_junk_deep_ms", deep, "ms");
        learnchain::bench::print_line("reorg_junk_deep_vs_tip", deep / tip, "x");
        learnchain::bench::print_line("reorg_junk_deep_unchecked_ms",
                                      results.counter("BM_reorg_junk_deep_unchecked", "refuse_ms"),
                                      "ms");
    });
}
