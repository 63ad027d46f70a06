#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>

#include <learnchain/rpc/auth.hpp>
#include <learnchain/rpc/cli.hpp>
#include <learnchain/rpc/client.hpp>

#include <CLI/CLI.hpp>

namespace learnchain::rpc {
namespace {

// The daemon's config file (src/node/NODE.md); the CLI cannot link the node library.
constexpr const char* daemon_config_file = "learnchain.conf";

bool is_name(std::string_view text) {
    if (text.empty()) return false;
    for (const char c : text)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

// `key = value` lines of the daemon's INI file (comments and sections skipped).
std::optional<std::string> config_value(const std::filesystem::path& path, std::string_view key) {
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        const auto eq = line.find('=');
        if (eq == std::string::npos || line.starts_with('#') || line.starts_with(';')) continue;
        auto trim = [](std::string s) {
            const auto first = s.find_first_not_of(" \t\r");
            const auto last = s.find_last_not_of(" \t\r");
            return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
        };
        if (trim(line.substr(0, eq)) == key) return trim(line.substr(eq + 1));
    }
    return std::nullopt;
}

void print_result(const nlohmann::json& result, std::ostream& out) {
    if (result.is_null()) return;
    if (result.is_string()) {
        const auto& text = result.get_ref<const std::string&>();
        out << text << (text.ends_with('\n') ? "" : "\n");
        return;
    }
    out << result.dump(2) << "\n";
}

}  // namespace

nlohmann::json parse_cli_value(const std::string& text) {
    if (text == "true" || text == "false" || text == "null" || text.starts_with('{') ||
        text.starts_with('[') || text.starts_with('"') ||
        (text.size() <= 20 && !text.empty() &&
         (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-'))) {
        auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (!parsed.is_discarded()) return parsed;
    }
    return text;
}

nlohmann::json parse_cli_params(const std::vector<std::string>& args) {
    const bool named = !args.empty() && std::all_of(args.begin(), args.end(), [](const auto& a) {
        const auto eq = a.find('=');
        return eq != std::string::npos && is_name(std::string_view(a).substr(0, eq));
    });
    if (named) {
        nlohmann::json object = nlohmann::json::object();
        for (const auto& a : args) {
            const auto eq = a.find('=');
            object[a.substr(0, eq)] = parse_cli_value(a.substr(eq + 1));
        }
        return object;
    }
    nlohmann::json array = nlohmann::json::array();
    for (const auto& a : args) array.push_back(parse_cli_value(a));
    return array;
}

int run_rpc_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    std::string datadir = default_datadir().string();
    std::string conf;
    std::string connect;
    std::optional<std::uint16_t> port;
    std::string user, password;
    bool wait = false;
    double wait_timeout = 0;
    double timeout = 30;
    std::string method;
    std::vector<std::string> params;

    CLI::App app(
        "learnchain-cli: call the node's JSON-RPC methods (`learnchain-cli help` lists "
        "them)",
        "learnchain-cli");
    app.add_option("--datadir", datadir, "Node data directory (its RPC cookie)")
        ->capture_default_str();
    app.add_option("--conf", conf,
                   "Node config file for rpc-port and rpc-bind "
                   "(default <datadir>/learnchain.conf)");
    app.add_option("--rpcconnect", connect, "Node RPC address (default 127.0.0.1)");
    app.add_option("--rpcport", port,
                   "Node RPC port (default " + std::to_string(default_rpc_port) + ")");
    app.add_option("--rpcuser", user, "RPC user (instead of the cookie)");
    app.add_option("--rpcpassword", password, "RPC password (instead of the cookie)");
    app.add_flag("--rpcwait", wait, "Wait for the node to answer (it may still be starting)");
    app.add_option("--rpcwaittimeout", wait_timeout,
                   "Give up waiting after this many seconds "
                   "(0: never)")
        ->capture_default_str();
    app.add_option("--rpcclienttimeout", timeout, "Seconds to wait for one answer")
        ->capture_default_str();
    app.add_option("method", method, "The RPC method")->required();
    app.footer("Parameters follow the method: VALUE ... (an array) or NAME=VALUE ... (an object).");
    // Everything after the method is a parameter, untouched: "-1", "--x", "[1]".
    app.prefix_command();
    try {
        std::vector<std::string> reversed(args.rbegin(), args.rend());
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        return app.exit(e, out, err);
    }
    params = app.remaining();

    const std::filesystem::path config = conf.empty()
                                             ? std::filesystem::path(datadir) / daemon_config_file
                                             : std::filesystem::path(conf);
    ClientOptions options;
    options.host =
        !connect.empty() ? connect : config_value(config, "rpc-bind").value_or("127.0.0.1");
    if (port) {
        options.port = *port;
    } else if (const auto text = config_value(config, "rpc-port")) {
        char* end = nullptr;
        const unsigned long value = std::strtoul(text->c_str(), &end, 10);
        if (end == text->c_str() || *end != '\0' || value == 0 || value > 65535) {
            err << "error: " << config.string() << ": rpc-port " << *text << " is not a port\n";
            return 1;
        }
        options.port = static_cast<std::uint16_t>(value);
    } else {
        options.port = default_rpc_port;
    }
    if (!user.empty() || !password.empty())
        options.credentials = user + ":" + password;
    else
        options.cookie_path = std::filesystem::path(datadir) / std::string(cookie_file_name);
    options.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout * 1000));

    const nlohmann::json call_params = parse_cli_params(params);
    const auto started = std::chrono::steady_clock::now();
    for (;;) {
        RpcClient client(options);
        auto result = client.call(method, call_params);
        if (result) {
            print_result(*result, out);
            return 0;
        }
        // A node that is starting has no listener or no cookie yet: both are worth waiting
        // for; an answer that is an error is not.
        const std::string& reason = result.error().reason;
        const bool not_up = reason == "rpc-connect-failed" || reason == "rpc-unauthorized" ||
                            reason == "rpc-cookie-read-failed";
        const double waited =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (!wait || !not_up || (wait_timeout > 0 && waited >= wait_timeout)) {
            err << "error: " << result.error().to_string() << "\n";
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
}

}  // namespace learnchain::rpc
