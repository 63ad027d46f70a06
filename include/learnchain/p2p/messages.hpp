// The P2P wire format: one typed envelope per WebSocket binary message.
//
//   envelope = magic (u32 LE) || type (u8) || payload (canonical encoding of the type's struct)
//
// The WebSocket frame delimits the message, so the envelope carries no length. Decoding is
// bounded twice: the socket refuses frames above max_wire_message_bytes before reading them,
// and decode_message() checks the per-type payload bound before decoding and every count
// limit after. src/p2p/P2P.md is the byte-level specification and the list of reason codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/transaction.hpp>
#include <learnchain/chain/work.hpp>

namespace learnchain::p2p {

using chain::Hash256;

inline constexpr std::uint32_t protocol_version = 1;
// Oldest protocol version this node still talks to.
inline constexpr std::uint32_t min_protocol_version = 1;

inline constexpr std::size_t max_user_agent_bytes = 256;
inline constexpr std::size_t max_locator_hashes = 64;
inline constexpr std::size_t max_headers_per_message = 2000;
inline constexpr std::size_t max_inv_items = 5000;
inline constexpr std::size_t envelope_overhead = 5;  // magic + type

// The largest frame the socket accepts at all: a maximal block plus slack for the envelope.
// Every non-block type has a far smaller bound (max_payload_bytes), checked before decoding.
inline constexpr std::size_t max_wire_message_bytes = 72 * 1024 * 1024;

enum class MessageType : std::uint8_t {
    version = 1,
    verack = 2,
    ping = 3,
    pong = 4,
    getheaders = 5,
    headers = 6,
    inv = 7,
    getdata = 8,
    notfound = 9,
    block = 10,
    tx = 11,
    work_item = 12,    // a certificate (opaque WorkItem) relayed outside blocks
    fraud_proof = 13,  // evidence that a block is invalid (chain::FraudProof)
};

[[nodiscard]] std::string_view message_type_name(MessageType type);
// Upper bound on the payload of each type (the envelope not included).
[[nodiscard]] std::size_t max_payload_bytes(MessageType type);

enum class InvType : std::uint8_t { tx = 1, block = 2, cert = 3 };

struct InvItem {
    InvType type = InvType::block;
    Hash256 hash;

    friend bool operator==(const InvItem&, const InvItem&) = default;
    friend auto operator<=>(const InvItem&, const InvItem&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(type, hash);
    }
};

struct VersionMessage {
    std::uint32_t protocol = protocol_version;
    Hash256 genesis_hash;  // the height-0 block's hash
    std::uint64_t best_height = 0;
    chain::ChainWork best_work;
    std::string user_agent;
    std::uint64_t nonce = 0;        // random per node: a connection to ourselves sees our own
    std::uint16_t listen_port = 0;  // 0: not listening

    friend bool operator==(const VersionMessage&, const VersionMessage&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(protocol, genesis_hash, best_height, best_work, user_agent, nonce, listen_port);
    }
};

struct VerackMessage {
    friend bool operator==(const VerackMessage&, const VerackMessage&) = default;
    template <class Archive>
    void serialize(Archive&) {}
};

struct PingMessage {
    std::uint64_t nonce = 0;
    friend bool operator==(const PingMessage&, const PingMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(nonce);
    }
};

struct PongMessage {
    std::uint64_t nonce = 0;
    friend bool operator==(const PongMessage&, const PongMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(nonce);
    }
};

struct GetHeadersMessage {
    std::vector<Hash256> locator;  // newest first, ends at genesis
    Hash256 stop;                  // zero: as many as fit in one headers message
    friend bool operator==(const GetHeadersMessage&, const GetHeadersMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(locator, stop);
    }
};

struct HeadersMessage {
    std::vector<chain::BlockHeader> headers;  // each the parent of the next
    friend bool operator==(const HeadersMessage&, const HeadersMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(headers);
    }
};

// inv, getdata and notfound share one layout.
struct InvMessage {
    std::vector<InvItem> items;
    friend bool operator==(const InvMessage&, const InvMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(items);
    }
};
struct GetDataMessage : InvMessage {};
struct NotFoundMessage : InvMessage {};

struct BlockMessage {
    chain::Block block;
    friend bool operator==(const BlockMessage&, const BlockMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(block);
    }
};

struct TxMessage {
    chain::Transaction tx;
    friend bool operator==(const TxMessage&, const TxMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(tx);
    }
};

struct WorkItemMessage {
    chain::WorkItem item;
    friend bool operator==(const WorkItemMessage&, const WorkItemMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(item);
    }
};

// Pushed, not announced: a proof is small and every node wants it at once.
struct FraudProofMessage {
    chain::FraudProof proof;
    friend bool operator==(const FraudProofMessage&, const FraudProofMessage&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(proof);
    }
};

// The largest evidence a fraud proof message may carry on any network; the node refuses more
// than its genesis allows (chain::micro_batch_evidence_size) before judging one.
inline constexpr std::size_t max_fraud_proof_evidence_bytes = 256 * 1024;

using Message =
    std::variant<VersionMessage, VerackMessage, PingMessage, PongMessage, GetHeadersMessage,
                 HeadersMessage, InvMessage, GetDataMessage, NotFoundMessage, BlockMessage,
                 TxMessage, WorkItemMessage, FraudProofMessage>;

[[nodiscard]] MessageType message_type(const Message& message);

// The network's magic: ties a connection to one chain id before any payload is decoded.
[[nodiscard]] std::uint32_t network_magic(std::uint32_t chain_id);

// The id a certificate is announced by: H_certificate(certificate bytes).
[[nodiscard]] Hash256 work_item_id(const chain::WorkItem& item);
// The id a fraud proof is known by: H_fraud-proof(block || evidence). The evidence for one
// micro-batch of one certificate has one encoding, so this is one id per (certificate,
// micro-batch) and block.
[[nodiscard]] Hash256 fraud_proof_id(const chain::FraudProof& proof);

[[nodiscard]] std::vector<std::uint8_t> encode_message(std::uint32_t magic, const Message& message);

// Reasons: p2p-message-truncated, p2p-bad-magic, p2p-bad-message-type, p2p-message-too-large,
// p2p-bad-payload (the decoder's reason in the detail), p2p-user-agent-too-long,
// p2p-too-many-locator-hashes, p2p-too-many-headers, p2p-too-many-inv, p2p-bad-inv-type.
[[nodiscard]] Result<Message> decode_message(std::uint32_t magic,
                                             std::span<const std::uint8_t> bytes);

}  // namespace learnchain::p2p
