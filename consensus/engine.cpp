#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <utility>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/engine.hpp>

namespace learnchain::consensus {
namespace {

constexpr std::uint32_t model_undo_version = 1;
constexpr std::size_t step_bytes = 24;

void append_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    for (int b = 0; b < 8; ++b) out.push_back(static_cast<std::uint8_t>(v >> (8 * b)));
}

std::uint64_t read_u64(std::span<const std::uint8_t> in) {
    std::uint64_t v = 0;
    for (int b = 0; b < 8; ++b) v |= std::uint64_t{in[b]} << (8 * b);
    return v;
}

std::vector<std::uint8_t> encode_step(const StepState& step) {
    std::vector<std::uint8_t> out;
    out.reserve(step_bytes);
    append_u64(out, step.step);
    append_u64(out, std::bit_cast<std::uint64_t>(step.beta1_power));
    append_u64(out, std::bit_cast<std::uint64_t>(step.beta2_power));
    return out;
}

StepState decode_step(std::span<const std::uint8_t> in) {
    return {read_u64(in), std::bit_cast<double>(read_u64(in.subspan(8))),
            std::bit_cast<double>(read_u64(in.subspan(16)))};
}

std::vector<std::uint8_t> hash_bytes(const Hash256& hash) {
    return {hash.bytes().begin(), hash.bytes().end()};
}

}  // namespace

Result<ModelState> genesis_model_state(const chain::ModelConfig& config) {
    auto weights = genesis_weights(config);
    if (!weights) return weights.error();
    const std::size_t parameters = weights->values.size();
    return ModelState{std::move(weights).value(), OptimizerState::zeros(parameters)};
}

Hash256 model_state_root(const ModelState& state) {
    const auto& layout = state.weights.layout;
    return chain::TaggedHasher(model_state_tag)
        .update(weights_hash(layout, state.weights.values))
        .update(weights_hash(layout, state.optimizer.m))
        .update(weights_hash(layout, state.optimizer.v))
        .update(encode_step(state.optimizer.step))
        .finalize();
}

Status aggregate_and_step(ModelState& state, std::vector<AggregateInput> inputs,
                          const chain::OptimizerParams& params) {
    if (inputs.empty()) return make_error(ErrorKind::local, "pol-aggregate-empty");
    // Canonical order: the f64 sum is rounded per addition, so order is part of the result.
    std::sort(inputs.begin(), inputs.end(),
              [](const AggregateInput& a, const AggregateInput& b) { return a.root < b.root; });
    for (std::size_t i = 1; i < inputs.size(); ++i)
        if (inputs[i].root == inputs[i - 1].root)
            return make_error(ErrorKind::local, "pol-aggregate-duplicate", inputs[i].root.hex());
    GradientAccumulator accumulator(state.weights.values.size());
    for (const auto& input : inputs) LEARNCHAIN_TRY(accumulator.add(input.gradient, input.tokens));
    auto mean = accumulator.mean();
    if (!mean) return mean.error();
    return apply_adamw(state.weights.values, state.optimizer, *mean, params);
}

std::vector<std::uint8_t> encode_model_undo(const ModelState& state) {
    const std::size_t n = state.weights.values.size();
    std::vector<std::uint8_t> out;
    out.reserve(4 + step_bytes + 12 * n);
    for (int b = 0; b < 4; ++b)
        out.push_back(static_cast<std::uint8_t>(model_undo_version >> (8 * b)));
    const auto step = encode_step(state.optimizer.step);
    out.insert(out.end(), step.begin(), step.end());
    chain::append_f32_le(out, state.weights.values);
    chain::append_f32_le(out, state.optimizer.m);
    chain::append_f32_le(out, state.optimizer.v);
    return out;
}

