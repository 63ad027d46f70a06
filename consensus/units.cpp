#include <array>
#include <memory>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/parallel.hpp>
#include <learnchain/consensus/units.hpp>

namespace learnchain::consensus {
namespace {

void append_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

}  // namespace

const char* unit_kind_name(UnitKind kind) {
    switch (kind) {
        case UnitKind::forward:
            return "FWD";
        case UnitKind::attention:
            return "ATT";
        case UnitKind::backward:
            return "BWD";
    }
    return "unit?";
}

// The three seed preimages have different lengths (68, 38 and 64 bytes), so no seed of one
// kind can equal a seed of another under the shared tag.
Hash256 contribution_seed(const Hash256& parent_hash, const PublicKey& worker, std::uint32_t n) {
    std::vector<std::uint8_t> n_bytes;
    append_u32(n_bytes, n);
    return chain::TaggedHasher(chain::tag::seed)
        .update(parent_hash)
        .update(worker.span())
        .update(chain::Bytes(n_bytes))
        .finalize();
}

Hash256 activation_sketch_seed(const Hash256& contribution_seed, UnitKind kind, std::uint32_t index,
                               SketchSlot slot) {
    std::vector<std::uint8_t> tail;
    tail.push_back(static_cast<std::uint8_t>(kind));
    append_u32(tail, index);
    tail.push_back(static_cast<std::uint8_t>(slot));
    return chain::TaggedHasher(chain::tag::seed)
        .update(contribution_seed)
        .update(chain::Bytes(tail))
        .finalize();
}

Hash256 gradient_sketch_seed(const Hash256& contribution_seed, const Hash256& gradient_hash) {
    return chain::TaggedHasher(chain::tag::seed)
        .update(contribution_seed)
        .update(gradient_hash)
        .finalize();
}

std::vector<float> gradient_sketch(std::span<const float> values, const Hash256& gradient_seed,
                                   std::uint32_t sketch_rows, std::uint64_t index_offset) {
    return sketch(values, gradient_seed, sketch_rows, index_offset,
                  gradient_sketch_blocks(sketch_rows));
}

Hash256 Leaf::hash() const {
    return chain::tagged_hash(chain::tag::unit, chain::encode(*this));
}

Result<UnitPlan> UnitPlan::create(const ModelLayout& layout, const LearningParams& params) {
    const auto& model = layout.config();
    if (params.head_groups == 0 || model.heads % params.head_groups != 0)
        return make_error(ErrorKind::malformed, "pol-params-invalid",
                          "head_groups must be >= 1 and divide heads");
    if (params.sketch_rows == 0 || params.sketch_rows > 32768 ||
        params.sketch_rows % gradient_sketch_block_rows != 0)
        return make_error(ErrorKind::malformed, "pol-params-invalid",
                          "sketch_rows must be a multiple of 4 in [4, 32768]");
    if (params.micro_batches == 0 || params.micro_batch_size == 0)
        return make_error(ErrorKind::malformed, "pol-params-invalid", "empty micro-batches");
    auto sections = make_sections(layout, params.sections);
    if (!sections)
        return make_error(ErrorKind::malformed, "pol-params-invalid", sections.error().to_string());
    UnitPlan plan;
    plan.sections_ = std::move(sections).value();
    plan.head_groups_ = params.head_groups;
    plan.layers_ = model.layers;
    plan.sketch_rows_ = params.sketch_rows;
    plan.micro_batches_ = params.micro_batches;
    return plan;
}

std::pair<UnitKind, std::uint32_t> UnitPlan::unit(std::uint32_t j) const {
    const auto k = static_cast<std::uint32_t>(sections_.size());
    if (j < k) return {UnitKind::forward, j};
    if (j < k + attention_units()) return {UnitKind::attention, j - k};
    return {UnitKind::backward, j - k - attention_units()};
}

}  // namespace learnchain::consensus

namespace learnchain::consensus {

std::vector<SketchPattern> backward_patterns(const UnitPlan& plan, const Hash256& gradient_seed) {
    const auto& sections = plan.sections();
    std::vector<std::unique_ptr<SketchPattern>> built(sections.size());
    parallel_jobs(sections.size(), [&](std::size_t s) {
        built[s] = std::make_unique<SketchPattern>(gradient_seed, plan.sketch_rows(),
                                                   sections[s].offset, sections[s].size,
                                                   gradient_sketch_blocks(plan.sketch_rows()));
    });
    std::vector<SketchPattern> out;
    for (auto& p : built) out.push_back(std::move(*p));
    return out;
}

}  // namespace learnchain::consensus
