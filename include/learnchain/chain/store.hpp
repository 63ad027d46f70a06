// The node's chainstate and block storage over RocksDB, after Bitcoin Core's: a block index
// of every known header, bodies, the main chain, the account state and the work engine's
// model at the tip, undo records for reorgs, and fork choice by cumulative work.
//
// Durability rule: connecting or disconnecting one block is one WriteBatch written with
// sync=true (accounts, undo, height index, tx and certificate indexes, model writes and the
// best-block marker together), so a kill -9 at any moment leaves the last committed tip.
// Column families, key formats and recovery are described in chain/STORAGE.md.
//
// Not thread-safe: the node serialises access (one chain lock, as Bitcoin Core's cs_main;
// chainstate.hpp). Two members are the exception, marked below: verify_plan() and what it
// reads run beside any other member, so that the expensive part of accepting a block happens
// while the lock is free.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <learnchain/chain/account_state.hpp>
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/chain_view.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/chain/transaction.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/chain/work.hpp>

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace learnchain::chain {

inline constexpr std::uint32_t store_schema_version = 3;

// The reorg limit is the genesis's challenge window W: forks that leave the main chain more
// than W blocks below the tip are refused (reason "bad-block-fork-too-deep"), and a block deeper
// than that is final. Undo records are kept for 2W blocks: W for reorgs, and the W below a
// reorg's fork, whose models the evidence in the branch's blocks is judged on.
struct StoreOptions {
    std::filesystem::path path;
    // Tests and benchmarks of non-durability paths may turn fsync off; the node never does.
    bool sync = true;
    // Delete the undo record of the main-chain block 2W + 1 below each newly
    // connected block (proof-of-learning undo holds a model pre-image, ~10 MB on the devnet).
    // Caveat: after a reorg onto a heavier but shorter branch, a second reorg reaching below
    // the old window fails with store-corrupt (undo missing); see consensus/PROTOCOL.md.
    bool prune_undo = false;
};

// Status flags of a block index record (bit set).
namespace block_status {
inline constexpr std::uint8_t have_body = 1;     // body (and blobs) stored
inline constexpr std::uint8_t valid = 2;         // was fully validated and connected once
inline constexpr std::uint8_t failed = 4;        // failed full validation: see reason
inline constexpr std::uint8_t failed_child = 8;  // descends from a failed block
}  // namespace block_status

// One block index record: the header's entry plus what the node knows about the block.
struct BlockRecord {
    BlockIndexEntry entry;
    std::uint8_t status = 0;
    std::uint64_t sequence = 0;  // order bodies arrived in: "first seen" for fork-choice ties
    std::string invalid_reason;  // reason code when failed / failed_child

    [[nodiscard]] bool has(std::uint8_t flag) const { return (status & flag) != 0; }
    [[nodiscard]] bool invalid() const {
        return has(block_status::failed) || has(block_status::failed_child);
    }

    friend bool operator==(const BlockRecord&, const BlockRecord&) = default;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(entry, status, sequence, invalid_reason);
    }
};

// A header with the context-free part of accepting it done ahead: its hash and, once
// verify_signature() ran, whether its proposer signature holds. Headers-first sync prepares a
// message's headers before taking the chain lock, and verifies their signatures in parallel.
class PreparedHeader {
public:
    explicit PreparedHeader(BlockHeader header)
        : header_(std::move(header)), hash_(header_.hash()) {}

    void verify_signature() { signature_valid_ = header_.signature_valid(); }

    [[nodiscard]] const BlockHeader& header() const { return header_; }
    [[nodiscard]] const Hash256& hash() const { return hash_; }
    // The outcome of verify_signature(), or verified now if it did not run.
    [[nodiscard]] bool signature_valid() const {
        return signature_valid_ ? *signature_valid_ : header_.signature_valid();
    }

private:
    BlockHeader header_;
    Hash256 hash_;
    std::optional<bool> signature_valid_;
};

// What accept_headers did: a prefix of the run was accepted, then maybe a refusal.
struct HeadersResult {
    std::vector<BlockIndexEntry> entries;  // accepted or already known, in order
    std::optional<Error> error;            // why the header after the last entry was refused
};

// What accept_block did.
struct AcceptResult {
    Hash256 hash;
    bool new_tip = false;               // the accepted block is now the tip
    Hash256 tip;                        // the tip afterwards
    std::vector<Hash256> connected;     // blocks connected, in order
    std::vector<Hash256> disconnected;  // blocks disconnected, tip first
    // Transactions of the blocks that left the main chain, oldest block first, for the
    // mempool to take back.
    std::vector<Transaction> returned_transactions;
};

