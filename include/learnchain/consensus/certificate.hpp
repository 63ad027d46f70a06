// Proof-of-learning certificates (PROTOCOL.md, "Certificates"): one worker's gradient on the
// parent model over the micro-batches its seed picks, with every unit's sketches as leaves of a
// two-level Merkle tree (one subtree per micro-batch) under a compact header the worker signs.
// The gradient blob (fp32, canonical layout) travels apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
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

inline constexpr std::uint32_t certificate_version = 2;

// What the worker signs: every field but the body, which merkle_root binds. Fixed size
// (certificate_header_size), so one micro-batch's evidence carries it whole.
struct CertificateHeader {
    std::uint32_t version = certificate_version;
    Hash256 parent;  // header hash of the block whose model was trained
    PublicKey worker;
    std::uint32_t n = 0;       // contribution index, < max_per_worker
    float loss = 0.0f;         // f32(sum of f64(losses[b]) / micro_batches)
    std::uint64_t tokens = 0;  // training targets: micro_batches * micro_batch_size * context
    std::uint32_t micro_batches = 0;
    Hash256 merkle_root;    // chain merkle_root over the micro-batch roots, in micro-batch order
    Hash256 gradient_hash;  // H_gradient(blob bytes)
    Signature signature;    // BIP340 by `worker` over sighash()

    // H_certificate(encoding without the signature).
    [[nodiscard]] Hash256 sighash() const;
    // Sets worker to the key's public key, then signs sighash().
    void sign(const SecretKey& key);
    [[nodiscard]] bool signature_valid() const;
    // The contribution seed (parent, worker, n).
    [[nodiscard]] Hash256 seed() const;
    // "contribution <worker hex prefix>/n=<n>", for error details and logs.
    [[nodiscard]] std::string describe() const;

    friend bool operator==(const CertificateHeader&, const CertificateHeader&) = default;

    template <class Archive>
    void serialize_unsigned(Archive& ar) const {
        ar(version, parent, worker, n, loss, tokens, micro_batches, merkle_root, gradient_hash);
    }
    template <class Archive>
    void serialize(Archive& ar) {
        ar(version, parent, worker, n, loss, tokens, micro_batches, merkle_root, gradient_hash,
           signature);
    }
};

inline constexpr std::size_t certificate_header_size = 4 + 32 + 32 + 4 + 4 + 8 + 4 + 32 + 32 + 64;

// A certificate is its header and the body merkle_root commits to: one subtree per micro-batch
// b, whose root is micro_batch_root(b, losses[b], its unit leaves). The encoding is the header's
// then the body's, so its first certificate_header_size bytes are the header.
struct Certificate : CertificateHeader {
    std::vector<float> losses;  // mean loss of each micro-batch
    std::vector<Leaf> leaves;   // canonical order: micro-batch, then FWD, ATT, BWD units

    [[nodiscard]] const CertificateHeader& header() const { return *this; }
    // H_certificate(full encoding): the certificate root the chain's work_root commits to, so a
    // block's hash covers every byte of its certificates (chain::certificate_root). The encoding
    // is longer than the unsigned header's, so it never hashes like a sighash.
    [[nodiscard]] Hash256 root() const;
    // The two-level root over losses and leaves; the all-zero hash when they cannot be split
    // into micro_batches equal subtrees (the shape check rejects such a certificate first).
    [[nodiscard]] Hash256 compute_merkle_root() const;
    // The unit leaves of micro-batch b, when the body splits into micro_batches subtrees.
    [[nodiscard]] std::span<const Leaf> micro_batch_leaves(std::uint32_t b) const;

    friend bool operator==(const Certificate&, const Certificate&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(static_cast<CertificateHeader&>(*this), losses, leaves);
    }
};

// The root of micro-batch b's subtree: H_micro-batch(u32le(b) || f32le(loss) || chain
// merkle_root over its unit leaf hashes). The index is in it, so a subtree cannot pass as
// another micro-batch's, and the loss is in it, so a proof of one micro-batch proves its loss.
[[nodiscard]] Hash256 micro_batch_root(std::uint32_t micro_batch, float loss,
                                       std::span<const Leaf> leaves);

// One micro-batch of a certificate, provable on its own: the signed header, the micro-batch's
// loss and unit leaves, and the sibling hashes from its subtree root up to header.merkle_root
// (chain MerkleProof siblings for leaf `micro_batch` of `header.micro_batches`). About 9.4 KB
// on the devnet (micro_batch_evidence_size in genesis.hpp).
struct MicroBatchEvidence {
    CertificateHeader header;
    std::uint32_t micro_batch = 0;
    float loss = 0.0f;
    std::vector<Leaf> leaves;
    std::vector<Hash256> path;

    friend bool operator==(const MicroBatchEvidence&, const MicroBatchEvidence&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(header, micro_batch, loss, leaves, path);
    }
};

// The evidence for micro-batch b of a certificate whose body has the shape its header states.
// "bad-evidence-micro-batch" when b is out of range or the body does not split.
[[nodiscard]] Result<MicroBatchEvidence> make_micro_batch_evidence(const Certificate& certificate,
                                                                   std::uint32_t micro_batch);
// Whether the evidence's leaves and loss are what its header's merkle_root commits to for its
// micro-batch: "bad-evidence-path" otherwise. The header's signature and the leaves' shape are
// check_micro_batch_evidence's (verify.hpp).
[[nodiscard]] Status check_evidence_path(const MicroBatchEvidence& evidence);

[[nodiscard]] std::vector<std::uint8_t> encode_certificate_header(const CertificateHeader& header);
// Bounded decode; "bad-cert-decode" with the decoder's reason in the detail.
[[nodiscard]] Result<CertificateHeader> decode_certificate_header(
    std::span<const std::uint8_t> bytes);
[[nodiscard]] std::vector<std::uint8_t> encode_micro_batch_evidence(
    const MicroBatchEvidence& evidence);
// Bounded decode; "bad-evidence-decode" with the decoder's reason in the detail.
[[nodiscard]] Result<MicroBatchEvidence> decode_micro_batch_evidence(
    std::span<const std::uint8_t> bytes);

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
