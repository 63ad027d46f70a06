// Sync throughput: blocks/s syncing 200 blocks from a peer over loopback, against blocks/s
// importing the same blocks into a fresh local store, in the same run. The ratio shows what
// the P2P layer costs on top of validation and storage (goal: >= 0.8).
//
// Uses the chain tests' TEST-ONLY work engine (PersistentTestEngine): the real
// proof-of-learning engine, whose verification dominates a real sync, comes later.
// Wall-clock times (the sync runs on the node's own threads), best of a few runs.
//
// Fairness of the timing: the sync's end is seen through TestNode::published_height(), an
// atomic the node's handler updates, not by taking the chain lock every 200 us (which the
// node under test then waits for, and the import never does); and every run's store is
// deleted and the file system synced outside the timed part, so that a run never pays for
// the previous run's deleted files (the durable sync always ran right after the durable
// import, and paid for its journal commit and discards).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <learnchain/chain/log.hpp>

#include <unistd.h>

#include "bench/bench_report.hpp"
#include "p2p/p2p_test_support.hpp"

namespace {

using namespace learnchain;
using Clock = std::chrono::steady_clock;

constexpr std::size_t block_count = 200;
constexpr int runs = 5;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double local_import(const chain::Genesis& genesis, const std::vector<chain::Block>& blocks,
                    bool durable) {
    const auto dir = p2p::testing::temp_dir("bench-import");
    double seconds = 0;
    {
        chain::testing::PersistentTestEngine engine;
        chain::StoreOptions options;
        options.path = dir / "chain";
        options.sync = durable;
        auto store = chain::ChainStore::open(options, genesis, engine).value();
        const auto now = static_cast<std::uint64_t>(std::time(nullptr));
        const auto start = Clock::now();
        for (const auto& block : blocks)
            if (!store->accept_block(block, now)) std::abort();
        seconds = seconds_since(start);
    }
    std::filesystem::remove_all(dir);
    ::sync();
    return seconds;
}

double network_sync(const chain::Genesis& genesis, p2p::testing::TestNode& source, bool durable) {
    const auto dir = p2p::testing::temp_dir("bench-sync");
    double seconds = 0;
    {
        // Store open and node start are outside the timing, as the local import's are.
        p2p::testing::TestNode target(genesis, dir, {}, {}, durable);
        const auto start = Clock::now();
        target.net().connect(source.endpoint());
        // Polled finely: the test helper's 10 ms steps would be a tenth of the whole sync.
        while (target.published_height() != block_count) {
            if (seconds_since(start) > 120) std::abort();
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        seconds = seconds_since(start);
        if (target.tip() != source.tip()) std::abort();
    }
    std::filesystem::remove_all(dir);
    ::sync();
    return seconds;
}

}  // namespace

int main() {
    (void)log::set_level("warn");
    const chain::Genesis genesis = chain::testing::store_test_genesis();
    chain::testing::ForkBuilder builder(genesis);
    const auto blocks = builder.build_chain(builder.genesis_block.hash(), block_count);

    const auto source_dir = p2p::testing::temp_dir("bench-source");
    // [durable]: best wall-clock seconds of each kind, runs interleaved so that load from
    // other processes hits both alike.
    double best_sync[2] = {1e9, 1e9};
    double best_import[2] = {1e9, 1e9};
    {
        p2p::testing::TestNode source(genesis, source_dir);
        source.import(blocks);
        for (int i = 0; i < runs; ++i)
            for (const bool durable : {true, false}) {
                best_import[durable] =
                    std::min(best_import[durable], local_import(genesis, blocks, durable));
                best_sync[durable] =
                    std::min(best_sync[durable], network_sync(genesis, source, durable));
            }
    }
    std::filesystem::remove_all(source_dir);

    std::printf(
        "note: TEST work engine (PersistentTestEngine, verifies nothing); %zu blocks, "
        "best of %d interleaved wall-clock runs; sync time starts at the outbound "
        "connect and includes the handshake\n",
        block_count, runs);
    const double sync_rate = block_count / best_sync[1];
    const double import_rate = block_count / best_import[1];
    bench::print_line("sync_blocks_per_sec", sync_rate, "blocks/s");
    bench::print_line("local_import_blocks_per_sec", import_rate, "blocks/s");
    bench::print_line("sync_vs_local_import", sync_rate / import_rate, "ratio");
    // Without fsync the ratio is the P2P layer's CPU and latency cost alone (fsync latency on
    // a shared disk varies by 10x between runs and swamps it).
    bench::print_line("sync_vs_local_import_nofsync", best_import[0] / best_sync[0], "ratio");
    return 0;
}
