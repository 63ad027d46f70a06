// Shared setup for the work-engine, chain-training, miner and learning tests: the test genesis,
// a PolWorkEngine behind a real RocksDB ChainStore in a temporary directory, and blocks built
// the way a proposer builds them (build_block_template).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <learnchain/chain/block_template.hpp>
#include <learnchain/chain/chainstate.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/mempool.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/engine.hpp>
#include <learnchain/consensus/training/trainer.hpp>

namespace learnchain::consensus::testing {

inline chain::Genesis test_genesis() {
    auto genesis = chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/" +
                                       std::string(chain::test_genesis_file));
    if (!genesis) throw std::runtime_error(genesis.error().to_string());
    return *genesis;
}

inline chain::SecretKey key_of(std::uint8_t fill) {
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(fill);
    return chain::SecretKey::from_bytes(bytes).value();
}

inline std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Engine options with the libtorch tracer on the CPU (what a node on this machine uses).
inline EngineOptions cpu_engine_options(const chain::Genesis& genesis, EngineOptions options = {}) {
    if (!options.make_tracer)
        options.make_tracer = training::tracer_factory(genesis.learning.model);
    return options;
}

// A temporary directory removed on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& name) {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                (name + "-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A node's chain objects: engine, store and mempool under a Chainstate (its cs_main is the
// chain lock the miner takes). Tests that drive the store themselves hold cs_main around it
// when a miner runs beside them.
struct Node {
    chain::Genesis genesis;
    std::unique_ptr<PolWorkEngine> engine;
    std::unique_ptr<chain::ChainStore> store;
    chain::Mempool mempool;
    std::unique_ptr<chain::Chainstate> chainstate;

    explicit Node(const std::filesystem::path& dir, chain::Genesis g = test_genesis(),
                  EngineOptions options = {}, bool sync = false)
        : genesis(std::move(g)), mempool(genesis.chain_id) {
        if (options.rng_seed == 0) options.rng_seed = 1;
        auto created = PolWorkEngine::create(genesis, cpu_engine_options(genesis, options));
        if (!created) throw std::runtime_error(created.error().to_string());
        engine = std::move(created).value();
        auto opened = chain::ChainStore::open({dir, sync, true}, genesis, *engine);
        if (!opened) throw std::runtime_error(opened.error().to_string());
        store = std::move(opened).value();
        chainstate = std::make_unique<chain::Chainstate>(*store, mempool, *engine);
    }

    // Block times one target interval apart keep D at its initial value.
    [[nodiscard]] std::uint64_t next_time() const {
        return store->tip().header.time + genesis.target_block_time;
    }

    // A signed child of the tip carrying `items` (BlockWork from their certificates, as the
    // proposer's own verification would give), and those of `evidence` the template finds valid.
    [[nodiscard]] Result<chain::Block> build(std::vector<chain::WorkItem> items,
                                             const chain::SecretKey& proposer,
                                             std::vector<chain::Evidence> evidence = {}) {
        chain::BlockWork work;
        for (const auto& item : items) {
            auto certificate = decode_certificate(item.certificate);
            if (!certificate) return certificate.error();
            work.certificate_roots.push_back(certificate->root());
            const auto credited = credited_work(*certificate);
            work.workers.insert(work.workers.end(), credited.begin(), credited.end());
        }
        const chain::TemplateEvidence offered{std::move(evidence), store.get()};
        auto built = chain::build_block_template(*store, store->tip(), store->state(), *engine,
                                                 mempool, std::move(items), work, proposer, genesis,
                                                 next_time(), {}, offered);
        if (!built) return built.error();
        return std::move(built->block);
    }

    // One honest contribution of `worker` on the tip model.
    [[nodiscard]] Result<Contribution> contribute(const chain::SecretKey& worker, std::uint32_t n) {
        return compute_contribution(engine->tracer(), engine->weights(), engine->dataset(),
                                    genesis.learning, store->tip().hash, worker, n);
    }

    [[nodiscard]] Result<chain::AcceptResult> accept(const chain::Block& block) {
        return store->accept_block(block, block.header.time);
    }
};

}  // namespace learnchain::consensus::testing
