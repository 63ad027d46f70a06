// The reference arbiter agrees with libtorch (training::Trainer) to 1e-6 relative per unit: every
// FWD, ATT and BWD sketch (BWD outputs as the verifier forms them: the sparse JL sketch of each
// section of the gradient), the loss and the whole gradient, over several micro-batches of the
// test genesis model and of the devnet model's shape. The measured maxima per unit kind are
// printed (consensus/PROTOCOL.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/consensus/reference_tracer.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/consensus/units.hpp>

#include <gtest/gtest.h>

#include "consensus/reference_golden.hpp"

namespace learnchain::consensus::testing {

namespace {

constexpr double required = 1e-6;  // the bound, per unit

// The largest relative distance between the arbiter and libtorch, per kind of comparison.
struct Maxima {
    double fwd_in = 0, fwd_out = 0, att_in = 0, att_out = 0, bwd_in = 0, bwd_out = 0;
    double loss = 0, gradient = 0;

    void merge(const Maxima& o) {
        for (auto [mine, theirs] : {std::pair{&fwd_in, o.fwd_in},
                                    {&fwd_out, o.fwd_out},
                                    {&att_in, o.att_in},
                                    {&att_out, o.att_out},
                                    {&bwd_in, o.bwd_in},
                                    {&bwd_out, o.bwd_out},
                                    {&loss, o.loss},
                                    {&gradient, o.gradient}})
            *mine = std::max(*mine, theirs);
    }
    void print(const std::string& name) const {
        std::printf(
            "%-28s FWD in %.3g out %.3g | ATT in %.3g out %.3g | BWD in %.3g out %.3g | loss %.3g "
            "| gradient %.3g\n",
            name.c_str(), fwd_in, fwd_out, att_in, att_out, bwd_in, bwd_out, loss, gradient);
    }
    void expect_within(double bound, const std::string& name) const {
        EXPECT_LE(fwd_in, bound) << name;
        EXPECT_LE(fwd_out, bound) << name;
        EXPECT_LE(att_in, bound) << name;
        EXPECT_LE(att_out, bound) << name;
        EXPECT_LE(bwd_in, bound) << name;
        EXPECT_LE(bwd_out, bound) << name;
        EXPECT_LE(loss, bound) << name;
        EXPECT_LE(gradient, bound) << name;
    }
};

void keep(double& max, double d) {
    EXPECT_TRUE(std::isfinite(d));
    max = std::max(max, d);
}

// Both tracers on micro-batches 0..count-1 of one contribution seed.
Maxima compare(const chain::LearningParams& p, const ModelWeights& weights, std::uint32_t count) {
    const auto dataset = Dataset::open(p.dataset).value();
    const auto plan = UnitPlan::create(weights.layout, p).value();
    auto arbiter = ReferenceTracer::create(p.model).value();
    auto libtorch = training::tracer_factory(p.model)().value();
    const Hash256 seed = chain::sha256(std::string_view("reference agreement"));
    const Hash256 gradient_seed = chain::sha256(std::string_view("reference agreement gradient"));
    const std::uint32_t m = plan.sketch_rows();
    Maxima out;
    for (std::uint32_t b = 0; b < count; ++b) {
        const auto batch =
            make_micro_batch(dataset, seed, b, p.micro_batch_size, p.model.context).value();
        const TraceSpec spec{seed, &plan};
        const auto r = arbiter.trace(weights, batch, spec);
        const auto t = libtorch->trace(weights, batch, spec);
        EXPECT_TRUE(r.ok() && t.ok());
        if (!r.ok() || !t.ok()) return out;
        EXPECT_EQ(r->tokens, t->tokens);
        for (std::size_t s = 0; s < plan.sections().size(); ++s) {
            keep(out.fwd_in, relative_l2(r->forward[s].in, t->forward[s].in));
            keep(out.fwd_out, relative_l2(r->forward[s].out, t->forward[s].out));
            keep(out.bwd_in, relative_l2(r->backward[s], t->backward[s]));
            const auto& section = plan.sections()[s];
            auto slice = [&](const std::vector<float>& g) {
                return std::span<const float>(g).subspan(section.offset, section.size);
            };
            keep(
                out.bwd_out,
                relative_l2(gradient_sketch(slice(r->gradient), gradient_seed, m, section.offset),
                            gradient_sketch(slice(t->gradient), gradient_seed, m, section.offset)));
        }
        for (std::size_t a = 0; a < plan.attention_units(); ++a) {
            keep(out.att_in, relative_l2(r->attention[a].in, t->attention[a].in));
            keep(out.att_out, relative_l2(r->attention[a].out, t->attention[a].out));
        }
        keep(out.loss,
             std::abs(r->loss - t->loss) / std::max(std::abs(r->loss), std::abs(t->loss)));
        keep(out.gradient, relative_l2(r->gradient, t->gradient));
    }
    return out;
}

chain::LearningParams genesis_params(const char* file) {
    return chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/" + file).value().learning;
}

TEST(ReferenceAgreement, TestGenesisModel) {
    const auto p = genesis_params("genesis/test.json");
    Maxima all;
    for (const auto& [name, weights] :
         {std::pair{"test genesis, initial", init_weights(p.model).value()},
          std::pair{"test genesis, perturbed", reference_test_weights(p.model)}}) {
        const Maxima m = compare(p, weights, 4);
        m.print(name);
        all.merge(m);
    }
    all.expect_within(required, "test genesis");
}

// The devnet model (V 256, T 64, D 128, L 4, H 4; k 4, G 2, m 64) on micro-batches of 4
// sequences instead of 128, so that the arbiter takes about a second per micro-batch.
TEST(ReferenceAgreement, DevnetModelShape) {
    auto p = genesis_params("genesis/devnet.json");
    p.micro_batch_size = 4;
    Maxima all;
    for (const auto& [name, weights] :
         {std::pair{"devnet model, initial", init_weights(p.model).value()},
          std::pair{"devnet model, perturbed", reference_test_weights(p.model)}}) {
        const Maxima m = compare(p, weights, 2);
        m.print(name);
        all.merge(m);
    }
    all.expect_within(required, "devnet model");
}

}  // namespace
}  // namespace learnchain::consensus::testing
