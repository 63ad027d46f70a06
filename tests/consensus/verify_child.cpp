// Child process of consensus_verify_test: verifies one contribution (genesis parameters,
// parent hash and work item, canonically encoded in the file argv[1]) under `all`, on the
// initial weights, and prints the distances. Run with another OPENBLAS_CORETYPE, it checks
// that honest work verifies across BLAS kernel paths. Exit 0 iff the contribution verifies.
#include <cstdio>
#include <fstream>
#include <iterator>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/training/trainer.hpp>
#include <learnchain/consensus/verify.hpp>

#include <dlfcn.h>

namespace lc = learnchain;

struct Input {
    lc::chain::LearningParams params;
    lc::chain::Hash256 parent;
    lc::chain::WorkItem item;

    template <class Archive>
    void serialize(Archive& ar) {
        ar(params, parent, item);
    }
};

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    std::ifstream file(argv[1], std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), {});
    auto input = lc::chain::decode<Input>(bytes);
    if (!input) {
        std::printf("decode failed: %s\n", input.error().to_string().c_str());
        return 2;
    }
    using Fn = char* (*)();
    auto core = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    std::printf("child OpenBLAS core %s\n", core ? core() : "unknown");
    const auto& params = input->params;
    auto weights = lc::consensus::init_weights(params.model);
    auto dataset = lc::consensus::Dataset::open(params.dataset);
    auto trainer = lc::training::Trainer::create(params.model, "cpu", 1);
    if (!weights || !dataset || !trainer) {
        std::printf("setup failed\n");
        return 2;
    }
    auto rng = lc::consensus::local_rng();
    const lc::consensus::VerifyContext context{&params, input->parent};
    const auto v = lc::consensus::verify_contribution(*trainer, *weights, *dataset, context,
                                                      input->item, {}, rng);
    if (!v) {
        std::printf("rejected: %s\n", v.error().to_string().c_str());
        return 1;
    }
    std::printf(
        "verified: max unit distance %.3g at %s, blob vs recomputed %.3g, blob sketch %.3g, "
        "%zu micro-batches decided by the reference arbiter%s\n",
        v->report.max_distance, v->report.max_at.c_str(), v->report.gradient_distance,
        v->checked.sketch_distance, v->report.arbitrated.size(),
        v->report.gradient_arbitrated ? ", the blob too" : "");
    return 0;
}
