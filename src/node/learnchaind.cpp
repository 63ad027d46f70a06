// learnchaind: the full node daemon. Flags (and the same keys in an INI config file) become a
// NodeConfig; the main thread then waits for SIGINT/SIGTERM or the RPC "stop" and shuts down in
// order. src/node/NODE.md is the operator's reference.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/consensus/verify.hpp>
#include <learnchain/node/node.hpp>
#include <learnchain/rpc/auth.hpp>

#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace {

using learnchain::node::Node;
using learnchain::node::NodeConfig;

constexpr std::string_view config_file_name = "learnchain.conf";
constexpr std::string_view log_file_name = "debug.log";

struct Flags {
    std::string datadir;
    std::string genesis;
    std::string bind = "0.0.0.0";
    std::uint16_t port = learnchain::node::default_p2p_port;
    std::string rpc_bind = "127.0.0.1";
    std::uint16_t rpc_port = learnchain::node::default_rpc_port;
    std::size_t rpc_threads = 2;
    std::optional<std::uint16_t> explorer_port;
    std::vector<std::string> connect;
    bool mine = false;
    std::string mine_to;
    std::string infer_pay_to;
    std::string device = "cpu";
    std::string verify = "sample";
    int block_timeout = 20;
    std::string log_level = "info";
    int threads = 0;
    std::string infer_price =
        learnchain::chain::format_amount(learnchain::node::default_price_per_token);
};

// The config file's default location depends on --datadir, so find it before CLI11 parses.
std::filesystem::path datadir_from_argv(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--datadir" && i + 1 < argc) return argv[i + 1];
        if (arg.starts_with("--datadir=")) return std::string(arg.substr(10));
    }
    return learnchain::rpc::default_datadir();
}

[[noreturn]] void fail(const std::string& message) {
    std::cerr << "learnchaind: error: " << message << "\n";
    std::exit(1);
}

bool valid_device(const std::string& device) {
    if (device == "cpu") return true;
    if (!device.starts_with("cuda:") || device.size() == 5) return false;
    return device.find_first_not_of("0123456789", 5) == std::string::npos;
}

// Turns parsed flags into a NodeConfig, or exits with a message naming the bad flag.
NodeConfig to_config(const Flags& flags) {
    NodeConfig config;
    config.datadir = flags.datadir;
    config.genesis = flags.genesis;
    config.bind = flags.bind;
    config.port = flags.port;
    config.rpc_bind = flags.rpc_bind;
    config.rpc_port = flags.rpc_port;
    config.rpc_threads = flags.rpc_threads;
    config.explorer_port = flags.explorer_port;
    for (const auto& text : flags.connect) {
        auto endpoint = learnchain::p2p::parse_endpoint(text);
        if (!endpoint) fail("--connect " + text + ": expected HOST:PORT");
        config.connect.push_back(*endpoint);
    }
    config.mine = flags.mine;
    if (!flags.mine_to.empty()) {
        if (!flags.mine) fail("--mine-to needs --mine");
        auto key = learnchain::chain::decode_address(flags.mine_to);
        if (!key) fail("--mine-to " + flags.mine_to + ": " + key.error().to_string());
        config.mine_to = *key;
    }
    if (!valid_device(flags.device)) fail("--device " + flags.device + ": expected cpu or cuda:N");
    config.device = flags.device;
    if (auto policy = learnchain::consensus::VerifyPolicy::parse(flags.verify); !policy)
        fail("--verify " + flags.verify + ": " + policy.error().to_string());
    config.verify = flags.verify;
    if (flags.block_timeout < 1) fail("--block-timeout must be >= 1");
    config.block_timeout = std::chrono::seconds(flags.block_timeout);
    if (flags.threads < 0) fail("--threads must be >= 0");
    config.threads = flags.threads;
    if (!flags.infer_pay_to.empty()) {
        auto key = learnchain::chain::decode_address(flags.infer_pay_to);
        if (!key) fail("--infer-pay-to " + flags.infer_pay_to + ": " + key.error().to_string());
        config.infer_pay_to = *key;
    }
    auto price = learnchain::chain::parse_amount(flags.infer_price);
    if (!price) fail("--infer-price " + flags.infer_price + ": " + price.error().to_string());
    config.infer_price = *price;
    return config;
}

void setup_logging(const std::filesystem::path& datadir) {
    auto console = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
    // 3 files of 16 MiB: enough history to debug a sync, bounded disk.
    auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        (datadir / log_file_name).string(), 16 * 1024 * 1024, 3);
    auto logger =
        std::make_shared<spdlog::logger>("learnchain", spdlog::sinks_init_list{console, file});
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace

