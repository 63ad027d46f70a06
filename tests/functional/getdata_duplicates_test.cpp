// getdata abuse: one request naming one block 4,000 times is served once, as the socket drains,
// within a memory bound; a request for more blocks than one request may name costs the sender.
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

// Sends `request`, then pings twice: the block messages received before the second pong (the
// node serves a getdata before it reads the next message, and what waits for the socket to
// drain goes out before the next pong's turn comes), or -1 if the connection failed.
int blocks_served(HostilePeer& peer, const p2p::Message& request) {
    if (!peer.send(request)) return -1;
    int blocks = 0;
    for (std::uint64_t nonce : {1, 2}) {
        if (!peer.send(p2p::PingMessage{nonce})) return -1;
        for (;;) {
            auto message = peer.next(10s);
            if (!message) return -1;
            if (const auto* pong = std::get_if<p2p::PongMessage>(&*message);
                pong && pong->nonce == nonce)
                break;
            blocks += std::holds_alternative<p2p::BlockMessage>(*message) ? 1 : 0;
        }
    }
    return blocks;
}

TEST_F(Functional, DuplicateGetdataIsServedOnceWithinBounds) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return a.height() >= 18; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    const std::uint64_t rss_before = a.rss_bytes();

    const auto block_hash = [&](std::uint64_t h) {
        return *chain::Hash256::from_hex(
            a.must("getblockhash", json::array({h})).get<std::string>());
    };
    HostilePeer h;
    ASSERT_TRUE(h.join(a, "127.0.0.2"));
    p2p::GetDataMessage duplicates;
    duplicates.items.assign(4000, p2p::InvItem{p2p::InvType::block, block_hash(a.height())});
    EXPECT_EQ(blocks_served(h, duplicates), 1);
    const std::uint64_t rss_after = a.rss_bytes();
    EXPECT_LT(rss_after, rss_before + 32 * 1024 * 1024) << "RSS grew by more than 32 MiB";
    EXPECT_EQ(peer_score(a, "127.0.0.2").value_or(-1), 0) << "duplicates alone are not abuse";

    // 17 distinct blocks: one more than a request may name. Scored, and served no more than 16.
    p2p::GetDataMessage many;
    for (std::uint64_t height = 1; height <= 17; ++height)
        many.items.push_back({p2p::InvType::block, block_hash(height)});
    const int served = blocks_served(h, many);
    EXPECT_GE(served, 0);
    EXPECT_LE(served, 16);
    EXPECT_GE(peer_score(a, "127.0.0.2").value_or(0), 10);
}

}  // namespace
}  // namespace learnchain::functional
