// Multi-process tests: real learnchaind processes on loopback, each with a temporary datadir
// and free ports, driven over JSON-RPC with the cookie (and, for the hostile peer, a RawPeer).
//
// The chain is genesis/test.json (the tiny model) with two fields changed in a copy written to
// the test's directory: retarget_window 100000 and max_future_time 86400. With the shipped
// values (W = 4, 1 s blocks, 10 s future limit) a loopback miner makes blocks far faster than
// 1 s: block times (median-time-past + 1) outrun the 10 s limit, and D climbs to its cap of four
// contributions (max_per_worker 4 x 128 tokens) within 8 blocks, so every block would need a
// miner's full allowance. Fixed D and a lax clock keep the scenarios about the node.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/genesis.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/chain/transaction.hpp>
#include <learnchain/node/messages.hpp>
#include <learnchain/node/net.hpp>
#include <learnchain/rpc/client.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace learnchain::node {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
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

template <class F>
bool eventually(F&& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = 100ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(poll);
    }
    return done();
}

std::string tail_of(const fs::path& path, std::size_t lines) {
    std::ifstream in(path);
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
        out += all[i] + "\n";
    return out;
}

// One learnchaind child process.
class Daemon {
public:
    Daemon(std::string name, fs::path root, fs::path genesis)
        : name_(std::move(name)),
          datadir_(root / name_),
          genesis_(std::move(genesis)),
          port_(free_port()),
          rpc_port_(free_port()) {}
    ~Daemon() { kill(SIGKILL); }

    void start(const std::vector<std::string>& extra) {
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
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        const std::string out = (datadir_.parent_path() / (name_ + ".out")).string();
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                         0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        const int rc = posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ASSERT_EQ(rc, 0) << "posix_spawn " << args[0];
        client_.reset();
        ASSERT_TRUE(eventually([&] { return call("getblockcount").ok() || !alive(); }, 60s));
        ASSERT_TRUE(alive()) << name_ << " exited at start:\n" << log_tail();
    }

    bool alive() {
        if (pid_ < 0) return false;
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_status_ = status;
            pid_ = -1;
            return false;
        }
        return true;
    }

    void kill(int signal) {
        if (pid_ < 0) return;
        ::kill(pid_, signal);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        exit_status_ = status;
        pid_ = -1;
        client_.reset();
    }

    // SIGTERM, then the exit status (a clean shutdown exits 0).
    int terminate() {
        if (pid_ < 0) return -1;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        client_.reset();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    Result<json> call(std::string_view method, const json& params = json::array()) {
        if (!client_) {
            rpc::ClientOptions options;
            options.port = rpc_port_;
            options.cookie_path = datadir_ / ".cookie";
            options.timeout = 30s;
            client_ = std::make_unique<rpc::RpcClient>(options);
        }
        return client_->call(method, params);
    }

    json must(std::string_view method, const json& params = json::array()) {
        auto result = call(method, params);
        EXPECT_TRUE(result.ok()) << name_ << " " << method << ": "
                                 << (result ? std::string() : result.error().to_string());
        return result ? *result : json();
    }

    std::uint64_t height() {
        auto result = call("getblockcount");
        return result ? result->get<std::uint64_t>() : 0;
    }
    std::string tip() {
        auto result = call("getbestblockhash");
        return result ? result->get<std::string>() : std::string();
    }
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
    std::uint16_t port() const { return port_; }
    const std::string& name() const { return name_; }
    std::string log_tail() const { return tail_of(datadir_.parent_path() / (name_ + ".out"), 40); }

private:
    std::string name_;
    fs::path datadir_;
    fs::path genesis_;
    std::uint16_t port_;
    std::uint16_t rpc_port_;
    pid_t pid_ = -1;
    int exit_status_ = 0;
    std::unique_ptr<rpc::RpcClient> client_;
};

class Functional : public ::testing::Test {
protected:
    void SetUp() override {
        (void)log::set_level("warn");
        static std::mt19937_64 rng{std::random_device{}()};
        root_ = fs::temp_directory_path() / ("learnchain-functional-" + std::to_string(rng()));
        fs::create_directories(root_);
        std::ifstream in(fs::path(LEARNCHAIN_SOURCE_DIR) / chain::test_genesis_file);
        json genesis = json::parse(in);
        genesis["retarget_window"] = 100000;
        genesis["max_future_time"] = 86400;
        genesis_path_ = root_ / "genesis.json";
        std::ofstream(genesis_path_) << genesis.dump(2);
        auto parsed = chain::load_genesis(genesis_path_);
        ASSERT_TRUE(parsed) << parsed.error().to_string();
        genesis_ = *parsed;
    }

