// Test-only support for the store, mempool and template tests: a work engine that persists
// its model through the store's model column family, and a builder of blocks on any branch.
//
// TEST ONLY. The engine's certificates are chain_test_support.hpp's make_work_item payloads
// ({worker, tokens}): they prove nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/chain_view.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/chain/work.hpp>

#include "chain/chain_test_support.hpp"

namespace learnchain::chain::testing {

// The test genesis with `accounts` funded keys test_key(1 .. accounts), 1000 coins each.
inline Genesis store_test_genesis(std::uint8_t accounts = 6) {
    Genesis genesis = load_test_genesis();
    genesis.allocations.clear();
    for (std::uint8_t i = 1; i <= accounts; ++i)
        genesis.allocations.push_back({test_key(i).public_key(), 1000 * coin});
    return genesis;
}

// Model root after a block: H_weights(previous root || work_root). Items whose certificate
// claims tokens == bad_tokens fail verification, to test invalid blocks on a branch; items whose
// blob is mutated_blob fail as a body that does not match its header (the blob is not in the
// block hash, as a real gradient blob is committed only through its certificate).
inline constexpr std::uint64_t bad_tokens = 0xbad;
inline const std::vector<std::uint8_t> mutated_blob = {0xba, 0xd0};

inline Hash256 persistent_next_root(const Hash256& previous, const Hash256& work_root) {
    return TaggedHasher(tag::weights).update(previous).update(work_root).finalize();
}

class PersistentTestEngine : public WorkEngine {
public:
    std::string transient_failure;      // when set, verify() fails with it (not a consensus reason)
    std::set<Hash256> fail_locally_at;  // blocks whose verify() fails as a device error would
    bool fail_undo = false;             // undo() fails: the store stops where a crash would
    int undos = 0;                      // undo() calls: blocks disconnected
    std::map<Hash256, int> work_checks;  // check_work() calls by block

    Result<BlockWork> verify(const Block& block, const WorkContext& context) override {
        if (!transient_failure.empty()) return make_error(ErrorKind::local, transient_failure);
        if (fail_locally_at.contains(block.hash()))
            return make_error(ErrorKind::local, "test-engine-device-error");
        return check_items(block);
    }

    // The whole of verify() needs no parent state here.
    Status check_work(const Block& block, const WorkContext&) override {
        ++work_checks[block.hash()];
        auto work = check_items(block);
        return work ? ok_status() : Status(work.error());
    }

    Result<BlockWork> check_items(const Block& block) const {
        BlockWork work;
        for (const auto& item : block.work_items) {
            auto decoded = decode<WorkerWork>(item.certificate);
            if (!decoded)
                return make_error(ErrorKind::invalid, "bad-cert-test-payload",
                                  decoded.error().to_string());
            if (decoded->tokens == bad_tokens)
                return make_error(ErrorKind::invalid, "bad-cert-test-invalid");
            if (item.blob == mutated_blob)
                return make_error(ErrorKind::mutated, "bad-cert-test-blob");
            work.certificate_roots.push_back(tagged_hash(tag::certificate, item.certificate));
            work.workers.push_back(*decoded);
        }
        return work;
    }

    Result<WorkApplied> apply(const Block& block, const BlockWork&,
                              const WorkContext& context) override {
        const Hash256 previous = root_;
        root_ = persistent_next_root(root_, block.header.work_root);

        pending_.push_back({"root", encode(root_)});
        pending_.push_back({height_key(context.height), encode(root_)});
        return WorkApplied{root_, encode(previous)};
    }

    Status undo(const Block&, const WorkContext& context,
                const std::vector<std::uint8_t>& undo) override {
        if (fail_undo) return make_error(ErrorKind::local, "test-engine-undo-failed");
        auto previous = decode<Hash256>(undo);
        if (!previous) return make_error(ErrorKind::local, "test-engine-bad-undo");
        ++undos;
        root_ = *previous;
        pending_.push_back({"root", encode(root_)});
        pending_.push_back({height_key(context.height), std::nullopt});
        return ok_status();
    }

    Hash256 model_root() const override { return root_; }

    std::vector<ModelWrite> take_state_writes() override { return std::exchange(pending_, {}); }

    Status load(const ModelEntries& entries) override {
        root_ = Hash256{};
        for (const auto& [key, value] : entries) {
            if (key != "root") continue;
            auto root = decode<Hash256>(value);
            if (!root) return make_error(ErrorKind::local, "test-engine-bad-state");
            root_ = *root;
        }
        return ok_status();
    }

private:
    static std::string height_key(std::uint64_t height) { return "h/" + std::to_string(height); }

