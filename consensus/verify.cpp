#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <utility>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/consensus/reference_tracer.hpp>
#include <learnchain/consensus/sketch.hpp>
#include <learnchain/consensus/verify.hpp>

namespace learnchain::consensus {
namespace {

std::string format_double(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

Error fail(const CertificateHeader& cert, ErrorKind kind, std::string reason,
           const std::string& detail) {
    return make_error(kind, std::move(reason), cert.describe() + ": " + detail);
}

// Distances compare with `<= tau` written as a negation, so a NaN distance fails.
bool within(double distance, double tau) {
    return !(distance > tau) && !std::isnan(distance);
}

// What a header alone shows, in check order: version, the parent when the caller knows which
// it must be, n within max_per_worker, the worker's signature.
Status check_signed_header(const CertificateHeader& header, const LearningParams& params,
                           const Hash256* parent) {
    if (header.version != certificate_version)
        return fail(header, ErrorKind::invalid, "bad-cert-version",
                    "version " + std::to_string(header.version));
    if (parent != nullptr && header.parent != *parent)
        return fail(header, ErrorKind::invalid, "bad-cert-parent",
                    "parent " + header.parent.hex() + ", expected " + parent->hex());
    if (header.n >= params.max_per_worker)
        return fail(
            header, ErrorKind::invalid, "bad-cert-n-range",
            "n " + std::to_string(header.n) + " >= " + std::to_string(params.max_per_worker));
    if (!header.signature_valid())
        return fail(header, ErrorKind::invalid, "bad-cert-signature", "BIP340 check failed");
    return ok_status();
}

// Micro-batch b's unit leaves: the plan's units in canonical order with m-row sketches, and
// keys that are curve points (a reward to another key could never be spent).
Status check_micro_batch_leaves(const CertificateHeader& cert, const UnitPlan& plan,
                                std::uint32_t b, std::span<const Leaf> leaves) {
    const std::uint32_t units = plan.units_per_micro_batch();
    if (leaves.size() != units)
        return fail(cert, ErrorKind::invalid, "bad-cert-leaf-shape",
                    "micro-batch " + std::to_string(b) + " has " + std::to_string(leaves.size()) +
                        " leaves, genesis wants " + std::to_string(units));
    std::set<PublicKey> keys;
    for (std::uint32_t j = 0; j < units; ++j) {
        const Leaf& leaf = leaves[j];
        const auto [kind, index] = plan.unit(j);
        if (leaf.kind != kind || leaf.index != index || leaf.micro_batch != b ||
            leaf.sketch_in.size() != plan.sketch_rows() ||
            leaf.sketch_out.size() != plan.sketch_rows())
            return fail(cert, ErrorKind::invalid, "bad-cert-leaf-shape",
                        "leaf " + std::to_string(std::uint64_t{b} * units + j) + " is not " +
                            unit_kind_name(kind) + "(" + std::to_string(index) +
                            ") of micro-batch " + std::to_string(b) + " with " +
                            std::to_string(plan.sketch_rows()) + "-row sketches");
        keys.insert(leaf.worker);
    }
    for (const auto& key : keys)
        if (!key.is_valid())
            return fail(cert, ErrorKind::invalid, "bad-cert-leaf-key",
                        "leaf key " + key.hex() + " is not a point");
    return ok_status();
}

Status check_shape(const Certificate& cert, const UnitPlan& plan, const LearningParams& params) {
    const std::uint32_t m = plan.micro_batches();
    const std::uint64_t tokens = chain::tokens_per_contribution(params);
    if (cert.micro_batches != m || cert.losses.size() != m || cert.tokens != tokens ||
        cert.leaves.size() != plan.leaf_count())
        return fail(cert, ErrorKind::invalid, "bad-cert-shape",
                    std::to_string(cert.micro_batches) + " micro-batches, " +
                        std::to_string(cert.losses.size()) + " losses, " +
                        std::to_string(cert.tokens) + " tokens, " +
                        std::to_string(cert.leaves.size()) + " leaves; genesis wants " +
                        std::to_string(m) + ", " + std::to_string(m) + ", " +
                        std::to_string(tokens) + ", " + std::to_string(plan.leaf_count()));
    for (std::uint32_t b = 0; b < m; ++b)
        LEARNCHAIN_TRY(check_micro_batch_leaves(cert, plan, b, cert.micro_batch_leaves(b)));
    return ok_status();
}

}  // namespace

Result<VerifyPolicy> VerifyPolicy::parse(std::string_view text) {
    if (text == "all") return VerifyPolicy{};
    if (text == "sample") return sample(1);
    const auto invalid = [&](std::string_view why) {
        return make_error(ErrorKind::malformed, "verify-policy-invalid",
                          "'" + std::string(text) + "': " + std::string(why));
    };
    constexpr std::string_view prefix = "sample:";
    if (!text.starts_with(prefix)) return invalid("expected 'all', 'sample' or 'sample:S'");
    const std::string_view number = text.substr(prefix.size());
    std::uint32_t count = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
    if (ec != std::errc() || end != number.data() + number.size() || number.empty())
        return invalid("S is not a whole number");
    if (count < 1 || count > max_sampled_micro_batches)
        return invalid("S must be in [1, " + std::to_string(max_sampled_micro_batches) + "]");
    return sample(count);
}

VerifyPolicy VerifyPolicy::for_proposer() const {
    if (mode == Mode::all) return *this;
    return sample(std::max<std::uint32_t>(micro_batches, 2));
}

std::string VerifyPolicy::to_string() const {
    if (mode == Mode::all) return "all";
    return "sample:" + std::to_string(micro_batches);
}

std::vector<std::uint32_t> choose_micro_batches(const VerifyPolicy& policy,
                                                std::uint32_t micro_batches, SplitMix64& rng) {
    std::vector<std::uint32_t> all(micro_batches);
    for (std::uint32_t i = 0; i < micro_batches; ++i) all[i] = i;
    if (policy.mode == VerifyPolicy::Mode::all || micro_batches == 0) return all;
    const std::uint32_t count = std::clamp<std::uint32_t>(policy.micro_batches, 1, micro_batches);
    // Partial Fisher-Yates: the first `count` entries are a uniform sample.
    for (std::uint32_t i = 0; i < count; ++i)
        std::swap(all[i], all[i + rng.below(micro_batches - i)]);
    all.resize(count);
    std::sort(all.begin(), all.end());
    return all;
}

SplitMix64 local_rng() {
    std::array<std::uint8_t, 8> bytes{};
    chain::random_bytes(bytes);
    std::uint64_t state = 0;
    for (std::size_t i = 0; i < bytes.size(); ++i) state |= std::uint64_t{bytes[i]} << (8 * i);
    return SplitMix64(state);
}

Result<CheckedContribution> check_contribution(const VerifyContext& context, const UnitPlan& plan,
                                               std::span<const std::uint8_t> cert_bytes,
                                               std::span<const std::uint8_t> blob) {
    auto cert = decode_certificate(cert_bytes);
    if (!cert) return cert.error();
    return check_contribution(context, plan, std::move(cert).value(), blob);
}

Result<CheckedContribution> check_contribution(const VerifyContext& context, const UnitPlan& plan,
                                               Certificate cert,
                                               std::span<const std::uint8_t> blob) {
    const LearningParams& params = *context.params;
    // First whether the blob is the one the certificate commits to: a body whose blob was
    // changed on the way is the sender's fault (mutated), and no check of the certificate may
    // condemn a header over bytes its hash does not cover.
    if (gradient_hash(blob) != cert.gradient_hash)
        return fail(cert, ErrorKind::mutated, "bad-cert-blob-hash",
                    "blob does not hash to " + cert.gradient_hash.hex());
    LEARNCHAIN_TRY(check_signed_header(cert, params, &context.parent));
    const auto& layout_sections = plan.sections();
    const std::uint64_t parameters = layout_sections.back().offset + layout_sections.back().size;
    LEARNCHAIN_TRY(check_shape(cert, plan, params));
    if (cert.compute_merkle_root() != cert.merkle_root)
        return fail(cert, ErrorKind::invalid, "bad-cert-merkle-root",
                    "leaves do not hash to " + cert.merkle_root.hex());
    for (std::size_t b = 0; b < cert.losses.size(); ++b)
        if (!std::isfinite(cert.losses[b]))
            return fail(cert, ErrorKind::invalid, "bad-cert-loss",
                        "micro-batch " + std::to_string(b) + " loss");
    if (std::bit_cast<std::uint32_t>(cert.loss) !=
        std::bit_cast<std::uint32_t>(mean_loss(cert.losses)))
        return fail(cert, ErrorKind::invalid, "bad-cert-loss",
                    "loss is not the mean of the micro-batch losses");

    auto gradient = decode_blob(blob, parameters);
    if (!gradient)
        return fail(cert, ErrorKind::invalid, "bad-cert-blob-size", gradient.error().detail);
    double norm2 = 0;
    for (std::size_t i = 0; i < gradient->size(); ++i) {
        const float g = (*gradient)[i];
        if (!std::isfinite(g))
            return fail(cert, ErrorKind::invalid, "bad-cert-blob-nonfinite",
                        "element " + std::to_string(i) + " is " + (std::isnan(g) ? "NaN" : "Inf"));
        norm2 += static_cast<double>(g) * g;
    }
    const double norm = std::sqrt(norm2);
    if (!(norm <= params.max_gradient_norm))
        return fail(
            cert, ErrorKind::invalid, "bad-cert-gradient-norm",
            "L2 norm " + format_double(norm) + " > " + format_double(params.max_gradient_norm));

    // Linearity: the blob is the mean of the micro-batch gradients, so its sketch is the sum
    // of every BWD output sketch over M.
    const std::uint32_t rows = plan.sketch_rows();
    std::vector<double> sum(rows, 0.0);
    for (const auto& leaf : cert.leaves)
        if (leaf.kind == UnitKind::backward)
            for (std::uint32_t r = 0; r < rows; ++r) sum[r] += leaf.sketch_out[r];
    std::vector<float> claimed(rows);
    for (std::uint32_t r = 0; r < rows; ++r)
        claimed[r] = static_cast<float>(sum[r] / static_cast<double>(cert.micro_batches));
    const auto actual =
        gradient_sketch(*gradient, gradient_sketch_seed(cert.seed(), cert.gradient_hash), rows);
    const double distance = relative_l2(claimed, actual);
    if (!within(distance, params.tolerance))
        return fail(cert, ErrorKind::invalid, "bad-cert-gradient-sketch",
                    "blob sketch vs mean BWD sketch: relative L2 " + format_double(distance) +
                        " > tau " + format_double(params.tolerance));
    // Each micro-batch's gradient norm, estimated from its BWD output sketches: a gradient
    // element adds +-itself to one row of each of the m / 4 blocks, so E|sketch|^2 is m / 4
    // times |gradient|^2 (§T.7.2). Under sampling nothing else bounds a micro-batch that is not
    // recomputed, and with this one it moves the blob by about its 1/M share.
    const double blocks = gradient_sketch_blocks(rows);
    const std::uint32_t units = plan.units_per_micro_batch();
    for (std::uint32_t b = 0; b < cert.micro_batches; ++b) {
        double sum2 = 0;
        for (std::uint32_t j = 0; j < units; ++j) {
            const Leaf& leaf = cert.leaves[std::size_t{b} * units + j];
            if (leaf.kind == UnitKind::backward)
                for (const float r : leaf.sketch_out) sum2 += static_cast<double>(r) * r;
        }
        const double estimate = std::sqrt(sum2 / blocks);
        if (!(estimate <= params.max_micro_batch_gradient_norm))
            return fail(cert, ErrorKind::invalid, "bad-cert-micro-batch-gradient-norm",
                        "micro-batch " + std::to_string(b) + " BWD sketches estimate L2 norm " +
                            format_double(estimate) + " > " +
                            format_double(params.max_micro_batch_gradient_norm));
    }
    return CheckedContribution{std::move(cert), std::move(gradient).value(), distance};
}

Status check_micro_batch_evidence(const MicroBatchEvidence& evidence, const UnitPlan& plan,
                                  const LearningParams& params) {
    const CertificateHeader& header = evidence.header;
    const std::uint32_t m = plan.micro_batches();
    const std::uint64_t tokens = chain::tokens_per_contribution(params);
    LEARNCHAIN_TRY(check_signed_header(header, params, nullptr));
    if (header.micro_batches != m || header.tokens != tokens)
        return fail(header, ErrorKind::invalid, "bad-cert-shape",
                    std::to_string(header.micro_batches) + " micro-batches, " +
                        std::to_string(header.tokens) + " tokens; genesis wants " +
                        std::to_string(m) + ", " + std::to_string(tokens));
    if (evidence.micro_batch >= m)
        return fail(
            header, ErrorKind::invalid, "bad-evidence-micro-batch",
            "micro-batch " + std::to_string(evidence.micro_batch) + " of " + std::to_string(m));
    LEARNCHAIN_TRY(check_micro_batch_leaves(header, plan, evidence.micro_batch, evidence.leaves));
    if (!std::isfinite(evidence.loss))
        return fail(header, ErrorKind::invalid, "bad-cert-loss",
                    "micro-batch " + std::to_string(evidence.micro_batch) + " loss");
    return check_evidence_path(evidence);
}

Status check_distinct(std::span<const Certificate> certificates) {
    std::set<std::pair<PublicKey, std::uint32_t>> seen;
    for (std::size_t i = 0; i < certificates.size(); ++i)
        if (!seen.emplace(certificates[i].worker, certificates[i].n).second)
            return fail(certificates[i], ErrorKind::invalid, "bad-cert-duplicate",
                        "(worker, n) appears twice; second at work item " + std::to_string(i));
    return ok_status();
}

namespace {

// One micro-batch's comparisons against a trace, in canonical unit order, loss last.
struct MicroBatchComparison {
    double max_distance = 0;
    std::string max_at;
    std::optional<Error> failure;  // the first comparison above tau
};

MicroBatchComparison compare_micro_batch(const CertificateHeader& cert, const UnitPlan& plan,
                                         const std::vector<SketchPattern>& patterns,
                                         std::uint32_t b, std::span<const Leaf> leaves,
                                         float claimed_loss, const MicroBatchTrace& trace,
                                         double tau, std::string_view decided_by) {
    MicroBatchComparison out;
    auto compare = [&](std::span<const float> claimed, std::span<const float> actual,
                       const std::string& what, const char* reason) {
        const double d = relative_l2(claimed, actual);
        if (!within(d, tau) && !out.failure)
            out.failure = fail(cert, ErrorKind::fraud, reason,
                               "micro-batch " + std::to_string(b) + " " + what + ": relative L2 " +
                                   format_double(d) + " > tau " + format_double(tau) +
                                   std::string(decided_by));
        if (!(d <= out.max_distance)) {  // a NaN distance counts as the largest
            out.max_distance = d;
            out.max_at = "micro-batch " + std::to_string(b) + " " + what;
        }
    };
    const std::uint32_t units = plan.units_per_micro_batch();
    for (std::uint32_t j = 0; j < units; ++j) {
        const Leaf& leaf = leaves[j];
        const std::string unit =
            std::string(unit_kind_name(leaf.kind)) + "(" + std::to_string(leaf.index) + ")";
        std::span<const float> in, out_sketch;
        std::vector<float> backward_out;
        switch (leaf.kind) {
            case UnitKind::forward:
                in = trace.forward[leaf.index].in;
                out_sketch = trace.forward[leaf.index].out;
                break;
            case UnitKind::attention:
                in = trace.attention[leaf.index].in;
                out_sketch = trace.attention[leaf.index].out;
                break;
            case UnitKind::backward: {
                const auto& s = plan.sections()[leaf.index];
                in = trace.backward[leaf.index];
                backward_out = patterns[leaf.index].sketch(
                    std::span<const float>(trace.gradient).subspan(s.offset, s.size));
                out_sketch = backward_out;
                break;
            }
        }
        compare(leaf.sketch_in, in, unit + " sketch_in", "bad-cert-unit-mismatch");
        compare(leaf.sketch_out, out_sketch, unit + " sketch_out", "bad-cert-unit-mismatch");
    }
    // The loss last: a unit mismatch says more about where the work went wrong.
    const float loss = static_cast<float>(trace.loss);
    compare({&claimed_loss, 1}, {&loss, 1}, "loss", "bad-cert-loss-mismatch");
    return out;
}

// Whether a fast-path distance is left to the arbiter: above tau_lo and not above the mirror
// of tau_lo about tau. Outside that band every machine's fast path gives the arbiter's verdict,
// since honest drift between kernels is far below tau - tau_lo (§T.11.5).
bool needs_arbiter(double distance, const LearningParams& params) {
    const double upper = 2 * params.tolerance - params.fast_tolerance;
    return !(distance <= params.fast_tolerance) && !(distance > upper);
}

constexpr std::string_view by_arbiter = " (reference arbiter)";

// Recomputes micro-batches of one contribution and gives each its verdict (§T.11.5): the fast
// tracer's comparison, or in the band between tau_lo and 2 tau - tau_lo the arbiter's.
class MicroBatchJudge {
public:
    MicroBatchJudge(const ModelWeights& weights, const Dataset& dataset, const UnitPlan& plan,
                    const LearningParams& params, const CertificateHeader& header)
        : weights_(weights),
          dataset_(dataset),
          plan_(plan),
          params_(params),
          header_(header),
          spec_{header.seed(), &plan},
          patterns_(backward_patterns(
              plan, gradient_sketch_seed(spec_.contribution_seed, header.gradient_hash))) {}

