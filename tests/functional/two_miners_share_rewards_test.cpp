// A and B both mine: a block proposed by A carries B's certificates (B gossips its own
// contributions, A verifies and pools them), each block's reward is split by the work in it
// (consensus/PROTOCOL.md §L.6.6), and every node shows the same balances, which add up to one
// coin per block.
//
// D is four contributions here, so a miner's pool holds its first ones while the next is
// computed, and a peer's contribution that arrives meanwhile completes the block. The miners
// recompute a sample of the work they receive, as a miner racing for blocks would (C checks
// everything): under --verify all, B would spend as long checking A's block as A spends making
// the next one, and its contributions would always arrive a block late.
#include <map>
#include <set>
#include <string>

#include <learnchain/chain/amount.hpp>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, TwoMinersShareRewards) {
    edit_genesis({{"initial_work", 4 * genesis_.initial_work}});
    Daemon& a = daemon("a");
    a.start({"--mine", "--verify=sample:0.25"});
    Daemon& b = daemon("b");
    b.start({"--mine", "--verify=sample:0.25", "--connect=" + a.endpoint()});
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

    // Scanned on C, which only relays: a block there was proposed and accepted by the network.
    std::uint64_t scanned = 0;
    bool a_carried_b = false;
    ASSERT_TRUE(eventually(
        [&] {
            for (const std::uint64_t tip = c.height(); scanned < tip && !a_carried_b;) {
                const json block = block_at(++scanned);
                a_carried_b = block["proposer"] == address_a && workers(block).count(address_b);
            }
            return a_carried_b;
        },
        90s, 500ms))
        << "no block proposed by A with B's certificates in " << scanned << " blocks; A's miner "
        << a.must("getmininginfo").dump();
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
    std::uint64_t shared_blocks = 0, proposed_by_a_with_b = 0;
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
        if (tokens.size() > 1) ++shared_blocks;
        if (block["proposer"] == address_a && tokens.count(address_b)) ++proposed_by_a_with_b;
    }
    EXPECT_GE(proposed_by_a_with_b, 1u);  // the block found above stayed on the main chain
    EXPECT_GT(expected[address_a], 0u);
    EXPECT_GT(expected[address_b], 0u);
    EXPECT_EQ(expected[address_a] + expected[address_b], height * chain::coin);
    for (Daemon* node : {&a, &b, &c}) {
        EXPECT_EQ(balance(*node, address_a), expected[address_a]) << node->name();
        EXPECT_EQ(balance(*node, address_b), expected[address_b]) << node->name();
    }
    std::cerr << "height " << height << ": A earned " << chain::format_amount(expected[address_a])
              << ", B " << chain::format_amount(expected[address_b])
              << "; blocks with both miners' certificates: " << shared_blocks
              << ", proposed by A with B's: " << proposed_by_a_with_b << "\n";

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
