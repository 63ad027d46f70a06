// The inference protocol's request, shared by the wallet (which pays for it) and the node
// (which serves it). A payment is a transfer to the node's key whose memo is
// inference_request_hash(request): the memo binds the coins to exactly one request, so a
// payment cannot be replayed for another prompt, other parameters, or on another chain.
// wallet/WALLET.md, "Inference protocol".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/hash.hpp>

namespace learnchain::chain {

struct InferenceRequest {
    std::string prompt;  // bytes as sent (UTF-8 from JSON)
    std::uint32_t max_tokens = 16;
    double temperature = 0.0;  // encoded as its IEEE-754 bits: the hash never rounds
    std::uint32_t top_k = 0;
    std::uint64_t seed = 0;
    std::uint32_t chain_id = 0;

    // Canonical encoding (consensus/PROTOCOL.md §P.3): u32 n + prompt bytes, u32 max_tokens,
    // u64 temperature bits, u32 top_k, u64 seed, u32 chain_id, all little-endian.
    template <class Archive>
    void serialize(Archive& ar) {
        ar(prompt, max_tokens, temperature, top_k, seed, chain_id);
    }
};

// H_{learnchain/infer-request}(canonical encoding): the payment's 32-byte memo.
[[nodiscard]] inline Hash256 inference_request_hash(const InferenceRequest& request) {
    return tagged_hash(tag::inference_request, encode(request));
}

[[nodiscard]] inline std::vector<std::uint8_t> inference_memo(const InferenceRequest& request) {
    const Hash256 hash = inference_request_hash(request);
    return {hash.bytes().begin(), hash.bytes().end()};
}

}  // namespace learnchain::chain
