#include <algorithm>
#include <string>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/merkle.hpp>

namespace learnchain::chain {

Amount Account::immature_total() const {
    Amount total = 0;
    for (const auto& reward : immature) total += reward.amount;  // fits: see the header
    return total;
}

Hash256 account_leaf_hash(const PublicKey& key, const Account& account) {
    std::vector<std::uint8_t> bytes;
    bytes.reserve(PublicKey::size + 20 + 16 * account.immature.size());
    encode_append(bytes, key);
    encode_append(bytes, account);
    return tagged_hash(tag::account, bytes);
}

Hash256 combine_state_root(const Hash256& accounts_root, const Hash256& model_root) {
    return TaggedHasher(tag::state).update(accounts_root).update(model_root).finalize();
}

Account AccountState::get(const PublicKey& key) const {
    const auto it = accounts_.find(key);
    return it == accounts_.end() ? Account{} : it->second;
}

void AccountState::set(const PublicKey& key, const Account& account, AccountJournal* journal) {
    const auto it = accounts_.find(key);
    if (journal != nullptr)
        journal->push_back({key, it == accounts_.end() ? Account{} : it->second});
    if (it != accounts_.end()) {
        unindex(key, it->second);
        accounts_.erase(it);
    }
    if (account.empty()) return;
    accounts_.emplace(key, account);
    index(key, account);
}

void AccountState::index(const PublicKey& key, const Account& account) {
    for (const auto& reward : account.immature) maturing_[reward.height].insert(key);
}

void AccountState::unindex(const PublicKey& key, const Account& account) {
    for (const auto& reward : account.immature) {
        const auto it = maturing_.find(reward.height);
        if (it == maturing_.end()) continue;
        it->second.erase(key);
        if (it->second.empty()) maturing_.erase(it);
    }
}

Status AccountState::credit(const PublicKey& key, Amount amount, AccountJournal* journal) {
    if (amount == 0) return ok_status();
    Account account = get(key);
    if (!checked_add(account.total(), amount))
        return make_error(ErrorKind::invalid, "bad-balance-overflow", key.hex());
    account.balance += amount;
    set(key, account, journal);
    return ok_status();
}

Status AccountState::credit_immature(const PublicKey& key, Amount amount, std::uint64_t height,
                                     AccountJournal* journal) {
    if (amount == 0) return ok_status();
    Account account = get(key);
    if (!checked_add(account.total(), amount))
        return make_error(ErrorKind::invalid, "bad-balance-overflow", key.hex());
    if (!account.immature.empty() && account.immature.back().height == height)
        account.immature.back().amount += amount;
    else
        account.immature.push_back({height, amount});
    set(key, account, journal);
    return ok_status();
}

Amount AccountState::burn_immature(const PublicKey& key, AccountJournal* journal) {
    Account account = get(key);
    const Amount burned = account.immature_total();
    if (burned == 0) return 0;
    account.immature.clear();
    set(key, account, journal);
    return burned;
}

void AccountState::mature(std::uint64_t height, AccountJournal* journal) {
    std::vector<PublicKey> keys;
    for (auto it = maturing_.begin(); it != maturing_.end() && it->first <= height; ++it)
        keys.insert(keys.end(), it->second.begin(), it->second.end());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (const auto& key : keys) {
        Account account = get(key);
        auto& immature = account.immature;
        auto end = immature.begin();
        for (; end != immature.end() && end->height <= height; ++end)
            account.balance += end->amount;  // fits: the total does
        immature.erase(immature.begin(), end);
        set(key, account, journal);
    }
}

Status AccountState::check_transaction(const Transaction& tx) const {
    const Account sender = get(tx.from);
    if (tx.nonce < sender.nonce)
        return make_error(ErrorKind::conflict, "bad-tx-nonce-too-low",
                          "nonce " + std::to_string(tx.nonce) + ", account expects " +
                              std::to_string(sender.nonce));
    if (tx.nonce > sender.nonce)
        return make_error(ErrorKind::conflict, "bad-tx-nonce-too-high",
                          "nonce " + std::to_string(tx.nonce) + ", account expects " +
                              std::to_string(sender.nonce));
    const auto debit = checked_add(tx.amount, tx.fee);
    if (!debit)
        return make_error(ErrorKind::invalid, "bad-tx-amount-overflow",
                          "amount + fee exceeds 2^64 - 1");
    if (sender.balance < *debit)
        return make_error(ErrorKind::conflict, "bad-tx-insufficient-balance",
                          "balance " + format_amount(sender.balance) + " < amount + fee " +
                              format_amount(*debit));
    // The recipient's balance after the transfer; a self-transfer nets to -fee.
    if (tx.to != tx.from && !checked_add(get(tx.to).total(), tx.amount))
        return make_error(ErrorKind::conflict, "bad-tx-balance-overflow",
                          "recipient balance would exceed 2^64 - 1");
    // The nonce cannot wrap: reaching 2^64 - 1 transactions is not physically possible, but
    // the rule is stated so that the arithmetic is total.
    if (sender.nonce == UINT64_MAX)
        return make_error(ErrorKind::conflict, "bad-tx-nonce-exhausted");
    return ok_status();
}

Status AccountState::apply_transaction(const Transaction& tx, AccountJournal* journal) {
    LEARNCHAIN_TRY(check_transaction(tx));
    Account sender = get(tx.from);
    sender.balance -= tx.amount + tx.fee;
    sender.nonce += 1;
    set(tx.from, sender, journal);
    Account recipient = get(tx.to);
    recipient.balance += tx.amount;  // checked above (and the sender's debit only lowers it)
    set(tx.to, recipient, journal);
    return ok_status();
}

void AccountState::undo(const AccountJournal& journal) {
    for (auto it = journal.rbegin(); it != journal.rend(); ++it) set(it->key, it->before);
}

Hash256 AccountState::accounts_root() const {
    std::vector<Hash256> leaves;
    leaves.reserve(accounts_.size());
    for (const auto& [key, account] : accounts_) leaves.push_back(account_leaf_hash(key, account));
    return merkle_root(leaves);
}

std::optional<Amount> AccountState::total_supply() const {
    Amount total = 0;
    for (const auto& [key, account] : accounts_) {
        const auto next = checked_add(total, account.total());
        if (!next) return std::nullopt;
        total = *next;
    }
    return total;
}

Status check_transaction(const Transaction& tx, const AccountState& state, std::uint32_t chain_id) {
    LEARNCHAIN_TRY(check_transaction_context_free(tx, chain_id));
    return state.check_transaction(tx);
}

}  // namespace learnchain::chain
