// Account state: pubkey -> {balance, nonce, immature rewards}, the transfer rules, and the
// state root.
//
// An empty account ({0, 0, nothing immature}) is never stored, so the state root does not
// depend on whether an empty account was ever touched. Every mutation records the pre-image of
// each account it changes, which is what undo (and a reorg) needs. An account's balance plus
// its immature rewards always fit in 64 bits, so maturing never overflows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/transaction.hpp>

namespace learnchain::chain {

// A reward not yet spendable: it joins the balance at the end of block `height`.
struct ImmatureReward {
    std::uint64_t height = 0;
    Amount amount = 0;

    friend bool operator==(const ImmatureReward&, const ImmatureReward&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(height, amount);
    }
};

struct Account {
    Amount balance = 0;       // spendable
    std::uint64_t nonce = 0;  // transactions sent so far
    // Rewards of the last reward_maturity blocks: ascending, distinct heights, amounts > 0.
    std::vector<ImmatureReward> immature;

    [[nodiscard]] bool empty() const { return balance == 0 && nonce == 0 && immature.empty(); }
    [[nodiscard]] Amount immature_total() const;
    [[nodiscard]] Amount total() const { return balance + immature_total(); }
    friend bool operator==(const Account&, const Account&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(balance, nonce, immature);
    }
};

// The pre-image of one account before a change.
struct AccountUndo {
    PublicKey key;
    Account before;  // {0, 0} when the account did not exist

    friend bool operator==(const AccountUndo&, const AccountUndo&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(key, before);
    }
};

// Pre-images in the order the changes were made; restoring them in reverse order undoes
// the changes exactly. A key may appear more than once.
using AccountJournal = std::vector<AccountUndo>;

// Leaf of the accounts tree: H_account(pubkey || canonical encoding of the account).
[[nodiscard]] Hash256 account_leaf_hash(const PublicKey& key, const Account& account);

// state_root = H_state(accounts_root || model_root). model_root is supplied by the work
// engine (the zero hash where no model exists, as in chain-only tests).
[[nodiscard]] Hash256 combine_state_root(const Hash256& accounts_root, const Hash256& model_root);

class AccountState {
public:
    using Map = std::map<PublicKey, Account>;

    // The account, or {0, 0} if absent.
    [[nodiscard]] Account get(const PublicKey& key) const;
    [[nodiscard]] bool contains(const PublicKey& key) const { return accounts_.contains(key); }
    [[nodiscard]] std::size_t size() const { return accounts_.size(); }
    [[nodiscard]] const Map& accounts() const { return accounts_; }

    // Replaces the account (erasing it if empty); appends the pre-image to `journal` if given.
    void set(const PublicKey& key, const Account& account, AccountJournal* journal = nullptr);

    // Adds to a balance: bad-balance-overflow when the account's total would pass 2^64 - 1
    // (state unchanged).
    [[nodiscard]] Status credit(const PublicKey& key, Amount amount,
                                AccountJournal* journal = nullptr);
    // Adds a reward that matures at the end of block `height` (>= every immature height of
    // the account); bad-balance-overflow as credit.
    [[nodiscard]] Status credit_immature(const PublicKey& key, Amount amount, std::uint64_t height,
                                         AccountJournal* journal = nullptr);
    // Removes every immature reward of the account and returns their sum (0: it had none).
    [[nodiscard]] Amount burn_immature(const PublicKey& key, AccountJournal* journal = nullptr);
    // Moves every reward maturing at `height` or below into its account's balance.
    void mature(std::uint64_t height, AccountJournal* journal = nullptr);

    // Stateful transaction checks (assumes check_transaction_context_free passed):
    // bad-tx-nonce-too-low, bad-tx-nonce-too-high, bad-tx-amount-overflow,
    // bad-tx-insufficient-balance, bad-tx-balance-overflow (the recipient's).
    [[nodiscard]] Status check_transaction(const Transaction& tx) const;

    // check_transaction, then: sender pays amount + fee and its nonce increments, recipient
    // receives amount. The fee is left for the caller to credit. State unchanged on failure.
    [[nodiscard]] Status apply_transaction(const Transaction& tx,
                                           AccountJournal* journal = nullptr);

    // Restores pre-images in reverse order.
    void undo(const AccountJournal& journal);

    // Merkle root over leaves sorted by pubkey; the zero hash when there are no accounts.
    [[nodiscard]] Hash256 accounts_root() const;
    [[nodiscard]] Hash256 state_root(const Hash256& model_root) const {
        return combine_state_root(accounts_root(), model_root);
    }

    // Sum of all balances and immature rewards; nullopt on overflow (a sanity check for tests
    // and tools).
    [[nodiscard]] std::optional<Amount> total_supply() const;

    friend bool operator==(const AccountState& a, const AccountState& b) {
        return a.accounts_ == b.accounts_;
    }

private:
    void index(const PublicKey& key, const Account& account);
    void unindex(const PublicKey& key, const Account& account);

    Map accounts_;
    // Accounts by the heights their immature rewards mature at, so that maturing a block
    // touches only those (kept by set()).
    std::map<std::uint64_t, std::set<PublicKey>> maturing_;
};

// Full check against a state: context-free checks, then the stateful ones.
[[nodiscard]] Status check_transaction(const Transaction& tx, const AccountState& state,
                                       std::uint32_t chain_id);

}  // namespace learnchain::chain
