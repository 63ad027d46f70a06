// Unrequested side-branch blocks of junk: blocks nobody asked for that add no work to the tip
// are dropped unstored, whatever their size, and cost their sender; the datadir does not grow
// with them, and the node keeps following the honest chain.
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, UnrequestedSideBlocksAreNotStored) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint()});
    ASSERT_TRUE(eventually([&] { return c.height() >= 4; }, 30s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually([&] { return converged({&a, &c}); }, 30s));
    const std::uint64_t disk_before = c.datadir_bytes();
    const auto index_before = c.must("getblockchaininfo")["block_index_size"].get<std::uint64_t>();

    // Six 4 MiB blocks forking below the tip, each claiming no more work than the branch it
    // replaces, sent unasked by six connections from one address (five reconnects).
    const chain::Block fork_point = c.block_at(c.height() - 2);
    constexpr std::size_t junk = 4 * 1024 * 1024;
    for (int i = 0; i < 6; ++i) {
        HostilePeer h;
        ASSERT_TRUE(h.join(c, "127.0.0.2"));
        const chain::Block block = forged_block(fork_point.header, 1, 1024, junk, 100 + i);
        ASSERT_TRUE(h.send(p2p::BlockMessage{block}));
        // Sent, then a ping answered: the block was read before we go on.
        ASSERT_TRUE(h.send(p2p::PingMessage{7}));
        for (int m = 0; m < 10; ++m) {
            auto message = h.next(10s);
            ASSERT_TRUE(message) << message.error().to_string();
            if (std::holds_alternative<p2p::PongMessage>(*message)) break;
        }
        EXPECT_GE(peer_score(c, "127.0.0.2").value_or(0), 5) << "an unrequested block is scored";
    }

    const json info = c.must("getblockchaininfo");
    EXPECT_EQ(info["block_index_size"].get<std::uint64_t>(), index_before);
    const std::uint64_t disk_after = c.datadir_bytes();
    EXPECT_LT(disk_after, disk_before + 1024 * 1024)
        << "datadir grew by " << (disk_after - disk_before) << " bytes for 24 MiB of junk";

    ASSERT_TRUE(a.call("setmining", json::array({true})));
    const std::uint64_t before = c.height();
    EXPECT_TRUE(eventually([&] { return c.height() >= before + 2; }, 30s));
}

}  // namespace
}  // namespace learnchain::functional
