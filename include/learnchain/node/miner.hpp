// The miner: computes this node's contributions on the tip model, pools them with verified
// contributions received from peers, and proposes a block as soon as the pooled work reaches
// the required work D (PROTOCOL.md, "Mining policy").
//
// Threading: one background thread does all training and verification. Every public method is
// thread-safe and none blocks on training: on_new_tip() and submit_work_item() only queue. The
// thread takes the chain's cs_main briefly, to snapshot the tip and to build a block template;
// the block-ready callback runs on the mining thread without it, so the node may accept the
// block (Chainstate::process_block) and call on_new_tip() from the callback.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/chainstate.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/mempool.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/engine.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/consensus/verify.hpp>

namespace learnchain::node {

using chain::Hash256;
using chain::PublicKey;
using consensus::Certificate;
using consensus::Dataset;
using consensus::ModelWeights;
using consensus::PolWorkEngine;
using consensus::SplitMix64;
using consensus::VerifyPolicy;

// The node's chain the miner reads: the chainstate, and its engine seen as the
// proof-of-learning engine it is (so it is at the store's tip whenever cs_main is free).
struct MinerChain {
    chain::Chainstate* chainstate = nullptr;
    PolWorkEngine* engine PT_GUARDED_BY(chainstate->cs_main) = nullptr;
};

struct MinerKeys {
    chain::SecretKey worker;    // signs this node's contributions; their reward follows it
    chain::SecretKey proposer;  // signs the blocks; gets the remainder and the fees
};

struct MinerOptions {
    std::string device = "cpu";
    int threads = 0;      // libtorch intra-op threads (process-wide; 0 keeps libtorch's)
    VerifyPolicy policy;  // recomputation of contributions received from peers
    // Own contributions per tip, also capped by max_per_worker and by what fits into a block.
    std::uint32_t max_contributions = UINT32_MAX;
    std::chrono::milliseconds progress_interval{5000};  // zero: no progress lines
    // How long a pool that a peer's contribution brought to D waits before proposing: that
    // peer's own pool reached D first, with that contribution, so its block (with the same
    // work) is most likely on its way, and proposing too would only make two blocks race.
    std::chrono::milliseconds proposal_grace{2000};
    std::uint64_t rng_seed = 0;  // sample draws; 0: OS randomness
    // Called on the mining thread, without the chain lock, with each own contribution once it
    // is pooled, so the node can gossip it: other proposers include it and reward this worker.
    std::function<void(const chain::WorkItem&)> on_own_contribution;
};

struct MinerStats {
    std::uint64_t contributions = 0;  // own, computed
    std::uint64_t received = 0;       // submitted by peers
    std::uint64_t accepted = 0;       // received and pooled
    std::uint64_t rejected = 0;       // received and failed verification or were duplicates
    std::uint64_t blocks = 0;         // proposed
    std::uint64_t tokens = 0;         // own training tokens
    std::uint64_t pooled_work = 0;    // tokens pooled for the current tip
    std::uint64_t required_work = 0;  // D of the block on the current tip
    double last_loss = 0;             // loss of the last own contribution
    double busy_seconds = 0;          // time spent computing own contributions
    std::string last_error;           // last failure of the mining thread, for logs
};

class Miner {
public:
    using BlockReady = std::function<void(chain::Block)>;

    // "miner-chain-invalid" when a MinerChain pointer is missing; the trainer's and
    // dataset's reasons otherwise.
    [[nodiscard]] static Result<std::unique_ptr<Miner>> create(const chain::Genesis& genesis,
                                                               MinerChain chain, MinerKeys keys,
                                                               MinerOptions options,
                                                               BlockReady on_block);
    ~Miner();
    Miner(const Miner&) = delete;
    Miner& operator=(const Miner&) = delete;

    void start();
    // Drops the contribution in progress before its next micro-batch, then joins. Not from the
    // block-ready callback.
    void stop();

    // The chain's tip changed (connect or reorg): drop the pool, restart at n = 0.
    void on_new_tip();
    // The chain left blocks for their own parent, now the tip (a block condemned by a fraud
    // proof): their work items are queued again like a peer's, so the block that replaces it
    // carries the honest ones; a certificate proven false fails at once on the engine's
    // remembered verdict. Takes the chain lock: call it without.
    void return_work(const chain::AcceptResult& left);

