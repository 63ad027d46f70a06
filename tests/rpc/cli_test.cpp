// learnchain-cli against a real RpcServer on loopback, with its cookie in a temporary datadir.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <learnchain/rpc/cli.hpp>
#include <learnchain/rpc/server.hpp>

#include <gtest/gtest.h>

#include "support/cli_run.hpp"

namespace learnchain::rpc {
namespace {

using nlohmann::json;

TEST(CliParams, JsonWhenItIsJsonElseAString) {
    EXPECT_EQ(parse_cli_value("3"), json(3));
    EXPECT_EQ(parse_cli_value("-1.5"), json(-1.5));
    EXPECT_EQ(parse_cli_value("true"), json(true));
    EXPECT_EQ(parse_cli_value("null"), json(nullptr));
    EXPECT_EQ(parse_cli_value("[1,\"a\"]"), json::parse("[1,\"a\"]"));
    EXPECT_EQ(parse_cli_value("{\"k\":1}"), json::parse("{\"k\":1}"));
    EXPECT_EQ(parse_cli_value("\"3\""), json("3"));  // a quoted number stays a string
    EXPECT_EQ(parse_cli_value("lrn1abc"), json("lrn1abc"));
    EXPECT_EQ(parse_cli_value("00ff"), json("00ff"));  // not JSON: a leading zero
    const std::string hash(64, '1');                   // digits, but no number is 64 long
    EXPECT_EQ(parse_cli_value(hash), json(hash));
    EXPECT_EQ(parse_cli_value("1.2.3"), json("1.2.3"));
    EXPECT_EQ(parse_cli_value(""), json(""));

    EXPECT_EQ(parse_cli_params({}), json::array());
    EXPECT_EQ(parse_cli_params({"abc", "2"}), json::parse("[\"abc\", 2]"));
    EXPECT_EQ(parse_cli_params({"height=2", "verbose=true"}),
              json::parse("{\"height\": 2, \"verbose\": true}"));
    // Mixed, or a value with '=' that is not NAME=: positional.
    EXPECT_EQ(parse_cli_params({"height=2", "x"}), json::parse("[\"height=2\", \"x\"]"));
    EXPECT_EQ(parse_cli_params({"a b=1"}), json::parse("[\"a b=1\"]"));
}

using learnchain::testing::CliRun;

class CliTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("learnchain_cli_" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override {
        if (server_) server_->stop();
        std::filesystem::remove_all(dir_);
    }

    void start(std::uint16_t port = 0) {
        ServerOptions options;
        options.port = port;
        options.datadir = dir_;
        server_ = std::make_unique<RpcServer>(options);
        ASSERT_TRUE(server_
                        ->register_method(
                            "echo", [](const json& params) -> Result<json> { return params; },
                            "echo ( value ... )\n  Answers its params.")
                        .ok());
        ASSERT_TRUE(server_
                        ->register_method(
                            "greet", [](const json&) -> Result<json> { return json("hello"); },
                            "greet\n  Says hello.")
                        .ok());
        ASSERT_TRUE(server_
                        ->register_method("fail",
                                          [](const json&) -> Result<json> {
                                              return make_error(ErrorKind::policy, "test-refused",
                                                                "as asked");
                                          })
                        .ok());
        ASSERT_TRUE(server_->start().ok());
        port_ = server_->port();
    }

    CliRun cli(std::vector<std::string> args, bool with_port = true) {
        std::vector<std::string> all = {"--datadir", dir_.string()};
        if (with_port) {
            all.push_back("--rpcport");
            all.push_back(std::to_string(port_));
        }
        all.insert(all.end(), args.begin(), args.end());
        return learnchain::testing::run_captured(run_rpc_cli, all);
    }

    std::filesystem::path dir_;
    std::unique_ptr<RpcServer> server_;
    std::uint16_t port_ = 0;
};

TEST_F(CliTest, CallsWithTheCookieAndPrintsTheResult) {
    start();
    auto r = cli({"echo", "abc", "2", "-3", "[1]"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out), json::parse("[\"abc\", 2, -3, [1]]"));
    r = cli({"echo", "height=7", "hash=00ab"});
    EXPECT_EQ(json::parse(r.out), json::parse("{\"height\": 7, \"hash\": \"00ab\"}"));
    r = cli({"greet"});
    EXPECT_EQ(r.out, "hello\n");  // a string as is, not quoted
}

TEST_F(CliTest, AnRpcErrorGoesToStderrWithItsReason) {
    start();
    auto r = cli({"fail"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("test-refused"), std::string::npos) << r.err;
    r = cli({"nosuchmethod"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("rpc-method-not-found"), std::string::npos) << r.err;
    r = cli({"echo", "x"}, /*with_port=*/false);  // the default port: nobody there
    EXPECT_EQ(r.code, 1);
    r = cli({});
    EXPECT_NE(r.code, 0);  // no method
}

TEST_F(CliTest, HelpListsEveryMethodAndExplainsOne) {
    start();
    auto r = cli({"help"});
    EXPECT_EQ(r.code, 0) << r.err;
    for (const char* line : {"echo ( value ... )", "greet", "fail", "help [command]"})
        EXPECT_NE(r.out.find(line), std::string::npos) << line << " in\n" << r.out;
    EXPECT_EQ(r.out.find("Answers its params"), std::string::npos);  // usage lines only
    r = cli({"help", "echo"});
    EXPECT_EQ(r.out, "echo ( value ... )\n  Answers its params.\n");
    r = cli({"help", "nosuchmethod"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("rpc-unknown-method"), std::string::npos) << r.err;
}

TEST_F(CliTest, ThePortComesFromTheConfigFile) {
    start();
    std::ofstream(dir_ / "learnchain.conf") << "# a node\nrpc-port = " << port_ << "\n";
    const auto r = cli({"greet"}, /*with_port=*/false);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "hello\n");
}

TEST_F(CliTest, RpcWaitWaitsForANodeThatIsStarting) {
    // A port nobody listens on yet; the server comes up on it a moment later.
    start();
    const std::uint16_t port = port_;
    server_->stop();
    server_.reset();
    std::thread later([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        start(port);
    });
    const auto r = cli({"--rpcwait", "--rpcwaittimeout", "20", "greet"});
    later.join();
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "hello\n");
    // Without --rpcwait, a node that is down (no listener, no cookie) is an error at once.
    server_->stop();
    server_.reset();
    const auto asked = std::chrono::steady_clock::now();
    const auto down = cli({"greet"});
    EXPECT_EQ(down.code, 1);
    EXPECT_NE(down.err.find("error: rpc-"), std::string::npos) << down.err;
    EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(5));
}

}  // namespace
}  // namespace learnchain::rpc
