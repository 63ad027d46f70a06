#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/training/generate.hpp>
#include <learnchain/node/inference.hpp>
#include <learnchain/rpc/server.hpp>

namespace learnchain::node {
namespace {

Error bad_params(std::string detail) {
    return make_error(ErrorKind::malformed, "infer-bad-params", std::move(detail));
}

bool same_model(const chain::ModelConfig& a, const chain::ModelConfig& b) {
    return a.vocab_size == b.vocab_size && a.context == b.context && a.width == b.width &&
           a.layers == b.layers && a.heads == b.heads && a.mlp_ratio == b.mlp_ratio;
}

// An unsigned JSON integer within `max`, or nullopt.
std::optional<std::uint64_t> unsigned_value(const rpc::json& value, std::uint64_t max) {
    if (!value.is_number_unsigned()) return std::nullopt;
    const auto v = value.get<std::uint64_t>();
    if (v > max) return std::nullopt;
    return v;
}

}  // namespace

struct InferenceService::Loaded {
    ModelTip tip;
    training::Generator generator;
};

InferenceService::InferenceService(InferenceConfig config, InferenceHooks hooks)
    : config_(std::move(config)), hooks_(std::move(hooks)) {}

InferenceService::~InferenceService() = default;

EffectiveLimits InferenceService::limits() const {
    const std::uint32_t context = config_.model.context;
    // At least one byte of prompt and one of output must fit.
    const std::uint32_t room = context > 1 ? context - 1 : 0;
    return {context, std::min(config_.limits.max_prompt_bytes, room),
            std::min(config_.limits.max_tokens, room)};
}

rpc::json InferenceService::info() const {
    const ModelTip tip = hooks_.model_tip();
    const EffectiveLimits l = limits();
    return {
        {"price_per_token",
         {{"units", config_.price_per_token},
          {"coins", chain::format_amount(config_.price_per_token)}}},
        {"payment_address", chain::encode_address(config_.payment_key)},
        {"chain_id", config_.chain_id},
        {"model_height", tip.height},
        {"model_block", tip.block.hex()},
        {"context", l.context},
        {"limits",
         {{"max_prompt_bytes", l.max_prompt_bytes},
          {"max_tokens", l.max_tokens},
          {"temperature",
           {{"min", config_.limits.min_temperature}, {"max", config_.limits.max_temperature}}},
          {"top_k", {{"min", 0}, {"max", config_.limits.max_top_k}}}}},
    };
}

Status InferenceService::check_request(const chain::InferenceRequest& r) const {
    const EffectiveLimits l = limits();
    if (r.prompt.size() > l.max_prompt_bytes)
        return make_error(ErrorKind::policy, "infer-prompt-too-long",
                          std::to_string(r.prompt.size()) + " bytes; at most " +
                              std::to_string(l.max_prompt_bytes));
    if (r.prompt.empty()) return bad_params("empty prompt");
    if (r.max_tokens == 0 || r.max_tokens > l.max_tokens)
        return bad_params("max_tokens must be in [1, " + std::to_string(l.max_tokens) + "]");
    // Refused rather than cut short: the payment is for max_tokens, so it must be fillable.
    if (r.prompt.size() + r.max_tokens > l.context)
        return bad_params("prompt (" + std::to_string(r.prompt.size()) + " bytes) + max_tokens (" +
                          std::to_string(r.max_tokens) + ") exceed the model's context of " +
                          std::to_string(l.context));
    if (!std::isfinite(r.temperature) || r.temperature < config_.limits.min_temperature ||
        r.temperature > config_.limits.max_temperature)
        return bad_params("temperature out of range");
    if (r.top_k > config_.limits.max_top_k) return bad_params("top_k out of range");
    if (r.chain_id != config_.chain_id) return bad_params("wrong chain id");
    return ok_status();
}

Result<std::shared_ptr<const InferenceService::Loaded>> InferenceService::generator() {
    const ModelTip tip = hooks_.model_tip();
    {
        std::lock_guard lock(mutex_);
        if (loaded_ && loaded_->tip.block == tip.block) return loaded_;
    }
    auto snapshot = hooks_.model_snapshot();
    if (!snapshot)
        return make_error(ErrorKind::local, "infer-model-unavailable",
                          snapshot.error().to_string());
    if (!same_model(snapshot->weights.layout.config(), config_.model))
        return make_error(ErrorKind::local, "infer-model-unavailable",
                          "the model is not the genesis model");
    auto generator = training::Generator::create(snapshot->weights);
    if (!generator)
        return make_error(ErrorKind::local, "infer-model-unavailable",
                          generator.error().to_string());
    auto loaded =
        std::make_shared<const Loaded>(Loaded{snapshot->tip, std::move(generator).value()});
    std::lock_guard lock(mutex_);
    loaded_ = loaded;
    return std::shared_ptr<const Loaded>(loaded);
}

Result<InferenceOutcome> InferenceService::infer(const chain::InferenceRequest& request,
                                                 const chain::Transaction& payment) {
    LEARNCHAIN_TRY(check_request(request));
    const chain::Hash256 request_hash = chain::inference_request_hash(request);
    if (payment.to != config_.payment_key)
        return make_error(ErrorKind::policy, "infer-wrong-recipient",
                          "pay " + chain::encode_address(config_.payment_key));
    const auto& hash_bytes = request_hash.bytes();
    if (!std::equal(payment.memo.begin(), payment.memo.end(), hash_bytes.begin(), hash_bytes.end()))
        return make_error(ErrorKind::policy, "infer-wrong-memo",
                          "the memo must be the request hash " + request_hash.hex());
    const auto price = chain::checked_mul(config_.price_per_token, request.max_tokens);
    if (!price || payment.amount < *price)
        return make_error(ErrorKind::policy, "infer-payment-too-small",
                          "pays " + chain::format_amount(payment.amount) + ", " +
                              std::to_string(request.max_tokens) + " tokens cost " +
                              (price ? chain::format_amount(*price) : std::string("too much")));

    // The model is loaded before the payment is taken, so a node that cannot serve never
    // charges.
    auto loaded = generator();
    if (!loaded) return loaded.error();
    auto txid = hooks_.admit(payment);
    if (!txid && hooks_.known && hooks_.known(payment.txid())) {
        txid = payment.txid();
        std::lock_guard lock(answers_mutex_);
        if (auto it = answers_.find(*txid); it != answers_.end()) {
            InferenceOutcome replay = it->second;
            replay.replayed = true;
            return replay;
        }
    }
    if (!txid) return txid.error();

    training::SamplingOptions options;
    options.max_tokens = request.max_tokens;
    options.temperature = request.temperature;
    options.top_k = request.top_k;
    options.seed = request.seed;
    std::lock_guard lock(generate_mutex_);
    auto generation = (*loaded)->generator.generate(request.prompt, options);
    if (!generation)
        return make_error(
            ErrorKind::local, "infer-generation-failed",
            "payment " + txid->hex() + " admitted; " + generation.error().to_string());
    InferenceOutcome outcome{generation->text(),
                             std::string(training::to_string(generation->finish)), *txid,
                             request_hash, (*loaded)->tip};
    std::lock_guard answers_lock(answers_mutex_);
    if (answers_.emplace(*txid, outcome).second) {
        answer_order_.push_back(*txid);
        if (answer_order_.size() > max_answers) {
            answers_.erase(answer_order_.front());
            answer_order_.pop_front();
        }
    }
    return outcome;
}

Result<rpc::json> InferenceService::handle_infer(const rpc::json& params) {
    if (!params.is_object())
        return bad_params(
            "params must be an object {prompt, max_tokens, temperature, top_k, "
            "seed, payment}");
    static const std::set<std::string> known = {"prompt", "max_tokens", "temperature",
                                                "top_k",  "seed",       "payment"};
    for (const auto& [key, value] : params.items())
        if (!known.contains(key)) return bad_params("unknown parameter " + key);

    chain::InferenceRequest request;
    request.chain_id = config_.chain_id;
    if (!params.contains("prompt") || !params["prompt"].is_string())
        return bad_params("prompt must be a string");
    request.prompt = params["prompt"].get<std::string>();
    if (!params.contains("max_tokens")) return bad_params("max_tokens is required");
    const auto max_tokens =
        unsigned_value(params["max_tokens"], std::numeric_limits<std::uint32_t>::max());
    if (!max_tokens) return bad_params("max_tokens must be an unsigned integer");
    request.max_tokens = static_cast<std::uint32_t>(*max_tokens);
    if (params.contains("temperature")) {
        if (!params["temperature"].is_number()) return bad_params("temperature must be a number");
        request.temperature = params["temperature"].get<double>();
    }
    if (params.contains("top_k")) {
        const auto top_k =
            unsigned_value(params["top_k"], std::numeric_limits<std::uint32_t>::max());
        if (!top_k) return bad_params("top_k must be an unsigned integer");
        request.top_k = static_cast<std::uint32_t>(*top_k);
    }
    if (params.contains("seed")) {
        const auto seed = unsigned_value(params["seed"], std::numeric_limits<std::uint64_t>::max());
        if (!seed) return bad_params("seed must be an unsigned 64-bit integer");
        request.seed = *seed;
    }
    // The request is checked before the payment is even decoded: its hash is the memo.
    LEARNCHAIN_TRY(check_request(request));

    if (!params.contains("payment") || !params["payment"].is_string())
        return make_error(ErrorKind::malformed, "infer-bad-payment",
                          "payment must be a hex-encoded transaction");
    const auto& hex = params["payment"].get_ref<const std::string&>();
    if (hex.size() > 2 * chain::max_tx_encoded_size)
        return make_error(ErrorKind::malformed, "infer-bad-payment", "longer than any transaction");
    auto bytes = chain::from_hex(hex);
    if (!bytes)
        return make_error(ErrorKind::malformed, "infer-bad-payment", bytes.error().to_string());
    auto payment = chain::decode<chain::Transaction>(*bytes);
    if (!payment)
        return make_error(ErrorKind::malformed, "infer-bad-payment", payment.error().to_string());

    auto outcome = infer(request, *payment);
    if (!outcome) return outcome.error();
    const auto* data = reinterpret_cast<const std::uint8_t*>(outcome->bytes.data());
    return rpc::json{
        {"text", outcome->bytes},  // the dispatcher replaces invalid UTF-8 on the wire
        {"text_hex", chain::to_hex({data, outcome->bytes.size()})},
        {"tokens", outcome->bytes.size()},
        {"finish_reason", outcome->finish_reason},
        {"txid", outcome->txid.hex()},
        {"request_hash", outcome->request_hash.hex()},
        {"model_height", outcome->model.height},
        {"model_block", outcome->model.block.hex()},
        {"replayed", outcome->replayed},
    };
}

namespace {

template <class Target>
Status register_on(Target& target, InferenceService& service) {
    LEARNCHAIN_TRY(target.register_method(
        "getinferenceinfo",
        [&service](const rpc::json&) -> Result<rpc::json> { return service.info(); },
        "getinferenceinfo\n  The price per generated byte, the payment address and the request "
        "limits."));
    LEARNCHAIN_TRY(target.register_method(
        "infer", [&service](const rpc::json& params) { return service.handle_infer(params); },
        "infer {prompt, max_tokens, temperature, top_k, seed, payment}\n  Text from the tip model, "
        "paid by `payment` (hex of a signed transfer whose memo is\n  the request hash); "
        "learnchain-wallet infer builds it."));
    return ok_status();
}

}  // namespace

Status register_inference_methods(rpc::Dispatcher& dispatcher, InferenceService& service) {
    LEARNCHAIN_TRY(register_on(dispatcher, service));
    for (const char* reason : {"infer-bad-params", "infer-prompt-too-long", "infer-bad-payment"})
        dispatcher.set_error_code(reason, rpc::code::invalid_params);
    return ok_status();
}

Status register_inference_methods(rpc::RpcServer& server, InferenceService& service) {
    LEARNCHAIN_TRY(register_on(server, service));
    for (const char* reason : {"infer-bad-params", "infer-prompt-too-long", "infer-bad-payment"})
        LEARNCHAIN_TRY(server.set_error_code(reason, rpc::code::invalid_params));
    return ok_status();
}

}  // namespace learnchain::node
