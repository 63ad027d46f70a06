// The node's inference service against a real ChainStore and Mempool: every refusal reason,
// and a paid inference whose payment lands in the mempool and then in a block.
#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/training/generate.hpp>
#include <learnchain/node/inference.hpp>
#include <learnchain/rpc/dispatcher.hpp>

#include <gtest/gtest.h>

#include "node/inference_fixture.hpp"

namespace learnchain::node {

using chain::inference_memo;
using chain::inference_request_hash;
using chain::InferenceRequest;
namespace {

using testing::node_key;
using testing::test_key;

class InferenceTest : public ::testing::Test {
protected:
    InferenceTest()
        : dir_(testing::fresh_dir(name())),
          owned_(std::make_unique<testing::TestNode>(dir_)),
          node_(*owned_) {}
    ~InferenceTest() override {
        owned_.reset();  // closes the store before its files go
        std::filesystem::remove_all(dir_);
    }

    static std::string name() {
        return std::string("infer_") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
    }

    InferenceRequest request(std::string prompt = "12+34=", std::uint32_t max_tokens = 8) const {
        InferenceRequest r;
        r.prompt = std::move(prompt);
        r.max_tokens = max_tokens;
        r.temperature = 0.7;
        r.top_k = 20;
        r.seed = 42;
        r.chain_id = node_.genesis().chain_id;
        return r;
    }

    // A correct payment for `r` from test_key(from).
    chain::Transaction pay(const InferenceRequest& r, std::uint8_t from = 1,
                           std::uint64_t nonce = 0) const {
        return make_transfer(test_key(from), node_key().public_key(),
                             node::default_price_per_token * r.max_tokens, 1000, nonce,
                             node_.genesis().chain_id, inference_memo(r));
    }

    std::string reason(const InferenceRequest& r, const chain::Transaction& tx) {
        auto outcome = node_.service().infer(r, tx);
        return outcome ? "ok" : outcome.error().reason;
    }

