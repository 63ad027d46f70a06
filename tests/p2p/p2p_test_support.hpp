// Test-only in-process nodes: ChainStore (RocksDB in a temp dir) + Mempool + Sync +
// ConnectionManager on an ephemeral loopback port, with the chain tests' test-only work engine.
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

// Forwards the connection manager's callbacks to Sync and publishes the tip height after each,
// as the node's own wrapper notices tip changes (src/node.cpp): a test or benchmark waiting
// for a height then reads an atomic instead of taking the chain lock, which, polled every few
// hundred microseconds, would slow down the very sync it waits for.
class TipPublishingHandler final : public NetHandler {
public:
    explicit TipPublishingHandler(Sync& sync) : sync_(sync) { publish(); }

    [[nodiscard]] VersionMessage local_version() override { return sync_.local_version(); }
    void on_connected(const PeerInfo& peer) override { sync_.on_connected(peer); }
    void on_message(PeerId peer, Message message) override {
        sync_.on_message(peer, std::move(message));
        publish();
    }
    void on_disconnected(PeerId peer) override {
        sync_.on_disconnected(peer);
        publish();
    }
    void on_tick() override {
        sync_.on_tick();
        publish();
    }

    void publish() {
        height_.store(
            sync_.locked([](chain::ChainStore& s, chain::Mempool&) { return s.height(); }),
            std::memory_order_release);
    }
    [[nodiscard]] std::uint64_t height() const { return height_.load(std::memory_order_acquire); }

private:
    Sync& sync_;
    std::atomic<std::uint64_t> height_{0};
};

class TestNode {
public:
    TestNode(const chain::Genesis& genesis, std::filesystem::path dir,
             const std::function<void(NetOptions&)>& tweak = {}, SyncOptions sync_options = {},
             bool durable = true)
        : dir_(std::move(dir)), genesis_(genesis), mempool_(genesis.chain_id) {
        chain::StoreOptions store_options;
        store_options.path = dir_ / "chain";
        store_options.sync = durable;  // benchmarks isolate CPU costs with fsync off
        auto opened = chain::ChainStore::open(store_options, genesis_, engine_);
        if (!opened) throw std::runtime_error(opened.error().to_string());
        store_ = std::move(*opened);
        sync_ = std::make_unique<Sync>(*store_, mempool_, sync_options);
        handler_ = std::make_unique<TipPublishingHandler>(*sync_);
        NetOptions options = test_net_options(genesis_);
        options.datadir = dir_;
        if (tweak) tweak(options);
        net_ = std::make_unique<ConnectionManager>(options, *handler_);
        sync_->attach(*net_);
        if (auto started = net_->start(); !started)
            throw std::runtime_error(started.error().to_string());
    }
    ~TestNode() {
        net_->stop();
        net_.reset();
        handler_.reset();
        sync_.reset();
        store_.reset();
    }

    [[nodiscard]] Sync& sync() { return *sync_; }
    [[nodiscard]] ConnectionManager& net() { return *net_; }
    [[nodiscard]] Endpoint endpoint() const { return {"127.0.0.1", net_->port()}; }
    [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
    [[nodiscard]] std::uint32_t magic() const { return network_magic(genesis_.chain_id); }

    [[nodiscard]] std::uint64_t height() {
        return sync_->locked([](chain::ChainStore& s, chain::Mempool&) { return s.height(); });
    }
    // The height after the last P2P callback or import, without the chain lock.
    [[nodiscard]] std::uint64_t published_height() const { return handler_->height(); }
    [[nodiscard]] Hash256 tip() {
        return sync_->locked([](chain::ChainStore& s, chain::Mempool&) { return s.tip().hash; });
    }
    [[nodiscard]] Hash256 state_root() {
        return sync_->locked(
            [](chain::ChainStore& s, chain::Mempool&) { return s.tip().header.state_root; });
    }

    // Imports blocks straight into the store (no network), as a node that mined them.
    void import(const std::vector<chain::Block>& blocks) {
        for (const auto& block : blocks)
            if (auto r = sync_->submit_block(block); !r)
                throw std::runtime_error(r.error().to_string());
        handler_->publish();
    }

private:
    std::filesystem::path dir_;
    chain::Genesis genesis_;
    PersistentTestEngine engine_;
    std::unique_ptr<chain::ChainStore> store_;
    chain::Mempool mempool_;
    std::unique_ptr<Sync> sync_;
    std::unique_ptr<TipPublishingHandler> handler_;
    std::unique_ptr<ConnectionManager> net_;
};

// A version message that passes the handshake of a node on `genesis_hash`.
inline VersionMessage raw_version(const Hash256& genesis_hash, std::uint64_t nonce = 42) {
    VersionMessage version;
    version.genesis_hash = genesis_hash;
    version.nonce = nonce;
    version.user_agent = "/raw-test-peer/";
    return version;
}

}  // namespace learnchain::p2p::testing
