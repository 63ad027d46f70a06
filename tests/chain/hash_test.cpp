#include <string>

#include <learnchain/chain/hash.hpp>

#include <gtest/gtest.h>

namespace learnchain::chain {
namespace {

// FIPS 180-2 / NIST CAVP example vectors for SHA-256.
TEST(Sha256, NistVectors) {
    EXPECT_EQ(sha256(std::string_view("abc")).hex(),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256(std::string_view("")).hex(),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(
        sha256(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256(std::string_view(
                         "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                         "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"))
                  .hex(),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, MillionAsIncrementally) {
    Sha256 hasher;
    const std::string chunk(1000, 'a');
    for (int i = 0; i < 1000; ++i) hasher.update(chunk);
    EXPECT_EQ(hasher.finalize().hex(),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(TaggedHash, MatchesDefinition) {
    const std::string_view message = "payload";
    const Hash256 tag_hash = sha256(tag::transaction);
    Sha256 manual;
    manual.update(tag_hash.span()).update(tag_hash.span()).update(message);
    EXPECT_EQ(TaggedHasher(tag::transaction).update(message).finalize(), manual.finalize());
}

// The same bytes under two tags must give unrelated digests.
TEST(TaggedHash, TagsSeparateDomains) {
    const std::string_view message = "same bytes";
    const Hash256 as_tx = TaggedHasher(tag::transaction).update(message).finalize();
    const Hash256 as_header = TaggedHasher(tag::block_header).update(message).finalize();
    const Hash256 as_leaf = TaggedHasher(tag::merkle_leaf).update(message).finalize();
    EXPECT_NE(as_tx, as_header);
    EXPECT_NE(as_tx, as_leaf);
    EXPECT_NE(as_header, as_leaf);
    EXPECT_NE(as_tx, sha256(message));
}

TEST(TaggedHash, EveryTagIsDistinct) {
    const std::vector<std::string_view> tags = {
        tag::merkle_leaf, tag::merkle_node,  tag::merkle_root,    tag::transaction,
        tag::tx_sighash,  tag::block_header, tag::header_sighash, tag::genesis,
        tag::account,     tag::state,        tag::seed,           tag::unit,
        tag::certificate, tag::gradient,     tag::weights,        tag::inference_request,
        tag::micro_batch};
    for (std::size_t i = 0; i < tags.size(); ++i)
        for (std::size_t j = i + 1; j < tags.size(); ++j) EXPECT_NE(tags[i], tags[j]);
}

TEST(Hash256, HexRoundTrip) {
    const auto text = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const auto parsed = Hash256::from_hex(text);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->hex(), text);
    EXPECT_EQ(*parsed, sha256(std::string_view("abc")));
    EXPECT_EQ(Hash256::from_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")
                  .value(),
              *parsed);
}

TEST(Hash256, HexErrors) {
    EXPECT_EQ(Hash256::from_hex("abc").error().reason, "bad-hash-hex");
    EXPECT_EQ(Hash256::from_hex(std::string(64, 'g')).error().reason, "bad-hex");
    EXPECT_EQ(from_hex("abc").error().reason, "bad-hex");
    EXPECT_TRUE(Hash256{}.is_zero());
    EXPECT_FALSE(sha256(std::string_view("")).is_zero());
}

}  // namespace
}  // namespace learnchain::chain
