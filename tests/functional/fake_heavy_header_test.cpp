// A header that claims work it does not carry: claiming more than any block can carry is
// refused outright and bans its sender; claiming the most a block can carry and never sending
// the body holds up only its sender. The node keeps syncing the honest chain, keeps announcing
// its tip, and scores the staller.
#include <learnchain/chain/genesis.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, AFakeHeavyHeaderNeitherStallsNorSilencesTheNode) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint(), "--block-timeout=2"});
    ASSERT_TRUE(eventually([&] { return c.height() >= 3; }, 30s));
    const chain::ChainWork huge(UINT64_MAX, UINT64_MAX);

    // 2^64 - 1 tokens on the tip: more than any block can carry, refused with the header alone.
    HostilePeer liar;
    ASSERT_TRUE(liar.join(c, "127.0.0.2", huge));
    const chain::Block tip = c.block(c.tip());
    ASSERT_TRUE(liar.send(p2p::HeadersMessage{{forged_header(tip.header, UINT64_MAX)}}));
    EXPECT_TRUE(liar.raw.closed_within(5s));
    EXPECT_TRUE(eventually([&] { return is_banned(c, "127.0.0.2"); }, 5s));

    // The most a block can carry, whose body never comes.
    const std::uint64_t most = chain::max_block_work(genesis_.learning);
    HostilePeer staller;
    ASSERT_TRUE(staller.join(c, "127.0.0.3", huge));
    const chain::Block now = c.block(c.tip());
    const chain::BlockHeader fake = forged_header(now.header, most);
    ASSERT_TRUE(staller.send(p2p::HeadersMessage{{fake}}));
    // It is asked for the body (claimed work orders downloads) and sends nothing.
    bool asked = false;
    for (int i = 0; i < 20 && !asked; ++i) {
        auto message = staller.next(3s);
        ASSERT_TRUE(message) << message.error().to_string();
        if (const auto* getdata = std::get_if<p2p::GetDataMessage>(&*message))
            for (const auto& item : getdata->items) asked |= item.hash == fake.hash();
    }
    EXPECT_TRUE(asked);

    // An honest peer of C's hears of C's new blocks all the while.
    HostilePeer observer;
    ASSERT_TRUE(observer.join(c, "127.0.0.4"));
    const std::uint64_t before = c.height();
    bool announced = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!announced) {
        auto message = observer.next(std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
        if (!message) break;
        if (const auto* inv = std::get_if<p2p::InvMessage>(&*message))
            for (const auto& item : inv->items) announced |= item.type == p2p::InvType::block;
    }
    EXPECT_TRUE(announced) << "C stopped announcing its tip";
    EXPECT_TRUE(eventually([&] { return c.height() >= before + 3; }, 20s))
        << "C stopped following the honest chain at " << c.height();
    EXPECT_FALSE(c.must("getblockchaininfo")["initial_block_download"].get<bool>());
    // The staller was scored for it.
    EXPECT_TRUE(eventually(
        [&] {
            const auto score = peer_score(c, "127.0.0.3");
            return score ? *score >= 20 : true;  // scored, or already dropped for stalling
        },
        10s));
    EXPECT_FALSE(is_banned(c, "127.0.0.1"));
}

}  // namespace
}  // namespace learnchain::functional
