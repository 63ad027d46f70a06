// The node's JSON-RPC methods. Every chain read runs under the node's chain mutex and copies out
// what it needs; JSON is built after the lock is released where that is cheap to arrange.
#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/validation.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/engine.hpp>
#include <learnchain/consensus/model_export.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/node/node.hpp>
#include <learnchain/node/rpc_methods.hpp>
#include <learnchain/rpc/server.hpp>

namespace learnchain::node {
namespace {

using rpc::json;

// Held-out problems scored by getmodelinfo: enough to tell 0% from 10% from 50%.
constexpr std::size_t accuracy_problems = 64;
constexpr std::uint32_t held_out_sequences = 64;
// How far below the tip getmodelinfo backfills per-block held-out figures, one block a call.
constexpr std::uint64_t held_out_history = 30;
constexpr std::uint64_t default_loss_blocks = 20;
constexpr std::uint64_t max_loss_blocks = 1000;
constexpr std::size_t max_cached_block_losses = 4096;

// The i-th positional parameter, or the named one when params is an object.
const json* param(const json& params, std::size_t index, const char* name) {
    if (params.is_array()) return index < params.size() ? &params[index] : nullptr;
    const auto it = params.find(name);
    return it != params.end() ? &*it : nullptr;
}

Result<std::string> string_param(const json& params, std::size_t index, const char* name) {
    const json* value = param(params, index, name);
    if (value == nullptr || !value->is_string())
        return rpc::invalid_params(std::string(name) + ": expected a string");
    return value->get<std::string>();
}

Result<std::uint64_t> uint_param(const json& params, std::size_t index, const char* name,
                                 std::optional<std::uint64_t> fallback = std::nullopt) {
    const json* value = param(params, index, name);
    if (value == nullptr || value->is_null()) {
        if (fallback) return *fallback;
        return rpc::invalid_params(std::string(name) + ": expected a non-negative integer");
    }
    if (!value->is_number_unsigned())
        return rpc::invalid_params(std::string(name) + ": expected a non-negative integer");
    return value->get<std::uint64_t>();
}

Result<Hash256> hash_param(const json& params, std::size_t index, const char* name) {
    auto text = string_param(params, index, name);
    if (!text) return text.error();
    auto hash = Hash256::from_hex(*text);
    if (!hash) return rpc::invalid_params(std::string(name) + ": expected 64 hex characters");
    return hash;
}

json amount_json(chain::Amount units) {
    return chain::format_amount(units);
}

json header_json(const chain::BlockHeader& header) {
    return {
        {"hash", header.hash().hex()},
        {"version", header.version},
        {"height", header.height},
        {"parent", header.parent.hex()},
        {"time", header.time},
        {"tx_root", header.tx_root.hex()},
        {"work_root", header.work_root.hex()},
        {"evidence_root", header.evidence_root.hex()},
        {"state_root", header.state_root.hex()},
        {"work", header.work},
        {"proposer", header.height == 0 ? std::string() : chain::encode_address(header.proposer)},
    };
}

json transaction_json(const chain::Transaction& tx) {
    return {
        {"txid", tx.txid().hex()},
        {"chain_id", tx.chain_id},
        {"from", chain::encode_address(tx.from)},
        {"to", chain::encode_address(tx.to)},
        {"amount", amount_json(tx.amount)},
        {"amount_units", tx.amount},
        {"fee", amount_json(tx.fee)},
        {"fee_units", tx.fee},
        {"nonce", tx.nonce},
        {"memo", chain::to_hex(tx.memo)},
        {"size", chain::tx_encoded_size(tx)},
    };
}

// Where a block stands relative to the main chain, read under the chain mutex.
struct BlockPlace {
    std::uint64_t confirmations = 0;  // 0: not on the main chain
    std::optional<Hash256> next;
    chain::ChainWork cumulative_work;
    std::uint64_t required_work = 0;
};

// A block's state as Bitcoin Core's getchaintips names it.
void add_status(json& out, const chain::ChainStore& store, const chain::BlockRecord& record) {
    if (record.invalid()) {
        out["status"] = "invalid";
        out["invalid_reason"] = record.invalid_reason;
    } else if (store.on_main_chain(record.entry.hash)) {
        out["status"] = "active";
    } else {
        out["status"] = record.has(chain::block_status::have_body) ? "valid-fork" : "headers-only";
    }
}

BlockPlace place_of(const chain::ChainStore& store, const Hash256& hash) {
    BlockPlace place;
    const auto entry = store.lookup(hash);
    if (!entry) return place;
    place.cumulative_work = entry->cumulative_work;
    place.required_work = entry->required_work;
    if (store.on_main_chain(hash)) {
        place.confirmations = store.height() - entry->header.height + 1;
        place.next = store.hash_at(entry->header.height + 1);
    }
    return place;
}

void add_place(json& out, const BlockPlace& place) {
    out["confirmations"] = place.confirmations;
    out["cumulative_work"] = place.cumulative_work.to_string();
    out["required_work"] = place.required_work;
    if (place.next) out["next"] = place.next->hex();
}

struct BlockLoss {
    double loss = 0;  // token-weighted mean of the certificates' losses
    std::uint64_t tokens = 0;
    std::size_t contributions = 0;
};

BlockLoss block_loss(const chain::Block& block) {
    BlockLoss out;
    double weighted = 0;
    for (const auto& item : block.work_items) {
        auto certificate = consensus::decode_certificate(item.certificate);
        if (!certificate) continue;  // connected blocks decode; a store read error shows as 0
        weighted +=
            static_cast<double>(certificate->loss) * static_cast<double>(certificate->tokens);
        out.tokens += certificate->tokens;
        ++out.contributions;
    }
    if (out.tokens > 0) out.loss = weighted / static_cast<double>(out.tokens);
    return out;
}

// getmodelinfo's state: per-block losses (reading a body means reading its gradient blobs) and
// per-block held-out figures (synthetic: accuracy, greedy decoding of every problem; file: loss
// on fixed held-out sequences), each computed once: the tip's, and one older block's a call.
struct ModelInfoCache {
    std::mutex mutex;  // taken before the chain mutex, never after
    std::map<Hash256, BlockLoss> losses;
    std::optional<training::Trainer> trainer;
    Hash256 evaluated_tip;  // the last tip evaluated, even when that failed
    std::map<Hash256, double> held_out_by_block;
    std::string held_out_error;
};

class Methods {
public:
    explicit Methods(Node& node) : node_(node) {}

