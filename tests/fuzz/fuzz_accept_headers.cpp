// Headers arrive from peers in runs: ChainStore::accept_headers against a model of the same
// header tree in memory. One store on the test genesis lives across inputs; each input builds a
// run of headers whose parents are known hashes (genesis, headers accepted by earlier inputs,
// the header before it in the run) or unknown ones, with height, time, work, version and
// signature either right or wrong in the ways the input picks, so that most runs connect deep
// into the tree and each rule is crossed from both sides.
//
// The model is a MemoryChainView holding what the store holds. For each header it predicts
// accept or refuse with the store's rules (add_header: duplicate, version, parent, the shared
// check_block_contextual over the model, signature; the fork-depth and invalid-parent rules
// never apply, as the tip stays at genesis and no header is ever condemned). Checked on every
// run: the store accepts exactly the predicted prefix, with the model's index entries (required
// work, cumulative work); a refusal has a reason and is not a store-* failure; the refused header
// is not stored; every accepted header is found by lookup as a header-only record, and its
// ancestors through the skip list are the model's; the tip is still genesis; the record counts
// add up; prune_headers removes nothing (every header has more work than the genesis tip).
//
// Store growth is bounded: every inputs_per_store inputs the store is closed, reopened (the
// reopened index must hold every record accepted), then deleted and created afresh. As the tree
// outlives one input, a crash may need the inputs before it: rerun the corpus to reproduce.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/chain_view.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/chain/validation.hpp>

#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include "chain/store_test_support.hpp"

namespace {

using namespace learnchain::chain;

constexpr std::size_t inputs_per_store = 2000;
constexpr std::size_t max_headers_per_run = 48;
constexpr std::size_t max_known = 256;  // parents an input can name, genesis first

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz_accept_headers: %s\n", what.c_str());
    std::abort();
}
// The message is built only on failure.
#define CHECK(condition, what)        \
    do {                              \
        if (!(condition)) fail(what); \
    } while (false)

