#include <charconv>
#include <limits>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/wallet/node_client.hpp>

namespace learnchain::wallet {
namespace {

Error bad_reply(std::string_view method, std::string detail) {
    return make_error(ErrorKind::malformed, "wallet-bad-node-reply",
                      std::string(method) + ": " + std::move(detail));
}

// An amount in units (integer) or in coins (string, "12.5"); both appear in node replies.
Result<chain::Amount> amount_field(const rpc::json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end())
        return make_error(ErrorKind::malformed, "wallet-bad-node-reply",
                          std::string(name) + " missing");
    if (it->is_number_unsigned()) return it->get<chain::Amount>();
    if (it->is_string()) return chain::parse_amount(it->get<std::string>());
    return make_error(ErrorKind::malformed, "wallet-bad-node-reply",
                      std::string(name) + " is not an amount");
}

template <class T>
std::optional<T> unsigned_field(const rpc::json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end() || !it->is_number_unsigned()) return std::nullopt;
    const auto v = it->get<std::uint64_t>();
    if (v > std::numeric_limits<T>::max()) return std::nullopt;
    return static_cast<T>(v);
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> parse_rpc_url(std::string_view url,
                                                            std::uint16_t default_port) {
    auto bad = [&](std::string why) {
        return make_error(ErrorKind::malformed, "wallet-bad-rpc-url",
                          std::string(url) + ": " + why);
    };
    if (url.starts_with("http://")) url.remove_prefix(7);
    if (url.starts_with("https://"))
        return bad("https is not supported (the RPC is loopback HTTP)");
    if (const auto slash = url.find('/'); slash != std::string_view::npos) {
        if (url.substr(slash) != "/") return bad("only the path / is served");
        url = url.substr(0, slash);
    }
    std::string_view host = url, port_text;
    if (url.starts_with('[')) {
        const auto close = url.find(']');
        if (close == std::string_view::npos) return bad("unclosed [");
        host = url.substr(1, close - 1);
        const auto rest = url.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return bad("expected :port after ]");
            port_text = rest.substr(1);
        }
    } else if (const auto colon = url.rfind(':'); colon != std::string_view::npos) {
        host = url.substr(0, colon);
        port_text = url.substr(colon + 1);
    }
    if (host.empty()) return bad("no host");
    std::uint16_t port = default_port;
    if (!port_text.empty()) {
        unsigned value = 0;
        const auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
            value > 65535)
            return bad("bad port");
        port = static_cast<std::uint16_t>(value);
    }
    return std::pair{std::string(host), port};
}

std::string transaction_hex(const chain::Transaction& tx) {
    return chain::to_hex(chain::encode(tx));
}

Result<AccountInfo> NodeClient::account(std::string_view address) {
    auto reply = client_.call("getaccount", rpc::json::array({std::string(address)}));
    if (!reply) return reply.error();
    if (!reply->is_object()) return bad_reply("getaccount", "not an object");
    AccountInfo info;
    auto balance =
        amount_field(*reply, reply->contains("balance_units") ? "balance_units" : "balance");
    if (!balance) return bad_reply("getaccount", balance.error().to_string());
    info.balance = *balance;
    if (reply->contains("immature_units")) {
        auto immature = amount_field(*reply, "immature_units");
        if (!immature) return bad_reply("getaccount", immature.error().to_string());
        info.immature = *immature;
    }
    const auto nonce = unsigned_field<std::uint64_t>(*reply, "nonce");
    if (!nonce) return bad_reply("getaccount", "nonce missing");
    info.nonce = *nonce;
    info.next_nonce = unsigned_field<std::uint64_t>(*reply, "next_nonce").value_or(info.nonce);
    info.chain_id = unsigned_field<std::uint32_t>(*reply, "chain_id");
    return info;
}

Result<std::uint32_t> NodeClient::chain_id() {
    auto chain = client_.call("getblockchaininfo", rpc::json::array());
    if (chain && chain->is_object())
        if (auto id = unsigned_field<std::uint32_t>(*chain, "chain_id")) return *id;
    auto info = inference_info();
    if (info) return info->chain_id;
    return make_error(
        ErrorKind::local, "wallet-chain-id-unknown",
        "neither getblockchaininfo nor getinferenceinfo gave one: " + info.error().to_string());
}

Result<NetworkInfo> NodeClient::network() {
    auto chain = client_.call("getblockchaininfo", rpc::json::array());
    if (!chain) return chain.error();
    const auto id =
        chain->is_object() ? unsigned_field<std::uint32_t>(*chain, "chain_id") : std::nullopt;
    if (!id || !chain->contains("genesis_hash") || !(*chain)["genesis_hash"].is_string())
        return make_error(ErrorKind::malformed, "wallet-bad-node-reply",
                          "getblockchaininfo has no chain_id and genesis_hash");
    return NetworkInfo{*id, (*chain)["genesis_hash"].get<std::string>()};
}