// The blocks that accepting one block would connect, for verifying them without the chain lock
// (plan_connect, verify_plan): the fork point's model and the branch above it, lowest first.
struct ConnectPlan {
    struct Step {
        Hash256 hash;
        const Block* body = nullptr;  // the block being accepted (the caller's); others are
                                      // read from the store
        WorkContext context;
    };
    Hash256 fork;                      // main-chain block the branch builds on
    std::optional<Hash256> fork_undo;  // main-chain block above the fork whose undo holds the
                                       // fork's model; none when the fork is the tip
    WorkSnapshotPtr tip_model;         // the engine's current model, when the fork is the tip
    std::vector<Step> steps;
};

struct TxLocation {
    Transaction tx;
    Hash256 block;
    std::uint64_t height = 0;
};

class ChainStore final : public ChainView, public AncestorModels {
public:
    // Creates the store from the genesis (genesis block, allocations, the engine's initial
    // model) or reopens it: the genesis hash must match ("store-genesis-mismatch"), the
    // best-block marker must name a connected block ("store-corrupt"), the account state and
    // model are loaded, and fork choice is re-run (finishing a reorg a crash interrupted).
    // `engine` must be at the genesis model and outlive the store.
    [[nodiscard]] static Result<std::unique_ptr<ChainStore>> open(const StoreOptions& options,
                                                                  const Genesis& genesis,
                                                                  WorkEngine& engine);
    ~ChainStore() override;
    ChainStore(const ChainStore&) = delete;
    ChainStore& operator=(const ChainStore&) = delete;

    // --- acceptance -------------------------------------------------------------------------

    // Context-free and contextual checks, stores header and body, then fork choice: the
    // chain with the most cumulative work wins (first seen on ties), reorganising through
    // the undo records. What a block's failed full validation does follows the failure's kind
    // (failed_block_action): an invalid block is marked with its descendants and the node
    // returns to the best valid chain; a body that does not match its header is dropped and
    // the header kept; the node's own failures (an engine's resource error) leave the block to
    // be retried later. The call then fails with that error. Other reasons: block-duplicate,
    // block-known-invalid, bad-block-parent-unknown, bad-block-invalid-parent,
    // bad-block-fork-too-deep, store-io-error, store-failed, store-engine-undo-failed, and
    // every check's bad-block-* / bad-tx-* / engine code.
    [[nodiscard]] Result<AcceptResult> accept_block(const Block& block, std::uint64_t now);

    // Condemns a block after the fact: one that passed every check this node ran and is then
    // proven invalid (a fraud proof against a sampled micro-batch). The block and its
    // descendants are marked invalid in a synced write, so a restart remembers; if it is on the
    // main chain the node disconnects it and returns to the best valid chain, as after a failed
    // connect. A restart that finds a condemned block on the main chain (a crash between the
    // mark and the disconnect) finishes the job when it opens the store. Reasons:
    // "store-block-unknown" (no record), "store-block-genesis", "store-block-final" (kind
    // policy: on the main chain deeper than the reorg limit, so past the challenge window).
    // A block already invalid changes nothing.
    [[nodiscard]] Result<AcceptResult> invalidate_block(const Hash256& hash, const Error& why,
                                                        std::uint64_t now);

    // What accept_block(block, now) would have to verify: the branch activation would connect
    // if the block is stored, when the engine can verify without the lock and the block passes
    // its cheap checks. None otherwise (accept_block then decides, with its reasons). Cheap: it
    // copies the model only when the branch builds on the tip.
    [[nodiscard]] std::optional<ConnectPlan> plan_connect(const Block& block,
                                                          std::uint64_t now) const;
    // Thread-safe beside every other member: verifies the plan's blocks on copies of the
    // model, reading bodies and undo from RocksDB, so that the accept_block that follows
    // recomputes nothing (the engine remembers each verdict). Stops at the first failure,
    // which the accept then reports; a block gone from the store meanwhile ends it early.
    void verify_plan(const ConnectPlan& plan) const;

    // Headers-first: contextual checks and an index record without body. The body may come
    // later through accept_block. Reasons as accept_block's header checks; header-duplicate.
    [[nodiscard]] Result<BlockIndexEntry> accept_header(const BlockHeader& header,
                                                        std::uint64_t now);
    // accept_header for each header in order, stopping at the first refusal; a known header
    // (header-duplicate) counts as accepted. The new records are written in one batch.
    [[nodiscard]] HeadersResult accept_headers(std::span<const PreparedHeader> headers,
                                               std::uint64_t now);

    // Forgets headers that cannot matter: header-only records (no body, off the main chain)
    // without descendants and with no more cumulative work than the tip, repeatedly, so that a
    // flood of headers is not kept forever. Returns how many went. Records with a body stay.
    std::size_t prune_headers();
    // Header-only records (headers whose body has not arrived or was dropped).
    [[nodiscard]] std::size_t header_only_count() const { return header_only_.size(); }

