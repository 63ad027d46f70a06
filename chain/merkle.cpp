#include <array>

#include <learnchain/chain/merkle.hpp>

namespace learnchain::chain {
namespace {

Hash256 commit_count(std::uint64_t leaf_count, const Hash256& top) {
    std::array<std::uint8_t, 8> count{};
    for (std::size_t i = 0; i < count.size(); ++i)
        count[i] = static_cast<std::uint8_t>(leaf_count >> (8 * i));
    return TaggedHasher(tag::merkle_root).update(Bytes(count)).update(top).finalize();
}

// One level up: pairs are hashed, an odd last node is promoted unchanged.
std::vector<Hash256> next_level(const std::vector<Hash256>& level) {
    std::vector<Hash256> up;
    up.reserve((level.size() + 1) / 2);
    for (std::size_t i = 0; i + 1 < level.size(); i += 2)
        up.push_back(merkle_node_hash(level[i], level[i + 1]));
    if (level.size() % 2 == 1) up.push_back(level.back());
    return up;
}

// The number of siblings a proof for `index` in a tree of `count` leaves carries.
std::size_t expected_siblings(std::uint64_t index, std::uint64_t count) {
    std::size_t siblings = 0;
    for (; count > 1; index /= 2, count = (count + 1) / 2)
        if (!(index == count - 1 && count % 2 == 1)) ++siblings;
    return siblings;
}

}  // namespace

Hash256 merkle_leaf_hash(Bytes leaf_data) {
    return tagged_hash(tag::merkle_leaf, leaf_data);
}

Hash256 merkle_node_hash(const Hash256& left, const Hash256& right) {
    return TaggedHasher(tag::merkle_node).update(left).update(right).finalize();
}

Hash256 merkle_root(const std::vector<Hash256>& leaf_hashes) {
    if (leaf_hashes.empty()) return Hash256{};
    std::vector<Hash256> level = leaf_hashes;
    while (level.size() > 1) level = next_level(level);
    return commit_count(leaf_hashes.size(), level.front());
}

Result<MerkleProof> merkle_prove(const std::vector<Hash256>& leaf_hashes,
                                 std::uint64_t leaf_index) {
    if (leaf_index >= leaf_hashes.size())
        return make_error(
            ErrorKind::malformed, "merkle-index-out-of-range",
            "leaf " + std::to_string(leaf_index) + " of " + std::to_string(leaf_hashes.size()));
    MerkleProof proof;
    proof.leaf_index = leaf_index;
    proof.leaf_count = leaf_hashes.size();
    std::vector<Hash256> level = leaf_hashes;
    for (std::uint64_t index = leaf_index; level.size() > 1; index /= 2) {
        const bool promoted = index == level.size() - 1 && level.size() % 2 == 1;
        if (!promoted) proof.siblings.push_back(level[index ^ 1]);
        level = next_level(level);
    }
    return proof;
}

Status merkle_verify(const Hash256& root, const Hash256& leaf_hash, const MerkleProof& proof) {
    if (proof.leaf_count == 0 || proof.leaf_index >= proof.leaf_count)
        return make_error(ErrorKind::malformed, "merkle-index-out-of-range");
    if (proof.siblings.size() != expected_siblings(proof.leaf_index, proof.leaf_count))
        return make_error(
            ErrorKind::malformed, "merkle-bad-proof-length",
            "expected " + std::to_string(expected_siblings(proof.leaf_index, proof.leaf_count)) +
                " siblings, got " + std::to_string(proof.siblings.size()));
    Hash256 node = leaf_hash;
    std::size_t next_sibling = 0;
    for (std::uint64_t index = proof.leaf_index, count = proof.leaf_count; count > 1;
         index /= 2, count = (count + 1) / 2) {
        if (index == count - 1 && count % 2 == 1) continue;  // promoted unchanged
        const Hash256& sibling = proof.siblings[next_sibling++];
        node = index % 2 == 0 ? merkle_node_hash(node, sibling) : merkle_node_hash(sibling, node);
    }
    if (commit_count(proof.leaf_count, node) != root)
        return make_error(ErrorKind::malformed, "merkle-root-mismatch");
    return {};
}

}  // namespace learnchain::chain
