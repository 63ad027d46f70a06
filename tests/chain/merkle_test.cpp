#include <string>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/merkle.hpp>

#include <gtest/gtest.h>

namespace learnchain::chain {
namespace {

std::vector<Hash256> make_leaves(std::size_t count) {
    std::vector<Hash256> leaves;
    for (std::size_t i = 0; i < count; ++i) {
        const std::string data = "leaf-" + std::to_string(i);
        leaves.push_back(merkle_leaf_hash(
            Bytes(reinterpret_cast<const std::uint8_t*>(data.data()), data.size())));
    }
    return leaves;
}

TEST(Merkle, EmptyAndSingle) {
    EXPECT_TRUE(merkle_root({}).is_zero());
    const auto one = make_leaves(1);
    EXPECT_FALSE(merkle_root(one).is_zero());
    EXPECT_NE(merkle_root(one), one[0]);  // the count commitment wraps even a single leaf
}

TEST(Merkle, ThreeLeavesByHand) {
    const auto l = make_leaves(3);
    const Hash256 top = merkle_node_hash(merkle_node_hash(l[0], l[1]), l[2]);
    std::array<std::uint8_t, 8> count{3};
    const Hash256 expected =
        TaggedHasher(tag::merkle_root).update(Bytes(count)).update(top).finalize();
    EXPECT_EQ(merkle_root(l), expected);
}

// CVE-2012-2459: with Bitcoin's duplicate-last rule, [a,b,c] and [a,b,c,c] share a root.
TEST(Merkle, DuplicatedLastLeafChangesRoot) {
    for (std::size_t n : {1U, 3U, 5U, 7U, 9U}) {
        auto leaves = make_leaves(n);
        const Hash256 root = merkle_root(leaves);
        leaves.push_back(leaves.back());
        EXPECT_NE(merkle_root(leaves), root) << n;
    }
    auto six = make_leaves(6);
    const Hash256 root6 = merkle_root(six);
    six.push_back(six[4]);
    six.push_back(six[5]);
    EXPECT_NE(merkle_root(six), root6);
}

TEST(Merkle, LeafAndNodeTagsDiffer) {
    const auto l = make_leaves(2);
    const Hash256 node = merkle_node_hash(l[0], l[1]);
    std::vector<std::uint8_t> concatenated(l[0].bytes().begin(), l[0].bytes().end());
    concatenated.insert(concatenated.end(), l[1].bytes().begin(), l[1].bytes().end());
    EXPECT_NE(node, merkle_leaf_hash(concatenated));
}

TEST(Merkle, EveryProofVerifiesForManySizes) {
    for (std::size_t n = 1; n <= 33; ++n) {
        const auto leaves = make_leaves(n);
        const Hash256 root = merkle_root(leaves);
        for (std::size_t i = 0; i < n; ++i) {
            auto proof = merkle_prove(leaves, i);
            ASSERT_TRUE(proof.ok());
            EXPECT_TRUE(merkle_verify(root, leaves[i], *proof).ok()) << n << " " << i;
            // The proof survives the canonical encoding.
            auto decoded = decode<MerkleProof>(encode(*proof));
            ASSERT_TRUE(decoded.ok());
            EXPECT_TRUE(merkle_verify(root, leaves[i], *decoded).ok());
        }
    }
}

TEST(Merkle, WrongLeafIndexOrRootFails) {
    const auto leaves = make_leaves(7);
    const Hash256 root = merkle_root(leaves);
    auto proof = merkle_prove(leaves, 3).value();
    EXPECT_EQ(merkle_verify(root, leaves[4], proof).reason(), "merkle-root-mismatch");
    EXPECT_EQ(merkle_verify(merkle_root(make_leaves(8)), leaves[3], proof).reason(),
              "merkle-root-mismatch");
    auto moved = proof;
    moved.leaf_index = 2;
    EXPECT_FALSE(merkle_verify(root, leaves[3], moved).ok());
    auto tampered = proof;
    tampered.siblings[0].bytes()[0] ^= 1;
    EXPECT_EQ(merkle_verify(root, leaves[3], tampered).reason(), "merkle-root-mismatch");
}

TEST(Merkle, MalformedProofsRejectedWithReason) {
    const auto leaves = make_leaves(5);
    const Hash256 root = merkle_root(leaves);
    auto proof = merkle_prove(leaves, 1).value();
    auto longer = proof;
    longer.siblings.push_back(Hash256{});
    EXPECT_EQ(merkle_verify(root, leaves[1], longer).reason(), "merkle-bad-proof-length");
    auto shorter = proof;
    shorter.siblings.pop_back();
    EXPECT_EQ(merkle_verify(root, leaves[1], shorter).reason(), "merkle-bad-proof-length");
    auto out_of_range = proof;
    out_of_range.leaf_index = 5;
    EXPECT_EQ(merkle_verify(root, leaves[1], out_of_range).reason(), "merkle-index-out-of-range");
    auto empty = proof;
    empty.leaf_count = 0;
    EXPECT_EQ(merkle_verify(root, leaves[1], empty).reason(), "merkle-index-out-of-range");
    EXPECT_EQ(merkle_prove(leaves, 5).error().reason, "merkle-index-out-of-range");
}

// Without the count commitment, the top of [a,b,c] equals that of the 2-leaf tree
// [node(a,b), c], letting a proof claim c is leaf 1 of 2. The commitment rules it out.
TEST(Merkle, ProofCannotClaimSmallerTree) {
    const auto leaves = make_leaves(3);
    const Hash256 root = merkle_root(leaves);
    MerkleProof forged;
    forged.leaf_index = 1;
    forged.leaf_count = 2;
    forged.siblings = {merkle_node_hash(leaves[0], leaves[1])};
    EXPECT_EQ(merkle_verify(root, leaves[2], forged).reason(), "merkle-root-mismatch");
}

}  // namespace
}  // namespace learnchain::chain
