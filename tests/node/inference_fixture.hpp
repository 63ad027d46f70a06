// Test-only: a small node composed in-process for the wallet and inference tests: a real
// ChainStore (with the chain tests' persistent test engine) and Mempool, the inference service
// over a tiny model, and an RPC server with test versions of the daemon's getaccount,
// sendrawtransaction, gettransaction and getblockchaininfo (their reply shapes as in
// src/rpc_methods.cpp) next to the real inference methods.
//
// TEST ONLY: the work engine proves nothing, and blocks are built by the chain tests'
// ForkBuilder, which credits rewards to test_key(n) workers.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/mempool.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/node/inference.hpp>
#include <learnchain/rpc/server.hpp>

#include <unistd.h>

#include "chain/store_test_support.hpp"

namespace learnchain::node::testing {

using chain::testing::test_key;

inline std::filesystem::path fresh_dir(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() /
               ("learnchain_wallet_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

// The node's payment key in these tests.
inline chain::SecretKey node_key() {
    return test_key(20);
}

class TestNode {
public:
    explicit TestNode(const std::filesystem::path& dir,
                      chain::Amount price = default_price_per_token)
        : dir_(dir),
          builder_(chain::testing::store_test_genesis()),
          mempool_(builder_.genesis.chain_id) {
        auto store = chain::ChainStore::open({dir / "chain", false}, builder_.genesis, engine_);
        if (!store) throw std::runtime_error(store.error().to_string());
        store_ = std::move(store).value();
        weights_ = consensus::init_weights(builder_.genesis.learning.model).value();

        InferenceConfig config;
        config.payment_key = node_key().public_key();
        config.price_per_token = price;
        config.chain_id = builder_.genesis.chain_id;
        config.model = builder_.genesis.learning.model;
        InferenceHooks hooks;
        hooks.model_tip = [this] {
            std::lock_guard lock(mutex_);
            return ModelTip{store_->height(), store_->tip().hash};
        };
        hooks.model_snapshot = [this]() -> Result<ModelSnapshot> {
            ++snapshots;
            std::lock_guard lock(mutex_);
            return ModelSnapshot{{store_->height(), store_->tip().hash}, weights_};
        };
        hooks.admit = [this](const chain::Transaction& tx) -> Result<chain::Hash256> {
            std::lock_guard lock(mutex_);
            return mempool_.add(tx, store_->state());
        };
        hooks.known = [this](const chain::Hash256& txid) {
            std::lock_guard lock(mutex_);
            auto located = store_->transaction(txid);
            return mempool_.contains(txid) || (located && located->has_value());
        };
        service_ = std::make_unique<InferenceService>(config, hooks);
    }

    ~TestNode() {
        if (server_) server_->stop();
    }

    [[nodiscard]] const chain::Genesis& genesis() const { return builder_.genesis; }
    [[nodiscard]] InferenceService& service() { return *service_; }
    [[nodiscard]] chain::Mempool& mempool() { return mempool_; }
    [[nodiscard]] chain::ChainStore& store() { return *store_; }
    [[nodiscard]] const consensus::ModelWeights& weights() const { return weights_; }
    [[nodiscard]] std::mutex& mutex() { return mutex_; }
    int snapshots = 0;
    std::atomic<int> lose_answers{0};

    // Connects a block with every mempool transaction, rewarding test_key(worker).
    void mine(std::uint8_t worker = 7) {
        std::lock_guard lock(mutex_);
        auto txs = mempool_.select(chain::max_block_txs, 1 << 20);
        chain::testing::BuildOptions options;
        options.worker = worker;
        const chain::Block block = builder_.build(store_->tip().hash, txs, options);
        auto accepted = store_->accept_block(block, builder_.now());
        if (!accepted) throw std::runtime_error(accepted.error().to_string());
        mempool_.update(store_->state(), {});
    }

    // Starts an RPC server on an ephemeral loopback port with a cookie in `dir`/datadir.
    [[nodiscard]] Status start_rpc() {
        rpc::ServerOptions options;
        options.datadir = dir_ / "datadir";
        std::filesystem::create_directories(options.datadir);
        server_ = std::make_unique<rpc::RpcServer>(options);
        LEARNCHAIN_TRY(server_->register_method("getinferenceinfo", [this](const rpc::json&) {
            return Result<rpc::json>(service_->info());
        }));
        for (const char* reason :
             {"infer-bad-params", "infer-prompt-too-long", "infer-bad-payment"})
            LEARNCHAIN_TRY(server_->set_error_code(reason, rpc::code::invalid_params));
        // The node's infer, except that the next `lose_answers` answers are lost on the way back
        // after the node served them (as a connection dropped at the wrong moment).
        LEARNCHAIN_TRY(server_->register_method("infer", [this](const rpc::json& p) {
            auto served = service_->handle_infer(p);
            if (lose_answers > 0) {
                --lose_answers;
                return Result<rpc::json>(
                    make_error(ErrorKind::local, "rpc-timeout", "the answer was lost on the way"));
            }
            return served;
        }));
        LEARNCHAIN_TRY(server_->register_method(
            "getaccount", [this](const rpc::json& p) { return get_account(p); }));
        LEARNCHAIN_TRY(server_->register_method("getblockchaininfo", [this](const rpc::json&) {
            return Result<rpc::json>(
                rpc::json{{"chain_id", builder_.genesis.chain_id},
                          {"genesis_hash", builder_.genesis_block.hash().hex()}});
        }));
        LEARNCHAIN_TRY(server_->register_method(
            "sendrawtransaction", [this](const rpc::json& p) { return send_raw(p); }));
        LEARNCHAIN_TRY(server_->register_method(
            "gettransaction", [this](const rpc::json& p) { return get_transaction(p); }));
        return server_->start();
    }
    [[nodiscard]] std::uint16_t port() const { return server_->port(); }
    [[nodiscard]] std::filesystem::path datadir() const { return dir_ / "datadir"; }

private:
    Result<rpc::json> get_account(const rpc::json& p) {
        if (!p.is_array() || p.size() != 1 || !p[0].is_string())
            return rpc::invalid_params("expected [address]");
        auto key = chain::decode_address(p[0].get<std::string>());
        if (!key) return key.error();
        std::lock_guard lock(mutex_);
        const chain::Account account = store_->account(*key);
        return rpc::json{{"address", p[0]},
                         {"balance", chain::format_amount(account.balance)},
                         {"balance_units", account.balance},
                         {"nonce", account.nonce},
                         {"next_nonce", mempool_.next_nonce(*key, store_->state())},
                         {"height", store_->height()}};
    }

    Result<rpc::json> send_raw(const rpc::json& p) {
        if (!p.is_array() || p.size() != 1 || !p[0].is_string())
            return rpc::invalid_params("expected [hex]");
        auto bytes = chain::from_hex(p[0].get<std::string>());
        if (!bytes) return bytes.error();
        auto tx = chain::decode<chain::Transaction>(*bytes);
        if (!tx) return tx.error();
        std::lock_guard lock(mutex_);
        auto txid = mempool_.add(*tx, store_->state());
        if (!txid) return txid.error();
        return rpc::json(txid->hex());
    }

    Result<rpc::json> get_transaction(const rpc::json& p) {
        if (!p.is_array() || p.size() != 1 || !p[0].is_string())
            return rpc::invalid_params("expected [txid]");
        auto txid = chain::Hash256::from_hex(p[0].get<std::string>());
        if (!txid) return txid.error();
        std::lock_guard lock(mutex_);
        if (mempool_.contains(*txid))
            return rpc::json{{"txid", p[0]}, {"confirmations", 0}, {"in_mempool", true}};
        auto found = store_->transaction(*txid);
        if (!found) return found.error();
        if (!*found) return make_error(ErrorKind::policy, "tx-not-found", txid->hex());
        return rpc::json{{"txid", p[0]},
                         {"block", (*found)->block.hex()},
                         {"height", (*found)->height},
                         {"confirmations", store_->height() - (*found)->height + 1},
                         {"in_mempool", false}};
    }

    std::filesystem::path dir_;
    chain::testing::ForkBuilder builder_;
    chain::testing::PersistentTestEngine engine_;
    std::unique_ptr<chain::ChainStore> store_;
    chain::Mempool mempool_;
    consensus::ModelWeights weights_;
    std::unique_ptr<InferenceService> service_;
    std::unique_ptr<rpc::RpcServer> server_;
    std::mutex mutex_;
};

}  // namespace learnchain::node::testing
