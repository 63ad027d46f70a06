// The multi-process test harness (Bitcoin Core's test_framework): real learnchaind processes on
// loopback, each with a temporary datadir and free ports, driven over JSON-RPC with the cookie.
// One scenario per tests/functional/*_test.cpp, each its own binary.
//
// The chain is genesis/test.json (the tiny model) with two fields changed in a copy written to
// the test's directory: retarget_window 100000 and max_future_time 86400. With the shipped
// values (W = 4, 1 s blocks, 10 s future limit) a loopback miner makes blocks far faster than
// 1 s: block times (median-time-past + 1) outrun the 10 s limit, and D climbs to its cap of four
// contributions (max_per_worker 4 x 128 tokens) within 8 blocks, so every block would need a
// miner's full allowance. Fixed D and a lax clock keep the scenarios about the node.
#pragma once

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/rpc/client.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/types.h>

#include "support/eventually.hpp"

namespace learnchain::functional {

using json = nlohmann::json;
using learnchain::testing::eventually;
using namespace std::chrono_literals;

// A loopback TCP port nobody listens on right now.
[[nodiscard]] std::uint16_t free_port();

// One learnchaind child process.
class Daemon {
public:
    Daemon(std::string name, std::filesystem::path root, std::filesystem::path genesis);
    ~Daemon();  // SIGKILLs it if it still runs
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Spawns the daemon with the harness's flags plus `extra`, and waits for its RPC.
    void start(const std::vector<std::string>& extra);
    [[nodiscard]] bool alive();
    void kill(int signal);
    // SIGTERM, then the exit status (a clean shutdown exits 0).
    int terminate();

    [[nodiscard]] Result<json> call(std::string_view method, const json& params = json::array());
    // call(), failing the test on an error.
    json must(std::string_view method, const json& params = json::array());

    [[nodiscard]] std::uint64_t height();
    [[nodiscard]] std::string tip();
    [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::uint16_t rpc_port() const { return rpc_port_; }
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] const std::filesystem::path& datadir() const { return datadir_; }
    [[nodiscard]] std::string log_tail() const;

    // Resident memory of the process (VmRSS) and bytes under its datadir, for the bounds the
    // hostile-peer scenarios assert.
    [[nodiscard]] std::uint64_t rss_bytes() const;
    [[nodiscard]] std::uint64_t datadir_bytes() const;
    // A block of its main chain, decoded from getblock's hex.
    [[nodiscard]] chain::Block block_at(std::uint64_t height);
    [[nodiscard]] chain::Block block(const std::string& hash);

private:
    std::string name_;
    std::filesystem::path datadir_;
    std::filesystem::path genesis_;
    std::uint16_t port_;
    std::uint16_t rpc_port_;
    pid_t pid_ = -1;
    int exit_status_ = 0;
    std::unique_ptr<rpc::RpcClient> client_;
};

class Functional : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;  // prints every daemon's log tail when the test failed

    Daemon& daemon(const std::string& name);
    // Every daemon's tip equals the first one's.
    [[nodiscard]] bool converged(std::initializer_list<Daemon*> nodes);
    // Rewrites fields of the scenario's genesis copy (before any daemon starts), as a JSON merge
    // patch (RFC 7386): nested objects such as "learning" are merged, not replaced.
    void edit_genesis(const json& fields);

    std::filesystem::path root_;
    std::filesystem::path genesis_path_;
    chain::Genesis genesis_;
    std::vector<std::unique_ptr<Daemon>> daemons_;
};

[[nodiscard]] std::string mining_address(Daemon& node);

// The test genesis funds the key with secret 1.
[[nodiscard]] chain::SecretKey funded_key();

// Runs the daemon binary with `args` to completion: its exit code and its output.
[[nodiscard]] std::pair<int, std::string> run_daemon(std::vector<std::string> args,
                                                     const std::filesystem::path& output);

}  // namespace learnchain::functional
