#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <string_view>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/chain/time.hpp>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace learnchain::chain {
namespace {

// Column families, in the order of ChainStore::Handles::cf. "default" is RocksDB's own and
// stays empty.
enum Cf : std::size_t {
    cf_default,
    cf_index,     // block hash -> BlockRecord
    cf_bodies,    // block hash -> Block with every blob emptied
    cf_blobs,     // block hash || u32be item -> blob
    cf_height,    // u64be height -> block hash (main chain)
    cf_accounts,  // pubkey -> Account (never {0, 0})
    cf_model,     // work engine key -> value
    cf_undo,      // block hash -> StoredUndo (main chain blocks)
    cf_certs,     // certificate root -> block hash (main chain)
    cf_txindex,   // txid -> TxIndexValue (main chain)
    cf_meta,      // fixed keys below
    cf_proofs,    // fraud proof id -> FraudProof (received, not yet judged)
    cf_count
};
constexpr std::array<std::string_view, cf_count> cf_names = {
    "default", "index", "bodies", "blobs",   "height", "accounts",
    "model",   "undo",  "certs",  "txindex", "meta",   "proofs"};

constexpr std::string_view meta_genesis = "genesis";              // Genesis::hash()
constexpr std::string_view meta_genesis_block = "genesis-block";  // height-0 block hash
constexpr std::string_view meta_schema = "schema";                // u32
constexpr std::string_view meta_best = "best";                    // tip block hash

// The undo CF value: the ledger's BlockUndo plus what disconnecting needs to clean the
// certificate index (the roots are only known after the engine verified the block).
struct StoredUndo {
    BlockUndo undo;
    std::vector<Hash256> certificate_roots;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(undo, certificate_roots);
    }
};

struct TxIndexValue {
    Hash256 block;
    std::uint32_t position = 0;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(block, position);
    }
};

