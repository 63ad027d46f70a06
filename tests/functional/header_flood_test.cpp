// A header flood: thousands of signed sibling headers from one peer. Headers whose chain cannot
// beat the tip are neither stored nor checked, and cost their sender; headers that could beat
// it are stored a few branches per peer, the rest cost the sender more. The node stores almost
// nothing, bans the flooder and keeps following the honest chain, within memory bounds.
#include <learnchain/chain/genesis.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

// Sends up to `count` siblings of `tip` (on its parent), one headers message each, until the
// node closes the connection: how many it took.
int flood(HostilePeer& peer, const chain::BlockHeader& parent, std::uint64_t work, int count) {
    for (int i = 0; i < count; ++i) {
        // Each a different time, so a different hash.
        if (!peer.send(p2p::HeadersMessage{{forged_header(parent, work, 1 + i)}})) return i;
    }
    return count;
}

TEST_F(Functional, AHeaderFloodIsDiscardedAndItsSenderBanned) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint()});
    ASSERT_TRUE(eventually([&] { return c.height() >= 3; }, 30s));
    // A pauses, so that every header C holds without a body is the flooders'.
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually([&] { return converged({&a, &c}); }, 30s));
    const auto index_before = c.must("getblockchaininfo")["block_index_size"].get<std::uint64_t>();
    const std::uint64_t rss_before = c.rss_bytes();

    // 4,000 zero-work siblings of the tip: they cannot beat it.
    const chain::Block tip = c.block(c.tip());
    const chain::Block parent = c.block(tip.header.parent.hex());
    HostilePeer zero;
    ASSERT_TRUE(zero.join(c, "127.0.0.2"));
    (void)flood(zero, parent.header, 0, 4000);
    EXPECT_TRUE(zero.raw.closed_within(10s));
    EXPECT_TRUE(eventually([&] { return is_banned(c, "127.0.0.2"); }, 10s));

    // 4,000 siblings each claiming the most a block can carry: each could beat the tip, so a
    // few are stored (and their bodies asked for); the rest are a flood.
    const std::uint64_t most = chain::max_block_work(genesis_.learning);
    HostilePeer heavy;
    ASSERT_TRUE(heavy.join(c, "127.0.0.3"));
    (void)flood(heavy, parent.header, most, 4000);
    EXPECT_TRUE(heavy.raw.closed_within(10s));
    EXPECT_TRUE(eventually([&] { return is_banned(c, "127.0.0.3"); }, 10s));

    // At most the 8 branches one peer may hold.
    const json info = c.must("getblockchaininfo");
    EXPECT_LE(info["headers_without_body"].get<std::uint64_t>(), 8u);
    EXPECT_LE(info["block_index_size"].get<std::uint64_t>(), index_before + 8);
    EXPECT_LT(c.rss_bytes(), rss_before + 64 * 1024 * 1024) << "RSS grew by more than 64 MiB";

    // The honest chain goes on, and A is nobody's suspect.
    ASSERT_TRUE(a.call("setmining", json::array({true})));
    const std::uint64_t before = c.height();
    EXPECT_TRUE(eventually([&] { return c.height() >= before + 3; }, 30s));
    EXPECT_FALSE(is_banned(c, "127.0.0.1"));
}

}  // namespace
}  // namespace learnchain::functional