int main(int argc, char** argv) {
    // Blocked before any thread starts, so every thread inherits the mask and the main thread
    // alone takes SIGINT/SIGTERM through sigtimedwait.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    Flags flags;
    flags.datadir = datadir_from_argv(argc, argv).string();
    CLI::App app{
        "learnchaind: the learnchain full node (proof-of-learning blockchain).\n"
        "Every option may also be set in the config file as key=value (e.g. rpc-port=19445)."};
    app.config_formatter(std::make_shared<CLI::ConfigINI>());
    app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error
    app.set_config("--conf", (std::filesystem::path(flags.datadir) / config_file_name).string(),
                   "INI config file with the same keys as the flags (default "
                   "<datadir>/learnchain.conf; ignored when absent)");
    app.add_option(
        "--datadir", flags.datadir,
        "Data directory: chain store, keys, cookie, peers, logs (default ~/.learnchain)");
    app.add_option("--genesis", flags.genesis,
                   "Genesis JSON file (default: the devnet genesis built into this binary)")
        ->check(CLI::ExistingFile);
    app.add_option("--bind", flags.bind, "P2P listen address")->capture_default_str();
    app.add_option("--port", flags.port, "P2P port (0: any free port)")->capture_default_str();
    app.add_option("--rpc-bind", flags.rpc_bind, "JSON-RPC listen address (loopback by default)")
        ->capture_default_str();
    app.add_option("--rpc-port", flags.rpc_port, "JSON-RPC port (0: any free port)")
        ->capture_default_str();
    app.add_option("--rpc-threads", flags.rpc_threads, "JSON-RPC server threads")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    app.add_option("--explorer-port", flags.explorer_port,
                   "Serve the explorer web page on the RPC address at this port (0: any free "
                   "port; off when not given)");
    app.add_option("--connect", flags.connect,
                   "Peer to keep connected, HOST:PORT (repeatable; reconnects with backoff)");
    app.add_flag("--mine", flags.mine, "Train and propose blocks");
    app.add_option("--mine-to", flags.mine_to,
                   "Forward mining rewards to this lrn1... address (the node's own mining key, "
                   "<datadir>/miner.key, earns and signs; default: keep them there)");
    app.add_option("--device", flags.device, "Training and verification device: cpu or cuda:N")
        ->capture_default_str();
    app.add_option("--verify", flags.verify,
                   "Recomputation of received work: all, sample (one micro-batch per "
                   "certificate), or sample:S (S per certificate; a miner draws at least 2)")
        ->capture_default_str();
    app.add_option("--block-timeout", flags.block_timeout,
                   "Seconds a peer has to deliver a requested block before another peer is "
                   "asked and it is scored as stalling")
        ->capture_default_str();
    app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error or off")
        ->capture_default_str();
    app.add_option("--threads", flags.threads,
                   "libtorch threads for training and verification (0: libtorch's default)")
        ->capture_default_str();
    app.add_option("--infer-price", flags.infer_price,
                   "Price of one generated byte of paid inference, in coins (8 decimals)")
        ->capture_default_str();
    app.add_option("--infer-pay-to", flags.infer_pay_to,
                   "lrn1... address that inference payments go to (default: the mining key)");
    app.set_version_flag("--version", std::string(learnchain::node::node_version));

    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {  // --help, --version
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        (void)app.exit(e);
        return 1;
    }

    NodeConfig config = to_config(flags);
    if (auto level = learnchain::log::set_level(flags.log_level); !level)
        fail("--log-level " + flags.log_level + ": " + level.error().to_string());
    {
        std::error_code ec;
        std::filesystem::create_directories(config.datadir, ec);
        if (ec) fail("--datadir " + config.datadir.string() + ": " + ec.message());
    }
    setup_logging(config.datadir);
    if (auto level = learnchain::log::set_level(flags.log_level); !level) return 1;

    learnchain::log::info("learnchaind {} starting, datadir {}", learnchain::node::node_version,
                          config.datadir.string());
    auto node = Node::open(std::move(config));
    if (!node) {
        learnchain::log::error("startup failed: {}", node.error().to_string());
        spdlog::shutdown();
        fail(node.error().to_string());
    }
    if (auto started = (*node)->start(); !started) {
        learnchain::log::error("startup failed: {}", started.error().to_string());
        (*node)->stop();
        spdlog::shutdown();
        fail(started.error().to_string());
    }

    const timespec poll{0, 200'000'000};
    while (!(*node)->stop_requested()) {
        const int signal = sigtimedwait(&signals, nullptr, &poll);
        if (signal > 0) {
            learnchain::log::info("received {}, shutting down", strsignal(signal));
            break;
        }
    }
    if ((*node)->stop_requested()) learnchain::log::info("stop requested over RPC, shutting down");
    (*node)->stop();
    spdlog::shutdown();
    return 0;
}
