// The wallet CLI: amount and URL parsing, help, and every command end to end against a real
// in-process RPC server over a test node (ChainStore + Mempool + the inference service).
#include <fstream>

#include <learnchain/chain/address.hpp>
#include <learnchain/wallet/cli.hpp>
#include <learnchain/wallet/history.hpp>
#include <learnchain/wallet/node_client.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "node/inference_fixture.hpp"
#include "support/cli_run.hpp"

namespace learnchain::wallet {
namespace {

using node::testing::node_key;
using node::testing::test_key;
using ::testing::HasSubstr;

TEST(CliAmount, ParsesCoinsWithoutFloatingPoint) {
    EXPECT_EQ(parse_cli_amount("1.5", false).value(), 150'000'000u);
    EXPECT_EQ(parse_cli_amount("0.1", false).value(), 10'000'000u);
    EXPECT_EQ(parse_cli_amount("0.00000001", false).value(), 1u);
    EXPECT_EQ(parse_cli_amount("12", false).value(), 1'200'000'000u);
    EXPECT_EQ(parse_cli_amount("0", true).value(), 0u);
    EXPECT_EQ(parse_cli_amount("0", false).error().reason, "wallet-zero-amount");
    EXPECT_EQ(parse_cli_amount("1.123456789", false).error().reason, "bad-amount-too-precise");
    EXPECT_EQ(parse_cli_amount("-1", false).error().reason, "bad-amount-format");
    EXPECT_EQ(parse_cli_amount("1e3", false).error().reason, "bad-amount-format");
    EXPECT_EQ(parse_cli_amount(" 1", false).error().reason, "bad-amount-format");
    EXPECT_EQ(parse_cli_amount("184467440737.09551616", false).error().reason,
              "bad-amount-overflow");
}

TEST(CliUrl, ParsesHostAndPort) {
    using P = std::pair<std::string, std::uint16_t>;
    EXPECT_EQ(parse_rpc_url("127.0.0.1", 9).value(), P("127.0.0.1", 9));
    EXPECT_EQ(parse_rpc_url("http://localhost:8000/", 9).value(), P("localhost", 8000));
    EXPECT_EQ(parse_rpc_url("[::1]:7", 9).value(), P("::1", 7));
    EXPECT_EQ(parse_rpc_url("host:0", 9).error().reason, "wallet-bad-rpc-url");
    EXPECT_EQ(parse_rpc_url("https://host", 9).error().reason, "wallet-bad-rpc-url");
    EXPECT_EQ(parse_rpc_url("host:8/wallet", 9).error().reason, "wallet-bad-rpc-url");
}

using learnchain::testing::CliRun;

CliRun run(const std::vector<std::string>& args) {
    return learnchain::testing::run_captured(run_cli, args);
}

TEST(CliHelp, EveryCommandHasHelp) {
    const auto top = run({"--help"});
    EXPECT_EQ(top.code, 0);
    EXPECT_THAT(top.out, HasSubstr("infer"));
    for (const char* command :
         {"create", "import", "export", "address", "balance", "send", "history", "infer"}) {
        const auto r = run({command, "--help"});
        EXPECT_EQ(r.code, 0) << command;
        EXPECT_THAT(r.out, HasSubstr("Usage")) << command;
    }
    EXPECT_NE(run({}).code, 0);
    EXPECT_NE(run({"frobnicate"}).code, 0);
}

TEST(CliOptions, GlobalOptionsGoBeforeOrAfterTheCommand) {
    const auto dir = node::testing::fresh_dir("cli_option_order");
    const auto wallet = (dir / "wallet.json").string();
    const auto pass = (dir / "pass.txt").string();
    std::ofstream(pass) << "hunter2\n";
    const auto created = run({"create", "--scrypt-n", "1024", "--wallet", wallet,
                              "--passphrase-file", pass, "--datadir", dir.string()});
    ASSERT_EQ(created.code, 0) << created.err;
    const auto after = run({"address", "--wallet", wallet});
    const auto before = run({"--wallet", wallet, "address"});
    EXPECT_EQ(after.code, 0) << after.err;
    EXPECT_EQ(after.out, before.out);
    EXPECT_THAT(after.out, HasSubstr("lrn1"));
    std::filesystem::remove_all(dir);
}

class WalletCliTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = node::testing::fresh_dir(
            std::string("cli_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
        node_ = std::make_unique<node::testing::TestNode>(dir_);
        const Status started = node_->start_rpc();
        ASSERT_TRUE(started.ok()) << started.error().to_string();
        passphrase_file_ = dir_ / "pass.txt";
        std::ofstream(passphrase_file_) << "hunter2\n";
    }
    void TearDown() override {
        node_.reset();
        std::filesystem::remove_all(dir_);
    }

    // A command with the connection and wallet options every call needs.
    CliRun wallet(std::vector<std::string> args, const std::string& pass_file = {}) {
        std::vector<std::string> all = {
            "--datadir",         node_->datadir().string(),
            "--wallet",          (dir_ / "wallet.json").string(),
            "--rpc-port",        std::to_string(node_->port()),
            "--passphrase-file", pass_file.empty() ? passphrase_file_.string() : pass_file};
        all.insert(all.end(), args.begin(), args.end());
        return run(all);
    }

    void import_funded_key() {
        const auto r = wallet({"import", chain::to_hex(test_key(1).bytes()), "--scrypt-n", "1024"});
        ASSERT_EQ(r.code, 0) << r.err;
        ASSERT_EQ(r.out, chain::encode_address(test_key(1).public_key()) + "\n");
    }

    std::filesystem::path dir_;
    std::filesystem::path passphrase_file_;
    std::unique_ptr<node::testing::TestNode> node_;
};

TEST_F(WalletCliTest, CreateAddressExport) {
    const auto created = wallet({"create", "--scrypt-n", "1024"});
    ASSERT_EQ(created.code, 0) << created.err;
    const std::string address = created.out.substr(0, created.out.size() - 1);
    EXPECT_TRUE(chain::decode_address(address).ok());
    EXPECT_EQ(wallet({"address"}).out, created.out);
    const auto exported = wallet({"export"});
    ASSERT_EQ(exported.code, 0);
    auto key = chain::SecretKey::from_hex(exported.out.substr(0, 64));
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(chain::encode_address(key->public_key()), address);
    EXPECT_THAT(wallet({"create"}).err, HasSubstr("wallet-exists"));

    const auto wrong_file = dir_ / "wrong.txt";
    std::ofstream(wrong_file) << "not it\n";
    const auto wrong = wallet({"export"}, wrong_file.string());
    EXPECT_EQ(wrong.code, 1);
    EXPECT_THAT(wrong.err, HasSubstr("error: wallet-wrong-passphrase"));
    EXPECT_TRUE(wrong.out.empty());
}

TEST_F(WalletCliTest, ImportFromFileAndEnvironmentPassphrase) {
    const auto key_file = dir_ / "key.txt";
    std::ofstream(key_file) << chain::to_hex(test_key(2).bytes()) << "\n";
    ::setenv("LEARNCHAIN_WALLET_PASSPHRASE", "from-env", 1);
    const auto r = run({"--wallet", (dir_ / "w2.json").string(), "import", "--key-file",
                        key_file.string(), "--scrypt-n", "1024"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, chain::encode_address(test_key(2).public_key()) + "\n");
    const auto exported = run({"--wallet", (dir_ / "w2.json").string(), "export"});
    ::unsetenv("LEARNCHAIN_WALLET_PASSPHRASE");
    EXPECT_EQ(exported.out, chain::to_hex(test_key(2).bytes()) + "\n");
    EXPECT_THAT(wallet({"import", "zz"}).err, HasSubstr("error: "));
}

TEST_F(WalletCliTest, BalanceSendHistoryInfer) {
    import_funded_key();
    auto balance = wallet({"balance"});
    ASSERT_EQ(balance.code, 0) << balance.err;
    EXPECT_THAT(balance.out, HasSubstr("balance  1000.00000000"));
    EXPECT_THAT(balance.out, HasSubstr("immature 0.00000000"));  // an allocation is mature
    EXPECT_THAT(balance.out, HasSubstr("nonce    0"));

    const std::string to = chain::encode_address(test_key(3).public_key());
    EXPECT_THAT(wallet({"send", to, "1.123456789"}).err, HasSubstr("bad-amount-too-precise"));
    EXPECT_THAT(wallet({"send", to, "abc"}).err, HasSubstr("bad-amount-format"));
    EXPECT_THAT(wallet({"send", "lrn1nope", "1"}).err, HasSubstr("error: "));

    const auto sent = wallet({"send", to, "1.5", "--fee", "0.0001"});
    ASSERT_EQ(sent.code, 0) << sent.err;
    auto txid = chain::Hash256::from_hex(sent.out.substr(0, 64));
    ASSERT_TRUE(txid.ok());
    EXPECT_TRUE(node_->mempool().contains(*txid));
    EXPECT_THAT(wallet({"balance"}).out, HasSubstr("pending  1 transaction(s)"));

    auto history = wallet({"history"});
    ASSERT_EQ(history.code, 0) << history.err;
    EXPECT_THAT(history.out, HasSubstr(txid->hex()));
    EXPECT_THAT(history.out, HasSubstr("amount 1.50000000  fee 0.00010000  nonce 0  memo none"));
    EXPECT_THAT(history.out, HasSubstr("status pending"));

    // A second payment chains on the pending one (next_nonce), this one for inference.
    const auto inferred = wallet({"infer", "12+34=", "--max-tokens", "8", "--seed", "7"});
    ASSERT_EQ(inferred.code, 0) << inferred.err;
    EXPECT_EQ(inferred.out.size(), 8u + 1u);
    EXPECT_THAT(inferred.err, HasSubstr("paying 0.00008000 + fee 0.00001000"));
    EXPECT_EQ(node_->mempool().size(), 2u);

    node_->mine();
    history = wallet({"history"});
    EXPECT_THAT(history.out, HasSubstr("status confirmed (height 1)"));
    EXPECT_THAT(history.out, HasSubstr("memo inference"));
    balance = wallet({"balance"});
    // 1000 - 1.5 - 0.0001 - 0.00008 - 0.00001
    EXPECT_THAT(balance.out, HasSubstr("balance  998.49981000"));
    EXPECT_THAT(balance.out, HasSubstr("nonce    2"));
    EXPECT_EQ(node_->store().account(node_key().public_key()).balance, 8000u);

    // The same request and seed, on the same model, gives the same text.
    const auto again = wallet({"infer", "12+34=", "--max-tokens", "8", "--seed", "7"});
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(again.out, inferred.out);
}

TEST_F(WalletCliTest, InferErrorsComeFromTheNode) {
    import_funded_key();
    const auto too_long = wallet({"infer", std::string(100, 'x'), "--max-tokens", "1"});
    EXPECT_EQ(too_long.code, 1);
    EXPECT_THAT(too_long.err, HasSubstr("infer-prompt-too-long"));
    EXPECT_THAT(wallet({"infer", "1+1=", "--max-tokens", "200"}).err,
                HasSubstr("infer-bad-params"));
    EXPECT_THAT(wallet({"infer", "1+1=", "--temperature", "9"}).err, HasSubstr("infer-bad-params"));
    EXPECT_EQ(node_->mempool().size(), 0u);  // nothing was paid
    // Each payment was signed, so each is in the history, with the node's refusal.
    const auto history = wallet({"history"}).out;
    EXPECT_THAT(history, HasSubstr("outcome refused: infer-prompt-too-long"));
    EXPECT_THAT(history, HasSubstr("outcome refused: infer-bad-params: max_tokens"));
    EXPECT_THAT(history, HasSubstr("outcome refused: infer-bad-params: temperature"));
}

TEST_F(WalletCliTest, UnreachableNodeIsAClearError) {
    import_funded_key();
    const auto r = run({"--wallet", (dir_ / "wallet.json").string(), "--passphrase-file",
                        passphrase_file_.string(), "--rpc-url", "http://127.0.0.1:1", "--rpc-user",
                        "u", "--rpc-password", "p", "balance"});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("rpc-connect-failed"));
}

// The node names the price; the wallet pays it only within the user's ceilings, and signs
// nothing otherwise.
TEST(WalletCliCeilings, APriceAboveTheCeilingsIsRefusedBeforeAnythingIsSigned) {
    const auto dir = node::testing::fresh_dir("cli_ceiling");
    node::testing::TestNode expensive(dir, /*price=*/100 * chain::coin);  // 100 coins a byte
    ASSERT_TRUE(expensive.start_rpc().ok());
    const auto pass = dir / "pass.txt";
    std::ofstream(pass) << "hunter2\n";
    const auto wallet = [&](std::vector<std::string> args) {
        std::vector<std::string> all = {"--datadir",         expensive.datadir().string(),
                                        "--wallet",          (dir / "wallet.json").string(),
                                        "--rpc-port",        std::to_string(expensive.port()),
                                        "--passphrase-file", pass.string()};
        all.insert(all.end(), args.begin(), args.end());
        return run(all);
    };
    ASSERT_EQ(wallet({"import", chain::to_hex(test_key(1).bytes()), "--scrypt-n", "1024"}).code, 0);

    auto refused = wallet({"infer", "12+34=", "--max-tokens", "8"});
    EXPECT_EQ(refused.code, 1);
    EXPECT_THAT(refused.err, HasSubstr("wallet-price-too-high"));
    EXPECT_THAT(refused.err, HasSubstr("--max-price"));
    // A per-byte ceiling that allows it, but not the total.
    refused = wallet({"infer", "12+34=", "--max-tokens", "8", "--max-price", "100"});
    EXPECT_EQ(refused.code, 1);
    EXPECT_THAT(refused.err, HasSubstr("--max-pay"));
    EXPECT_EQ(expensive.mempool().size(), 0u);
    EXPECT_THAT(wallet({"history"}).out, HasSubstr("no transactions"));
    // Both raised: paid.
    const auto paid =
        wallet({"infer", "12+34=", "--max-tokens", "8", "--max-price", "100", "--max-pay", "801"});
    EXPECT_EQ(paid.code, 0) << paid.err;
    EXPECT_EQ(expensive.mempool().size(), 1u);
    std::filesystem::remove_all(dir);
}

// The wallet records the chain it first met and refuses a node of another.
TEST_F(WalletCliTest, ANodeOfAnotherChainIsRefused) {
    import_funded_key();
    const auto first = wallet({"balance"});
    ASSERT_EQ(first.code, 0) << first.err;
    EXPECT_THAT(first.err, HasSubstr("wallet bound to chain"));
    const auto record = dir_ / "wallet.json.network.json";
    ASSERT_TRUE(std::filesystem::exists(record));
    // The same wallet pointed at another chain's node (its record altered to play that role).
    std::ofstream(record) << R"({"chain_id": 4242, "genesis_hash": ")" << std::string(64, 'a')
                          << "\"}\n";
    for (const auto& command : std::vector<std::vector<std::string>>{
             {"balance"},
             {"send", chain::encode_address(test_key(3).public_key()), "1"},
             {"infer", "1+1=", "--max-tokens", "1"}}) {
        const auto r = wallet(command);
        EXPECT_EQ(r.code, 1) << command[0];
        EXPECT_THAT(r.err, HasSubstr("wallet-wrong-chain")) << command[0];
    }
    EXPECT_EQ(node_->mempool().size(), 0u);
}

// An answer lost after the node took the payment: the payment is in the history as unknown,
// and asking again sends that same payment, which the node recognises, instead of a second.
TEST_F(WalletCliTest, ARetryAfterALostAnswerPaysOnce) {
    import_funded_key();
    node_->lose_answers = 1;
    const auto lost = wallet({"infer", "12+34=", "--max-tokens", "4"});
    EXPECT_EQ(lost.code, 1);
    EXPECT_THAT(lost.err, HasSubstr("rpc-timeout"));
    ASSERT_EQ(node_->mempool().size(), 1u);  // the node took the payment
    EXPECT_THAT(wallet({"history"}).out, HasSubstr("outcome unknown: rpc-timeout"));

    const auto again = wallet({"infer", "12+34=", "--max-tokens", "4"});
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_THAT(again.err, HasSubstr("sending again the payment"));
    EXPECT_EQ(again.out.size(), 4u + 1u);
    EXPECT_EQ(node_->mempool().size(), 1u);  // still one payment
    const auto history = wallet({"history"}).out;
    EXPECT_THAT(history, HasSubstr("outcome text received"));
    // A request that got its text is settled: the next one pays anew.
    const auto next = wallet({"infer", "12+34=", "--max-tokens", "4"});
    ASSERT_EQ(next.code, 0) << next.err;
    EXPECT_EQ(node_->mempool().size(), 2u);
}

}  // namespace
}  // namespace learnchain::wallet
