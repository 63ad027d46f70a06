// Verification of proof-of-learning contributions (PROTOCOL.md, "Verification"): cheap checks
// on every certificate, then recomputation of all or a sample of its micro-batches on the
// parent model, compared with tolerance tau. Every failure is a "bad-cert-..." reason whose
// detail names the contribution and, for recomputation, the micro-batch, unit and sketch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/prng.hpp>

namespace learnchain::consensus {

// The most micro-batches a sampling policy may name (more is `all` on any genesis).
inline constexpr std::uint32_t max_sampled_micro_batches = 4096;

struct VerifyPolicy {
    enum class Mode : std::uint8_t { all, sample };
    Mode mode = Mode::all;
    std::uint32_t micro_batches = 0;  // sample: micro-batches recomputed per certificate, >= 1

    // "all", "sample" (one micro-batch per certificate) or "sample:S" with 1 <= S <= 4096
    // ("sample:2"); "verify-policy-invalid" otherwise.
    [[nodiscard]] static Result<VerifyPolicy> parse(std::string_view text);
    [[nodiscard]] static VerifyPolicy sample(std::uint32_t micro_batches) {
        return VerifyPolicy{Mode::sample, micro_batches};
    }
    // What a proposer recomputes of a certificate it did not compute, before it builds on it:
    // `all` stays `all`; a sampling node draws at least two (PROTOCOL.md §T.11.3).
    [[nodiscard]] VerifyPolicy for_proposer() const;
    [[nodiscard]] std::string to_string() const;
};

// The micro-batches to recompute: all of them, or min(S, M) drawn without replacement from
// `rng`, sorted. The rng is the node's local randomness, injected for tests.
[[nodiscard]] std::vector<std::uint32_t> choose_micro_batches(const VerifyPolicy& policy,
                                                              std::uint32_t micro_batches,
                                                              SplitMix64& rng);
// A SplitMix64 seeded from the operating system's randomness.
[[nodiscard]] SplitMix64 local_rng();

// What the cheap checks leave behind for recomputation and aggregation.
struct CheckedContribution {
    Certificate certificate;
    std::vector<float> gradient;  // decoded blob
    double sketch_distance = 0;   // blob sketch vs mean of the BWD output sketches
};

// Everything a check needs from the chain: genesis parameters, the parent block, its model.
struct VerifyContext {
    const LearningParams* params = nullptr;
    Hash256 parent;
};

// The cheap checks, in PROTOCOL.md §T.11.1's order (it lists them with their reasons): decode,
// blob hash (mutated: the blob is not the one the certificate commits to), version, parent,
// n range, signature, shape, Merkle root, loss, blob size, finite values, gradient norm, blob
// sketch against the BWD sketches.
[[nodiscard]] Result<CheckedContribution> check_contribution(const VerifyContext& context,
                                                             const UnitPlan& plan,
                                                             std::span<const std::uint8_t> cert,
                                                             std::span<const std::uint8_t> blob);
// The same for an already decoded certificate.
[[nodiscard]] Result<CheckedContribution> check_contribution(const VerifyContext& context,
                                                             const UnitPlan& plan,
                                                             Certificate certificate,
                                                             std::span<const std::uint8_t> blob);

// What one micro-batch's evidence proves on its own, before anything is recomputed: a
// version-2 header signed by its worker, with n and the shape genesis allows; a micro-batch
// index in range; that micro-batch's leaves in the plan's shape with a finite loss; and a path
// from them to the header's merkle_root (check_evidence_path). The reasons are the cheap
// checks' ("bad-cert-...") plus "bad-evidence-micro-batch" and "bad-evidence-path". Whether
// the header's parent is a block the caller knows, and whether the leaves are honest, is
// for the caller: a fraud proof recomputes the micro-batch on that block's model.
[[nodiscard]] Status check_micro_batch_evidence(const MicroBatchEvidence& evidence,
                                                const UnitPlan& plan, const LearningParams& params);

// "bad-cert-duplicate" when two certificates share (worker, n): a block may hold each once.
[[nodiscard]] Status check_distinct(std::span<const Certificate> certificates);

struct RecomputeReport {
    std::vector<std::uint32_t> micro_batches;  // recomputed, in order
    double max_distance = 0;        // largest relative L2 over every compared sketch and loss
    std::string max_at;             // where it was: "micro-batch 1 ATT(3) in"
    double gradient_distance = -1;  // blob vs recomputed mean; only when every batch was redone
    std::vector<std::uint32_t> arbitrated;  // micro-batches the reference arbiter decided
    bool gradient_arbitrated = false;       // the blob comparison was decided by the arbiter
};

// Recomputes the listed micro-batches on the parent weights and compares every unit's sketches
// and the loss (PROTOCOL.md §T.11.5). With `tracer` (the fast path, any device), a micro-batch
// whose every distance is <= tau_lo (genesis fast_tolerance) passes, and one with a distance
// above 2 tau - tau_lo fails; in between, the reference arbiter (ReferenceTracer, the same bits
// on every machine) recomputes it and its distances decide against tau. Failures:
// "bad-cert-unit-mismatch" / "bad-cert-loss-mismatch", the detail ending "(reference arbiter)"
// when the arbiter decided. When the list is every micro-batch, the blob is also compared with
// the recomputed mean gradient under the same rule: "bad-cert-gradient-mismatch".
// With `failed_micro_batch`, a unit or loss mismatch also names its micro-batch there: the one
// a fraud proof can carry (make_micro_batch_evidence).
[[nodiscard]] Result<RecomputeReport> recompute(Tracer& tracer, const ModelWeights& weights,
                                                const Dataset& dataset, const UnitPlan& plan,
                                                const LearningParams& params,
                                                const CheckedContribution& checked,
                                                std::span<const std::uint32_t> micro_batches,
                                                std::uint32_t* failed_micro_batch = nullptr);

// What a fraud proof proves: the rule the worker broke on the evidence's micro-batch.
struct ProvenFraud {
    Error broken;             // "bad-cert-unit-mismatch" or "bad-cert-loss-mismatch", with detail
    bool arbitrated = false;  // the reference arbiter decided (§T.11.5)
};

// Whether micro-batch evidence proves its certificate invalid (PROTOCOL.md §T.10.3): the
// evidence passes check_micro_batch_evidence, its header's parent is context.parent, and
// recomputing its micro-batch on `weights` (that parent's model) fails the comparison of
// §T.11.2 under the verdict rule of §T.11.5, at the cost of one micro-batch (plus one arbiter
// run in the band). A proof that does not hold fails with the evidence check's reason,
// "bad-cert-parent", or "fraud-proof-unfounded" when the micro-batch is honest (its detail
// ending "(reference arbiter)" when the arbiter decided): kind invalid, the sender's fault, the
// same on every node. The node's own failures (a device) are kind local.
[[nodiscard]] Result<ProvenFraud> check_fraud_proof(Tracer& tracer, const ModelWeights& weights,
                                                    const Dataset& dataset, const UnitPlan& plan,
                                                    const VerifyContext& context,
                                                    const MicroBatchEvidence& evidence);

struct VerifiedContribution {
    CheckedContribution checked;
    Hash256 root;                             // certificate root, for the block's work_root
    std::vector<chain::WorkerWork> credited;  // credited_work(certificate)
    RecomputeReport report;
};

// Cheap checks, then recomputation under `policy`, for one work item.
[[nodiscard]] Result<VerifiedContribution> verify_contribution(
    Tracer& tracer, const ModelWeights& weights, const Dataset& dataset,
    const VerifyContext& context, const chain::WorkItem& item, const VerifyPolicy& policy,
    SplitMix64& rng);

// A block's work items: the cheap checks on every item first, then distinct (worker, n), then
// recomputation item by item, so the cheapest failure anywhere in the block is found first.
// Details start with "work item <i>".
[[nodiscard]] Result<std::vector<VerifiedContribution>> verify_work_items(
    Tracer& tracer, const ModelWeights& weights, const Dataset& dataset,
    const VerifyContext& context, std::span<const chain::WorkItem> items,
    const VerifyPolicy& policy, SplitMix64& rng);

}  // namespace learnchain::consensus
