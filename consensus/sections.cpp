#include <algorithm>
#include <numeric>

#include <learnchain/consensus/sections.hpp>

namespace learnchain::consensus {
namespace {

// The fewest contiguous runs with sums <= bound (bound >= every size).
std::uint64_t runs_needed(const std::vector<std::uint64_t>& sizes, std::uint64_t bound) {
    std::uint64_t runs = 1, current = 0;
    for (auto s : sizes) {
        if (current + s > bound) {
            ++runs;
            current = 0;
        }
        current += s;
    }
    return runs;
}

}  // namespace

Result<std::vector<Section>> make_sections(const ModelLayout& layout, std::uint32_t k) {
    const auto& tensors = layout.tensors();
    if (k == 0 || k > tensors.size())
        return make_error(
            ErrorKind::malformed, "sections-invalid",
            "k = " + std::to_string(k) + " with " + std::to_string(tensors.size()) + " tensors");
    std::vector<std::uint64_t> sizes;
    for (const auto& t : tensors) sizes.push_back(t.size);

    // Smallest bound B such that the tensors fit in at most k runs of sum <= B; with k <= the
    // tensor count, runs can always be split further to make exactly k non-empty ones.
    std::uint64_t lo = *std::max_element(sizes.begin(), sizes.end());
    std::uint64_t hi = std::accumulate(sizes.begin(), sizes.end(), std::uint64_t{0});
    while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        if (runs_needed(sizes, mid) <= k)
            hi = mid;
        else
            lo = mid + 1;
    }
    const std::uint64_t bound = lo;

    // Greedy from the front: each section takes tensors while it stays within the bound and
    // leaves at least one tensor for every section after it.
    std::vector<Section> sections;
    std::size_t next = 0;
    std::uint64_t offset = 0;
    for (std::uint32_t s = 0; s < k; ++s) {
        const std::size_t limit = sizes.size() - (k - s - 1);
        Section section{next, next + 1, offset, sizes[next]};
        while (section.end_tensor < limit && section.size + sizes[section.end_tensor] <= bound)
            section.size += sizes[section.end_tensor++];
        next = section.end_tensor;
        offset += section.size;
        sections.push_back(section);
    }
    // Greedy reaches at least as far as any partition within the bound, so nothing is left.
    if (next != sizes.size())
        return make_error(ErrorKind::local, "sections-internal", "tensors left over");
    return sections;
}

}  // namespace learnchain::consensus
