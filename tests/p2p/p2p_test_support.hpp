// Test-only in-process nodes: ChainStore (RocksDB in a temp dir) + Mempool under a Chainstate,
// Sync and a ConnectionManager on an ephemeral loopback port, with the chain tests' test-only
// work engine (or one the test brings).
//
// TEST ONLY: PersistentTestEngine proves nothing (see tests/chain/store_test_support.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <learnchain/chain/chainstate.hpp>
#include <learnchain/chain/mempool.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/p2p/connection_manager.hpp>
#include <learnchain/p2p/messages.hpp>
#include <learnchain/p2p/sync.hpp>

#include "chain/store_test_support.hpp"
#include "p2p/raw_peer.hpp"
#include "support/eventually.hpp"

namespace learnchain::p2p::testing {

using learnchain::testing::eventually;

using chain::testing::ForkBuilder;
using chain::testing::PersistentTestEngine;

inline std::filesystem::path temp_dir(const std::string& name) {
    static std::mt19937_64 rng{std::random_device{}()};
    auto dir = std::filesystem::temp_directory_path() /
               ("learnchain-node-" + name + "-" + std::to_string(rng()));
    std::filesystem::create_directories(dir);
    return dir;
}

// Fast timers so that the suite stays short.
inline NetOptions test_net_options(const chain::Genesis& genesis) {
    NetOptions options;
    options.magic = network_magic(genesis.chain_id);
    options.handshake_timeout = std::chrono::seconds(3);
    options.ping_interval = std::chrono::seconds(2);
    options.ping_timeout = std::chrono::seconds(2);
    options.tick_interval = std::chrono::milliseconds(50);
    options.reconnect_initial = std::chrono::milliseconds(100);
    options.reconnect_max = std::chrono::milliseconds(400);
    return options;
}

class TestNode {
public:
    TestNode(const chain::Genesis& genesis, std::filesystem::path dir,
             const std::function<void(NetOptions&)>& tweak = {}, SyncOptions sync_options = {},
             bool durable = true, chain::WorkEngine* engine = nullptr)
        : dir_(std::move(dir)), genesis_(genesis), mempool_(genesis.chain_id) {
        chain::WorkEngine& work = engine != nullptr ? *engine : engine_;
        chain::StoreOptions store_options;
        store_options.path = dir_ / "chain";
        store_options.sync = durable;  // benchmarks isolate CPU costs with fsync off
        auto opened = chain::ChainStore::open(store_options, genesis_, work);
        if (!opened) throw std::runtime_error(opened.error().to_string());
        store_ = std::move(*opened);
        chainstate_ = std::make_unique<chain::Chainstate>(*store_, mempool_, work);
        // A test or benchmark waiting for a height reads this atomic instead of taking cs_main,
        // which, polled every few hundred microseconds, would slow down the very sync it waits
        // for.
        published_height_ = store_->height();
        chainstate_->on_tip_changed([this](const chain::AcceptResult&) {
            LOCK(chainstate_->cs_main);
            published_height_.store(chainstate_->store().height(), std::memory_order_release);
        });
        sync_ = std::make_unique<Sync>(*chainstate_, sync_options);
        NetOptions options = test_net_options(genesis_);
        options.datadir = dir_;
        if (tweak) tweak(options);
        net_ = std::make_unique<ConnectionManager>(options, *sync_);
        sync_->attach(*net_);
        if (auto started = net_->start(); !started)
            throw std::runtime_error(started.error().to_string());
    }
    ~TestNode() {
        sync_->stop();
        net_->stop();
        net_.reset();
        sync_.reset();
        chainstate_.reset();
        store_.reset();
    }

    [[nodiscard]] Sync& sync() { return *sync_; }
    [[nodiscard]] chain::Chainstate& chainstate() { return *chainstate_; }
    [[nodiscard]] ConnectionManager& net() { return *net_; }
    [[nodiscard]] Endpoint endpoint() const { return {"127.0.0.1", net_->port()}; }
    [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
    [[nodiscard]] std::uint32_t magic() const { return network_magic(genesis_.chain_id); }

    [[nodiscard]] std::uint64_t height() {
        LOCK(chainstate_->cs_main);
        return chainstate_->store().height();
    }
    // The height after the last tip change, without cs_main.
    [[nodiscard]] std::uint64_t published_height() const {
        return published_height_.load(std::memory_order_acquire);
    }
    [[nodiscard]] Hash256 tip() {
        LOCK(chainstate_->cs_main);
        return chainstate_->store().tip().hash;
    }
    [[nodiscard]] Hash256 state_root() {
        LOCK(chainstate_->cs_main);
        return chainstate_->store().tip().header.state_root;
    }
    [[nodiscard]] bool in_mempool(const Hash256& txid) {
        LOCK(chainstate_->cs_main);
        return chainstate_->mempool().contains(txid);
    }

    // Imports blocks straight into the store (no network), as a node that mined them.
    void import(const std::vector<chain::Block>& blocks) {
        for (const auto& block : blocks)
            if (auto r = sync_->submit_block(block); !r)
                throw std::runtime_error(r.error().to_string());
    }

private:
    std::filesystem::path dir_;
    chain::Genesis genesis_;
    PersistentTestEngine engine_;
    std::unique_ptr<chain::ChainStore> store_;
    chain::Mempool mempool_;
    std::unique_ptr<chain::Chainstate> chainstate_;
    std::atomic<std::uint64_t> published_height_{0};
    std::unique_ptr<Sync> sync_;
    std::unique_ptr<ConnectionManager> net_;
};

// A certificate and blob of the sizes the genesis fixes, filled with `fill`: what Sync takes
// from a peer before its verifier looks inside (this one fails verification, of course).
inline chain::WorkItem sized_work_item(const chain::Genesis& genesis, std::uint8_t fill) {
    const auto& params = genesis.learning;
    return chain::WorkItem{
        std::vector<std::uint8_t>(chain::certificate_encoded_size(params), fill),
        std::vector<std::uint8_t>(4 * chain::model_parameter_count(params.model), fill)};
}

// A version message that passes the handshake of a node on `genesis_hash`.
inline VersionMessage raw_version(const Hash256& genesis_hash, std::uint64_t nonce = 42) {
    VersionMessage version;
    version.genesis_hash = genesis_hash;
    version.nonce = nonce;
    version.user_agent = "/raw-test-peer/";
    return version;
}

}  // namespace learnchain::p2p::testing