Status decode_model_undo(std::span<const std::uint8_t> bytes, ModelState& state) {
    const std::size_t n = state.weights.values.size();
    if (bytes.size() != 4 + step_bytes + 12 * n)
        return make_error(
            ErrorKind::local, "pol-engine-bad-undo",
            std::to_string(bytes.size()) + " bytes for " + std::to_string(n) + " parameters");
    if (bytes[0] != model_undo_version || bytes[1] != 0 || bytes[2] != 0 || bytes[3] != 0)
        return make_error(ErrorKind::local, "pol-engine-bad-undo", "unknown version");
    state.optimizer.step = decode_step(bytes.subspan(4, step_bytes));
    const auto values = bytes.subspan(4 + step_bytes);
    state.optimizer.m.resize(n);
    state.optimizer.v.resize(n);
    chain::read_f32_le(values.subspan(0, 4 * n), state.weights.values);
    chain::read_f32_le(values.subspan(4 * n, 4 * n), state.optimizer.m);
    chain::read_f32_le(values.subspan(8 * n, 4 * n), state.optimizer.v);
    return ok_status();
}

// --- engine ----------------------------------------------------------------------------------

Result<std::unique_ptr<PolWorkEngine>> PolWorkEngine::create(const chain::Genesis& genesis,
                                                             EngineOptions options) {
    const chain::LearningParams& params = genesis.learning;
    auto state = genesis_model_state(params.model);
    if (!state) return state.error();
    auto plan = UnitPlan::create(state->weights.layout, params);
    if (!plan) return plan.error();
    auto dataset = Dataset::open(params.dataset, options.dataset_dir);
    if (!dataset) return dataset.error();
    if (!options.make_tracer) return make_error(ErrorKind::local, "pol-engine-no-tracer");
    auto tracer = options.make_tracer();
    if (!tracer) return tracer.error();
    const SplitMix64 rng = options.rng_seed != 0 ? SplitMix64(options.rng_seed) : local_rng();
    std::unique_ptr<PolWorkEngine> engine(new PolWorkEngine(
        params, std::move(options), std::move(tracer).value(), std::move(dataset).value(),
        std::move(plan).value(), std::move(state).value(), rng));
    // The genesis block commits to the initial model root, so the engine can name it itself.
    auto block = chain::make_genesis_block(genesis, engine->root_);
    if (!block) return block.error();
    engine->genesis_block_ = block->hash();
    engine->model_block_ = engine->genesis_block_;
    return engine;
}

PolWorkEngine::PolWorkEngine(chain::LearningParams params, EngineOptions options,
                             std::unique_ptr<Tracer> tracer, Dataset dataset, UnitPlan plan,
                             ModelState state, SplitMix64 rng)
    : params_(std::move(params)),
      options_(std::move(options)),
      tracer_(std::move(tracer)),
      dataset_(std::move(dataset)),
      plan_(std::move(plan)),
      state_(std::move(state)),
      genesis_state_(state_),
      rng_(rng),
      detached_rng_(rng.next()) {
    root_ = model_state_root(state_);
}

Status PolWorkEngine::check_at_parent(const chain::WorkContext& context) const {
    // Not a bad-* reason: the block may be fine, the caller asked at the wrong model.
    if (context.parent_hash != model_block_)
        return make_error(ErrorKind::local, "pol-engine-not-at-parent",
                          "engine holds the model of " + model_block_.hex() + ", block builds on " +
                              context.parent_hash.hex());
    return ok_status();
}

void PolWorkEngine::remember_verified(const Hash256& parent, const Hash256& root) {
    verdicts_.put({parent, root}, ok_status());
}

Result<chain::BlockWork> PolWorkEngine::verify(const chain::Block& block,
                                               const chain::WorkContext& context) {
    LEARNCHAIN_TRY(check_at_parent(context));
    return verify_work(state_.weights, block, context, *tracer_, rng_);
}

