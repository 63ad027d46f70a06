#include <learnchain/chain/chain_view.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/validation.hpp>

namespace learnchain::chain {

std::optional<BlockIndexEntry> ChainView::ancestor(const Hash256& tip, std::uint64_t height) const {
    auto entry = lookup(tip);
    while (entry && entry->header.height > height) {
        if (entry->header.height == 0) return std::nullopt;
        entry = lookup(entry->header.parent);
    }
    if (!entry || entry->header.height != height) return std::nullopt;
    return entry;
}

Result<BlockIndexEntry> make_index_entry(const ChainView& view, const BlockIndexEntry& parent,
                                         const BlockHeader& header, const Genesis& genesis) {
    auto required = required_work_for_child(view, parent, genesis);
    if (!required) return required.error();
    return BlockIndexEntry{header.hash(), header, *required,
                           parent.cumulative_work.plus(header.work)};
}

BlockIndexEntry genesis_index_entry(const Block& genesis_block, const Genesis& genesis) {
    return BlockIndexEntry{genesis_block.hash(), genesis_block.header, genesis.initial_work,
                           ChainWork(genesis_block.header.work)};
}

MemoryChainView::MemoryChainView(BlockIndexEntry genesis_entry)
    : genesis_(genesis_entry.hash), best_(genesis_entry.hash) {
    entries_.emplace(genesis_entry.hash, std::move(genesis_entry));
}

std::optional<BlockIndexEntry> MemoryChainView::lookup(const Hash256& hash) const {
    const auto it = entries_.find(hash);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

Result<BlockIndexEntry> MemoryChainView::add(const BlockHeader& header, const Genesis& genesis) {
    const auto parent = lookup(header.parent);
    if (!parent)
        return make_error(ErrorKind::missing, "bad-block-parent-unknown", header.parent.hex());
    auto entry = make_index_entry(*this, *parent, header, genesis);
    if (!entry) return entry.error();
    const auto [it, inserted] = entries_.emplace(entry->hash, *entry);
    // Strictly greater: on equal work the block seen first stays best.
    if (inserted && it->second.cumulative_work > best().cumulative_work) best_ = it->first;
    return *entry;
}

}  // namespace learnchain::chain
