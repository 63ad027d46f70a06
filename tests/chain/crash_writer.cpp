// Writer process for crash_test: opens a store and keeps connecting blocks, with reorgs and
// invalid branches among them, until killed (crash_test sends SIGKILL at random moments).
//
// usage: chain_crash_writer <dir> <seed> [max_blocks]
// The sequence is deterministic given the seed and the tip the store reopened at.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include <learnchain/chain/log.hpp>
#include <learnchain/chain/store.hpp>

#include "chain/store_test_support.hpp"

using namespace learnchain::chain;
using namespace learnchain::chain::testing;

namespace {

constexpr std::uint8_t senders = 6;

std::vector<Transaction> random_transfers(std::mt19937_64& rng, const ForkBuilder& builder,
                                          const Hash256& parent) {
    std::vector<Transaction> txs;
    AccountState state = builder.state_after(parent);
    const std::size_t count = rng() % 5;
    for (std::size_t i = 0; i < count; ++i) {
        const auto from = static_cast<std::uint8_t>(1 + rng() % senders);
        const auto to = static_cast<std::uint8_t>(1 + rng() % senders);
        const Account account = state.get(test_key(from).public_key());
        auto tx = make_transfer(builder.genesis, test_key(from), test_key(to).public_key(),
                                1000 + rng() % 100'000, rng() % 500, account.nonce);
        if (!state.apply_transaction(tx)) continue;
        txs.push_back(std::move(tx));
    }
    return txs;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s <dir> <seed> [max_blocks]\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const std::uint64_t seed = std::strtoull(argv[2], nullptr, 10);
    const std::uint64_t max_blocks = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : UINT64_MAX;
    (void)learnchain::log::set_level("error");

    PersistentTestEngine engine;
    ForkBuilder builder(store_test_genesis(senders));
    auto opened = ChainStore::open({dir}, builder.genesis, engine);
    if (!opened) {
        std::fprintf(stderr, "open: %s\n", opened.error().to_string().c_str());
        return 1;
    }
    ChainStore& store = **opened;
    for (std::uint64_t h = 1; h <= store.height(); ++h)
        builder.learn_header(*store.header(*store.hash_at(h)));
    builder.learn_state(store.tip().hash, store.state(), engine.model_root());

    std::mt19937_64 rng(seed * 1'000'003 + store.height());
    const std::uint64_t now = builder.now();
    auto accept = [&](const Block& block) {
        auto result = store.accept_block(block, now);
        if (!result && result.error().reason.rfind("store-", 0) == 0) {
            std::fprintf(stderr, "store failure: %s\n", result.error().to_string().c_str());
            std::exit(1);
        }
        return result.ok();
    };

    for (std::uint64_t made = 0; made < max_blocks;) {
        const Hash256 tip = store.tip().hash;
        const auto kind = rng() % 10;
        // Fork points need a known state: blocks built by this run, or the tip it began at.
        std::uint64_t depth = 1 + rng() % 6;
        Hash256 fork = tip;
        for (std::uint64_t d = 0; d < depth && store.height() > d; ++d) {
            const Hash256 below = *store.hash_at(store.height() - d - 1);
            if (!builder.knows_state(below)) break;
            fork = below;
        }
        if (kind < 6 || fork == tip) {
            (void)accept(
                builder.build(tip, random_transfers(rng, builder, tip), BuildOptions{rng() % 32}));
            ++made;
        } else if (kind < 9) {
            // A heavier branch from `fork`: reorganises once its work passes the tip's.
            Hash256 parent = fork;
            const std::uint64_t length =
                store.height() - store.record(fork)->entry.header.height + 1;
            for (std::uint64_t i = 0; i < length; ++i) {
                const Block block = builder.build(parent, random_transfers(rng, builder, parent),
                                                  BuildOptions{32 + rng() % 32, 8});
                (void)accept(block);
                parent = block.hash();
                ++made;
            }
        } else {
            // A heavy branch whose second block is invalid: the store must fall back.
            const Block good =
                builder.build(fork, random_transfers(rng, builder, fork), BuildOptions{0, 8});
            const Block bad =
                builder.build(good.hash(), {}, BuildOptions{100'000, 8, 9, false, true});
            (void)accept(good);
            (void)accept(bad);
            made += 2;
        }
    }
    return 0;
}
