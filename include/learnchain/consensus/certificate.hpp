// Proof-of-learning certificates (PROTOCOL.md, "Certificates"): one worker's gradient on the
// parent model over the micro-batches its seed picks, with every unit's sketches as Merkle
// leaves, signed by the worker. The gradient blob (fp32, canonical layout) travels apart.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/work.hpp>
#include <learnchain/consensus/dataset.hpp>
#include <learnchain/consensus/trace.hpp>
#include <learnchain/consensus/units.hpp>

namespace learnchain::consensus {

using chain::SecretKey;
using chain::Signature;

inline constexpr std::uint32_t certificate_version = 1;

struct Certificate {
    std::uint32_t version = certificate_version;
    Hash256 parent;  // header hash of the block whose model was trained
    PublicKey worker;
    std::uint32_t n = 0;        // contribution index, < max_per_worker
    float loss = 0.0f;          // f32(sum of f64(losses[b]) / micro_batches)
    std::vector<float> losses;  // mean loss of each micro-batch
    std::uint64_t tokens = 0;   // training targets: micro_batches * micro_batch_size * context
    std::uint32_t micro_batches = 0;
    std::vector<Leaf> leaves;  // canonical order: micro-batch, then FWD, ATT, BWD units
    Hash256 merkle_root;       // chain merkle_root over the leaf hashes
    Hash256 gradient_hash;     // H_gradient(blob bytes)
    Signature signature;       // BIP340 by `worker` over sighash()

    // H_certificate(encoding without the signature).
    [[nodiscard]] Hash256 sighash() const;
    // H_certificate(full encoding): the certificate root the chain's work_root commits to.
    // The encoding is prefix-free, so it never equals an unsigned encoding under the same tag.
    [[nodiscard]] Hash256 root() const;
    [[nodiscard]] Hash256 compute_merkle_root() const;
    // Sets worker to the key's public key, then signs sighash().
    void sign(const SecretKey& key);
    [[nodiscard]] bool signature_valid() const;
    // The contribution seed (parent, worker, n).
    [[nodiscard]] Hash256 seed() const;
    // "contribution <worker hex prefix>/n=<n>", for error details and logs.
    [[nodiscard]] std::string describe() const;

    friend bool operator==(const Certificate&, const Certificate&) = default;

    template <class Archive>
    void serialize_unsigned(Archive& ar) const {
        ar(version, parent, worker, n, loss, losses, tokens, micro_batches, leaves, merkle_root,
           gradient_hash);
    }
    template <class Archive>
    void serialize(Archive& ar) {
        ar(version, parent, worker, n, loss, losses, tokens, micro_batches, leaves, merkle_root,
           gradient_hash, signature);
    }
};

// The blob: each f32 of the gradient as 4 LE bytes, canonical parameter order, no prefix.
[[nodiscard]] std::vector<std::uint8_t> encode_blob(std::span<const float> gradient);
// "bad-cert-blob-size" unless the blob holds exactly `parameters` values.
[[nodiscard]] Result<std::vector<float>> decode_blob(std::span<const std::uint8_t> blob,
                                                     std::uint64_t parameters);
[[nodiscard]] Hash256 gradient_hash(std::span<const std::uint8_t> blob);

[[nodiscard]] std::vector<std::uint8_t> encode_certificate(const Certificate& certificate);
// Bounded decode; "bad-cert-decode" with the decoder's reason in the detail.
[[nodiscard]] Result<Certificate> decode_certificate(std::span<const std::uint8_t> bytes);

struct Contribution {
    Certificate certificate;
    std::vector<float> gradient;  // the blob's values: mean gradient over the micro-batches

    [[nodiscard]] std::vector<std::uint8_t> blob() const { return encode_blob(gradient); }
    [[nodiscard]] chain::WorkItem work_item() const;
};

// The mean loss as the certificate states it: f32(sum of f64(losses) / count).
[[nodiscard]] float mean_loss(std::span<const float> losses);

// Turns the traces of micro-batches 0..M-1 (in order) into a signed contribution: blob = mean
// gradient, leaves with the worker's key, Merkle root, signature. "pol-trace-mismatch" when the
// traces do not fit the plan.
[[nodiscard]] Result<Contribution> assemble_contribution(
    const UnitPlan& plan, const Hash256& parent, std::uint32_t n, const SecretKey& worker,
    const std::vector<MicroBatchTrace>& traces);

// The whole worker side: batches from the seed, instrumented forward/backward per micro-batch,
// assemble. `weights` must be the parent block's model. `keep_going`, when given, is asked
// before each micro-batch; once it says no the result is "pol-contribution-cancelled" (a
// devnet contribution takes half a minute: a new tip or a shutdown should not wait for it).
[[nodiscard]] Result<Contribution> compute_contribution(
    Tracer& tracer, const ModelWeights& weights, const Dataset& dataset,
    const LearningParams& params, const Hash256& parent, const SecretKey& worker, std::uint32_t n,
    const std::function<bool()>& keep_going = {});

// Work credited per leaf key: tokens split in proportion to each key's leaves (integer
// division), the remainder to the certificate's worker. Sums to certificate.tokens.
[[nodiscard]] std::vector<chain::WorkerWork> credited_work(const Certificate& certificate);

}  // namespace learnchain::consensus
