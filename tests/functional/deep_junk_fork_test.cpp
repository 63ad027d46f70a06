// A junk block forking deep below the tip and claiming the most work a block can carry: enough
// to outweigh the whole main chain. Every block of a candidate branch passes its parent-state-
// free checks, cheap certificate checks included, before anything is disconnected, so the
// node's tip never moves back, the sender is banned at once, and nothing is verified twice.
#include <algorithm>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, AJunkForkDeepBelowTheTipNeverRewindsTheNode) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint()});
    constexpr std::uint64_t depth = 20;
    ASSERT_TRUE(eventually([&] { return c.height() >= depth + 1; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually([&] { return converged({&a, &c}); }, 30s));
    const std::uint64_t height = c.height();
    const std::string tip = c.tip();

    // A block of junk `depth` blocks below the tip, outweighing the whole main chain.
    const chain::Block fork_point = c.block_at(height - depth);
    const std::uint64_t most = chain::max_block_work(genesis_.learning);
    ASSERT_GT(most, depth * genesis_.initial_work) << "the fork must outweigh the main chain";
    const chain::Block junk =
        forged_block(fork_point.header, most, chain::certificate_encoded_size(genesis_.learning),
                     4 * chain::model_parameter_count(genesis_.learning.model), 7);
    HostilePeer h;
    ASSERT_TRUE(h.join(c, "127.0.0.2"));
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(h.send(p2p::BlockMessage{junk}));

    // Watched all along: the tip never drops below where it was.
    std::uint64_t lowest = height;
    bool judged = false;
    while (!judged && std::chrono::steady_clock::now() < sent + 15s) {
        lowest = std::min(lowest, c.height());
        judged = is_banned(c, "127.0.0.2");
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - sent);
    EXPECT_TRUE(judged);
    EXPECT_EQ(lowest, height) << "the node disconnected blocks for a junk branch";
    EXPECT_LT(took, 5s) << "judged in " << took.count() << " ms";
    EXPECT_TRUE(h.raw.closed_within(5s));
    EXPECT_EQ(c.tip(), tip);

    // It goes on from there with the honest chain.
    ASSERT_TRUE(a.call("setmining", json::array({true})));
    EXPECT_TRUE(eventually([&] { return c.height() >= height + 2; }, 30s));
    EXPECT_FALSE(is_banned(c, "127.0.0.1"));
}

}  // namespace
}  // namespace learnchain::functional
