#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/genesis.hpp>

#include <nlohmann/json.hpp>

namespace learnchain::chain {
namespace {

using json = nlohmann::json;

__extension__ using u128 = unsigned __int128;

std::uint64_t saturate(u128 value) {
    return value > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(value);
}

u128 wide_tokens_per_contribution(const LearningParams& p) {
    return u128{p.micro_batches} * p.micro_batch_size * p.model.context;
}

// "retarget_window" -> "bad-genesis-retarget-window": the reason names the field.
Error field_error(std::string_view field, const std::string& path, const std::string& what) {
    std::string reason = "bad-genesis-";
    for (char c : field) reason.push_back(c == '_' ? '-' : c);
    return make_error(ErrorKind::malformed, std::move(reason), path + ": " + what);
}

// Reads the fields of one JSON object, remembering which were consumed so that a misspelt
// or unexpected field is an error rather than silently ignored.
class ObjectReader {
public:
    ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

    [[nodiscard]] std::string path(std::string_view field) const {
        return path_.empty() ? std::string(field) : path_ + "." + std::string(field);
    }

    [[nodiscard]] bool has(std::string_view field) const {
        return object_.contains(std::string(field));
    }

    [[nodiscard]] Result<const json*> field(std::string_view field) {
        const auto it = object_.find(std::string(field));
        if (it == object_.end())
            return make_error(ErrorKind::malformed, "bad-genesis-missing-field", path(field));
        seen_.insert(std::string(field));
        return &*it;
    }

    [[nodiscard]] Result<std::uint64_t> u64(std::string_view name) {
        auto value = field(name);
        if (!value) return value.error();
        if (!(*value)->is_number_unsigned())
            return field_error(name, path(name), "expected a non-negative integer");
        return (*value)->get<std::uint64_t>();
    }

    [[nodiscard]] Result<std::uint32_t> u32(std::string_view name) {
        auto value = u64(name);
        if (!value) return value.error();
        if (*value > UINT32_MAX) return field_error(name, path(name), "exceeds 2^32 - 1");
        return static_cast<std::uint32_t>(*value);
    }

    [[nodiscard]] Result<double> f64(std::string_view name) {
        auto value = field(name);
        if (!value) return value.error();
        if (!(*value)->is_number()) return field_error(name, path(name), "expected a number");
        const auto number = (*value)->get<double>();
        if (!std::isfinite(number)) return field_error(name, path(name), "not finite");
        return number;
    }

    [[nodiscard]] Result<std::string> string(std::string_view name) {
        auto value = field(name);
        if (!value) return value.error();
        if (!(*value)->is_string()) return field_error(name, path(name), "expected a string");
        return (*value)->get<std::string>();
    }

    [[nodiscard]] Result<Hash256> hash(std::string_view name) {
        auto text = string(name);
        if (!text) return text.error();
        auto parsed = Hash256::from_hex(*text);
        if (!parsed) return field_error(name, path(name), "expected 64 hex digits");
        return *parsed;
    }

    [[nodiscard]] Result<ObjectReader> object(std::string_view name) {
        auto value = field(name);
        if (!value) return value.error();
        if (!(*value)->is_object()) return field_error(name, path(name), "expected an object");
        return ObjectReader(**value, path(name));
    }

