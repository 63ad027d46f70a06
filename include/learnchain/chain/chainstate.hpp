// The node's chain state under its one lock, cs_main (Bitcoin Core's): the block store, the
// mempool and the work engine change together whenever the tip moves, so one mutex guards all
// three. Everything that reads or changes them (P2P message handling, RPC, the miner's
// templates) holds cs_main briefly; the long part of accepting a block, recomputing its
// proof-of-learning work, runs with cs_main free (process_block), so that no peer's messages
// wait for another peer's block.
//
// Lock order: cs_main first; a component's own locks (p2p::Sync's peer state, the miner's
// queue) may be taken while holding it, never the other way round.
#pragma once

#include <functional>
#include <vector>

#include <learnchain/chain/mempool.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/chain/threading.hpp>
#include <learnchain/chain/transaction.hpp>
#include <learnchain/chain/work.hpp>

namespace learnchain::chain {

class Chainstate {
public:
    // The store must have been opened on `engine`; all three must outlive the Chainstate.
    Chainstate(ChainStore& store, Mempool& mempool, WorkEngine& engine);
    Chainstate(const Chainstate&) = delete;
    Chainstate& operator=(const Chainstate&) = delete;

    mutable Mutex cs_main;

    [[nodiscard]] ChainStore& store() REQUIRES(cs_main) { return *store_; }
    [[nodiscard]] const ChainStore& store() const REQUIRES(cs_main) { return *store_; }
    [[nodiscard]] Mempool& mempool() REQUIRES(cs_main) { return *mempool_; }
    [[nodiscard]] WorkEngine& engine() REQUIRES(cs_main) { return *engine_; }

    // Accepts a block (ChainStore::accept_block) and updates the mempool. The work that
    // connecting it would recompute is verified first without cs_main, on copies of the model
    // (ChainStore::plan_connect, verify_plan); the accept under cs_main then only checks and
    // applies. Blocks the calling thread for that work: not for I/O threads.
    [[nodiscard]] Result<AcceptResult> process_block(const Block& block) EXCLUDES(cs_main);

    // Whether a fraud proof holds against a block of the main chain within the reorg limit
    // (the challenge window): the rule the block broke, judged without cs_main on the block's
    // parent model (read from the block's undo record) by WorkEngine::check_fraud_proof.
    // Failures that say nothing of the proof's sender (kind missing or policy):
    // "fraud-proof-block-unknown" (no body here), "fraud-proof-block-invalid" (condemned
    // already), "fraud-proof-block-not-connected" (off the main chain: its parent's model is not
    // at hand), "fraud-proof-block-final" (past the window). A proof that does not hold fails
    // with the engine's reason (kind invalid or malformed). Blocks the calling thread for one
    // micro-batch's recomputation.
    [[nodiscard]] Result<ProvenInvalid> judge_fraud_proof(const FraudProof& proof)
        EXCLUDES(cs_main);
    // Whether a fraud proof's evidence holds on its own, whatever block it names: that its
    // certificate's signer cheated on a main-chain block within the challenge window of the
    // tip's child, so a child of the tip may carry it (check_evidence_item; its reasons). Only
    // for a key with immature rewards at the tip ("evidence-nothing-to-burn", kind policy,
    // before any recomputation): signing false certificates costs nothing, judging each costs
    // a micro-batch, and only a burn makes one worth that. The model is read under cs_main, the
    // micro-batch recomputed without it.
    [[nodiscard]] Result<EvidenceClaim> judge_evidence(const Evidence& evidence) EXCLUDES(cs_main);
    // Condemns a block a fraud proof proved invalid (ChainStore::invalidate_block), updates the
    // mempool with the transactions of the blocks that left, and tells the tip listeners.
    [[nodiscard]] Result<AcceptResult> condemn_block(const Hash256& block, const Error& broken)
        EXCLUDES(cs_main);

    // Admits a transaction to the mempool against the tip's state: its txid, or the mempool's
    // reason.
    [[nodiscard]] Result<Hash256> add_transaction(const Transaction& tx) EXCLUDES(cs_main);

    // Called after a process_block that moved the tip, without cs_main, on the thread that
    // processed the block. Register before any block is processed.
    using TipListener = std::function<void(const AcceptResult&)>;
    void on_tip_changed(TipListener listener) { tip_listeners_.push_back(std::move(listener)); }

private:
    ChainStore* const store_ PT_GUARDED_BY(cs_main);
    Mempool* const mempool_ PT_GUARDED_BY(cs_main);
    WorkEngine* const engine_ PT_GUARDED_BY(cs_main);
    std::vector<TipListener> tip_listeners_;
};

}  // namespace learnchain::chain