    // --- ChainView --------------------------------------------------------------------------
    [[nodiscard]] std::optional<BlockIndexEntry> lookup(const Hash256& hash) const override;
    [[nodiscard]] std::optional<BlockIndexEntry> ancestor(const Hash256& tip,
                                                          std::uint64_t height) const override;

    // --- getters ----------------------------------------------------------------------------
    [[nodiscard]] const BlockIndexEntry& tip() const;
    [[nodiscard]] std::uint64_t height() const { return tip().header.height; }
    // The height-0 block's hash (meta also keeps Genesis::hash(), the parameters' hash).
    [[nodiscard]] const Hash256& genesis_hash() const { return main_chain_.front(); }
    [[nodiscard]] const Genesis& genesis() const { return genesis_; }
    [[nodiscard]] const AccountState& state() const { return state_; }
    [[nodiscard]] Account account(const PublicKey& key) const { return state_.get(key); }
    [[nodiscard]] std::uint64_t max_reorg_depth() const { return max_reorg_depth_; }
    // A main-chain block at `block_height` (>= 1) is final: leaving it would disconnect more
    // blocks than the reorg limit, so neither a fork nor a fraud proof can take it out.
    [[nodiscard]] bool is_final(std::uint64_t block_height) const {
        return height() - (block_height - 1) > max_reorg_depth_;
    }

    [[nodiscard]] std::optional<BlockRecord> record(const Hash256& hash) const;
    // The end of every branch the index holds (records without children, and the tip), as
    // Bitcoin Core's getchaintips lists them: one scan of the index.
    [[nodiscard]] std::vector<BlockRecord> chain_tips() const;
    // The height at which the branch ending at `hash` leaves the main chain (its highest
    // main-chain ancestor); nullopt when the hash is unknown.
    [[nodiscard]] std::optional<std::uint64_t> fork_height(const Hash256& hash) const;
    [[nodiscard]] std::size_t block_count() const { return index_.size(); }    // every header
    [[nodiscard]] std::optional<Hash256> hash_at(std::uint64_t height) const;  // main chain
    [[nodiscard]] bool on_main_chain(const Hash256& hash) const;
    [[nodiscard]] std::optional<BlockHeader> header(const Hash256& hash) const;
    // Body with its blobs; nullopt when unknown or header-only.
    [[nodiscard]] Result<std::optional<Block>> block(const Hash256& hash) const;
    // The body with every work item's blob left empty: its certificates without the gradient
    // bytes (megabytes each) that block() reads too. nullopt when unknown or header-only.
    [[nodiscard]] Result<std::optional<Block>> block_without_blobs(const Hash256& hash) const;
    [[nodiscard]] Result<std::optional<Block>> block_at(std::uint64_t height) const;
    // Main-chain transactions by txid.
    [[nodiscard]] Result<std::optional<TxLocation>> transaction(const Hash256& txid) const;
    // The main-chain block that carries a certificate root.
    [[nodiscard]] Result<std::optional<Hash256>> certificate_block(const Hash256& root) const;
    // The undo record of a main-chain block (genesis has none).
    [[nodiscard]] Result<std::optional<BlockUndo>> undo(const Hash256& hash) const;
    // The work engine's undo bytes of the main-chain block above `block_height` (< the tip's
    // height), whose pre-image is the model after `block_height`; nullopt once pruned.
    [[nodiscard]] Result<std::optional<std::vector<std::uint8_t>>> model_undo_above(
        std::uint64_t block_height) const;
    // AncestorModels, for the evidence of a child of the tip: the model at a main-chain block
    // at height >= min_height, the engine's own at the tip and otherwise its child's undo
    // pre-image; "store-undo-missing" (local) when that record was pruned.
    [[nodiscard]] Result<WorkSnapshotPtr> model_at(const Hash256& block,
                                                   std::uint64_t min_height) const override;
    // The persisted model entries and accounts, read from disk (consistency checks, tools).
    [[nodiscard]] Result<ModelEntries> model_entries() const;
    [[nodiscard]] Result<AccountState> stored_accounts() const;
    // Height index as stored on disk, height order (consistency checks).
    [[nodiscard]] Result<std::vector<Hash256>> stored_height_index() const;

    // --- fraud proofs awaiting judgment -----------------------------------------------------
    // A peer's fraud proof is kept from its arrival until it is judged, so that a node
    // stopped in between (or before the proof's block arrived) judges it after a restart
    // instead of staying on a block the network left. The caller bounds how many it keeps.
    [[nodiscard]] Status keep_unjudged_fraud_proof(const Hash256& id, const FraudProof& proof);
    [[nodiscard]] Status forget_unjudged_fraud_proof(const Hash256& id);
    [[nodiscard]] Result<std::vector<std::pair<Hash256, FraudProof>>> unjudged_fraud_proofs() const;

private:
    struct Handles;
    struct CandidateOrder {
        bool operator()(const BlockRecord* a, const BlockRecord* b) const;
    };