    [[nodiscard]] Status finish() const {
        for (const auto& [key, value] : object_.items())
            if (!seen_.contains(key))
                return make_error(ErrorKind::malformed, "bad-genesis-unknown-field", path(key));
        return ok_status();
    }

private:
    const json& object_;
    std::string path_;
    std::set<std::string> seen_;
};

// Assigns a field read by `reader.kind(name)` into `target`, or returns its error.
#define GENESIS_READ(target, reader, kind, name) \
    do {                                         \
        auto value_ = (reader).kind(name);       \
        if (!value_) return value_.error();      \
        (target) = std::move(*value_);           \
    } while (0)

Status read_model(ObjectReader in, ModelConfig& model) {
    GENESIS_READ(model.vocab_size, in, u32, "vocab_size");
    GENESIS_READ(model.context, in, u32, "context");
    GENESIS_READ(model.width, in, u32, "width");
    GENESIS_READ(model.layers, in, u32, "layers");
    GENESIS_READ(model.heads, in, u32, "heads");
    GENESIS_READ(model.mlp_ratio, in, u32, "mlp_ratio");
    GENESIS_READ(model.init_seed, in, u64, "init_seed");
    // Optional until the initial weights are pinned: absent means the zero hash (unchecked).
    if (in.has("init_weights_hash"))
        GENESIS_READ(model.init_weights_hash, in, hash, "init_weights_hash");
    return in.finish();
}

Status read_dataset(ObjectReader in, DatasetSpec& dataset) {
    std::string kind;
    GENESIS_READ(kind, in, string, "kind");
    if (kind == "synthetic") {
        dataset.kind = DatasetKind::synthetic;
        GENESIS_READ(dataset.seed, in, u64, "seed");
        GENESIS_READ(dataset.max_operand, in, u32, "max_operand");
    } else if (kind == "file") {
        dataset.kind = DatasetKind::file;
        GENESIS_READ(dataset.path, in, string, "path");
        GENESIS_READ(dataset.sha256, in, hash, "sha256");
    } else {
        return field_error("kind", in.path("kind"), "expected \"synthetic\" or \"file\"");
    }
    return in.finish();
}

Status read_optimizer(ObjectReader in, OptimizerParams& optimizer) {
    GENESIS_READ(optimizer.learning_rate, in, f64, "learning_rate");
    GENESIS_READ(optimizer.beta1, in, f64, "beta1");
    GENESIS_READ(optimizer.beta2, in, f64, "beta2");
    GENESIS_READ(optimizer.epsilon, in, f64, "epsilon");
    GENESIS_READ(optimizer.weight_decay, in, f64, "weight_decay");
    return in.finish();
}

Status read_learning(ObjectReader in, LearningParams& learning) {
    auto model = in.object("model");
    if (!model) return model.error();
    LEARNCHAIN_TRY(read_model(std::move(*model), learning.model));
    auto dataset = in.object("dataset");
    if (!dataset) return dataset.error();
    LEARNCHAIN_TRY(read_dataset(std::move(*dataset), learning.dataset));
    auto optimizer = in.object("optimizer");
    if (!optimizer) return optimizer.error();
    LEARNCHAIN_TRY(read_optimizer(std::move(*optimizer), learning.optimizer));
    GENESIS_READ(learning.sections, in, u32, "sections");
    GENESIS_READ(learning.head_groups, in, u32, "head_groups");
    GENESIS_READ(learning.sketch_rows, in, u32, "sketch_rows");
    GENESIS_READ(learning.tolerance, in, f64, "tolerance");
    GENESIS_READ(learning.fast_tolerance, in, f64, "fast_tolerance");
    GENESIS_READ(learning.micro_batches, in, u32, "micro_batches");
    GENESIS_READ(learning.micro_batch_size, in, u32, "micro_batch_size");
    GENESIS_READ(learning.max_per_worker, in, u32, "max_per_worker");
    GENESIS_READ(learning.max_gradient_norm, in, f64, "max_gradient_norm");
    GENESIS_READ(learning.max_micro_batch_gradient_norm, in, f64, "max_micro_batch_gradient_norm");
    return in.finish();
}

Result<Allocation> read_allocation(ObjectReader in) {
    Allocation allocation;
    if (in.has("address") == in.has("pubkey"))
        return make_error(
            ErrorKind::malformed, "bad-genesis-allocation",
            in.path("address") + " / pubkey: exactly one of \"address\" or \"pubkey\"");
    if (in.has("address")) {
        std::string address;
        GENESIS_READ(address, in, string, "address");
        auto key = decode_address(address);
        if (!key) return field_error("address", in.path("address"), key.error().to_string());
        allocation.key = *key;
    } else {
        std::string hex;
        GENESIS_READ(hex, in, string, "pubkey");
        auto key = PublicKey::from_hex(hex);
        if (!key) return field_error("pubkey", in.path("pubkey"), key.error().to_string());
        allocation.key = *key;
    }
    auto amount_field = in.field("amount");
    if (!amount_field) return amount_field.error();
    if (!(*amount_field)->is_string())
        return field_error("amount", in.path("amount"),
                           "expected a string of coins such as \"1000.5\"");
    auto amount = parse_amount((*amount_field)->get<std::string>());
    if (!amount) return field_error("amount", in.path("amount"), amount.error().to_string());
    allocation.amount = *amount;
    LEARNCHAIN_TRY(in.finish());
    return allocation;
}

Result<Genesis> read_genesis(const json& root) {
    if (!root.is_object())
        return make_error(ErrorKind::malformed, "bad-genesis-json", "top level is not an object");
    ObjectReader in(root, "");
    Genesis genesis;
    GENESIS_READ(genesis.name, in, string, "name");
    GENESIS_READ(genesis.chain_id, in, u32, "chain_id");
    GENESIS_READ(genesis.time, in, u64, "time");
    GENESIS_READ(genesis.initial_work, in, u64, "initial_work");
    GENESIS_READ(genesis.target_block_time, in, u32, "target_block_time");
    GENESIS_READ(genesis.retarget_window, in, u32, "retarget_window");
    GENESIS_READ(genesis.max_future_time, in, u32, "max_future_time");
    GENESIS_READ(genesis.challenge_window, in, u32, "challenge_window");
    GENESIS_READ(genesis.reward_maturity, in, u32, "reward_maturity");

    auto allocations = in.field("allocations");
    if (!allocations) return allocations.error();
    if (!(*allocations)->is_array())
        return field_error("allocations", "allocations", "expected an array");
    if ((*allocations)->size() > max_genesis_allocations)
        return field_error("allocations", "allocations", "too many entries");
    for (std::size_t i = 0; i < (*allocations)->size(); ++i) {
        const json& entry = (**allocations)[i];
        const std::string path = "allocations[" + std::to_string(i) + "]";
        if (!entry.is_object()) return field_error("allocations", path, "expected an object");
        auto allocation = read_allocation(ObjectReader(entry, path));
        if (!allocation) return allocation.error();
        genesis.allocations.push_back(*allocation);
    }

    auto learning = in.object("learning");
    if (!learning) return learning.error();
    LEARNCHAIN_TRY(read_learning(std::move(*learning), genesis.learning));
    LEARNCHAIN_TRY(in.finish());
    return genesis;
}

#undef GENESIS_READ

Status require(bool condition, std::string_view field, const std::string& path,
               const std::string& what) {
    if (condition) return ok_status();
    return field_error(field, path, what);
}

Status validate_learning(const LearningParams& p) {
    const ModelConfig& m = p.model;
    LEARNCHAIN_TRY(require(m.vocab_size == 256, "vocab_size", "learning.model.vocab_size",
                           "the byte vocabulary has 256 symbols"));
    LEARNCHAIN_TRY(require(m.context >= 2 && m.context <= 65536, "context",
                           "learning.model.context", "must be in [2, 65536]"));
    LEARNCHAIN_TRY(require(m.width >= 1 && m.width <= 65536, "width", "learning.model.width",
                           "must be in [1, 65536]"));
    LEARNCHAIN_TRY(require(m.layers >= 1 && m.layers <= 1024, "layers", "learning.model.layers",
                           "must be in [1, 1024]"));
    LEARNCHAIN_TRY(require(m.heads >= 1 && m.width % m.heads == 0, "heads", "learning.model.heads",
                           "must be >= 1 and divide width"));
    LEARNCHAIN_TRY(require(m.mlp_ratio >= 1 && m.mlp_ratio <= 64, "mlp_ratio",
                           "learning.model.mlp_ratio", "must be in [1, 64]"));

    const DatasetSpec& d = p.dataset;
    if (d.kind == DatasetKind::synthetic) {
        LEARNCHAIN_TRY(require(d.max_operand >= 1, "max_operand", "learning.dataset.max_operand",
                               "must be >= 1"));
    } else if (d.kind == DatasetKind::file) {
        LEARNCHAIN_TRY(require(!d.path.empty(), "path", "learning.dataset.path", "empty"));
        LEARNCHAIN_TRY(require(!d.sha256.is_zero(), "sha256", "learning.dataset.sha256",
                               "the corpus hash must be given"));
    } else {
        return field_error("kind", "learning.dataset.kind", "unknown dataset kind");
    }

    const OptimizerParams& o = p.optimizer;
    const auto finite = [](double x) { return std::isfinite(x); };
    LEARNCHAIN_TRY(require(finite(o.learning_rate) && o.learning_rate > 0, "learning_rate",
                           "learning.optimizer.learning_rate", "must be > 0"));
    LEARNCHAIN_TRY(require(finite(o.beta1) && o.beta1 >= 0 && o.beta1 < 1, "beta1",
                           "learning.optimizer.beta1", "must be in [0, 1)"));
    LEARNCHAIN_TRY(require(finite(o.beta2) && o.beta2 >= 0 && o.beta2 < 1, "beta2",
                           "learning.optimizer.beta2", "must be in [0, 1)"));
    LEARNCHAIN_TRY(require(finite(o.epsilon) && o.epsilon > 0, "epsilon",
                           "learning.optimizer.epsilon", "must be > 0"));
    LEARNCHAIN_TRY(require(finite(o.weight_decay) && o.weight_decay >= 0, "weight_decay",
                           "learning.optimizer.weight_decay", "must be >= 0"));

    LEARNCHAIN_TRY(require(p.sections >= 1, "sections", "learning.sections", "must be >= 1"));
    LEARNCHAIN_TRY(require(p.head_groups >= 1 && m.heads % p.head_groups == 0, "head_groups",
                           "learning.head_groups", "must be >= 1 and divide heads"));
    // Gradient sketches use blocks of 4 rows (consensus/PROTOCOL.md §T.7.1).
    LEARNCHAIN_TRY(require(p.sketch_rows >= 4 && p.sketch_rows <= 4096 && p.sketch_rows % 4 == 0,
                           "sketch_rows", "learning.sketch_rows",
                           "must be a multiple of 4 in [4, 4096]"));
    LEARNCHAIN_TRY(require(finite(p.tolerance) && p.tolerance > 0 && p.tolerance < 1, "tolerance",
                           "learning.tolerance", "must be in (0, 1)"));
    LEARNCHAIN_TRY(
        require(finite(p.fast_tolerance) && p.fast_tolerance > 0 && p.fast_tolerance <= p.tolerance,
                "fast_tolerance", "learning.fast_tolerance", "must be in (0, tolerance]"));
    LEARNCHAIN_TRY(
        require(p.micro_batches >= 1, "micro_batches", "learning.micro_batches", "must be >= 1"));
    LEARNCHAIN_TRY(require(p.micro_batch_size >= 1, "micro_batch_size", "learning.micro_batch_size",
                           "must be >= 1"));
    // Certificates count their tokens in a u64 (PROTOCOL.md §T.10.2).
    LEARNCHAIN_TRY(require(wide_tokens_per_contribution(p) <= UINT64_MAX, "micro_batch_size",
                           "learning.micro_batch_size",
                           "micro_batches * micro_batch_size * context exceeds 2^64 - 1"));
    LEARNCHAIN_TRY(require(p.max_per_worker >= 1, "max_per_worker", "learning.max_per_worker",
                           "must be >= 1"));
    LEARNCHAIN_TRY(require(finite(p.max_gradient_norm) && p.max_gradient_norm > 0,
                           "max_gradient_norm", "learning.max_gradient_norm", "must be > 0"));
    LEARNCHAIN_TRY(require(
        finite(p.max_micro_batch_gradient_norm) && p.max_micro_batch_gradient_norm > 0,
        "max_micro_batch_gradient_norm", "learning.max_micro_batch_gradient_norm", "must be > 0"));
    return ok_status();
}

json model_to_json(const ModelConfig& m) {
    return json{{"vocab_size", m.vocab_size}, {"context", m.context},
                {"width", m.width},           {"layers", m.layers},
                {"heads", m.heads},           {"mlp_ratio", m.mlp_ratio},
                {"init_seed", m.init_seed},   {"init_weights_hash", m.init_weights_hash.hex()}};
}

json dataset_to_json(const DatasetSpec& d) {
    if (d.kind == DatasetKind::file)
        return json{{"kind", "file"}, {"path", d.path}, {"sha256", d.sha256.hex()}};
    return json{{"kind", "synthetic"}, {"seed", d.seed}, {"max_operand", d.max_operand}};
}

}  // namespace

Hash256 Genesis::hash() const {
    return tagged_hash(tag::genesis, encode(*this));
}

bool operator==(const Genesis& a, const Genesis& b) {
    return encode(a) == encode(b);
}

Status validate_genesis(const Genesis& g) {
    const auto printable = [](const std::string& s) {
        for (char c : s)
            if (c < 0x20 || c > 0x7e) return false;
        return true;
    };
    LEARNCHAIN_TRY(
        require(!g.name.empty() && g.name.size() <= max_genesis_name_bytes && printable(g.name),
                "name", "name", "1 to 64 printable ASCII characters"));
    LEARNCHAIN_TRY(require(g.chain_id != 0, "chain_id", "chain_id", "must be non-zero"));
    LEARNCHAIN_TRY(require(g.time != 0, "time", "time", "must be non-zero"));
    LEARNCHAIN_TRY(require(g.initial_work >= 1, "initial_work", "initial_work", "must be >= 1"));
    LEARNCHAIN_TRY(require(g.target_block_time >= 1 && g.target_block_time <= 86400,
                           "target_block_time", "target_block_time",
                           "must be in [1, 86400] seconds"));
    LEARNCHAIN_TRY(require(g.retarget_window >= 2 && g.retarget_window <= 100'000,
                           "retarget_window", "retarget_window", "must be in [2, 100000] blocks"));
    LEARNCHAIN_TRY(require(g.max_future_time >= 1 && g.max_future_time <= 86400, "max_future_time",
                           "max_future_time", "must be in [1, 86400] seconds"));
    LEARNCHAIN_TRY(require(g.challenge_window >= 1 && g.challenge_window <= 10'000,
                           "challenge_window", "challenge_window", "must be in [1, 10000] blocks"));
    LEARNCHAIN_TRY(require(g.reward_maturity >= g.challenge_window && g.reward_maturity <= 100'000,
                           "reward_maturity", "reward_maturity",
                           "must be in [challenge_window, 100000] blocks"));
    LEARNCHAIN_TRY(require(g.allocations.size() <= max_genesis_allocations, "allocations",
                           "allocations", "too many entries"));

    std::set<PublicKey> keys;
    Amount total = 0;
    for (std::size_t i = 0; i < g.allocations.size(); ++i) {
        const auto& a = g.allocations[i];
        const std::string path = "allocations[" + std::to_string(i) + "]";
        LEARNCHAIN_TRY(require(a.key.is_valid(), "pubkey", path, "not a valid x-only key"));
        LEARNCHAIN_TRY(require(a.amount > 0, "amount", path + ".amount", "must be > 0"));
        LEARNCHAIN_TRY(require(keys.insert(a.key).second, "duplicate_allocation", path,
                               "key already allocated"));
        const auto next = checked_add(total, a.amount);
        LEARNCHAIN_TRY(require(next.has_value(), "allocations", path, "total exceeds 2^64 - 1"));
        total = *next;
    }
    LEARNCHAIN_TRY(validate_learning(g.learning));

    const RequiredWorkBounds bounds = required_work_bounds(g);
    LEARNCHAIN_TRY(
        require(g.initial_work >= bounds.min, "initial_work", "initial_work",
                "must be >= " + std::to_string(bounds.min) + ", the tokens of one contribution"));
    LEARNCHAIN_TRY(require(
        g.initial_work <= bounds.max, "initial_work", "initial_work",
        "must be <= " + std::to_string(bounds.max) + ", the most work one block can carry (" +
            std::to_string(max_worker_contributions_per_block(g.learning)) + " contributions of " +
            std::to_string(contribution_work_item_size(g.learning)) + " bytes)"));
    return ok_status();
}

std::uint64_t tokens_per_contribution(const LearningParams& params) {
    return saturate(wide_tokens_per_contribution(params));
}

std::uint64_t model_parameter_count(const ModelConfig& m) {
    // §T.2.1 with w = width: token embedding and LM head (V x w each), position embedding
    // (context x w), final layer norm (2w), and per layer: two layer norms (4w), qkv
    // (3w^2 + 3w), attention projection (w^2 + w), MLP in (F w + F) and out (w F + w), with
    // F = mlp_ratio * w.
    const u128 w = m.width;
    const u128 f = u128{m.mlp_ratio} * m.width;
    const u128 per_layer = 4 * w * w + 2 * f * w + 9 * w + f;
    return saturate(2 * u128{m.vocab_size} * w + u128{m.context} * w + 2 * w +
                    u128{m.layers} * per_layer);
}

namespace {

// §T.10: a leaf is kind u8, micro-batch u32, index u32, two sketches (u32 count + m f32) and the
// worker key.
u128 leaf_encoded_size(const LearningParams& params) {
    return 1 + 4 + 4 + 2 * (4 + 4 * u128{params.sketch_rows}) + 32;
}

// A micro-batch has a FWD and a BWD unit per section and an ATT unit per layer and head group.
u128 units_per_micro_batch(const LearningParams& params) {
    return 2 * u128{params.sections} + u128{params.model.layers} * params.head_groups;
}

// The certificate header: version, parent, worker, n, loss, tokens, micro_batches,
// merkle_root, gradient_hash, signature.
constexpr u128 certificate_header_bytes = 4 + 32 + 32 + 4 + 4 + 8 + 4 + 32 + 32 + 64;

}  // namespace

std::uint64_t certificate_encoded_size(const LearningParams& params) {
    // The header, then the losses (u32 count + M f32) and the leaves (u32 count + M units).
    const u128 m = params.micro_batches;
    return saturate(certificate_header_bytes + 4 + 4 * m + 4 +
                    m * units_per_micro_batch(params) * leaf_encoded_size(params));
}

std::uint64_t micro_batch_evidence_size(const LearningParams& params) {
    u128 depth = 0;
    while ((u128{1} << depth) < params.micro_batches) ++depth;
    // header, micro_batch u32, loss f32, leaves (u32 count + units), path (u32 count + hashes).
    return saturate(certificate_header_bytes + 4 + 4 + 4 +
                    units_per_micro_batch(params) * leaf_encoded_size(params) + 4 + 32 * depth);
}

std::uint64_t contribution_work_item_size(const LearningParams& params) {
    const u128 blob = 4 * u128{model_parameter_count(params.model)};
    return saturate(4 + u128{certificate_encoded_size(params)} + 4 + blob);
}

std::uint64_t max_contributions_per_block(const LearningParams& params) {
    // A block with no transactions: header, u32 transaction count, u32 work item count, and
    // room for the most evidence a block may carry (its u32 count, then each item's u32 length
    // and bytes), so that a block of D can always carry it too.
    const std::uint64_t evidence = 4 + max_block_evidence * (4 + micro_batch_evidence_size(params));
    const std::uint64_t room = max_block_bytes - header_encoded_size - 4 - 4 - evidence;
    const std::uint64_t fit = room / contribution_work_item_size(params);
    return std::min(fit, std::uint64_t{max_block_work_items});
}

std::uint64_t max_worker_contributions_per_block(const LearningParams& params) {
    return std::min(max_contributions_per_block(params), std::uint64_t{params.max_per_worker});
}

std::uint64_t max_block_work(const LearningParams& params) {
    return saturate(u128{max_contributions_per_block(params)} * tokens_per_contribution(params));
}

RequiredWorkBounds required_work_bounds(const Genesis& genesis) {
    const std::uint64_t tokens = tokens_per_contribution(genesis.learning);
    return {tokens, saturate(u128{max_worker_contributions_per_block(genesis.learning)} * tokens)};
}

Result<Genesis> parse_genesis(std::string_view json_text) {
    const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded())
        return make_error(ErrorKind::malformed, "bad-genesis-json", "not valid JSON");
    auto genesis = read_genesis(root);
    if (!genesis) return genesis.error();
    LEARNCHAIN_TRY(validate_genesis(*genesis));
    return genesis;
}

