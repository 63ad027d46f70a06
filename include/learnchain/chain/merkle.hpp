// Merkle trees with inclusion proofs.
//
// Leaves and inner nodes are hashed under different tags, so a leaf can never pass as an
// inner node. An odd node is promoted to the next level unchanged rather than paired with a
// copy of itself: Bitcoin's duplication rule lets [a,b,c] and [a,b,c,c] share a root
// (CVE-2012-2459); promotion does not. The root also commits to the leaf count, so a proof
// cannot pass an inner node off as a leaf of a smaller tree with the same top hash.
#pragma once

#include <cstdint>
#include <vector>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

[[nodiscard]] Hash256 merkle_leaf_hash(Bytes leaf_data);
[[nodiscard]] Hash256 merkle_node_hash(const Hash256& left, const Hash256& right);

// Root over already-hashed leaves: H_merkle-root(u64le(count) || top). The empty tree's root
// is the all-zero hash.
[[nodiscard]] Hash256 merkle_root(const std::vector<Hash256>& leaf_hashes);

struct MerkleProof {
    std::uint64_t leaf_index = 0;
    std::uint64_t leaf_count = 0;
    std::vector<Hash256> siblings;  // bottom-up; promoted levels contribute none

    template <class Archive>
    void serialize(Archive& ar) {
        ar(leaf_index, leaf_count, siblings);
    }
};

[[nodiscard]] Result<MerkleProof> merkle_prove(const std::vector<Hash256>& leaf_hashes,
                                               std::uint64_t leaf_index);
// Checks that `leaf_hash` is leaf `proof.leaf_index` of the tree of `proof.leaf_count`
// leaves whose root is `root`. Malformed proofs (wrong sibling count, index out of range)
// fail with a reason.
[[nodiscard]] Status merkle_verify(const Hash256& root, const Hash256& leaf_hash,
                                   const MerkleProof& proof);

}  // namespace learnchain::chain