    // Told once what became of a queued contribution: ok once verified and pooled, else why
    // not (the verifier's bad-cert-* reason, "miner-duplicate", "miner-stale-work" when its
    // parent was left behind, "miner-waiting-full"), and whether it got as far as
    // recomputation. Called on the mining thread without the chain lock held; never after
    // stop() returned.
    using WorkItemVerdict = std::function<void(const Status& verdict, bool recomputed)>;

    // A contribution from a peer. Queued for verification on the mining thread against the tip
    // it names; one for a parent the node does not have yet waits (bounded) until that block
    // becomes the tip. "miner-queue-full" when too much is waiting (and no verdict follows).
    [[nodiscard]] Status submit_work_item(chain::WorkItem item, WorkItemVerdict verdict = {});

    // Evidence of a fraud proof that held (p2p::Sync::on_proven_evidence). The blocks this miner
    // proposes carry it while it is valid there (build_block_template checks each: its
    // certificate's parent within the challenge window, its key with rewards to burn), half of
    // the burn being the proposer's. The newest max_pooled_evidence are kept. Only queues.
    void offer_evidence(chain::Evidence evidence);

    [[nodiscard]] MinerStats stats() const;

private:
    struct Received {
        chain::WorkItem item;
        WorkItemVerdict verdict;
    };
    struct Pooled {
        chain::WorkItem item;
        Certificate certificate;
        std::vector<chain::WorkerWork> credited;
    };
    struct Tip {
        chain::BlockIndexEntry entry;
        std::uint64_t required_work = 0;
        ModelWeights weights;
    };

    Miner(const chain::Genesis& genesis, MinerChain chain, MinerKeys keys, MinerOptions options,
          BlockReady on_block, training::Trainer trainer, Dataset dataset,
          consensus::UnitPlan plan);

    void run();
    [[nodiscard]] Status refresh_tip();
    void verify_received(std::vector<Received> items);
    // The engine's remembered verdict on contribution `root` at the miner's tip.
    [[nodiscard]] std::optional<Status> known_verdict(const Hash256& root) const;
    void compute_own();
    void propose();
    void remember(const Hash256& root);
    [[nodiscard]] std::uint64_t pooled_tokens() const;
    // The pool meets D and holds more than the last block proposed on this tip...
    [[nodiscard]] bool enough_work() const;
    // ...and no proposal grace is running (propose_after_).
    [[nodiscard]] bool ready_to_propose() const;
    [[nodiscard]] std::uint32_t own_limit() const;
    void log_progress();

    chain::Genesis genesis_;
    MinerChain chain_;
    MinerKeys keys_;
    MinerOptions options_;
    BlockReady on_block_;
    training::Trainer trainer_;
    Dataset dataset_;
    consensus::UnitPlan plan_;
    SplitMix64 rng_;

    // Mining-thread state.
    std::optional<Tip> tip_;
    std::map<Hash256, Pooled> pool_;  // by certificate root: canonical order
    std::set<std::pair<PublicKey, std::uint32_t>> pooled_ids_;
    std::vector<Received> deferred_;  // received while no tip was known
    std::uint32_t next_n_ = 0;
    std::uint64_t proposed_tokens_ = 0;  // pool size of the last block proposed on this tip
    // No proposal before this: set when a peer's contribution brings the pool to D.
    std::chrono::steady_clock::time_point propose_after_;
    std::optional<std::chrono::steady_clock::time_point> last_progress_;
    std::chrono::steady_clock::time_point started_;

    // Shared with callers, under mutex_ (taken after cs_main when both are held).
    mutable Mutex mutex_;
    std::condition_variable_any wake_;
    bool running_ GUARDED_BY(mutex_) = false;
    bool stopping_ GUARDED_BY(mutex_) = false;
    bool tip_changed_ GUARDED_BY(mutex_) = true;
    std::deque<Received> inbox_ GUARDED_BY(mutex_);
    std::deque<chain::Evidence> evidence_ GUARDED_BY(mutex_);
    std::multimap<Hash256, Received> waiting_ GUARDED_BY(mutex_);  // by parent: not the tip yet
    MinerStats stats_ GUARDED_BY(mutex_);
    std::thread thread_;
};

// Limits on queued peer contributions.
inline constexpr std::size_t miner_max_inbox = 1024;
inline constexpr std::size_t miner_max_waiting = 256;
inline constexpr std::size_t max_pooled_evidence = 16;

}  // namespace learnchain::node
