// Sections (whitepaper eq. 4): the canonical parameter list cut into k contiguous runs of
// whole tensors with parameter counts as equal as possible. Computed from the config alone.
#pragma once

#include <cstdint>
#include <vector>

#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/model.hpp>

namespace learnchain::consensus {

struct Section {
    std::size_t first_tensor = 0;  // [first_tensor, end_tensor) in canonical order
    std::size_t end_tensor = 0;
    std::uint64_t offset = 0;  // [offset, offset + size) in the flat parameter vector
    std::uint64_t size = 0;
};

// Exactly k non-empty sections covering every tensor once, in order, whose largest parameter
// count is the minimum possible; among such partitions, each section in turn takes as many
// tensors as it can. "sections-invalid" when k == 0 or k exceeds the tensor count.
[[nodiscard]] Result<std::vector<Section>> make_sections(const ModelLayout& layout,
                                                         std::uint32_t k);

}  // namespace learnchain::consensus