    void TearDown() override {
        if (HasFailure())
            for (auto& daemon : daemons_)
                std::cerr << "--- " << daemon->name() << " ---\n" << daemon->log_tail();
        daemons_.clear();  // SIGKILLs whatever still runs
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    Daemon& daemon(const std::string& name) {
        daemons_.push_back(std::make_unique<Daemon>(name, root_, genesis_path_));
        return *daemons_.back();
    }

    // Every daemon's tip equals the first one's.
    bool converged(std::initializer_list<Daemon*> nodes) {
        const std::string tip = (*nodes.begin())->tip();
        if (tip.empty()) return false;
        for (Daemon* node : nodes)
            if (node->tip() != tip) return false;
        return true;
    }

    fs::path root_;
    fs::path genesis_path_;
    chain::Genesis genesis_;
    std::vector<std::unique_ptr<Daemon>> daemons_;
};

std::string mining_address(Daemon& node) {
    return node.must("getmininginfo")["address"].get<std::string>();
}

// The test genesis funds the key with secret 1.
chain::SecretKey funded_key() {
    std::array<std::uint8_t, 32> bytes{};
    bytes[31] = 1;
    return *chain::SecretKey::from_bytes(bytes);
}

// 1) A mines, B and C sync from it with --verify all: all agree on tip and state root.
TEST_F(Functional, ThreeNodesSyncAndAgree) {
    // A also forwards its rewards (--mine-to) to a key of its operator's.
    const std::string payee = chain::encode_address(chain::SecretKey::generate().public_key());
    Daemon& a = daemon("a");
    a.start({"--mine", "--mine-to=" + payee});
    Daemon& b = daemon("b");
    b.start({"--connect=" + a.endpoint(), "--verify=all"});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint(), "--verify=all"});

    ASSERT_TRUE(eventually([&] { return a.height() >= 12; }, 60s)) << "A at " << a.height();
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, &b, &c});
        },
        60s))
        << "heights " << a.height() << " " << b.height() << " " << c.height();

    const json info_a = a.must("getblockchaininfo");
    for (Daemon* node : {&b, &c}) {
        const json info = node->must("getblockchaininfo");
        EXPECT_EQ(info["best_hash"], info_a["best_hash"]);
        EXPECT_EQ(info["state_root"], info_a["state_root"]);
        EXPECT_EQ(info["cumulative_work"], info_a["cumulative_work"]);
        EXPECT_FALSE(info["initial_block_download"].get<bool>());
    }
    EXPECT_EQ(a.must("getpeerinfo").size(), 2u);
    for (Daemon* node : {&a, &b, &c})
        EXPECT_GT(
            node->must("getaccount", json::array({payee}))["balance_units"].get<std::uint64_t>(),
            0u)
            << node->name();
    // B verified everything it connected.
    const json block = b.must("getblock", json::array({info_a["best_hash"], 1}));
    EXPECT_GE(block["certificates"].size(), 1u);
    EXPECT_EQ(block["certificates"][0]["worker"], mining_address(a));
    EXPECT_EQ(a.terminate(), 0);
}