class Harness {
public:
    Harness()
        : genesis_(testing::load_test_genesis()),
          most_work_(max_block_work(genesis_.learning)),
          now_(genesis_.time + 1'000'000),
          dir_(std::filesystem::temp_directory_path() /
               ("learnchain_fuzz_accept_headers_" + std::to_string(::getpid()))),
          keys_{testing::test_key(9), testing::test_key(10)} {
        create();
    }
    ~Harness() {
        store_.reset();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    void run(FuzzedDataProvider& in) {
        if (++inputs_ % inputs_per_store == 0) {
            check_reopened();
            create();
        }
        std::vector<PreparedHeader> headers;
        std::vector<BlockIndexEntry> expected;  // the accepted prefix the model predicts
        std::map<Hash256, BlockHeader> built;   // this run's headers, as parents of the next
        bool refused = false;
        std::size_t added = 0;  // headers new to the store in the predicted prefix
        const auto count = in.ConsumeIntegralInRange<std::size_t>(1, max_headers_per_run);
        while (headers.size() < count && in.remaining_bytes() > 0) {
            BlockHeader header = make_header(in, headers, built);
            PreparedHeader prepared(header);
            if (in.ConsumeBool()) prepared.verify_signature();  // as sync does, or not
            built.emplace(prepared.hash(), header);
            if (!refused) {
                if (auto entry = predict(prepared, added)) {
                    expected.push_back(std::move(*entry));
                } else {
                    refused = true;
                }
            }
            headers.push_back(std::move(prepared));
        }

        const auto result = store_->accept_headers(headers, now_);
        CHECK(result.entries.size() == expected.size(),
              "accepted " + std::to_string(result.entries.size()) + " headers, the model " +
                  std::to_string(expected.size()) +
                  (result.error ? " (store: " + result.error->to_string() + ")" : ""));
        for (std::size_t i = 0; i < expected.size(); ++i)
            CHECK(result.entries[i] == expected[i],
                  "entry " + std::to_string(i) + " differs from the model's");
        CHECK(result.error.has_value() == (expected.size() < headers.size()),
              "error present iff the run was not accepted whole");
        if (result.error) {
            CHECK(!result.error->reason.empty(), "refusal without a reason");
            CHECK(result.error->reason.rfind("store-", 0) != 0,
                  "store failure: " + result.error->to_string());
            CHECK(!store_->lookup(headers[expected.size()].hash()),
                  "refused header stored: " + result.error->to_string());
        }

        records_ += added;
        CHECK(store_->block_count() == records_, "block count != records accepted");
        CHECK(store_->header_only_count() == records_ - 1, "header-only count");
        CHECK(store_->tip().hash == genesis_hash_ && store_->height() == 0, "tip moved");
        for (const auto& entry : expected) {
            const auto found = store_->lookup(entry.hash);
            CHECK(found && *found == entry, "accepted header not found by lookup");
            CHECK(store_->record(entry.hash)->status == 0, "accepted header not header-only");
            CHECK(!store_->on_main_chain(entry.hash), "header on the main chain");
        }
        if (!expected.empty()) {
            // Ancestors through the store's skip list against the model's parent walk.
            const BlockIndexEntry& last = expected.back();
            const auto height = in.ConsumeIntegralInRange<std::uint64_t>(0, last.header.height);
            const auto ours = store_->ancestor(last.hash, height);
            const auto theirs = model_->ancestor(last.hash, height);
            CHECK(ours.has_value() && theirs.has_value() && *ours == *theirs,
                  "ancestor at " + std::to_string(height) + " differs from the model's");
        }
        for (const auto& entry : expected) remember(entry.hash);
        if (inputs_ % 64 == 0) {
            CHECK(store_->prune_headers() == 0, "pruned a header with more work than the tip");
            CHECK(store_->block_count() == records_, "prune_headers changed the index");
        }
    }

private:
    // The store refuses what the model refuses, in add_header's order. Adds an accepted header
    // to the model and returns its entry; counts it in `added` when it is new.
    std::optional<BlockIndexEntry> predict(const PreparedHeader& prepared, std::size_t& added) {
        const BlockHeader& header = prepared.header();
        if (auto known = model_->lookup(prepared.hash())) return known;  // header-duplicate
        if (header.version != block_version) return std::nullopt;
        if (!model_->lookup(header.parent)) return std::nullopt;
        auto entry = check_block_contextual(header, *model_, genesis_, now_);
        if (!entry) return std::nullopt;
        if (!header.signature_valid()) return std::nullopt;
        auto added_entry = model_->add(header, genesis_);
        CHECK(added_entry.ok() && *added_entry == *entry, "model add differs from its check");
        ++added;
        return *entry;
    }

    BlockHeader make_header(FuzzedDataProvider& in, const std::vector<PreparedHeader>& run,
                            const std::map<Hash256, BlockHeader>& built) {
        BlockHeader header;
        // Each field is right most of the time, so that runs go deep and forks branch off them.
        switch (pick(in, 16)) {
            case 4:
            case 5:
            case 6:  // a known header: genesis or one accepted earlier
                header.parent =
                    known_[in.ConsumeIntegralInRange<std::size_t>(0, known_.size() - 1)];
                break;
            case 2:
            case 3:  // an earlier header of this run (a fork in the run, or refused)
                header.parent =
                    run.empty()
                        ? genesis_hash_
                        : run[in.ConsumeIntegralInRange<std::size_t>(0, run.size() - 1)].hash();
                break;
            case 0:  // whatever the bytes say (an unknown parent, nearly always)
                fill(in, header.parent);
                break;
            case 1: {  // a decoded header, as received or on a known parent
                const auto bytes = in.ConsumeBytes<std::uint8_t>(header_encoded_size);
                if (auto decoded = decode<BlockHeader>(bytes)) {
                    header = *decoded;
                    if (in.ConsumeBool()) return header;  // as received
                }
                header.parent =
                    known_[in.ConsumeIntegralInRange<std::size_t>(0, known_.size() - 1)];
                break;
            }
            default:  // extend the run, or the newest known header (chains grow across inputs)
                header.parent = run.empty() ? known_.back() : run.back().hash();
        }

        // The parent as far as we know it: in the model, built in this run, or nothing.
        std::optional<BlockIndexEntry> parent = model_->lookup(header.parent);
        BlockHeader basis = genesis_entry_.header;
        std::uint64_t required = genesis_.initial_work;
        if (parent) {
            basis = parent->header;
            required = required_work_for_child(*model_, *parent, genesis_).value();
        } else if (const auto it = built.find(header.parent); it != built.end()) {
            basis = it->second;
        }

        header.version = pick(in, 64) == 0 ? in.ConsumeIntegral<std::uint32_t>() : block_version;
        switch (pick(in, 32)) {
            case 0:
                header.height = in.ConsumeIntegral<std::uint64_t>();
                break;
            case 1:
                header.height = basis.height + in.ConsumeIntegralInRange<int>(-1, 2);
                break;
            default:
                header.height = basis.height + 1;
        }
        switch (pick(in, 32)) {
            case 0:
                header.time = in.ConsumeIntegral<std::uint64_t>();
                break;
            case 1:  // around the future-time limit (now + max_future_time)
                header.time = now_ + in.ConsumeIntegralInRange<std::uint64_t>(
                                         0, 2 * genesis_.max_future_time);
                break;
            case 2:
            case 3:
            case 4:
            case 5:  // before the median time past, or slow
                header.time = basis.time + in.ConsumeIntegralInRange<std::int64_t>(-4, 12);
                break;
            case 6:
            case 7:
            case 8:
            case 9:  // no time since the parent: retargets go up
                header.time = basis.time;
                break;
            default:  // around the target spacing
                header.time = basis.time + in.ConsumeIntegralInRange<std::int64_t>(1, 2);
        }
        switch (pick(in, 32)) {
            case 0:
                header.work = in.ConsumeIntegral<std::uint64_t>();
                break;
            case 1:
                header.work = required - in.ConsumeIntegralInRange<std::uint64_t>(1, 2);
                break;
            case 2:
                header.work = most_work_ + in.ConsumeIntegralInRange<int>(-1, 1);
                break;
            default:
                header.work = required + in.ConsumeIntegralInRange<std::uint64_t>(0, 64);
        }
        // Roots are not checked without a body; they make otherwise equal headers differ.
        header.tx_root.bytes()[0] = in.ConsumeIntegral<std::uint8_t>();
        if (pick(in, 8) == 0) {
            fill(in, header.tx_root);
            fill(in, header.work_root);
            fill(in, header.state_root);
        }

        const SecretKey& key = keys_[in.ConsumeIntegralInRange<std::size_t>(0, keys_.size() - 1)];
        header.proposer = key.public_key();
        switch (pick(in, 32)) {
            case 0:  // no signature
                break;
            case 1:  // a signature of bytes, by a proposer of bytes
                fill(in, header.proposer);
                fill(in, header.signature);
                break;
            case 2:  // signed, then one signature bit flipped
                sign(header, key);
                flip(in, header.signature);
                break;
            case 3:  // signed, then the header changed
                sign(header, key);
                header.work ^= 1;
                break;
            default:
                sign(header, key);
        }
        return header;
    }

    // Uniform in [0, n); n - 1 once the input is spent, and every switch makes its high choices
    // the right ones, so that a short input still builds headers that connect.
    static int pick(FuzzedDataProvider& in, int n) {
        return n - 1 - in.ConsumeIntegralInRange<int>(0, n - 1);
    }

    // Deterministic signatures (zero auxiliary randomness), so that inputs replay exactly.
    static void sign(BlockHeader& header, const SecretKey& key) {
        header.proposer = key.public_key();
        header.signature = learnchain::chain::sign(key, header.sighash().span(), {});
    }

    template <class Fixed>
    static void fill(FuzzedDataProvider& in, Fixed& value) {
        auto bytes = in.ConsumeBytes<std::uint8_t>(Fixed::size);
        bytes.resize(Fixed::size);
        std::array<std::uint8_t, Fixed::size> array{};
        std::copy(bytes.begin(), bytes.end(), array.begin());
        value = Fixed(array);
    }
    static void flip(FuzzedDataProvider& in, Signature& signature) {
        auto bytes = signature.bytes();
        const auto bit = in.ConsumeIntegralInRange<std::size_t>(0, 8 * Signature::size - 1);
        bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        signature = Signature(bytes);
    }

    void remember(const Hash256& hash) {
        for (const auto& known : known_)
            if (known == hash) return;
        if (known_.size() < max_known) {
            known_.push_back(hash);
        } else {  // overwrite the oldest, keeping genesis (slot 0) and the newest last
            known_.erase(known_.begin() + 1);
            known_.push_back(hash);
        }
    }

    std::unique_ptr<ChainStore> open_store() {
        engine_ = std::make_unique<testing::PersistentTestEngine>();
        auto store = ChainStore::open({dir_, false}, genesis_, *engine_);
        if (!store) fail("open: " + store.error().to_string());
        return std::move(store).value();
    }

    void create() {
        store_.reset();
        std::filesystem::remove_all(dir_);
        store_ = open_store();
        genesis_hash_ = store_->genesis_hash();
        genesis_entry_ = *store_->lookup(genesis_hash_);
        model_.emplace(genesis_entry_);
        known_ = {genesis_hash_};
        records_ = 1;
    }

    // The accepted records reached the disk: a reopened store has each of them.
    void check_reopened() {
        store_.reset();
        store_ = open_store();
        CHECK(store_->block_count() == records_, "reopened store lost header records");
        CHECK(store_->header_only_count() == records_ - 1, "reopened header-only count");
        CHECK(store_->tip().hash == genesis_hash_, "reopened store moved its tip");
        for (const auto& hash : known_)
            CHECK(store_->lookup(hash) == model_->lookup(hash), "reopened entry differs");
    }

    Genesis genesis_;
    std::uint64_t most_work_;
    std::uint64_t now_;
    std::filesystem::path dir_;
    std::vector<SecretKey> keys_;
    std::unique_ptr<testing::PersistentTestEngine> engine_;
    std::unique_ptr<ChainStore> store_;
    std::optional<MemoryChainView> model_;
    Hash256 genesis_hash_;
    BlockIndexEntry genesis_entry_;
    std::vector<Hash256> known_;
    std::size_t records_ = 1;  // index records the store must hold, genesis included
    std::size_t inputs_ = 0;
};

}  // namespace

// The store and the model keep what each input adds, which libFuzzer's leak check after each
// input cannot tell from a leak, and each of its scans walks the whole heap: off, unless the
// command line turns it back on (later flags win). LeakSanitizer still checks at exit.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    static char no_leak_checks[] = "-detect_leaks=0";
    static std::vector<char*> args(*argv, *argv + *argc);
    args.insert(args.begin() + 1, no_leak_checks);
    args.push_back(nullptr);
    *argc = static_cast<int>(args.size()) - 1;
    *argv = args.data();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Harness harness;
    FuzzedDataProvider in(data, size);
    harness.run(in);
    return 0;
}
