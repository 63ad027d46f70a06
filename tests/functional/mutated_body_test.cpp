// A mutated body: a peer serves an honest chain with one blob byte flipped in one block, under
// the same hash. The body does not match the commitments its hash covers, so its sender is
// punished and the header is not condemned: the node then syncs that very block from an honest
// peer, and bans nobody honest.
#include <map>

#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, AMutatedBodyPunishesItsSenderAndNeverTheHeader) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return a.height() >= 5; }, 30s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    const std::uint64_t height = a.height();

    std::vector<chain::BlockHeader> headers;
    std::map<chain::Hash256, chain::Block> bodies;
    for (std::uint64_t h = 1; h <= height; ++h) {
        chain::Block block = a.block_at(h);
        headers.push_back(block.header);
        bodies.emplace(block.hash(), std::move(block));
    }
    chain::Block& victim = bodies.at(headers[2].hash());  // height 3
    ASSERT_FALSE(victim.work_items.empty());
    ASSERT_FALSE(victim.work_items[0].blob.empty());
    victim.work_items[0].blob[victim.work_items[0].blob.size() / 2] ^= 0x01;
    ASSERT_EQ(victim.hash(), headers[2].hash()) << "the hash covers the header only";

    // C hears of A's chain from H alone, and H serves it mutated at height 3.
    Daemon& c = daemon("c");
    c.start({});
    HostilePeer h;
    ASSERT_TRUE(h.join(c, "127.0.0.2", chain::ChainWork(0, UINT64_MAX)));
    bool served_victim = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!served_victim && std::chrono::steady_clock::now() < deadline) {
        auto message = h.next(2s);
        if (!message) break;
        if (std::holds_alternative<p2p::GetHeadersMessage>(*message)) {
            ASSERT_TRUE(h.send(p2p::HeadersMessage{headers}));
        }
        if (const auto* getdata = std::get_if<p2p::GetDataMessage>(&*message))
            for (const auto& item : getdata->items)
                if (auto it = bodies.find(item.hash); it != bodies.end()) {
                    ASSERT_TRUE(h.send(p2p::BlockMessage{it->second}));
                    served_victim |= item.hash == victim.hash();
                }
    }
    ASSERT_TRUE(served_victim) << "C never asked for block 3";
    EXPECT_TRUE(h.raw.closed_within(10s));
    EXPECT_TRUE(eventually([&] { return is_banned(c, "127.0.0.2"); }, 10s));
    EXPECT_LT(c.height(), 3u);

    // The header stands: a restart (the verdict is durable) and an honest peer complete the
    // chain through that very block.
    EXPECT_EQ(c.terminate(), 0);
    c.start({"--connect=" + a.endpoint()});
    EXPECT_TRUE(eventually([&] { return c.height() == height; }, 30s))
        << "C stuck at " << c.height();
    EXPECT_TRUE(converged({&a, &c}));
    EXPECT_FALSE(is_banned(c, "127.0.0.1"));
    EXPECT_TRUE(banned(a).empty());
}

}  // namespace
}  // namespace learnchain::functional
