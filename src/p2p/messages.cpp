#include <array>
#include <string>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/p2p/messages.hpp>

namespace learnchain::p2p {

namespace {

constexpr std::size_t header_size = chain::header_encoded_size;
constexpr std::size_t inv_item_size = 1 + Hash256::size;

// Payload bounds: the largest legal message of each type, rounded up to a power of two so
// that a count one past its limit still decodes and fails with its own reason. Only block
// and work_item payloads may be large; everything else is refused before decoding.
constexpr std::size_t small_payload = 1024;
constexpr std::size_t headers_payload = 1024 * 1024;
constexpr std::size_t inv_payload = 256 * 1024;
constexpr std::size_t getheaders_payload = 4 * 1024;
constexpr std::size_t block_payload = chain::max_block_bytes;
constexpr std::size_t fraud_proof_payload = Hash256::size + 4 + max_fraud_proof_evidence_bytes + 4;
static_assert(headers_payload > 4 + (max_headers_per_message + 1) * header_size);
static_assert(inv_payload > 4 + (max_inv_items + 1) * inv_item_size);
static_assert(getheaders_payload > 4 + (max_locator_hashes + 2) * Hash256::size);
static_assert(small_payload > 4 + 32 + 8 + 16 + 4 + max_user_agent_bytes + 1 + 8 + 2 + 4);
static_assert(small_payload > chain::max_tx_encoded_size);
static_assert(block_payload + envelope_overhead <= max_wire_message_bytes);

template <class T>
[[nodiscard]] Result<Message> decode_payload(std::span<const std::uint8_t> payload) {
    auto decoded = chain::decode<T>(payload);
    if (!decoded)
        return make_error(ErrorKind::malformed, "p2p-bad-payload", decoded.error().to_string());
    return Message{std::move(*decoded)};
}

[[nodiscard]] Status check_inv(const InvMessage& inv) {
    if (inv.items.size() > max_inv_items)
        return make_error(ErrorKind::malformed, "p2p-too-many-inv",
                          std::to_string(inv.items.size()) + " items");
    for (const auto& item : inv.items) {
        const auto type = static_cast<std::uint8_t>(item.type);
        if (type < 1 || type > 3)
            return make_error(ErrorKind::malformed, "p2p-bad-inv-type",
                              "type " + std::to_string(type));
    }
    return ok_status();
}

// Limits that the encoding alone cannot express.
[[nodiscard]] Status check_limits(const Message& message) {
    if (const auto* v = std::get_if<VersionMessage>(&message)) {
        if (v->user_agent.size() > max_user_agent_bytes)
            return make_error(ErrorKind::malformed, "p2p-user-agent-too-long",
                              std::to_string(v->user_agent.size()) + " bytes");
    } else if (const auto* g = std::get_if<GetHeadersMessage>(&message)) {
        if (g->locator.size() > max_locator_hashes)
            return make_error(ErrorKind::malformed, "p2p-too-many-locator-hashes",
                              std::to_string(g->locator.size()) + " hashes");
    } else if (const auto* h = std::get_if<HeadersMessage>(&message)) {
        if (h->headers.size() > max_headers_per_message)
            return make_error(ErrorKind::malformed, "p2p-too-many-headers",
                              std::to_string(h->headers.size()) + " headers");
    } else if (const auto* i = std::get_if<InvMessage>(&message)) {
        return check_inv(*i);
    } else if (const auto* d = std::get_if<GetDataMessage>(&message)) {
        return check_inv(*d);
    } else if (const auto* n = std::get_if<NotFoundMessage>(&message)) {
        return check_inv(*n);
    } else if (const auto* f = std::get_if<FraudProofMessage>(&message)) {
        if (f->proof.evidence.size() > max_fraud_proof_evidence_bytes)
            return make_error(ErrorKind::malformed, "p2p-fraud-proof-too-large",
                              std::to_string(f->proof.evidence.size()) + " bytes of evidence");
    }
    return ok_status();
}

}  // namespace

std::string_view message_type_name(MessageType type) {
    switch (type) {
        case MessageType::version:
            return "version";
        case MessageType::verack:
            return "verack";
        case MessageType::ping:
            return "ping";
        case MessageType::pong:
            return "pong";
        case MessageType::getheaders:
            return "getheaders";
        case MessageType::headers:
            return "headers";
        case MessageType::inv:
            return "inv";
        case MessageType::getdata:
            return "getdata";
        case MessageType::notfound:
            return "notfound";
        case MessageType::block:
            return "block";
        case MessageType::tx:
            return "tx";
        case MessageType::work_item:
            return "work_item";
        case MessageType::fraud_proof:
            return "fraud_proof";
    }
    return "unknown";
}

std::size_t max_payload_bytes(MessageType type) {
    switch (type) {
        case MessageType::getheaders:
            return getheaders_payload;
        case MessageType::headers:
            return headers_payload;
        case MessageType::inv:
        case MessageType::getdata:
        case MessageType::notfound:
            return inv_payload;
        case MessageType::block:
        case MessageType::work_item:
            return block_payload;
        case MessageType::fraud_proof:
            return fraud_proof_payload;
        case MessageType::version:
        case MessageType::verack:
        case MessageType::ping:
        case MessageType::pong:
        case MessageType::tx:
            return small_payload;
    }
    return 0;
}

MessageType message_type(const Message& message) {
    // Variant order follows the type codes, 1-based.
    return static_cast<MessageType>(message.index() + 1);
}

std::uint32_t network_magic(std::uint32_t chain_id) {
    return 0x314e524cU ^ chain_id;  // "LRN1" little-endian, salted by the chain id
}

Hash256 work_item_id(const chain::WorkItem& item) {
    return chain::tagged_hash(chain::tag::certificate, item.certificate);
}

Hash256 fraud_proof_id(const chain::FraudProof& proof) {
    return chain::TaggedHasher(chain::tag::fraud_proof)
        .update(proof.block)
        .update(proof.evidence)
        .finalize();
}

std::vector<std::uint8_t> encode_message(std::uint32_t magic, const Message& message) {
    std::vector<std::uint8_t> out;
    chain::encode_append(out, magic);
    chain::encode_append(out, static_cast<std::uint8_t>(message_type(message)));
    std::visit([&out](const auto& payload) { chain::encode_append(out, payload); }, message);
    return out;
}

Result<Message> decode_message(std::uint32_t magic, std::span<const std::uint8_t> bytes) {
    if (bytes.size() < envelope_overhead)
        return make_error(ErrorKind::malformed, "p2p-message-truncated",
                          std::to_string(bytes.size()) + " bytes");
    const std::uint32_t got = std::uint32_t{bytes[0]} | std::uint32_t{bytes[1]} << 8 |
                              std::uint32_t{bytes[2]} << 16 | std::uint32_t{bytes[3]} << 24;
    if (got != magic)
        return make_error(ErrorKind::malformed, "p2p-bad-magic", "magic " + std::to_string(got));
    const std::uint8_t code = bytes[4];
    if (code < 1 || code > std::variant_size_v<Message>)
        return make_error(ErrorKind::malformed, "p2p-bad-message-type",
                          "type " + std::to_string(code));
    const auto type = static_cast<MessageType>(code);
    const auto payload = bytes.subspan(envelope_overhead);
    if (payload.size() > max_payload_bytes(type))
        return make_error(ErrorKind::malformed, "p2p-message-too-large",
                          std::string(message_type_name(type)) + " of " +
                              std::to_string(payload.size()) + " bytes");

    Result<Message> decoded = make_error(ErrorKind::malformed, "p2p-bad-message-type");
    switch (type) {
        case MessageType::version:
            decoded = decode_payload<VersionMessage>(payload);
            break;
        case MessageType::verack:
            decoded = decode_payload<VerackMessage>(payload);
            break;
        case MessageType::ping:
            decoded = decode_payload<PingMessage>(payload);
            break;
        case MessageType::pong:
            decoded = decode_payload<PongMessage>(payload);
            break;
        case MessageType::getheaders:
            decoded = decode_payload<GetHeadersMessage>(payload);
            break;
        case MessageType::headers:
            decoded = decode_payload<HeadersMessage>(payload);
            break;
        case MessageType::inv:
            decoded = decode_payload<InvMessage>(payload);
            break;
        case MessageType::getdata:
            decoded = decode_payload<GetDataMessage>(payload);
            break;
        case MessageType::notfound:
            decoded = decode_payload<NotFoundMessage>(payload);
            break;
        case MessageType::block:
            decoded = decode_payload<BlockMessage>(payload);
            break;
        case MessageType::tx:
            decoded = decode_payload<TxMessage>(payload);
            break;
        case MessageType::work_item:
            decoded = decode_payload<WorkItemMessage>(payload);
            break;
        case MessageType::fraud_proof:
            decoded = decode_payload<FraudProofMessage>(payload);
            break;
    }
    if (!decoded) return decoded;
    LEARNCHAIN_TRY(check_limits(*decoded));
    return decoded;
}

}  // namespace learnchain::p2p
