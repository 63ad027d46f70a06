// Block header and body, their hashes and roots, work and cumulative work.
//
// header hash = H_header(encoding of the whole header, signature included)
// sighash     = H_header_sighash(encoding of the header without the signature)
// tx_root     = merkle_root(txids in block order)
// work_root   = merkle_root(certificate roots in block order; the work engine derives them)
// evidence_root = merkle_root(H_evidence(proof bytes) in block order)
// See consensus/PROTOCOL.md, part L, for the byte layouts.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/transaction.hpp>

namespace learnchain::chain {

inline constexpr std::uint32_t block_version = 1;

// Body limits. A block's full encoding (header + body) is bounded by max_block_bytes; gradient
// blobs dominate (4 bytes per parameter per certificate: ~4 MB for the ~1M-parameter devnet).
inline constexpr std::size_t max_block_bytes = 64 * 1024 * 1024;
inline constexpr std::size_t max_block_txs = 10'000;
inline constexpr std::size_t max_block_work_items = 256;
// Each Evidence item costs every validating node one micro-batch's recomputation (an arbiter run
// in the band), so a block carries few; one burns everything its key has immature.
inline constexpr std::size_t max_block_evidence = 4;
// Encoded header size: version, height, parent, time, 4 roots, work, proposer, signature.
inline constexpr std::size_t header_encoded_size = 4 + 8 + 32 + 8 + 4 * 32 + 8 + 32 + 64;

struct BlockHeader {
    std::uint32_t version = block_version;
    std::uint64_t height = 0;
    Hash256 parent;          // header hash of the parent; genesis: the genesis hash
    std::uint64_t time = 0;  // unix seconds
    Hash256 tx_root;
    Hash256 work_root;
    Hash256 evidence_root;
    Hash256 state_root;      // after this block: H_state(accounts_root || model_root)
    std::uint64_t work = 0;  // training tokens in the block's verified work
    PublicKey proposer;
    Signature signature;  // BIP340 by `proposer` over sighash()

    [[nodiscard]] Hash256 sighash() const;
    [[nodiscard]] Hash256 hash() const;
    // Sets proposer to the key's public key, then signs.
    void sign(const SecretKey& key);
    [[nodiscard]] bool signature_valid() const;

    friend bool operator==(const BlockHeader&, const BlockHeader&) = default;

    template <class Archive>
    void serialize_unsigned(Archive& ar) const {
        ar(version, height, parent, time, tx_root, work_root, evidence_root, state_root, work,
           proposer);
    }
    template <class Archive>
    void serialize(Archive& ar) {
        ar(version, height, parent, time, tx_root, work_root, evidence_root, state_root, work,
           proposer, signature);
    }
};

// One proof-of-learning contribution, opaque to the chain layer: the work engine decodes and
// verifies it. The gradient blob travels apart from the certificate so that storage can keep
// and prune blobs separately.
struct WorkItem {
    std::vector<std::uint8_t> certificate;
    std::vector<std::uint8_t> blob;

    friend bool operator==(const WorkItem&, const WorkItem&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(certificate, blob);
    }
};

// A proof, opaque to the chain layer, that the key which signed some certificate broke a
// proof-of-learning rule on a block of this chain within the challenge window: with proof of
// learning, a fraud proof's micro-batch evidence. The work engine checks it; the block that
// carries it burns that key's immature rewards (consensus/PROTOCOL.md §T.11.10).
struct Evidence {
    std::vector<std::uint8_t> proof;

    [[nodiscard]] Hash256 id() const;  // H_evidence(proof)

    friend bool operator==(const Evidence&, const Evidence&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(proof);
    }
};

struct Block {
    BlockHeader header;
    std::vector<Transaction> transactions;
    std::vector<WorkItem> work_items;
    std::vector<Evidence> evidence;

    [[nodiscard]] Hash256 hash() const { return header.hash(); }
    [[nodiscard]] std::size_t encoded_size() const;

    friend bool operator==(const Block&, const Block&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(header, transactions, work_items, evidence);
    }
};

[[nodiscard]] Hash256 compute_tx_root(const std::vector<Transaction>& transactions);
[[nodiscard]] Hash256 compute_work_root(const std::vector<Hash256>& certificate_roots);
[[nodiscard]] Hash256 compute_evidence_root(const std::vector<Evidence>& evidence);

// Cumulative work, 128-bit so that no sum of u64 block work can overflow it. Fork choice
// compares these; encoded as two u64, low word first (a 16-byte little-endian integer).
class ChainWork {
public:
    constexpr ChainWork() = default;
    explicit constexpr ChainWork(std::uint64_t low) : low_(low) {}
    constexpr ChainWork(std::uint64_t high, std::uint64_t low) : high_(high), low_(low) {}

    [[nodiscard]] ChainWork plus(std::uint64_t work) const;
    [[nodiscard]] std::uint64_t high() const { return high_; }
    [[nodiscard]] std::uint64_t low() const { return low_; }
    [[nodiscard]] std::string to_string() const;  // decimal

    friend constexpr std::strong_ordering operator<=>(const ChainWork& a, const ChainWork& b) {
        if (auto c = a.high_ <=> b.high_; c != 0) return c;
        return a.low_ <=> b.low_;
    }
    friend constexpr bool operator==(const ChainWork&, const ChainWork&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(low_, high_);
    }

private:
    std::uint64_t high_ = 0;
    std::uint64_t low_ = 0;
};

}  // namespace learnchain::chain