    Result<json> getblockchaininfo(const json&) {
        const chain::BlockIndexEntry best_header = node_.sync().best_header();
        const bool ibd = node_.sync().downloading_blocks();
        const p2p::SyncStats stats = node_.sync().stats();
        return node_.with_chain([&](chain::ChainStore& store, chain::Mempool&,
                                    auto&) -> Result<json> {
            const chain::BlockIndexEntry& tip = store.tip();
            auto required = chain::required_work_for_child(store, tip, store.genesis());
            if (!required) return required.error();
            const std::uint64_t headers = std::max(best_header.header.height, tip.header.height);
            return json{
                {"chain", store.genesis().name},
                {"chain_id", store.genesis().chain_id},
                {"genesis_hash", store.genesis_hash().hex()},
                {"height", tip.header.height},
                {"headers", headers},
                {"best_hash", tip.hash.hex()},
                {"time", tip.header.time},
                {"cumulative_work", tip.cumulative_work.to_string()},
                {"required_work", *required},
                {"challenge_window", store.genesis().challenge_window},
                {"reward_maturity", store.genesis().reward_maturity},
                {"state_root", tip.header.state_root.hex()},
                {"verification_progress", headers == 0 ? 1.0
                                                       : static_cast<double>(tip.header.height) /
                                                             static_cast<double>(headers)},
                {"initial_block_download", ibd},
                {"block_index_size", store.block_count()},
                {"headers_without_body", store.header_only_count()},
                {"verify", node_.config().verify},
                {"fraud_proofs",
                 {{"found", stats.fraud_proofs_found},
                  {"received", stats.fraud_proofs_received},
                  {"proven", stats.fraud_proofs_proven},
                  {"refused", stats.fraud_proofs_refused},
                  {"blocks_condemned", stats.blocks_condemned},
                  {"evidence_proven", stats.evidence_proven}}},
            };
        });
    }

    Result<json> getblockcount(const json&) {
        return node_.with_chain([](chain::ChainStore& store, auto&, auto&) -> Result<json> {
            return json(store.height());
        });
    }

