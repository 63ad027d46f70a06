// What the chain store reads back from RocksDB: accounts (with their immature rewards), undo
// records and the fraud proofs kept for judgment. Decode, re-encode, and use each the way the
// store does (an account set into a state, hashed into a leaf and matured; an undo journal
// replayed), so that a damaged database fails cleanly instead of crashing the node.
#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/chain/work.hpp>

#include "fuzz/fuzz_decode_chain_objects.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::chain;
    const std::span input(data, size);
    const PublicKey key(std::array<std::uint8_t, PublicKey::size>{1});
    fuzz_decode_canonical<Account>(input, [&](const Account& account) {
        AccountState state;
        state.set(key, account);
        (void)account_leaf_hash(key, account);
        (void)state.accounts_root();
        if (!account.immature.empty()) state.mature(account.immature.front().height);
        state.mature(UINT64_MAX);
    });
    fuzz_decode_canonical<BlockUndo>(input, [](const BlockUndo& undo) {
        AccountState state;
        state.undo(undo.accounts);
        (void)state.accounts_root();
    });
    fuzz_decode_canonical<FraudProof>(input, [](const FraudProof&) {});
    return 0;
}