rocksdb::Slice slice(const std::vector<std::uint8_t>& bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
rocksdb::Slice slice(const Hash256& hash) {
    return {reinterpret_cast<const char*>(hash.data()), Hash256::size};
}
rocksdb::Slice slice(const PublicKey& key) {
    return {reinterpret_cast<const char*>(key.bytes().data()), PublicKey::size};
}
rocksdb::Slice slice(std::string_view text) {
    return {text.data(), text.size()};
}
std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::span<const std::uint8_t> bytes_of(const rocksdb::Slice& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string height_key(std::uint64_t height) {
    std::string key(8, '\0');
    for (int i = 0; i < 8; ++i) key[7 - i] = static_cast<char>(height >> (8 * i));
    return key;
}

std::string blob_key(const Hash256& block, std::uint32_t item) {
    std::string key(reinterpret_cast<const char*>(block.data()), Hash256::size);
    for (int i = 3; i >= 0; --i) key.push_back(static_cast<char>(item >> (8 * i)));
    return key;
}

Result<Hash256> hash_from(const std::string& value, std::string_view what) {
    if (value.size() != Hash256::size)
        return make_error(ErrorKind::local, "store-corrupt",
                          std::string(what) + ": not a 32-byte hash");
    std::array<std::uint8_t, Hash256::size> raw{};
    std::memcpy(raw.data(), value.data(), raw.size());
    return Hash256(raw);
}

Error io_error(const rocksdb::Status& status, std::string_view what) {
    return make_error(ErrorKind::local, "store-io-error",
                      std::string(what) + ": " + status.ToString());
}

template <class T>
Result<T> decode_value(const std::string& value, std::string_view what) {
    auto decoded = decode<T>(bytes_of(value));
    if (!decoded)
        return make_error(ErrorKind::local, "store-corrupt",
                          std::string(what) + ": " + decoded.error().to_string());
    return decoded;
}

// Fork choice: more cumulative work wins; on equal work the body seen first.
bool better_record(const BlockRecord& a, const BlockRecord& b) {
    if (a.entry.cumulative_work != b.entry.cumulative_work)
        return a.entry.cumulative_work > b.entry.cumulative_work;
    if (a.sequence != b.sequence) return a.sequence < b.sequence;
    return a.entry.hash < b.entry.hash;
}

}  // namespace

struct ChainStore::Handles {
    std::array<rocksdb::ColumnFamilyHandle*, cf_count> cf{};
    rocksdb::ColumnFamilyHandle* operator[](Cf which) const { return cf[which]; }
};

bool ChainStore::CandidateOrder::operator()(const BlockRecord* a, const BlockRecord* b) const {
    return better_record(*a, *b);
}

ChainStore::ChainStore(Genesis genesis, WorkEngine& engine, bool sync, bool prune_undo)
    : genesis_(std::move(genesis)),
      engine_(engine),
      max_reorg_depth_(genesis_.challenge_window),
      sync_(sync),
      prune_undo_(prune_undo),
      cf_(std::make_unique<Handles>()) {}

ChainStore::~ChainStore() {
    if (!db_) return;
    for (auto* handle : cf_->cf)
        if (handle != nullptr) (void)db_->DestroyColumnFamilyHandle(handle);
    db_.reset();
}

// --- opening ---------------------------------------------------------------------------------

Result<std::unique_ptr<ChainStore>> ChainStore::open(const StoreOptions& options,
                                                     const Genesis& genesis, WorkEngine& engine) {
    std::unique_ptr<ChainStore> store(
        new ChainStore(genesis, engine, options.sync, options.prune_undo));

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    // A WAL file is deleted only once every column family with entries in it has flushed, and
    // the small ones (meta, accounts) take months to fill a memtable: RocksDB's default cap, 4x
    // all write buffers (~5 GB over our 10 families), let the devnet's WAL grow ~25 MB a block.
    db_options.max_total_wal_size = 256 << 20;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (auto name : cf_names)
        descriptors.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    const auto status =
        rocksdb::DB::Open(db_options, options.path.string(), descriptors, &handles, &raw);
    if (!status.ok()) return io_error(status, "open " + options.path.string());
    store->db_.reset(raw);
    for (std::size_t i = 0; i < handles.size() && i < cf_count; ++i) store->cf_->cf[i] = handles[i];

    std::string value;
    const auto got =
        raw->Get(rocksdb::ReadOptions(), (*store->cf_)[cf_meta], slice(meta_genesis), &value);
    if (got.IsNotFound()) {
        LEARNCHAIN_TRY(store->create_genesis());
    } else if (!got.ok()) {
        return io_error(got, "read genesis marker");
    } else {
        const auto stored = hash_from(value, "genesis marker");
        if (!stored) return stored.error();
        if (*stored != genesis.hash())
            return make_error(ErrorKind::local, "store-genesis-mismatch",
                              options.path.string() + " belongs to genesis " + stored->hex() +
                                  ", the node is configured with " + genesis.hash().hex());
        LEARNCHAIN_TRY(store->load());
    }
    return store;
}

Status ChainStore::create_genesis() {
    auto state = genesis_state(genesis_);
    if (!state) return state.error();
    auto block = make_genesis_block(genesis_, engine_.model_root());
    if (!block) return block.error();
    const Hash256 hash = block->hash();
    BlockRecord record{genesis_index_entry(*block, genesis_),
                       block_status::have_body | block_status::valid,
                       0,
                       {}};

    rocksdb::WriteBatch batch;
    put_record(batch, record);
    put_body(batch, hash, *block);
    batch.Put((*cf_)[cf_height], height_key(0), slice(hash));
    for (const auto& [key, account] : state->accounts())
        batch.Put((*cf_)[cf_accounts], slice(key), slice(encode(account)));
    for (auto& write : engine_.take_state_writes()) {
        if (write.value)
            batch.Put((*cf_)[cf_model], write.key, slice(*write.value));
        else
            batch.Delete((*cf_)[cf_model], write.key);
    }
    const Hash256 genesis_hash = genesis_.hash();
    batch.Put((*cf_)[cf_meta], slice(meta_genesis), slice(genesis_hash));
    batch.Put((*cf_)[cf_meta], slice(meta_genesis_block), slice(hash));
    batch.Put((*cf_)[cf_meta], slice(meta_schema), slice(encode(store_schema_version)));
    batch.Put((*cf_)[cf_meta], slice(meta_best), slice(hash));
    LEARNCHAIN_TRY(write(batch, true));

    link(index_.emplace(hash, record).first->second);
    main_chain_ = {hash};
    state_ = std::move(*state);
    return ok_status();
}

Status ChainStore::load() {
    auto get_meta = [&](std::string_view key) -> Result<std::string> {
        std::string value;
        const auto status = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_meta], slice(key), &value);
        if (status.IsNotFound())
            return make_error(ErrorKind::local, "store-corrupt",
                              "meta " + std::string(key) + " missing");
        if (!status.ok()) return io_error(status, "read meta");
        return value;
    };

    auto schema_bytes = get_meta(meta_schema);
    if (!schema_bytes) return schema_bytes.error();
    auto schema = decode_value<std::uint32_t>(*schema_bytes, "schema");
    if (!schema) return schema.error();
    if (*schema != store_schema_version)
        return make_error(ErrorKind::local, "store-schema-mismatch",
                          "store schema " + std::to_string(*schema) + ", this node reads " +
                              std::to_string(store_schema_version));

    // Block index: every known header, in memory as Bitcoin Core's mapBlockIndex.
    {
        std::unique_ptr<rocksdb::Iterator> it(
            db_->NewIterator(rocksdb::ReadOptions(), (*cf_)[cf_index]));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            auto record = decode<BlockRecord>(bytes_of(it->value()));
            if (!record)
                return make_error(ErrorKind::local, "store-corrupt",
                                  "index: " + record.error().to_string());
            next_sequence_ = std::max(next_sequence_, record->sequence + 1);
            if (record->entry.header.height > 0)
                children_.emplace(record->entry.header.parent, record->entry.hash);
            if (!record->has(block_status::have_body)) header_only_.insert(record->entry.hash);
            index_.emplace(record->entry.hash, std::move(*record));
        }
        if (!it->status().ok()) return io_error(it->status(), "scan index");
        std::vector<const BlockRecord*> by_height;
        by_height.reserve(index_.size());
        for (const auto& [hash, record] : index_) by_height.push_back(&record);
        std::sort(by_height.begin(), by_height.end(), [](const auto* a, const auto* b) {
            return a->entry.header.height < b->entry.header.height;
        });
        for (const auto* record : by_height) link(*record);  // parents first
    }

    auto genesis_block = get_meta(meta_genesis_block);
    if (!genesis_block) return genesis_block.error();
    auto genesis_hash = hash_from(*genesis_block, "genesis block");
    if (!genesis_hash) return genesis_hash.error();
    auto best_bytes = get_meta(meta_best);
    if (!best_bytes) return best_bytes.error();
    auto best = hash_from(*best_bytes, "best block");
    if (!best) return best.error();

    // The best-block marker is written in the same batch as the block's connect, so it must
    // name a connected block whose ancestors are all in the index.
    const auto tip_it = index_.find(*best);
    if (tip_it == index_.end() || !tip_it->second.has(block_status::have_body) ||
        !tip_it->second.has(block_status::valid))
        return make_error(ErrorKind::local, "store-corrupt",
                          "best block " + best->hex() + " is not a connected block");
    const std::uint64_t tip_height = tip_it->second.entry.header.height;
    main_chain_.assign(tip_height + 1, Hash256{});
    for (const BlockRecord* r = &tip_it->second;;) {
        main_chain_[r->entry.header.height] = r->entry.hash;
        if (r->entry.header.height == 0) break;
        const auto parent = index_.find(r->entry.header.parent);
        if (parent == index_.end() ||
            parent->second.entry.header.height + 1 != r->entry.header.height)
            return make_error(ErrorKind::local, "store-corrupt",
                              "main chain broken below " + r->entry.hash.hex());
        r = &parent->second;
    }
    if (main_chain_.front() != *genesis_hash)
        return make_error(ErrorKind::local, "store-corrupt",
                          "main chain does not start at the genesis block");

    // Height index and undo of the tip come from the same batch as the marker.
    std::string value;
    auto status =
        db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_height], height_key(tip_height), &value);
    if (!status.ok() || value != best_bytes.value())
        return make_error(ErrorKind::local, "store-corrupt",
                          "height index disagrees with the best block");
    status =
        db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_height], height_key(tip_height + 1), &value);
    if (!status.IsNotFound())
        return make_error(ErrorKind::local, "store-corrupt", "height index runs past the tip");
    if (tip_height > 0) {
        status = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_undo], slice(*best), &value);
        if (!status.ok())
            return make_error(ErrorKind::local, "store-corrupt", "tip undo record missing");
    }

    auto accounts = stored_accounts();
    if (!accounts) return accounts.error();
    state_ = std::move(*accounts);
    auto model = model_entries();
    if (!model) return model.error();
    if (auto loaded = engine_.load(*model); !loaded) return loaded.error();
    (void)engine_.take_state_writes();  // loading is not a change

    const Hash256 root = state_.state_root(engine_.model_root());
    if (root != tip().header.state_root)
        return make_error(ErrorKind::local, "store-corrupt",
                          "state on disk hashes to " + root.hex() + ", the tip commits to " +
                              tip().header.state_root.hex());

    // A crash in the middle of a reorg leaves a lighter tip than a stored branch, and one
    // after a block was condemned leaves it on the main chain: finish both.
    rebuild_candidates();
    AcceptResult ignored;
    LEARNCHAIN_TRY(leave_condemned_main_chain(unix_time(), ignored));
    std::optional<Error> unused;
    return activate_best_chain(unix_time(), ignored, unused, nullptr);
}

// --- small helpers ---------------------------------------------------------------------------

Status ChainStore::check_usable() const {
    if (failure_) return make_error(ErrorKind::local, "store-failed", failure_->to_string());
    return ok_status();
}

Status ChainStore::write(rocksdb::WriteBatch& batch, bool sync) {
    rocksdb::WriteOptions options;
    options.sync = sync;
    const auto status = db_->Write(options, &batch);
    if (!status.ok()) return fail(io_error(status, "write batch"));
    return ok_status();
}

Status ChainStore::fail(const Error& error) {
    // Memory already holds the change the disk refused; only a restart (reload) is safe.
    log::error("chain store failed, restart the node: {}", error.to_string());
    if (!failure_) failure_ = error;
    return error;
}

const BlockIndexEntry& ChainStore::tip() const {
    return index_.at(main_chain_.back()).entry;
}

bool ChainStore::on_main_chain(const Hash256& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end()) return false;
    const auto height = it->second.entry.header.height;
    return height < main_chain_.size() && main_chain_[height] == hash;
}

std::optional<BlockIndexEntry> ChainStore::lookup(const Hash256& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end()) return std::nullopt;
    return it->second.entry;
}