    struct Outcome {
        MicroBatchComparison comparison;
        MicroBatchTrace trace;  // the trace that decided: the arbiter's when it was asked
        bool arbitrated = false;
    };

    [[nodiscard]] Result<Outcome> judge(Tracer& tracer, std::uint32_t b,
                                        std::span<const Leaf> leaves, float loss) {
        auto batch = batch_of(b);
        if (!batch) return batch.error();
        auto trace = tracer.trace(weights_, *batch, spec_);
        if (!trace) return trace.error();
        Outcome out{compare(b, leaves, loss, *trace, ""), std::move(trace).value(), false};
        if (needs_arbiter(out.comparison.max_distance, params_)) {
            auto arbitrated = arbitrate(b);
            if (!arbitrated) return arbitrated.error();
            out.comparison = compare(b, leaves, loss, *arbitrated, by_arbiter);
            out.trace = std::move(arbitrated).value();
            out.arbitrated = true;
        }
        return out;
    }

    // The arbiter's trace of micro-batch b; the arbiter is made on the first call.
    [[nodiscard]] Result<MicroBatchTrace> arbitrate(std::uint32_t b) {
        if (!arbiter_) {
            auto made = ReferenceTracer::create(weights_.layout.config());
            if (!made) return made.error();
            arbiter_.emplace(std::move(made).value());
        }
        auto batch = batch_of(b);
        if (!batch) return batch.error();
        return arbiter_->trace(weights_, *batch, spec_);
    }

private:
    [[nodiscard]] Result<Batch> batch_of(std::uint32_t b) const {
        return make_micro_batch(dataset_, spec_.contribution_seed, b, params_.micro_batch_size,
                                weights_.layout.config().context);
    }
    [[nodiscard]] MicroBatchComparison compare(std::uint32_t b, std::span<const Leaf> leaves,
                                               float loss, const MicroBatchTrace& trace,
                                               std::string_view decided_by) const {
        return compare_micro_batch(header_, plan_, patterns_, b, leaves, loss, trace,
                                   params_.tolerance, decided_by);
    }