// verify_work_items' order (cheap checks on every item, distinct, then recomputation), with
// recomputation skipped for contributions whose verdict on this parent is remembered.
Result<chain::BlockWork> PolWorkEngine::verify_work(const ModelWeights& parent,
                                                    const chain::Block& block,
                                                    const chain::WorkContext& context,
                                                    Tracer& tracer, SplitMix64& rng) {
    const VerifyContext verify_context{&params_, context.parent_hash};
    auto prefix = [](std::size_t i, const Error& e) {
        return e.prefixed("work item " + std::to_string(i));
    };
    std::vector<CheckedContribution> checked;
    std::vector<Certificate> certificates;
    for (std::size_t i = 0; i < block.work_items.size(); ++i) {
        const auto& item = block.work_items[i];
        auto c = check_contribution(verify_context, plan_, item.certificate, item.blob);
        if (!c) return prefix(i, c.error());
        certificates.push_back(c->certificate);
        checked.push_back(std::move(c).value());
    }
    LEARNCHAIN_TRY(check_distinct(certificates));
    chain::BlockWork work;
    for (const auto& c : checked) {
        work.certificate_roots.push_back(c.certificate.root());
        const auto credited = credited_work(c.certificate);
        work.workers.insert(work.workers.end(), credited.begin(), credited.end());
    }
    // The header's work root and work (PROTOCOL.md §L.6.4) need only the certificates, so they
    // are checked before any training: a valid header with another body costs no recomputation.
    LEARNCHAIN_TRY(chain::check_block_work(block, work));
    for (std::size_t i = 0; i < checked.size(); ++i) {
        if (auto proven =
                false_certificates_.find({context.parent_hash, checked[i].certificate.sighash()}))
            return prefix(i, proven->error());
        const Verdicts::Key key{context.parent_hash, work.certificate_roots[i]};
        if (auto known = verdicts_.find(key)) {
            if (*known) continue;
            return prefix(i, known->error());
        }
        const auto chosen =
            choose_micro_batches(options_.policy, checked[i].certificate.micro_batches, rng);
        // Set only when a micro-batch's comparison failed (not the whole blob's).
        std::uint32_t failed = std::numeric_limits<std::uint32_t>::max();
        auto report =
            recompute(tracer, parent, dataset_, plan_, params_, checked[i], chosen, &failed);
        if (!report) {
            // Only a broken rule is the contribution's own; a failure of ours (a device error)
            // must be tried again.
            if (report.error().kind == ErrorKind::fraud) {
                verdicts_.put(key, report.error());
                // A micro-batch that broke it is evidence every other node can check.
                if (failed < checked[i].certificate.micro_batches)
                    found_fraud(block.hash(), checked[i].certificate, failed);
            }
            return prefix(i, report.error());
        }
        verdicts_.put(key, ok_status());
    }
    return work;
}

Status PolWorkEngine::check_work(const chain::Block& block, const chain::WorkContext& context) {
    const VerifyContext verify_context{&params_, context.parent_hash};
    std::vector<Certificate> certificates;
    chain::BlockWork work;
    for (std::size_t i = 0; i < block.work_items.size(); ++i) {
        const auto& item = block.work_items[i];
        auto certificate = decode_certificate(item.certificate);
        if (!certificate) return certificate.error().prefixed("work item " + std::to_string(i));
        const Hash256 root = certificate->root();
        const auto known = verdicts_.find({context.parent_hash, root});
        if (known && !*known) return known->error().prefixed("work item " + std::to_string(i));
        if (known) {
            // Checked in full before on this parent; the blob is the one thing a copy of the
            // block can have changed.
            if (gradient_hash(item.blob) != certificate->gradient_hash)
                return make_error(
                    ErrorKind::mutated, "bad-cert-blob-hash",
                    "work item " + std::to_string(i) + ": " + certificate->describe());
        } else if (auto checked =
                       check_contribution(verify_context, plan_, *certificate, item.blob);
                   !checked) {
            return checked.error().prefixed("work item " + std::to_string(i));
        }
        work.certificate_roots.push_back(root);
        const auto credited = credited_work(*certificate);
        work.workers.insert(work.workers.end(), credited.begin(), credited.end());
        certificates.push_back(std::move(*certificate));
    }
    LEARNCHAIN_TRY(check_distinct(certificates));
    return chain::check_block_work(block, work);
}

