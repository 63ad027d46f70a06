// Test-only support for chain tests: a trivial work engine and a chain builder.
//
// TEST ONLY. TestWorkEngine "verifies" a work item whose certificate is simply the encoding
// of {worker_pk, tokens}; it proves nothing and must never be linked into a node.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/chain_view.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/chain/work.hpp>

namespace learnchain::chain::testing {

// Deterministic keys: secret = n as a 32-byte big-endian integer (n = 1 is the generator).
inline SecretKey test_key(std::uint8_t n) {
    std::array<std::uint8_t, 32> bytes{};
    bytes[31] = n;
    return SecretKey::from_bytes(bytes).value();
}

inline WorkItem make_work_item(const PublicKey& worker, std::uint64_t tokens) {
    return WorkItem{encode(WorkerWork{worker, tokens}), {}};
}

class TestWorkEngine final : public WorkEngine {
public:
    // evolve_model: each block's model root becomes H_weights(previous root || work_root),
    // so tests see a non-zero model root folded into state_root. Otherwise it stays zero.
    explicit TestWorkEngine(bool evolve_model = false) : evolve_model_(evolve_model) {}

    std::string fail_reason;  // when set, verify() fails with it

    Result<BlockWork> verify(const Block& block, const WorkContext& context) override {
        if (!fail_reason.empty()) return make_error(ErrorKind::invalid, fail_reason);
        BlockWork work;
        for (const auto& item : block.work_items) {
            auto decoded = decode<WorkerWork>(item.certificate);
            if (!decoded)
                return make_error(ErrorKind::invalid, "bad-cert-test-payload",
                                  decoded.error().to_string());
            work.certificate_roots.push_back(tagged_hash(tag::certificate, item.certificate));
            work.workers.push_back(*decoded);
        }
        return work;
    }

    [[nodiscard]] Hash256 next_root(const Hash256& work_root) const {
        if (!evolve_model_) return roots_.back();
        return TaggedHasher(tag::weights).update(roots_.back()).update(work_root).finalize();
    }

    Result<WorkApplied> apply(const Block& block, const BlockWork& work,
                              const WorkContext& context) override {
        const Hash256 root = next_root(block.header.work_root);
        WorkApplied applied{root, encode(roots_.back())};
        roots_.push_back(root);
        return applied;
    }

    Status undo(const Block& block, const WorkContext& context,
                const std::vector<std::uint8_t>& undo) override {
        auto previous = decode<Hash256>(undo);
        if (!previous || roots_.size() < 2 || roots_[roots_.size() - 2] != *previous)
            return make_error(ErrorKind::local, "test-engine-undo-mismatch");
        roots_.pop_back();
        return ok_status();
    }

    Hash256 model_root() const override { return roots_.back(); }

private:
    bool evolve_model_;
    std::vector<Hash256> roots_{Hash256{}};
};

inline Genesis load_test_genesis() {
    auto genesis = load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/genesis/test.json");
    if (!genesis) throw std::runtime_error(genesis.error().to_string());
    return *genesis;
}

// A linear chain on the test genesis with everything a block needs to be built and checked.
class TestChain {
public:
    explicit TestChain(Genesis g = load_test_genesis(), bool evolve_model = false)
        : genesis(std::move(g)),
          engine(evolve_model),
          genesis_block(make_genesis_block(genesis, engine.model_root()).value()),
          view(genesis_index_entry(genesis_block, genesis)),
          state(genesis_state(genesis).value()),
          tip(view.genesis()) {}

    Genesis genesis;
    TestWorkEngine engine;
    Block genesis_block;
    MemoryChainView view;
    AccountState state;
    BlockIndexEntry tip;
    std::vector<ConnectedBlock> connected;

    // Far enough past every block time the tests use that the future-time rule never bites.
    [[nodiscard]] std::uint64_t now() const { return genesis.time + 1'000'000; }

    [[nodiscard]] std::uint64_t required_work() const {
        return required_work_for_child(view, tip, genesis).value();
    }

    // A valid child of the tip: required work from `worker`, roots, state root, signature.
    [[nodiscard]] Block build(std::vector<Transaction> txs = {}, std::uint64_t time = 0,
                              const SecretKey& proposer = test_key(9),
                              std::vector<WorkItem> items = {}) {
        Block block;
        block.header.height = tip.header.height + 1;
        block.header.parent = tip.hash;
        block.header.time = time != 0 ? time : tip.header.time + genesis.target_block_time;
        block.header.proposer = proposer.public_key();
        block.transactions = std::move(txs);
        block.work_items =
            items.empty()
                ? std::vector<WorkItem>{make_work_item(test_key(7).public_key(), required_work())}
                : std::move(items);
        finish(block, proposer);
        return block;
    }

    // Recomputes tx_root, work_root, work and state_root from the body, then signs. Lets a
    // test change the body and still have every other rule hold.
    void finish(Block& block, const SecretKey& proposer) {
        const WorkContext context{&genesis, block.header.parent, block.header.height, 0};
        const BlockWork work = engine.verify(block, context).value();
        block.header.tx_root = compute_tx_root(block.transactions);
        block.header.work_root = compute_work_root(work.certificate_roots);
        block.header.work = work.total().value();
        AccountState scratch = state;
        if (apply_block_state(scratch, block, work, {}, genesis.reward_maturity))
            block.header.state_root = scratch.state_root(engine.next_root(block.header.work_root));
        block.header.proposer = proposer.public_key();
        block.header.sign(proposer);
    }

    // Full validation and connection on top of the tip.
    Result<ConnectedBlock> connect(const Block& block) {
        auto result =
            validate_and_connect_block(state, engine, view, block, genesis, now(), nullptr);
        if (!result) return result;
        auto added = view.add(block.header, genesis);
        if (!added) throw std::runtime_error(added.error().to_string());
        tip = *added;
        connected.push_back(*result);
        return result;
    }

    Status extend(std::vector<Transaction> txs = {}, std::uint64_t time = 0) {
        auto result = connect(build(std::move(txs), time));
        if (!result) return result.error();
        return ok_status();
    }
};

inline Transaction make_transfer(const Genesis& genesis, const SecretKey& from, const PublicKey& to,
                                 Amount amount, Amount fee, std::uint64_t nonce,
                                 std::vector<std::uint8_t> memo = {}) {
    return chain::make_transfer(from, to, amount, fee, nonce, genesis.chain_id, std::move(memo));
}

}  // namespace learnchain::chain::testing
