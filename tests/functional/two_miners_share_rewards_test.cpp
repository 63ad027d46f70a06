// A and B both mine: a block proposed by one carries the other's certificates (each gossips its
// own contributions, the other verifies and pools them), each block's reward is split by the work
// in it (consensus/PROTOCOL.md §L.6.6), and every node shows the same balances, which add up to
// one coin per block.
//
// D is sixteen contributions and a worker may put sixteen in a block, so a lone miner still makes
// blocks (§L.6.2), but it takes sixteen contribution times to; a peer's contribution reaches it in
// about three (verify the parent block, compute one, be verified). The margin is a ratio of
// contribution times, so it holds on a slow or loaded machine. With D at four a lone miner's
// block and a peer's contribution take about as long, and under load one miner can make every
// block alone while each of the other's contributions arrives for a parent already left. The
// miners recompute a sample of the work they receive, as a miner racing for blocks would (C
// checks everything).
#include <map>
#include <set>
#include <string>

#include <learnchain/chain/amount.hpp>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, TwoMinersShareRewards) {
    constexpr std::uint32_t contributions_per_block = 16;
    edit_genesis({{"initial_work", contributions_per_block * genesis_.initial_work},
                  {"learning", {{"max_per_worker", contributions_per_block}}}});
    Daemon& a = daemon("a");
    a.start({"--mine", "--verify=sample"});
    Daemon& b = daemon("b");
    b.start({"--mine", "--verify=sample", "--connect=" + a.endpoint()});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint(), "--connect=" + b.endpoint()});
    const std::string address_a = mining_address(a);
    const std::string address_b = mining_address(b);
    ASSERT_NE(address_a, address_b);
    const auto balance = [](Daemon& node, const std::string& address) {
        auto account = node.call("getaccount", json::array({address}));
        return account ? (*account)["balance_units"].get<std::uint64_t>() : 0;
    };
    const auto block_at = [&](std::uint64_t h) {
        return c.must("getblock", json::array({c.must("getblockhash", json::array({h})), 1}));
    };
    const auto workers = [](const json& block) {
        std::set<std::string> out;
        for (const auto& certificate : block["certificates"]) out.insert(certificate["worker"]);
        return out;
    };

    const auto carries_the_other = [&](const json& block) {
        const auto in_it = workers(block);
        return (block["proposer"] == address_a && in_it.count(address_b)) ||
               (block["proposer"] == address_b && in_it.count(address_a));
    };

    // Scanned on C, which only relays: a block there was proposed and accepted by the network.
    std::uint64_t scanned = 0;
    bool shared = false;
    ASSERT_TRUE(eventually(
        [&] {
            for (const std::uint64_t tip = c.height(); scanned < tip && !shared;)
                shared = carries_the_other(block_at(++scanned));
            return shared;
        },
        90s, 500ms))
        << "no block of one miner with the other's certificates in " << scanned
        << " blocks; A's miner " << a.must("getmininginfo").dump() << "; B's miner "
        << b.must("getmininginfo").dump();
    // B stops first, and A only once it is ahead of everything B made: two miners stopped at
    // once may leave two tips of equal work, which stay apart (first seen wins ties).
    ASSERT_TRUE(b.call("setmining", json::array({false})));
    const std::uint64_t b_stopped_at = b.height();
    ASSERT_TRUE(eventually([&] { return a.height() > b_stopped_at + 1; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, &b, &c});
        },
        60s))
        << "heights " << a.height() << " " << b.height() << " " << c.height();

    // The expected balances, from the main chain's certificates: each worker gets
    // floor(coin * tokens / total), the proposer the remainder (there are no fees).
    const std::uint64_t height = a.height();
    std::map<std::string, std::uint64_t> expected;
    std::uint64_t shared_blocks = 0;
    for (std::uint64_t h = 1; h <= height; ++h) {
        const json block = block_at(h);
        std::map<std::string, std::uint64_t> tokens;
        std::uint64_t total = 0;
        for (const auto& certificate : block["certificates"]) {
            tokens[certificate["worker"]] += certificate["tokens"].get<std::uint64_t>();
            total += certificate["tokens"].get<std::uint64_t>();
        }
        ASSERT_GT(total, 0u);
        std::uint64_t paid = 0;
        for (const auto& [worker, t] : tokens) {
            const std::uint64_t share = chain::coin * t / total;  // small: no 128 bits needed
            expected[worker] += share;
            paid += share;
        }
        expected[block["proposer"]] += chain::coin - paid;
        if (carries_the_other(block)) ++shared_blocks;
    }
    EXPECT_GE(shared_blocks, 1u);
    EXPECT_GT(expected[address_a], 0u);
    EXPECT_GT(expected[address_b], 0u);
    EXPECT_EQ(expected[address_a] + expected[address_b], height * chain::coin);
    for (Daemon* node : {&a, &b, &c}) {
        EXPECT_EQ(balance(*node, address_a), expected[address_a]) << node->name();
        EXPECT_EQ(balance(*node, address_b), expected[address_b]) << node->name();
    }
    std::cerr << "height " << height << ": A earned " << chain::format_amount(expected[address_a])
              << ", B " << chain::format_amount(expected[address_b])
              << "; blocks of one miner with the other's certificates: " << shared_blocks << "\n";

    // Redirecting rewards at run time: a bad address changes nothing, a good one shows.
    auto refused = a.call("setmining", json::array({true, "lrn1notanaddress"}));
    ASSERT_FALSE(refused.ok());
    EXPECT_FALSE(a.must("getmininginfo")["mining"].get<bool>());
    EXPECT_FALSE(a.must("getmininginfo").contains("mine_to"));
    ASSERT_TRUE(a.call("setmining", json::array({false, address_b})));
    EXPECT_EQ(a.must("getmininginfo")["mine_to"], address_b);
}

}  // namespace
}  // namespace learnchain::functional
