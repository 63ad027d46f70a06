// Genesis: the parameters a chain is born with, loaded from genesis/*.json.
//
// The genesis hash is H_genesis(canonical encoding of the parsed Genesis), so it commits to
// every field. The genesis block (height 0) takes that hash as its parent, which ties every
// block of the chain to these parameters.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

struct Allocation {
    PublicKey key;
    Amount amount = 0;

    friend bool operator==(const Allocation&, const Allocation&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(key, amount);
    }
};

struct Genesis {
    std::string name;            // human label, e.g. "learnchain-devnet"
    std::uint32_t chain_id = 0;  // every transaction carries it
    std::uint64_t time = 0;      // unix seconds; the genesis block's time
    std::vector<Allocation> allocations;
    LearningParams learning;
    std::uint64_t initial_work = 1;        // D for blocks 1 .. retarget_window - 1
    std::uint32_t target_block_time = 30;  // seconds
    std::uint32_t retarget_window = 60;    // blocks; D retargets at heights k * window
    std::uint32_t max_future_time = 120;   // seconds a block's time may lead the local clock
    // W: blocks within which a fraud proof still takes a block out; deeper blocks are final and
    // no reorg reaches them.
    std::uint32_t challenge_window = 100;
    // W_m >= W: blocks after which a block's rewards become spendable.
    std::uint32_t reward_maturity = 100;

    [[nodiscard]] Hash256 hash() const;
    // Equal iff the canonical encodings are (the hash commits to exactly that).
    friend bool operator==(const Genesis& a, const Genesis& b);

    template <class Archive>
    void serialize(Archive& ar) {
        ar(name, chain_id, time, allocations, learning, initial_work, target_block_time,
           retarget_window, max_future_time, challenge_window, reward_maturity);
    }
};

// Bounds on genesis fields (checked by validate_genesis).
inline constexpr std::size_t max_genesis_name_bytes = 64;
inline constexpr std::size_t max_genesis_allocations = 10'000;

// --- the size of one contribution, from the learning parameters alone -----------------------
// The chain layer never decodes a work item, but the bounds on the required work D depend on
// how much work one block can physically carry. These restate the proof-of-learning layouts
// (PROTOCOL.md §T.2.1 parameters, §T.10 certificate and blob) as arithmetic, so that the bound
// is a pure function of the genesis; tests/consensus/engine_test.cpp checks them against the
// engine's real layout and encodings. All saturate at 2^64 - 1 instead of wrapping.

// Training tokens of one contribution: micro_batches * micro_batch_size * context.
[[nodiscard]] std::uint64_t tokens_per_contribution(const LearningParams& params);
// Parameters of the model (the gradient blob holds 4 bytes for each).
[[nodiscard]] std::uint64_t model_parameter_count(const ModelConfig& model);
// Encoded bytes of one certificate; every certificate of a chain has exactly this size.
[[nodiscard]] std::uint64_t certificate_encoded_size(const LearningParams& params);
// Encoded bytes of one micro-batch's evidence (header, index, loss, its leaves, the Merkle path)
// at most: the path has ceil(log2 micro_batches) siblings, fewer for a promoted micro-batch.
[[nodiscard]] std::uint64_t micro_batch_evidence_size(const LearningParams& params);
// Bytes one contribution adds to a block: u32 length + certificate + u32 length + blob.
[[nodiscard]] std::uint64_t contribution_work_item_size(const LearningParams& params);
// The most contributions any block can carry: the work-item limit, and how many work items fit
// into max_block_bytes next to the header (no transactions), whichever is smaller. 0 when not
// even one fits.
[[nodiscard]] std::uint64_t max_contributions_per_block(const LearningParams& params);
// The most one worker can put into one block: the above, and max_per_worker.
[[nodiscard]] std::uint64_t max_worker_contributions_per_block(const LearningParams& params);
// The most work a header may claim (PROTOCOL.md §L.6.2): max_contributions_per_block *
// tokens_per_contribution, what the fullest possible block of certificates carries.
[[nodiscard]] std::uint64_t max_block_work(const LearningParams& params);

// The range the required work D always stays in (PROTOCOL.md §L.6.3):
//   min = tokens_per_contribution: every block carries at least one whole contribution, so a
//         lower D demands nothing more and would only slow the retarget's climb back;
//   max = max_worker_contributions_per_block * tokens_per_contribution: a lone honest worker
//         can always fill a block that meets D, so fast hardware cannot retarget the chain
//         into a D no block can carry.
// validate_genesis requires min <= initial_work <= max.
struct RequiredWorkBounds {
    std::uint64_t min = 0;
    std::uint64_t max = 0;
};
[[nodiscard]] RequiredWorkBounds required_work_bounds(const Genesis& genesis);

// Parses and validates. Every failure names the field: reasons "bad-genesis-file",
// "bad-genesis-json", "bad-genesis-missing-field", "bad-genesis-unknown-field", and for a bad
// value "bad-genesis-<field>" in kebab case (e.g. bad-genesis-retarget-window); the detail
// starts with the JSON path ("learning.model.heads: must be >= 1 and divide width").
[[nodiscard]] Result<Genesis> parse_genesis(std::string_view json_text);
[[nodiscard]] Result<Genesis> load_genesis(const std::filesystem::path& path);

// Semantic checks on a parsed Genesis (called by parse_genesis; exposed for tools/tests),
// ending with initial_work within required_work_bounds (bad-genesis-initial-work).
[[nodiscard]] Status validate_genesis(const Genesis& genesis);

// Back to JSON with every field explicit; parse_genesis(genesis_to_json(g)) == g.
[[nodiscard]] std::string genesis_to_json(const Genesis& genesis);

// The accounts created by the allocations (validate_genesis rejects duplicate keys).
[[nodiscard]] Result<AccountState> genesis_state(const Genesis& genesis);

// The height-0 block: parent = genesis hash, time = genesis time, no transactions or work,
// state_root over the allocations and `model_root` (the work engine's initial model root;
// the zero hash in chain-only tests), proposer and signature all zero.
[[nodiscard]] Result<Block> make_genesis_block(const Genesis& genesis, const Hash256& model_root);

// Files shipped in genesis/ (the repository's, resolved relative to a source dir by callers).
inline constexpr std::string_view devnet_genesis_file = "genesis/devnet.json";
inline constexpr std::string_view test_genesis_file = "genesis/test.json";
// The tiny model as a chain a person can run locally: bigger contributions and a retarget that
// a single CPU miner can keep up with (test.json is for unit tests: a real miner outruns its
// 4-block retarget and 10 s future-time limit).
inline constexpr std::string_view local_genesis_file = "genesis/local.json";
// local.json's chain training on real text, at learning rate 0.003 (0.01 diverges on text):
// the King James Version (genesis/kjv.txt, which .ci/install-deps.sh writes from Debian's
// bible-kjv package; named by SHA-256).
inline constexpr std::string_view kjv_genesis_file = "genesis/kjv.json";

}  // namespace learnchain::chain
