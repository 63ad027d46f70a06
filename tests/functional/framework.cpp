#include "functional/framework.hpp"

#include <fstream>
#include <iostream>
#include <random>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/log.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace learnchain::functional {

namespace fs = std::filesystem;

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        return 0;
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

namespace {

std::string tail_of(const fs::path& path, std::size_t lines) {
    std::ifstream in(path);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
        out += all[i] + "\n";
    return out;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& output, int flags) {
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& arg : copy) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | flags, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, copy[0].c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

}  // namespace

Daemon::Daemon(std::string name, fs::path root, fs::path genesis)
    : name_(std::move(name)),
      datadir_(root / name_),
      genesis_(std::move(genesis)),
      port_(free_port()),
      rpc_port_(free_port()) {}

Daemon::~Daemon() {
    kill(SIGKILL);
}

void Daemon::start(const std::vector<std::string>& extra) {
    ASSERT_LT(pid_, 0) << name_ << " already running";
    fs::create_directories(datadir_);
    std::vector<std::string> args{LEARNCHAIN_DAEMON,
                                  "--datadir=" + datadir_.string(),
                                  "--genesis=" + genesis_.string(),
                                  "--bind=127.0.0.1",
                                  "--port=" + std::to_string(port_),
                                  "--rpc-port=" + std::to_string(rpc_port_),
                                  "--threads=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = spawn(args, (datadir_.parent_path() / (name_ + ".out")).string(), O_APPEND);
    ASSERT_GT(pid_, 0) << "posix_spawn " << args[0];
    client_.reset();
    ASSERT_TRUE(eventually([&] { return call("getblockcount").ok() || !alive(); }, 60s, 100ms));
    ASSERT_TRUE(alive()) << name_ << " exited at start:\n" << log_tail();
}

bool Daemon::alive() {
    if (pid_ < 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = status;
        pid_ = -1;
        return false;
    }
    return true;
}

void Daemon::kill(int signal) {
    if (pid_ < 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_status_ = status;
    pid_ = -1;
    client_.reset();
}

int Daemon::terminate() {
    if (pid_ < 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    client_.reset();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result<json> Daemon::call(std::string_view method, const json& params) {
    if (!client_) {
        rpc::ClientOptions options;
        options.port = rpc_port_;
        options.cookie_path = datadir_ / ".cookie";
        options.timeout = 30s;
        client_ = std::make_unique<rpc::RpcClient>(options);
    }
    return client_->call(method, params);
}

json Daemon::must(std::string_view method, const json& params) {
    auto result = call(method, params);
    EXPECT_TRUE(result.ok()) << name_ << " " << method << ": "
                             << (result ? std::string() : result.error().to_string());
    return result ? *result : json();
}

std::uint64_t Daemon::height() {
    auto result = call("getblockcount");
    return result ? result->get<std::uint64_t>() : 0;
}

std::string Daemon::tip() {
    auto result = call("getbestblockhash");
    return result ? result->get<std::string>() : std::string();
}

std::string Daemon::log_tail() const {
    return tail_of(datadir_.parent_path() / (name_ + ".out"), 40);
}

std::uint64_t Daemon::rss_bytes() const {
    if (pid_ < 0) return 0;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) * 1024;  // kB
    return 0;
}

std::uint64_t Daemon::datadir_bytes() const {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(datadir_, ec))
        if (entry.is_regular_file(ec)) total += entry.file_size(ec);
    return total;
}

chain::Block Daemon::block(const std::string& hash) {
    const json hex = must("getblock", json::array({hash, 0}));
    auto bytes = chain::from_hex(hex.get<std::string>());
    EXPECT_TRUE(bytes) << name_ << " getblock " << hash;
    auto decoded =
        bytes ? chain::decode<chain::Block>(*bytes) : Result<chain::Block>(bytes.error());
    EXPECT_TRUE(decoded) << name_ << " getblock " << hash;
    return decoded ? *decoded : chain::Block{};
}

chain::Block Daemon::block_at(std::uint64_t height) {
    return block(must("getblockhash", json::array({height})).get<std::string>());
}

void Functional::SetUp() {
    (void)log::set_level("warn");
    static std::mt19937_64 rng{std::random_device{}()};
    root_ = fs::temp_directory_path() / ("learnchain-functional-" + std::to_string(rng()));
    fs::create_directories(root_);
    genesis_path_ = root_ / "genesis.json";
    fs::copy_file(fs::path(LEARNCHAIN_SOURCE_DIR) / chain::test_genesis_file, genesis_path_);
    edit_genesis({{"retarget_window", 100000}, {"max_future_time", 86400}});
}

void Functional::edit_genesis(const json& fields) {
    json genesis;
    {
        std::ifstream in(genesis_path_);
        genesis = json::parse(in);
    }
    genesis.merge_patch(fields);
    std::ofstream(genesis_path_) << genesis.dump(2);
    auto parsed = chain::load_genesis(genesis_path_);
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    genesis_ = *parsed;
}

void Functional::TearDown() {
    if (HasFailure())
        for (auto& daemon : daemons_)
            std::cerr << "--- " << daemon->name() << " ---\n" << daemon->log_tail();
    daemons_.clear();  // SIGKILLs whatever still runs
    std::error_code ec;
    fs::remove_all(root_, ec);
}

Daemon& Functional::daemon(const std::string& name) {
    daemons_.push_back(std::make_unique<Daemon>(name, root_, genesis_path_));
    return *daemons_.back();
}

bool Functional::converged(std::initializer_list<Daemon*> nodes) {
    const std::string tip = (*nodes.begin())->tip();
    if (tip.empty()) return false;
    for (Daemon* node : nodes)
        if (node->tip() != tip) return false;
    return true;
}

std::string mining_address(Daemon& node) {
    return node.must("getmininginfo")["address"].get<std::string>();
}

chain::SecretKey funded_key() {
    std::array<std::uint8_t, 32> bytes{};
    bytes[31] = 1;
    return *chain::SecretKey::from_bytes(bytes);
}

std::pair<int, std::string> run_daemon(std::vector<std::string> args, const fs::path& output) {
    args.insert(args.begin(), LEARNCHAIN_DAEMON);
    const pid_t pid = spawn(args, output.string(), O_TRUNC);
    EXPECT_GT(pid, 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::ifstream in(output);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

}  // namespace learnchain::functional