    Result<json> getbestblockhash(const json&) {
        return node_.with_chain([](chain::ChainStore& store, auto&, auto&) -> Result<json> {
            return json(store.tip().hash.hex());
        });
    }

    Result<json> getblockhash(const json& params) {
        auto height = uint_param(params, 0, "height");
        if (!height) return height.error();
        return node_.with_chain([&](chain::ChainStore& store, auto&, auto&) -> Result<json> {
            const auto hash = store.hash_at(*height);
            if (!hash)
                return make_error(ErrorKind::policy, "block-not-found",
                                  "no main-chain block at height " + std::to_string(*height));
            return json(hash->hex());
        });
    }

    Result<json> getblockheader(const json& params) {
        auto hash = hash_param(params, 0, "hash");
        if (!hash) return hash.error();
        return node_.with_chain([&](chain::ChainStore& store, auto&, auto&) -> Result<json> {
            const auto header = store.header(*hash);
            if (!header) return make_error(ErrorKind::policy, "block-not-found", hash->hex());
            json out = header_json(*header);
            add_place(out, place_of(store, *hash));
            if (const auto record = store.record(*hash)) add_status(out, store, *record);
            return out;
        });
    }

    Result<json> getchaintips(const json&) {
        return node_.with_chain([&](chain::ChainStore& store, auto&, auto&) -> Result<json> {
            auto tips = store.chain_tips();
            std::sort(tips.begin(), tips.end(), [](const auto& a, const auto& b) {
                return a.entry.header.height > b.entry.header.height;
            });
            json out = json::array();
            for (const auto& record : tips) {
                const std::uint64_t height = record.entry.header.height;
                json tip{{"height", height},
                         {"hash", record.entry.hash.hex()},
                         {"branchlen", height - store.fork_height(record.entry.hash).value_or(0)}};
                add_status(tip, store, record);
                out.push_back(std::move(tip));
            }
            return out;
        });
    }

    Result<json> getblock(const json& params) {
        auto hash = hash_param(params, 0, "hash");
        if (!hash) return hash.error();
        auto verbosity = uint_param(params, 1, "verbosity", 1);
        if (!verbosity) return verbosity.error();
        if (*verbosity > 1) return rpc::invalid_params("verbosity: 0 (hex) or 1 (json)");
        std::optional<chain::Block> block;
        BlockPlace place;
        auto read = node_.with_chain([&](chain::ChainStore& store, auto&, auto&) -> Status {
            auto stored = store.block(*hash);
            if (!stored) return stored.error();
            block = std::move(*stored);
            place = place_of(store, *hash);
            return ok_status();
        });
        if (!read) return read.error();
        if (!block) return make_error(ErrorKind::policy, "block-not-found", hash->hex());
        if (*verbosity == 0) return json(chain::to_hex(chain::encode(*block)));

        json out = header_json(block->header);
        add_place(out, place);
        out["size"] = block->encoded_size();
        json txids = json::array();
        for (const auto& tx : block->transactions) txids.push_back(tx.txid().hex());
        out["tx"] = std::move(txids);
        json certificates = json::array();
        for (const auto& item : block->work_items) {
            auto certificate = consensus::decode_certificate(item.certificate);
            if (!certificate) {
                certificates.push_back({{"error", certificate.error().to_string()}});
                continue;
            }
            certificates.push_back({
                {"root", certificate->root().hex()},
                {"worker", chain::encode_address(certificate->worker)},
                {"n", certificate->n},
                {"tokens", certificate->tokens},
                {"loss", certificate->loss},
                {"blob_bytes", item.blob.size()},
            });
        }
        out["certificates"] = std::move(certificates);
        json evidence = json::array();
        for (const auto& item : block->evidence) {
            auto decoded = consensus::decode_micro_batch_evidence(item.proof);
            if (!decoded) {
                evidence.push_back(
                    {{"id", item.id().hex()}, {"error", decoded.error().to_string()}});
                continue;
            }
            evidence.push_back({
                {"id", item.id().hex()},
                {"cheater", chain::encode_address(decoded->header.worker)},
                {"n", decoded->header.n},
                {"parent", decoded->header.parent.hex()},
                {"micro_batch", decoded->micro_batch},
            });
        }
        out["evidence"] = std::move(evidence);
        return out;
    }

