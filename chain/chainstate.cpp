#include <learnchain/chain/chainstate.hpp>
#include <learnchain/chain/time.hpp>
#include <learnchain/chain/validation.hpp>

namespace learnchain::chain {

Chainstate::Chainstate(ChainStore& store, Mempool& mempool, WorkEngine& engine)
    : store_(&store), mempool_(&mempool), engine_(&engine) {}

Result<AcceptResult> Chainstate::process_block(const Block& block) {
    const std::uint64_t now = unix_time();
    std::optional<ConnectPlan> plan;
    const ChainStore* store = nullptr;
    {
        LOCK(cs_main);
        plan = store_->plan_connect(block, now);
        store = store_;
    }
    // verify_plan is the store's one member that runs beside the others (store.hpp).
    if (plan) store->verify_plan(*plan);
    Result<AcceptResult> accepted = make_error(ErrorKind::local, "chainstate-unset");
    {
        LOCK(cs_main);
        accepted = store_->accept_block(block, now);
        if (accepted && (!accepted->connected.empty() || !accepted->disconnected.empty()))
            mempool_->update(store_->state(), accepted->returned_transactions);
    }
    if (accepted && (!accepted->connected.empty() || !accepted->disconnected.empty()))
        for (const auto& listener : tip_listeners_) listener(*accepted);
    return accepted;
}

Result<ProvenInvalid> Chainstate::judge_fraud_proof(const FraudProof& proof) {
    std::optional<Block> block;
    std::vector<std::uint8_t> parent_model;  // the block's undo: its parent's model
    WorkEngine* engine = nullptr;
    {
        LOCK(cs_main);
        const auto record = store_->record(proof.block);
        if (!record || !record->has(block_status::have_body))
            return make_error(ErrorKind::missing, "fraud-proof-block-unknown", proof.block.hex());
        if (record->invalid())
            return make_error(ErrorKind::policy, "fraud-proof-block-invalid", proof.block.hex());
        if (!store_->on_main_chain(proof.block))
            return make_error(ErrorKind::policy, "fraud-proof-block-not-connected",
                              proof.block.hex());
        const std::uint64_t height = record->entry.header.height;
        if (store_->is_final(height))
            return make_error(ErrorKind::policy, "fraud-proof-block-final",
                              "block " + proof.block.hex() + " at height " +
                                  std::to_string(height) + " is past the reorg limit");
        auto body = store_->block_without_blobs(proof.block);
        if (!body) return body.error();
        if (!*body)
            return make_error(ErrorKind::missing, "fraud-proof-block-unknown", proof.block.hex());
        block = std::move(*body);
        auto undo = store_->undo(proof.block);
        if (!undo) return undo.error();
        if (!*undo)
            return make_error(ErrorKind::local, "fraud-proof-undo-missing", proof.block.hex());
        parent_model = std::move((*undo)->work_undo);
        engine = engine_;
    }
    // Decoding the model (megabytes) and the recomputation run without the lock: both are
    // thread-safe beside every other engine member (work.hpp).
    auto parent = engine->snapshot_from_undo(block->header.parent, parent_model);
    if (!parent) return parent.error();
    if (!*parent)
        return make_error(ErrorKind::local, "work-fraud-proof-unsupported",
                          "the engine keeps no model snapshots");
    return engine->check_fraud_proof(**parent, *block, proof.evidence);
}

Result<EvidenceClaim> Chainstate::judge_evidence(const Evidence& evidence) {
    Result<EvidenceClaim> claim = make_error(ErrorKind::local, "chainstate-unset");
    Result<WorkSnapshotPtr> model = make_error(ErrorKind::local, "chainstate-unset");
    WorkEngine* engine = nullptr;
    {
        LOCK(cs_main);
        engine = engine_;
        claim = engine->check_evidence_claim(evidence.proof);
        if (!claim) return claim.error();
        if (store_->account(claim->worker).immature_total() == 0)
            return make_error(ErrorKind::policy, "evidence-nothing-to-burn",
                              "key " + claim->worker.hex() + " has no immature rewards");
        model = store_->model_at(claim->parent,
                                 oldest_evidence_parent(store_->height() + 1, store_->genesis()));
    }
    if (!model) return model.error();
    LEARNCHAIN_TRY(engine->check_evidence(**model, evidence.proof));
    return claim;
}

Result<AcceptResult> Chainstate::condemn_block(const Hash256& block, const Error& broken) {
    Result<AcceptResult> condemned = make_error(ErrorKind::local, "chainstate-unset");
    {
        LOCK(cs_main);
        condemned = store_->invalidate_block(block, broken, unix_time());
        if (condemned && (!condemned->connected.empty() || !condemned->disconnected.empty()))
            mempool_->update(store_->state(), condemned->returned_transactions);
    }
    if (condemned && (!condemned->connected.empty() || !condemned->disconnected.empty()))
        for (const auto& listener : tip_listeners_) listener(*condemned);
    return condemned;
}

Result<Hash256> Chainstate::add_transaction(const Transaction& tx) {
    LOCK(cs_main);
    return mempool_->add(tx, store_->state());
}

}  // namespace learnchain::chain
