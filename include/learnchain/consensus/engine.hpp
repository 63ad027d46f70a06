// The proof-of-learning work engine: the chain's WorkEngine over the shared model.
//
// verify() checks a block's certificates against the parent's model (verify_work_items);
// apply() aggregates their gradients in canonical order and takes one AdamW step; the model
// state (weights, both moments, the step state) is chain state, committed to by model_root and
// persisted through the store's model column family. PROTOCOL.md, "Aggregation", "Model root",
// "Persistence", "Undo and pruning".
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/threading.hpp>
#include <learnchain/chain/work.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/optimizer.hpp>
#include <learnchain/consensus/trace.hpp>
#include <learnchain/consensus/units.hpp>
#include <learnchain/consensus/verify.hpp>

namespace learnchain::consensus {

// Tag of the model root: H(weights_hash(w) || weights_hash(m) || weights_hash(v) || step).
inline constexpr std::string_view model_state_tag = "learnchain/model-state";

// The learning task's chain state.
struct ModelState {
    ModelWeights weights;
    OptimizerState optimizer;
};

// The genesis model state: weights from the seed (checked against init_weights_hash, reason
// "model-init-hash-mismatch"), zero moments, step state (0, 1, 1).
[[nodiscard]] Result<ModelState> genesis_model_state(const chain::ModelConfig& config);

// H_model-state(weights_hash(w) || weights_hash(m) || weights_hash(v) || u64le step ||
// u64le bits(beta1_power) || u64le bits(beta2_power)); the moments are hashed with the weights'
// layout and encoding.
[[nodiscard]] Hash256 model_state_root(const ModelState& state);

// One contribution's part in an aggregation step.
struct AggregateInput {
    Hash256 root;  // certificate root: fixes the order
    std::span<const float> gradient;
    std::uint64_t tokens = 0;
};

// The block's model update: inputs sorted by root (ascending bytes), token-weighted f64 mean
// (GradientAccumulator), then apply_adamw. Bit-exact on every platform. "pol-aggregate-empty",
// "pol-aggregate-duplicate", and the accumulator's and optimizer's reasons.
[[nodiscard]] Status aggregate_and_step(ModelState& state, std::vector<AggregateInput> inputs,
                                        const chain::OptimizerParams& params);

struct EngineOptions {
    TracerFactory make_tracer;          // the model's runner (training::tracer_factory)
    VerifyPolicy policy;                // recomputation policy for verify()
    std::filesystem::path dataset_dir;  // base directory of a file dataset (the genesis dir)
    std::uint64_t rng_seed = 0;         // sample draws; 0 means the OS's randomness
};

// Model column-family keys (values in PROTOCOL.md, "Persistence").
namespace model_key {
inline constexpr std::string_view weights = "pol/weights";
inline constexpr std::string_view first_moment = "pol/m";
inline constexpr std::string_view second_moment = "pol/v";
inline constexpr std::string_view step = "pol/step";
inline constexpr std::string_view block = "pol/block";
}  // namespace model_key

class PolWorkEngine final : public chain::WorkEngine {
public:
    // Builds the tracer, dataset and unit plan, and the genesis model (init_weights_hash is
    // checked). "pol-engine-no-tracer" without a factory; reasons from the factory,
    // Dataset::open, UnitPlan::create, genesis_weights.
    [[nodiscard]] static Result<std::unique_ptr<PolWorkEngine>> create(
        const chain::Genesis& genesis, EngineOptions options = {});

    [[nodiscard]] Result<chain::BlockWork> verify(const chain::Block& block,
                                                  const chain::WorkContext& context) override;
    [[nodiscard]] Result<chain::WorkApplied> apply(const chain::Block& block,
                                                   const chain::BlockWork& work,
                                                   const chain::WorkContext& context) override;
    [[nodiscard]] Status undo(const chain::Block& block, const chain::WorkContext& context,
                              const std::vector<std::uint8_t>& undo) override;
    [[nodiscard]] Status check_work(const chain::Block& block,
                                    const chain::WorkContext& context) override;
    [[nodiscard]] Hash256 model_root() const override { return root_; }
    [[nodiscard]] std::vector<chain::ModelWrite> take_state_writes() override;
    [[nodiscard]] Status load(const chain::ModelEntries& entries) override;

    // Verification without the chain lock (chain/work.hpp): a copy of the model state, the
    // state an undo record holds, and verification on a copy with a tracer of its own.
    [[nodiscard]] chain::WorkSnapshotPtr snapshot() const override;
    [[nodiscard]] Result<chain::WorkSnapshotPtr> snapshot_from_undo(
        const Hash256& block, const std::vector<std::uint8_t>& child_undo) const override;
    [[nodiscard]] Result<chain::WorkSnapshotPtr> verify_detached(
        const chain::WorkSnapshot& parent, const chain::Block& block,
        const chain::WorkContext& context) override;

    [[nodiscard]] std::vector<chain::FraudProof> take_found_fraud_proofs() override
        EXCLUDES(found_mutex_);
    // Decodes the MicroBatchEvidence, finds the work item whose certificate begins with its
    // header ("fraud-proof-not-in-block" otherwise), and runs consensus::check_fraud_proof on
    // the parent's model. A proven verdict is remembered like a recomputation's.
    [[nodiscard]] Result<chain::ProvenInvalid> check_fraud_proof(
        const chain::WorkSnapshot& parent, const chain::Block& block,
        std::span<const std::uint8_t> evidence) override;

