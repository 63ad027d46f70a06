// A hostile peer: malformed frames, an oversized message, a wrong genesis and an invalid
// block. Each offender is dropped, the scoring ones banned, and the node keeps syncing.
#include <set>
#include <string>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "p2p/raw_peer.hpp"

namespace learnchain::functional {
namespace {

using chain::Hash256;

TEST_F(Functional, HostilePeerIsBannedAndSyncContinues) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint()});
    ASSERT_TRUE(eventually([&] { return c.height() >= 3; }, 60s));

    const p2p::Endpoint target{"127.0.0.1", c.port()};
    const std::uint32_t magic = p2p::network_magic(genesis_.chain_id);
    auto genesis_hash =
        Hash256::from_hex(c.must("getblockhash", json::array({0})).get<std::string>());
    ASSERT_TRUE(genesis_hash);
    const auto version = [&](const Hash256& genesis, std::uint64_t nonce) {
        p2p::VersionMessage v;
        v.genesis_hash = genesis;
        v.nonce = nonce;
        v.user_agent = "/hostile/";
        return v;
    };

    // Malformed: a frame too short to hold an envelope, after the handshake.
    p2p::testing::RawPeer garbage;
    ASSERT_TRUE(garbage.connect(target, "127.0.0.2"));
    ASSERT_TRUE(garbage.handshake(magic, version(*genesis_hash, 2), 5s));
    ASSERT_TRUE(garbage.send_bytes(std::vector<std::uint8_t>{1, 2, 3}));
    EXPECT_TRUE(garbage.closed_within(5s));

    // Oversized: before the handshake only 4 KiB frames are read.
    p2p::testing::RawPeer oversized;
    ASSERT_TRUE(oversized.connect(target, "127.0.0.3"));
    (void)oversized.send_bytes(std::vector<std::uint8_t>(64 * 1024, 0));
    EXPECT_TRUE(oversized.closed_within(5s));

    // Wrong genesis: dropped without a score (it may just be another chain's node).
    p2p::testing::RawPeer stranger;
    ASSERT_TRUE(stranger.connect(target, "127.0.0.4"));
    (void)stranger.handshake(magic, version(chain::sha256(std::string_view("other chain")), 4), 5s);
    EXPECT_TRUE(stranger.closed_within(5s));

    // An invalid block on C's tip: C's tip block moved one up, so its signature no longer holds.
    // (Unasked, a block that adds no work to the tip would not even be looked at.) A pauses so
    // that the tip holds still meanwhile.
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually([&] { return converged({&a, &c}); }, 30s));
    const json hex = c.must("getblock", json::array({c.tip(), 0}));
    auto bytes = chain::from_hex(hex.get<std::string>());
    ASSERT_TRUE(bytes);
    auto block = chain::decode<chain::Block>(*bytes);
    ASSERT_TRUE(block);
    block->header.parent = block->hash();
    block->header.height += 1;
    block->header.time += 1;
    p2p::testing::RawPeer liar;
    ASSERT_TRUE(liar.connect(target, "127.0.0.5"));
    ASSERT_TRUE(liar.handshake(magic, version(*genesis_hash, 5), 5s));
    ASSERT_TRUE(liar.send(magic, p2p::BlockMessage{*block}));
    EXPECT_TRUE(liar.closed_within(5s));

    std::set<std::string> banned;
    ASSERT_TRUE(eventually(
        [&] {
            banned.clear();
            for (const auto& entry : c.must("listbanned")) banned.insert(entry["address"]);
            return banned.size() >= 3;
        },
        10s));
    EXPECT_EQ(banned, (std::set<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.5"}));

    // A banned address cannot come back.
    p2p::testing::RawPeer again;
    if (again.connect(target, "127.0.0.5")) {
        EXPECT_TRUE(again.closed_within(5s));
    }

    // C still follows A.
    ASSERT_TRUE(a.call("setmining", json::array({true})));
    const std::uint64_t before = c.height();
    ASSERT_TRUE(eventually([&] { return c.height() >= before + 3; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually([&] { return converged({&a, &c}); }, 60s));
    EXPECT_EQ(c.must("getpeerinfo").size(), 1u);
}

}  // namespace
}  // namespace learnchain::functional
