#include <learnchain/chain/chainstate.hpp>
#include <learnchain/chain/time.hpp>

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

Result<Hash256> Chainstate::add_transaction(const Transaction& tx) {
    LOCK(cs_main);
    return mempool_->add(tx, store_->state());
}

}  // namespace learnchain::chain