std::optional<BlockIndexEntry> ChainStore::ancestor(const Hash256& tip,
                                                    std::uint64_t height) const {
    if (on_main_chain(tip)) {
        if (height > index_.at(tip).entry.header.height) return std::nullopt;
        return index_.at(main_chain_[height]).entry;
    }
    const auto it = index_.find(tip);
    if (it == index_.end()) return std::nullopt;
    const BlockRecord* at = ancestor_record(&it->second, height);
    if (at == nullptr) return std::nullopt;
    return at->entry;
}

std::optional<BlockRecord> ChainStore::record(const Hash256& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end()) return std::nullopt;
    return it->second;
}

std::optional<Hash256> ChainStore::hash_at(std::uint64_t height) const {
    if (height >= main_chain_.size()) return std::nullopt;
    return main_chain_[height];
}

std::optional<BlockHeader> ChainStore::header(const Hash256& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end()) return std::nullopt;
    return it->second.entry.header;
}

// Bitcoin Core's skip list (chain.cpp): each record also points at one ancestor at a height
// chosen so that any ancestor is reached in O(log n) hops, which keeps fork-point queries
// cheap on long header-only branches.
namespace {
std::uint64_t invert_lowest_one(std::uint64_t n) {
    return n & (n - 1);
}
std::uint64_t skip_height(std::uint64_t height) {
    if (height < 2) return 0;
    return (height & 1) != 0 ? invert_lowest_one(invert_lowest_one(height - 1)) + 1
                             : invert_lowest_one(height);
}
}  // namespace

const BlockRecord* ChainStore::ancestor_record(const BlockRecord* record,
                                               std::uint64_t height) const {
    if (record == nullptr || height > record->entry.header.height) return nullptr;
    std::uint64_t walk = record->entry.header.height;
    while (walk > height) {
        const auto& [parent, skip] = links_.at(record);
        const std::uint64_t to = skip_height(walk);
        const std::uint64_t to_prev = skip_height(walk - 1);
        if (skip != nullptr &&
            (to == height || (to > height && !(to_prev + 2 < to && to_prev >= height)))) {
            record = skip;
            walk = to;
        } else {
            record = parent;
            --walk;
        }
        if (record == nullptr) return nullptr;
    }
    return record;
}

void ChainStore::link(const BlockRecord& record) {
    const BlockRecord* parent = nullptr;
    if (record.entry.header.height > 0)
        if (const auto it = index_.find(record.entry.header.parent); it != index_.end())
            parent = &it->second;
    links_[&record] = {parent, nullptr};
    if (parent != nullptr)
        links_[&record].second = ancestor_record(parent, skip_height(record.entry.header.height));
}

// Height where the branch through `hash` meets the main chain. An ancestor at height h is on
// the main chain exactly when h <= the fork height, so a binary search finds it.
std::optional<std::uint64_t> ChainStore::fork_height(const Hash256& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end()) return std::nullopt;
    std::uint64_t low = 0;  // the genesis block is always shared
    std::uint64_t high = std::min(it->second.entry.header.height, height());
    while (low < high) {
        const std::uint64_t mid = low + (high - low + 1) / 2;
        const BlockRecord* at = ancestor_record(&it->second, mid);
        if (at == nullptr) return std::nullopt;
        if (main_chain_[mid] == at->entry.hash)
            low = mid;
        else
            high = mid - 1;
    }
    return low;
}

Status ChainStore::check_fork_depth(const BlockIndexEntry& parent) const {
    const auto fork = fork_height(parent.hash);
    if (!fork)
        return make_error(ErrorKind::missing, "bad-block-parent-unknown", "ancestry incomplete");
    const std::uint64_t depth = height() - *fork;
    if (is_final(*fork + 1))
        return make_error(ErrorKind::policy, "bad-block-fork-too-deep",
                          "forks at height " + std::to_string(*fork) + ", " +
                              std::to_string(depth) + " blocks below the tip (limit " +
                              std::to_string(max_reorg_depth_) + ")");
    return ok_status();
}

void ChainStore::rebuild_candidates() {
    candidates_.clear();
    const BlockRecord& tip_record = index_.at(main_chain_.back());
    for (const auto& [hash, record] : index_)
        if (record.has(block_status::have_body) && !record.invalid() &&
            better_record(record, tip_record))
            candidates_.insert(&record);
}

// A body arrived: the block, and descendants whose bodies were waiting for it, may now head
// a complete branch. Bodies arriving in order make this one insertion.
void ChainStore::add_candidates_from(const Hash256& hash) {
    const BlockRecord& tip_record = index_.at(main_chain_.back());
    std::vector<Hash256> pending = {hash};
    while (!pending.empty()) {
        const BlockRecord& record = index_.at(pending.back());
        pending.pop_back();
        if (!record.has(block_status::have_body) || record.invalid()) continue;
        if (better_record(record, tip_record)) candidates_.insert(&record);
        const auto [first, last] = children_.equal_range(record.entry.hash);
        for (auto it = first; it != last; ++it) pending.push_back(it->second);
    }
}

void ChainStore::prune_candidates() {
    const BlockRecord& tip_record = index_.at(main_chain_.back());
    for (auto it = candidates_.begin(); it != candidates_.end();) {
        if ((*it)->invalid() || !better_record(**it, tip_record))
            it = candidates_.erase(it);
        else
            ++it;
    }
}

// --- batch contents --------------------------------------------------------------------------

void ChainStore::put_record(rocksdb::WriteBatch& batch, const BlockRecord& record) {
    batch.Put((*cf_)[cf_index], slice(record.entry.hash), slice(encode(record)));
}

void ChainStore::put_body(rocksdb::WriteBatch& batch, const Hash256& hash, const Block& block) {
    // Blobs live apart so they can be pruned without rewriting bodies.
    std::vector<std::uint8_t> body;
    encode_append(body, block.header);
    encode_append(body, block.transactions);
    std::vector<WorkItem> stripped;
    stripped.reserve(block.work_items.size());
    for (const auto& item : block.work_items) stripped.push_back({item.certificate, {}});
    encode_append(body, stripped);
    encode_append(body, block.evidence);
    batch.Put((*cf_)[cf_bodies], slice(hash), slice(body));
    for (std::size_t i = 0; i < block.work_items.size(); ++i)
        batch.Put((*cf_)[cf_blobs], blob_key(hash, static_cast<std::uint32_t>(i)),
                  slice(block.work_items[i].blob));
}

void ChainStore::put_state_changes(rocksdb::WriteBatch& batch, const AccountJournal& journal,
                                   std::vector<ModelWrite> model_writes) {
    std::set<PublicKey> touched;
    for (const auto& change : journal) touched.insert(change.key);
    for (const auto& key : touched) {
        const Account account = state_.get(key);
        if (account.empty())
            batch.Delete((*cf_)[cf_accounts], slice(key));
        else
            batch.Put((*cf_)[cf_accounts], slice(key), slice(encode(account)));
    }
    for (auto& write : model_writes) {
        if (write.value)
            batch.Put((*cf_)[cf_model], write.key, slice(*write.value));
        else
            batch.Delete((*cf_)[cf_model], write.key);
    }
}

// --- reads -----------------------------------------------------------------------------------

Result<Block> ChainStore::read_body(const Hash256& hash) const {
    std::string value;
    auto status = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_bodies], slice(hash), &value);
    if (status.IsNotFound())
        return make_error(ErrorKind::local, "store-corrupt", "body missing: " + hash.hex());
    if (!status.ok()) return io_error(status, "read body");
    return decode_value<Block>(value, "body " + hash.hex());
}

