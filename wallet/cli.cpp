#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/time.hpp>
#include <learnchain/wallet/cli.hpp>
#include <learnchain/wallet/history.hpp>
#include <learnchain/wallet/keystore.hpp>
#include <learnchain/wallet/node_client.hpp>

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

namespace learnchain::wallet {
namespace {

struct Options {
    std::string datadir;
    std::string wallet;
    std::string rpc_url = "127.0.0.1";
    std::uint16_t rpc_port = 0;
    std::string rpc_user;
    std::string rpc_password;
    std::string passphrase_file;
    unsigned rpc_timeout = 300;  // seconds; generation on a CPU node is slow

    std::string import_key;
    std::string import_file;
    std::string to;
    std::string amount;
    std::string fee;
    std::string memo;
    std::string prompt;
    std::uint32_t max_tokens = 0;  // 0: default (see cmd_infer)
    double temperature = 0.0;
    std::uint32_t top_k = 0;
    std::uint64_t seed = 0;
    bool seed_given = false;
    std::uint64_t scrypt_n = ScryptParams{}.n;
};

std::string default_datadir() {
    const char* home = std::getenv("HOME");
    return std::string(home != nullptr ? home : ".") + "/.learnchain";
}

std::filesystem::path wallet_path(const Options& o) {
    return o.wallet.empty() ? std::filesystem::path(o.datadir) / "wallet.json"
                            : std::filesystem::path(o.wallet);
}

// Reads a line from the terminal with echo off; the terminal is restored whatever happens.
Result<std::string> prompt_tty(const std::string& prompt) {
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return make_error(ErrorKind::local, "wallet-no-passphrase",
                          "no terminal: use --passphrase-file or " + std::string(passphrase_env));
    termios saved{};
    const bool is_tty = ::tcgetattr(fd, &saved) == 0;
    if (is_tty) {
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        (void)::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!::write(fd, prompt.data(), prompt.size());
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
    if (is_tty) (void)::tcsetattr(fd, TCSAFLUSH, &saved);
    (void)!::write(fd, "\n", 1);
    ::close(fd);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

Result<std::string> passphrase(const Options& o, bool confirm) {
    if (!o.passphrase_file.empty()) return read_passphrase_file(o.passphrase_file);
    if (const char* env = std::getenv(std::string(passphrase_env).c_str())) return std::string(env);
    auto first = prompt_tty("Wallet passphrase: ");
    if (!first || !confirm) return first;
    auto second = prompt_tty("Repeat passphrase: ");
    if (!second) return second;
    if (*first != *second)
        return make_error(ErrorKind::policy, "wallet-passphrase-mismatch",
                          "the two passphrases differ");
    return first;
}

Result<chain::SecretKey> unlock(const Options& o) {
    auto keystore = load_keystore(wallet_path(o));
    if (!keystore) return keystore.error();
    auto pass = passphrase(o, /*confirm=*/false);
    if (!pass) return pass.error();
    return open_key(*keystore, *pass);
}

Result<std::string> own_address(const Options& o) {
    auto keystore = load_keystore(wallet_path(o));
    if (!keystore) return keystore.error();
    return keystore_address(*keystore);
}

Result<NodeClient*> connect(const Options& o, std::optional<NodeClient>& slot) {
    auto endpoint = parse_rpc_url(o.rpc_url, default_rpc_port);
    if (!endpoint) return endpoint.error();
    rpc::ClientOptions options;
    options.host = endpoint->first;
    options.port = o.rpc_port != 0 ? o.rpc_port : endpoint->second;
    options.timeout = std::chrono::seconds(o.rpc_timeout);
    if (!o.rpc_user.empty() || !o.rpc_password.empty())
        options.credentials = o.rpc_user + ":" + o.rpc_password;
    else
        options.cookie_path = std::filesystem::path(o.datadir) / ".cookie";
    slot.emplace(std::move(options));
    return &*slot;
}

std::string format_time(std::uint64_t seconds) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

// What a node's gettransaction answer says about a transaction, in one word or two.
std::string describe_status(const Result<rpc::json>& reply) {
    if (!reply) {
        const auto& reason = reply.error().reason;
        return reason.find("not-found") != std::string::npos ? "unknown" : "error " + reason;
    }
    const rpc::json& r = *reply;
    if (!r.is_object()) return "known";
    std::string status = r.value("status", std::string());
    if (auto h = r.find("height"); h != r.end() && h->is_number_unsigned()) {
        if (status.empty()) status = "confirmed";
        return status + " (height " + std::to_string(h->get<std::uint64_t>()) + ")";
    }
    if (!status.empty()) return status;
    if (r.value("in_mempool", false)) return "pending";
    return "known";
}

// Commands. Each returns an Error for the caller to print, or prints and succeeds.

Status cmd_create(const Options& o, std::ostream& out, const chain::SecretKey& key) {
    const auto path = wallet_path(o);
    std::error_code ec;
    if (std::filesystem::exists(path, ec))
        return make_error(ErrorKind::policy, "wallet-exists", path.string() + " already exists");
    auto pass = passphrase(o, /*confirm=*/true);
    if (!pass) return pass.error();
    if (pass->empty())
        return make_error(ErrorKind::malformed, "wallet-empty-passphrase", "choose a passphrase");
    LEARNCHAIN_TRY(create_keystore_file(path, key, *pass, ScryptParams{o.scrypt_n, 8, 1}));
    out << chain::encode_address(key.public_key()) << "\n";
    return ok_status();
}

Result<chain::SecretKey> key_to_import(const Options& o) {
    std::string hex = o.import_key;
    if (!o.import_file.empty()) {
        std::ifstream in(o.import_file);
        if (!in)
            return make_error(ErrorKind::local, "wallet-io-error", "cannot open " + o.import_file);
        std::getline(in, hex);
    }
    while (!hex.empty() && (hex.back() == '\r' || hex.back() == ' ')) hex.pop_back();
    if (hex.empty())
        return make_error(ErrorKind::local, "wallet-no-key",
                          "give a secret key (hex) or --key-file");
    return chain::SecretKey::from_hex(hex);
}

Status cmd_balance(const Options& o, std::ostream& out) {
    auto address = own_address(o);
    if (!address) return address.error();
    std::optional<NodeClient> slot;
    auto node = connect(o, slot);
    if (!node) return node.error();
    auto account = (*node)->account(*address);
    if (!account) return account.error();
    out << "address  " << *address << "\n"
        << "balance  " << chain::format_amount(account->balance) << "\n"
        << "nonce    " << account->nonce << "\n";
    if (account->next_nonce != account->nonce)
        out << "pending  " << account->next_nonce - account->nonce << " transaction(s)\n";
    return ok_status();
}

// The fee from --fee (coins) or the default.
Result<chain::Amount> fee_of(const Options& o) {
    if (o.fee.empty()) return default_fee;
    return parse_cli_amount(o.fee, /*allow_zero=*/true);
}

Status record(const Options& o, const chain::Transaction& tx, std::string memo_kind) {
    return append_history(history_path(wallet_path(o)),
                          HistoryEntry{tx.txid().hex(), chain::encode_address(tx.to), tx.amount,
                                       tx.fee, tx.nonce, std::move(memo_kind), unix_time()});
}

Status cmd_send(const Options& o, std::ostream& out, std::ostream& err) {
    auto to = chain::decode_address(o.to);
    if (!to) return to.error();
    auto amount = parse_cli_amount(o.amount, /*allow_zero=*/false);
    if (!amount) return amount.error();
    auto fee = fee_of(o);
    if (!fee) return fee.error();
    if (o.memo.size() > chain::max_memo_bytes)
        return make_error(ErrorKind::invalid, "bad-tx-memo-too-long",
                          "a memo holds at most 64 bytes");
    auto key = unlock(o);
    if (!key) return key.error();
    std::optional<NodeClient> slot;
    auto node = connect(o, slot);
    if (!node) return node.error();
    auto account = (*node)->account(chain::encode_address(key->public_key()));
    if (!account) return account.error();
    std::optional<std::uint32_t> chain_id = account->chain_id;
    if (!chain_id) {
        auto id = (*node)->chain_id();
        if (!id) return id.error();
        chain_id = *id;
    }
    const chain::Transaction tx =
        chain::make_transfer(*key, *to, *amount, *fee, account->next_nonce, *chain_id,
                             std::vector<std::uint8_t>(o.memo.begin(), o.memo.end()));
    auto txid = (*node)->send(tx);
    if (!txid) return txid.error();
    if (auto recorded = record(o, tx, o.memo.empty() ? "none" : "text"); !recorded)
        err << "warning: sent, but the history was not updated: " << recorded.error().to_string()
            << "\n";
    out << txid->hex() << "\n";
    return ok_status();
}

Status cmd_history(const Options& o, std::ostream& out) {
    auto entries = load_history(history_path(wallet_path(o)));
    if (!entries) return entries.error();
    if (entries->empty()) {
        out << "no transactions sent from this wallet\n";
        return ok_status();
    }
    std::optional<NodeClient> slot;
    auto node = connect(o, slot);
    for (const auto& e : *entries) {
        std::string status = "node unreachable";
        if (node) {
            auto txid = chain::Hash256::from_hex(e.txid);
            status = txid ? describe_status((*node)->transaction(*txid)) : "bad txid";
        }
        out << format_time(e.time) << "  " << e.txid << "\n"
            << "    to " << e.to << "  amount " << chain::format_amount(e.amount) << "  fee "
            << chain::format_amount(e.fee) << "  nonce " << e.nonce << "  memo " << e.memo_kind
            << "  status " << status << "\n";
    }
    return ok_status();
}

Status cmd_infer(const Options& o, std::ostream& out, std::ostream& err) {
    auto fee = fee_of(o);
    if (!fee) return fee.error();
    auto key = unlock(o);
    if (!key) return key.error();
    std::optional<NodeClient> slot;
    auto node = connect(o, slot);
    if (!node) return node.error();
    auto info = (*node)->inference_info();
    if (!info) return info.error();

    chain::InferenceRequest request;
    request.prompt = o.prompt;
    request.temperature = o.temperature;
    request.top_k = o.top_k;
    request.chain_id = info->chain_id;
    if (o.seed_given) {
        request.seed = o.seed;
    } else {
        std::array<std::uint8_t, 8> bytes{};
        chain::random_bytes(bytes);
        for (auto b : bytes) request.seed = request.seed << 8 | b;
    }
    // By default ask for what fits: a request the node cannot fill is refused, not charged.
    const std::uint32_t room = info->context > o.prompt.size()
                                   ? info->context - static_cast<std::uint32_t>(o.prompt.size())
                                   : 0;
    request.max_tokens =
        o.max_tokens != 0
            ? o.max_tokens
            : std::max<std::uint32_t>(1, std::min({default_infer_tokens, info->max_tokens, room}));
    const auto price = chain::checked_mul(info->price_per_token, request.max_tokens);
    if (!price) return make_error(ErrorKind::policy, "infer-payment-too-small", "price overflows");

    auto account = (*node)->account(chain::encode_address(key->public_key()));
    if (!account) return account.error();
    const chain::Transaction payment =
        chain::make_transfer(*key, info->payment_key, std::max<chain::Amount>(*price, 1), *fee,
                             account->next_nonce, info->chain_id, chain::inference_memo(request));
    err << "paying " << chain::format_amount(payment.amount) << " + fee "
        << chain::format_amount(payment.fee) << " to " << info->payment_address << " for "
        << request.max_tokens << " tokens (seed " << request.seed << ", request "
        << chain::inference_request_hash(request).hex() << ")\n";
    auto reply = (*node)->infer(request, payment);
    if (!reply) return reply.error();
    if (auto recorded = record(o, payment, "inference"); !recorded)
        err << "warning: paid, but the history was not updated: " << recorded.error().to_string()
            << "\n";
    out << reply->bytes << "\n";
    err << "txid " << reply->txid.hex() << ", " << reply->tokens << " tokens ("
        << reply->finish_reason << "), model at height " << reply->model_height << "\n";
    return ok_status();
}

}  // namespace

Result<chain::Amount> parse_cli_amount(std::string_view text, bool allow_zero) {
    auto amount = chain::parse_amount(text);
    if (!amount) return amount;
    if (*amount == 0 && !allow_zero)
        return make_error(ErrorKind::malformed, "wallet-zero-amount", "amount must be > 0");
    return amount;
}

Result<std::string> read_passphrase_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(ErrorKind::local, "wallet-io-error",
                          "cannot open passphrase file " + path);
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    Options o;
    o.datadir = default_datadir();
    CLI::App app("learnchain wallet: keys, payments and paid inference", "learnchain-wallet");
    app.set_help_all_flag("--help-all", "Help for every command");
    app.require_subcommand(1);
    app.add_option("--datadir", o.datadir, "Node data directory (RPC cookie, default wallet)")
        ->capture_default_str();
    app.add_option("--wallet", o.wallet, "Keystore file (default <datadir>/wallet.json)");
    app.add_option("--rpc-url", o.rpc_url, "Node RPC address: [http://]host[:port]")
        ->capture_default_str();
    app.add_option(
        "--rpc-port", o.rpc_port,
        "Node RPC port (overrides the URL's; default " + std::to_string(default_rpc_port) + ")");
    app.add_option("--rpc-user", o.rpc_user, "RPC user (instead of the cookie)");
    app.add_option("--rpc-password", o.rpc_password, "RPC password (instead of the cookie)");
    app.add_option("--rpc-timeout", o.rpc_timeout, "Seconds to wait for the node")
        ->capture_default_str();
    app.add_option("--passphrase-file", o.passphrase_file,
                   "Read the passphrase from this file's first line (else $" +
                       std::string(passphrase_env) + ", else the terminal)");

    auto* create = app.add_subcommand("create", "Create a new wallet with a fresh key");
    create->add_option("--scrypt-n", o.scrypt_n, "scrypt cost (power of two)")
        ->capture_default_str();
    auto* import = app.add_subcommand("import", "Create a wallet from an existing secret key");
    import->add_option("key", o.import_key, "Secret key, 64 hex characters");
    import->add_option("--key-file", o.import_file, "Read the secret key (hex) from a file");
    import->add_option("--scrypt-n", o.scrypt_n, "scrypt cost (power of two)")
        ->capture_default_str();
    auto* exp = app.add_subcommand("export", "Print the secret key (hex): keep it secret");
    auto* address = app.add_subcommand("address", "Print the wallet's address");
    auto* balance = app.add_subcommand("balance", "Ask the node for the balance and nonce");
    auto* send = app.add_subcommand("send", "Send coins: send ADDRESS AMOUNT");
    send->add_option("address", o.to, "Recipient (lrn1...)")->required();
    send->add_option("amount", o.amount, "Coins, up to 8 decimals (e.g. 1.5)")->required();
    send->add_option("--fee", o.fee, "Fee in coins (default 0.00001)");
    send->add_option("--memo", o.memo, "Up to 64 bytes of text");
    auto* history = app.add_subcommand("history", "Transactions sent from this wallet");
    auto* infer = app.add_subcommand("infer", "Pay the node for text from the chain's model");
    infer->add_option("prompt", o.prompt, "The prompt")->required();
    infer->add_option("--max-tokens", o.max_tokens,
                      "Bytes to generate; paid for in full (default: 16, or what fits)");
    infer->add_option("--temperature", o.temperature, "0 = greedy")->capture_default_str();
    infer->add_option("--top-k", o.top_k, "Sample among the k likeliest bytes (0 = all)")
        ->capture_default_str();
    auto* seed = infer->add_option("--seed", o.seed, "Sampler seed (default: random)");
    infer->add_option("--fee", o.fee, "Fee in coins (default 0.00001)");

    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        return app.exit(e, out, err);
    }

    o.seed_given = seed->count() > 0;
    Status status;
    if (create->parsed()) {
        status = cmd_create(o, out, chain::SecretKey::generate());
    } else if (import->parsed()) {
        auto key = key_to_import(o);
        status = key ? cmd_create(o, out, *key) : Status(key.error());
    } else if (exp->parsed()) {
        auto key = unlock(o);
        if (key) {
            err << "warning: anyone with this key can spend the wallet's coins\n";
            out << chain::to_hex(key->bytes()) << "\n";
        } else {
            status = key.error();
        }
    } else if (address->parsed()) {
        auto a = own_address(o);
        if (a)
            out << *a << "\n";
        else
            status = a.error();
    } else if (balance->parsed()) {
        status = cmd_balance(o, out);
    } else if (send->parsed()) {
        status = cmd_send(o, out, err);
    } else if (history->parsed()) {
        status = cmd_history(o, out);
    } else if (infer->parsed()) {
        status = cmd_infer(o, out, err);
    }
    if (!status) {
        err << "error: " << status.error().to_string() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace learnchain::wallet