Status PolWorkEngine::step(ModelState& state, const chain::Block& block,
                           const chain::BlockWork& work) const {
    // The update is derived from the block alone (the blobs verify() checked), so a template
    // built from the miner's own BlockWork updates the model exactly as validators will.
    const std::size_t parameters = state.weights.values.size();
    std::vector<std::vector<float>> gradients;
    std::vector<AggregateInput> inputs;
    gradients.reserve(block.work_items.size());
    for (std::size_t i = 0; i < block.work_items.size(); ++i) {
        const auto& item = block.work_items[i];
        auto certificate = decode_certificate(item.certificate);
        if (!certificate) return certificate.error();
        auto gradient = decode_blob(item.blob, parameters);
        if (!gradient) return gradient.error();
        const Hash256 root = certificate->root();
        if (i >= work.certificate_roots.size() || work.certificate_roots[i] != root)
            return make_error(ErrorKind::local, "pol-engine-work-mismatch",
                              "work item " + std::to_string(i) + " is not the verified one");
        gradients.push_back(std::move(gradient).value());
        inputs.push_back({root, gradients.back(), certificate->tokens});
    }
    return aggregate_and_step(state, std::move(inputs), params_.optimizer);
}

Result<chain::WorkApplied> PolWorkEngine::apply(const chain::Block& block,
                                                const chain::BlockWork& work,
                                                const chain::WorkContext& context) {
    LEARNCHAIN_TRY(check_at_parent(context));
    ModelState before = state_;
    if (auto stepped = step(state_, block, work); !stepped) {
        state_ = std::move(before);
        return stepped.error();
    }
    model_block_ = block.hash();
    record_state();
    return chain::WorkApplied{root_, encode_model_undo(before)};
}

// --- verification without the chain lock --------------------------------------------------

namespace {

// The model state at one block, as the chain's WorkSnapshot.
struct StateSnapshot final : chain::WorkSnapshot {
    StateSnapshot(const Hash256& b, ModelState s) : block(b), state(std::move(s)) {}
    Hash256 block;
    ModelState state;
};

}  // namespace

chain::WorkSnapshotPtr PolWorkEngine::snapshot() const {
    return std::make_shared<StateSnapshot>(model_block_, state_);
}

Result<chain::WorkSnapshotPtr> PolWorkEngine::snapshot_from_undo(
    const Hash256& block, const std::vector<std::uint8_t>& child_undo) const {
    ModelState state = genesis_state_;  // the layout and sizes; the values are overwritten
    LEARNCHAIN_TRY(decode_model_undo(child_undo, state));
    return chain::WorkSnapshotPtr(std::make_shared<StateSnapshot>(block, std::move(state)));
}

Result<chain::WorkSnapshotPtr> PolWorkEngine::verify_detached(const chain::WorkSnapshot& parent,
                                                              const chain::Block& block,
                                                              const chain::WorkContext& context) {
    const auto* model = dynamic_cast<const StateSnapshot*>(&parent);
    if (model == nullptr || model->block != context.parent_hash)
        return make_error(ErrorKind::local, "pol-engine-not-at-parent",
                          "the snapshot is not the model of " + context.parent_hash.hex());
    // One detached verification at a time: the tracer is not thread-safe, and each already
    // uses every core.
    LOCK(detached_mutex_);
    auto tracer = detached_tracer();
    if (!tracer) return tracer.error();
    auto work = verify_work(model->state.weights, block, context, **tracer, detached_rng_);
    if (!work) return work.error();
    auto child = std::make_shared<StateSnapshot>(block.hash(), model->state);
    LEARNCHAIN_TRY(step(child->state, block, *work));
    return chain::WorkSnapshotPtr(std::move(child));
}

Result<Tracer*> PolWorkEngine::detached_tracer() {
    if (!detached_tracer_) {
        auto tracer = options_.make_tracer();
        if (!tracer) return tracer.error();
        detached_tracer_ = std::move(tracer).value();
    }
    return detached_tracer_.get();
}

void PolWorkEngine::found_fraud(const Hash256& block, const Certificate& certificate,
                                std::uint32_t micro_batch) {
    auto evidence = make_micro_batch_evidence(certificate, micro_batch);
    if (!evidence) return;  // the certificate passed its shape checks: this cannot fail
    LOCK(found_mutex_);
    if (found_.size() >= max_found_fraud_proofs) return;
    found_.push_back({block, encode_micro_batch_evidence(*evidence)});
}