Result<Block> ChainStore::read_block(const Hash256& hash) const {
    auto block = read_body(hash);
    if (!block) return block.error();
    std::string value;
    for (std::size_t i = 0; i < block->work_items.size(); ++i) {
        const auto status = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_blobs],
                                     blob_key(hash, static_cast<std::uint32_t>(i)), &value);
        if (!status.ok())
            return make_error(ErrorKind::local, "store-corrupt", "blob missing: " + hash.hex());
        const auto bytes = bytes_of(value);
        block->work_items[i].blob.assign(bytes.begin(), bytes.end());
    }
    return block;
}

Result<std::optional<Block>> ChainStore::block(const Hash256& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end() || !it->second.has(block_status::have_body))
        return std::optional<Block>();
    auto block = read_block(hash);
    if (!block) return block.error();
    return std::optional<Block>(std::move(*block));
}

Result<std::optional<Block>> ChainStore::block_without_blobs(const Hash256& hash) const {
    const auto it = index_.find(hash);
    if (it == index_.end() || !it->second.has(block_status::have_body))
        return std::optional<Block>();
    auto block = read_body(hash);
    if (!block) return block.error();
    return std::optional<Block>(std::move(*block));
}

Result<std::optional<Block>> ChainStore::block_at(std::uint64_t height) const {
    if (height >= main_chain_.size()) return std::optional<Block>();
    return block(main_chain_[height]);
}

Result<std::optional<TxLocation>> ChainStore::transaction(const Hash256& txid) const {
    std::string value;
    const auto status = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_txindex], slice(txid), &value);
    if (status.IsNotFound()) return std::optional<TxLocation>();
    if (!status.ok()) return io_error(status, "read tx index");
    auto location = decode_value<TxIndexValue>(value, "tx index");
    if (!location) return location.error();
    std::string body;
    const auto got =
        db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_bodies], slice(location->block), &body);
    if (!got.ok())
        return make_error(ErrorKind::local, "store-corrupt", "tx index names a missing body");
    auto block = decode_value<Block>(body, "body");
    if (!block) return block.error();
    if (location->position >= block->transactions.size())
        return make_error(ErrorKind::local, "store-corrupt", "tx index position out of range");
    return std::optional<TxLocation>(
        TxLocation{block->transactions[location->position], location->block, block->header.height});
}

Result<std::optional<Hash256>> ChainStore::certificate_block(const Hash256& root) const {
    std::string value;
    const auto status = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_certs], slice(root), &value);
    if (status.IsNotFound()) return std::optional<Hash256>();
    if (!status.ok()) return io_error(status, "read certificate index");
    auto hash = hash_from(value, "certificate index");
    if (!hash) return hash.error();
    return std::optional<Hash256>(*hash);
}

Result<std::optional<BlockUndo>> ChainStore::undo(const Hash256& hash) const {
    std::string value;
    const auto status = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_undo], slice(hash), &value);
    if (status.IsNotFound()) return std::optional<BlockUndo>();
    if (!status.ok()) return io_error(status, "read undo");
    auto stored = decode_value<StoredUndo>(value, "undo " + hash.hex());
    if (!stored) return stored.error();
    return std::optional<BlockUndo>(std::move(stored->undo));
}

Result<std::optional<std::vector<std::uint8_t>>> ChainStore::model_undo_above(
    std::uint64_t block_height) const {
    if (block_height + 1 >= main_chain_.size())
        return make_error(ErrorKind::local, "store-no-child", std::to_string(block_height));
    auto child_undo = undo(main_chain_[block_height + 1]);
    if (!child_undo) return child_undo.error();
    if (!*child_undo) return std::optional<std::vector<std::uint8_t>>();
    return std::optional<std::vector<std::uint8_t>>(std::move((*child_undo)->work_undo));
}

Result<WorkSnapshotPtr> ChainStore::model_at(const Hash256& block, std::uint64_t min_height) const {
    const auto record = index_.find(block);
    if (record == index_.end() || !on_main_chain(block) ||
        record->second.entry.header.height < min_height)
        return make_error(
            ErrorKind::invalid, "bad-evidence-parent",
            "certificate parent " + block.hex() + " is no ancestor within the challenge window");
    const std::uint64_t block_height = record->second.entry.header.height;
    WorkSnapshotPtr model;
    if (block_height == height()) {
        model = engine_.snapshot();
    } else {
        auto child_undo = model_undo_above(block_height);
        if (!child_undo) return child_undo.error();
        if (!*child_undo)
            return make_error(
                ErrorKind::local, "store-undo-missing",
                "no undo record for " + main_chain_[block_height + 1].hex() + " (pruned)");
        auto from_undo = engine_.snapshot_from_undo(block, **child_undo);
        if (!from_undo) return from_undo.error();
        model = std::move(*from_undo);
    }
    if (!model)
        return make_error(ErrorKind::local, "work-snapshot-unsupported",
                          "the engine keeps no model snapshots");
    return model;
}

Result<ModelEntries> ChainStore::model_entries() const {
    ModelEntries entries;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), (*cf_)[cf_model]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const auto bytes = bytes_of(it->value());
        entries.emplace_back(it->key().ToString(),
                             std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
    }
    if (!it->status().ok()) return io_error(it->status(), "scan model");
    return entries;
}

Result<AccountState> ChainStore::stored_accounts() const {
    AccountState state;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), (*cf_)[cf_accounts]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (it->key().size() != PublicKey::size)
            return make_error(ErrorKind::local, "store-corrupt", "account key is not 32 bytes");
        std::array<std::uint8_t, PublicKey::size> raw{};
        std::memcpy(raw.data(), it->key().data(), raw.size());
        auto account = decode<Account>(bytes_of(it->value()));
        if (!account)
            return make_error(ErrorKind::local, "store-corrupt",
                              "account: " + account.error().to_string());
        state.set(PublicKey(raw), *account);
    }
    if (!it->status().ok()) return io_error(it->status(), "scan accounts");
    return state;
}

Result<std::vector<Hash256>> ChainStore::stored_height_index() const {
    std::vector<Hash256> hashes;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), (*cf_)[cf_height]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (it->key().ToString() != height_key(hashes.size()))
            return make_error(ErrorKind::local, "store-corrupt",
                              "height index has a gap at " + std::to_string(hashes.size()));
        auto hash = hash_from(it->value().ToString(), "height index");
        if (!hash) return hash.error();
        hashes.push_back(*hash);
    }
    if (!it->status().ok()) return io_error(it->status(), "scan height index");
    return hashes;
}

std::vector<BlockRecord> ChainStore::chain_tips() const {
    std::vector<BlockRecord> tips;
    for (const auto& [hash, record] : index_)
        if (!children_.contains(hash) || hash == tip().hash) tips.push_back(record);
    return tips;
}

// --- fraud proofs awaiting judgment ------------------------------------------------------------

Status ChainStore::keep_unjudged_fraud_proof(const Hash256& id, const FraudProof& proof) {
    LEARNCHAIN_TRY(check_usable());
    rocksdb::WriteBatch batch;
    batch.Put((*cf_)[cf_proofs], slice(id), slice(encode(proof)));
    return write(batch, sync_);
}

Status ChainStore::forget_unjudged_fraud_proof(const Hash256& id) {
    LEARNCHAIN_TRY(check_usable());
    rocksdb::WriteBatch batch;
    batch.Delete((*cf_)[cf_proofs], slice(id));
    return write(batch, sync_);
}