// 2) A and B both mine: a block proposed by A carries B's certificates (B gossips its own
// contributions, A verifies and pools them), each block's reward is split by the work in it
// (consensus/PROTOCOL.md §L.6.6), and every node shows the same balances, which add up to one
// coin per block.
//
// D is four contributions here, so a miner's pool holds its first ones while the next is
// computed, and a peer's contribution that arrives meanwhile completes the block. The miners
// recompute a sample of the work they receive, as a miner racing for blocks would (C checks
// everything): under --verify all, B would spend as long checking A's block as A spends making
// the next one, and its contributions would always arrive a block late.
TEST_F(Functional, TwoMinersShareRewards) {
    {
        std::ifstream in(genesis_path_);
        json genesis = json::parse(in);
        genesis["initial_work"] = 4 * genesis_.initial_work;
        std::ofstream(genesis_path_) << genesis.dump(2);
    }
    Daemon& a = daemon("a");
    a.start({"--mine", "--verify=sample:0.25"});
    Daemon& b = daemon("b");
    b.start({"--mine", "--verify=sample:0.25", "--connect=" + a.endpoint()});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint(), "--connect=" + b.endpoint()});
    const std::string address_a = mining_address(a);
    const std::string address_b = mining_address(b);
    ASSERT_NE(address_a, address_b);
    const auto balance = [](Daemon& node, const std::string& address) {
        auto account = node.call("getaccount", json::array({address}));
        return account ? (*account)["balance_units"].get<std::uint64_t>() : 0;
    };
    const auto block_at = [&](std::uint64_t h) {
        return c.must("getblock", json::array({c.must("getblockhash", json::array({h})), 1}));
    };
    const auto workers = [](const json& block) {
        std::set<std::string> out;
        for (const auto& certificate : block["certificates"]) out.insert(certificate["worker"]);
        return out;
    };

    // Scanned on C, which only relays: a block there was proposed and accepted by the network.
    std::uint64_t scanned = 0;
    bool a_carried_b = false;
    ASSERT_TRUE(eventually(
        [&] {
            for (const std::uint64_t tip = c.height(); scanned < tip && !a_carried_b;) {
                const json block = block_at(++scanned);
                a_carried_b = block["proposer"] == address_a && workers(block).count(address_b);
            }
            return a_carried_b;
        },
        90s, 500ms))
        << "no block proposed by A with B's certificates in " << scanned << " blocks; A's miner "
        << a.must("getmininginfo").dump();
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(b.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, &b, &c});
        },
        60s))
        << "heights " << a.height() << " " << b.height() << " " << c.height();

    // The expected balances, from the main chain's certificates: each worker gets
    // floor(coin * tokens / total), the proposer the remainder (there are no fees).
    const std::uint64_t height = a.height();
    std::map<std::string, std::uint64_t> expected;
    std::uint64_t shared_blocks = 0, proposed_by_a_with_b = 0;
    for (std::uint64_t h = 1; h <= height; ++h) {
        const json block = block_at(h);
        std::map<std::string, std::uint64_t> tokens;
        std::uint64_t total = 0;
        for (const auto& certificate : block["certificates"]) {
            tokens[certificate["worker"]] += certificate["tokens"].get<std::uint64_t>();
            total += certificate["tokens"].get<std::uint64_t>();
        }
        ASSERT_GT(total, 0u);
        std::uint64_t paid = 0;
        for (const auto& [worker, t] : tokens) {
            const std::uint64_t share = chain::coin * t / total;  // small: no 128 bits needed
            expected[worker] += share;
            paid += share;
        }
        expected[block["proposer"]] += chain::coin - paid;
        if (tokens.size() > 1) ++shared_blocks;
        if (block["proposer"] == address_a && tokens.count(address_b)) ++proposed_by_a_with_b;
    }
    EXPECT_GE(proposed_by_a_with_b, 1u);  // the block found above stayed on the main chain
    EXPECT_GT(expected[address_a], 0u);
    EXPECT_GT(expected[address_b], 0u);
    EXPECT_EQ(expected[address_a] + expected[address_b], height * chain::coin);
    for (Daemon* node : {&a, &b, &c}) {
        EXPECT_EQ(balance(*node, address_a), expected[address_a]) << node->name();
        EXPECT_EQ(balance(*node, address_b), expected[address_b]) << node->name();
    }
    std::cerr << "height " << height << ": A earned " << chain::format_amount(expected[address_a])
              << ", B " << chain::format_amount(expected[address_b])
              << "; blocks with both miners' certificates: " << shared_blocks
              << ", proposed by A with B's: " << proposed_by_a_with_b << "\n";

    // Redirecting rewards at run time: a bad address changes nothing, a good one shows.
    auto refused = a.call("setmining", json::array({true, "lrn1notanaddress"}));
    ASSERT_FALSE(refused.ok());
    EXPECT_FALSE(a.must("getmininginfo")["mining"].get<bool>());
    EXPECT_FALSE(a.must("getmininginfo").contains("mine_to"));
    ASSERT_TRUE(a.call("setmining", json::array({false, address_b})));
    EXPECT_EQ(a.must("getmininginfo")["mine_to"], address_b);
}

