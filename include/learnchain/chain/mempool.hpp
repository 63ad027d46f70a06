// Transactions waiting for a block: per-sender nonce chains, fee-rate priority, a byte bound
// with eviction, and revalidation when the tip changes.
//
// Policy (chain/STORAGE.md has the full text):
// - A sender's pool transactions form one gapless chain of nonces starting at the sender's
//   account nonce at the tip. A transaction is accepted only if it extends that chain by
//   exactly one ("mempool-nonce-gap" otherwise): no orphan buffer, so a gap can never pin
//   memory. A different transaction for a nonce already in the chain is refused
//   ("mempool-nonce-conflict"); there is no replace-by-fee yet.
// - The chain must be affordable from the sender's balance at the tip alone: incoming pool
//   transfers are not counted, so a chain never depends on another sender's chain.
// - Priority is fee per encoded byte. When full, the pool evicts the lowest fee-rate chain
//   tails (a transaction nothing depends on) of other senders, and only if they pay a lower
//   rate than the newcomer; otherwise the newcomer is refused ("mempool-full").
//
// Not thread-safe; the node guards it with the chain lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/transaction.hpp>

namespace learnchain::chain {

struct MempoolOptions {
    std::size_t max_bytes = 64 * 1024 * 1024;  // sum of encoded transaction sizes
    Amount min_fee_per_byte = 1;               // relay floor ("mempool-fee-too-low")
    std::size_t max_chain_length = 64;         // per sender ("mempool-chain-too-long")
};

// Encoded size of a transaction, the unit of the byte bound and the fee rate.
[[nodiscard]] inline std::size_t tx_encoded_size(const Transaction& tx) {
    return min_tx_encoded_size + tx.memo.size();
}

class Mempool {
public:
    explicit Mempool(std::uint32_t chain_id, MempoolOptions options = {});

    // Checks (context-free, then against `tip_state` and the sender's chain) and adds.
    // Reasons: mempool-duplicate, mempool-fee-too-low, mempool-nonce-gap,
    // mempool-nonce-conflict, mempool-chain-too-long, mempool-full, and the ledger's
    // bad-tx-* (bad-tx-nonce-too-low, bad-tx-insufficient-balance, bad-tx-signature, ...).
    [[nodiscard]] Result<Hash256> add(const Transaction& tx, const AccountState& tip_state);

    // After the tip changed (connect or reorg): drops what is confirmed or no longer valid
    // against `tip_state` and takes back the transactions of disconnected blocks
    // (AcceptResult::returned_transactions). Pool transactions are not re-verified.
    void update(const AccountState& tip_state, const std::vector<Transaction>& returned);

    // Candidates for a block: each sender's chain in nonce order, interleaved by fee rate
    // (the best next transaction of any sender first), within the limits.
    [[nodiscard]] std::vector<Transaction> select(std::size_t max_txs, std::size_t max_bytes) const;

    [[nodiscard]] bool contains(const Hash256& txid) const { return by_id_.contains(txid); }
    [[nodiscard]] std::optional<Transaction> get(const Hash256& txid) const;
    [[nodiscard]] std::size_t size() const { return by_id_.size(); }
    [[nodiscard]] std::size_t bytes() const { return bytes_; }
    // The nonce a sender's next transaction needs (account nonce plus its pool chain).
    [[nodiscard]] std::uint64_t next_nonce(const PublicKey& sender,
                                           const AccountState& tip_state) const;

private:
    struct Entry {
        Transaction tx;
        Hash256 txid;
        std::size_t size = 0;
        std::uint64_t sequence = 0;  // arrival order, breaks fee-rate ties
    };
    struct Chain {
        std::deque<Entry> entries;  // gapless nonces from the account nonce at the tip
        Amount spent = 0;           // sum of amount + fee over entries
    };

    [[nodiscard]] Result<Hash256> insert(Entry entry, const AccountState& tip_state);
    void pop_tail(const PublicKey& sender);

    std::uint32_t chain_id_;
    MempoolOptions options_;
    std::map<PublicKey, Chain> chains_;
    std::map<Hash256, PublicKey> by_id_;
    std::size_t bytes_ = 0;
    std::uint64_t next_sequence_ = 0;
};

}  // namespace learnchain::chain