Result<std::vector<std::pair<Hash256, FraudProof>>> ChainStore::unjudged_fraud_proofs() const {
    std::vector<std::pair<Hash256, FraudProof>> proofs;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), (*cf_)[cf_proofs]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        auto id = hash_from(it->key().ToString(), "fraud proof id");
        if (!id) return id.error();
        auto proof = decode_value<FraudProof>(it->value().ToString(), "fraud proof " + id->hex());
        if (!proof) return proof.error();
        proofs.emplace_back(*id, std::move(*proof));
    }
    if (!it->status().ok()) return io_error(it->status(), "scan fraud proofs");
    return proofs;
}

// --- connect / disconnect --------------------------------------------------------------------

Status ChainStore::connect_tip(const Block& block, std::uint64_t now) {
    // The index holds only headers whose signature was checked (add_header, or a stored body).
    const HeaderSignature signature =
        index_.contains(block.hash()) ? HeaderSignature::already_checked : HeaderSignature::check;
    auto connected =
        validate_and_connect_block(state_, engine_, *this, block, genesis_, now, this, signature);
    if (!connected) {
        (void)engine_.take_state_writes();  // applied and undone: the model is where it was
        return connected.error();
    }
    const Hash256& hash = connected->entry.hash;
    const auto existing = index_.find(hash);
    const bool stored = existing != index_.end() && existing->second.has(block_status::have_body);
    BlockRecord record = existing != index_.end()
                             ? existing->second
                             : BlockRecord{connected->entry, 0, next_sequence_++, {}};
    // A header-only record gets its sequence when its body arrives, as a stored body does.
    if (existing != index_.end() && !stored) record.sequence = next_sequence_++;
    record.status |= block_status::have_body | block_status::valid;

    rocksdb::WriteBatch batch;
    put_record(batch, record);
    if (!stored) put_body(batch, hash, block);  // fast path: the body rides with its connect
    put_state_changes(batch, connected->undo.accounts, engine_.take_state_writes());
    const StoredUndo stored_undo{std::move(connected->undo), connected->work.certificate_roots};
    batch.Put((*cf_)[cf_undo], slice(hash), slice(encode(stored_undo)));
    batch.Put((*cf_)[cf_height], height_key(block.header.height), slice(hash));
    for (std::size_t i = 0; i < block.transactions.size(); ++i)
        batch.Put((*cf_)[cf_txindex], slice(block.transactions[i].txid()),
                  slice(encode(TxIndexValue{hash, static_cast<std::uint32_t>(i)})));
    for (const auto& root : stored_undo.certificate_roots)
        batch.Put((*cf_)[cf_certs], slice(root), slice(hash));
    // Opt-in (StoreOptions::prune_undo): undo records below twice the reorg limit are needed
    // neither by a reorg nor by the evidence of a reorg's branch, and with a model pre-image in
    // each they dominate disk. Drop the one that just fell out, keeping one block of slack.
    const std::uint64_t new_height = block.header.height;
    const std::uint64_t undo_window = 2 * max_reorg_depth_;
    if (prune_undo_ && new_height > undo_window + 1 &&
        new_height - undo_window - 1 < main_chain_.size())
        batch.Delete((*cf_)[cf_undo], slice(main_chain_[new_height - undo_window - 1]));
    batch.Put((*cf_)[cf_meta], slice(meta_best), slice(hash));
    LEARNCHAIN_TRY(write(batch, sync_));

    const bool is_new = existing == index_.end();
    const auto stored_it = index_.insert_or_assign(hash, std::move(record)).first;
    if (is_new) {
        children_.emplace(block.header.parent, hash);
        link(stored_it->second);
    }
    header_only_.erase(hash);
    main_chain_.push_back(hash);
    return ok_status();
}

Status ChainStore::disconnect_tip(std::vector<Transaction>* returned) {
    const BlockRecord& record = index_.at(main_chain_.back());
    const Hash256 hash = record.entry.hash;
    if (record.entry.header.height == 0)
        return make_error(ErrorKind::local, "store-internal", "cannot disconnect genesis");
    auto block = read_block(hash);
    if (!block) return fail(block.error());
    std::string value;
    const auto got = db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_undo], slice(hash), &value);
    if (!got.ok())
        return fail(
            make_error(ErrorKind::local, "store-corrupt", "undo missing for " + hash.hex()));
    auto stored = decode_value<StoredUndo>(value, "undo");
    if (!stored) return fail(stored.error());

    // The engine first: it is the step that can fail, and accounts must not move if it does.
    const WorkContext context{&genesis_, record.entry.header.parent, record.entry.header.height,
                              record.entry.required_work};
    if (auto undone = engine_.undo(*block, context, stored->undo.work_undo); !undone)
        return fail(
            make_error(ErrorKind::local, "store-engine-undo-failed", undone.error().to_string()));
    disconnect_block(state_, stored->undo);

    rocksdb::WriteBatch batch;
    put_state_changes(batch, stored->undo.accounts, engine_.take_state_writes());
    batch.Delete((*cf_)[cf_undo], slice(hash));
    batch.Delete((*cf_)[cf_height], height_key(record.entry.header.height));
    for (const auto& tx : block->transactions) batch.Delete((*cf_)[cf_txindex], slice(tx.txid()));
    for (const auto& root : stored->certificate_roots) batch.Delete((*cf_)[cf_certs], slice(root));
    batch.Put((*cf_)[cf_meta], slice(meta_best), slice(record.entry.header.parent));
    LEARNCHAIN_TRY(write(batch, sync_));

    main_chain_.pop_back();
    if (returned != nullptr)
        returned->insert(returned->end(), std::make_move_iterator(block->transactions.begin()),
                         std::make_move_iterator(block->transactions.end()));
    return ok_status();
}

Status ChainStore::mark_invalid(const Hash256& hash, const Error& error, bool sync) {
    rocksdb::WriteBatch batch;
    BlockRecord& bad = index_.at(hash);
    bad.status |= block_status::failed;
    bad.invalid_reason = error.reason;
    put_record(batch, bad);
    const std::uint64_t bad_height = bad.entry.header.height;
    for (auto& [other_hash, other] : index_) {
        if (other.entry.header.height <= bad_height || other.invalid() || on_main_chain(other_hash))
            continue;
        const BlockRecord* at = ancestor_record(&other, bad_height);
        if (at == nullptr || at->entry.hash != hash) continue;
        other.status |= block_status::failed_child;
        other.invalid_reason = error.reason;
        put_record(batch, other);
    }
    // Not synced unless asked: losing these flags in a crash only means validating the block
    // again, when validation is what condemned it.
    LEARNCHAIN_TRY(write(batch, sync));
    prune_candidates();
    return ok_status();
}

