// The seam between the chain and proof-of-learning.
//
// The chain layer never looks inside a WorkItem. A WorkEngine (the consensus library's, or a
// test-only one) verifies a block's work items and reports, per item, its certificate root
// and per-worker token counts; the chain layer turns that into work_root, the header's work
// and the reward split. The engine also owns the model state: it applies a block's update and
// reports the new model root, which the chain folds into state_root.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

struct Genesis;

// Work credited to one worker key.
struct WorkerWork {
    PublicKey worker;
    std::uint64_t tokens = 0;

    friend bool operator==(const WorkerWork&, const WorkerWork&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(worker, tokens);
    }
};

// What verifying a block's work items established.
struct BlockWork {
    // One per work item, in block order; work_root = merkle_root(certificate_roots).
    std::vector<Hash256> certificate_roots;
    // Tokens per worker key (a key may appear more than once; amounts add up).
    std::vector<WorkerWork> workers;

    // Sum of all workers' tokens; nullopt on overflow.
    [[nodiscard]] std::optional<std::uint64_t> total() const;

    friend bool operator==(const BlockWork&, const BlockWork&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(certificate_roots, workers);
    }
};

// Where the block sits: everything the engine needs besides the block itself.
struct WorkContext {
    const Genesis* genesis = nullptr;
    Hash256 parent_hash;
    std::uint64_t height = 0;
    std::uint64_t required_work = 0;
};

// One change to the engine's persistent model state: a put, or a delete when `value` is
// nullopt. The store keeps these in its "model" column family (opaque keys and values) and
// writes them in the same atomic batch as the block that caused them, so the model on disk
// always matches the chain tip.
struct ModelWrite {
    std::string key;
    std::optional<std::vector<std::uint8_t>> value;

    friend bool operator==(const ModelWrite&, const ModelWrite&) = default;
};

// What the store hands back to WorkEngine::load: every (key, value) of the model column
// family, in key order.
using ModelEntries = std::vector<std::pair<std::string, std::vector<std::uint8_t>>>;

// Result of applying a block's model update.
struct WorkApplied {
    Hash256 model_root;              // model state root after the block
    std::vector<std::uint8_t> undo;  // opaque; handed back to WorkEngine::undo
};

// Evidence that a block broke a rule the checks of some node did not look at: with proof of
// learning, one micro-batch of one of its certificates that does not recompute
// (consensus/PROTOCOL.md §T.10.3). The evidence is opaque to the chain. A node that samples
// finds these; any node checks one at the cost of that micro-batch.
struct FraudProof {
    Hash256 block;
    std::vector<std::uint8_t> evidence;

    friend bool operator==(const FraudProof&, const FraudProof&) = default;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(block, evidence);
    }
};

// What a fraud proof that holds establishes: the rule its block broke (kind fraud).
struct ProvenInvalid {
    Error broken;
};

// A copy of an engine's model state at one block, opaque to the chain: what verifying that
// block's children needs, so that the verification can run without the chain lock.
class WorkSnapshot {
public:
    virtual ~WorkSnapshot() = default;
};
using WorkSnapshotPtr = std::shared_ptr<const WorkSnapshot>;

// What an Evidence item claims, read from it before anything is recomputed: the key that
// signed the certificate, what it signed (the certificate's identity: two items with the same
// one prove the same certificate), and the block whose model it was computed on.
struct EvidenceClaim {
    PublicKey worker;
    Hash256 certificate;
    Hash256 parent;
};

// The models the evidence of a block is judged on: the store's, at the block's parent.
class AncestorModels {
public:
    virtual ~AncestorModels() = default;
    // The model at `block`, which must be the parent or an ancestor at height >= min_height:
    // bad-evidence-parent (kind invalid) otherwise; kind local when this node cannot read it.
    [[nodiscard]] virtual Result<WorkSnapshotPtr> model_at(const Hash256& block,
                                                           std::uint64_t min_height) const = 0;
};

class WorkEngine {
public:
    virtual ~WorkEngine() = default;

    // Verifies every work item of `block` against the parent's model, cheapest checks first.
    // Fails with the engine's own reason codes ("bad-cert-...").
    [[nodiscard]] virtual Result<BlockWork> verify(const Block& block,
                                                   const WorkContext& context) = 0;

    // Applies the (verified) block's model update on top of the current model, which must be
    // the parent's. On failure the model is unchanged.
    [[nodiscard]] virtual Result<WorkApplied> apply(const Block& block, const BlockWork& work,
                                                    const WorkContext& context) = 0;

    // The part of verify() that needs no parent state: the cheap checks of every work item and
    // what is remembered of them on this parent. Run on each block of a branch before a
    // reorganisation disconnects anything. The default checks nothing.
    [[nodiscard]] virtual Status check_work(const Block& block, const WorkContext& context) {
        return ok_status();
    }

    // Reverts the most recently applied block, given what apply returned for it.
    [[nodiscard]] virtual Status undo(const Block& block, const WorkContext& context,
                                      const std::vector<std::uint8_t>& undo) = 0;

