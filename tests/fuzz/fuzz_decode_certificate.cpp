// Certificates and gradient blobs arrive from peers (gossip and blocks): decode, re-encode, and
// derive everything the cheap checks derive before any signature is checked (root, sighash,
// Merkle root, credited work). Links the torch-free consensus library.
#include <learnchain/consensus/certificate.hpp>

#include "fuzz/fuzz_decode_chain_objects.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::consensus;
    const std::span<const std::uint8_t> input(data, size);
    if (auto cert = decode_certificate(input); cert.ok()) {
        const auto again = encode_certificate(*cert);
        if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
        (void)cert->root();
        (void)cert->sighash();
        (void)cert->compute_merkle_root();
        (void)cert->describe();
        std::uint64_t total = 0;
        for (const auto& credit : credited_work(*cert)) total += credit.tokens;
        if (total != cert->tokens) std::abort();
    }
    // The same bytes as a blob: the right size decodes and re-encodes exactly, any other fails.
    const std::uint64_t parameters = size / 4;
    auto blob = decode_blob(input, parameters);
    if (blob.ok() != (size % 4 == 0)) std::abort();
    if (blob.ok()) {
        const auto again = encode_blob(*blob);
        if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
        (void)gradient_hash(input);
    }
    return 0;
}
