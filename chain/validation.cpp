#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <learnchain/chain/validation.hpp>

namespace learnchain::chain {
namespace {

__extension__ using u128 = unsigned __int128;

std::string tx_label(std::size_t index, const Transaction& tx) {
    return "tx " + std::to_string(index) + " " + tx.txid().hex();
}

}  // namespace

Result<std::uint64_t> median_time_past(const ChainView& view, const Hash256& tip) {
    std::vector<std::uint64_t> times;
    auto entry = view.lookup(tip);
    if (!entry) return make_error(ErrorKind::missing, "bad-block-parent-unknown", tip.hex());
    while (true) {
        times.push_back(entry->header.time);
        if (times.size() == median_time_span || entry->header.height == 0) break;
        entry = view.lookup(entry->header.parent);
        if (!entry)
            return make_error(ErrorKind::missing, "bad-block-parent-unknown", "ancestor missing");
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

std::uint64_t retarget_work(std::uint64_t required_work, std::uint64_t actual_timespan,
                            std::uint64_t target_timespan) {
    const u128 d = required_work;
    const u128 low = std::max<u128>(1, d / retarget_clamp);
    const u128 high = std::min<u128>(d * retarget_clamp, UINT64_MAX);
    // actual == 0 means "infinitely fast": the clamp decides.
    const u128 next = actual_timespan == 0 ? high : d * target_timespan / actual_timespan;
    return static_cast<std::uint64_t>(std::clamp(next, low, std::max(low, high)));
}

Result<std::uint64_t> required_work_for_child(const ChainView& view, const BlockIndexEntry& parent,
                                              const Genesis& genesis) {
    const std::uint64_t height = parent.header.height + 1;
    const std::uint64_t window = genesis.retarget_window;
    if (height % window != 0) return parent.required_work;
    // The window is the W blocks before `height`: W - 1 intervals between their times.
    const auto first = view.ancestor(parent.hash, height - window);
    if (!first)
        return make_error(ErrorKind::missing, "bad-block-parent-unknown",
                          "retarget window start missing");
    const std::uint64_t actual =
        parent.header.time > first->header.time ? parent.header.time - first->header.time : 0;
    const std::uint64_t target = (window - 1) * std::uint64_t{genesis.target_block_time};
    // After the x4 clamp: the bounds are absolute, so they win over the step limit. (max < min
    // only for a genesis validate_genesis rejects: no block fits one contribution.)
    const RequiredWorkBounds bounds = required_work_bounds(genesis);
    return std::clamp(retarget_work(parent.required_work, actual, target), bounds.min,
                      std::max(bounds.min, bounds.max));
}

Status check_header(const BlockHeader& header, HeaderSignature signature) {
    if (header.version != block_version)
        return make_error(ErrorKind::invalid, "bad-block-version",
                          "version " + std::to_string(header.version));
    if (header.height == 0)
        return make_error(ErrorKind::invalid, "bad-block-height",
                          "height 0 is the genesis block's alone");
    if (signature == HeaderSignature::check && !header.signature_valid())
        return make_error(ErrorKind::invalid, "bad-block-signature");
    return ok_status();
}

Status check_block_context_free(const Block& block, const Genesis& genesis,
                                HeaderSignature signature) {
    const BlockHeader& header = block.header;
    LEARNCHAIN_TRY(check_header(header, signature));
    // The body against what the header commits to, before anything else about the body: a
    // body changed on the way is the sender's fault (mutated), and must never make a check
    // below condemn the header.
    if (compute_tx_root(block.transactions) != header.tx_root)
        return make_error(ErrorKind::mutated, "bad-block-tx-root");
    std::vector<Hash256> roots;
    roots.reserve(block.work_items.size());
    for (const auto& item : block.work_items) roots.push_back(certificate_root(item.certificate));
    if (compute_work_root(roots) != header.work_root)
        return make_error(ErrorKind::mutated, "bad-block-work-root");
    if (compute_evidence_root(block.evidence) != header.evidence_root)
        return make_error(ErrorKind::mutated, "bad-block-evidence-root");
    if (block.transactions.size() > max_block_txs)
        return make_error(
            ErrorKind::invalid, "bad-block-too-many-txs",
            std::to_string(block.transactions.size()) + " > " + std::to_string(max_block_txs));
    if (block.work_items.size() > max_block_work_items)
        return make_error(
            ErrorKind::invalid, "bad-block-too-many-work-items",
            std::to_string(block.work_items.size()) + " > " + std::to_string(max_block_work_items));
    if (block.work_items.empty()) return make_error(ErrorKind::invalid, "bad-block-no-work");
    if (block.evidence.size() > max_block_evidence)
        return make_error(
            ErrorKind::invalid, "bad-block-too-much-evidence",
            std::to_string(block.evidence.size()) + " > " + std::to_string(max_block_evidence));
    if (const auto size = block.encoded_size(); size > max_block_bytes)
        return make_error(
            ErrorKind::invalid, "bad-block-size",
            std::to_string(size) + " > " + std::to_string(max_block_bytes) + " bytes");
    for (std::size_t i = 0; i < block.transactions.size(); ++i) {
        const auto& tx = block.transactions[i];
        if (auto status = check_transaction_context_free(tx, genesis.chain_id); !status)
            return status.error().prefixed(tx_label(i, tx));
    }
    return ok_status();
}

FailedBlock failed_block_action(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid:
        case ErrorKind::fraud:
        case ErrorKind::conflict:  // against the parent's state, a conflict breaks the rules
            return FailedBlock::condemn;
        case ErrorKind::mutated:
        case ErrorKind::malformed:
            return FailedBlock::drop_body;
        case ErrorKind::missing:
        case ErrorKind::policy:
        case ErrorKind::local:
            return FailedBlock::keep;
    }
    return FailedBlock::keep;
}

Result<BlockIndexEntry> check_block_contextual(const BlockHeader& header, const ChainView& view,
                                               const Genesis& genesis, std::uint64_t now) {
    const auto parent = view.lookup(header.parent);
    if (!parent)
        return make_error(ErrorKind::missing, "bad-block-parent-unknown", header.parent.hex());
    if (header.height != parent->header.height + 1)
        return make_error(ErrorKind::invalid, "bad-block-height",
                          "height " + std::to_string(header.height) + ", parent's " +
                              std::to_string(parent->header.height));
    auto median = median_time_past(view, parent->hash);
    if (!median) return median.error();
    if (header.time <= *median)
        return make_error(ErrorKind::invalid, "bad-block-time-too-old",
                          "time " + std::to_string(header.time) + " <= median time past " +
                              std::to_string(*median));
    std::uint64_t limit = 0;
    if (__builtin_add_overflow(now, std::uint64_t{genesis.max_future_time}, &limit))
        limit = UINT64_MAX;
    if (header.time > limit)
        return make_error(ErrorKind::policy, "bad-block-time-too-new",
                          "time " + std::to_string(header.time) + " > now + " +
                              std::to_string(genesis.max_future_time));
    auto entry = make_index_entry(view, *parent, header, genesis);
    if (!entry) return entry.error();
    if (header.work < entry->required_work)
        return make_error(ErrorKind::invalid, "bad-block-insufficient-work",
                          "work " + std::to_string(header.work) + " < required " +
                              std::to_string(entry->required_work));
    // Claimed work proves nothing until the certificates are checked; bounding it by what one
    // block can carry bounds what a header alone can make a chain look like.
    if (const std::uint64_t most = max_block_work(genesis.learning); header.work > most)
        return make_error(ErrorKind::invalid, "bad-block-work-too-large",
                          "work " + std::to_string(header.work) + " > " + std::to_string(most) +
                              ", the most one block can carry");
    return entry;
}

Result<std::vector<Payout>> compute_payouts(const BlockWork& work, const PublicKey& proposer,
                                            Amount fees) {
    const auto total = work.total();
    if (!total)
        return make_error(ErrorKind::invalid, "bad-block-work-overflow",
                          "verified work exceeds 2^64 - 1");
    std::map<PublicKey, std::uint64_t> tokens;
    for (const auto& w : work.workers) tokens[w.worker] += w.tokens;  // bounded by total

    std::vector<Payout> payouts;
    Amount paid = 0;
    if (*total != 0) {
        for (const auto& [key, count] : tokens) {
            const auto share = static_cast<Amount>(u128{block_reward} * count / *total);
            if (share == 0) continue;
            payouts.push_back({key, share});
            paid += share;  // floors of parts of block_reward sum to at most block_reward
        }
    }
    const auto proposer_share = checked_add(block_reward - paid, fees);
    if (!proposer_share) return make_error(ErrorKind::invalid, "bad-block-fee-overflow");
    if (*proposer_share != 0) payouts.push_back({proposer, *proposer_share});
    return payouts;
}

// Within the challenge window the model is at hand on every node (the undo records kept for
// reorgs), so every node judges the proof alike.
std::uint64_t oldest_evidence_parent(std::uint64_t height, const Genesis& genesis) {
    const std::uint64_t window = genesis.challenge_window;
    return height > window ? height - window : 0;
}

Result<EvidenceClaim> check_evidence_item(const Evidence& evidence, std::uint64_t height,
                                          const Genesis& genesis, WorkEngine& engine,
                                          const AncestorModels* models) {
    auto claim = engine.check_evidence_claim(evidence.proof);
    if (!claim) return claim.error();
    if (models == nullptr) return make_error(ErrorKind::local, "evidence-models-unavailable");
    auto model = models->model_at(claim->parent, oldest_evidence_parent(height, genesis));
    if (!model) return model.error();
    LEARNCHAIN_TRY(engine.check_evidence(**model, evidence.proof));
    return claim;
}

Result<std::vector<PublicKey>> check_block_evidence(const Block& block, const Genesis& genesis,
                                                    WorkEngine& engine,
                                                    const AncestorModels* models) {
    std::vector<PublicKey> punished;
    std::set<Hash256> certificates;
    for (std::size_t i = 0; i < block.evidence.size(); ++i) {
        const std::string label = "evidence " + std::to_string(i);
        auto claim =
            check_evidence_item(block.evidence[i], block.header.height, genesis, engine, models);
        if (!claim) return claim.error().prefixed(label);
        if (!certificates.insert(claim->certificate).second)
            return make_error(ErrorKind::invalid, "bad-evidence-duplicate",
                              label + ": certificate " + claim->certificate.hex() +
                                  " is proven by an earlier item");
        punished.push_back(claim->worker);
    }
    return punished;
}

Result<BlockUndo> apply_block_state(AccountState& state, const Block& block, const BlockWork& work,
                                    std::span<const PublicKey> punished,
                                    std::uint64_t reward_maturity) {
    BlockUndo undo;
    Amount fees = 0;
    for (std::size_t i = 0; i < block.transactions.size(); ++i) {
        const auto& tx = block.transactions[i];
        auto status = state.apply_transaction(tx, &undo.accounts);
        std::optional<Amount> next_fees = checked_add(fees, tx.fee);
        if (status && !next_fees) status = make_error(ErrorKind::invalid, "bad-block-fee-overflow");
        if (!status) {
            state.undo(undo.accounts);
            // Against the parent's state a transaction that does not apply is no longer a
            // conflict of the moment: the block that carries it is invalid.
            Error error = status.error().prefixed(tx_label(i, tx));
            if (error.kind == ErrorKind::conflict) error.kind = ErrorKind::invalid;
            return error;
        }
        fees = *next_fees;
    }
    auto payouts = compute_payouts(work, block.header.proposer, fees);
    if (!payouts) {
        state.undo(undo.accounts);
        return payouts.error();
    }
    // Rewards wait out the challenge window and more: a block proven fraudulent before they
    // mature takes them with it.
    const std::uint64_t height = block.header.height;
    for (const auto& payout : *payouts) {
        const Status credited =
            reward_maturity == 0 ? state.credit(payout.key, payout.amount, &undo.accounts)
                                 : state.credit_immature(payout.key, payout.amount,
                                                         height + reward_maturity, &undo.accounts);
        if (!credited) {
            state.undo(undo.accounts);
            return make_error(ErrorKind::invalid, "bad-block-reward-overflow", payout.key.hex());
        }
    }
    // Evidence burns everything its key has immature, this block's payout included; half goes
    // to the proposer, who carried the proof (nothing binds a proof to whoever found it), unless
    // the proposer is the cheater reporting itself to save half.
    for (std::size_t i = 0; i < punished.size(); ++i) {
        const Amount burned = state.burn_immature(punished[i], &undo.accounts);
        if (burned == 0) {
            state.undo(undo.accounts);
            return make_error(ErrorKind::invalid, "bad-evidence-nothing-to-burn",
                              "evidence " + std::to_string(i) + ": key " + punished[i].hex() +
                                  " has no immature rewards");
        }
        const Amount reward = burned / 2;
        if (reward == 0 || punished[i] == block.header.proposer) continue;
        const Status credited =
            reward_maturity == 0 ? state.credit(block.header.proposer, reward, &undo.accounts)
                                 : state.credit_immature(block.header.proposer, reward,
                                                         height + reward_maturity, &undo.accounts);
        if (!credited) {
            state.undo(undo.accounts);
            return make_error(ErrorKind::invalid, "bad-block-reward-overflow",
                              block.header.proposer.hex());
        }
    }
    state.mature(height, &undo.accounts);
    return undo;
}

Result<BlockUndo> connect_block(AccountState& state, const Block& block, const BlockWork& work,
                                std::span<const PublicKey> punished, std::uint64_t reward_maturity,
                                const Hash256& model_root) {
    auto undo = apply_block_state(state, block, work, punished, reward_maturity);
    if (!undo) return undo.error();
    if (const Hash256 root = state.state_root(model_root); root != block.header.state_root) {
        state.undo(undo->accounts);
        return make_error(
            ErrorKind::invalid, "bad-block-state-root",
            "computed " + root.hex() + ", header has " + block.header.state_root.hex());
    }
    return undo;
}

void disconnect_block(AccountState& state, const BlockUndo& undo) {
    state.undo(undo.accounts);
}

Result<ConnectedBlock> validate_and_connect_block(AccountState& state, WorkEngine& engine,
                                                  const ChainView& view, const Block& block,
                                                  const Genesis& genesis, std::uint64_t now,
                                                  const AncestorModels* models,
                                                  HeaderSignature signature) {
    LEARNCHAIN_TRY(check_block_context_free(block, genesis, signature));
    auto entry = check_block_contextual(block.header, view, genesis, now);
    if (!entry) return entry.error();
    const WorkContext context{&genesis, block.header.parent, block.header.height,
                              entry->required_work};
    auto work = engine.verify(block, context);
    if (!work) return work.error();
    LEARNCHAIN_TRY(check_block_work(block, *work));
    auto punished = check_block_evidence(block, genesis, engine, models);
    if (!punished) return punished.error();
    auto applied = engine.apply(block, *work, context);
    if (!applied) return applied.error();
    auto undo =
        connect_block(state, block, *work, *punished, genesis.reward_maturity, applied->model_root);
    if (!undo) {
        // The engine's undo of a block it just applied cannot fail short of a broken engine;
        // the block's own error is what the caller needs either way.
        (void)engine.undo(block, context, applied->undo);
        return undo.error();
    }
    undo->work_undo = std::move(applied->undo);
    return ConnectedBlock{std::move(*entry), std::move(*work), std::move(*punished),
                          std::move(*undo)};
}

}  // namespace learnchain::chain
