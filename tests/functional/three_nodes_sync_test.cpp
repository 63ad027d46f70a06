// A mines, B and C sync from it with --verify all: all agree on tip and state root.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <learnchain/chain/address.hpp>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, ThreeNodesSyncAndAgree) {
    // A also forwards its rewards (--mine-to) to a key of its operator's, as they mature.
    edit_genesis({{"challenge_window", 4}, {"reward_maturity", 4}});
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
    // The tip model as a Hugging Face checkpoint, written by the node; never over another.
    const std::string dir = (root_ / "export").string();
    const json exported = a.must("exportmodel", json::array({dir}));
    EXPECT_EQ(exported["height"], a.height());
    EXPECT_GT(std::filesystem::file_size(root_ / "export" / "model.safetensors"),
              4 * exported["parameters"].get<std::uint64_t>());
    EXPECT_TRUE(std::filesystem::exists(root_ / "export" / "config.json"));
    const auto again = a.call("exportmodel", json::array({dir}));
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.error().to_string().find("export-exists"), std::string::npos);
    EXPECT_FALSE(a.call("exportmodel", json::array({"relative/dir"})).ok());
    EXPECT_TRUE(std::filesystem::exists(root_ / "export" / "tokenizer.json"));
    // An older model, from the undo records: the same bytes from two nodes' own records, and
    // not the tip's; one older than the records kept (2W = 8 blocks) is refused.
    const auto read_bytes = [](const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::uint64_t older = a.height() - 1;
    for (Daemon* node : {&a, &b}) {
        const std::string old_dir = (root_ / ("export-old-" + node->name())).string();
        const json old = node->must("exportmodel", json::array({old_dir, older}));
        EXPECT_EQ(old["height"], older);
        EXPECT_EQ(old["hash"], a.must("getblockhash", json::array({older})));
    }
    const std::string at_older = read_bytes(root_ / "export-old-a" / "model.safetensors");
    EXPECT_EQ(at_older, read_bytes(root_ / "export-old-b" / "model.safetensors"));
    EXPECT_NE(at_older, read_bytes(root_ / "export" / "model.safetensors"));
    EXPECT_FALSE(a.call("exportmodel", json::array({dir + "-future", a.height() + 1})).ok());
    ASSERT_GT(a.height(), 9u);
    const auto pruned = a.call("exportmodel", json::array({dir + "-pruned", 1}));
    ASSERT_FALSE(pruned.ok());
    EXPECT_NE(pruned.error().to_string().find("export-model-not-kept"), std::string::npos);
    EXPECT_EQ(a.terminate(), 0);
}

}  // namespace
}  // namespace learnchain::functional
