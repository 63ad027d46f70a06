// Golden: applying the checked-in contributions (tests/consensus/fixtures/, made by
// consensus_make_fixtures from genesis/test.json) gives one recorded model root and state root,
// in every build type and on every machine. The fixtures freeze the gradients, so only the
// bit-exact path (decode, canonical order, f64 token-weighted mean, AdamW, hashing) is tested.
#include <learnchain/chain/validation.hpp>
#include <learnchain/consensus/engine.hpp>

#include <gtest/gtest.h>

#include "consensus/engine_fixture.hpp"

namespace learnchain::consensus::testing {
namespace {

// Recorded with consensus_golden_test in Release and Debug builds (PROTOCOL.md, "Measured").
constexpr const char* golden_model_root =
    "0f200c08f8368354690ebde48926ece85c486274bcb01103aa472b18ce2ce9b6";
constexpr const char* golden_state_root =
    "35a858a9be2e870cf5aae4c91919c014c90a5cdc90022634d38a482a0a4a9436";
constexpr const char* golden_second_step_root =
    "5993044e06af2361acfbb3ed27025ba47755aae18981f3da754a5cb61f0f68a2";

std::vector<chain::WorkItem> fixtures() {
    const std::filesystem::path dir =
        std::filesystem::path(LEARNCHAIN_SOURCE_DIR) / "tests/consensus/fixtures";
    std::vector<chain::WorkItem> items;
    for (int n = 0; n < 2; ++n) {
        const std::string stem = "golden_" + std::to_string(n);
        items.push_back({read_file(dir / (stem + ".cert")), read_file(dir / (stem + ".blob"))});
    }
    return items;
}

chain::BlockWork work_of(const std::vector<chain::WorkItem>& items) {
    chain::BlockWork work;
    for (const auto& item : items) {
        const auto certificate = decode_certificate(item.certificate).value();
        work.certificate_roots.push_back(certificate.root());
        const auto credited = credited_work(certificate);
        work.workers.insert(work.workers.end(), credited.begin(), credited.end());
    }
    return work;
}

struct Applied {
    Hash256 model_root;
    Hash256 state_root;
    ModelState state;
};

// The fixtures' block on the test genesis, applied without recomputation (no libtorch).
Applied apply_fixtures(std::vector<chain::WorkItem> items) {
    const auto genesis = test_genesis();
    auto engine = PolWorkEngine::create(genesis, cpu_engine_options(genesis)).value();
    chain::Block block;
    block.header.height = 1;
    block.header.parent = engine->model_block();
    block.header.time = genesis.time + 1;
    block.work_items = std::move(items);
    const auto work = work_of(block.work_items);
    block.header.work_root = chain::compute_work_root(work.certificate_roots);
    block.header.work = work.total().value();
    block.header.proposer = key_of(0x21).public_key();
    const chain::WorkContext context{&genesis, block.header.parent, 1, genesis.initial_work};
    auto applied = engine->apply(block, work, context);
    EXPECT_TRUE(applied.ok()) << applied.error().to_string();
    chain::AccountState state = chain::genesis_state(genesis).value();
    EXPECT_TRUE(chain::apply_block_state(state, block, work, {}, genesis.reward_maturity).ok());
    return {engine->model_root(), state.state_root(engine->model_root()), engine->state()};
}

TEST(Golden, FixturesAreTheTestGenesisContributions) {
    const auto genesis = test_genesis();
    const auto engine = PolWorkEngine::create(genesis, cpu_engine_options(genesis)).value();
    for (const auto& item : fixtures()) {
        const auto certificate = decode_certificate(item.certificate).value();
        EXPECT_EQ(certificate.parent, engine->model_block());
        EXPECT_EQ(certificate.worker, key_of(0x11).public_key());
        EXPECT_EQ(gradient_hash(item.blob), certificate.gradient_hash);
    }
}

TEST(Golden, ModelAndStateRootsAreRecordedConstants) {
    const Applied applied = apply_fixtures(fixtures());
    std::printf("golden model root %s\ngolden state root %s\n", applied.model_root.hex().c_str(),
                applied.state_root.hex().c_str());
    EXPECT_EQ(applied.model_root.hex(), golden_model_root);
    EXPECT_EQ(applied.state_root.hex(), golden_state_root);

    // A second step with the same gradients exercises the carried bias-correction state.
    ModelState state = applied.state;
    std::vector<std::vector<float>> gradients;
    std::vector<AggregateInput> inputs;
    for (const auto& item : fixtures()) {
        const auto certificate = decode_certificate(item.certificate).value();
        gradients.push_back(decode_blob(item.blob, state.weights.values.size()).value());
        inputs.push_back({certificate.root(), gradients.back(), certificate.tokens});
    }
    ASSERT_TRUE(aggregate_and_step(state, inputs, test_genesis().learning.optimizer).ok());
    const Hash256 second = model_state_root(state);
    std::printf("golden second step root %s\n", second.hex().c_str());
    EXPECT_EQ(second.hex(), golden_second_step_root);
}

TEST(Golden, BlockOrderDoesNotMatterCanonicalOrderDoes) {
    auto items = fixtures();
    const Applied forward = apply_fixtures(items);
    std::swap(items[0], items[1]);
    const Applied reversed = apply_fixtures(items);
    EXPECT_EQ(forward.model_root, reversed.model_root);
}

}  // namespace
}  // namespace learnchain::consensus::testing
