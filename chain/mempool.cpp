#include <algorithm>
#include <queue>
#include <string>

#include <learnchain/chain/mempool.hpp>

namespace learnchain::chain {
namespace {

__extension__ using u128 = unsigned __int128;

// a pays a strictly lower fee per byte than b (cross-multiplied, no rounding).
bool lower_rate(Amount fee_a, std::size_t size_a, Amount fee_b, std::size_t size_b) {
    return u128{fee_a} * size_b < u128{fee_b} * size_a;
}

}  // namespace

Mempool::Mempool(std::uint32_t chain_id, MempoolOptions options)
    : chain_id_(chain_id), options_(options) {}

std::optional<Transaction> Mempool::get(const Hash256& txid) const {
    const auto it = by_id_.find(txid);
    if (it == by_id_.end()) return std::nullopt;
    for (const auto& entry : chains_.at(it->second).entries)
        if (entry.txid == txid) return entry.tx;
    return std::nullopt;
}

std::uint64_t Mempool::next_nonce(const PublicKey& sender, const AccountState& tip_state) const {
    const auto it = chains_.find(sender);
    const std::uint64_t base = tip_state.get(sender).nonce;
    return it == chains_.end() ? base : base + it->second.entries.size();
}

Result<Hash256> Mempool::add(const Transaction& tx, const AccountState& tip_state) {
    const Hash256 txid = tx.txid();
    if (by_id_.contains(txid))
        return make_error(ErrorKind::policy, "mempool-duplicate", txid.hex());
    LEARNCHAIN_TRY(check_transaction_context_free(tx, chain_id_));
    return insert(Entry{tx, txid, tx_encoded_size(tx), next_sequence_++}, tip_state);
}

Result<Hash256> Mempool::insert(Entry entry, const AccountState& tip_state) {
    const Transaction& tx = entry.tx;
    const auto floor = checked_mul(options_.min_fee_per_byte, entry.size);
    if (!floor || tx.fee < *floor)
        return make_error(ErrorKind::policy, "mempool-fee-too-low",
                          "fee " + std::to_string(tx.fee) + " < " +
                              std::to_string(floor.value_or(0)) + " for " +
                              std::to_string(entry.size) + " bytes");
    const Account account = tip_state.get(tx.from);
    if (tx.nonce < account.nonce)
        return make_error(
            ErrorKind::conflict, "bad-tx-nonce-too-low",
            "nonce " + std::to_string(tx.nonce) + ", account at " + std::to_string(account.nonce));
    const auto found = chains_.find(tx.from);
    const std::size_t length = found == chains_.end() ? 0 : found->second.entries.size();
    const std::uint64_t expected = account.nonce + length;
    if (tx.nonce > expected)
        return make_error(
            ErrorKind::policy, "mempool-nonce-gap",
            "nonce " + std::to_string(tx.nonce) + ", next expected " + std::to_string(expected));
    if (tx.nonce < expected)
        return make_error(ErrorKind::policy, "mempool-nonce-conflict",
                          "nonce " + std::to_string(tx.nonce) + " is taken by a pool transaction");
    if (length >= options_.max_chain_length)
        return make_error(ErrorKind::policy, "mempool-chain-too-long",
                          std::to_string(length) + " pending");
    const auto cost = checked_add(tx.amount, tx.fee);
    if (!cost) return make_error(ErrorKind::invalid, "bad-tx-amount-overflow");
    const Amount spent = found == chains_.end() ? 0 : found->second.spent;
    const auto total = checked_add(spent, *cost);
    if (!total || *total > account.balance)
        return make_error(ErrorKind::conflict, "bad-tx-insufficient-balance",
                          "balance " + std::to_string(account.balance) + ", pool chain spends " +
                              std::to_string(spent) + ", needs " + std::to_string(*cost) + " more");

    // Make room by evicting cheaper chain tails of other senders; plan first, so that a
    // refusal leaves the pool untouched.
    std::vector<PublicKey> victims;
    if (bytes_ + entry.size > options_.max_bytes) {
        std::map<PublicKey, std::size_t> left;  // entries not yet planned for eviction
        for (const auto& [sender, chain] : chains_)
            if (sender != tx.from) left[sender] = chain.entries.size();
        std::size_t freed = 0;
        while (bytes_ - freed + entry.size > options_.max_bytes) {
            const Entry* cheapest = nullptr;
            const PublicKey* cheapest_sender = nullptr;
            for (const auto& [sender, count] : left) {
                if (count == 0) continue;
                const Entry& tail = chains_.at(sender).entries[count - 1];
                if (cheapest == nullptr ||
                    lower_rate(tail.tx.fee, tail.size, cheapest->tx.fee, cheapest->size) ||
                    (!lower_rate(cheapest->tx.fee, cheapest->size, tail.tx.fee, tail.size) &&
                     tail.sequence > cheapest->sequence)) {
                    cheapest = &tail;
                    cheapest_sender = &sender;
                }
            }
            if (cheapest == nullptr ||
                !lower_rate(cheapest->tx.fee, cheapest->size, tx.fee, entry.size))
                return make_error(ErrorKind::policy, "mempool-full",
                                  "no cheaper transaction to evict");
            freed += cheapest->size;
            victims.push_back(*cheapest_sender);
            --left[*cheapest_sender];
        }
    }
    for (const auto& sender : victims) pop_tail(sender);

    Chain& chain = chains_[tx.from];
    chain.spent = *total;
    bytes_ += entry.size;
    by_id_.emplace(entry.txid, tx.from);
    const Hash256 txid = entry.txid;
    chain.entries.push_back(std::move(entry));
    return txid;
}

void Mempool::pop_tail(const PublicKey& sender) {
    auto it = chains_.find(sender);
    Entry& tail = it->second.entries.back();
    it->second.spent -= tail.tx.amount + tail.tx.fee;  // part of a checked sum
    bytes_ -= tail.size;
    by_id_.erase(tail.txid);
    it->second.entries.pop_back();
    if (it->second.entries.empty()) chains_.erase(it);
}

void Mempool::update(const AccountState& tip_state, const std::vector<Transaction>& returned) {
    // Rebuilding through insert() re-applies every rule against the new tip; signatures of
    // pool transactions were checked on entry and are not checked again.
    std::vector<Entry> all;
    for (const auto& tx : returned) {
        const Hash256 txid = tx.txid();
        if (by_id_.contains(txid) || !check_transaction_context_free(tx, chain_id_)) continue;
        all.push_back(Entry{tx, txid, tx_encoded_size(tx), next_sequence_++});
    }
    for (auto& [sender, chain] : chains_)
        for (auto& entry : chain.entries) all.push_back(std::move(entry));
    chains_.clear();
    by_id_.clear();
    bytes_ = 0;
    std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
        if (a.tx.from != b.tx.from) return a.tx.from < b.tx.from;
        if (a.tx.nonce != b.tx.nonce) return a.tx.nonce < b.tx.nonce;
        return a.sequence < b.sequence;
    });
    for (auto& entry : all) (void)insert(std::move(entry), tip_state);
}

