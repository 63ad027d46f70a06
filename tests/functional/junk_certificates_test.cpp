// Junk certificates sent to a miner: a work item of any other size than the chain's is refused
// unread and bans its sender; one of the right size that fails the cheap checks bans its sender
// too, and neither is kept. The miner's memory stays bounded and it keeps mining.
#include <learnchain/chain/genesis.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, JunkCertificatesAreRefusedAndTheirSendersBanned) {
    Daemon& m = daemon("m");
    m.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return m.height() >= 2; }, 30s));
    const std::uint64_t rss_before = m.rss_bytes();
    const auto& params = genesis_.learning;
    const std::size_t certificate = chain::certificate_encoded_size(params);
    const std::size_t blob = 4 * chain::model_parameter_count(params.model);

    // Oversized: 16 MiB of blob, refused on its size.
    HostilePeer big;
    ASSERT_TRUE(big.join(m, "127.0.0.2"));
    ASSERT_TRUE(big.send(p2p::WorkItemMessage{junk_work_item(certificate, 16 * 1024 * 1024, 1)}));
    EXPECT_TRUE(big.raw.closed_within(10s));
    EXPECT_TRUE(eventually([&] { return is_banned(m, "127.0.0.2"); }, 5s));

    // The right size, random bytes: fails decoding, a cheap check.
    HostilePeer junk;
    ASSERT_TRUE(junk.join(m, "127.0.0.3"));
    for (int i = 0; i < 64; ++i)
        if (!junk.send(p2p::WorkItemMessage{junk_work_item(certificate, blob, 10 + i)})) break;
    EXPECT_TRUE(junk.raw.closed_within(10s));
    EXPECT_TRUE(eventually([&] { return is_banned(m, "127.0.0.3"); }, 5s));

    EXPECT_LT(m.rss_bytes(), rss_before + 64 * 1024 * 1024) << "RSS grew by more than 64 MiB";
    const json mining = m.must("getmininginfo");
    const std::uint64_t before = m.height();
    EXPECT_TRUE(eventually([&] { return m.height() >= before + 2; }, 30s)) << mining.dump();
}

}  // namespace
}  // namespace learnchain::functional