    // Evidence is a MicroBatchEvidence (PROTOCOL.md §T.11.10): the claim is its header's worker,
    // sighash and parent once check_micro_batch_evidence passed; check_evidence recomputes its
    // micro-batch on the parent's model (consensus::check_fraud_proof), "bad-evidence-unfounded"
    // when it is honest. Verdicts are remembered by (parent, evidence id), and a certificate
    // proven false fails every block that carries it on that parent.
    [[nodiscard]] Result<chain::EvidenceClaim> check_evidence_claim(
        std::span<const std::uint8_t> proof) const override;
    [[nodiscard]] Status check_evidence(const chain::WorkSnapshot& parent,
                                        std::span<const std::uint8_t> proof) override;

    // A contribution this node already recomputed on `parent` (its own, or a peer's the miner
    // verified): a block carrying it skips its recomputation, never its cheap checks. Bitcoin
    // Core's signature cache plays the same part. Thread-safe; bounded (cleared when full).
    void remember_verified(const Hash256& parent, const Hash256& root);
    // What recomputation (or a proven fraud proof) found of the contribution `root` on
    // `parent`, if the engine still remembers it. Thread-safe.
    [[nodiscard]] std::optional<Status> known_verdict(const Hash256& parent,
                                                      const Hash256& root) const {
        return verdicts_.find({parent, root});
    }

    // The header hash of the block whose model the engine holds (the genesis block at first).
    [[nodiscard]] const Hash256& model_block() const { return model_block_; }
    [[nodiscard]] const ModelState& state() const { return state_; }
    [[nodiscard]] const ModelWeights& weights() const { return state_.weights; }
    [[nodiscard]] const chain::LearningParams& params() const { return params_; }
    [[nodiscard]] const Dataset& dataset() const { return dataset_; }
    [[nodiscard]] const UnitPlan& plan() const { return plan_; }
    [[nodiscard]] Tracer& tracer() { return *tracer_; }
    [[nodiscard]] const VerifyPolicy& policy() const { return options_.policy; }

private:
    PolWorkEngine(chain::LearningParams params, EngineOptions options,
                  std::unique_ptr<Tracer> tracer, Dataset dataset, UnitPlan plan, ModelState state,
                  SplitMix64 rng);

    // Verdicts of recomputations by (parent, certificate root): a pass, or the broken rule.
    // The certificate root commits to the blob (through its hash, checked before any
    // recomputation) and the parent to the model, so the verdict holds for every block that
    // carries the contribution on that parent. Thread-safe.
    class Verdicts {
    public:
        using Key = std::pair<Hash256, Hash256>;
        void put(const Key& key, Status verdict) EXCLUDES(mutex_);
        [[nodiscard]] std::optional<Status> find(const Key& key) const EXCLUDES(mutex_);

    private:
        mutable Mutex mutex_;
        std::map<Key, Status> known_ GUARDED_BY(mutex_);
    };

    [[nodiscard]] Status check_at_parent(const chain::WorkContext& context) const;
    [[nodiscard]] Result<chain::BlockWork> verify_work(const ModelWeights& parent,
                                                       const chain::Block& block,
                                                       const chain::WorkContext& context,
                                                       Tracer& tracer, SplitMix64& rng);
    // Keeps the evidence of a sampled micro-batch that failed, for take_found_fraud_proofs.
    void found_fraud(const Hash256& block, const Certificate& certificate,
                     std::uint32_t micro_batch) EXCLUDES(found_mutex_);
    // consensus::check_fraud_proof of `evidence` on `weights` (the model of `parent`), on the
    // detached tracer: what check_fraud_proof and check_evidence share.
    [[nodiscard]] Result<ProvenFraud> judge_micro_batch(const ModelWeights& weights,
                                                        const Hash256& parent,
                                                        const MicroBatchEvidence& evidence)
        EXCLUDES(detached_mutex_);
    // The tracer verify_detached and check_fraud_proof share, made on first use.
    [[nodiscard]] Result<Tracer*> detached_tracer() REQUIRES(detached_mutex_);
    // The block's AdamW step on `state`: its blobs aggregated in canonical order.
    [[nodiscard]] Status step(ModelState& state, const chain::Block& block,
                              const chain::BlockWork& work) const;
    void record_state();  // recomputes the root and queues the full state as model writes

    chain::LearningParams params_;
    EngineOptions options_;
    std::unique_ptr<Tracer> tracer_;
    Dataset dataset_;
    UnitPlan plan_;
    ModelState state_;
    ModelState genesis_state_;
    SplitMix64 rng_;
    Hash256 genesis_block_;
    Hash256 model_block_;
    Hash256 root_;
    std::vector<chain::ModelWrite> pending_;
    Verdicts verdicts_;
    Verdicts evidence_verdicts_;  // by (parent, evidence id)
    // Certificates evidence proved false, by (parent, header sighash): a block that carries one
    // fails verify() without a recomputation, whichever block the proof first named.
    Verdicts false_certificates_;
    // verify_detached's own tracer and draws, one verification at a time.
    Mutex detached_mutex_;
    std::unique_ptr<Tracer> detached_tracer_ GUARDED_BY(detached_mutex_);
    SplitMix64 detached_rng_ GUARDED_BY(detached_mutex_);
    Mutex found_mutex_;
    std::vector<chain::FraudProof> found_ GUARDED_BY(found_mutex_);
};

inline constexpr std::size_t max_remembered_contributions = 4096;
// Fraud proofs found and not yet taken; more are dropped (the block is invalid here anyway).
inline constexpr std::size_t max_found_fraud_proofs = 64;

// The model pre-image a block's undo record carries: u32le version 1, the step state (u64le
// step, f64 bits beta1_power, beta2_power), then weights, m and v, each 4 bytes LE per value.
[[nodiscard]] std::vector<std::uint8_t> encode_model_undo(const ModelState& state);
[[nodiscard]] Status decode_model_undo(std::span<const std::uint8_t> bytes, ModelState& state);

}  // namespace learnchain::consensus