Status ChainStore::leave_condemned_main_chain(std::uint64_t now, AcceptResult& result) {
    const auto condemned = std::find_if(main_chain_.begin(), main_chain_.end(),
                                        [&](const auto& h) { return index_.at(h).invalid(); });
    if (condemned == main_chain_.end()) return ok_status();
    const Hash256 hash = *condemned;
    const BlockRecord& record = index_.at(hash);
    const Error why = make_error(ErrorKind::invalid, record.invalid_reason);
    const std::uint64_t fork = record.entry.header.height - 1;
    if (is_final(fork + 1)) {
        // Only a reorg limit lowered since the mark gets here; undo records below it may be gone.
        log::error(
            "block {} at height {} is condemned ({}) but {} blocks deep, past the reorg "
            "limit {}: staying on it",
            hash.hex(), fork + 1, record.invalid_reason, height() - fork, max_reorg_depth_);
        return ok_status();
    }
    Disconnected left;
    if (auto disconnected = disconnect_to(fork, result, left); !disconnected)
        return disconnected.error();
    LEARNCHAIN_TRY(mark_invalid(hash, why, true));  // now off the main chain: its descendants too
    rebuild_candidates();
    std::optional<Error> unused;
    LEARNCHAIN_TRY(activate_best_chain(now, result, unused, nullptr));
    report_changes(result, left);
    return ok_status();
}

Result<AcceptResult> ChainStore::invalidate_block(const Hash256& hash, const Error& why,
                                                  std::uint64_t now) {
    LEARNCHAIN_TRY(check_usable());
    const auto it = index_.find(hash);
    if (it == index_.end())
        return make_error(ErrorKind::invalid, "store-block-unknown", hash.hex());
    const std::uint64_t block_height = it->second.entry.header.height;
    if (block_height == 0) return make_error(ErrorKind::invalid, "store-block-genesis");
    AcceptResult result;
    result.hash = hash;
    if (!it->second.invalid()) {
        if (on_main_chain(hash) && is_final(block_height))
            return make_error(ErrorKind::policy, "store-block-final",
                              "block " + hash.hex() + " at height " + std::to_string(block_height) +
                                  " is " + std::to_string(height() - block_height + 1) +
                                  " blocks deep, the reorg limit is " +
                                  std::to_string(max_reorg_depth_));
        log::warn("block {} at height {} condemned after connecting: {}", hash.hex(), block_height,
                  why.to_string());
        // The mark first, synced: a crash before the disconnect is finished when the store
        // opens again (load).
        LEARNCHAIN_TRY(mark_invalid(hash, why, true));
        LEARNCHAIN_TRY(leave_condemned_main_chain(now, result));
    }
    result.tip = tip().hash;
    return result;
}

Status ChainStore::drop_body(const Hash256& hash) {
    BlockRecord& record = index_.at(hash);
    record.status &= static_cast<std::uint8_t>(~block_status::have_body);
    candidates_.erase(&record);
    header_only_.insert(hash);
    rocksdb::WriteBatch batch;
    put_record(batch, record);
    batch.Delete((*cf_)[cf_bodies], slice(hash));
    batch.DeleteRange((*cf_)[cf_blobs], blob_key(hash, 0), blob_key(hash, UINT32_MAX));
    batch.Delete((*cf_)[cf_blobs], blob_key(hash, UINT32_MAX));
    return write(batch, false);
}

// Bitcoin Core's ActivateBestChain: move to the best candidate, one block per batch; a block
// that fails validation is marked and the search starts over from the best valid chain.
Status ChainStore::activate_best_chain(std::uint64_t now, AcceptResult& result,
                                       std::optional<Error>& new_block_error,
                                       const Block* new_block, bool new_block_checked) {
    const Hash256 new_hash = new_block != nullptr ? new_block->hash() : Hash256{};
    Disconnected left;  // tip first
    // What a failed block does (failed_block_action); false when it was the node's own failure.
    const auto handle_failure = [&](const Hash256& hash, const Error& failure) -> Result<bool> {
        const Error error = failure.prefixed("block " + hash.hex());
        const bool is_new = new_block != nullptr && hash == new_hash;
        switch (failed_block_action(error.kind)) {
            case FailedBlock::condemn:
                log::warn("invalid block {} at height {}: {}", hash.hex(),
                          index_.at(hash).entry.header.height, error.to_string());
                LEARNCHAIN_TRY(mark_invalid(hash, error));
                break;
            case FailedBlock::drop_body:
                log::info("block {} at height {} has a body that does not match its header: {}",
                          hash.hex(), index_.at(hash).entry.header.height, error.to_string());
                LEARNCHAIN_TRY(drop_body(hash));
                break;
            case FailedBlock::keep:
                return false;
        }
        if (new_block != nullptr && !new_block_error && (is_new || index_.at(new_hash).invalid()))
            new_block_error = error;
        rebuild_candidates();
        return true;
    };
    const auto body_of = [&](const Hash256& hash) -> Result<Block> {
        if (new_block != nullptr && hash == new_hash) return *new_block;
        return read_block(hash);
    };

    while (true) {
        prune_candidates();
        if (candidates_.empty()) break;
        const BlockRecord* target = *candidates_.begin();

        std::vector<Hash256> path;  // target down to just above the fork
        const BlockRecord* r = target;
        bool usable = true;
        while (!on_main_chain(r->entry.hash)) {
            if (!r->has(block_status::have_body) || r->invalid()) {
                usable = false;
                break;
            }
            path.push_back(r->entry.hash);
            r = &index_.at(r->entry.header.parent);
        }
        const std::uint64_t fork = r->entry.header.height;
        if (!usable || height() - fork > max_reorg_depth_) {
            candidates_.erase(target);  // back when a missing body arrives
            continue;
        }

        // Before a reorg disconnects anything, every block of the branch passes what needs no
        // parent state (its own checks, the engine's cheap checks and remembered verdicts): a
        // junk branch many blocks deep then costs a few checks, not a disconnect and reconnect.
        if (height() > fork) {
            std::optional<std::pair<Hash256, Error>> failed;
            for (auto it = path.rbegin(); it != path.rend() && !failed; ++it) {
                if (new_block_checked && *it == new_hash) continue;
                auto block = body_of(*it);
                if (!block) return fail(block.error());
                const BlockIndexEntry& entry = index_.at(*it).entry;
                Status checked =
                    check_block_context_free(*block, genesis_, HeaderSignature::already_checked);
                if (checked)
                    checked = engine_.check_work(
                        *block, WorkContext{&genesis_, entry.header.parent, entry.header.height,
                                            entry.required_work});
                if (!checked) failed.emplace(*it, checked.error());
            }
            if (failed) {
                auto handled = handle_failure(failed->first, failed->second);
                if (!handled) return handled.error();
                if (!*handled) return failed->second;
                continue;
            }
        }

        auto disconnected = disconnect_to(fork, result, left);  // by this step, tip first
        if (!disconnected) return disconnected.error();
        for (auto it = path.rbegin(); it != path.rend(); ++it) {
            auto block = body_of(*it);
            if (!block) return fail(block.error());
            if (auto status = connect_tip(*block, now); !status) {
                if (failure_) return status;
                auto handled = handle_failure(*it, status.error());
                if (!handled) return handled.error();
                if (*handled) break;  // a new best chain is looked for
                // The node's own failure (out of memory, a device error) mid-reorg: back to the
                // chain it left, whose blocks verified before, so the node is never rewound.
                if (!disconnected->empty()) LEARNCHAIN_TRY(restore_chain(*disconnected, fork, now));
                return status;
            }
            result.connected.push_back(*it);
        }
    }

    report_changes(result, left);
    return ok_status();
}

Result<std::vector<Hash256>> ChainStore::disconnect_to(std::uint64_t fork, AcceptResult& result,
                                                       Disconnected& left) {
    std::vector<Hash256> disconnected;
    while (height() > fork) {
        std::vector<Transaction> txs;
        const Hash256 tip_hash = main_chain_.back();
        LEARNCHAIN_TRY(disconnect_tip(&txs));
        result.disconnected.push_back(tip_hash);
        disconnected.push_back(tip_hash);
        left.emplace_back(tip_hash, std::move(txs));
    }
    return disconnected;
}

