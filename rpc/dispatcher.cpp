#include <exception>
#include <utility>

#include <learnchain/rpc/dispatcher.hpp>

namespace learnchain::rpc {

namespace {

json error_response(const json& id, const RpcError& error) {
    return json{{"jsonrpc", "2.0"}, {"error", error.to_json()}, {"id", id}};
}

json error_response(const json& id, int code, std::string_view why, std::string detail) {
    return error_response(
        id, RpcError{code, make_error(ErrorKind::malformed, std::string(why), std::move(detail))});
}

// The kind a server reported (RpcError::to_json); local when absent or unknown.
ErrorKind kind_from(std::string_view name) {
    for (const ErrorKind kind :
         {ErrorKind::invalid, ErrorKind::fraud, ErrorKind::mutated, ErrorKind::malformed,
          ErrorKind::missing, ErrorKind::conflict, ErrorKind::policy, ErrorKind::local})
        if (learnchain::to_string(kind) == name) return kind;
    return ErrorKind::local;
}

// JSON-RPC 2.0 allows string, number or null ids; anything else is an invalid request.
bool valid_id(const json& id) {
    return id.is_string() || id.is_number() || id.is_null();
}

}  // namespace

json RpcError::to_json() const {
    return json{{"code", code},
                {"message", error.to_string()},
                {"data", json{{"reason", error.reason},
                              {"detail", error.detail},
                              {"kind", learnchain::to_string(error.kind)}}}};
}

Error RpcError::from_json(const json& error_object) {
    if (!error_object.is_object())
        return make_error(ErrorKind::malformed, "rpc-bad-response", "error is not an object");
    std::string message;
    if (auto it = error_object.find("message"); it != error_object.end() && it->is_string())
        message = it->get<std::string>();
    if (auto data = error_object.find("data"); data != error_object.end() && data->is_object()) {
        auto why = data->find("reason");
        if (why != data->end() && why->is_string() && !why->get<std::string>().empty()) {
            auto detail = data->find("detail");
            return make_error(
                kind_from(data->value("kind", std::string())), why->get<std::string>(),
                detail != data->end() && detail->is_string() ? detail->get<std::string>()
                                                             : message);
        }
    }
    long long number = 0;
    if (auto it = error_object.find("code"); it != error_object.end() && it->is_number_integer())
        number = it->get<long long>();
    return make_error(ErrorKind::local, "rpc-error-" + std::to_string(number), message);
}

Status Dispatcher::register_method(std::string name, Handler handler, std::string help) {
    if (name.empty() || !handler)
        return make_error(ErrorKind::malformed, "rpc-bad-method", "empty name or handler");
    if (methods_.contains(name) || name == "help")
        return make_error(ErrorKind::local, "rpc-duplicate-method", name);
    if (help.empty()) help = name;
    methods_.emplace(std::move(name), Method{std::move(handler), std::move(help)});
    return ok_status();
}

Result<json> Dispatcher::help(const json& params) const {
    static constexpr std::string_view own_help =
        "help [command]\n  This list, or one command's help.\n";
    const json* command = nullptr;
    if (params.is_array() && !params.empty()) command = &params[0];
    if (params.is_object() && params.contains("command")) command = &params["command"];
    if (command == nullptr || command->is_null()) {
        std::string out(own_help);
        for (const auto& [name, method] : methods_)
            out += method.help.substr(0, method.help.find('\n')) + "\n";
        return json(out);
    }
    if (!command->is_string()) return invalid_params("command must be a string");
    const auto& name = command->get_ref<const std::string&>();
    if (name == "help") return json(std::string(own_help));
    const auto it = methods_.find(name);
    if (it == methods_.end()) return make_error(ErrorKind::malformed, "rpc-unknown-method", name);
    return json(it->second.help + "\n");
}

void Dispatcher::set_error_code(std::string reason_code, int rpc_code) {
    error_codes_[std::move(reason_code)] = rpc_code;
}

bool Dispatcher::has_method(std::string_view name) const {
    return name == "help" || methods_.find(name) != methods_.end();
}

int Dispatcher::code_for(const Error& error) const {
    if (error.reason == reason::parse_error) return code::parse_error;
    if (error.reason == reason::invalid_request) return code::invalid_request;
    if (error.reason == reason::method_not_found) return code::method_not_found;
    if (error.reason == reason::invalid_params) return code::invalid_params;
    if (error.reason == reason::internal_error) return code::internal_error;
    if (auto it = error_codes_.find(error.reason); it != error_codes_.end()) return it->second;
    return code::application_error;
}

std::optional<json> Dispatcher::handle_one(const json& request) const {
    if (!request.is_object())
        return error_response(nullptr, code::invalid_request, reason::invalid_request,
                              "request is not an object");
    const auto id_it = request.find("id");
    const bool notification = id_it == request.end();
    const json id = notification ? json(nullptr) : *id_it;
    if (!valid_id(id))
        return error_response(nullptr, code::invalid_request, reason::invalid_request,
                              "id must be a string, number or null");

    const auto version = request.find("jsonrpc");
    if (version == request.end() || *version != "2.0")
        return error_response(id, code::invalid_request, reason::invalid_request,
                              "jsonrpc must be \"2.0\"");
    const auto method = request.find("method");
    if (method == request.end() || !method->is_string())
        return error_response(id, code::invalid_request, reason::invalid_request,
                              "method must be a string");
    const auto params_it = request.find("params");
    if (params_it != request.end() && !params_it->is_array() && !params_it->is_object())
        return error_response(id, code::invalid_request, reason::invalid_request,
                              "params must be an array or an object");
    static const json no_params = json::array();
    const json& params = params_it == request.end() ? no_params : *params_it;

    const auto& name = method->get_ref<const std::string&>();
    const auto handler = methods_.find(name);
    if (handler == methods_.end() && name != "help") {
        if (notification) return std::nullopt;
        return error_response(id, code::method_not_found, reason::method_not_found, name);
    }

    // A handler is arbitrary code: whatever it throws becomes -32603 for this one request.
    std::optional<Result<json>> result;
    try {
        result.emplace(handler == methods_.end() ? help(params) : handler->second.handler(params));
    } catch (const std::exception& e) {
        result.emplace(make_error(ErrorKind::local, std::string(reason::internal_error),
                                  name + ": " + e.what()));
    } catch (...) {
        result.emplace(make_error(ErrorKind::local, std::string(reason::internal_error),
                                  name + ": unknown exception"));
    }
    if (notification) return std::nullopt;
    if (!result->ok())
        return error_response(id, RpcError{code_for(result->error()), result->error()});
    return json{{"jsonrpc", "2.0"}, {"result", std::move(*result).value()}, {"id", id}};
}

std::optional<std::string> Dispatcher::handle(std::string_view body) const {
    // Every path below builds JSON out of values that parsed, so dump() cannot meet invalid
    // UTF-8 from a handler unless the handler made it; "replace" keeps even that from throwing.
    const auto dump = [](const json& value) {
        return value.dump(-1, ' ', false, json::error_handler_t::replace);
    };
    try {
        if (exceeds_depth(body, limits_.max_depth))
            return dump(error_response(nullptr, code::parse_error, reason::parse_error,
                                       "nesting deeper than " + std::to_string(limits_.max_depth)));
        json request = json::parse(body, nullptr, /*allow_exceptions=*/false);
        if (request.is_discarded())
            return dump(
                error_response(nullptr, code::parse_error, reason::parse_error, "invalid JSON"));
        if (!request.is_array()) {
            auto response = handle_one(request);
            if (!response) return std::nullopt;
            return dump(*response);
        }
        if (request.empty())
            return dump(error_response(nullptr, code::invalid_request, reason::invalid_request,
                                       "empty batch"));
        if (request.size() > limits_.max_batch)
            return dump(error_response(nullptr, code::invalid_request, reason::invalid_request,
                                       "batch larger than " + std::to_string(limits_.max_batch)));
        json responses = json::array();
        for (const json& entry : request)
            if (auto response = handle_one(entry)) responses.push_back(std::move(*response));
        if (responses.empty()) return std::nullopt;
        return dump(responses);
    } catch (const std::exception& e) {
        // Only allocation failure or a handler's result that cannot be serialized lands here.
        return dump(
            error_response(nullptr, code::internal_error, reason::internal_error, e.what()));
    }
}

bool exceeds_depth(std::string_view body, std::size_t max_depth) {
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : body) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string = true;
                break;
            case '[':
            case '{':
                if (++depth > max_depth) return true;
                break;
            case ']':
            case '}':
                if (depth > 0) --depth;
                break;
            default:
                break;
        }
    }
    return false;
}

}  // namespace learnchain::rpc
