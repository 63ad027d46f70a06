// A node that overcharges: the wallet pays only within the ceilings its user set, and signs
// nothing otherwise, so a greedy or hostile node gets nothing; within raised ceilings it pays,
// and what it signed is in its history.
#include <fstream>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/wallet/cli.hpp>

#include "functional/framework.hpp"
#include "support/cli_run.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, AnOverchargingNodeIsRefusedBeforeAnythingIsSigned) {
    Daemon& node = daemon("expensive");
    node.start({"--infer-price=100"});  // 100 coins a byte: 800 for 8 bytes
    const auto passphrase = root_ / "pass.txt";
    std::ofstream(passphrase) << "hunter2\n";
    const auto wallet = [&](std::vector<std::string> args) {
        std::vector<std::string> all = {"--datadir",         node.datadir().string(),
                                        "--wallet",          (root_ / "wallet.json").string(),
                                        "--rpc-port",        std::to_string(node.rpc_port()),
                                        "--passphrase-file", passphrase.string()};
        all.insert(all.end(), args.begin(), args.end());
        return learnchain::testing::run_captured(wallet::run_cli, all);
    };
    const auto imported =
        wallet({"import", chain::to_hex(funded_key().bytes()), "--scrypt-n", "1024"});
    ASSERT_EQ(imported.code, 0) << imported.err;

    const auto refused = wallet({"infer", "12+34=", "--max-tokens", "8"});
    EXPECT_EQ(refused.code, 1);
    EXPECT_NE(refused.err.find("wallet-price-too-high"), std::string::npos) << refused.err;
    EXPECT_EQ(node.must("getmempoolinfo")["size"].get<std::uint64_t>(), 0u);
    const auto history = wallet({"history"}).out;
    EXPECT_NE(history.find("no transactions"), std::string::npos) << history;

    const auto paid =
        wallet({"infer", "12+34=", "--max-tokens", "8", "--max-price", "100", "--max-pay", "801"});
    EXPECT_EQ(paid.code, 0) << paid.err;
    EXPECT_EQ(node.must("getmempoolinfo")["size"].get<std::uint64_t>(), 1u);
    const auto history_again = wallet({"history"}).out;
    EXPECT_EQ(history_again.find("no transactions"), std::string::npos) << history_again;
}

}  // namespace
}  // namespace learnchain::functional
