#include <algorithm>
#include <limits>

#include <learnchain/consensus/sections.hpp>

#include <gtest/gtest.h>

#include "consensus/test_configs.hpp"

namespace learnchain::consensus {
namespace {

// The smallest possible largest section, by exhaustive dynamic programming.
std::uint64_t optimal_max(const std::vector<std::uint64_t>& sizes, std::uint32_t k) {
    const std::size_t n = sizes.size();
    constexpr auto inf = std::numeric_limits<std::uint64_t>::max();
    // best[j][i]: min over partitions of the first i tensors into j runs of the largest run.
    std::vector<std::vector<std::uint64_t>> best(k + 1, std::vector<std::uint64_t>(n + 1, inf));
    best[0][0] = 0;
    for (std::uint32_t j = 1; j <= k; ++j)
        for (std::size_t i = j; i <= n; ++i) {
            std::uint64_t run = 0;
            for (std::size_t s = i; s-- > j - 1;) {
                run += sizes[s];
                if (best[j - 1][s] != inf)
                    best[j][i] = std::min(best[j][i], std::max(best[j - 1][s], run));
            }
        }
    return best[k][n];
}

void check_partition(const ModelLayout& layout, std::uint32_t k) {
    const auto sections = make_sections(layout, k);
    ASSERT_TRUE(sections.ok()) << sections.error().to_string();
    ASSERT_EQ(sections->size(), k);
    std::size_t next_tensor = 0;
    std::uint64_t offset = 0, largest = 0;
    std::vector<std::uint64_t> sizes;
    for (const auto& t : layout.tensors()) sizes.push_back(t.size);
    for (const auto& s : *sections) {
        EXPECT_EQ(s.first_tensor, next_tensor);
        EXPECT_GT(s.end_tensor, s.first_tensor);  // non-empty
        EXPECT_EQ(s.offset, offset);
        EXPECT_EQ(s.offset, layout.tensors()[s.first_tensor].offset);
        std::uint64_t size = 0;
        for (std::size_t t = s.first_tensor; t < s.end_tensor; ++t) size += sizes[t];
        EXPECT_EQ(s.size, size);
        largest = std::max(largest, size);
        next_tensor = s.end_tensor;
        offset += size;
    }
    EXPECT_EQ(next_tensor, layout.tensors().size());
    EXPECT_EQ(offset, layout.parameter_count());
    EXPECT_EQ(largest, optimal_max(sizes, k)) << "k=" << k;
}

TEST(Sections, PartitionIsCompleteContiguousAndOptimal) {
    for (const auto& config : {testing::tiny_config(), testing::default_config()}) {
        const auto layout = ModelLayout::from_config(config).value();
        for (std::uint32_t k :
             {1u, 2u, 3u, 4u, 5u, 7u, 8u, 16u, static_cast<std::uint32_t>(layout.tensors().size())})
            check_partition(layout, k);
    }
}

TEST(Sections, DefaultConfigFourSections) {
    // Recorded: the boundaries every node must derive for the default config and k = 4.
    const auto layout = ModelLayout::from_config(testing::default_config()).value();
    const auto sections = make_sections(layout, 4).value();
    std::vector<std::size_t> firsts;
    std::vector<std::uint64_t> sizes;
    for (const auto& s : sections) {
        firsts.push_back(s.first_tensor);
        sizes.push_back(s.size);
    }
    EXPECT_EQ(firsts, (std::vector<std::size_t>{0, 13, 28, 40}));
    EXPECT_EQ(sizes, (std::vector<std::uint64_t>{239104, 198656, 198272, 231040}));
}

TEST(Sections, Deterministic) {
    const auto layout = ModelLayout::from_config(testing::default_config()).value();
    const auto a = make_sections(layout, 6).value();
    const auto b = make_sections(layout, 6).value();
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].first_tensor, b[i].first_tensor);
        EXPECT_EQ(a[i].end_tensor, b[i].end_tensor);
    }
}

TEST(Sections, RejectsImpossibleK) {
    const auto layout = ModelLayout::from_config(testing::tiny_config()).value();
    EXPECT_EQ(make_sections(layout, 0).error().reason, "sections-invalid");
    const auto too_many = static_cast<std::uint32_t>(layout.tensors().size() + 1);
    EXPECT_EQ(make_sections(layout, too_many).error().reason, "sections-invalid");
}

}  // namespace
}  // namespace learnchain::consensus
