// A node that overcharges: the wallet pays only within the ceilings its user set, and signs
// nothing otherwise, so a greedy or hostile node gets nothing; within raised ceilings it pays,
// and what it signed is in its history.
#include <fstream>
#include <sstream>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/wallet/cli.hpp>

#include "functional/framework.hpp"

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
        std::ostringstream out, err;
        const int code = wallet::run_cli(all, out, err);
        return std::tuple{code, out.str(), err.str()};
    };
    const auto [imported, imported_out, imported_err] =
        wallet({"import", chain::to_hex(funded_key().bytes()), "--scrypt-n", "1024"});
    ASSERT_EQ(imported, 0) << imported_err;

    const auto [refused, refused_out, refused_err] =
        wallet({"infer", "12+34=", "--max-tokens", "8"});
    EXPECT_EQ(refused, 1);
    EXPECT_NE(refused_err.find("wallet-price-too-high"), std::string::npos) << refused_err;
    EXPECT_EQ(node.must("getmempoolinfo")["size"].get<std::uint64_t>(), 0u);
    const auto [listed, history, listed_err] = wallet({"history"});
    EXPECT_NE(history.find("no transactions"), std::string::npos) << history;

    const auto [paid, answer, paid_err] =
        wallet({"infer", "12+34=", "--max-tokens", "8", "--max-price", "100", "--max-pay", "801"});
    EXPECT_EQ(paid, 0) << paid_err;
    EXPECT_EQ(node.must("getmempoolinfo")["size"].get<std::uint64_t>(), 1u);
    const auto [listed_again, history_again, listed_again_err] = wallet({"history"});
    EXPECT_EQ(history_again.find("no transactions"), std::string::npos) << history_again;
}

}  // namespace
}  // namespace learnchain::functional
