#include <string>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/transaction.hpp>

namespace learnchain::chain {

Hash256 Transaction::sighash() const {
    std::vector<std::uint8_t> bytes;
    bytes.reserve(max_tx_encoded_size);
    EncodeWriter writer(bytes);
    serialize_unsigned(writer);
    return tagged_hash(tag::tx_sighash, bytes);
}

Hash256 Transaction::txid() const {
    return tagged_hash(tag::transaction, encode(*this));
}

void Transaction::sign(const SecretKey& key) {
    from = key.public_key();
    signature = chain::sign(key, sighash());
}

Transaction make_transfer(const SecretKey& from, const PublicKey& to, Amount amount, Amount fee,
                          std::uint64_t nonce, std::uint32_t chain_id,
                          std::vector<std::uint8_t> memo) {
    Transaction tx;
    tx.chain_id = chain_id;
    tx.to = to;
    tx.amount = amount;
    tx.fee = fee;
    tx.nonce = nonce;
    tx.memo = std::move(memo);
    tx.sign(from);  // also sets tx.from
    return tx;
}

Status check_transaction_context_free(const Transaction& tx, std::uint32_t chain_id) {
    if (tx.chain_id != chain_id)
        return make_error(ErrorKind::invalid, "bad-tx-chain-id",
                          "transaction is for chain " + std::to_string(tx.chain_id) + ", this is " +
                              std::to_string(chain_id));
    if (tx.amount == 0) return make_error(ErrorKind::invalid, "bad-tx-zero-amount");
    if (tx.memo.size() > max_memo_bytes)
        return make_error(
            ErrorKind::invalid, "bad-tx-memo-too-long",
            std::to_string(tx.memo.size()) + " > " + std::to_string(max_memo_bytes) + " bytes");
    if (!checked_add(tx.amount, tx.fee))
        return make_error(ErrorKind::invalid, "bad-tx-amount-overflow",
                          "amount + fee exceeds 2^64 - 1");
    if (!verify(tx.from, tx.sighash(), tx.signature))
        return make_error(ErrorKind::invalid, "bad-tx-signature");
    return ok_status();
}

}  // namespace learnchain::chain
