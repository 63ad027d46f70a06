// An RPC request body arrives from any local process (and from whoever reaches the port):
// whatever the bytes, dispatch must answer with well-formed JSON-RPC, or with nothing for
// notifications, and never crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include <learnchain/rpc/dispatcher.hpp>

namespace {

using learnchain::Result;
using learnchain::rpc::json;

[[noreturn]] void fail(const char* what, std::string_view body) {
    std::fprintf(stderr, "%s\n  body: %.*s\n", what, static_cast<int>(body.size()), body.data());
    std::abort();
}

const learnchain::rpc::Dispatcher& dispatcher() {
    static const auto* instance = [] {
        auto* d = new learnchain::rpc::Dispatcher();
        (void)d->register_method("echo", [](const json& p) -> Result<json> { return p; });
        (void)d->register_method("fail", [](const json&) -> Result<json> {
            return learnchain::make_error(learnchain::ErrorKind::invalid, "bad-thing", "detail");
        });
        (void)d->register_method("params", [](const json& p) -> Result<json> {
            if (!p.is_array() || p.empty()) return learnchain::rpc::invalid_params("want [x]");
            return p.at(0).at("k");  // throws on most inputs: must become -32603
        });
        (void)d->register_method(
            "throw", [](const json&) -> Result<json> { throw std::runtime_error("boom"); });
        return d;
    }();
    return *instance;
}

bool is_response(const json& r) {
    if (!r.is_object() || r.value("jsonrpc", "") != "2.0" || !r.contains("id")) return false;
    const bool has_result = r.contains("result");
    const auto error = r.find("error");
    const bool has_error = error != r.end();
    if (has_result == has_error) return false;
    return !has_error || ((*error)["code"].is_number_integer() && (*error)["message"].is_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const auto out = dispatcher().handle(body);
    if (!out) return 0;
    const json response = json::parse(*out, nullptr, false);
    if (response.is_discarded()) fail("response is not JSON", body);
    if (response.is_array()) {
        if (response.empty()) fail("empty batch response", body);
        for (const json& entry : response)
            if (!is_response(entry)) fail("batch entry is not a JSON-RPC response", body);
    } else if (!is_response(response)) {
        fail("response is not a JSON-RPC response", body);
    }
    return 0;
}
