// Units of proof-of-learning work and their leaves (PROTOCOL.md, "Units" and "Leaves").
//
// Per micro-batch a contribution does FWD(s) for each section s, ATT(l, g) for each layer l and
// head group g, and BWD(s) for each section. Each unit is fingerprinted by linear sketches of
// its input and output; a leaf commits to them with the key of the worker that did the unit.
// Torch-free: the trainer fills in the sketches, this header fixes what they mean.
#pragma once

#include <cstdint>
#include <vector>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/sections.hpp>
#include <learnchain/consensus/sketch.hpp>

namespace learnchain::consensus {

using chain::LearningParams;
using chain::PublicKey;

enum class UnitKind : std::uint8_t { forward = 0, attention = 1, backward = 2 };

[[nodiscard]] const char* unit_kind_name(UnitKind kind);  // "FWD", "ATT", "BWD"

// Which side of a unit a sketch fingerprints.
enum class SketchSlot : std::uint8_t { input = 0, output = 1 };

// seed = H_seed(parent_hash || worker_pk || u32le(n)): picks every micro-batch of the
// contribution, so the worker cannot choose its data.
[[nodiscard]] Hash256 contribution_seed(const Hash256& parent_hash, const PublicKey& worker,
                                        std::uint32_t n);

// Seed of one activation sketch: H_seed(contribution_seed || u8 kind || u32le index || u8 slot).
// Also used for the BWD input (the upstream gradient). The micro-batch is not in it: every
// micro-batch of a contribution shares the unit's pattern, so it is hashed once (SketchPattern).
[[nodiscard]] Hash256 activation_sketch_seed(const Hash256& contribution_seed, UnitKind kind,
                                             std::uint32_t index, SketchSlot slot);

// Seed of every parameter-gradient sketch (BWD outputs and the blob) of one contribution:
// H_seed(contribution_seed || gradient_hash). It depends on the published blob, so a worker
// cannot pick a blob in the null space of a sketch it knows in advance (Fiat-Shamir).
[[nodiscard]] Hash256 gradient_sketch_seed(const Hash256& contribution_seed,
                                           const Hash256& gradient_hash);

// Parameter gradients are sketched with the sparse JL sketch: sketch_rows / 4 blocks of 4 rows,
// so that a blob differing from the honest one by any nonzero vector escapes check 15 with
// probability at most 8^(-sketch_rows / 4) per seed, however the worker re-rolls it
// (consensus/PROTOCOL.md §T.7.1). sketch_rows is a multiple of 4.
inline constexpr std::uint32_t gradient_sketch_block_rows = 4;
[[nodiscard]] constexpr std::uint32_t gradient_sketch_blocks(std::uint32_t sketch_rows) {
    return sketch_rows / gradient_sketch_block_rows;
}

// The sketch of a gradient's elements [index_offset, index_offset + values.size()) under the
// contribution's gradient seed: the blob (offset 0), or one section of a micro-batch's gradient.
[[nodiscard]] std::vector<float> gradient_sketch(std::span<const float> values,
                                                 const Hash256& gradient_seed,
                                                 std::uint32_t sketch_rows,
                                                 std::uint64_t index_offset = 0);

// One leaf of a certificate's Merkle tree.
struct Leaf {
    UnitKind kind = UnitKind::forward;
    std::uint32_t micro_batch = 0;
    std::uint32_t index = 0;  // section for FWD/BWD, l * head_groups + g for ATT
    std::vector<float> sketch_in;
    std::vector<float> sketch_out;
    PublicKey worker;  // the reward for this unit follows this key

    // H_unit(kind u8 || micro_batch u32 || index u32 || sketch_in || sketch_out || worker),
    // sketches as u32 count then f32 LE values (the canonical encoding of this struct).
    [[nodiscard]] Hash256 hash() const;

    friend bool operator==(const Leaf&, const Leaf&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(kind, micro_batch, index, sketch_in, sketch_out, worker);
    }
};

// The units a micro-batch consists of, fixed by genesis.
class UnitPlan {
public:
    // "pol-params-invalid" when sections, head groups or sketch rows cannot describe units.
    [[nodiscard]] static Result<UnitPlan> create(const ModelLayout& layout,
                                                 const LearningParams& params);

    [[nodiscard]] const std::vector<Section>& sections() const { return sections_; }
    [[nodiscard]] std::uint32_t head_groups() const { return head_groups_; }
    [[nodiscard]] std::uint32_t layers() const { return layers_; }
    [[nodiscard]] std::uint32_t sketch_rows() const { return sketch_rows_; }
    [[nodiscard]] std::uint32_t micro_batches() const { return micro_batches_; }
    [[nodiscard]] std::uint32_t attention_units() const { return layers_ * head_groups_; }
    // k FWD + L*G ATT + k BWD.
    [[nodiscard]] std::uint32_t units_per_micro_batch() const {
        return 2 * static_cast<std::uint32_t>(sections_.size()) + attention_units();
    }
    [[nodiscard]] std::uint64_t leaf_count() const {
        return std::uint64_t{units_per_micro_batch()} * micro_batches_;
    }
    // Kind and index of the j-th unit of a micro-batch, in canonical leaf order.
    [[nodiscard]] std::pair<UnitKind, std::uint32_t> unit(std::uint32_t j) const;

private:
    std::vector<Section> sections_;
    std::uint32_t head_groups_ = 0;
    std::uint32_t layers_ = 0;
    std::uint32_t sketch_rows_ = 0;
    std::uint32_t micro_batches_ = 0;
};

// The BWD output pattern of each section: the gradient seed at the section's global offset.
[[nodiscard]] std::vector<SketchPattern> backward_patterns(const UnitPlan& plan,
                                                           const Hash256& gradient_seed);

}  // namespace learnchain::consensus
