// Block templates for the miner: the verified work it holds, the mempool's best transactions
// that apply on the tip, every root, and the proposer's signature.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/chain_view.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/mempool.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/work.hpp>

namespace learnchain::chain {

struct TemplateLimits {
    std::size_t max_txs = max_block_txs;
    std::size_t max_bytes = max_block_bytes;  // whole block, header and work items included
};

// Evidence the proposer holds (fraud proofs that held), and the models to judge it on: the
// store, at the tip.
struct TemplateEvidence {
    std::vector<Evidence> candidates;
    const AncestorModels* models = nullptr;
};

struct BlockTemplate {
    Block block;
    Amount fees = 0;
    std::uint64_t required_work = 0;
};

// Builds and signs a child of `tip`. `tip_state` and `engine` must be at the tip; `work` is
// what the engine's verify() returned for `work_items` (in that order). Transactions come
// from mempool.select() and each must apply on the state so far (a sender whose transaction
// fails is skipped from there on). The state root is computed by applying the block to a copy
// of `tip_state` and applying then undoing it on `engine` for the model root; the engine ends
// where it began and its state writes are discarded. The block time is max(now, median time
// past + 1). Of `evidence.candidates`, the block carries up to max_block_evidence that pass
// check_evidence_item, one per certificate and per key, whose key has immature rewards once the
// block's payouts are credited (the others would make it invalid). Reasons: template-no-work,
// template-insufficient-work (work < required), template-too-large, and the engine's or
// ledger's own.
[[nodiscard]] Result<BlockTemplate> build_block_template(
    const ChainView& view, const BlockIndexEntry& tip, const AccountState& tip_state,
    WorkEngine& engine, const Mempool& mempool, std::vector<WorkItem> work_items,
    const BlockWork& work, const SecretKey& proposer, const Genesis& genesis, std::uint64_t now,
    const TemplateLimits& limits = {}, const TemplateEvidence& evidence = {});

}  // namespace learnchain::chain
