#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <learnchain/consensus/engine.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/node/explorer.hpp>
#include <learnchain/node/explorer_page.hpp>
#include <learnchain/node/node.hpp>
#include <learnchain/rpc/url.hpp>

#include <nlohmann/json.hpp>

namespace learnchain::node {
namespace {

using json = nlohmann::json;

constexpr std::size_t sample_bytes = 96;

// The model's bytes need not be UTF-8: what is not shows as U+FFFD.
rpc::Page json_page(const json& value) {
    return {"application/json", value.dump(-1, ' ', false, json::error_handler_t::replace)};
}

// The explorer's sample: one greedy continuation per tip, on a trainer of its own, so that a
// page left open costs one generation a block.
class Sampler {
public:
    explicit Sampler(Node& node) : node_(node) {}

    json sample() {
        std::lock_guard lock(mutex_);
        std::optional<consensus::ModelWeights> weights;
        Hash256 tip;
        const bool text = node_.genesis().learning.dataset.kind == chain::DatasetKind::file;
        // A prompt in the data's own form: a verse's opening, or a sum to complete.
        const std::string prompt = text ? "Ge1:1 In the beginning" : "12+34=";
        const auto read = node_.with_chain(
            [&](chain::ChainStore& store, auto&, consensus::PolWorkEngine& engine) -> Status {
                tip = store.tip().hash;
                if (tip != sampled_tip_) weights = engine.weights();
                return ok_status();
            });
        if (!read) return {{"error", read.error().to_string()}};
        if (weights) {
            if (!trainer_) {
                auto trainer = training::Trainer::create(weights->layout.config(), "cpu");
                if (!trainer) return {{"error", trainer.error().to_string()}};
                trainer_.emplace(std::move(trainer).value());
            }
            auto completed = trainer_->complete(*weights, prompt, sample_bytes, text ? '\0' : '\n');
            if (!completed) return {{"error", completed.error().to_string()}};
            sampled_tip_ = tip;
            text_ = std::move(*completed);
        }
        return {{"tip", tip.hex()}, {"prompt", prompt}, {"text", text_}};
    }

private:
    Node& node_;
    std::mutex mutex_;
    std::optional<training::Trainer> trainer_;
    Hash256 sampled_tip_;
    std::string text_;
};

}  // namespace

rpc::PageHandler explorer_pages(Node& node, const rpc::Dispatcher& dispatcher) {
    auto sampler = std::make_shared<Sampler>(node);
    return [&dispatcher, sampler](std::string_view target) -> std::optional<rpc::Page> {
        const auto query_at = target.find('?');
        const std::string_view path = target.substr(0, query_at);
        const std::string_view query =
            query_at == std::string_view::npos ? std::string_view() : target.substr(query_at + 1);
        if (path == "/" || path == "/index.html")
            return rpc::Page{"text/html; charset=utf-8", std::string(explorer_page_html)};
        if (path == "/api/sample") return json_page(sampler->sample());
        constexpr std::string_view api = "/api/";
        if (!path.starts_with(api)) return std::nullopt;
        const std::string_view method = path.substr(api.size());
        if (std::find(std::begin(explorer_methods), std::end(explorer_methods), method) ==
            std::end(explorer_methods))
            return std::nullopt;
        json params = json::array();
        if (query.starts_with("p=")) {
            const auto decoded = rpc::url_decode(query.substr(2));
            if (!decoded) return json_page({{"error", "bad escape in p"}});
            params = json::parse(*decoded, nullptr, false);
            if (!params.is_array()) return json_page({{"error", "p must be a JSON array"}});
        }
        const json request{
            {"jsonrpc", "2.0"}, {"id", 1}, {"method", std::string(method)}, {"params", params}};
        const auto response = dispatcher.handle_one(request);
        return json_page(response ? *response : json());
    };
}

}  // namespace learnchain::node
