// Wire messages: round trips of every type and every decode limit, by reason code.
#include <learnchain/chain/encoding.hpp>
#include <learnchain/p2p/messages.hpp>

#include <gtest/gtest.h>

#include "chain/store_test_support.hpp"

namespace learnchain::p2p {
namespace {

using chain::testing::ForkBuilder;
using chain::testing::store_test_genesis;

constexpr std::uint32_t magic = 0x314e524c;

Hash256 hash_of(std::uint8_t n) {
    Hash256 h;
    h.bytes()[0] = n;
    h.bytes()[31] = n;
    return h;
}

std::string reason_of(std::span<const std::uint8_t> bytes) {
    auto decoded = decode_message(magic, bytes);
    return decoded ? "ok" : decoded.error().reason;
}

void expect_round_trip(const Message& message) {
    const auto bytes = encode_message(magic, message);
    auto decoded = decode_message(magic, bytes);
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(message_type(*decoded), message_type(message));
    EXPECT_EQ(*decoded, message);
    EXPECT_EQ(encode_message(magic, *decoded), bytes);
}

TEST(Messages, EveryTypeRoundTrips) {
    ForkBuilder builder(store_test_genesis());
    const auto blocks = builder.build_chain(builder.genesis_block.hash(), 3);
    const auto tx =
        chain::testing::make_transfer(builder.genesis, chain::testing::test_key(1),
                                      chain::testing::test_key(2).public_key(), 5, 1, 0, {1, 2, 3});
    VersionMessage version;
    version.genesis_hash = hash_of(1);
    version.best_height = 77;
    version.best_work = chain::ChainWork(3, 9);
    version.user_agent = "/test:1/";
    version.nonce = 0x1122334455667788ULL;
    version.listen_port = 9333;

    expect_round_trip(version);
    expect_round_trip(VerackMessage{});
    expect_round_trip(PingMessage{5});
    expect_round_trip(PongMessage{6});
    expect_round_trip(GetHeadersMessage{{hash_of(1), hash_of(2)}, hash_of(3)});
    expect_round_trip(HeadersMessage{{blocks[0].header, blocks[1].header, blocks[2].header}});
    expect_round_trip(InvMessage{
        {{InvType::block, hash_of(1)}, {InvType::tx, hash_of(2)}, {InvType::cert, hash_of(3)}}});
    expect_round_trip(GetDataMessage{{{{InvType::tx, hash_of(4)}}}});
    expect_round_trip(NotFoundMessage{{{{InvType::block, hash_of(5)}}}});
    expect_round_trip(BlockMessage{blocks[2]});
    expect_round_trip(TxMessage{tx});
    expect_round_trip(WorkItemMessage{chain::WorkItem{{1, 2, 3}, {4, 5}}});
    expect_round_trip(FraudProofMessage{chain::FraudProof{hash_of(6), {7, 8, 9}}});
}

TEST(Messages, TypeCodesAreStable) {
    EXPECT_EQ(message_type(VersionMessage{}), MessageType::version);
    EXPECT_EQ(message_type(WorkItemMessage{}), MessageType::work_item);
    EXPECT_EQ(message_type(FraudProofMessage{}), MessageType::fraud_proof);
    EXPECT_EQ(static_cast<int>(MessageType::fraud_proof), 13);
    const auto bytes = encode_message(magic, PingMessage{0x0102});
    ASSERT_EQ(bytes.size(), 5u + 8u);
    EXPECT_EQ(bytes[0], 0x4c);  // magic, little-endian
    EXPECT_EQ(bytes[4], 3);     // ping
    EXPECT_EQ(bytes[5], 0x02);
}

TEST(Messages, EnvelopeErrors) {
    EXPECT_EQ(reason_of(std::vector<std::uint8_t>{1, 2, 3}), "p2p-message-truncated");
    auto bytes = encode_message(magic, PingMessage{1});
    EXPECT_EQ(decode_message(magic + 1, bytes).error().reason, "p2p-bad-magic");
    bytes[4] = 0;
    EXPECT_EQ(reason_of(bytes), "p2p-bad-message-type");
    bytes[4] = 14;
    EXPECT_EQ(reason_of(bytes), "p2p-bad-message-type");
    bytes[4] = 255;
    EXPECT_EQ(reason_of(bytes), "p2p-bad-message-type");

    auto ping = encode_message(magic, PingMessage{1});
    ping.pop_back();
    EXPECT_EQ(reason_of(ping), "p2p-bad-payload");
    ping.push_back(0);
    ping.push_back(0);
    EXPECT_EQ(reason_of(ping), "p2p-bad-payload");  // trailing byte
    const auto detail = decode_message(magic, ping).error().detail;
    EXPECT_NE(detail.find("decode-trailing-bytes"), std::string::npos);
}

TEST(Messages, PerTypeSizeLimit) {
    // A ping padded far beyond any legal ping is refused before decoding.
    auto bytes = encode_message(magic, PingMessage{1});
    bytes.resize(envelope_overhead + max_payload_bytes(MessageType::ping) + 1);
    EXPECT_EQ(reason_of(bytes), "p2p-message-too-large");
    EXPECT_LT(max_payload_bytes(MessageType::tx), 4096u);
    EXPECT_LE(max_payload_bytes(MessageType::block) + envelope_overhead, max_wire_message_bytes);
    EXPECT_GE(max_payload_bytes(MessageType::block), chain::max_block_bytes);
}

TEST(Messages, UserAgentLimit) {
    VersionMessage version;
    version.user_agent.assign(max_user_agent_bytes, 'a');
    EXPECT_EQ(reason_of(encode_message(magic, version)), "ok");
    version.user_agent.push_back('a');
    EXPECT_EQ(reason_of(encode_message(magic, version)), "p2p-user-agent-too-long");
}

TEST(Messages, LocatorLimit) {
    GetHeadersMessage message;
    message.locator.assign(max_locator_hashes, hash_of(1));
    EXPECT_EQ(reason_of(encode_message(magic, message)), "ok");
    message.locator.push_back(hash_of(2));
    EXPECT_EQ(reason_of(encode_message(magic, message)), "p2p-too-many-locator-hashes");
}

TEST(Messages, HeadersLimit) {
    HeadersMessage message;
    message.headers.assign(max_headers_per_message, chain::BlockHeader{});
    EXPECT_EQ(reason_of(encode_message(magic, message)), "ok");
    message.headers.emplace_back();
    EXPECT_EQ(reason_of(encode_message(magic, message)), "p2p-too-many-headers");
}

TEST(Messages, InvLimitsAndTypes) {
    InvMessage inv;
    inv.items.assign(max_inv_items, InvItem{InvType::tx, hash_of(1)});
    EXPECT_EQ(reason_of(encode_message(magic, inv)), "ok");
    inv.items.push_back(InvItem{InvType::tx, hash_of(1)});
    EXPECT_EQ(reason_of(encode_message(magic, inv)), "p2p-too-many-inv");
    GetDataMessage getdata;
    getdata.items.assign(max_inv_items + 1, InvItem{InvType::block, hash_of(1)});
    EXPECT_EQ(reason_of(encode_message(magic, getdata)), "p2p-too-many-inv");
    NotFoundMessage notfound;
    notfound.items.assign(max_inv_items + 1, InvItem{InvType::cert, hash_of(1)});
    EXPECT_EQ(reason_of(encode_message(magic, notfound)), "p2p-too-many-inv");

    for (const std::uint8_t bad : {0, 4, 255}) {
        InvMessage one{{InvItem{static_cast<InvType>(bad), hash_of(1)}}};
        EXPECT_EQ(reason_of(encode_message(magic, one)), "p2p-bad-inv-type");
    }
}

TEST(Messages, LengthPrefixCannotOverAllocate) {
    // headers count claims 2^32-1 headers with 8 bytes behind it.
    std::vector<std::uint8_t> bytes = encode_message(magic, HeadersMessage{});
    bytes[5] = bytes[6] = bytes[7] = bytes[8] = 0xff;
    bytes.resize(bytes.size() + 8, 0);
    EXPECT_EQ(reason_of(bytes), "p2p-bad-payload");
    EXPECT_NE(decode_message(magic, bytes).error().detail.find("decode-length-exceeds-input"),
              std::string::npos);
}

TEST(Messages, FraudProofEvidenceIsBounded) {
    chain::FraudProof proof{hash_of(1), std::vector<std::uint8_t>(max_fraud_proof_evidence_bytes)};
    EXPECT_TRUE(decode_message(magic, encode_message(magic, FraudProofMessage{proof})).ok());
    proof.evidence.push_back(0);  // one past: still decodes, then fails its own limit
    EXPECT_EQ(reason_of(encode_message(magic, FraudProofMessage{proof})),
              "p2p-fraud-proof-too-large");
    proof.evidence.resize(max_fraud_proof_evidence_bytes + 8);  // refused before decoding
    EXPECT_EQ(reason_of(encode_message(magic, FraudProofMessage{proof})), "p2p-message-too-large");
}

TEST(Messages, FraudProofIdCoversBlockAndEvidence) {
    const chain::FraudProof a{hash_of(1), {1, 2}};
    EXPECT_EQ(fraud_proof_id(a), fraud_proof_id(chain::FraudProof{hash_of(1), {1, 2}}));
    EXPECT_NE(fraud_proof_id(a), fraud_proof_id(chain::FraudProof{hash_of(2), {1, 2}}));
    EXPECT_NE(fraud_proof_id(a), fraud_proof_id(chain::FraudProof{hash_of(1), {1, 3}}));
}

TEST(Messages, WorkItemIdIsCertificateHash) {
    const chain::WorkItem a{{1, 2}, {3}};
    const chain::WorkItem b{{1, 2}, {4, 5}};
    EXPECT_EQ(work_item_id(a), work_item_id(b));  // the blob is bound by the certificate
    EXPECT_NE(work_item_id(a), work_item_id(chain::WorkItem{{1}, {3}}));
}

}  // namespace
}  // namespace learnchain::p2p