    // Root of the current model state (the genesis model's before any block).
    [[nodiscard]] virtual Hash256 model_root() const = 0;

    // --- persistence (ChainStore) -----------------------------------------------------------
    // apply() and undo() change the model in memory; the store makes the change durable.
    // After each apply()/undo() it calls take_state_writes() and puts the writes in the same
    // WriteBatch as the block's connect/disconnect. Writes accumulate in call order until taken
    // (a failed validation may apply then undo; the store drops those writes, since the model
    // is back where it was). Engines whose state lives elsewhere keep the defaults.
    [[nodiscard]] virtual std::vector<ModelWrite> take_state_writes() { return {}; }

    // Called once when a store opens, before any block is applied, with every entry the store
    // holds. An empty list means "the genesis model": nothing was ever written.
    [[nodiscard]] virtual Status load(const ModelEntries& entries) { return ok_status(); }

    // --- verification without the chain lock (Chainstate::process_block) -------------------
    // An engine whose verify() is expensive lets the node do that work on a copy of the model
    // while the chain lock is free: the node snapshots the model under the lock, verifies the
    // blocks a connect would need with verify_detached() without it, then connects under the
    // lock, where verify() finds the result remembered and recomputes nothing. The defaults
    // (no snapshot) mean: verify() is cheap enough to run under the lock.

    // The current model (the block apply()/undo() last left), copied; null: not supported.
    [[nodiscard]] virtual WorkSnapshotPtr snapshot() const { return nullptr; }
    // The model at `block` (a connected block), from the undo record of its child on the main
    // chain, which holds that model as its pre-image; null: not supported. Thread-safe.
    [[nodiscard]] virtual Result<WorkSnapshotPtr> snapshot_from_undo(
        const Hash256& block, const std::vector<std::uint8_t>& child_undo) const {
        return WorkSnapshotPtr{};
    }
    // Verifies `block` on the model `parent` (the block's parent's), as verify() would, and
    // returns the model after it. Thread-safe, and safe beside every other member function
    // (it touches only the snapshot and the engine's own internally locked caches). Its verdict
    // is remembered for verify() on the same parent: a pass is not recomputed, a rule broken
    // is not recomputed either and fails the same way.
    [[nodiscard]] virtual Result<WorkSnapshotPtr> verify_detached(const WorkSnapshot& parent,
                                                                  const Block& block,
                                                                  const WorkContext& context) {
        return make_error(ErrorKind::local, "work-detached-unsupported");
    }

    // --- fraud proofs (Chainstate::judge_fraud_proof) ---------------------------------------
    // The fraud proofs verify() and verify_detached() found since the last call (a recomputed
    // part of a block that broke a rule), oldest first, at most a bounded number. Thread-safe.
    [[nodiscard]] virtual std::vector<FraudProof> take_found_fraud_proofs() { return {}; }
    // Whether `evidence` proves `block` invalid, judged on `parent` (the model of the block's
    // parent): the rule the block broke, or why the proof does not hold (kind invalid or
    // malformed: false on every node; local: this node's own failure). Thread-safe as
    // verify_detached is.
    [[nodiscard]] virtual Result<ProvenInvalid> check_fraud_proof(
        const WorkSnapshot& parent, const Block& block, std::span<const std::uint8_t> evidence) {
        return make_error(ErrorKind::local, "work-fraud-proof-unsupported");
    }

    // --- evidence (check_block_evidence, Chainstate::judge_evidence) -------------------------
    // Decodes an Evidence item's proof and runs every check that needs no model. The default:
    // this chain has no evidence (bad-evidence-unsupported, kind invalid). Thread-safe.
    [[nodiscard]] virtual Result<EvidenceClaim> check_evidence_claim(
        std::span<const std::uint8_t> proof) const {
        return make_error(ErrorKind::invalid, "bad-evidence-unsupported");
    }
    // Whether the proof holds on `parent` (the model of its claim's parent): ok, or
    // bad-evidence-unfounded (the recomputed part is honest), or kind local (this node's own
    // failure). Thread-safe as verify_detached is.
    [[nodiscard]] virtual Status check_evidence(const WorkSnapshot& parent,
                                                std::span<const std::uint8_t> proof) {
        return make_error(ErrorKind::invalid, "bad-evidence-unsupported");
    }
};

// The root a block's work_root commits to for one work item: H_certificate(certificate bytes).
// An engine's certificate root must be this (a canonical encoding hashes to itself), so that the
// chain can tell a body that does not match its header before any engine looks inside.
[[nodiscard]] Hash256 certificate_root(std::span<const std::uint8_t> certificate);

// Checks `work` against the block: one certificate root per work item (bad-block-work-count),
// work_root (bad-block-work-root), header work equals the total (bad-block-work-mismatch,
// bad-block-work-overflow).
[[nodiscard]] Status check_block_work(const Block& block, const BlockWork& work);

}  // namespace learnchain::chain