    Hash256 root_;
    std::vector<ModelWrite> pending_;
};

// PersistentTestEngine with verification without the chain lock (chain/work.hpp): snapshots
// name the block whose model they are, verify_detached checks it is the block's parent, and
// each verdict is remembered for verify(). Records which blocks were verified where, and makes
// each verification take `delay`, as recomputing a real block's contributions takes seconds.
class DetachedTestEngine final : public WorkEngine {
public:
    explicit DetachedTestEngine(std::chrono::milliseconds delay = {}) : delay_(delay) {}

    bool detached = true;  // false: no snapshots, so the node verifies under the chain lock

    Result<BlockWork> verify(const Block& block, const WorkContext& context) override {
        {
            std::lock_guard lock(mutex_);
            if (const auto it = verdicts_.find(block.hash()); it != verdicts_.end()) {
                if (!it->second) return it->second.error();
                return inner_.verify(block, context);  // remembered: nothing is recomputed
            }
            verified_locked.push_back(block.hash());
        }
        std::this_thread::sleep_for(delay_);
        return inner_.verify(block, context);
    }
    Result<WorkApplied> apply(const Block& block, const BlockWork& work,
                              const WorkContext& context) override {
        auto applied = inner_.apply(block, work, context);
        if (applied) at_ = block.hash();
        return applied;
    }
    Status undo(const Block& block, const WorkContext& context,
                const std::vector<std::uint8_t>& undo) override {
        auto undone = inner_.undo(block, context, undo);
        if (undone) at_ = context.parent_hash;
        return undone;
    }
    Status check_work(const Block& block, const WorkContext& context) override {
        return inner_.check_work(block, context);
    }
    Hash256 model_root() const override { return inner_.model_root(); }
    std::vector<ModelWrite> take_state_writes() override { return inner_.take_state_writes(); }
    Status load(const ModelEntries& entries) override { return inner_.load(entries); }

    WorkSnapshotPtr snapshot() const override {
        if (!detached) return nullptr;
        return std::make_shared<At>(at_);
    }
    Result<WorkSnapshotPtr> snapshot_from_undo(const Hash256& block,
                                               const std::vector<std::uint8_t>&) const override {
        if (!detached) return WorkSnapshotPtr{};
        return WorkSnapshotPtr(std::make_shared<At>(block));
    }
    Result<WorkSnapshotPtr> verify_detached(const WorkSnapshot& parent, const Block& block,
                                            const WorkContext& context) override {
        const auto* at = dynamic_cast<const At*>(&parent);
        if (at == nullptr || at->block != context.parent_hash)
            return make_error(ErrorKind::local, "test-engine-wrong-snapshot");
        std::this_thread::sleep_for(delay_);
        PersistentTestEngine scratch;  // verify() of the test engine reads only the block
        auto verdict = scratch.verify(block, context);
        std::lock_guard lock(mutex_);
        verified_detached.push_back(block.hash());
        if (!verdict) {
            if (verdict.error().kind == ErrorKind::invalid)
                verdicts_.insert_or_assign(block.hash(), Status(verdict.error()));
            return verdict.error();
        }
        verdicts_.insert_or_assign(block.hash(), ok_status());
        return WorkSnapshotPtr(std::make_shared<At>(block.hash()));
    }

    // Block hashes in the order they were verified without and under the chain lock.
    [[nodiscard]] std::vector<Hash256> detached_verifications() {
        std::lock_guard lock(mutex_);
        return verified_detached;
    }
    [[nodiscard]] std::vector<Hash256> locked_verifications() {
        std::lock_guard lock(mutex_);
        return verified_locked;
    }

    // The genesis block's hash, which the engine cannot know by itself.
    void start_at(const Hash256& genesis_block) { at_ = genesis_block; }

private:
    struct At final : WorkSnapshot {
        explicit At(const Hash256& b) : block(b) {}
        Hash256 block;
    };

    std::chrono::milliseconds delay_;
    PersistentTestEngine inner_;
    Hash256 at_;  // the block whose model the engine holds
    std::mutex mutex_;
    std::map<Hash256, Status> verdicts_;
    std::vector<Hash256> verified_detached;
    std::vector<Hash256> verified_locked;
};

struct BuildOptions {
    std::uint64_t extra_work = 0;  // tokens above the required work
    std::uint8_t worker = 7;       // test_key index credited with the work
    std::uint8_t proposer = 9;
    bool invalid_work = false;    // the engine's verify() rejects it
    bool bad_state_root = false;  // passes every check until the state root
};

// Builds valid (or deliberately broken) blocks on any known branch, tracking the account state
// and model root after each block it built.
class ForkBuilder {
public:
    explicit ForkBuilder(Genesis g)
        : genesis(std::move(g)),
          genesis_block(make_genesis_block(genesis, Hash256{}).value()),
          view_(genesis_index_entry(genesis_block, genesis)) {
        after_[genesis_block.hash()] = {genesis_state(genesis).value(), Hash256{}};
    }

