// The consensus rules for blocks: context-free checks, contextual (header-chain) checks,
// required work and its retarget, the reward split, and connecting / disconnecting a block's
// effect on account state. Every rule fails with its own reason code (consensus/PROTOCOL.md, part
// L).
//
// Order of use for a new block whose parent is known and whose parent state is loaded:
//   check_block_context_free -> check_block_contextual -> WorkEngine::verify ->
//   check_block_work -> check_block_evidence -> WorkEngine::apply -> connect_block
// validate_and_connect_block runs exactly that sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/chain_view.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/work.hpp>

namespace learnchain::chain {

// Median-time-past span: a block's time must exceed the median of its last 11 ancestors.
inline constexpr std::size_t median_time_span = 11;
// Retarget clamp: D moves by at most this factor per window, either way.
inline constexpr std::uint64_t retarget_clamp = 4;

// --- time and required work ------------------------------------------------------------

// Median of the times of `tip` and up to 10 of its ancestors (fewer near genesis).
[[nodiscard]] Result<std::uint64_t> median_time_past(const ChainView& view, const Hash256& tip);

// D' = D * target_timespan / actual_timespan, with actual_timespan first clamped to
// [target/4, 4*target], so D' lies in [D/4, 4D]; computed in 128 bits, result >= 1.
// (D is *work*: blocks that came too fast make D larger.)
[[nodiscard]] std::uint64_t retarget_work(std::uint64_t required_work,
                                          std::uint64_t actual_timespan,
                                          std::uint64_t target_timespan);

// The required work D of a block at parent.height + 1 (the rule is in consensus/PROTOCOL.md
// §L.6.3): the parent's D, or at a window boundary retarget_work's result brought into
// required_work_bounds(genesis), so that one honest worker can always carry D in one block.
[[nodiscard]] Result<std::uint64_t> required_work_for_child(const ChainView& view,
                                                            const BlockIndexEntry& parent,
                                                            const Genesis& genesis);

// --- block checks ----------------------------------------------------------------------

// Whether a header's signature is still to be checked. A store that accepted the header
// earlier (headers-first sync) has checked it already, and a header's hash commits to its
// signature, so a block with that hash needs no second check.
enum class HeaderSignature { check, already_checked };

// Header-only context-free checks, for headers-first sync: bad-block-version,
// bad-block-height (height 0), bad-block-signature.
[[nodiscard]] Status check_header(const BlockHeader& header,
                                  HeaderSignature signature = HeaderSignature::check);

// Needs nothing but the block: check_header; then the body against the header's commitments,
// bad-block-tx-root and bad-block-work-root (both mutated: the body, not the header, is wrong);
// and bad-block-evidence-root (mutated); then bad-block-too-many-txs,
// bad-block-too-many-work-items, bad-block-no-work, bad-block-too-much-evidence, bad-block-size,
// and every transaction's context-free checks (bad-tx-*, detail names the transaction).
[[nodiscard]] Status check_block_context_free(const Block& block, const Genesis& genesis,
                                              HeaderSignature signature = HeaderSignature::check);

// Needs the header chain: bad-block-parent-unknown, bad-block-height,
// bad-block-time-too-old (<= median time past), bad-block-time-too-new (> now +
// max_future_time), bad-block-insufficient-work (work < D), bad-block-work-too-large (work >
// max_block_work). Returns the block's index entry.
[[nodiscard]] Result<BlockIndexEntry> check_block_contextual(const BlockHeader& header,
                                                             const ChainView& view,
                                                             const Genesis& genesis,
                                                             std::uint64_t now);

// What a block's failed full validation makes of it, by the failure's kind (as Bitcoin Core's
// handling of BlockValidationResult): condemn the header and its descendants (the failure is
// the header's own), drop the body and keep the header (the body does not match what the header
// commits to, so another copy may), or keep both and try again later (the failure was ours).
enum class FailedBlock : std::uint8_t { condemn, drop_body, keep };
[[nodiscard]] FailedBlock failed_block_action(ErrorKind kind);

// --- rewards and state transition --------------------------------------------------------

struct Payout {
    PublicKey key;
    Amount amount = 0;
    friend bool operator==(const Payout&, const Payout&) = default;
};

// block_reward split over workers in proportion to their tokens (floor, per key, keys in
// ascending order); the rounding remainder plus `fees` to the proposer (last entry).
// Zero payouts are omitted. bad-block-fee-overflow if the proposer's share overflows.
[[nodiscard]] Result<std::vector<Payout>> compute_payouts(const BlockWork& work,
                                                          const PublicKey& proposer, Amount fees);

struct BlockUndo {
    AccountJournal accounts;              // pre-images, in change order
    std::vector<std::uint8_t> work_undo;  // the work engine's opaque undo