    Result<json> getmicrobatchproof(const json& params) {
        auto hash = hash_param(params, 0, "hash");
        if (!hash) return hash.error();
        auto index = uint_param(params, 1, "index");
        if (!index) return index.error();
        auto micro_batch = uint_param(params, 2, "micro_batch");
        if (!micro_batch) return micro_batch.error();
        std::optional<chain::WorkItem> item;
        std::size_t items = 0;
        auto read = node_.with_chain([&](chain::ChainStore& store, auto&, auto&) -> Status {
            auto stored = store.block_without_blobs(*hash);  // the certificate is all it needs
            if (!stored) return stored.error();
            if (!stored->has_value()) return ok_status();
            items = (*stored)->work_items.size();
            if (*index < items) item = std::move((*stored)->work_items[*index]);
            return ok_status();
        });
        if (!read) return read.error();
        if (items == 0) return make_error(ErrorKind::policy, "block-not-found", hash->hex());
        if (!item)
            return rpc::invalid_params("index: the block has " + std::to_string(items) +
                                       " certificates");
        // Decoding and hashing 575 KB happen after the lock is released.
        auto certificate = consensus::decode_certificate(item->certificate);
        if (!certificate) return certificate.error();
        if (*micro_batch >= certificate->micro_batches)
            return rpc::invalid_params("micro_batch: the certificate has " +
                                       std::to_string(certificate->micro_batches));
        auto evidence = consensus::make_micro_batch_evidence(
            *certificate, static_cast<std::uint32_t>(*micro_batch));
        if (!evidence) return evidence.error();
        const auto bytes = consensus::encode_micro_batch_evidence(*evidence);
        return json{
            {"block", hash->hex()},
            {"certificate_root", certificate->root().hex()},
            {"worker", chain::encode_address(certificate->worker)},
            {"n", certificate->n},
            {"micro_batch", evidence->micro_batch},
            {"loss", evidence->loss},
            {"bytes", bytes.size()},
            {"evidence", chain::to_hex(bytes)},
        };
    }

    Result<json> gettransaction(const json& params) {
        auto txid = hash_param(params, 0, "txid");
        if (!txid) return txid.error();
        return node_.with_chain(
            [&](chain::ChainStore& store, chain::Mempool& mempool, auto&) -> Result<json> {
                if (auto pooled = mempool.get(*txid)) {
                    json out = transaction_json(*pooled);
                    out["confirmations"] = 0;
                    out["in_mempool"] = true;
                    return out;
                }
                auto located = store.transaction(*txid);
                if (!located) return located.error();
                if (!*located) return make_error(ErrorKind::policy, "tx-not-found", txid->hex());
                json out = transaction_json((*located)->tx);
                out["block"] = (*located)->block.hex();
                out["height"] = (*located)->height;
                out["confirmations"] = store.height() - (*located)->height + 1;
                out["in_mempool"] = false;
                return out;
            });
    }

    Result<json> getaccount(const json& params) {
        auto address = string_param(params, 0, "address");
        if (!address) return address.error();
        auto key = chain::decode_address(*address);
        if (!key) return key.error();
        return node_.with_chain(
            [&](chain::ChainStore& store, chain::Mempool& mempool, auto&) -> Result<json> {
                const chain::Account account = store.account(*key);
                json immature = json::array();
                for (const auto& reward : account.immature)
                    immature.push_back({{"matures_at", reward.height},
                                        {"amount", amount_json(reward.amount)},
                                        {"amount_units", reward.amount}});
                return json{
                    {"address", chain::encode_address(*key)},
                    {"pubkey", key->hex()},
                    {"balance", amount_json(account.balance)},
                    {"balance_units", account.balance},
                    {"immature", amount_json(account.immature_total())},
                    {"immature_units", account.immature_total()},
                    {"immature_rewards", std::move(immature)},
                    {"nonce", account.nonce},
                    {"next_nonce", mempool.next_nonce(*key, store.state())},
                    {"height", store.height()},
                };
            });
    }