// 3) A partition: A and B mine apart; once reconnected the lighter branch (B's) is abandoned
// and the transaction it confirmed goes back to B's mempool.
TEST_F(Functional, PartitionConvergesOnHeavierChain) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& b = daemon("b");
    b.start({"--mine"});

    ASSERT_TRUE(eventually([&] { return b.height() >= 3; }, 60s));
    chain::Transaction tx;
    tx.chain_id = genesis_.chain_id;
    tx.to = chain::SecretKey::generate().public_key();
    tx.amount = chain::coin;
    tx.fee = 1000;
    tx.nonce = 0;
    tx.sign(funded_key());
    const std::string txid = tx.txid().hex();
    const json sent = b.must("sendrawtransaction", json::array({chain::to_hex(chain::encode(tx))}));
    EXPECT_EQ(sent, txid);
    ASSERT_TRUE(eventually(
        [&] {
            auto found = b.call("gettransaction", json::array({txid}));
            return found && (*found)["confirmations"].get<std::uint64_t>() >= 1;
        },
        30s));
    ASSERT_TRUE(b.call("setmining", json::array({false})));
    const std::uint64_t b_height = b.height();
    ASSERT_TRUE(eventually([&] { return a.height() >= b_height + 5; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    const std::string a_tip = a.tip();

    ASSERT_TRUE(b.call("addnode", json::array({a.endpoint(), "add"})));
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, &b});
        },
        60s))
        << "A " << a.height() << " B " << b.height();
    EXPECT_EQ(b.tip(), a_tip);
    const json back = b.must("gettransaction", json::array({txid}));
    EXPECT_TRUE(back["in_mempool"].get<bool>());
    EXPECT_EQ(back["confirmations"], 0);
    EXPECT_EQ(b.must("getmempoolinfo")["size"], 1);
    // The funded key's balance is the allocation again on the winning chain.
    const json account = b.must("getaccount", json::array({chain::encode_address(tx.from)}));
    EXPECT_EQ(account["balance"], "1000.00000000");
    EXPECT_EQ(account["nonce"], 0);
    EXPECT_EQ(account["next_nonce"], 1);
}

// 4) A hostile peer: malformed frames, an oversized message, a wrong genesis and an invalid
// block. Each offender is dropped, the scoring ones banned, and the node keeps syncing.
TEST_F(Functional, HostilePeerIsBannedAndSyncContinues) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    Daemon& c = daemon("c");
    c.start({"--connect=" + a.endpoint()});
    ASSERT_TRUE(eventually([&] { return c.height() >= 3; }, 60s));

    const Endpoint target{"127.0.0.1", c.port()};
    const std::uint32_t magic = network_magic(genesis_.chain_id);
    auto genesis_hash =
        Hash256::from_hex(c.must("getblockhash", json::array({0})).get<std::string>());
    ASSERT_TRUE(genesis_hash);
    const auto version = [&](const Hash256& genesis, std::uint64_t nonce) {
        VersionMessage v;
        v.genesis_hash = genesis;
        v.nonce = nonce;
        v.user_agent = "/hostile/";
        return v;
    };

    // Malformed: a frame too short to hold an envelope, after the handshake.
    RawPeer garbage;
    ASSERT_TRUE(garbage.connect(target, "127.0.0.2"));
    ASSERT_TRUE(garbage.handshake(magic, version(*genesis_hash, 2), 5s));
    ASSERT_TRUE(garbage.send_bytes(std::vector<std::uint8_t>{1, 2, 3}));
    EXPECT_TRUE(garbage.closed_within(5s));

    // Oversized: before the handshake only 4 KiB frames are read.
    RawPeer oversized;
    ASSERT_TRUE(oversized.connect(target, "127.0.0.3"));
    (void)oversized.send_bytes(std::vector<std::uint8_t>(64 * 1024, 0));
    EXPECT_TRUE(oversized.closed_within(5s));

    // Wrong genesis: dropped without a score (it may just be another chain's node).
    RawPeer stranger;
    ASSERT_TRUE(stranger.connect(target, "127.0.0.4"));
    (void)stranger.handshake(magic, version(chain::sha256(std::string_view("other chain")), 4), 5s);
    EXPECT_TRUE(stranger.closed_within(5s));

    // An invalid block: A's block 1 with its time changed, so its signature no longer holds.
    const json hex = a.must("getblock", json::array({a.must("getblockhash", json::array({1})), 0}));
    auto bytes = chain::from_hex(hex.get<std::string>());
    ASSERT_TRUE(bytes);
    auto block = chain::decode<chain::Block>(*bytes);
    ASSERT_TRUE(block);
    block->header.time += 1;
    RawPeer liar;
    ASSERT_TRUE(liar.connect(target, "127.0.0.5"));
    ASSERT_TRUE(liar.handshake(magic, version(*genesis_hash, 5), 5s));
    ASSERT_TRUE(liar.send(magic, BlockMessage{*block}));
    EXPECT_TRUE(liar.closed_within(5s));

    std::set<std::string> banned;
    ASSERT_TRUE(eventually(
        [&] {
            banned.clear();
            for (const auto& entry : c.must("listbanned")) banned.insert(entry["address"]);
            return banned.size() >= 3;
        },
        10s));
    EXPECT_EQ(banned, (std::set<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.5"}));

    // A banned address cannot come back.
    RawPeer again;
    if (again.connect(target, "127.0.0.5")) {
        EXPECT_TRUE(again.closed_within(5s));
    }

    // C still follows A.
    const std::uint64_t before = c.height();
    ASSERT_TRUE(eventually([&] { return c.height() >= before + 3; }, 60s));
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    ASSERT_TRUE(eventually([&] { return converged({&a, &c}); }, 60s));
    EXPECT_EQ(c.must("getpeerinfo").size(), 1u);
}

// 5) A node SIGKILLed while syncing restarts on the same datadir and finishes the sync.
TEST_F(Functional, KilledMidSyncRestartsAndFinishes) {
    Daemon& a = daemon("a");
    a.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return a.height() >= 150; }, 120s)) << "A at " << a.height();
    ASSERT_TRUE(a.call("setmining", json::array({false})));
    const std::uint64_t target = a.height();

    Daemon& b = daemon("b");
    b.start({"--connect=" + a.endpoint(), "--verify=all"});
    std::uint64_t killed_at = 0;
    ASSERT_TRUE(eventually(
        [&] {
            killed_at = b.height();
            return killed_at >= 5;
        },
        60s, 10ms));
    b.kill(SIGKILL);
    EXPECT_LT(killed_at, target) << "B finished before it could be killed mid-sync";

    b.start({"--connect=" + a.endpoint(), "--verify=all"});
    EXPECT_GE(b.height(), killed_at);  // what was committed survived the kill
    ASSERT_TRUE(eventually(
        [&] {
            return converged({&a, &b});
        },
        90s))
        << "A " << a.height() << " B " << b.height();
    EXPECT_EQ(b.must("getblockchaininfo")["state_root"], a.must("getblockchaininfo")["state_root"]);
    EXPECT_EQ(b.terminate(), 0);
}

