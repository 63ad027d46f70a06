// JSON-RPC 2.0 framing and method dispatch, independent of any transport.
//
// The HTTP server hands every request body to Dispatcher::handle and sends back what it
// returns; tests and the fuzz target call it directly, without sockets.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <learnchain/chain/result.hpp>

#include <nlohmann/json.hpp>

namespace learnchain::rpc {

using json = nlohmann::json;

// Standard JSON-RPC 2.0 codes, and the application code for any other handler Error.
namespace code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
// Like Bitcoin Core's RPC_MISC_ERROR: a handler failed for a reason it named itself.
inline constexpr int application_error = -1;
}  // namespace code

// Reason codes of the standard errors; a handler returns e.g. invalid_params(...) to get
// -32602, and any reason not registered with a code maps to code::application_error.
namespace reason {
inline constexpr std::string_view parse_error = "rpc-parse-error";
inline constexpr std::string_view invalid_request = "rpc-invalid-request";
inline constexpr std::string_view method_not_found = "rpc-method-not-found";
inline constexpr std::string_view invalid_params = "rpc-invalid-params";
inline constexpr std::string_view internal_error = "rpc-internal-error";
}  // namespace reason

[[nodiscard]] inline Error invalid_params(std::string detail) {
    return make_error(ErrorKind::malformed, std::string(reason::invalid_params), std::move(detail));
}

// A JSON-RPC error object. On the wire:
//   {"code": code, "message": "<reason>: <detail>", "data": {"reason": ..., "detail": ...}}
// so that a client recovers the project's Error exactly, and people can read the message.
struct RpcError {
    int code = code::internal_error;
    Error error;

    [[nodiscard]] json to_json() const;
    // The inverse, for clients: kind and reason from data, else "rpc-error-<code>".
    [[nodiscard]] static Error from_json(const json& error_object);
};

// params is always an array or an object (an absent "params" arrives as []).
using Handler = std::function<Result<json>(const json& params)>;

struct DispatchLimits {
    std::size_t max_depth = 64;    // nesting of arrays/objects; deeper bodies are parse errors
    std::size_t max_batch = 1000;  // entries in one batch
};

class Dispatcher {
public:
    explicit Dispatcher(DispatchLimits limits = {}) : limits_(limits) {}

    // Not thread-safe against handle(): register everything before serving. `help` is the
    // method's usage line, then what it does (served by the built-in `help` method).
    [[nodiscard]] Status register_method(std::string name, Handler handler, std::string help = {});
    // Maps a handler's Error reason to an application code other than application_error.
    void set_error_code(std::string reason_code, int rpc_code);

    [[nodiscard]] bool has_method(std::string_view name) const;

    // One HTTP body in, the response body out; nullopt when every request was a
    // notification, so nothing is to be sent. Never throws, whatever the bytes.
    [[nodiscard]] std::optional<std::string> handle(std::string_view body) const;

    // A single already-parsed request; nullopt for a notification.
    [[nodiscard]] std::optional<json> handle_one(const json& request) const;

    [[nodiscard]] int code_for(const Error& error) const;

    // The built-in `help` method: [] lists every method with its usage line; [name] (or
    // {"command": name}) is that method's whole help text. Reason rpc-unknown-method.
    [[nodiscard]] Result<json> help(const json& params) const;

private:
    struct Method {
        Handler handler;
        std::string help;
    };
    DispatchLimits limits_;
    std::map<std::string, Method, std::less<>> methods_;
    std::map<std::string, int, std::less<>> error_codes_;
};

// Whether `body`'s arrays and objects nest deeper than max_depth (strings are skipped).
// nlohmann::json parses iteratively but dumps and copies recursively, so depth is bounded
// before parsing.
[[nodiscard]] bool exceeds_depth(std::string_view body, std::size_t max_depth);

}  // namespace learnchain::rpc
