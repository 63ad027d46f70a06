// A and B both mine and C follows, every node sampling what it verifies (the default): every
// block carries both miners' certificates (each gossips its own contributions, the other
// recomputes one micro-batch of each and pools them), each block's reward is split by the work
// in it (consensus/PROTOCOL.md §L.6.6), and every node shows the same balances, which add up to
// one coin per block.
//
// D is sixteen contributions and a worker may put sixteen in a block, so a lone miner could
// make blocks alone (§L.6.2), but it takes sixteen contribution times to; a peer's contribution
// reaches it in about one and a sample (compute it, check one micro-batch of it). The margin
// is a ratio of contribution times, so it holds on a slow or loaded machine. A node that
// recomputed every certificate it pools would spend as long checking the other's work as
// computing its own, and its blocks would carry fewer of the other's contributions.
#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <learnchain/chain/amount.hpp>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, TwoMinersShareRewards) {
    // Sixteen micro-batches a contribution: a miner's sample of two is an eighth of the work
    // (with the test genesis's two, sampling would recompute everything).
    constexpr std::uint32_t contributions_per_block = 16, micro_batches = 16;
    edit_genesis(
        {{"initial_work", contributions_per_block * micro_batches *
                              genesis_.learning.micro_batch_size * genesis_.learning.model.context},
         {"learning",
          {{"max_per_worker", contributions_per_block}, {"micro_batches", micro_batches}}}});
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& b = daemon("b");
    b.start({"--mine", "--connect=" + a.endpoint()});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint(), "--connect=" + b.endpoint()});
    ASSERT_TRUE(eventually([&] { return a.must("getpeerinfo").size() == 2; }, 30s));
    ASSERT_TRUE(eventually([&] { return b.must("getpeerinfo").size() == 2; }, 30s));
    // Blocks on a parent made after both were connected: the one in progress then may hold
    // only its proposer's work, every later one must hold both.
    const std::uint64_t first = std::max(a.height(), b.height()) + 2;
    const std::string address_a = mining_address(a);
    const std::string address_b = mining_address(b);
    ASSERT_NE(address_a, address_b);
    // Spendable and immature: the rewards of the last reward_maturity blocks are not spendable.
    const auto balance = [](Daemon& node, const std::string& address) {
        auto account = node.call("getaccount", json::array({address}));
        return account ? (*account)["balance_units"].get<std::uint64_t>() +
                             (*account)["immature_units"].get<std::uint64_t>()
                       : 0;
    };
    const auto block_at = [&](std::uint64_t h) {
        return c.must("getblock", json::array({c.must("getblockhash", json::array({h})), 1}));
    };
    const auto workers = [](const json& block) {
        std::set<std::string> out;
        for (const auto& certificate : block["certificates"]) out.insert(certificate["worker"]);
        return out;
    };

    const auto carries_both = [&](const json& block) {
        const auto in_it = workers(block);
        return in_it.count(address_a) == 1 && in_it.count(address_b) == 1;
    };

    // Scanned on C, which only relays: a block there was proposed and accepted by the network.
    constexpr std::uint64_t blocks = 6;
    ASSERT_TRUE(eventually([&] { return c.height() >= first + blocks - 1; }, 120s))
        << "C at " << c.height() << "; A's miner " << a.must("getmininginfo").dump()
        << "; B's miner " << b.must("getmininginfo").dump();
    // Both pools fill with the same contributions, so both miners could propose at once (the
    // miner's proposal_grace is what keeps the second from it); when each then stays on its own
    // block (first seen wins ties), the next block carries only the work done on its parent.
    // Such a race leaves a stale branch on some node.
    std::set<std::uint64_t> raced;  // heights where a stale sibling of the main chain exists
    for (Daemon* node : {&a, &b, &c})
        for (const auto& tip : node->must("getchaintips")) {
            const auto height = tip["height"].get<std::uint64_t>();
            for (auto h = height - tip["branchlen"].get<std::uint64_t>() + 1; h <= height; ++h)
                raced.insert(h);
        }
    std::uint64_t with_both = 0;
    for (std::uint64_t h = first; h < first + blocks; ++h) {
        const json block = block_at(h);
        if (carries_both(block)) {
            ++with_both;
            continue;
        }
        EXPECT_TRUE(raced.contains(h - 1))
            << "block " << h << " proposed by " << block["proposer"] << " carries only "
            << *workers(block).begin() << ", and its parent had no rival";
    }
    EXPECT_GE(with_both, blocks / 2) << "races at heights " << json(raced).dump();
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
        if (carries_both(block)) ++shared_blocks;
    }
    EXPECT_GE(shared_blocks, blocks);
    EXPECT_GT(expected[address_a], 0u);
    EXPECT_GT(expected[address_b], 0u);
    EXPECT_EQ(expected[address_a] + expected[address_b], height * chain::coin);
    for (Daemon* node : {&a, &b, &c}) {
        EXPECT_EQ(balance(*node, address_a), expected[address_a]) << node->name();
        EXPECT_EQ(balance(*node, address_b), expected[address_b]) << node->name();
    }
    // Every reward is younger than reward_maturity blocks: none is spendable yet.
    ASSERT_LT(height, genesis_.reward_maturity);
    for (const auto& address : {address_a, address_b})
        EXPECT_EQ(a.must("getaccount", json::array({address}))["balance_units"], 0) << address;
    std::cerr << "height " << height << ": A earned " << chain::format_amount(expected[address_a])
              << ", B " << chain::format_amount(expected[address_b])
              << "; blocks with both miners' certificates: " << shared_blocks << " of " << height
              << "; heights with a stale sibling: " << json(raced).dump() << "\n";

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