    Genesis genesis;
    Block genesis_block;

    [[nodiscard]] std::uint64_t now() const { return genesis.time + 1'000'000; }
    [[nodiscard]] const AccountState& state_after(const Hash256& hash) const {
        return after_.at(hash).state;
    }
    [[nodiscard]] bool knows_state(const Hash256& hash) const { return after_.contains(hash); }
    [[nodiscard]] const MemoryChainView& view() const { return view_; }

    // Teaches the builder a block it did not build (headers only), e.g. after a restart.
    void learn_header(const BlockHeader& header) {
        if (!view_.lookup(header.hash())) (void)view_.add(header, genesis).value();
    }
    void learn_state(const Hash256& hash, AccountState state, const Hash256& model_root) {
        after_[hash] = {std::move(state), model_root};
    }

    [[nodiscard]] Block build(const Hash256& parent_hash, std::vector<Transaction> txs = {},
                              const BuildOptions& options = {}) {
        const auto parent = view_.lookup(parent_hash);
        if (!parent) throw std::runtime_error("ForkBuilder: unknown parent");
        const auto& before = after_.at(parent_hash);
        const std::uint64_t required = required_work_for_child(view_, *parent, genesis).value();
        const std::uint64_t tokens =
            options.invalid_work ? bad_tokens : required + options.extra_work;

        Block block;
        block.header.height = parent->header.height + 1;
        block.header.parent = parent_hash;
        block.header.time = parent->header.time + genesis.target_block_time;
        block.transactions = std::move(txs);
        block.work_items = {make_work_item(test_key(options.worker).public_key(), tokens)};
        BlockWork work;
        work.certificate_roots = {tagged_hash(tag::certificate, block.work_items[0].certificate)};
        work.workers = {WorkerWork{test_key(options.worker).public_key(), tokens}};
        block.header.tx_root = compute_tx_root(block.transactions);
        block.header.work_root = compute_work_root(work.certificate_roots);
        block.header.work = tokens;
        const SecretKey proposer = test_key(options.proposer);
        block.header.proposer = proposer.public_key();

        AccountState state = before.state;
        const Hash256 model_root = persistent_next_root(before.model_root, block.header.work_root);
        const bool applies =
            static_cast<bool>(apply_block_state(state, block, work, {}, genesis.reward_maturity));
        block.header.state_root = state.state_root(model_root);
        if (options.bad_state_root) block.header.state_root.bytes()[0] ^= 1;
        block.header.sign(proposer);

        const Hash256 hash = block.hash();
        (void)view_.add(block.header, genesis).value();
        if (applies) after_[hash] = {std::move(state), model_root};
        return block;
    }

    // A chain of `count` blocks on `parent`, each with `extra_work`; returns them in order.
    [[nodiscard]] std::vector<Block> build_chain(Hash256 parent, std::size_t count,
                                                 std::uint64_t extra_work = 0,
                                                 std::uint8_t worker = 7) {
        std::vector<Block> blocks;
        for (std::size_t i = 0; i < count; ++i) {
            blocks.push_back(build(parent, {}, BuildOptions{extra_work, worker}));
            parent = blocks.back().hash();
        }
        return blocks;
    }

    // Replays blocks from genesis through full validation: the reference a store must equal.
    struct Replay {
        AccountState state;
        Hash256 model_root;
    };
    [[nodiscard]] static Result<Replay> replay(const Genesis& genesis,
                                               const std::vector<Block>& main_chain) {
        PersistentTestEngine engine;
        const Block genesis_block = make_genesis_block(genesis, Hash256{}).value();
        MemoryChainView view(genesis_index_entry(genesis_block, genesis));
        auto state = genesis_state(genesis);
        if (!state) return state.error();
        for (const auto& block : main_chain) {
            auto connected = validate_and_connect_block(*state, engine, view, block, genesis,
                                                        genesis.time + 1'000'000, nullptr);
            if (!connected) return connected.error();
            auto added = view.add(block.header, genesis);
            if (!added) return added.error();
        }
        return Replay{std::move(*state), engine.model_root()};
    }

private:
    struct After {
        AccountState state;
        Hash256 model_root;
    };
    MemoryChainView view_;
    std::map<Hash256, After> after_;
};

}  // namespace learnchain::chain::testing
