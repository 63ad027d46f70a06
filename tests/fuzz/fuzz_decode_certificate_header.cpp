// Certificate headers arrive alone in micro-batch evidence (a fraud proof's header): decode,
// re-encode exactly, and derive what a checker derives (sighash, seed, signature check).
// Links the torch-free consensus library.
#include <cstdlib>

#include <learnchain/consensus/certificate.hpp>

#include "fuzz/fuzz_decode_chain_objects.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::consensus;
    const std::span<const std::uint8_t> input(data, size);
    auto header = decode_certificate_header(input);
    if (header.ok() != (size == certificate_header_size)) std::abort();  // fixed size
    fuzz_decode_canonical<CertificateHeader>(input, [](const CertificateHeader& h) {
        (void)h.sighash();
        (void)h.seed();
        (void)h.signature_valid();
        (void)h.describe();
    });
    return 0;
}
