// Read access to the block tree, as contextual validation needs it.
//
// The RocksDB store implements ChainView over its block index; MemoryChainView is the
// in-memory implementation for tests and tools. Entries cover every known header, on any
// branch, not just the main chain.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

struct Genesis;

struct BlockIndexEntry {
    Hash256 hash;
    BlockHeader header;
    std::uint64_t required_work = 0;  // D that this block had to meet (genesis: initial_work)
    ChainWork cumulative_work;        // sum of header work from genesis through this block

    friend bool operator==(const BlockIndexEntry&, const BlockIndexEntry&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(hash, header, required_work, cumulative_work);
    }
};

class ChainView {
public:
    virtual ~ChainView() = default;

    // Any known header, by hash.
    [[nodiscard]] virtual std::optional<BlockIndexEntry> lookup(const Hash256& hash) const = 0;

    // The ancestor of `tip` at `height` (tip itself if heights match), walking parents.
    // Stores with a height index override this for main-chain tips.
    [[nodiscard]] virtual std::optional<BlockIndexEntry> ancestor(const Hash256& tip,
                                                                  std::uint64_t height) const;
};

// The index entry of a header whose parent is `parent`: required work for its height,
// cumulative work including it. Does not validate the header.
[[nodiscard]] Result<BlockIndexEntry> make_index_entry(const ChainView& view,
                                                       const BlockIndexEntry& parent,
                                                       const BlockHeader& header,
                                                       const Genesis& genesis);

// The genesis block's index entry.
[[nodiscard]] BlockIndexEntry genesis_index_entry(const Block& genesis_block,
                                                  const Genesis& genesis);

class MemoryChainView final : public ChainView {
public:
    explicit MemoryChainView(BlockIndexEntry genesis_entry);

    [[nodiscard]] std::optional<BlockIndexEntry> lookup(const Hash256& hash) const override;

    // Adds a header whose parent is known (no validation). Returns its entry.
    [[nodiscard]] Result<BlockIndexEntry> add(const BlockHeader& header, const Genesis& genesis);

    // The entry with the greatest cumulative work, first added on ties.
    [[nodiscard]] const BlockIndexEntry& best() const { return entries_.at(best_); }
    [[nodiscard]] const BlockIndexEntry& genesis() const { return entries_.at(genesis_); }

private:
    std::map<Hash256, BlockIndexEntry> entries_;
    Hash256 genesis_;
    Hash256 best_;
};

}  // namespace learnchain::chain
