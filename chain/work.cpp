#include <string>

#include <learnchain/chain/work.hpp>

namespace learnchain::chain {

Hash256 certificate_root(std::span<const std::uint8_t> certificate) {
    return tagged_hash(tag::certificate, certificate);
}

std::optional<std::uint64_t> BlockWork::total() const {
    std::uint64_t sum = 0;
    for (const auto& w : workers)
        if (__builtin_add_overflow(sum, w.tokens, &sum)) return std::nullopt;
    return sum;
}

Status check_block_work(const Block& block, const BlockWork& work) {
    if (work.certificate_roots.size() != block.work_items.size())
        return make_error(ErrorKind::mutated, "bad-block-work-count",
                          std::to_string(work.certificate_roots.size()) +
                              " certificate roots for " + std::to_string(block.work_items.size()) +
                              " work items");
    if (compute_work_root(work.certificate_roots) != block.header.work_root)
        return make_error(ErrorKind::mutated, "bad-block-work-root");
    const auto total = work.total();
    if (!total)
        return make_error(ErrorKind::invalid, "bad-block-work-overflow",
                          "verified work exceeds 2^64 - 1");
    if (*total != block.header.work)
        return make_error(ErrorKind::invalid, "bad-block-work-mismatch",
                          "header claims " + std::to_string(block.header.work) +
                              " tokens, certificates carry " + std::to_string(*total));
    return ok_status();
}

}  // namespace learnchain::chain