void ChainStore::report_changes(AcceptResult& result, const Disconnected& left) const {
    std::erase_if(result.connected, [&](const Hash256& h) { return !on_main_chain(h); });
    std::erase_if(result.disconnected, [&](const Hash256& h) { return on_main_chain(h); });
    for (auto it = left.rbegin(); it != left.rend(); ++it) {
        if (on_main_chain(it->first)) continue;
        result.returned_transactions.insert(result.returned_transactions.end(), it->second.begin(),
                                            it->second.end());
    }
}

Status ChainStore::restore_chain(const std::vector<Hash256>& disconnected, std::uint64_t fork,
                                 std::uint64_t now) {
    while (height() > fork) LEARNCHAIN_TRY(disconnect_tip(nullptr));
    for (auto it = disconnected.rbegin(); it != disconnected.rend(); ++it) {
        auto block = read_block(*it);
        if (!block) return fail(block.error());
        if (auto status = connect_tip(*block, now); !status) {
            if (failure_) return status;
            // The failure persists (a device still down): stay as far as the old chain could
            // be reconnected; the next activation goes on from there.
            log::error("reorganisation abandoned after a local failure; reconnecting {}: {}",
                       it->hex(), status.error().to_string());
            return ok_status();
        }
    }
    log::warn("reorganisation abandoned after a local failure; back at {}",
              main_chain_.back().hex());
    return ok_status();
}

// --- forgetting headers that cannot matter -------------------------------------------------

std::size_t ChainStore::prune_headers() {
    if (failure_) return 0;
    const ChainWork& tip_work = tip().cumulative_work;
    std::vector<Hash256> pending(header_only_.begin(), header_only_.end());
    rocksdb::WriteBatch batch;
    std::size_t pruned = 0;
    while (!pending.empty()) {
        const Hash256 hash = pending.back();
        pending.pop_back();
        const auto it = index_.find(hash);
        if (it == index_.end() || it->second.has(block_status::have_body)) continue;
        if (it->second.entry.cumulative_work > tip_work || children_.contains(hash)) continue;
        // A leaf without a body and with no more work than the tip: no chain through it can
        // win unless it grows, and a peer extending it resends it (its locator finds our tip).
        const Hash256 parent = it->second.entry.header.parent;
        for (auto [c, end] = children_.equal_range(parent); c != end; ++c)
            if (c->second == hash) {
                children_.erase(c);
                break;
            }
        links_.erase(&it->second);
        index_.erase(it);
        header_only_.erase(hash);
        batch.Delete((*cf_)[cf_index], slice(hash));
        ++pruned;
        if (header_only_.contains(parent)) pending.push_back(parent);
    }
    if (pruned > 0 && !write(batch, false)) return 0;  // write() poisoned the store
    return pruned;
}

// --- verification without the chain lock ------------------------------------------------------

std::optional<ConnectPlan> ChainStore::plan_connect(const Block& block, std::uint64_t now) const {
    if (failure_) return std::nullopt;
    const Hash256 hash = block.hash();
    const auto existing = index_.find(hash);
    if (existing != index_.end() &&
        (existing->second.invalid() || existing->second.has(block_status::have_body)))
        return std::nullopt;
    const auto parent = index_.find(block.header.parent);
    if (parent == index_.end() || parent->second.invalid()) return std::nullopt;
    if (!check_fork_depth(parent->second.entry)) return std::nullopt;
    const HeaderSignature signature =
        existing != index_.end() ? HeaderSignature::already_checked : HeaderSignature::check;
    if (!check_block_context_free(block, genesis_, signature)) return std::nullopt;
    auto entry = check_block_contextual(block.header, *this, genesis_, now);
    if (!entry) return std::nullopt;

    // The branch activation would move to: the block, or its best descendant whose body came
    // first; it must beat the tip and every stored candidate, as in activate_best_chain.
    const BlockRecord arriving{*entry, block_status::have_body, next_sequence_, {}};
    const BlockRecord* target = &arriving;
    std::vector<const BlockRecord*> pending;
    for (auto [it, end] = children_.equal_range(hash); it != end; ++it)
        pending.push_back(&index_.at(it->second));
    while (!pending.empty()) {
        const BlockRecord* record = pending.back();
        pending.pop_back();
        if (!record->has(block_status::have_body) || record->invalid()) continue;
        if (better_record(*record, *target)) target = record;
        for (auto [it, end] = children_.equal_range(record->entry.hash); it != end; ++it)
            pending.push_back(&index_.at(it->second));
    }
    if (!better_record(*target, index_.at(main_chain_.back()))) return std::nullopt;
    if (!candidates_.empty() && better_record(**candidates_.begin(), *target)) return std::nullopt;

    ConnectPlan plan;
    for (const BlockRecord* r = target; r != &arriving;) {  // the descendants, top down
        plan.steps.push_back(
            {r->entry.hash,
             nullptr,
             {&genesis_, r->entry.header.parent, r->entry.header.height, r->entry.required_work}});
        r = r->entry.header.parent == hash ? &arriving : &index_.at(r->entry.header.parent);
    }
    plan.steps.push_back(
        {hash,
         &block,
         {&genesis_, block.header.parent, block.header.height, entry->required_work}});
    const BlockRecord* r = &parent->second;
    while (!on_main_chain(r->entry.hash)) {
        if (!r->has(block_status::have_body) || r->invalid()) return std::nullopt;
        plan.steps.push_back(
            {r->entry.hash,
             nullptr,
             {&genesis_, r->entry.header.parent, r->entry.header.height, r->entry.required_work}});
        r = &index_.at(r->entry.header.parent);
    }
    std::reverse(plan.steps.begin(), plan.steps.end());
    plan.fork = r->entry.hash;
    if (plan.fork == main_chain_.back()) {
        plan.tip_model = engine_.snapshot();
        if (!plan.tip_model) return std::nullopt;  // the engine verifies under the lock only
    } else {
        plan.fork_undo = main_chain_.at(r->entry.header.height + 1);
    }
    return plan;
}

void ChainStore::verify_plan(const ConnectPlan& plan) const {
    WorkSnapshotPtr model = plan.tip_model;
    if (!model) {
        if (!plan.fork_undo) return;
        std::string value;
        const auto got =
            db_->Get(rocksdb::ReadOptions(), (*cf_)[cf_undo], slice(*plan.fork_undo), &value);
        if (!got.ok()) return;  // pruned, or the tip moved on: the connect verifies instead
        auto stored = decode_value<StoredUndo>(value, "undo");
        if (!stored) return;
        auto before = engine_.snapshot_from_undo(plan.fork, stored->undo.work_undo);
        if (!before || !*before) return;
        model = std::move(*before);
    }
    for (const auto& step : plan.steps) {
        std::optional<Block> read;
        if (step.body == nullptr) {
            auto stored = read_block(step.hash);
            if (!stored) return;
            read = std::move(*stored);
        }
        auto next = engine_.verify_detached(*model, step.body ? *step.body : *read, step.context);
        if (!next) {
            log::debug("block {} failed verification: {}", step.hash.hex(),
                       next.error().to_string());
            return;
        }
        model = std::move(*next);
    }
}

// --- acceptance ------------------------------------------------------------------------------

