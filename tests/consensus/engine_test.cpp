// PolWorkEngine: verify / apply / undo against a real ChainStore, model root, persistence
// through the store's model column family, undo pruning, the init_weights_hash check, and
// verification without the chain lock.
#include <atomic>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/time.hpp>
#include <learnchain/consensus/engine.hpp>

#include <gtest/gtest.h>

#include "consensus/engine_fixture.hpp"

namespace learnchain::consensus::testing {
namespace {

TEST(Engine, GenesisBlockCommitsToTheInitialModelRoot) {
    const auto genesis = test_genesis();
    auto engine = PolWorkEngine::create(genesis, cpu_engine_options(genesis)).value();
    const ModelState state = genesis_model_state(genesis.learning.model).value();
    EXPECT_EQ(engine->model_root(), model_state_root(state));
    EXPECT_EQ(weights_hash(engine->weights()), genesis.learning.model.init_weights_hash);
    const auto block = chain::make_genesis_block(genesis, engine->model_root()).value();
    EXPECT_EQ(engine->model_block(), block.hash());

    TempDir dir("engine-genesis");
    Node node(dir.path(), genesis);
    EXPECT_EQ(node.store->tip().hash, block.hash());
    EXPECT_EQ(node.store->tip().header.state_root,
              chain::genesis_state(genesis).value().state_root(engine->model_root()));
}

TEST(Engine, RefusesAGenesisWhoseInitialWeightsHashIsWrong) {
    auto genesis = test_genesis();
    genesis.learning.model.init_weights_hash.bytes()[0] ^= 1;
    auto engine = PolWorkEngine::create(genesis, cpu_engine_options(genesis));
    ASSERT_FALSE(engine.ok());
    EXPECT_EQ(engine.error().reason, "model-init-hash-mismatch");
    EXPECT_NE(engine.error().detail.find(genesis.learning.model.init_weights_hash.hex()),
              std::string::npos)
        << engine.error().to_string();
}

TEST(Engine, ShippedGenesisFilesRecordTheirInitialWeights) {
    for (auto file :
         {chain::devnet_genesis_file, chain::test_genesis_file, chain::local_genesis_file}) {
        auto genesis =
            chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/" + std::string(file));
        ASSERT_TRUE(genesis.ok()) << genesis.error().to_string();
        EXPECT_TRUE(genesis_weights(genesis->learning.model).ok()) << file;
    }
}

// The chain bounds D (chain::required_work_bounds) with its own arithmetic for the sizes of a
// gradient and a certificate; that arithmetic must give the engine's real sizes.
TEST(Engine, ChainSizeArithmeticMatchesTheRealEncodings) {
    for (auto file :
         {chain::devnet_genesis_file, chain::test_genesis_file, chain::local_genesis_file}) {
        const auto genesis =
            chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/" + std::string(file))
                .value();
        const LearningParams& p = genesis.learning;
        const auto layout = ModelLayout::from_config(p.model).value();
        EXPECT_EQ(chain::model_parameter_count(p.model), layout.parameter_count()) << file;
        // A certificate of the shape verify() accepts; its values do not change its size.
        const auto plan = UnitPlan::create(layout, p).value();
        Certificate shaped;
        shaped.micro_batches = p.micro_batches;
        shaped.losses.assign(p.micro_batches, 0.0f);
        Leaf leaf;
        leaf.sketch_in.assign(p.sketch_rows, 0.0f);
        leaf.sketch_out = leaf.sketch_in;
        shaped.leaves.assign(plan.leaf_count(), leaf);
        EXPECT_EQ(encode_certificate(shaped).size(), chain::certificate_encoded_size(p)) << file;
        // Micro-batch 0 has the longest path; the last may be promoted past some levels.
        const auto first = make_micro_batch_evidence(shaped, 0).value();
        EXPECT_EQ(encode_micro_batch_evidence(first).size(), chain::micro_batch_evidence_size(p))
            << file;
        const auto last = make_micro_batch_evidence(shaped, p.micro_batches - 1).value();
        EXPECT_LE(encode_micro_batch_evidence(last).size(), chain::micro_batch_evidence_size(p))
            << file;
    }
    TempDir dir("engine-sizes");
    Node node(dir.path());
    const chain::WorkItem item = node.contribute(key_of(0x11), 0).value().work_item();
    EXPECT_EQ(4 + item.certificate.size() + 4 + item.blob.size(),
              chain::contribution_work_item_size(node.genesis.learning));
}

// At the cap, one worker alone still makes a valid block: max_per_worker contributions.
TEST(Engine, ALoneWorkerMeetsTheCappedRequiredWork) {
    auto genesis = test_genesis();
    genesis.initial_work = chain::required_work_bounds(genesis).max;
    ASSERT_TRUE(chain::validate_genesis(genesis));
    TempDir dir("engine-cap");
    Node node(dir.path(), genesis);
    std::vector<chain::WorkItem> items;
    for (std::uint32_t n = 0; n < genesis.learning.max_per_worker; ++n)
        items.push_back(node.contribute(key_of(0x11), n).value().work_item());
    const auto block = node.build(std::move(items), key_of(0x21)).value();
    EXPECT_EQ(block.header.work, genesis.initial_work);
    auto accepted = node.accept(block);
    ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    EXPECT_TRUE(accepted->new_tip);
}

TEST(Engine, ModelRootCommitsToWeightsMomentsAndStep) {
    const auto genesis = test_genesis();
    const ModelState base = genesis_model_state(genesis.learning.model).value();
    const Hash256 root = model_state_root(base);
    auto changed = [&](auto&& mutate) {
        ModelState s = base;
        mutate(s);
        return model_state_root(s);
    };
    EXPECT_NE(root, changed([](ModelState& s) { s.weights.values[5] += 1.0f; }));
    EXPECT_NE(root, changed([](ModelState& s) { s.optimizer.m[5] = 1e-9f; }));
    EXPECT_NE(root, changed([](ModelState& s) { s.optimizer.v[5] = 1e-9f; }));
    EXPECT_NE(root, changed([](ModelState& s) { s.optimizer.step.step = 1; }));
    EXPECT_NE(root, changed([](ModelState& s) { s.optimizer.step.beta2_power = 0.5; }));
    // m and v are hashed in order: swapping them moves the root.
    EXPECT_NE(changed([](ModelState& s) { s.optimizer.m[0] = 1; }),
              changed([](ModelState& s) { s.optimizer.v[0] = 1; }));
}

TEST(Engine, ConnectsAVerifiedBlockAndTrainsTheModel) {
    TempDir dir("engine-connect");
    Node node(dir.path());
    const auto before = node.engine->weights().values;
    const Hash256 root_before = node.engine->model_root();
    auto c0 = node.contribute(key_of(0x11), 0).value();
    auto c1 = node.contribute(key_of(0x12), 0).value();
    const auto block = node.build({c0.work_item(), c1.work_item()}, key_of(0x21)).value();
    auto accepted = node.accept(block);
    ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    EXPECT_TRUE(accepted->new_tip);
    EXPECT_EQ(node.engine->model_block(), block.hash());
    EXPECT_NE(node.engine->model_root(), root_before);
    EXPECT_NE(node.engine->weights().values, before);
    EXPECT_EQ(node.engine->state().optimizer.step.step, 1u);

    // The update is the canonical-order aggregation of the two blobs, then one AdamW step.
    ModelState expected = genesis_model_state(node.genesis.learning.model).value();
    ASSERT_TRUE(aggregate_and_step(expected,
                                   {{c1.certificate.root(), c1.gradient, c1.certificate.tokens},
                                    {c0.certificate.root(), c0.gradient, c0.certificate.tokens}},
                                   node.genesis.learning.optimizer)
                    .ok());
    EXPECT_EQ(expected.weights.values, node.engine->weights().values);
    EXPECT_EQ(model_state_root(expected), node.engine->model_root());

    // Rewards split by work: equal tokens, half a coin each, immature for now.
    EXPECT_EQ(node.store->account(key_of(0x11).public_key()).total(), chain::coin / 2);
    EXPECT_EQ(node.store->account(key_of(0x12).public_key()).total(), chain::coin / 2);
}

TEST(Engine, RejectsATamperedBlobWithTheVerifiersReason) {
    TempDir dir("engine-reject");
    Node node(dir.path());
    auto c = node.contribute(key_of(0x11), 0).value();
    auto item = c.work_item();
    const Hash256 root_before = node.engine->model_root();
    auto block = node.build({item}, key_of(0x21)).value();
    block.work_items[0].blob[100] ^= 0x40;
    block.header.sign(key_of(0x21));
    auto accepted = node.accept(block);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().reason, "bad-cert-blob-hash");
    EXPECT_EQ(node.engine->model_root(), root_before);
    EXPECT_EQ(node.store->height(), 0u);
}

TEST(Engine, RefusesWorkOnAModelItDoesNotHold) {
    TempDir dir("engine-parent");
    Node node(dir.path());
    auto c = node.contribute(key_of(0x11), 0).value();
    const auto block = node.build({c.work_item()}, key_of(0x21)).value();
    chain::WorkContext context{&node.genesis, Hash256{}, 1, 128};
    auto verified = node.engine->verify(block, context);
    ASSERT_FALSE(verified.ok());
    EXPECT_EQ(verified.error().reason, "pol-engine-not-at-parent");
    auto applied = node.engine->apply(block, chain::BlockWork{}, context);
    ASSERT_FALSE(applied.ok());
    EXPECT_EQ(applied.error().reason, "pol-engine-not-at-parent");
    // Undo of a block the engine does not hold.
    EXPECT_EQ(node.engine->undo(block, context, {}).reason(), "pol-engine-undo-mismatch");
}

TEST(Engine, UndoRestoresTheExactPreImage) {
    TempDir dir("engine-undo");
    Node node(dir.path());
    auto c = node.contribute(key_of(0x11), 0).value();
    const auto block = node.build({c.work_item()}, key_of(0x21)).value();
    const chain::WorkContext context{&node.genesis, block.header.parent, 1, 128};
    const ModelState before = node.engine->state();
    const Hash256 root_before = node.engine->model_root();
    auto work = node.engine->verify(block, context).value();
    auto applied = node.engine->apply(block, work, context).value();
    EXPECT_EQ(applied.undo.size(), 4 + 24 + 12 * before.weights.values.size());
    EXPECT_NE(node.engine->model_root(), root_before);
    ASSERT_TRUE(node.engine->undo(block, context, applied.undo).ok());
    EXPECT_EQ(node.engine->model_root(), root_before);
    EXPECT_EQ(node.engine->weights().values, before.weights.values);
    EXPECT_EQ(node.engine->model_block(), block.header.parent);
    // A truncated undo record is refused and changes nothing.
    ASSERT_TRUE(node.engine->apply(block, work, context).ok());
    const Hash256 after = node.engine->model_root();
    auto bad = applied.undo;
    bad.pop_back();
    EXPECT_EQ(node.engine->undo(block, context, bad).reason(), "pol-engine-bad-undo");
    EXPECT_EQ(node.engine->model_root(), after);
    (void)node.engine->take_state_writes();
}

TEST(Engine, PersistsThroughTheStoreAndReopens) {
    TempDir dir("engine-reopen");
    Hash256 tip, root;
    std::vector<float> weights;
    {
        Node node(dir.path());
        for (std::uint32_t i = 0; i < 3; ++i) {
            auto c = node.contribute(key_of(0x11), 0).value();
            auto block = node.build({c.work_item()}, key_of(0x21)).value();
            ASSERT_TRUE(node.accept(block).ok());
        }
        tip = node.store->tip().hash;
        root = node.engine->model_root();
        weights = node.engine->weights().values;
        auto entries = node.store->model_entries().value();
        ASSERT_EQ(entries.size(), 5u);
    }
    Node reopened(dir.path());
    EXPECT_EQ(reopened.store->tip().hash, tip);
    EXPECT_EQ(reopened.engine->model_root(), root);
    EXPECT_EQ(reopened.engine->model_block(), tip);
    EXPECT_EQ(reopened.engine->weights().values, weights);
    EXPECT_EQ(reopened.engine->state().optimizer.step.step, 3u);
    // And it keeps going from there.
    auto c = reopened.contribute(key_of(0x11), 1).value();
    auto block = reopened.build({c.work_item()}, key_of(0x21)).value();
    ASSERT_TRUE(reopened.accept(block).ok());
}

TEST(Engine, LoadRejectsCorruptState) {
    const auto genesis = test_genesis();
    auto engine = PolWorkEngine::create(genesis, cpu_engine_options(genesis)).value();
    chain::ModelEntries entries = {{"pol/weights", {1, 2, 3}}};
    EXPECT_EQ(engine->load(entries).reason(), "pol-engine-state-corrupt");
    entries = {{"pol/other", {}}};
    EXPECT_EQ(engine->load(entries).reason(), "pol-engine-state-corrupt");
    EXPECT_TRUE(engine->load({}).ok());
}

TEST(Engine, ReorgsBackThroughUndoAndPrunesOldUndoRecords) {
    TempDir dir("engine-reorg");
    chain::Genesis genesis = test_genesis();
    genesis.challenge_window = 2;  // the reorg limit
    Node node(dir.path(), genesis, {});
    std::vector<chain::Block> main;
    std::vector<Hash256> roots = {node.engine->model_root()};
    for (std::uint32_t i = 0; i < 7; ++i) {
        auto c = node.contribute(key_of(0x11), 0).value();
        main.push_back(node.build({c.work_item()}, key_of(0x21)).value());
        ASSERT_TRUE(node.accept(main.back()).ok());
        roots.push_back(node.engine->model_root());
    }
    // Heights 1 and 2 fell out of the undo window (tip 7, twice the reorg limit, one block of
    // slack).
    for (std::uint64_t h = 1; h <= 7; ++h) {
        auto undo = node.store->undo(*node.store->hash_at(h));
        ASSERT_TRUE(undo.ok());
        EXPECT_EQ(undo->has_value(), h >= 3) << "height " << h;
    }

    // A heavier branch from height 5 (two contributions per block) replaces blocks 6 and 7:
    // the engine undoes both, then applies the branch.
    const chain::SecretKey other = key_of(0x13);
    std::vector<chain::Block> branch;
    {
        // Build the branch on a second node that follows the main chain up to height 5.
        TempDir dir2("engine-reorg-b");
        Node side(dir2.path(), genesis);
        for (std::size_t i = 0; i < 5; ++i) ASSERT_TRUE(side.accept(main[i]).ok());
        for (std::uint32_t i = 0; i < 2; ++i) {
            auto a = side.contribute(other, 0).value();
            auto b = side.contribute(other, 1).value();
            branch.push_back(side.build({a.work_item(), b.work_item()}, key_of(0x22)).value());
            ASSERT_TRUE(side.accept(branch.back()).ok());
        }
        EXPECT_FALSE(side.engine->model_root() == roots[7]);
        roots.push_back(side.engine->model_root());
    }
    ASSERT_FALSE(node.accept(branch[0]).value().new_tip);  // lighter than the tip so far
    auto result = node.accept(branch[1]);
    ASSERT_TRUE(result.ok()) << result.error().to_string();
    EXPECT_TRUE(result->new_tip);
    EXPECT_EQ(result->disconnected.size(), 2u);
    EXPECT_EQ(node.engine->model_root(), roots.back());
    EXPECT_EQ(node.engine->model_block(), branch[1].hash());
}

TEST(Engine, UndoBytesRoundTrip) {
    const auto genesis = test_genesis();
    ModelState state = genesis_model_state(genesis.learning.model).value();
    state.optimizer.m[3] = 0.25f;
    state.optimizer.v[7] = 0.5f;
    state.optimizer.step = {9, 0.5, 0.25};
    const auto bytes = encode_model_undo(state);
    ModelState decoded = genesis_model_state(genesis.learning.model).value();
    ASSERT_TRUE(decode_model_undo(bytes, decoded).ok());
    EXPECT_EQ(model_state_root(decoded), model_state_root(state));
}

// A contribution computed on other weights than the tip's: self-consistent, so it passes every
// cheap check, but recomputation on the parent's model exposes it.
Contribution computed_on_other_weights(Node& node) {
    ModelWeights other = node.engine->weights();
    for (auto& w : other.values) w *= 1.5f;
    return compute_contribution(node.engine->tracer(), other, node.engine->dataset(),
                                node.genesis.learning, node.store->tip().hash, key_of(0x11), 0)
        .value();
}

TEST(Engine, RememberedContributionsSkipRecomputationOnly) {
    TempDir dir("engine-remember");
    Node node(dir.path());
    const Contribution c = computed_on_other_weights(node);
    const auto block = node.build({c.work_item()}, key_of(0x21)).value();
    const chain::WorkContext context{&node.genesis, block.header.parent, 1, 128};
    auto verified = node.engine->verify(block, context);
    ASSERT_FALSE(verified.ok());
    EXPECT_EQ(verified.error().reason, "bad-cert-unit-mismatch");

    node.engine->remember_verified(block.header.parent, c.certificate.root());
    EXPECT_TRUE(node.engine->verify(block, context).ok());
    // Cheap checks still run: a tampered blob fails whatever was remembered.
    auto tampered = block;
    tampered.work_items[0].blob[8] ^= 1;
    EXPECT_EQ(node.engine->verify(tampered, context).error().reason, "bad-cert-blob-hash");
}

// Counts the micro-batches each tracer the engine makes runs: the first one made is the engine's
// own (connects under the chain lock), the second its detached verifier's.
struct TraceCounts {
    std::atomic<int> made{0};
    std::atomic<int> locked{0};
    std::atomic<int> detached{0};
};

class CountingTracer final : public Tracer {
public:
    CountingTracer(std::unique_ptr<Tracer> inner, std::atomic<int>& count)
        : inner_(std::move(inner)), count_(count) {}
    Result<MicroBatchTrace> trace(const ModelWeights& weights, const Batch& batch,
                                  const TraceSpec& spec) override {
        ++count_;
        return inner_->trace(weights, batch, spec);
    }

private:
    std::unique_ptr<Tracer> inner_;
    std::atomic<int>& count_;
};

EngineOptions counting_options(const chain::Genesis& genesis, TraceCounts& counts) {
    EngineOptions options;
    options.make_tracer = [&counts, real = training::tracer_factory(genesis.learning.model)]()
        -> Result<std::unique_ptr<Tracer>> {
        auto tracer = real();
        if (!tracer) return tracer.error();
        std::atomic<int>& count = counts.made++ == 0 ? counts.locked : counts.detached;
        return std::unique_ptr<Tracer>(
            std::make_unique<CountingTracer>(std::move(tracer).value(), count));
    };
    return options;
}

// Chainstate::process_block recomputes a block's work once, on a copy of the model and with the
// engine's second tracer while cs_main is free; the connect under cs_main recomputes nothing
// and trains the model exactly as a connect that verified by itself.
TEST(Engine, DetachedVerificationRecomputesOnceAndTheConnectNothing) {
    TempDir dir("engine-detached");
    TraceCounts counts;
    Node node(dir.path(), test_genesis(), counting_options(test_genesis(), counts));
    auto c = node.contribute(key_of(0x11), 0).value();
    const auto block = node.build({c.work_item()}, key_of(0x21)).value();
    counts.locked = 0;  // the contribution itself was traced on the engine's tracer

    set_mock_unix_time(block.header.time);
    auto accepted = node.chainstate->process_block(block);
    set_mock_unix_time(0);
    ASSERT_TRUE(accepted.ok()) << accepted.error().to_string();
    EXPECT_EQ(counts.detached.load(), static_cast<int>(node.genesis.learning.micro_batches));
    EXPECT_EQ(counts.locked.load(), 0);

    ModelState expected = genesis_model_state(node.genesis.learning.model).value();
    ASSERT_TRUE(aggregate_and_step(expected,
                                   {{c.certificate.root(), c.gradient, c.certificate.tokens}},
                                   node.genesis.learning.optimizer)
                    .ok());
    EXPECT_EQ(model_state_root(expected), node.engine->model_root());
}

TEST(Engine, AFakeFoundWithoutTheLockIsNotRecomputedUnderIt) {
    TempDir dir("engine-detached-fake");
    TraceCounts counts;
    Node node(dir.path(), test_genesis(), counting_options(test_genesis(), counts));
    const Contribution c = computed_on_other_weights(node);
    const auto block = node.build({c.work_item()}, key_of(0x21)).value();
    counts.locked = 0;

    set_mock_unix_time(block.header.time);
    auto accepted = node.chainstate->process_block(block);
    set_mock_unix_time(0);
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error().reason, "bad-cert-unit-mismatch");
    EXPECT_EQ(accepted.error().kind, ErrorKind::fraud);
    EXPECT_GE(counts.detached.load(), 1);
    EXPECT_EQ(counts.locked.load(), 0);
    EXPECT_FALSE(node.store->record(block.hash()));  // an invalid new block is not stored
}

TEST(Engine, HeaderWorkIsCheckedBeforeAnyRecomputation) {
    TempDir dir("engine-work-first");
    Node node(dir.path());
    // Work that recomputation would refuse, under a header whose work root or work does not
    // match it: the header's rule answers, so nothing was trained.
    const Contribution c = computed_on_other_weights(node);
    const auto block = node.build({c.work_item()}, key_of(0x21)).value();
    const chain::WorkContext context{&node.genesis, block.header.parent, 1, 128};
    EXPECT_EQ(node.engine->verify(block, context).error().reason, "bad-cert-unit-mismatch");

    auto wrong_root = block;
    wrong_root.header.work_root = chain::sha256(std::string_view("some other work"));
    EXPECT_EQ(node.engine->verify(wrong_root, context).error().reason, "bad-block-work-root");
    auto wrong_work = block;
    wrong_work.header.work += 1;
    EXPECT_EQ(node.engine->verify(wrong_work, context).error().reason, "bad-block-work-mismatch");
}

}  // namespace
}  // namespace learnchain::consensus::testing