    Result<json> sendrawtransaction(const json& params) {
        auto hex = string_param(params, 0, "hex");
        if (!hex) return hex.error();
        auto bytes = chain::from_hex(*hex);
        if (!bytes) return bytes.error();
        auto tx = chain::decode<chain::Transaction>(*bytes);
        if (!tx) return tx.error();
        auto txid = node_.submit_transaction(*tx);
        if (!txid) return txid.error();
        return json(txid->hex());
    }

    Result<json> getmempoolinfo(const json&) {
        return node_.with_chain([](auto&, chain::Mempool& mempool, auto&) -> Result<json> {
            const chain::MempoolOptions defaults;
            return json{
                {"size", mempool.size()},
                {"bytes", mempool.bytes()},
                {"max_bytes", defaults.max_bytes},
                {"min_fee_per_byte", defaults.min_fee_per_byte},
            };
        });
    }

    Result<json> getmininginfo(const json&) {
        const MiningInfo info = node_.mining_info();
        auto chain_part =
            node_.with_chain([](chain::ChainStore& store, auto&, auto&) -> Result<json> {
                auto required = chain::required_work_for_child(store, store.tip(), store.genesis());
                if (!required) return required.error();
                return json{{"height", store.height() + 1}, {"required_work", *required}};
            });
        if (!chain_part) return chain_part.error();
        json out = *chain_part;
        out["mining"] = info.mining;
        out["address"] = info.key ? chain::encode_address(*info.key) : std::string();
        if (info.mine_to) out["mine_to"] = chain::encode_address(*info.mine_to);
        out["device"] = node_.config().device;
        out["tokens_per_second"] = info.tokens_per_second;
        out["tokens"] = info.tokens;
        out["last_loss"] = info.last_loss;
        out["pooled_work"] = info.pooled_work;
        out["contributions"] = info.contributions;
        out["received"] = info.received;
        out["accepted"] = info.accepted;
        out["rejected"] = info.rejected;
        out["blocks"] = info.blocks;
        out["last_error"] = info.last_error;
        return out;
    }

    Result<json> setmining(const json& params) {
        const json* on = param(params, 0, "mining");
        if (on == nullptr || !on->is_boolean())
            return rpc::invalid_params("mining: expected true or false");
        // The address is checked before anything changes, so a bad one leaves mining as it was.
        std::optional<chain::PublicKey> mine_to;
        if (const json* to = param(params, 1, "mine_to"); to != nullptr && !to->is_null()) {
            if (!to->is_string())
                return rpc::invalid_params("mine_to: expected an lrn1... address");
            auto key = chain::decode_address(to->get<std::string>());
            if (!key) return key.error();
            mine_to = *key;
        }
        if (mine_to) LEARNCHAIN_TRY(node_.set_mine_to(*mine_to));
        LEARNCHAIN_TRY(node_.set_mining(on->get<bool>()));
        return json(on->get<bool>());
    }

    // Written on the node's machine, as Bitcoin Core's dumptxoutset: the weights never cross
    // the RPC connection.
    Result<json> exportmodel(const json& params) {
        auto dir = string_param(params, 0, "dir");
        if (!dir) return dir.error();
        if (!std::filesystem::path(*dir).is_absolute())
            return rpc::invalid_params("dir: an absolute path on the node's machine");
        constexpr std::uint64_t tip_height = std::numeric_limits<std::uint64_t>::max();
        auto height = uint_param(params, 1, "height", tip_height);
        if (!height) return height.error();
        std::optional<consensus::ModelState> state;
        std::vector<std::uint8_t> child_undo;  // the model at `height`, when below the tip
        std::string description;
        json out;
        auto read = node_.with_chain([&](chain::ChainStore& store, auto&,
                                         consensus::PolWorkEngine& engine) -> Status {
            const std::uint64_t tip = store.height();
            if (*height == tip_height) *height = tip;
            if (*height > tip)
                return rpc::invalid_params("height: the tip is at " + std::to_string(tip));
            state = engine.state();
            if (*height < tip) {
                // The model after `height` is the pre-image the block above it keeps for undo.
                auto undo = store.model_undo_above(*height);
                if (!undo) return undo.error();
                if (!*undo)
                    return make_error(ErrorKind::policy, "export-model-not-kept",
                                      "the node keeps the models of the last " +
                                          std::to_string(2 * store.genesis().challenge_window) +
                                          " blocks below the tip (" + std::to_string(tip) + ")");
                child_undo = std::move(**undo);
            }
            const Hash256 hash = *store.hash_at(*height);
            description = store.genesis().name + " height " + std::to_string(*height) + " block " +
                          hash.hex();
            out = json{
                {"dir", *dir},
                {"height", *height},
                {"hash", hash.hex()},
                {"parameters", state->weights.layout.parameter_count()},
                {"files",
                 {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}}};
            return ok_status();
        });
        if (!read) return read.error();
        if (!child_undo.empty()) LEARNCHAIN_TRY(consensus::decode_model_undo(child_undo, *state));
        LEARNCHAIN_TRY(consensus::export_gpt2(*dir, state->weights, description));
        return out;
    }

