// Full blocks for the benchmarks: 1,000 funded sender keys and one transfer from each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/transaction.hpp>

namespace learnchain::bench {

inline constexpr std::size_t transfer_senders = 1000;

inline const std::vector<chain::SecretKey>& sender_keys() {
    static const std::vector<chain::SecretKey> all = [] {
        std::vector<chain::SecretKey> out;
        for (std::size_t i = 0; i < transfer_senders; ++i)
            out.push_back(chain::SecretKey::from_bytes(
                              chain::sha256("learnchain-bench-key-" + std::to_string(i)).span())
                              .value());
        return out;
    }();
    return all;
}

// Allocates 1,000 coins to every sender key.
inline void fund_senders(chain::Genesis& genesis) {
    for (const auto& key : sender_keys())
        genesis.allocations.push_back({key.public_key(), 1000 * chain::coin});
}

// One transfer from each of the first `count` senders to the next, at the nonce `round`.
inline std::vector<chain::Transaction> transfers(const chain::Genesis& genesis, std::size_t count,
                                                 std::uint64_t round) {
    const auto& keys = sender_keys();
    std::vector<chain::Transaction> txs;
    for (std::size_t i = 0; i < count; ++i) {
        chain::Transaction tx;
        tx.chain_id = genesis.chain_id;
        tx.from = keys[i].public_key();
        tx.to = keys[(i + 1) % transfer_senders].public_key();
        tx.amount = chain::coin / 100;
        tx.fee = 1000;
        tx.nonce = round;
        tx.sign(keys[i]);
        txs.push_back(std::move(tx));
    }
    return txs;
}

}  // namespace learnchain::bench
