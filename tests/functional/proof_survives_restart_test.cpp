// A node that is stopped between receiving a fraud proof and acting on it still ends on the
// valid chain. Follower F gets a proof against a cheater's block before the block itself (a
// relay that outran it), so the proof waits; F is SIGKILLed and restarted; the cheater then
// offers F the block. The block fakes one micro-batch of eight, so F's own sample of one misses
// it seven times in eight: F leaves the block because it judged the proof it kept on disk
// across the restart (or, one time in eight, because its own sample caught the fake).
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/p2p/messages.hpp>

#include <signal.h>

#include "consensus/cheating_worker.hpp"
#include "consensus/engine_fixture.hpp"
#include "functional/framework.hpp"
#include "functional/hostile.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, AProofReceivedBeforeARestartIsJudgedAfterIt) {
    // 8 micro-batches of 2 x 32 tokens: one contribution is the required work.
    constexpr std::uint32_t faked_micro_batch = 3;
    edit_genesis({{"learning", {{"micro_batches", 8}}}, {"initial_work", 512}});
    ASSERT_FALSE(HasFatalFailure());
    Daemon& a = daemon("a");
    a.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return a.height() >= 2; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    const std::uint64_t height = a.height();
    const std::string honest_tip = a.tip();
    Daemon& f = daemon("f");
    f.start({"--connect=" + a.endpoint()});
    ASSERT_TRUE(eventually([&] { return f.tip() == honest_tip; }, 30s));

    // The cheater's block on the honest tip, and the proof against its faked micro-batch.
    consensus::testing::TempDir dir("cheater");
    consensus::testing::Node cheater(dir.path(), genesis_);
    for (std::uint64_t h = 1; h <= height; ++h) {
        const auto accepted = cheater.accept(a.block_at(h));
        ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    }
    auto* engine = cheater.engine.get();
    const std::uint32_t faked[] = {faked_micro_batch};
    const auto cheat =
        consensus::testing::faked_contribution(
            engine->tracer(), engine->weights(), engine->dataset(), genesis_.learning,
            cheater.store->tip().hash, consensus::testing::key_of(0x70), 0, faked)
            .value();
    const chain::Block block =
        cheater.build({cheat.work_item()}, consensus::testing::key_of(0x66)).value();
    const auto evidence =
        consensus::make_micro_batch_evidence(cheat.certificate, faked_micro_batch).value();
    const chain::FraudProof proof{block.hash(), consensus::encode_micro_batch_evidence(evidence)};

    HostilePeer reporter;
    ASSERT_TRUE(reporter.join(f, "127.0.0.2"));
    ASSERT_TRUE(reporter.send(p2p::FraudProofMessage{proof}));
    ASSERT_TRUE(eventually(
        [&] { return f.must("getblockchaininfo")["fraud_proofs"]["received"] == 1; }, 10s));
    f.kill(SIGKILL);
    f.start({"--connect=" + a.endpoint()});
    ASSERT_EQ(f.tip(), honest_tip);

    const auto status = [&] {
        const auto header = f.call("getblockheader", json::array({block.hash().hex()}));
        return header ? (*header)["status"].get<std::string>() : std::string("unknown");
    };
    offer_block(f, "127.0.0.3", block, [&] { return status() == "invalid"; });
    EXPECT_TRUE(eventually([&] { return f.tip() == honest_tip; }, 30s))
        << "F stays on " << f.tip() << "; the cheater's block is " << block.hash().hex();
    EXPECT_EQ(status(), "invalid");
    // Either the kept proof condemned the block once it connected, or F's own sample drew
    // the fake and refused it (then its proof is the kept one, known already: not counted).
    const json proofs = f.must("getblockchaininfo")["fraud_proofs"];
    EXPECT_LE(proofs["blocks_condemned"].get<int>(), 1) << proofs.dump();
    std::cout << "  F left the cheater's block "
              << (proofs["blocks_condemned"] == 1 ? "on the proof it kept across the restart"
                                                  : "on its own sample")
              << "\n";
    EXPECT_FALSE(is_banned(f, "127.0.0.1"));
}

}  // namespace
}  // namespace learnchain::functional