    friend bool operator==(const BlockUndo&, const BlockUndo&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(accounts, work_undo);
    }
};

// The lowest height an Evidence item's certificate parent may have in a block at `height`:
// height - challenge_window (0 near genesis).
[[nodiscard]] std::uint64_t oldest_evidence_parent(std::uint64_t height, const Genesis& genesis);

// One Evidence item of a block at `height` (PROTOCOL.md §T.11.10): the engine's
// check_evidence_claim (its reasons), the certificate's parent found by `models` among the
// block's ancestors at most challenge_window blocks below it (bad-evidence-parent), then the
// engine's check_evidence on that model (bad-evidence-unfounded). `models` must be at the
// block's parent; null fails with kind local. Costs one micro-batch's recomputation.
[[nodiscard]] Result<EvidenceClaim> check_evidence_item(const Evidence& evidence,
                                                        std::uint64_t height,
                                                        const Genesis& genesis, WorkEngine& engine,
                                                        const AncestorModels* models);

// The keys a block's Evidence items prove to have cheated, in block order: check_evidence_item
// on each (detail "evidence <i>"), and bad-evidence-duplicate for a certificate an earlier item
// proves.
[[nodiscard]] Result<std::vector<PublicKey>> check_block_evidence(const Block& block,
                                                                  const Genesis& genesis,
                                                                  WorkEngine& engine,
                                                                  const AncestorModels* models);

// Applies the transactions in order (each must pass AccountState::check_transaction), credits
// the payouts as rewards maturing `reward_maturity` blocks later (at once when 0), burns the
// immature rewards of each `punished` key (bad-evidence-nothing-to-burn when it has none)
// with half of each burn, rounded down, credited to the proposer as a reward (none when the
// proposer is the punished key), then matures the rewards due at this height. Atomic: on
// failure `state` is unchanged. Does not check state_root: block templates use this to compute
// it.
[[nodiscard]] Result<BlockUndo> apply_block_state(AccountState& state, const Block& block,
                                                  const BlockWork& work,
                                                  std::span<const PublicKey> punished,
                                                  std::uint64_t reward_maturity);

// apply_block_state, then state_root == H_state(accounts_root || model_root) or
// bad-block-state-root. Atomic. `model_root` is the work engine's root after this block.
[[nodiscard]] Result<BlockUndo> connect_block(AccountState& state, const Block& block,
                                              const BlockWork& work,
                                              std::span<const PublicKey> punished,
                                              std::uint64_t reward_maturity,
                                              const Hash256& model_root);

// Restores the account pre-images (the work engine's undo is the caller's to run).
void disconnect_block(AccountState& state, const BlockUndo& undo);

struct ConnectedBlock {
    BlockIndexEntry entry;
    BlockWork work;
    std::vector<PublicKey> punished;  // check_block_evidence's
    BlockUndo undo;                   // work_undo filled from the engine
};

// All checks and the state transition, in the order above. `state`, `engine` and `models` must
// be at the block's parent. On any failure both are left as they were.
[[nodiscard]] Result<ConnectedBlock> validate_and_connect_block(
    AccountState& state, WorkEngine& engine, const ChainView& view, const Block& block,
    const Genesis& genesis, std::uint64_t now, const AncestorModels* models,
    HeaderSignature signature = HeaderSignature::check);

}  // namespace learnchain::chain