    Result<json> getmodelinfo(const json& params) {
        auto count = uint_param(params, 0, "blocks", default_loss_blocks);
        if (!count) return count.error();
        if (*count > max_loss_blocks)
            return rpc::invalid_params("blocks: at most " + std::to_string(max_loss_blocks));
        std::lock_guard cache_lock(cache_.mutex);
        json losses = json::array();
        Hash256 tip;
        std::uint64_t parameters = 0;
        std::string tokens_trained;
        std::optional<consensus::ModelWeights> tip_weights;  // when the tip is not evaluated yet
        std::optional<consensus::ModelState> older_model;
        Hash256 older;  // one listed block without a held-out figure, and its child's undo
        std::vector<std::uint8_t> older_undo;
        std::optional<consensus::Dataset> dataset;
        auto read = node_.with_chain(
            [&](chain::ChainStore& store, auto&, consensus::PolWorkEngine& engine) -> Status {
                tip = store.tip().hash;
                parameters = engine.weights().layout.parameter_count();
                tokens_trained = store.tip().cumulative_work.to_string();
                const std::uint64_t height = store.height();
                for (std::uint64_t h = height; h >= 1 && height - h < *count; --h) {
                    const auto hash = store.hash_at(h);
                    if (!hash) break;
                    auto it = cache_.losses.find(*hash);
                    if (it == cache_.losses.end()) {
                        auto block = store.block(*hash);
                        if (!block) return block.error();
                        if (!*block) break;
                        if (cache_.losses.size() >= max_cached_block_losses) cache_.losses.clear();
                        it = cache_.losses.emplace(*hash, block_loss(**block)).first;
                    }
                    losses.push_back({{"height", h},
                                      {"hash", hash->hex()},
                                      {"loss", it->second.loss},
                                      {"tokens", it->second.tokens},
                                      {"contributions", it->second.contributions}});
                    // Backfill: the newest recent block below the tip without a figure, on the
                    // model its child's undo record holds (kept for the last 2W blocks).
                    if (h < height && height - h < held_out_history && older_undo.empty() &&
                        !cache_.held_out_by_block.contains(*hash)) {
                        auto undo = store.model_undo_above(h);
                        if (undo && *undo) {
                            older = *hash;
                            older_undo = std::move(**undo);
                        }
                    }
                }
                const bool evaluate_tip =
                    !cache_.held_out_by_block.contains(tip) && cache_.evaluated_tip != tip;
                if (evaluate_tip || !older_undo.empty()) dataset = engine.dataset();
                if (evaluate_tip) tip_weights = engine.weights();
                if (!older_undo.empty()) older_model = engine.state();  // the layout to decode into
                return ok_status();
            });
        if (!read) return read.error();
        // The evaluations run outside the chain mutex, on the RPC thread's own trainer.
        const bool synthetic =
            node_.genesis().learning.dataset.kind == chain::DatasetKind::synthetic;
        const auto evaluate = [&](const consensus::ModelWeights& weights) -> Result<double> {
            if (!cache_.trainer) {
                auto trainer = training::Trainer::create(weights.layout.config(), "cpu");
                if (!trainer) return trainer.error();
                cache_.trainer.emplace(std::move(trainer).value());
            }
            return synthetic ? training::held_out_accuracy(*cache_.trainer, weights, *dataset,
                                                           accuracy_problems)
                             : training::held_out_loss(*cache_.trainer, weights, *dataset,
                                                       held_out_sequences);
        };
        const auto remember = [&](const Hash256& block, double figure) {
            if (cache_.held_out_by_block.size() >= max_cached_block_losses)
                cache_.held_out_by_block.clear();
            cache_.held_out_by_block[block] = figure;
        };
        if (tip_weights) {
            cache_.evaluated_tip = tip;
            cache_.held_out_error.clear();
            if (auto figure = evaluate(*tip_weights))
                remember(tip, *figure);
            else
                cache_.held_out_error = figure.error().to_string();
        }
        if (older_model && consensus::decode_model_undo(older_undo, *older_model).ok())
            if (auto figure = evaluate(older_model->weights)) remember(older, *figure);
        const char* figure = synthetic ? "held_out_accuracy" : "held_out_loss";
        for (auto& entry : losses) {
            const auto known = cache_.held_out_by_block.find(
                Hash256::from_hex(entry["hash"].get<std::string>()).value());
            if (known != cache_.held_out_by_block.end()) entry["held_out"] = known->second;
        }
        json out{
            {"tip", tip.hex()},
            {"parameters", parameters},
            {"tokens_trained", tokens_trained},
            {"losses", std::move(losses)},
        };
        if (const auto known = cache_.held_out_by_block.find(tip);
            known != cache_.held_out_by_block.end()) {
            out[figure] = known->second;
            if (synthetic)
                out["held_out_problems"] = accuracy_problems;
            else
                out["held_out_sequences"] = held_out_sequences;
        } else {
            out[figure] = nullptr;
            if (!cache_.held_out_error.empty()) out["held_out_error"] = cache_.held_out_error;
        }
        return out;
    }

