// Blocks and headers arrive from peers: decode either, re-encode, and run the checks that
// need nothing but the bytes (sizes, roots, signatures).
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/validation.hpp>

#include "fuzz/fuzz_decode_chain_objects.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::chain;
    static const Genesis genesis = [] {
        Genesis g;
        g.name = "fuzz";
        g.chain_id = 1;
        return g;
    }();
    const std::span<const std::uint8_t> input(data, size);
    fuzz_decode_canonical<BlockHeader>(input, [](const BlockHeader& header) {
        (void)header.hash();
        (void)header.signature_valid();
    });
    fuzz_decode_canonical<Block>(input, [](const Block& block) {
        (void)block.hash();
        (void)check_block_context_free(block, genesis);
    });
    return 0;
}
