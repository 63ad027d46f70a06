// The daemon's command line: clear errors and exit code 1, a second node on a datadir refused.
#include <string>
#include <vector>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, BadFlagsAndDatadirLock) {
    const auto run = [&](std::vector<std::string> args) {
        return run_daemon(std::move(args), root_ / "cli.out");
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
}  // namespace learnchain::functional