    std::filesystem::path dir_;
    std::unique_ptr<testing::TestNode> owned_;
    testing::TestNode& node_;
};

TEST_F(InferenceTest, PaidInferenceLandsInMempoolThenInABlock) {
    const auto r = request();
    const auto tx = pay(r);
    auto outcome = node_.service().infer(r, tx);
    ASSERT_TRUE(outcome.ok()) << outcome.error().to_string();
    EXPECT_EQ(outcome->bytes.size(), 8u);
    EXPECT_EQ(outcome->finish_reason, "max-tokens");
    EXPECT_EQ(outcome->txid, tx.txid());
    EXPECT_EQ(outcome->request_hash, inference_request_hash(r));
    EXPECT_EQ(outcome->model.height, 0u);
    EXPECT_TRUE(node_.mempool().contains(tx.txid()));

    // Exactly what the generator produces for those parameters on the tip model.
    auto generator = training::Generator::create(node_.weights()).value();
    auto direct = generator.generate(r.prompt, {r.max_tokens, r.temperature, r.top_k, r.seed});
    ASSERT_TRUE(direct.ok());
    EXPECT_EQ(outcome->bytes, direct->text());

    EXPECT_FALSE(outcome->replayed);

    // The same payment sent again (its answer lost) gets the answer it bought, not a second
    // generation.
    auto again = node_.service().infer(r, tx);
    ASSERT_TRUE(again.ok()) << again.error().to_string();
    EXPECT_TRUE(again->replayed);
    EXPECT_EQ(again->bytes, outcome->bytes);
    EXPECT_EQ(again->model.block, outcome->model.block);
    EXPECT_EQ(node_.mempool().size(), 1u);

    node_.mine();
    EXPECT_FALSE(node_.mempool().contains(tx.txid()));
    const auto paid = node_.store().account(node_key().public_key());
    EXPECT_EQ(paid.balance, node::default_price_per_token * r.max_tokens);
    // Mined, the payment still answers with what it bought, from the model it bought it on.
    auto mined = node_.service().infer(r, tx);
    ASSERT_TRUE(mined.ok()) << mined.error().to_string();
    EXPECT_TRUE(mined->replayed);
    EXPECT_EQ(mined->model.height, 0u);
    // A payment for this request that the node never admitted, reusing the spent nonce, is
    // stale.
    auto stale = make_transfer(test_key(1), node_key().public_key(),
                               node::default_price_per_token * r.max_tokens, 1001, 0,
                               node_.genesis().chain_id, inference_memo(r));
    EXPECT_EQ(reason(r, stale), "bad-tx-nonce-too-low");
}

TEST_F(InferenceTest, RefusesPaymentTooSmall) {
    const auto r = request();
    auto tx = make_transfer(test_key(1), node_key().public_key(),
                            node::default_price_per_token * r.max_tokens - 1, 1000, 0,
                            node_.genesis().chain_id, inference_memo(r));
    EXPECT_EQ(reason(r, tx), "infer-payment-too-small");
    EXPECT_EQ(node_.mempool().size(), 0u);
}

TEST_F(InferenceTest, RefusesWrongMemo) {
    const auto r = request();
    auto other = r;
    other.seed = 43;  // a payment for another request
    EXPECT_EQ(reason(r, pay(other)), "infer-wrong-memo");
    auto other_chain = r;
    other_chain.chain_id += 1;
    EXPECT_EQ(reason(r, pay(other_chain)), "infer-wrong-memo");
    auto empty = make_transfer(test_key(1), node_key().public_key(), 1'000'000, 1000, 0,
                               node_.genesis().chain_id);
    EXPECT_EQ(reason(r, empty), "infer-wrong-memo");
    EXPECT_EQ(node_.mempool().size(), 0u);
}

TEST_F(InferenceTest, RefusesWrongRecipient) {
    const auto r = request();
    auto tx = make_transfer(test_key(1), test_key(3).public_key(), 1'000'000, 1000, 0,
                            node_.genesis().chain_id, inference_memo(r));
    EXPECT_EQ(reason(r, tx), "infer-wrong-recipient");
}

TEST_F(InferenceTest, RefusesBadSignature) {
    const auto r = request();
    auto tx = pay(r);
    tx.amount += 1;  // still pays enough, but no longer what was signed
    EXPECT_EQ(reason(r, tx), "bad-tx-signature");
    EXPECT_EQ(node_.mempool().size(), 0u);
}

TEST_F(InferenceTest, RefusesStaleNonce) {
    // test_key(1) spends nonce 0 in a block; a payment still using nonce 0 is stale.
    ASSERT_TRUE(node_.mempool()
                    .add(make_transfer(test_key(1), test_key(2).public_key(), 5, 1000, 0,
                                       node_.genesis().chain_id),
                         node_.store().state())
                    .ok());
    node_.mine();
    EXPECT_EQ(reason(request(), pay(request(), 1, 0)), "bad-tx-nonce-too-low");
    EXPECT_EQ(reason(request(), pay(request(), 1, 1)), "ok");
}

TEST_F(InferenceTest, RefusesInsufficientBalance) {
    // test_key(30) holds nothing.
    EXPECT_EQ(reason(request(), pay(request(), 30)), "bad-tx-insufficient-balance");
}

TEST_F(InferenceTest, RefusesPromptTooLong) {
    const auto context = node_.genesis().learning.model.context;
    const auto r = request(std::string(context, 'a'), 1);
    EXPECT_EQ(reason(r, pay(r)), "infer-prompt-too-long");
    EXPECT_EQ(node_.service().limits().max_prompt_bytes, context - 1);
}

TEST_F(InferenceTest, RefusesBadParams) {
    auto check = [&](InferenceRequest r) { return reason(r, pay(r)); };
    auto r = request();
    r.max_tokens = 0;
    EXPECT_EQ(check(r), "infer-bad-params");
    r = request("1+1=", node_.genesis().learning.model.context - 3);  // one byte too many
    EXPECT_EQ(check(r), "infer-bad-params");
    r = request();
    r.temperature = 2.5;
    EXPECT_EQ(check(r), "infer-bad-params");
    r.temperature = std::nan("");
    EXPECT_EQ(check(r), "infer-bad-params");
    r = request();
    r.top_k = 257;
    EXPECT_EQ(check(r), "infer-bad-params");
    r = request("");
    EXPECT_EQ(check(r), "infer-bad-params");
    EXPECT_EQ(node_.mempool().size(), 0u);
}

TEST_F(InferenceTest, FillsTheContextExactly) {
    const auto context = node_.genesis().learning.model.context;
    const auto r = request("7+8=", context - 4);
    auto outcome = node_.service().infer(r, pay(r));
    ASSERT_TRUE(outcome.ok()) << outcome.error().to_string();
    EXPECT_EQ(outcome->bytes.size(), context - 4);
}

TEST_F(InferenceTest, ReloadsTheModelOnlyWhenTheTipMoves) {
    ASSERT_TRUE(node_.service().infer(request(), pay(request(), 1, 0)).ok());
    ASSERT_TRUE(node_.service().infer(request(), pay(request(), 1, 1)).ok());
    EXPECT_EQ(node_.snapshots, 1);
    node_.mine();
    auto outcome = node_.service().infer(request(), pay(request(), 2, 0));
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(node_.snapshots, 2);
    EXPECT_EQ(outcome->model.height, 1u);
}

// The RPC surface, through the transport-free dispatcher.
class InferenceRpcTest : public InferenceTest {
protected:
    void SetUp() override {
        ASSERT_TRUE(node::register_inference_methods(dispatcher_, node_.service()).ok());
    }