std::vector<Transaction> Mempool::select(std::size_t max_txs, std::size_t max_bytes) const {
    struct Head {
        const Chain* chain;
        std::size_t index;
    };
    auto worse = [](const Head& a, const Head& b) {
        const Entry& x = a.chain->entries[a.index];
        const Entry& y = b.chain->entries[b.index];
        if (lower_rate(x.tx.fee, x.size, y.tx.fee, y.size)) return true;
        if (lower_rate(y.tx.fee, y.size, x.tx.fee, x.size)) return false;
        return x.sequence > y.sequence;  // equal rates: earlier arrival first
    };
    std::priority_queue<Head, std::vector<Head>, decltype(worse)> heads(worse);
    for (const auto& [sender, chain] : chains_) heads.push({&chain, 0});

    std::vector<Transaction> chosen;
    std::size_t bytes = 0;
    while (!heads.empty() && chosen.size() < max_txs) {
        const Head head = heads.top();
        heads.pop();
        const Entry& entry = head.chain->entries[head.index];
        // A transaction that does not fit ends its sender's run: the rest need it first.
        if (bytes + entry.size > max_bytes) continue;
        bytes += entry.size;
        chosen.push_back(entry.tx);
        if (head.index + 1 < head.chain->entries.size()) heads.push({head.chain, head.index + 1});
    }
    return chosen;
}

}  // namespace learnchain::chain
