// Fraud proofs that do not hold: an honest micro-batch's evidence sent as proof against the
// block that carries it is judged (one micro-batch's recomputation) and bans its sender; an
// oversized one is refused unjudged and bans its sender too; a peer's proofs against blocks
// nobody has are kept only up to a per-peer bound. None changes the chain, and the node relays
// none to its other peers.
#include <learnchain/chain/encoding.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, AFraudProofThatDoesNotHoldBansItsSenderAndChangesNothing) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return a.height() >= 3; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    Daemon& b = daemon("b");
    b.start({"--connect=" + a.endpoint()});
    ASSERT_TRUE(eventually([&] { return b.height() == a.height(); }, 30s));
    const std::string tip = a.tip();
    const std::uint64_t height = a.height();

    const std::string target = a.must("getblockhash", json::array({2})).get<std::string>();
    const json evidence = a.must("getmicrobatchproof", json::array({target, 0, 0}));
    chain::FraudProof proof{chain::Hash256::from_hex(target).value(),
                            chain::from_hex(evidence["evidence"].get<std::string>()).value()};

    HostilePeer liar;
    ASSERT_TRUE(liar.join(a, "127.0.0.2"));
    ASSERT_TRUE(liar.send(p2p::FraudProofMessage{proof}));
    EXPECT_TRUE(liar.raw.closed_within(30s));
    EXPECT_TRUE(eventually([&] { return is_banned(a, "127.0.0.2"); }, 10s));
    const json refused = a.must("getblockchaininfo")["fraud_proofs"];
    EXPECT_EQ(refused["received"], 1);
    EXPECT_EQ(refused["refused"], 1);
    EXPECT_EQ(refused["proven"], 0);

    HostilePeer stuffer;
    ASSERT_TRUE(stuffer.join(a, "127.0.0.3"));
    proof.evidence.resize(chain::micro_batch_evidence_size(genesis_.learning) + 1);
    ASSERT_TRUE(stuffer.send(p2p::FraudProofMessage{proof}));
    EXPECT_TRUE(stuffer.raw.closed_within(10s));
    EXPECT_TRUE(eventually([&] { return is_banned(a, "127.0.0.3"); }, 10s));
    EXPECT_EQ(a.must("getblockchaininfo")["fraud_proofs"]["received"], 1) << "refused unjudged";

    // Proofs against blocks nobody has wait for their block, at most 8 of them per peer, so
    // that one peer cannot push out the proofs other peers are waiting on; none is judged.
    HostilePeer hoarder;
    ASSERT_TRUE(hoarder.join(a, "127.0.0.4"));
    for (std::uint8_t i = 0; i < 12; ++i) {
        chain::FraudProof unknown{chain::sha256(std::string(1, static_cast<char>(i))), {i}};
        ASSERT_TRUE(hoarder.send(p2p::FraudProofMessage{unknown}));
    }
    ASSERT_TRUE(hoarder.send(p2p::PingMessage{7}));
    const auto pong = hoarder.next(10s);
    ASSERT_TRUE(pong && std::holds_alternative<p2p::PongMessage>(*pong)) << "still served";
    EXPECT_EQ(a.must("getblockchaininfo")["fraud_proofs"]["received"], 1 + 8);
    EXPECT_FALSE(is_banned(a, "127.0.0.4"));

    // Nothing moved, and B never heard of any of these proofs.
    EXPECT_EQ(a.tip(), tip);
    EXPECT_EQ(a.height(), height);
    EXPECT_EQ(b.tip(), tip);
    EXPECT_EQ(b.must("getblockchaininfo")["fraud_proofs"]["received"], 0);
    EXPECT_TRUE(banned(b).empty());
    EXPECT_FALSE(is_banned(a, "127.0.0.1"));
}

}  // namespace
}  // namespace learnchain::functional