    ChainStore(Genesis genesis, WorkEngine& engine, bool sync, bool prune_undo);

    [[nodiscard]] Status create_genesis();
    [[nodiscard]] Status load();

    [[nodiscard]] Status check_usable() const;
    [[nodiscard]] Status write(rocksdb::WriteBatch& batch, bool sync);
    [[nodiscard]] Status fail(const Error& error);  // poisons the store, returns the error

    [[nodiscard]] const BlockRecord* ancestor_record(const BlockRecord* record,
                                                     std::uint64_t height) const;
    void link(const BlockRecord& record);
    [[nodiscard]] Status check_fork_depth(const BlockIndexEntry& parent) const;
    void rebuild_candidates();
    void add_candidates_from(const Hash256& hash);
    void prune_candidates();

    void put_record(rocksdb::WriteBatch& batch, const BlockRecord& record);
    void put_body(rocksdb::WriteBatch& batch, const Hash256& hash, const Block& block);
    void put_state_changes(rocksdb::WriteBatch& batch, const AccountJournal& journal,
                           std::vector<ModelWrite> model_writes);

    [[nodiscard]] Result<Block> read_block(const Hash256& hash) const;
    [[nodiscard]] Result<Block> read_body(const Hash256& hash) const;  // blobs left empty
    [[nodiscard]] Status connect_tip(const Block& block, std::uint64_t now);
    [[nodiscard]] Status disconnect_tip(std::vector<Transaction>* returned);
    [[nodiscard]] Result<BlockIndexEntry> add_header(const PreparedHeader& prepared,
                                                     std::uint64_t now, rocksdb::WriteBatch& batch);
    // `sync`: the mark must survive a crash (a block condemned by a proof would otherwise
    // verify again under sampling).
    [[nodiscard]] Status mark_invalid(const Hash256& hash, const Error& error, bool sync = false);
    // Disconnects down to the parent of the lowest main-chain block marked invalid, marks that
    // block's descendants, then runs fork choice. Nothing when the main chain has none.
    [[nodiscard]] Status leave_condemned_main_chain(std::uint64_t now, AcceptResult& result);
    // Blocks taken off the main chain with their transactions, tip first.
    using Disconnected = std::vector<std::pair<Hash256, std::vector<Transaction>>>;
    // Disconnects down to height `fork`, adding each block to result.disconnected and `left`;
    // returns the blocks this call disconnected, tip first.
    [[nodiscard]] Result<std::vector<Hash256>> disconnect_to(std::uint64_t fork,
                                                             AcceptResult& result,
                                                             Disconnected& left);
    // Keeps in `result` only what changed between the old and the final main chain, and adds
    // the transactions of the blocks in `left` that stayed off it, oldest block first.
    void report_changes(AcceptResult& result, const Disconnected& left) const;
    // Forgets a stored body that does not match its header; the header stays.
    [[nodiscard]] Status drop_body(const Hash256& hash);
    [[nodiscard]] Status condemn_known_header(const Block& block, const Error& error,
                                              std::uint64_t now);
    // Back to the chain a failed reorganisation left: disconnects to `fork`, then reconnects
    // `disconnected` (tip first, as they came off).
    [[nodiscard]] Status restore_chain(const std::vector<Hash256>& disconnected, std::uint64_t fork,
                                       std::uint64_t now);
    // `new_block_checked`: new_block already passed the branch checks that need no parent
    // state (accept_block ran them before storing it), so they are not run on it again.
    [[nodiscard]] Status activate_best_chain(std::uint64_t now, AcceptResult& result,
                                             std::optional<Error>& new_block_error,
                                             const Block* new_block,
                                             bool new_block_checked = false);

    Genesis genesis_;
    WorkEngine& engine_;
    std::uint64_t max_reorg_depth_;
    bool sync_;
    bool prune_undo_;

    std::unique_ptr<rocksdb::DB> db_;
    std::unique_ptr<Handles> cf_;

    std::map<Hash256, BlockRecord> index_;  // every known header
    // In-memory parent and skip-list links of every index record (never stored).
    std::unordered_map<const BlockRecord*, std::pair<const BlockRecord*, const BlockRecord*>>
        links_;
    std::multimap<Hash256, Hash256> children_;                 // parent -> child, over index_
    std::vector<Hash256> main_chain_;                          // height -> hash, genesis .. tip
    std::set<const BlockRecord*, CandidateOrder> candidates_;  // bodies with more work than tip
    std::set<Hash256> header_only_;  // records without a body (prune_headers' candidates)
    AccountState state_;
    std::uint64_t next_sequence_ = 1;
    std::optional<Error> failure_;  // set when memory and disk may have diverged
};

}  // namespace learnchain::chain