// The daemon's command line: clear errors and exit code 1, a second node on a datadir refused.
TEST_F(Functional, BadFlagsAndDatadirLock) {
    const auto run = [&](std::vector<std::string> args) {
        args.insert(args.begin(), LEARNCHAIN_DAEMON);
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        const std::string out = (root_ / "cli.out").string();
        posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        pid_t pid = -1;
        EXPECT_EQ(posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ), 0);
        posix_spawn_file_actions_destroy(&actions);
        int status = 0;
        ::waitpid(pid, &status, 0);
        std::ifstream in(out);
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, text);
    };
    const std::string datadir = "--datadir=" + (root_ / "cli").string();
    auto [code, text] = run({"--help"});
    EXPECT_EQ(code, 0);
    for (const char* flag :
         {"--datadir", "--genesis", "--port", "--rpc-port", "--rpc-bind", "--connect", "--mine",
          "--mine-to", "--device", "--verify", "--log-level", "--threads", "--conf",
          "--infer-price", "--infer-pay-to"})
        EXPECT_NE(text.find(flag), std::string::npos) << flag;
    std::tie(code, text) = run({datadir, "--no-such-flag"});
    EXPECT_EQ(code, 1) << text;
    std::tie(code, text) = run({datadir, "--verify=sometimes"});
    EXPECT_EQ(code, 1) << text;
    EXPECT_NE(text.find("verify-policy-invalid"), std::string::npos) << text;
    std::tie(code, text) = run({datadir, "--mine", "--mine-to=lrn1notanaddress"});
    EXPECT_EQ(code, 1) << text;
    std::tie(code, text) = run({datadir, "--infer-pay-to=lrn1notanaddress"});
    EXPECT_EQ(code, 1) << text;
    EXPECT_NE(text.find("--infer-pay-to"), std::string::npos) << text;
    std::tie(code, text) = run({datadir, "--connect=nowhere"});
    EXPECT_EQ(code, 1) << text;
    std::tie(code, text) = run({datadir, "--port=70000"});
    EXPECT_EQ(code, 1) << text;

    Daemon& a = daemon("locked");
    a.start({});
    std::tie(code, text) = run({"--datadir=" + (root_ / "locked").string(),
                                "--genesis=" + genesis_path_.string(), "--port=0", "--rpc-port=0"});
    EXPECT_EQ(code, 1) << text;
    EXPECT_NE(text.find("node-datadir-locked"), std::string::npos) << text;
    EXPECT_EQ(a.terminate(), 0);
}

}  // namespace
}  // namespace learnchain::node