Result<AcceptResult> ChainStore::accept_block(const Block& block, std::uint64_t now) {
    LEARNCHAIN_TRY(check_usable());
    const Hash256 hash = block.hash();
    const auto existing = index_.find(hash);
    if (existing != index_.end()) {
        if (existing->second.invalid())
            return make_error(ErrorKind::invalid, "block-known-invalid",
                              existing->second.invalid_reason);
        if (existing->second.has(block_status::have_body))
            return make_error(ErrorKind::policy, "block-duplicate");
    }
    const auto parent = index_.find(block.header.parent);
    if (parent == index_.end())
        return make_error(ErrorKind::missing, "bad-block-parent-unknown",
                          block.header.parent.hex());
    if (parent->second.invalid())
        return make_error(ErrorKind::invalid, "bad-block-invalid-parent",
                          parent->second.invalid_reason);
    LEARNCHAIN_TRY(check_fork_depth(parent->second.entry));

    AcceptResult result;
    result.hash = hash;
    std::optional<Error> new_block_error;
    if (block.header.parent == main_chain_.back()) {
        // Fast path, the common case: extending the tip always adds work, so validate once
        // and store the body in the connect's own batch. This includes the body of a header
        // that came first (headers-first sync): going through the side-branch path would
        // validate it twice and write it twice.
        const bool header_known = existing != index_.end();
        if (auto connected = connect_tip(block, now); !connected) {
            if (header_known) LEARNCHAIN_TRY(condemn_known_header(block, connected.error(), now));
            return connected.error();  // a new invalid block is not stored at all
        }
        result.connected.push_back(hash);
        // Bodies of its descendants may have arrived first, out of order.
        if (header_known) add_candidates_from(hash);
        LEARNCHAIN_TRY(activate_best_chain(now, result, new_block_error, &block));
    } else {
        LEARNCHAIN_TRY(check_block_context_free(block, genesis_));
        auto entry = check_block_contextual(block.header, *this, genesis_, now);
        if (!entry) return entry.error();
        // A block that would make its branch the best one gets the checks that need no parent
        // state before anything is stored, as the tip's fast path does: junk claiming work is
        // refused at the cost of those checks, and never reaches the disk.
        const bool beats_tip = entry->cumulative_work > tip().cumulative_work;
        if (beats_tip) {
            const Status checked =
                engine_.check_work(block, WorkContext{&genesis_, block.header.parent,
                                                      entry->header.height, entry->required_work});
            if (!checked) {
                if (existing != index_.end())
                    LEARNCHAIN_TRY(condemn_known_header(block, checked.error(), now));
                return checked.error();
            }
        }
        BlockRecord record{*entry, block_status::have_body, next_sequence_++, {}};
        rocksdb::WriteBatch batch;
        put_record(batch, record);
        put_body(batch, hash, block);
        // Not synced: a later synced connect makes it durable (the WAL is ordered), and losing
        // a side-branch body in a crash only means fetching it again.
        LEARNCHAIN_TRY(write(batch, false));
        const bool is_new = existing == index_.end();
        const auto stored_it = index_.insert_or_assign(hash, std::move(record)).first;
        if (is_new) {
            children_.emplace(block.header.parent, hash);
            link(stored_it->second);
        }
        header_only_.erase(hash);
        add_candidates_from(hash);
        LEARNCHAIN_TRY(activate_best_chain(now, result, new_block_error, &block, beats_tip));
        if (new_block_error) return *new_block_error;
    }
    result.tip = main_chain_.back();
    result.new_tip = result.tip == hash;
    return result;
}

// The body of a known header failed to connect on the fast path. Mark the header invalid,
// with its descendants, exactly when the side-branch path would have: a failure the header
// itself is responsible for (FailedBlock::condemn). A body that fails its own context-free
// checks (a tx root that does not match, say) or the contextual ones (a time too far ahead of
// our clock) says nothing about the header: the side-branch path refuses it before storing
// anything, and a peer must not be able to condemn a valid header by sending a mangled body.
Status ChainStore::condemn_known_header(const Block& block, const Error& error, std::uint64_t now) {
    if (failure_) return ok_status();
    switch (failed_block_action(error.kind)) {
        case FailedBlock::condemn:
            break;
        case FailedBlock::drop_body:  // nothing was stored on the fast path
        case FailedBlock::keep:
            return ok_status();
    }
    if (!check_block_context_free(block, genesis_)) return ok_status();
    if (!check_block_contextual(block.header, *this, genesis_, now)) return ok_status();
    const Hash256 hash = block.hash();
    log::warn("invalid block {} at height {}: {}", hash.hex(), block.header.height,
              error.to_string());
    return mark_invalid(hash, error);
}

Result<BlockIndexEntry> ChainStore::accept_header(const BlockHeader& header, std::uint64_t now) {
    LEARNCHAIN_TRY(check_usable());
    rocksdb::WriteBatch batch;
    auto entry = add_header(PreparedHeader(header), now, batch);
    if (!entry) return entry;
    LEARNCHAIN_TRY(write(batch, false));
    return entry;
}

HeadersResult ChainStore::accept_headers(std::span<const PreparedHeader> headers,
                                         std::uint64_t now) {
    HeadersResult result;
    if (auto usable = check_usable(); !usable) {
        result.error = usable.error();
        return result;
    }
    rocksdb::WriteBatch batch;
    for (const auto& header : headers) {
        auto entry = add_header(header, now, batch);
        if (entry) {
            result.entries.push_back(std::move(*entry));
        } else if (entry.error().reason == "header-duplicate") {
            result.entries.push_back(index_.at(header.hash()).entry);
        } else {
            result.error = entry.error();
            break;
        }
    }
    // One write for the whole run instead of one per header: header records are not synced
    // (the next synced connect makes them durable), so only the syscalls add up.
    if (batch.Count() > 0)
        if (auto written = write(batch, false); !written) result.error = written.error();
    return result;
}

// Records the header in memory and in `batch`; the caller writes the batch. Memory may run
// ahead of disk only until that write, and a failed write poisons the store.
Result<BlockIndexEntry> ChainStore::add_header(const PreparedHeader& prepared, std::uint64_t now,
                                               rocksdb::WriteBatch& batch) {
    const BlockHeader& header = prepared.header();
    const Hash256& hash = prepared.hash();
    if (const auto it = index_.find(hash); it != index_.end()) {
        if (it->second.invalid())
            return make_error(ErrorKind::invalid, "block-known-invalid", it->second.invalid_reason);
        return make_error(ErrorKind::policy, "header-duplicate");
    }
    if (header.version != block_version)
        return make_error(ErrorKind::invalid, "bad-block-version",
                          "version " + std::to_string(header.version));
    const auto parent = index_.find(header.parent);
    if (parent == index_.end())
        return make_error(ErrorKind::missing, "bad-block-parent-unknown", header.parent.hex());
    if (parent->second.invalid())
        return make_error(ErrorKind::invalid, "bad-block-invalid-parent",
                          parent->second.invalid_reason);
    LEARNCHAIN_TRY(check_fork_depth(parent->second.entry));
    auto entry = check_block_contextual(header, *this, genesis_, now);
    if (!entry) return entry.error();
    if (!prepared.signature_valid()) return make_error(ErrorKind::invalid, "bad-block-signature");
    BlockRecord record{*entry, 0, 0, {}};
    put_record(batch, record);
    children_.emplace(header.parent, hash);
    header_only_.insert(hash);
    link(index_.emplace(hash, std::move(record)).first->second);
    return *entry;
}

}  // namespace learnchain::chain
