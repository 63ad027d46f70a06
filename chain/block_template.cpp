#include <algorithm>
#include <set>
#include <string>

#include <learnchain/chain/block_template.hpp>
#include <learnchain/chain/validation.hpp>

namespace learnchain::chain {

Result<BlockTemplate> build_block_template(const ChainView& view, const BlockIndexEntry& tip,
                                           const AccountState& tip_state, WorkEngine& engine,
                                           const Mempool& mempool, std::vector<WorkItem> work_items,
                                           const BlockWork& work, const SecretKey& proposer,
                                           const Genesis& genesis, std::uint64_t now,
                                           const TemplateLimits& limits,
                                           const TemplateEvidence& evidence) {
    if (work_items.empty()) return make_error(ErrorKind::policy, "template-no-work");
    auto required = required_work_for_child(view, tip, genesis);
    if (!required) return required.error();
    const auto total = work.total();
    if (!total) return make_error(ErrorKind::invalid, "bad-block-work-overflow");
    if (*total < *required)
        return make_error(ErrorKind::policy, "template-insufficient-work",
                          std::to_string(*total) + " < required " + std::to_string(*required));
    auto median = median_time_past(view, tip.hash);
    if (!median) return median.error();

    Block block;
    block.header.height = tip.header.height + 1;
    block.header.parent = tip.hash;
    block.header.time = std::max(now, *median + 1);
    block.header.proposer = proposer.public_key();
    block.work_items = std::move(work_items);
    // Evidence whose key has something to burn once this block's payouts are in (transactions
    // move no immature rewards, so they are left out of this probe).
    AccountState paid = tip_state;
    if (auto applied = apply_block_state(paid, block, work, {}, genesis.reward_maturity); !applied)
        return applied.error();
    std::vector<PublicKey> punished;
    std::set<Hash256> proven_certificates;
    for (const auto& item : evidence.candidates) {
        if (block.evidence.size() == max_block_evidence) break;
        // What the claim alone rules out first: each full check recomputes a micro-batch.
        const auto claim = engine.check_evidence_claim(item.proof);
        if (!claim || proven_certificates.contains(claim->certificate) ||
            std::find(punished.begin(), punished.end(), claim->worker) != punished.end() ||
            paid.get(claim->worker).immature_total() == 0 ||
            !check_evidence_item(item, block.header.height, genesis, engine, evidence.models))
            continue;
        proven_certificates.insert(claim->certificate);
        punished.push_back(claim->worker);
        block.evidence.push_back(item);
    }

    const std::size_t fixed_bytes = block.encoded_size();
    if (fixed_bytes > limits.max_bytes)
        return make_error(ErrorKind::policy, "template-too-large", "work items and evidence alone");

    // Transactions: the mempool's order, each applied to a scratch state so that the block is
    // valid whatever changed since the pool last revalidated.
    AccountState scratch = tip_state;
    std::set<PublicKey> blocked;
    Amount fees = 0;
    const std::size_t budget = std::min(limits.max_bytes, max_block_bytes) - fixed_bytes;
    const std::size_t max_txs = std::min(limits.max_txs, max_block_txs);
    // Ask for the full block's worth: stale pool entries that fail below must not use up slots.
    for (auto& tx : mempool.select(max_block_txs, budget)) {
        if (block.transactions.size() == max_txs) break;
        if (blocked.contains(tx.from)) continue;
        const auto next_fees = checked_add(fees, tx.fee);
        if (!next_fees || !scratch.apply_transaction(tx)) {
            blocked.insert(tx.from);  // its later nonces cannot apply either
            continue;
        }
        fees = *next_fees;
        block.transactions.push_back(std::move(tx));
    }

    block.header.tx_root = compute_tx_root(block.transactions);
    block.header.work_root = compute_work_root(work.certificate_roots);
    block.header.evidence_root = compute_evidence_root(block.evidence);
    block.header.work = *total;

    // State root exactly as validators compute it: the ledger's transition on the tip state,
    // and the engine's model root after this block.
    AccountState after = tip_state;
    auto undo = apply_block_state(after, block, work, punished, genesis.reward_maturity);
    if (!undo) return undo.error();
    const WorkContext context{&genesis, tip.hash, block.header.height, *required};
    auto applied = engine.apply(block, work, context);
    if (!applied) {
        (void)engine.take_state_writes();
        return applied.error();
    }
    const Hash256 model_root = applied->model_root;
    const Status undone = engine.undo(block, context, applied->undo);
    (void)engine.take_state_writes();
    if (!undone) return undone.error();
    block.header.state_root = after.state_root(model_root);
    block.header.sign(proposer);
    return BlockTemplate{std::move(block), fees, *required};
}

}  // namespace learnchain::chain