    Result<json> getpeerinfo(const json&) {
        json out = json::array();
        for (const auto& peer : node_.peers().peers()) {
            out.push_back({
                {"id", peer.id},
                {"address", peer.remote.to_string()},
                {"inbound", peer.inbound},
                {"protocol", peer.version.protocol},
                {"user_agent", peer.version.user_agent},
                {"best_height", peer.version.best_height},
                {"listen_port", peer.version.listen_port},
                {"score", peer.score},
            });
        }
        return out;
    }

    Result<json> listbanned(const json&) {
        json out = json::array();
        for (const auto& ban : node_.peers().bans())
            out.push_back({{"address", ban.address}, {"until", ban.until}, {"reason", ban.reason}});
        return out;
    }

    Result<json> addnode(const json& params) {
        auto text = string_param(params, 0, "node");
        if (!text) return text.error();
        auto endpoint = p2p::parse_endpoint(*text);
        if (!endpoint) return endpoint.error();
        std::string command = "add";
        if (const json* value = param(params, 1, "command");
            value != nullptr && !value->is_null()) {
            if (!value->is_string()) return rpc::invalid_params("command: \"add\" or \"onetry\"");
            command = value->get<std::string>();
        }
        if (command == "add")
            node_.peers().add_persistent(*endpoint);
        else if (command == "onetry")
            node_.peers().connect(*endpoint);
        else
            return rpc::invalid_params("command: \"add\" or \"onetry\"");
        return json(nullptr);
    }