Result<chain::Hash256> NodeClient::send(const chain::Transaction& tx) {
    auto reply = client_.call("sendrawtransaction", rpc::json::array({transaction_hex(tx)}));
    if (!reply) return reply.error();
    const rpc::json* field = &*reply;
    if (reply->is_object() && reply->contains("txid")) field = &(*reply)["txid"];
    if (!field->is_string()) return bad_reply("sendrawtransaction", "no txid");
    auto txid = chain::Hash256::from_hex(field->get<std::string>());
    if (!txid) return bad_reply("sendrawtransaction", "txid is not 32 bytes of hex");
    if (*txid != tx.txid())
        return bad_reply("sendrawtransaction", "node reports txid " + txid->hex() +
                                                   ", the transaction's is " + tx.txid().hex());
    return txid;
}

Result<rpc::json> NodeClient::transaction(const chain::Hash256& txid) {
    return client_.call("gettransaction", rpc::json::array({txid.hex()}));
}

Result<InferenceInfo> NodeClient::inference_info() {
    auto reply = client_.call("getinferenceinfo", rpc::json::object());
    if (!reply) return reply.error();
    const auto bad = [](std::string why) { return bad_reply("getinferenceinfo", std::move(why)); };
    if (!reply->is_object()) return bad("not an object");
    const rpc::json& r = *reply;
    InferenceInfo info;
    if (!r.contains("price_per_token") || !r["price_per_token"].is_object()) return bad("no price");
    auto price = amount_field(r["price_per_token"], "units");
    if (!price) return bad(price.error().to_string());
    info.price_per_token = *price;
    if (!r.contains("payment_address") || !r["payment_address"].is_string())
        return bad("no payment_address");
    info.payment_address = r["payment_address"].get<std::string>();
    auto key = chain::decode_address(info.payment_address);
    if (!key) return bad("payment_address: " + key.error().to_string());
    info.payment_key = *key;
    const auto chain_id = unsigned_field<std::uint32_t>(r, "chain_id");
    const auto context = unsigned_field<std::uint32_t>(r, "context");
    if (!chain_id || !context) return bad("chain_id or context missing");
    info.chain_id = *chain_id;
    info.context = *context;
    info.model_height = unsigned_field<std::uint64_t>(r, "model_height").value_or(0);
    info.model_block = r.value("model_block", std::string());
    if (!r.contains("limits") || !r["limits"].is_object()) return bad("no limits");
    const rpc::json& limits = r["limits"];
    const auto prompt = unsigned_field<std::uint32_t>(limits, "max_prompt_bytes");
    const auto tokens = unsigned_field<std::uint32_t>(limits, "max_tokens");
    if (!prompt || !tokens) return bad("limits incomplete");
    info.max_prompt_bytes = *prompt;
    info.max_tokens = *tokens;
    try {
        info.min_temperature = limits.at("temperature").at("min").get<double>();
        info.max_temperature = limits.at("temperature").at("max").get<double>();
        info.max_top_k = limits.at("top_k").at("max").get<std::uint32_t>();
    } catch (const std::exception&) {
        return bad("limits incomplete");
    }
    return info;
}

Result<InferenceReply> NodeClient::infer(const chain::InferenceRequest& request,
                                         const chain::Transaction& payment) {
    const rpc::json params = {
        {"prompt", request.prompt},
        {"max_tokens", request.max_tokens},
        {"temperature", request.temperature},
        {"top_k", request.top_k},
        {"seed", request.seed},
        {"payment", transaction_hex(payment)},
    };
    auto reply = client_.call("infer", params);
    if (!reply) return reply.error();
    const auto bad = [](std::string why) { return bad_reply("infer", std::move(why)); };
    if (!reply->is_object()) return bad("not an object");
    const rpc::json& r = *reply;
    InferenceReply out;
    out.text = r.value("text", std::string());
    if (auto hex = r.find("text_hex"); hex != r.end() && hex->is_string()) {
        auto bytes = chain::from_hex(hex->get<std::string>());
        if (!bytes) return bad("text_hex is not hex");
        out.bytes.assign(bytes->begin(), bytes->end());
    } else {
        out.bytes = out.text;
    }
    out.tokens = unsigned_field<std::uint64_t>(r, "tokens").value_or(out.bytes.size());
    out.finish_reason = r.value("finish_reason", std::string());
    out.model_height = unsigned_field<std::uint64_t>(r, "model_height").value_or(0);
    if (!r.contains("txid") || !r["txid"].is_string()) return bad("no txid");
    auto txid = chain::Hash256::from_hex(r["txid"].get<std::string>());
    if (!txid || *txid != payment.txid()) return bad("txid does not match the payment");
    out.txid = *txid;
    return out;
}

}  // namespace learnchain::wallet