std::vector<chain::FraudProof> PolWorkEngine::take_found_fraud_proofs() {
    LOCK(found_mutex_);
    return std::exchange(found_, {});
}

Result<chain::ProvenInvalid> PolWorkEngine::check_fraud_proof(
    const chain::WorkSnapshot& parent, const chain::Block& block,
    std::span<const std::uint8_t> evidence) {
    const auto* model = dynamic_cast<const StateSnapshot*>(&parent);
    if (model == nullptr || model->block != block.header.parent)
        return make_error(ErrorKind::local, "pol-engine-not-at-parent",
                          "the snapshot is not the model of " + block.header.parent.hex());
    auto decoded = decode_micro_batch_evidence(evidence);
    if (!decoded) return decoded.error();
    // Canonical encodings: the certificate whose header this is begins with these bytes.
    const auto header = encode_certificate_header(decoded->header);
    std::optional<std::size_t> item;
    for (std::size_t i = 0; i < block.work_items.size() && !item; ++i) {
        const auto& certificate = block.work_items[i].certificate;
        if (certificate.size() >= header.size() &&
            std::equal(header.begin(), header.end(), certificate.begin()))
            item = i;
    }
    if (!item)
        return make_error(
            ErrorKind::invalid, "fraud-proof-not-in-block",
            decoded->header.describe() + " is in no work item of block " + block.hash().hex());
    auto proven = judge_micro_batch(model->state.weights, block.header.parent, *decoded);
    if (!proven) return proven.error();
    const std::string where = "work item " + std::to_string(*item) + " (fraud proof, micro-batch " +
                              std::to_string(decoded->micro_batch) + ")";
    Error broken = proven->broken.prefixed(where);
    verdicts_.put(
        {block.header.parent, chain::certificate_root(block.work_items[*item].certificate)},
        broken);
    return chain::ProvenInvalid{std::move(broken)};
}

Result<ProvenFraud> PolWorkEngine::judge_micro_batch(const ModelWeights& weights,
                                                     const Hash256& parent,
                                                     const MicroBatchEvidence& evidence) {
    const VerifyContext context{&params_, parent};
    LOCK(detached_mutex_);
    auto tracer = detached_tracer();
    if (!tracer) return tracer.error();
    return consensus::check_fraud_proof(**tracer, weights, dataset_, plan_, context, evidence);
}

Result<chain::EvidenceClaim> PolWorkEngine::check_evidence_claim(
    std::span<const std::uint8_t> proof) const {
    auto decoded = decode_micro_batch_evidence(proof);
    if (!decoded) return decoded.error();
    LEARNCHAIN_TRY(check_micro_batch_evidence(*decoded, plan_, params_));
    return chain::EvidenceClaim{decoded->header.worker, decoded->header.sighash(),
                                decoded->header.parent};
}

Status PolWorkEngine::check_evidence(const chain::WorkSnapshot& parent,
                                     std::span<const std::uint8_t> proof) {
    const auto* model = dynamic_cast<const StateSnapshot*>(&parent);
    if (model == nullptr)
        return make_error(ErrorKind::local, "pol-engine-not-at-parent", "not a model snapshot");
    const Verdicts::Key key{model->block, chain::tagged_hash(chain::tag::evidence, proof)};
    if (auto known = evidence_verdicts_.find(key)) return *known;
    auto decoded = decode_micro_batch_evidence(proof);
    if (!decoded) return decoded.error();
    if (decoded->header.parent != model->block)
        return make_error(ErrorKind::local, "pol-engine-not-at-parent",
                          "the snapshot is not the model of " + decoded->header.parent.hex());
    auto proven = judge_micro_batch(model->state.weights, model->block, *decoded);
    Status verdict = ok_status();
    if (proven) {
        false_certificates_.put({model->block, decoded->header.sighash()},
                                proven->broken.prefixed("proven by evidence"));
    } else {
        if (proven.error().kind == ErrorKind::local) return proven.error();
        Error error = proven.error();
        if (error.reason == "fraud-proof-unfounded") error.reason = "bad-evidence-unfounded";
        verdict = std::move(error);
    }
    evidence_verdicts_.put(key, verdict);
    return verdict;
}

