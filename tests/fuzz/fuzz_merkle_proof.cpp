// Decodes a Merkle proof (and a leaf and root) from arbitrary bytes and verifies it: must
// never crash, loop without bound, or accept a proof for a root it was not built from.
#include <cstdlib>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/merkle.hpp>

namespace {
using namespace learnchain::chain;

struct ProofCase {
    Hash256 root;
    Hash256 leaf;
    MerkleProof proof;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(root, leaf, proof);
    }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto decoded = decode<ProofCase>(std::span(data, size));
    if (!decoded.ok()) return 0;
    const auto& c = *decoded;
    const learnchain::Status verdict = merkle_verify(c.root, c.leaf, c.proof);
    // A root can only be matched by hashing: an accepted proof over the all-zero root (the
    // empty tree) would mean the verifier skipped its final comparison.
    if (verdict.ok() && c.root.is_zero()) std::abort();
    // Proofs the prover builds for small trees always verify against their own root.
    if (c.proof.leaf_count > 0 && c.proof.leaf_count <= 64) {
        std::vector<Hash256> leaves(c.proof.leaf_count, c.leaf);
        for (std::size_t i = 0; i < leaves.size(); ++i) leaves[i].bytes()[0] ^= std::uint8_t(i);
        const auto index = c.proof.leaf_index % c.proof.leaf_count;
        auto proof = merkle_prove(leaves, index);
        if (!proof.ok() || !merkle_verify(merkle_root(leaves), leaves[index], *proof).ok())
            std::abort();
    }
    return 0;
}
