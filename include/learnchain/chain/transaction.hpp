// The one transaction kind: a signed transfer with a short memo.
//
// sighash = H_tx_sighash(encoding of the unsigned fields); the sender signs it with BIP340.
// txid    = H_tx(encoding of the whole transaction, signature included).
// See consensus/PROTOCOL.md, part L, for the byte layout and every reason code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

inline constexpr std::size_t max_memo_bytes = 64;
// Encoded size of a transaction with an empty memo; each memo byte adds one.
inline constexpr std::size_t min_tx_encoded_size = 4 + 32 + 32 + 8 + 8 + 8 + 4 + 64;
inline constexpr std::size_t max_tx_encoded_size = min_tx_encoded_size + max_memo_bytes;

struct Transaction {
    std::uint32_t chain_id = 0;  // genesis chain_id; stops replay across chains
    PublicKey from;
    PublicKey to;
    Amount amount = 0;
    Amount fee = 0;
    std::uint64_t nonce = 0;  // must equal the sender's account nonce
    std::vector<std::uint8_t> memo;
    Signature signature;  // BIP340 by `from` over sighash()

    [[nodiscard]] Hash256 sighash() const;
    [[nodiscard]] Hash256 txid() const;

    // Sets `from` to the key's public key, then signs.
    void sign(const SecretKey& key);

    friend bool operator==(const Transaction&, const Transaction&) = default;

    // The fields that the signature covers, in encoding order.
    template <class Archive>
    void serialize_unsigned(Archive& ar) const {
        ar(chain_id, from, to, amount, fee, nonce, memo);
    }
    template <class Archive>
    void serialize(Archive& ar) {
        ar(chain_id, from, to, amount, fee, nonce, memo, signature);
    }
};

// A transfer from `from`'s key, signed.
[[nodiscard]] Transaction make_transfer(const SecretKey& from, const PublicKey& to, Amount amount,
                                        Amount fee, std::uint64_t nonce, std::uint32_t chain_id,
                                        std::vector<std::uint8_t> memo = {});

// Checks that need no account state, cheapest first, signature last:
// bad-tx-chain-id, bad-tx-zero-amount, bad-tx-memo-too-long, bad-tx-amount-overflow,
// bad-tx-signature.
[[nodiscard]] Status check_transaction_context_free(const Transaction& tx, std::uint32_t chain_id);

}  // namespace learnchain::chain
