// A relay between a hostile peer and a miner: the relay runs the cheap checks before handing a
// certificate on, so junk stops at the relay, its originator is banned there, and the miner
// never sees it and bans nobody (it used to ban the honest relay for 24 h).
#include <learnchain/chain/genesis.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, ARelayForwardsNoJunkCertificateAndTheMinerBansNobody) {
    Daemon& m = daemon("m");
    m.start({"--mine"});
    Daemon& r = daemon("r");
    r.start({"--connect=" + m.endpoint()});
    ASSERT_TRUE(eventually([&] { return r.height() >= 2; }, 30s));

    // Right-sized junk: it fails decoding, a cheap check.
    const auto& params = genesis_.learning;
    const chain::WorkItem junk = junk_work_item(chain::certificate_encoded_size(params),
                                                4 * chain::model_parameter_count(params.model), 3);
    HostilePeer h;
    ASSERT_TRUE(h.join(r, "127.0.0.2"));
    ASSERT_TRUE(h.send(p2p::WorkItemMessage{junk}));
    EXPECT_TRUE(h.raw.closed_within(10s));
    EXPECT_TRUE(eventually([&] { return is_banned(r, "127.0.0.2"); }, 10s));

    // The miner: still connected to the relay, nobody banned, nothing received from it.
    const std::uint64_t before = m.height();
    ASSERT_TRUE(eventually([&] { return m.height() >= before + 2; }, 30s));
    EXPECT_TRUE(banned(m).empty());
    EXPECT_EQ(m.must("getpeerinfo").size(), 1u);
    EXPECT_EQ(m.must("getmininginfo")["received"].get<std::uint64_t>(), 0u);
    EXPECT_EQ(peer_score(m, "127.0.0.1").value_or(-1), 0);
}

}  // namespace
}  // namespace learnchain::functional
