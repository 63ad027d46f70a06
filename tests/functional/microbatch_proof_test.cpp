// getmicrobatchproof: a node hands out one micro-batch of a mined certificate as evidence that
// checks alone (signed header, leaves, Merkle path) and matches the block it came from.
#include <learnchain/chain/block.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/verify.hpp>

#include "functional/framework.hpp"

namespace learnchain::functional {
namespace {

TEST_F(Functional, AMicroBatchProofIsCheckableAloneAndMatchesItsBlock) {
    Daemon& m = daemon("m");
    m.start({"--mine"});
    ASSERT_TRUE(eventually([&] { return m.height() >= 1; }, 30s));
    ASSERT_TRUE(m.call("setmining", json::array({false})));
    const std::string hash = m.must("getblockhash", json::array({1})).get<std::string>();
    const json block = m.must("getblock", json::array({hash}));
    const auto raw = chain::from_hex(m.must("getblock", json::array({hash, 0})).get<std::string>());
    ASSERT_TRUE(raw.ok());
    const chain::Block decoded = chain::decode<chain::Block>(*raw).value();
    const std::vector<std::uint8_t>& certificate = decoded.work_items.at(0).certificate;

    const auto& params = genesis_.learning;
    const auto plan = consensus::UnitPlan::create(
                          consensus::ModelLayout::from_config(params.model).value(), params)
                          .value();
    for (std::uint32_t b = 0; b < params.micro_batches; ++b) {
        const json proof = m.must("getmicrobatchproof", json::array({hash, 0, b}));
        EXPECT_EQ(proof["certificate_root"], block["certificates"][0]["root"]);
        const auto bytes = chain::from_hex(proof["evidence"].get<std::string>()).value();
        EXPECT_EQ(bytes.size(), proof["bytes"].get<std::size_t>());
        EXPECT_LE(bytes.size(), chain::micro_batch_evidence_size(params));
        const auto evidence = consensus::decode_micro_batch_evidence(bytes).value();
        EXPECT_EQ(evidence.micro_batch, b);
        const auto checked = consensus::check_micro_batch_evidence(evidence, plan, params);
        EXPECT_TRUE(checked.ok()) << checked.error().to_string();
        // Its header is the block's certificate's own first bytes.
        const auto header = consensus::encode_certificate_header(evidence.header);
        EXPECT_TRUE(std::equal(header.begin(), header.end(), certificate.begin()));
    }

    const auto reason = [&](const json& args) {
        auto result = m.call("getmicrobatchproof", args);
        return result.ok() ? std::string("ok") : result.error().reason;
    };
    EXPECT_EQ(reason(json::array({hash, 7, 0})), "rpc-invalid-params");
    EXPECT_EQ(reason(json::array({hash, 0, params.micro_batches})), "rpc-invalid-params");
    EXPECT_EQ(reason(json::array({std::string(64, 'a'), 0, 0})), "block-not-found");
    EXPECT_EQ(reason(json::array({hash})), "rpc-invalid-params");
}

}  // namespace
}  // namespace learnchain::functional