    const ModelWeights& weights_;
    const Dataset& dataset_;
    const UnitPlan& plan_;
    const LearningParams& params_;
    const CertificateHeader& header_;
    TraceSpec spec_;
    std::vector<SketchPattern> patterns_;
    std::optional<ReferenceTracer> arbiter_;
};

}  // namespace

Result<RecomputeReport> recompute(Tracer& tracer, const ModelWeights& weights,
                                  const Dataset& dataset, const UnitPlan& plan,
                                  const LearningParams& params, const CheckedContribution& checked,
                                  std::span<const std::uint32_t> micro_batches,
                                  std::uint32_t* failed_micro_batch) {
    const Certificate& cert = checked.certificate;
    const double tau = params.tolerance;
    RecomputeReport report;
    MicroBatchJudge judge(weights, dataset, plan, params, cert.header());
    // Sums of the recomputed gradients: of every verdict's trace (the arbiter's where it
    // decided), and of the arbiter's alone, for a blob comparison it has to decide.
    std::vector<double> sum, arbiter_sum;
    const auto add = [](std::vector<double>& to, const std::vector<float>& gradient) {
        if (to.empty()) to.assign(gradient.size(), 0.0);
        for (std::size_t i = 0; i < to.size() && i < gradient.size(); ++i) to[i] += gradient[i];
    };
    std::vector<bool> done(cert.micro_batches, false);

    for (const std::uint32_t b : micro_batches) {
        if (b >= cert.micro_batches || done[b] || b >= cert.losses.size())
            return make_error(ErrorKind::local, "verify-micro-batch-invalid",
                              cert.describe() + ": micro-batch " + std::to_string(b));
        done[b] = true;
        auto outcome = judge.judge(tracer, b, cert.micro_batch_leaves(b), cert.losses[b]);
        if (!outcome) return outcome.error();
        if (outcome->arbitrated) {
            report.arbitrated.push_back(b);
            add(arbiter_sum, outcome->trace.gradient);
        }
        MicroBatchComparison& comparison = outcome->comparison;
        if (comparison.failure) {
            if (failed_micro_batch) *failed_micro_batch = b;
            return *comparison.failure;
        }
        if (comparison.max_distance > report.max_distance) {
            report.max_distance = comparison.max_distance;
            report.max_at = std::move(comparison.max_at);
        }
        add(sum, outcome->trace.gradient);
        report.micro_batches.push_back(b);
    }
    if (report.micro_batches.size() != cert.micro_batches || sum.empty()) return report;

    // With every micro-batch redone, the blob itself can be checked, not only its sketch.
    const auto mean_distance = [&](const std::vector<double>& total) {
        std::vector<float> mean(total.size());
        for (std::size_t i = 0; i < total.size(); ++i)
            mean[i] = static_cast<float>(total[i] / static_cast<double>(cert.micro_batches));
        return relative_l2(mean, checked.gradient);
    };
    report.gradient_distance = mean_distance(sum);
    if (needs_arbiter(report.gradient_distance, params)) {
        // Only a blob placed near tau on purpose gets here: the arbiter redoes every
        // micro-batch it has not done yet, and its mean gradient alone decides.
        const std::set<std::uint32_t> arbitrated(report.arbitrated.begin(),
                                                 report.arbitrated.end());
        for (std::uint32_t b = 0; b < cert.micro_batches; ++b) {
            if (arbitrated.contains(b)) continue;
            auto trace = judge.arbitrate(b);
            if (!trace) return trace.error();
            add(arbiter_sum, trace->gradient);
        }
        report.gradient_distance = mean_distance(arbiter_sum);
        report.gradient_arbitrated = true;
    }
    if (!within(report.gradient_distance, tau))
        return fail(cert, ErrorKind::fraud, "bad-cert-gradient-mismatch",
                    "blob vs recomputed mean gradient: relative L2 " +
                        format_double(report.gradient_distance) + " > tau " + format_double(tau) +
                        std::string(report.gradient_arbitrated ? by_arbiter : ""));
    return report;
}

Result<ProvenFraud> check_fraud_proof(Tracer& tracer, const ModelWeights& weights,
                                      const Dataset& dataset, const UnitPlan& plan,
                                      const VerifyContext& context,
                                      const MicroBatchEvidence& evidence) {
    const LearningParams& params = *context.params;
    const CertificateHeader& header = evidence.header;
    LEARNCHAIN_TRY(check_micro_batch_evidence(evidence, plan, params));
    if (header.parent != context.parent)
        return fail(header, ErrorKind::invalid, "bad-cert-parent",
                    "parent " + header.parent.hex() + ", expected " + context.parent.hex());
    MicroBatchJudge judge(weights, dataset, plan, params, header);
    auto outcome = judge.judge(tracer, evidence.micro_batch, evidence.leaves, evidence.loss);
    if (!outcome) return outcome.error();
    if (outcome->comparison.failure)
        return ProvenFraud{*outcome->comparison.failure, outcome->arbitrated};
    return fail(header, ErrorKind::invalid, "fraud-proof-unfounded",
                "micro-batch " + std::to_string(evidence.micro_batch) +
                    " recomputes within tau (largest relative L2 " +
                    format_double(outcome->comparison.max_distance) + " at " +
                    outcome->comparison.max_at + ")" +
                    std::string(outcome->arbitrated ? by_arbiter : ""));
}

Result<VerifiedContribution> verify_contribution(Tracer& tracer, const ModelWeights& weights,
                                                 const Dataset& dataset,
                                                 const VerifyContext& context,
                                                 const chain::WorkItem& item,
                                                 const VerifyPolicy& policy, SplitMix64& rng) {
    auto plan = UnitPlan::create(weights.layout, *context.params);
    if (!plan) return plan.error();
    auto checked = check_contribution(context, *plan, item.certificate, item.blob);
    if (!checked) return checked.error();
    const auto chosen = choose_micro_batches(policy, checked->certificate.micro_batches, rng);
    auto report = recompute(tracer, weights, dataset, *plan, *context.params, *checked, chosen);
    if (!report) return report.error();
    VerifiedContribution out;
    out.root = checked->certificate.root();
    out.credited = credited_work(checked->certificate);
    out.checked = std::move(checked).value();
    out.report = std::move(report).value();
    return out;
}

Result<std::vector<VerifiedContribution>> verify_work_items(
    Tracer& tracer, const ModelWeights& weights, const Dataset& dataset,
    const VerifyContext& context, std::span<const chain::WorkItem> items,
    const VerifyPolicy& policy, SplitMix64& rng) {
    auto plan = UnitPlan::create(weights.layout, *context.params);
    if (!plan) return plan.error();
    auto prefix = [](std::size_t i, const Error& e) {
        return e.prefixed("work item " + std::to_string(i));
    };
    std::vector<CheckedContribution> checked;
    std::vector<Certificate> certificates;
    for (std::size_t i = 0; i < items.size(); ++i) {
        auto c = check_contribution(context, *plan, items[i].certificate, items[i].blob);
        if (!c) return prefix(i, c.error());
        certificates.push_back(c->certificate);
        checked.push_back(std::move(c).value());
    }
    LEARNCHAIN_TRY(check_distinct(certificates));
    std::vector<VerifiedContribution> out;
    for (std::size_t i = 0; i < checked.size(); ++i) {
        const auto chosen = choose_micro_batches(policy, checked[i].certificate.micro_batches, rng);
        auto report =
            recompute(tracer, weights, dataset, *plan, *context.params, checked[i], chosen);
        if (!report) return prefix(i, report.error());
        VerifiedContribution v;
        v.root = checked[i].certificate.root();
        v.credited = credited_work(checked[i].certificate);
        v.checked = std::move(checked[i]);
        v.report = std::move(report).value();
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace learnchain::consensus
