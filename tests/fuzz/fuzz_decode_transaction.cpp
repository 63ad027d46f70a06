// Transactions arrive from peers and RPC: decode, re-encode, and run the context-free checks.
#include <learnchain/chain/transaction.hpp>

#include "fuzz/fuzz_decode_chain_objects.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::chain;
    fuzz_decode_canonical<Transaction>(std::span(data, size), [](const Transaction& tx) {
        (void)tx.txid();
        (void)check_transaction_context_free(tx, 1);
    });
    return 0;
}