    rpc::json call(const std::string& method, const rpc::json& params) {
        const rpc::json body = {
            {"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
        return rpc::json::parse(*dispatcher_.handle(body.dump()));
    }
    static std::string reason_of(const rpc::json& response) {
        return response.contains("error") ? response["error"]["data"]["reason"].get<std::string>()
                                          : "ok";
    }

    rpc::json infer_params(const InferenceRequest& r, const chain::Transaction& tx) {
        return {{"prompt", r.prompt},
                {"max_tokens", r.max_tokens},
                {"temperature", r.temperature},
                {"top_k", r.top_k},
                {"seed", r.seed},
                {"payment", chain::to_hex(chain::encode(tx))}};
    }

    rpc::Dispatcher dispatcher_;
};

TEST_F(InferenceRpcTest, InfoDescribesPriceModelAndLimits) {
    const rpc::json info = call("getinferenceinfo", rpc::json::array())["result"];
    EXPECT_EQ(info["price_per_token"]["units"], node::default_price_per_token);
    EXPECT_EQ(info["price_per_token"]["coins"], "0.00001000");
    EXPECT_EQ(info["payment_address"], chain::encode_address(node_key().public_key()));
    EXPECT_EQ(info["chain_id"], node_.genesis().chain_id);
    EXPECT_EQ(info["model_height"], 0);
    EXPECT_EQ(info["model_block"], node_.store().tip().hash.hex());
    EXPECT_EQ(info["context"], node_.genesis().learning.model.context);
    EXPECT_EQ(info["limits"]["max_prompt_bytes"], node_.genesis().learning.model.context - 1);
    EXPECT_EQ(info["limits"]["temperature"]["max"], 2.0);
    EXPECT_EQ(info["limits"]["top_k"]["max"], 256);
}

TEST_F(InferenceRpcTest, InferOverJson) {
    const auto r = request();
    const auto tx = pay(r);
    const rpc::json reply = call("infer", infer_params(r, tx));
    ASSERT_TRUE(reply.contains("result")) << reply.dump();
    EXPECT_EQ(reply["result"]["txid"], tx.txid().hex());
    EXPECT_EQ(reply["result"]["tokens"], 8);
    EXPECT_EQ(reply["result"]["text_hex"].get<std::string>().size(), 16u);
    EXPECT_TRUE(node_.mempool().contains(tx.txid()));
}

TEST_F(InferenceRpcTest, ParameterErrorsAreInvalidParams) {
    const auto r = request();
    auto params = infer_params(r, pay(r));
    params["max_tokens"] = -1;
    auto reply = call("infer", params);
    EXPECT_EQ(reason_of(reply), "infer-bad-params");
    EXPECT_EQ(reply["error"]["code"], rpc::code::invalid_params);

    params = infer_params(r, pay(r));
    params["colour"] = "blue";
    EXPECT_EQ(reason_of(call("infer", params)), "infer-bad-params");
    EXPECT_EQ(reason_of(call("infer", rpc::json::array({"12+34="}))), "infer-bad-params");

    params = infer_params(r, pay(r));
    params["payment"] = "zz";
    EXPECT_EQ(reason_of(call("infer", params)), "infer-bad-payment");
    params["payment"] = "00ff";
    EXPECT_EQ(reason_of(call("infer", params)), "infer-bad-payment");

    // A temperature sent as JSON is hashed by its bits: 0.7 on both sides is the same double.
    params = infer_params(r, pay(r));
    params["temperature"] = 0.70000000000000007;  // the next double up
    EXPECT_EQ(reason_of(call("infer", params)), "infer-wrong-memo");

    params = infer_params(r, pay(r));
    params["prompt"] = std::string(100, 'x');
    reply = call("infer", params);
    EXPECT_EQ(reason_of(reply), "infer-prompt-too-long");
    EXPECT_EQ(reply["error"]["code"], rpc::code::invalid_params);
}

}  // namespace
}  // namespace learnchain::node