    Result<json> stop(const json&) {
        // The server must not be stopped from its own handler: the main thread does it.
        node_.request_stop();
        return json("learnchaind stopping");
    }

private:
    Node& node_;
    ModelInfoCache cache_;
};

}  // namespace

Status register_node_methods(rpc::RpcServer& server, Node& node) {
    auto methods = std::make_shared<Methods>(node);
    // Each method with its help: the usage line, then what it does (`help`, learnchain-cli).
    const auto bind = [&](const char* name, Result<json> (Methods::*method)(const json&),
                          std::string help) {
        return server.register_method(
            name, [methods, method](const json& params) { return ((*methods).*method)(params); },
            std::move(help));
    };
    LEARNCHAIN_TRY(bind("getblockchaininfo", &Methods::getblockchaininfo,
                        "getblockchaininfo\n  The chain: height, tip, cumulative and required "
                        "work, headers, sync state,\n  the verification policy and fraud proofs "
                        "found, received, proven and refused."));
    LEARNCHAIN_TRY(
        bind("getblockcount", &Methods::getblockcount, "getblockcount\n  The height of the tip."));
    LEARNCHAIN_TRY(bind("getbestblockhash", &Methods::getbestblockhash,
                        "getbestblockhash\n  The hash of the tip."));
    LEARNCHAIN_TRY(bind("getblockhash", &Methods::getblockhash,
                        "getblockhash height\n  The hash of the main-chain block at `height`."));
    LEARNCHAIN_TRY(bind(
        "getblockheader", &Methods::getblockheader,
        "getblockheader hash\n  The header of block `hash`, with its height, cumulative work and "
        "status\n  (active, valid-fork, headers-only, or invalid with its reason)."));
    LEARNCHAIN_TRY(bind("getchaintips", &Methods::getchaintips,
                        "getchaintips\n  The end of every branch the node knows: height, hash, "
                        "branchlen (blocks off\n  the main chain) and status (active, "
                        "valid-fork, headers-only, invalid)."));
    LEARNCHAIN_TRY(bind("getblock", &Methods::getblock,
                        "getblock hash ( verbosity )\n  Block `hash`: verbosity 0 is its hex, 1 "
                        "(default) a JSON object with its\n  transactions and certificates."));
    LEARNCHAIN_TRY(bind("getmicrobatchproof", &Methods::getmicrobatchproof,
                        "getmicrobatchproof hash index micro_batch\n  Evidence for one "
                        "micro-batch of certificate `index` of block `hash`: the\n  signed "
                        "certificate header, the micro-batch's loss and leaves, and its Merkle "
                        "path,\n  as hex (about 9.4 KB on the devnet); checkable alone."));
    LEARNCHAIN_TRY(bind("gettransaction", &Methods::gettransaction,
                        "gettransaction txid\n  A transaction from the mempool or the main chain, "
                        "with where it is."));
    LEARNCHAIN_TRY(bind(
        "getaccount", &Methods::getaccount,
        "getaccount address\n  The spendable balance, immature rewards and next nonce of `address` "
        "(lrn1...)\n  at the tip."));
    LEARNCHAIN_TRY(bind("sendrawtransaction", &Methods::sendrawtransaction,
                        "sendrawtransaction hex\n  Admits a signed transaction (hex of its "
                        "encoding) to the mempool and relays it;\n  returns its txid."));
    LEARNCHAIN_TRY(
        bind("getmempoolinfo", &Methods::getmempoolinfo,
             "getmempoolinfo\n  Transactions waiting in the mempool, their size and fees."));
    LEARNCHAIN_TRY(bind("getmininginfo", &Methods::getmininginfo,
                        "getmininginfo\n  The miner: whether it runs, its key, tokens/s, loss, "
                        "pooled work, blocks."));
    LEARNCHAIN_TRY(bind("setmining", &Methods::setmining,
                        "setmining mining ( mine_to )\n  Starts (true) or stops (false) the miner; "
                        "`mine_to` (lrn1...) sets where rewards go."));
    LEARNCHAIN_TRY(bind("getmodelinfo", &Methods::getmodelinfo,
                        "getmodelinfo ( blocks )\n  The model at the tip: parameters, tokens "
                        "trained, and the loss of the last\n  `blocks` blocks."));
    LEARNCHAIN_TRY(bind("exportmodel", &Methods::exportmodel,
                        "exportmodel dir ( height )\n  Writes the model at `height` (default: the "
                        "tip; the last 2W blocks are kept)\n  into `dir` (an absolute path on the "
                        "node's machine) as a Hugging Face GPT-2\n  checkpoint: config.json, "
                        "model.safetensors, tokenizer.json, tokenizer_config.json."));
    LEARNCHAIN_TRY(
        bind("getpeerinfo", &Methods::getpeerinfo,
             "getpeerinfo\n  Connected peers: address, direction, version, height, score."));
    LEARNCHAIN_TRY(bind("listbanned", &Methods::listbanned,
                        "listbanned\n  Banned addresses, until when and why."));
    LEARNCHAIN_TRY(bind("addnode", &Methods::addnode,
                        "addnode node ( command )\n  Connects to `node` (HOST:PORT): command "
                        "\"add\" (default) keeps it connected,\n  \"onetry\" dials once."));
    LEARNCHAIN_TRY(bind("stop", &Methods::stop, "stop\n  Shuts the node down cleanly."));
    return ok_status();
}

}  // namespace learnchain::node
