#include <algorithm>
#include <bit>
#include <cstring>
#include <map>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/merkle.hpp>
#include <learnchain/chain/parallel.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/sketch.hpp>

namespace learnchain::consensus {

Hash256 CertificateHeader::sighash() const {
    std::vector<std::uint8_t> bytes;
    chain::EncodeWriter writer(bytes);
    serialize_unsigned(writer);
    return chain::tagged_hash(chain::tag::certificate, bytes);
}

Hash256 Certificate::root() const {
    return chain::certificate_root(encode_certificate(*this));
}

void CertificateHeader::sign(const SecretKey& key) {
    worker = key.public_key();
    signature = chain::sign(key, sighash());
}

bool CertificateHeader::signature_valid() const {
    return chain::verify(worker, sighash(), signature);
}

Hash256 CertificateHeader::seed() const {
    return contribution_seed(parent, worker, n);
}

std::string CertificateHeader::describe() const {
    return "contribution " + worker.hex().substr(0, 16) + "/n=" + std::to_string(n);
}

namespace {

// Whether the body splits into `micro_batches` subtrees of equal leaf counts.
bool body_splits(const Certificate& cert) {
    return cert.micro_batches != 0 && cert.losses.size() == cert.micro_batches &&
           cert.leaves.size() % cert.micro_batches == 0;
}

std::vector<Hash256> micro_batch_roots(const Certificate& cert) {
    std::vector<Hash256> roots;
    roots.reserve(cert.micro_batches);
    for (std::uint32_t b = 0; b < cert.micro_batches; ++b)
        roots.push_back(micro_batch_root(b, cert.losses[b], cert.micro_batch_leaves(b)));
    return roots;
}

}  // namespace

Hash256 micro_batch_root(std::uint32_t micro_batch, float loss, std::span<const Leaf> leaves) {
    std::vector<Hash256> hashes;
    hashes.reserve(leaves.size());
    for (const auto& leaf : leaves) hashes.push_back(leaf.hash());
    std::vector<std::uint8_t> head;
    chain::EncodeWriter writer(head);
    writer(micro_batch, loss);
    return chain::TaggedHasher(chain::tag::micro_batch)
        .update(head)
        .update(chain::merkle_root(hashes))
        .finalize();
}

Hash256 Certificate::compute_merkle_root() const {
    if (!body_splits(*this)) return Hash256{};
    return chain::merkle_root(micro_batch_roots(*this));
}

std::span<const Leaf> Certificate::micro_batch_leaves(std::uint32_t b) const {
    if (!body_splits(*this) || b >= micro_batches) return {};
    const std::size_t units = leaves.size() / micro_batches;
    return std::span<const Leaf>(leaves).subspan(b * units, units);
}

Result<MicroBatchEvidence> make_micro_batch_evidence(const Certificate& certificate,
                                                     std::uint32_t micro_batch) {
    if (!body_splits(certificate) || micro_batch >= certificate.micro_batches)
        return make_error(ErrorKind::invalid, "bad-evidence-micro-batch",
                          "micro-batch " + std::to_string(micro_batch) + " of a body with " +
                              std::to_string(certificate.losses.size()) + " losses and " +
                              std::to_string(certificate.leaves.size()) + " leaves");
    auto proof = chain::merkle_prove(micro_batch_roots(certificate), micro_batch);
    if (!proof) return proof.error();
    const auto leaves = certificate.micro_batch_leaves(micro_batch);
    return MicroBatchEvidence{certificate.header(),
                              micro_batch,
                              certificate.losses[micro_batch],
                              {leaves.begin(), leaves.end()},
                              std::move(proof->siblings)};
}

Status check_evidence_path(const MicroBatchEvidence& evidence) {
    const chain::MerkleProof proof{evidence.micro_batch, evidence.header.micro_batches,
                                   evidence.path};
    const Hash256 root = micro_batch_root(evidence.micro_batch, evidence.loss, evidence.leaves);
    auto verified = chain::merkle_verify(evidence.header.merkle_root, root, proof);
    if (!verified)
        return make_error(ErrorKind::invalid, "bad-evidence-path",
                          evidence.header.describe() + ": micro-batch " +
                              std::to_string(evidence.micro_batch) + ": " +
                              verified.error().to_string());
    return ok_status();
}

std::vector<std::uint8_t> encode_certificate_header(const CertificateHeader& header) {
    return chain::encode(header);
}

Result<CertificateHeader> decode_certificate_header(std::span<const std::uint8_t> bytes) {
    auto decoded = chain::decode<CertificateHeader>(bytes);
    if (!decoded)
        return make_error(ErrorKind::invalid, "bad-cert-decode", decoded.error().to_string());
    return decoded;
}

std::vector<std::uint8_t> encode_micro_batch_evidence(const MicroBatchEvidence& evidence) {
    return chain::encode(evidence);
}

Result<MicroBatchEvidence> decode_micro_batch_evidence(std::span<const std::uint8_t> bytes) {
    auto decoded = chain::decode<MicroBatchEvidence>(bytes);
    if (!decoded)
        return make_error(ErrorKind::invalid, "bad-evidence-decode", decoded.error().to_string());
    return decoded;
}

std::vector<std::uint8_t> encode_blob(std::span<const float> gradient) {
    return chain::encode_f32_le(gradient);
}

Result<std::vector<float>> decode_blob(std::span<const std::uint8_t> blob,
                                       std::uint64_t parameters) {
    if (blob.size() != parameters * 4)
        return make_error(
            ErrorKind::invalid, "bad-cert-blob-size",
            std::to_string(blob.size()) + " bytes, expected " + std::to_string(parameters * 4));
    std::vector<float> out(parameters);
    chain::read_f32_le(blob, out);
    return out;
}

Hash256 gradient_hash(std::span<const std::uint8_t> blob) {
    return chain::tagged_hash(chain::tag::gradient, blob);
}

std::vector<std::uint8_t> encode_certificate(const Certificate& certificate) {
    return chain::encode(certificate);
}

Result<Certificate> decode_certificate(std::span<const std::uint8_t> bytes) {
    auto decoded = chain::decode<Certificate>(bytes);
    if (!decoded)
        return make_error(ErrorKind::invalid, "bad-cert-decode", decoded.error().to_string());
    return decoded;
}

chain::WorkItem Contribution::work_item() const {
    return {encode_certificate(certificate), blob()};
}

float mean_loss(std::span<const float> losses) {
    if (losses.empty()) return 0.0f;
    double sum = 0.0;
    for (float l : losses) sum += static_cast<double>(l);
    return static_cast<float>(sum / static_cast<double>(losses.size()));
}

Result<Contribution> assemble_contribution(const UnitPlan& plan, const Hash256& parent,
                                           std::uint32_t n, const SecretKey& worker,
                                           const std::vector<MicroBatchTrace>& traces) {
    const auto& sections = plan.sections();
    const std::size_t k = sections.size();
    if (traces.size() != plan.micro_batches())
        return make_error(ErrorKind::local, "pol-trace-mismatch",
                          std::to_string(traces.size()) + " traces for " +
                              std::to_string(plan.micro_batches()) + " micro-batches");
    const std::uint64_t parameters = sections.back().offset + sections.back().size;
    for (const auto& t : traces)
        if (t.gradient.size() != parameters || t.forward.size() != k || t.backward.size() != k ||
            t.attention.size() != plan.attention_units())
            return make_error(ErrorKind::local, "pol-trace-mismatch",
                              "trace does not fit the unit plan");

    // The blob is the mean over micro-batches, so the optimizer can weight it by tokens.
    Contribution out;
    // Per element: f64 sum in micro-batch order, divided by M, rounded once.
    const double count = static_cast<double>(traces.size());
    out.gradient.resize(parameters);
    constexpr std::size_t chunk = 1 << 16;
    parallel_jobs((parameters + chunk - 1) / chunk, [&](std::size_t job) {
        const std::size_t end = std::min<std::size_t>(parameters, (job + 1) * chunk);
        for (std::size_t i = job * chunk; i < end; ++i) {
            double sum = 0.0;
            for (const auto& t : traces) sum += static_cast<double>(t.gradient[i]);
            out.gradient[i] = static_cast<float>(sum / count);
        }
    });

    Certificate& cert = out.certificate;
    cert.parent = parent;
    cert.worker = worker.public_key();
    cert.n = n;
    cert.micro_batches = plan.micro_batches();
    cert.gradient_hash = gradient_hash(encode_blob(out.gradient));
    // BWD outputs: each section's pattern hashed once, applied to every micro-batch.
    const auto patterns =
        backward_patterns(plan, gradient_sketch_seed(cert.seed(), cert.gradient_hash));
    std::vector<std::vector<float>> backward(traces.size() * k);
    parallel_jobs(backward.size(), [&](std::size_t job) {
        const std::size_t b = job / k, s = job % k;
        backward[job] = patterns[s].sketch(std::span<const float>(traces[b].gradient)
                                               .subspan(sections[s].offset, sections[s].size));
    });
    cert.leaves.reserve(plan.leaf_count());
    for (std::uint32_t b = 0; b < traces.size(); ++b) {
        const auto& t = traces[b];
        cert.losses.push_back(static_cast<float>(t.loss));
        cert.tokens += t.tokens;
        auto add = [&](UnitKind kind, std::uint32_t index, std::vector<float> in,
                       std::vector<float> out_sketch) {
            cert.leaves.push_back(
                {kind, b, index, std::move(in), std::move(out_sketch), cert.worker});
        };
        for (std::uint32_t s = 0; s < k; ++s)
            add(UnitKind::forward, s, t.forward[s].in, t.forward[s].out);
        for (std::uint32_t a = 0; a < plan.attention_units(); ++a)
            add(UnitKind::attention, a, t.attention[a].in, t.attention[a].out);
        for (std::uint32_t s = 0; s < k; ++s)
            add(UnitKind::backward, s, t.backward[s], std::move(backward[b * k + s]));
    }
    cert.loss = mean_loss(cert.losses);
    cert.merkle_root = cert.compute_merkle_root();
    cert.sign(worker);
    return out;
}

Result<Contribution> compute_contribution(Tracer& tracer, const ModelWeights& weights,
                                          const Dataset& dataset, const LearningParams& params,
                                          const Hash256& parent, const SecretKey& worker,
                                          std::uint32_t n,
                                          const std::function<bool()>& keep_going) {
    auto plan = UnitPlan::create(weights.layout, params);
    if (!plan) return plan.error();
    const Hash256 seed = contribution_seed(parent, worker.public_key(), n);
    std::vector<MicroBatchTrace> traces;
    traces.reserve(params.micro_batches);
    for (std::uint32_t b = 0; b < params.micro_batches; ++b) {
        if (keep_going && !keep_going())
            return make_error(ErrorKind::policy, "pol-contribution-cancelled",
                              "after " + std::to_string(b) + " micro-batches");
        auto batch = make_micro_batch(dataset, seed, b, params.micro_batch_size,
                                      weights.layout.config().context);
        if (!batch) return batch.error();
        auto trace = tracer.trace(weights, *batch, TraceSpec{seed, &*plan});
        if (!trace) return trace.error();
        traces.push_back(std::move(trace).value());
    }
    return assemble_contribution(*plan, parent, n, worker, traces);
}

std::vector<chain::WorkerWork> credited_work(const Certificate& certificate) {
    std::map<PublicKey, std::uint64_t> leaves_per_key;
    for (const auto& leaf : certificate.leaves) ++leaves_per_key[leaf.worker];
    std::vector<chain::WorkerWork> out;
    if (certificate.leaves.empty()) {
        out.push_back({certificate.worker, certificate.tokens});
        return out;
    }
    std::uint64_t assigned = 0;
    for (const auto& [key, count] : leaves_per_key) {
        // floor(tokens * count / L) without overflow: tokens = q L + r, r * count < L^2.
        const std::uint64_t total = certificate.leaves.size();
        const std::uint64_t share =
            certificate.tokens / total * count + certificate.tokens % total * count / total;
        out.push_back({key, share});
        assigned += share;
    }
    const std::uint64_t remainder = certificate.tokens - assigned;
    if (remainder != 0) {
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const auto& w) { return w.worker == certificate.worker; });
        if (it != out.end())
            it->tokens += remainder;
        else
            out.push_back({certificate.worker, remainder});
    }
    return out;
}

}  // namespace learnchain::consensus
