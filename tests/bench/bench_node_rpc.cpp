// getblockchaininfo requests/s and p99 latency against a whole node (store, engine, P2P, RPC) in
// this process, from 4 keep-alive loopback clients: once idle, once while the node mines (the
// miner and the RPC threads then share the chain mutex). Test genesis (tiny model).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/node/node.hpp>
#include <learnchain/rpc/client.hpp>

#include <nlohmann/json.hpp>
#include <stdlib.h>

#include "bench/bench_report.hpp"

namespace learnchain {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr int client_threads = 4;
constexpr auto load_duration = 5s;

using bench::LoadResult;

class BenchNode {
public:
    BenchNode() {
        char tmpl[] = "/tmp/learnchain-bench-node-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) std::abort();
        dir_ = tmpl;
        // The test genesis without retargets, so the miner never outruns its own D.
        std::ifstream in(std::filesystem::path(LEARNCHAIN_SOURCE_DIR) / chain::test_genesis_file);
        json genesis = json::parse(in);
        genesis["retarget_window"] = 100000;
        genesis["max_future_time"] = 86400;
        std::ofstream(dir_ / "genesis.json") << genesis.dump(2);

        node::NodeConfig config;
        config.datadir = dir_ / "node";
        config.genesis = dir_ / "genesis.json";
        config.bind = "127.0.0.1";
        config.port = 0;
        config.rpc_port = 0;
        config.mine = true;
        config.threads = 1;
        auto opened = node::Node::open(config);
        if (!opened || !(*opened)->start()) std::abort();
        node_ = std::move(opened).value();
        options_.port = node_->rpc_port();
        options_.cookie_path = node_->cookie_path();
    }
    ~BenchNode() {
        node_->stop();
        std::filesystem::remove_all(dir_);
    }

    [[nodiscard]] node::Node& node() { return *node_; }

    LoadResult load() {
        std::atomic<std::uint64_t> failures{0};
        std::vector<std::vector<double>> latencies(client_threads);
        const auto start = std::chrono::steady_clock::now();
        const auto deadline = start + load_duration;
        std::vector<std::thread> clients;
        for (int t = 0; t < client_threads; ++t) {
            clients.emplace_back([&, t] {
                rpc::RpcClient client(options_);
                auto& mine = latencies[static_cast<std::size_t>(t)];
                while (std::chrono::steady_clock::now() < deadline) {
                    const auto begin = std::chrono::steady_clock::now();
                    auto result = client.call("getblockchaininfo");
                    const auto end = std::chrono::steady_clock::now();
                    if (!result.ok() || !result->contains("best_hash")) ++failures;
                    mine.push_back(std::chrono::duration<double, std::milli>(end - begin).count());
                }
            });
        }
        for (auto& c : clients) c.join();
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return bench::summarize_load(latencies, seconds, failures.load());
    }

private:
    std::filesystem::path dir_;
    std::unique_ptr<node::Node> node_;
    rpc::ClientOptions options_;
};

void report(benchmark::State& state, const LoadResult& result) {
    if (result.failures > 0) state.SkipWithError("some calls failed");
    state.counters["rps"] = result.requests_per_second;
    state.counters["p99_ms"] = result.p99_ms;
}

// A node with a short chain, mining paused: the RPC path alone.
void BM_node_getblockchaininfo_idle(benchmark::State& state) {
    BenchNode bench;
    while (bench.node().with_chain([](auto& store, auto&, auto&) { return store.height(); }) < 50)
        std::this_thread::sleep_for(50ms);
    if (!bench.node().set_mining(false)) std::abort();
    LoadResult result;
    for (auto _ : state) result = bench.load();
    report(state, result);
}
BENCHMARK(BM_node_getblockchaininfo_idle)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The same while the node mines a block every few tens of milliseconds.
void BM_node_getblockchaininfo_mining(benchmark::State& state) {
    BenchNode bench;
    LoadResult result;
    for (auto _ : state) result = bench.load();
    report(state, result);
}
BENCHMARK(BM_node_getblockchaininfo_mining)
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace learnchain

int main(int argc, char** argv) {
    (void)learnchain::log::set_level("warn");
    return learnchain::bench::run_main(argc, argv, [](const learnchain::bench::Results& r) {
        using learnchain::bench::print_line;
        print_line("rpc_getblockchaininfo_rps", r.counter("BM_node_getblockchaininfo_idle", "rps"),
                   "req/s");
        print_line("rpc_getblockchaininfo_p99_ms",
                   r.counter("BM_node_getblockchaininfo_idle", "p99_ms"), "ms");
        print_line("rpc_getblockchaininfo_mining_rps",
                   r.counter("BM_node_getblockchaininfo_mining", "rps"), "req/s");
        print_line("rpc_getblockchaininfo_mining_p99_ms",
                   r.counter("BM_node_getblockchaininfo_mining", "p99_ms"), "ms");
    });
}