void PolWorkEngine::Verdicts::put(const Key& key, Status verdict) {
    LOCK(mutex_);
    // Bounded: cleared when full. A lost pass costs a recomputation, a lost failure the same.
    if (known_.size() >= max_remembered_contributions) known_.clear();
    known_.insert_or_assign(key, std::move(verdict));
}

std::optional<Status> PolWorkEngine::Verdicts::find(const Key& key) const {
    LOCK(mutex_);
    const auto it = known_.find(key);
    if (it == known_.end()) return std::nullopt;
    return it->second;
}

Status PolWorkEngine::undo(const chain::Block& block, const chain::WorkContext& context,
                           const std::vector<std::uint8_t>& undo) {
    if (block.hash() != model_block_)
        return make_error(ErrorKind::local, "pol-engine-undo-mismatch",
                          "engine holds " + model_block_.hex() + ", undo of " + block.hash().hex());
    ModelState restored = state_;
    LEARNCHAIN_TRY(decode_model_undo(undo, restored));
    state_ = std::move(restored);
    model_block_ = context.parent_hash;
    record_state();
    return ok_status();
}

void PolWorkEngine::record_state() {
    root_ = model_state_root(state_);
    // The whole state each time: a block changes every parameter, so there is nothing to diff.
    pending_.push_back(
        {std::string(model_key::weights), chain::encode_f32_le(state_.weights.values)});
    pending_.push_back(
        {std::string(model_key::first_moment), chain::encode_f32_le(state_.optimizer.m)});
    pending_.push_back(
        {std::string(model_key::second_moment), chain::encode_f32_le(state_.optimizer.v)});
    pending_.push_back({std::string(model_key::step), encode_step(state_.optimizer.step)});
    pending_.push_back({std::string(model_key::block), hash_bytes(model_block_)});
}

std::vector<chain::ModelWrite> PolWorkEngine::take_state_writes() {
    return std::exchange(pending_, {});
}

Status PolWorkEngine::load(const chain::ModelEntries& entries) {
    pending_.clear();
    if (entries.empty()) {
        state_ = genesis_state_;
        model_block_ = genesis_block_;
        root_ = model_state_root(state_);
        return ok_status();
    }
    const std::size_t n = genesis_state_.weights.values.size();
    ModelState loaded = genesis_state_;
    int found = 0;
    auto corrupt = [](const std::string& key, const std::string& why) {
        return make_error(ErrorKind::local, "pol-engine-state-corrupt", key + ": " + why);
    };
    for (const auto& [key, value] : entries) {
        const std::span<const std::uint8_t> bytes(value);
        if (key == model_key::weights || key == model_key::first_moment ||
            key == model_key::second_moment) {
            if (bytes.size() != 4 * n)
                return corrupt(key, std::to_string(bytes.size()) + " bytes, expected " +
                                        std::to_string(4 * n));
            auto& target = key == model_key::weights        ? loaded.weights.values
                           : key == model_key::first_moment ? loaded.optimizer.m
                                                            : loaded.optimizer.v;
            chain::read_f32_le(bytes, target);
        } else if (key == model_key::step) {
            if (bytes.size() != step_bytes) return corrupt(key, "bad size");
            loaded.optimizer.step = decode_step(bytes);
        } else if (key == model_key::block) {
            if (bytes.size() != Hash256::size) return corrupt(key, "bad size");
            std::array<std::uint8_t, Hash256::size> raw{};
            std::copy(bytes.begin(), bytes.end(), raw.begin());
            model_block_ = Hash256(raw);
        } else {
            return corrupt(key, "unknown key");
        }
        ++found;
    }
    if (found != 5) return corrupt("model", "expected 5 entries, found " + std::to_string(found));
    state_ = std::move(loaded);
    root_ = model_state_root(state_);
    return ok_status();
}

}  // namespace learnchain::consensus
