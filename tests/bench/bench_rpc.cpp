// RPC throughput and latency over loopback: a server with a trivial method (a stand-in for
// getblockchaininfo until the node registers real ones), hammered by keep-alive clients.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include <learnchain/chain/log.hpp>
#include <learnchain/rpc/client.hpp>
#include <learnchain/rpc/server.hpp>

#include "bench/bench_report.hpp"

namespace {

using namespace learnchain;
using namespace std::chrono_literals;
using rpc::json;

constexpr int client_threads = 4;
constexpr int calls_per_client = 25000;
constexpr auto time_limit = 10s;

using bench::LoadResult;

LoadResult run_load() {
    char tmpl[] = "/tmp/learnchain-bench-rpc-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    const std::filesystem::path datadir = tmpl;

    rpc::ServerOptions options;
    options.datadir = datadir;
    options.threads = 2;
    rpc::RpcServer server(options);
    (void)server.register_method("echo", [](const json& params) -> Result<json> { return params; });
    if (auto started = server.start(); !started) {
        log::error("rpc bench: {}", started.error().to_string());
        std::abort();
    }

    rpc::ClientOptions client_options;
    client_options.port = server.port();
    client_options.cookie_path = server.cookie_path();

    std::atomic<std::uint64_t> done{0};
    std::atomic<std::uint64_t> failures{0};
    std::atomic<bool> running{true};
    std::vector<std::vector<double>> latencies(client_threads);
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + time_limit;

    std::vector<std::thread> clients;
    for (int t = 0; t < client_threads; ++t) {
        clients.emplace_back([&, t] {
            rpc::RpcClient client(client_options);
            auto& mine = latencies[static_cast<std::size_t>(t)];
            mine.reserve(calls_per_client);
            const json params = {"devnet", 12345, {{"bestblockhash", std::string(64, 'a')}}};
            for (int i = 0; i < calls_per_client && std::chrono::steady_clock::now() < deadline;
                 ++i) {
                const auto begin = std::chrono::steady_clock::now();
                auto result = client.call("echo", params);
                const auto end = std::chrono::steady_clock::now();
                if (!result.ok() || *result != params) ++failures;
                mine.push_back(std::chrono::duration<double, std::milli>(end - begin).count());
                ++done;
            }
        });
    }
    // Progress from this thread only: log::Progress is not thread-safe.
    std::thread reporter([&] {
        log::Progress progress("rpc load", "requests",
                               std::uint64_t{client_threads} * calls_per_client, 1s);
        while (running) {
            progress.update(done.load());
            std::this_thread::sleep_for(100ms);
        }
        progress.update(done.load());
    });
    for (auto& c : clients) c.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    running = false;
    reporter.join();
    server.stop();
    std::filesystem::remove_all(datadir);

    return bench::summarize_load(latencies, seconds, failures.load());
}

// The whole load is one iteration; its figures are wall-clock and travel as counters.
void BM_rpc_echo_load(benchmark::State& state) {
    LoadResult result;
    for (auto _ : state) result = run_load();
    if (result.failures > 0) state.SkipWithError("some calls failed");
    state.counters["rps"] = result.requests_per_second;
    state.counters["p99_ms"] = result.p99_ms;
}
BENCHMARK(BM_rpc_echo_load)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// The transport-free part of a request: parse, dispatch, serialize.
void BM_rpc_dispatch_echo(benchmark::State& state) {
    rpc::Dispatcher dispatcher;
    (void)dispatcher.register_method("echo", [](const json& p) -> Result<json> { return p; });
    const std::string body =
        R"({"jsonrpc":"2.0","id":1,"method":"echo","params":["devnet",12345,{"bestblockhash":")" +
        std::string(64, 'a') + R"("}]})";
    for (auto _ : state) benchmark::DoNotOptimize(dispatcher.handle(body));
}
BENCHMARK(BM_rpc_dispatch_echo);

}  // namespace

int main(int argc, char** argv) {
    return learnchain::bench::run_main(argc, argv, [](const learnchain::bench::Results& r) {
        learnchain::bench::print_line("rpc_echo_rps", r.counter("BM_rpc_echo_load", "rps"),
                                      "requests/s");
        learnchain::bench::print_line("rpc_echo_p99_ms", r.counter("BM_rpc_echo_load", "p99_ms"),
                                      "ms");
        learnchain::bench::print_line("rpc_dispatch_echo_us",
                                      r.seconds_per_iteration("BM_rpc_dispatch_echo") * 1e6, "us");
    });
}
