// What the default verification policy (`sample`: one micro-batch per certificate) costs a node
// on the devnet genesis (~0.87M parameters; a contribution is M = 64 micro-batches of 128 x 64
// tokens), against computing the same work. Headlines:
//   BENCH contribution_s                   wall time of compute_contribution (one contribution)
//   BENCH verify_default_s                 verify_contribution under `sample`, fastest of 5
//   BENCH verify_default_cost              verify_default_s / contribution_s; goal <= 0.02
//   BENCH cheap_checks_s                   check_contribution alone (decode, signature, roots,
//                                          norms, blob sketch), fastest of 5
//   BENCH follow_block_s                   accepting one block of `contributions` honest
//                                          contributions (default 2) into a synced RocksDB
//                                          store under `sample`: cheap checks, one micro-batch
//                                          per certificate, aggregation, AdamW, model root,
//                                          ~10 MB of model writes and undo
//   BENCH follow_work_rate_vs_own_compute  tokens that block carries per second of accepting it,
//                                          over tokens per second of computing a contribution:
//                                          how many times its own speed a node can follow;
//                                          goal >= 30
// The follow figure is a block's acceptance in-process, not a P2P sync (bench_sync measures
// P2P against local import). Wall time on one process; a run takes 3-6 minutes on 2 cores,
// most of it computing the contributions.
//   bench_sampled_verification [contributions]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/consensus/verify.hpp>

#include "bench/bench_report.hpp"
#include "consensus/engine_fixture.hpp"

namespace {

using namespace learnchain;
using namespace learnchain::consensus;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    const int contributions = argc > 1 ? std::max(1, std::atoi(argv[1])) : 2;
    auto genesis = chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/" +
                                       std::string(chain::devnet_genesis_file));
    if (!genesis) {
        std::fprintf(stderr, "%s\n", genesis.error().to_string().c_str());
        return 1;
    }
    const chain::LearningParams& params = genesis->learning;
    const std::uint64_t tokens = chain::tokens_per_contribution(params);

    testing::TempDir proposer_dir("bench-sampled-proposer");
    testing::TempDir follower_dir("bench-sampled-follower");
    EngineOptions sampling;
    sampling.policy = VerifyPolicy::parse("sample").value();
    testing::Node proposer(proposer_dir.path(), *genesis);
    testing::Node follower(follower_dir.path(), *genesis, sampling, /*sync=*/true);

    // The work: honest contributions on the genesis model, one worker each.
    log::Progress computing("computing contributions", "contributions",
                            static_cast<std::uint64_t>(contributions),
                            std::chrono::milliseconds(0));
    std::vector<chain::WorkItem> items;
    double contribution_s = std::numeric_limits<double>::infinity();
    for (int i = 0; i < contributions; ++i) {
        const auto start = Clock::now();
        auto c = proposer.contribute(testing::key_of(static_cast<std::uint8_t>(0x31 + i)), 0);
        if (!c) {
            std::fprintf(stderr, "%s\n", c.error().to_string().c_str());
            return 1;
        }
        contribution_s = std::min(contribution_s, seconds_since(start));
        items.push_back(c->work_item());
        computing.update(static_cast<std::uint64_t>(i + 1));
    }

    // Verification of one contribution under the default policy, as a follower runs it.
    const VerifyContext context{&params, proposer.store->tip().hash};
    auto rng = local_rng();
    constexpr int verifications = 5;
    log::Progress verifying("verifying under sample", "verifications", verifications,
                            std::chrono::milliseconds(0));
    double verify_s = std::numeric_limits<double>::infinity();
    for (int i = 0; i < verifications; ++i) {
        const auto start = Clock::now();
        const auto v = verify_contribution(
            follower.engine->tracer(), follower.engine->weights(), follower.engine->dataset(),
            context, items[static_cast<std::size_t>(i) % items.size()], sampling.policy, rng);
        if (!v) {
            std::fprintf(stderr, "%s\n", v.error().to_string().c_str());
            return 1;
        }
        verify_s = std::min(verify_s, seconds_since(start));
        verifying.update(static_cast<std::uint64_t>(i + 1));
    }

    // Of which the cheap checks (decode, signature, Merkle root, blob hash, norms, blob sketch).
    double cheap_s = std::numeric_limits<double>::infinity();
    for (int i = 0; i < verifications; ++i) {
        const auto start = Clock::now();
        const auto& item = items[static_cast<std::size_t>(i) % items.size()];
        const auto checked =
            check_contribution(context, follower.engine->plan(), item.certificate, item.blob);
        if (!checked) {
            std::fprintf(stderr, "%s\n", checked.error().to_string().c_str());
            return 1;
        }
        cheap_s = std::min(cheap_s, seconds_since(start));
    }

    // One block of that work, accepted by a sampling follower.
    const auto block = proposer.build(items, testing::key_of(0x21));
    if (!block) {
        std::fprintf(stderr, "%s\n", block.error().to_string().c_str());
        return 1;
    }
    const auto start = Clock::now();
    const auto accepted = follower.accept(*block);
    const double follow_s = seconds_since(start);
    if (!accepted || !accepted->new_tip) {
        std::fprintf(stderr, "block not accepted: %s\n",
                     accepted ? "not the tip" : accepted.error().to_string().c_str());
        return 1;
    }

    const double own_rate = static_cast<double>(tokens) / contribution_s;
    const double follow_rate = static_cast<double>(tokens) * contributions / follow_s;
    bench::print_line("contribution_s", contribution_s, "s");
    bench::print_line("verify_default_s", verify_s, "s");
    bench::print_line("verify_default_cost", verify_s / contribution_s, "ratio");
    bench::print_line("cheap_checks_s", cheap_s, "s");
    bench::print_line("follow_block_s", follow_s, "s");
    bench::print_line("follow_work_rate_vs_own_compute", follow_rate / own_rate, "ratio");
    return 0;
}
