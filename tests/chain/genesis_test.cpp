#include <fstream>
#include <functional>
#include <sstream>

#include <learnchain/chain/address.hpp>
#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/genesis.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chain/chain_test_support.hpp"

namespace learnchain::chain {
namespace {

using json = nlohmann::json;
using testing::test_key;

std::string source_path(std::string_view relative) {
    return std::string(LEARNCHAIN_SOURCE_DIR) + "/" + std::string(relative);
}

json test_json() {
    std::ifstream file(source_path(test_genesis_file));
    std::stringstream text;
    text << file.rdbuf();
    return json::parse(text.str());
}

std::string reason_for(const json& j) {
    auto parsed = parse_genesis(j.dump());
    return parsed ? std::string("ok") : parsed.error().reason;
}

TEST(Genesis, LoadsShippedFiles) {
    auto devnet = load_genesis(source_path(devnet_genesis_file));
    ASSERT_TRUE(devnet) << devnet.error().to_string();
    EXPECT_EQ(devnet->name, "learnchain-devnet");
    EXPECT_EQ(devnet->target_block_time, 30u);
    EXPECT_EQ(devnet->learning.model.width, 128u);
    EXPECT_EQ(devnet->learning.model.layers, 4u);
    EXPECT_EQ(devnet->learning.model.heads, 4u);
    EXPECT_EQ(devnet->learning.model.context, 64u);
    EXPECT_EQ(devnet->learning.micro_batches, 64u);
    EXPECT_EQ(devnet->learning.micro_batch_size, 128u);
    ASSERT_EQ(devnet->allocations.size(), 1u);

    auto test = load_genesis(source_path(test_genesis_file));
    ASSERT_TRUE(test) << test.error().to_string();
    EXPECT_EQ(test->chain_id, 31337u);
    EXPECT_EQ(test->learning.model.width, 32u);
    EXPECT_EQ(test->learning.model.layers, 2u);
    EXPECT_EQ(test->learning.model.heads, 2u);
    EXPECT_EQ(test->learning.model.context, 32u);
    EXPECT_EQ(test->target_block_time, 1u);
    ASSERT_EQ(test->allocations.size(), 2u);
    // One allocation is given by pubkey, the other by address: both are the test keys.
    EXPECT_EQ(test->allocations[0].key, test_key(1).public_key());
    EXPECT_EQ(test->allocations[0].amount, 1000 * coin);
    EXPECT_EQ(test->allocations[1].key, test_key(2).public_key());
    EXPECT_EQ(test->allocations[1].amount, 500 * coin + coin / 2);

    EXPECT_NE(devnet->hash(), test->hash());
}

TEST(Genesis, HashIsTaggedHashOfCanonicalEncoding) {
    const Genesis g = testing::load_test_genesis();
    EXPECT_EQ(g.hash(), tagged_hash(tag::genesis, encode(g)));
    auto decoded = decode<Genesis>(encode(g));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->hash(), g.hash());
}

TEST(Genesis, HashCommitsToEveryField) {
    const Genesis base = testing::load_test_genesis();
    const std::vector<std::pair<const char*, std::function<void(Genesis&)>>> mutations = {
        {"name", [](Genesis& g) { g.name += "x"; }},
        {"chain_id", [](Genesis& g) { g.chain_id += 1; }},
        {"time", [](Genesis& g) { g.time += 1; }},
        {"allocation key", [](Genesis& g) { g.allocations[0].key = test_key(5).public_key(); }},
        {"allocation amount", [](Genesis& g) { g.allocations[0].amount += 1; }},
        {"allocation order", [](Genesis& g) { std::swap(g.allocations[0], g.allocations[1]); }},
        {"initial_work", [](Genesis& g) { g.initial_work += 1; }},
        {"target_block_time", [](Genesis& g) { g.target_block_time += 1; }},
        {"retarget_window", [](Genesis& g) { g.retarget_window += 1; }},
        {"max_future_time", [](Genesis& g) { g.max_future_time += 1; }},
        {"challenge_window", [](Genesis& g) { g.challenge_window += 1; }},
        {"reward_maturity", [](Genesis& g) { g.reward_maturity += 1; }},
        {"vocab_size", [](Genesis& g) { g.learning.model.vocab_size += 1; }},
        {"context", [](Genesis& g) { g.learning.model.context += 1; }},
        {"width", [](Genesis& g) { g.learning.model.width += 1; }},
        {"layers", [](Genesis& g) { g.learning.model.layers += 1; }},
        {"heads", [](Genesis& g) { g.learning.model.heads += 1; }},
        {"mlp_ratio", [](Genesis& g) { g.learning.model.mlp_ratio += 1; }},
        {"init_seed", [](Genesis& g) { g.learning.model.init_seed += 1; }},
        {"init_weights_hash",
         [](Genesis& g) { g.learning.model.init_weights_hash.bytes()[0] ^= 1; }},
        {"dataset kind", [](Genesis& g) { g.learning.dataset.kind = DatasetKind::file; }},
        {"dataset seed", [](Genesis& g) { g.learning.dataset.seed += 1; }},
        {"max_operand", [](Genesis& g) { g.learning.dataset.max_operand += 1; }},
        {"dataset path", [](Genesis& g) { g.learning.dataset.path.push_back('x'); }},
        {"dataset sha256", [](Genesis& g) { g.learning.dataset.sha256.bytes()[0] ^= 1; }},
        {"learning_rate", [](Genesis& g) { g.learning.optimizer.learning_rate *= 2; }},
        {"beta1", [](Genesis& g) { g.learning.optimizer.beta1 /= 2; }},
        {"beta2", [](Genesis& g) { g.learning.optimizer.beta2 /= 2; }},
        {"epsilon", [](Genesis& g) { g.learning.optimizer.epsilon *= 2; }},
        {"weight_decay", [](Genesis& g) { g.learning.optimizer.weight_decay += 0.5; }},
        {"sections", [](Genesis& g) { g.learning.sections += 1; }},
        {"head_groups", [](Genesis& g) { g.learning.head_groups += 1; }},
        {"sketch_rows", [](Genesis& g) { g.learning.sketch_rows += 1; }},
        {"tolerance", [](Genesis& g) { g.learning.tolerance *= 2; }},
        {"micro_batches", [](Genesis& g) { g.learning.micro_batches += 1; }},
        {"micro_batch_size", [](Genesis& g) { g.learning.micro_batch_size += 1; }},
        {"max_per_worker", [](Genesis& g) { g.learning.max_per_worker += 1; }},
        {"max_gradient_norm", [](Genesis& g) { g.learning.max_gradient_norm *= 2; }},
        {"fast_tolerance", [](Genesis& g) { g.learning.fast_tolerance /= 2; }},
        {"max_micro_batch_gradient_norm",
         [](Genesis& g) { g.learning.max_micro_batch_gradient_norm *= 2; }},
    };
    for (const auto& [name, mutate] : mutations) {
        Genesis g = base;
        mutate(g);
        EXPECT_NE(g.hash(), base.hash()) << name;
    }
}

TEST(Genesis, JsonRoundTrip) {
    for (auto file :
         {devnet_genesis_file, test_genesis_file, local_genesis_file, kjv_genesis_file}) {
        const Genesis g = load_genesis(source_path(file)).value();
        auto again = parse_genesis(genesis_to_json(g));
        ASSERT_TRUE(again) << again.error().to_string();
        EXPECT_EQ(*again, g);
        EXPECT_EQ(again->hash(), g.hash());
    }
}

TEST(Genesis, DecimalsParseToExactDoubles) {
    const Genesis g = testing::load_test_genesis();
    EXPECT_EQ(g.learning.optimizer.beta2, 0.999);
    EXPECT_EQ(g.learning.optimizer.epsilon, 1e-8);
    EXPECT_EQ(g.learning.tolerance, 0.001);
}

TEST(Genesis, StateAndGenesisBlock) {
    const Genesis g = testing::load_test_genesis();
    const AccountState state = genesis_state(g).value();
    EXPECT_EQ(state.size(), 2u);
    EXPECT_EQ(state.get(test_key(1).public_key()), (Account{1000 * coin, 0}));
    EXPECT_EQ(state.total_supply(), 1500 * coin + coin / 2);

    const Hash256 model_root = sha256(std::string_view("model"));
    const Block block = make_genesis_block(g, model_root).value();
    EXPECT_EQ(block.header.height, 0u);
    EXPECT_EQ(block.header.parent, g.hash());
    EXPECT_EQ(block.header.time, g.time);
    EXPECT_EQ(block.header.work, 0u);
    EXPECT_EQ(block.header.tx_root, Hash256{});
    EXPECT_EQ(block.header.work_root, Hash256{});
    EXPECT_EQ(block.header.state_root, state.state_root(model_root));
    EXPECT_TRUE(block.transactions.empty());
    EXPECT_TRUE(block.work_items.empty());
    EXPECT_NE(block.hash(), make_genesis_block(g, Hash256{}).value().hash());
}

TEST(Genesis, SyntaxAndStructureErrors) {
    EXPECT_EQ(parse_genesis("{").error().reason, "bad-genesis-json");
    EXPECT_EQ(parse_genesis("[]").error().reason, "bad-genesis-json");
    EXPECT_EQ(load_genesis("/nonexistent/genesis.json").error().reason, "bad-genesis-file");

    json j = test_json();
    j.erase("retarget_window");
    auto missing = parse_genesis(j.dump());
    EXPECT_EQ(missing.error().reason, "bad-genesis-missing-field");
    EXPECT_EQ(missing.error().detail, "retarget_window");

    j = test_json();
    j["learning"]["model"]["widht"] = 3;
    auto unknown = parse_genesis(j.dump());
    EXPECT_EQ(unknown.error().reason, "bad-genesis-unknown-field");
    EXPECT_EQ(unknown.error().detail, "learning.model.widht");

    j = test_json();
    j["learning"]["model"].erase("layers");
    EXPECT_EQ(parse_genesis(j.dump()).error().detail, "learning.model.layers");
}

TEST(Genesis, EveryFieldIsValidated) {
    struct Case {
        std::function<void(json&)> mutate;
        std::string reason;
    };
    const std::vector<Case> cases = {
        {[](json& j) { j["name"] = ""; }, "bad-genesis-name"},
        {[](json& j) { j["name"] = std::string(65, 'a'); }, "bad-genesis-name"},
        {[](json& j) { j["name"] = 5; }, "bad-genesis-name"},
        {[](json& j) { j["chain_id"] = 0; }, "bad-genesis-chain-id"},
        {[](json& j) { j["chain_id"] = 4294967296ull; }, "bad-genesis-chain-id"},
        {[](json& j) { j["chain_id"] = -1; }, "bad-genesis-chain-id"},
        {[](json& j) { j["chain_id"] = "1"; }, "bad-genesis-chain-id"},
        {[](json& j) { j["time"] = 0; }, "bad-genesis-time"},
        {[](json& j) { j["time"] = 1.5; }, "bad-genesis-time"},
        {[](json& j) { j["initial_work"] = 0; }, "bad-genesis-initial-work"},
        {[](json& j) { j["target_block_time"] = 0; }, "bad-genesis-target-block-time"},
        {[](json& j) { j["retarget_window"] = 1; }, "bad-genesis-retarget-window"},
        {[](json& j) { j["max_future_time"] = 0; }, "bad-genesis-max-future-time"},
        {[](json& j) { j["challenge_window"] = 0; }, "bad-genesis-challenge-window"},
        {[](json& j) { j["challenge_window"] = 10'001; }, "bad-genesis-challenge-window"},
        {[](json& j) { j["reward_maturity"] = 99; }, "bad-genesis-reward-maturity"},
        {[](json& j) { j["reward_maturity"] = 100'001; }, "bad-genesis-reward-maturity"},
        {[](json& j) { j["allocations"] = json::object(); }, "bad-genesis-allocations"},
        {[](json& j) { j["allocations"][0]["amount"] = 5; }, "bad-genesis-amount"},
        {[](json& j) { j["allocations"][0]["amount"] = "0"; }, "bad-genesis-amount"},
        {[](json& j) { j["allocations"][0]["amount"] = "1.000000001"; }, "bad-genesis-amount"},
        {[](json& j) { j["allocations"][0]["pubkey"] = "zz"; }, "bad-genesis-pubkey"},
        {[](json& j) { j["allocations"][0]["pubkey"] = std::string(64, '0'); },
         "bad-genesis-pubkey"},
        {[](json& j) { j["allocations"][1]["address"] = "lrn1qqqq"; }, "bad-genesis-address"},
        {[](json& j) { j["allocations"][0]["address"] = "x"; }, "bad-genesis-allocation"},
        {[](json& j) { j["allocations"][0].erase("pubkey"); }, "bad-genesis-allocation"},
        {[](json& j) { j["allocations"][0]["memo"] = "x"; }, "bad-genesis-unknown-field"},
        {[](json& j) { j["allocations"][1] = j["allocations"][0]; },
         "bad-genesis-duplicate-allocation"},
        {[](json& j) {
             j["allocations"][0]["amount"] = "184467440737";
             j["allocations"][1]["amount"] = "1";
         },
         "bad-genesis-allocations"},
        {[](json& j) { j["learning"]["model"]["vocab_size"] = 255; }, "bad-genesis-vocab-size"},
        {[](json& j) { j["learning"]["model"]["context"] = 1; }, "bad-genesis-context"},
        {[](json& j) { j["learning"]["model"]["width"] = 0; }, "bad-genesis-width"},
        {[](json& j) { j["learning"]["model"]["layers"] = 0; }, "bad-genesis-layers"},
        {[](json& j) { j["learning"]["model"]["heads"] = 3; }, "bad-genesis-heads"},
        {[](json& j) { j["learning"]["model"]["mlp_ratio"] = 0; }, "bad-genesis-mlp-ratio"},
        {[](json& j) { j["learning"]["model"]["init_seed"] = -3; }, "bad-genesis-init-seed"},
        {[](json& j) { j["learning"]["model"]["init_weights_hash"] = "abc"; },
         "bad-genesis-init-weights-hash"},
        {[](json& j) { j["learning"]["dataset"]["kind"] = "web"; }, "bad-genesis-kind"},
        {[](json& j) { j["learning"]["dataset"]["max_operand"] = 0; }, "bad-genesis-max-operand"},
        {[](json& j) { j["learning"]["dataset"]["path"] = "x"; }, "bad-genesis-unknown-field"},
        {[](json& j) {
             j["learning"]["dataset"] = {
                 {"kind", "file"}, {"path", ""}, {"sha256", std::string(64, 'a')}};
         },
         "bad-genesis-path"},
        {[](json& j) {
             j["learning"]["dataset"] = {
                 {"kind", "file"}, {"path", "c.txt"}, {"sha256", std::string(64, '0')}};
         },
         "bad-genesis-sha256"},
        {[](json& j) { j["learning"]["optimizer"]["learning_rate"] = 0; },
         "bad-genesis-learning-rate"},
        {[](json& j) { j["learning"]["optimizer"]["beta1"] = 1.0; }, "bad-genesis-beta1"},
        {[](json& j) { j["learning"]["optimizer"]["beta2"] = -0.1; }, "bad-genesis-beta2"},
        {[](json& j) { j["learning"]["optimizer"]["epsilon"] = 0; }, "bad-genesis-epsilon"},
        {[](json& j) { j["learning"]["optimizer"]["weight_decay"] = -1; },
         "bad-genesis-weight-decay"},
        {[](json& j) { j["learning"]["optimizer"]["weight_decay"] = "0"; },
         "bad-genesis-weight-decay"},
        {[](json& j) { j["learning"]["sections"] = 0; }, "bad-genesis-sections"},
        {[](json& j) { j["learning"]["head_groups"] = 3; }, "bad-genesis-head-groups"},
        {[](json& j) { j["learning"]["sketch_rows"] = 0; }, "bad-genesis-sketch-rows"},
        {[](json& j) { j["learning"]["sketch_rows"] = 18; }, "bad-genesis-sketch-rows"},
        {[](json& j) { j["learning"]["tolerance"] = 0; }, "bad-genesis-tolerance"},
        {[](json& j) { j["learning"]["tolerance"] = 1; }, "bad-genesis-tolerance"},
        {[](json& j) { j["learning"]["micro_batches"] = 0; }, "bad-genesis-micro-batches"},
        {[](json& j) { j["learning"]["micro_batch_size"] = 0; }, "bad-genesis-micro-batch-size"},
        {[](json& j) {  // tokens per contribution past 2^64 - 1
             j["learning"]["micro_batches"] = 4294967295u;
             j["learning"]["micro_batch_size"] = 4294967295u;
         },
         "bad-genesis-micro-batch-size"},
        {[](json& j) { j["learning"]["max_per_worker"] = 0; }, "bad-genesis-max-per-worker"},
        {[](json& j) { j["learning"]["max_gradient_norm"] = 0; }, "bad-genesis-max-gradient-norm"},
        {[](json& j) { j["learning"]["fast_tolerance"] = 0.002; }, "bad-genesis-fast-tolerance"},
        {[](json& j) { j["learning"]["max_micro_batch_gradient_norm"] = -1; },
         "bad-genesis-max-micro-batch-gradient-norm"},
    };
    ASSERT_EQ(reason_for(test_json()), "ok");
    for (std::size_t i = 0; i < cases.size(); ++i) {
        json j = test_json();
        cases[i].mutate(j);
        EXPECT_EQ(reason_for(j), cases[i].reason) << "case " << i << ": " << j.dump();
    }
}

// --- bounds on the required work -----------------------------------------------------------

TEST(GenesisWork, DevnetBoundsComputedByHand) {
    const Genesis devnet = load_genesis(source_path(devnet_genesis_file)).value();
    // M 64 x B 128 x context 64.
    EXPECT_EQ(tokens_per_contribution(devnet.learning), 524'288u);
    // 2VD + TD + 2D + L(12D^2 + 13D) with V 256, T 64, D 128, L 4 (PROTOCOL.md §T.2.1).
    EXPECT_EQ(model_parameter_count(devnet.learning.model), 867'072u);
    // 224 fixed + 4M losses + M x (2k + L G = 16 units) x (49 + 8m = 561-byte leaves).
    EXPECT_EQ(certificate_encoded_size(devnet.learning), 574'944u);
    // One micro-batch's evidence (a fraud proof's payload) stays within 16 KB on the devnet.
    EXPECT_EQ(micro_batch_evidence_size(devnet.learning), 9'400u);
    EXPECT_LE(micro_batch_evidence_size(devnet.learning), 16u * 1024);
    // 4 + certificate + 4 + 4 x 867,072 blob bytes.
    EXPECT_EQ(contribution_work_item_size(devnet.learning), 4'043'240u);
    // (67,108,864 - 252 header - 8 counts) / 4,043,240 = 16.6: the bytes bind, not
    // max_per_worker (64) or the work-item limit (256).
    EXPECT_EQ(max_worker_contributions_per_block(devnet.learning), 16u);
    const RequiredWorkBounds bounds = required_work_bounds(devnet);
    EXPECT_EQ(bounds.min, 524'288u);
    EXPECT_EQ(bounds.max, 8'388'608u);  // 16 x 524,288
    EXPECT_EQ(devnet.initial_work, bounds.min);
}

TEST(GenesisWork, CapIsTheSmallestOfItsThreeLimits) {
    Genesis g = load_genesis(source_path(test_genesis_file)).value();
    // Tiny model: 42,880 parameters, 173,884-byte work items, 385 fit into a block.
    EXPECT_EQ(contribution_work_item_size(g.learning), 173'884u);
    EXPECT_EQ(max_worker_contributions_per_block(g.learning), 4u);  // max_per_worker
    EXPECT_EQ(required_work_bounds(g).max, 4u * 128);
    g.learning.max_per_worker = 1000;
    EXPECT_EQ(max_worker_contributions_per_block(g.learning), max_block_work_items);
    g.learning.max_per_worker = 64;
    g.learning.micro_batches = 2000;  // 2000 x 6 leaves of 177 bytes: certificates of 2.1 MB
    EXPECT_EQ(
        max_worker_contributions_per_block(g.learning),
        (max_block_bytes - header_encoded_size - 8) / contribution_work_item_size(g.learning));
    EXPECT_EQ(max_worker_contributions_per_block(g.learning), 29u);

    const Genesis local = load_genesis(source_path(local_genesis_file)).value();
    EXPECT_EQ(required_work_bounds(local).min, 32'768u);
    EXPECT_EQ(required_work_bounds(local).max, 64u * 32'768);
}

TEST(GenesisWork, CapMatchesWhatFitsInABlock) {
    // Blocks made of the devnet's work items: the cap's count fits, one more does not.
    const Genesis devnet = load_genesis(source_path(devnet_genesis_file)).value();
    const WorkItem item{
        std::vector<std::uint8_t>(certificate_encoded_size(devnet.learning)),
        std::vector<std::uint8_t>(4 * model_parameter_count(devnet.learning.model))};
    Block block;
    block.work_items.assign(max_worker_contributions_per_block(devnet.learning), item);
    EXPECT_EQ(block.encoded_size(),
              header_encoded_size + 12 +
                  block.work_items.size() * contribution_work_item_size(devnet.learning));
    EXPECT_LE(block.encoded_size(), max_block_bytes);
    block.work_items.push_back(item);
    EXPECT_GT(block.encoded_size(), max_block_bytes);
}

TEST(GenesisWork, InitialWorkMustLieWithinTheBounds) {
    auto with_initial_work = [](std::uint64_t work) {
        json j = test_json();
        j["initial_work"] = work;
        return parse_genesis(j.dump());
    };
    EXPECT_TRUE(with_initial_work(128));  // one contribution
    EXPECT_TRUE(with_initial_work(512));  // max_per_worker contributions
    auto above = with_initial_work(513);
    ASSERT_FALSE(above);
    EXPECT_EQ(above.error().reason, "bad-genesis-initial-work");
    EXPECT_EQ(above.error().detail,
              "initial_work: must be <= 512, the most work one block can carry (4 contributions "
              "of 173884 bytes)");
    auto below = with_initial_work(127);
    ASSERT_FALSE(below);
    EXPECT_EQ(below.error().reason, "bad-genesis-initial-work");
    EXPECT_EQ(below.error().detail, "initial_work: must be >= 128, the tokens of one contribution");

    // A model whose gradient alone outgrows a block leaves no valid D at all.
    json j = test_json();
    j["learning"]["model"]["width"] = 1024;
    j["learning"]["model"]["heads"] = 16;
    j["learning"]["model"]["layers"] = 4;  // ~50M parameters: a 200 MB blob
    auto huge = parse_genesis(j.dump());
    ASSERT_FALSE(huge);
    EXPECT_EQ(huge.error().reason, "bad-genesis-initial-work");
    EXPECT_NE(huge.error().detail.find("(0 contributions"), std::string::npos)
        << huge.error().detail;
}

TEST(Genesis, FileDatasetParses) {
    json j = test_json();
    j["learning"]["dataset"] = {
        {"kind", "file"}, {"path", "corpus.txt"}, {"sha256", std::string(63, 'a') + "b"}};
    auto g = parse_genesis(j.dump());
    ASSERT_TRUE(g) << g.error().to_string();
    EXPECT_EQ(g->learning.dataset.kind, DatasetKind::file);
    EXPECT_EQ(g->learning.dataset.path, "corpus.txt");
    EXPECT_EQ(parse_genesis(genesis_to_json(*g)).value(), *g);
}

}  // namespace
}  // namespace learnchain::chain