Result<Genesis> load_genesis(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file)
        return make_error(ErrorKind::malformed, "bad-genesis-file", "cannot open " + path.string());
    std::ostringstream text;
    text << file.rdbuf();
    if (!file && !file.eof())
        return make_error(ErrorKind::malformed, "bad-genesis-file", "cannot read " + path.string());
    auto genesis = parse_genesis(text.str());
    if (!genesis) {
        Error error = genesis.error();
        error.detail = path.string() + ": " + error.detail;
        return error;
    }
    return genesis;
}

std::string genesis_to_json(const Genesis& g) {
    json allocations = json::array();
    for (const auto& a : g.allocations)
        allocations.push_back({{"pubkey", a.key.hex()}, {"amount", format_amount(a.amount)}});
    const LearningParams& p = g.learning;
    const json optimizer{{"learning_rate", p.optimizer.learning_rate},
                         {"beta1", p.optimizer.beta1},
                         {"beta2", p.optimizer.beta2},
                         {"epsilon", p.optimizer.epsilon},
                         {"weight_decay", p.optimizer.weight_decay}};
    const json learning{{"model", model_to_json(p.model)},
                        {"dataset", dataset_to_json(p.dataset)},
                        {"optimizer", optimizer},
                        {"sections", p.sections},
                        {"head_groups", p.head_groups},
                        {"sketch_rows", p.sketch_rows},
                        {"tolerance", p.tolerance},
                        {"fast_tolerance", p.fast_tolerance},
                        {"micro_batches", p.micro_batches},
                        {"micro_batch_size", p.micro_batch_size},
                        {"max_per_worker", p.max_per_worker},
                        {"max_gradient_norm", p.max_gradient_norm},
                        {"max_micro_batch_gradient_norm", p.max_micro_batch_gradient_norm}};
    const json root{{"name", g.name},
                    {"chain_id", g.chain_id},
                    {"time", g.time},
                    {"initial_work", g.initial_work},
                    {"target_block_time", g.target_block_time},
                    {"retarget_window", g.retarget_window},
                    {"max_future_time", g.max_future_time},
                    {"challenge_window", g.challenge_window},
                    {"reward_maturity", g.reward_maturity},
                    {"allocations", allocations},
                    {"learning", learning}};
    return root.dump(2);
}

Result<AccountState> genesis_state(const Genesis& genesis) {
    AccountState state;
    for (const auto& a : genesis.allocations)
        if (auto status = state.credit(a.key, a.amount); !status)
            return make_error(ErrorKind::malformed, "bad-genesis-allocations",
                              status.error().to_string());
    return state;
}

Result<Block> make_genesis_block(const Genesis& genesis, const Hash256& model_root) {
    auto state = genesis_state(genesis);
    if (!state) return state.error();
    Block block;
    block.header.version = block_version;
    block.header.height = 0;
    block.header.parent = genesis.hash();
    block.header.time = genesis.time;
    block.header.tx_root = compute_tx_root({});
    block.header.work_root = compute_work_root({});
    block.header.evidence_root = compute_evidence_root({});
    block.header.state_root = state->state_root(model_root);
    block.header.work = 0;
    return block;
}

}  // namespace learnchain::chain
