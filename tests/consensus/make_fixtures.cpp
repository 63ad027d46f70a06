// Fixture generator for the proof-of-learning tests.
//
//   consensus_make_fixtures hashes <genesis.json>...    prints each model's init_weights_hash
//   consensus_make_fixtures golden <genesis.json> <dir> writes golden_<n>.cert / .blob: the
//                                                       contributions n = 0, 1 of worker key
//                                                       0x11.. on the genesis block
//
// The golden fixtures freeze gradients computed once by libtorch, so the golden test checks
// the bit-exact aggregation and optimizer path alone, on any machine and build type.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/engine.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/training/trainer.hpp>

using namespace learnchain;

namespace {

int fail(const std::string& what) {
    std::fprintf(stderr, "error: %s\n", what.c_str());
    return 1;
}

bool write_file(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "hashes" && argc > 2) {
        for (int i = 2; i < argc; ++i) {
            auto genesis = chain::load_genesis(argv[i]);
            if (!genesis) return fail(genesis.error().to_string());
            auto weights = consensus::init_weights(genesis->learning.model);
            if (!weights) return fail(weights.error().to_string());
            std::printf("%s %s\n", argv[i], consensus::weights_hash(*weights).hex().c_str());
        }
        return 0;
    }
    if (mode == "golden" && argc == 4) {
        auto genesis = chain::load_genesis(argv[2]);
        if (!genesis) return fail(genesis.error().to_string());
        consensus::EngineOptions options;
        options.make_tracer = training::tracer_factory(genesis->learning.model);
        auto engine = consensus::PolWorkEngine::create(*genesis, options);
        if (!engine) return fail(engine.error().to_string());
        std::array<std::uint8_t, 32> secret{};
        secret.fill(0x11);
        const auto worker = chain::SecretKey::from_bytes(secret).value();
        const std::filesystem::path dir = argv[3];
        for (std::uint32_t n = 0; n < 2; ++n) {
            auto c = consensus::compute_contribution((*engine)->tracer(), (*engine)->weights(),
                                                     (*engine)->dataset(), genesis->learning,
                                                     (*engine)->model_block(), worker, n);
            if (!c) return fail(c.error().to_string());
            const auto item = c->work_item();
            const std::string stem = "golden_" + std::to_string(n);
            if (!write_file(dir / (stem + ".cert"), item.certificate) ||
                !write_file(dir / (stem + ".blob"), item.blob))
                return fail("cannot write " + (dir / stem).string());
            std::printf("%s: root %s, loss %.6f, %zu + %zu bytes\n", stem.c_str(),
                        c->certificate.root().hex().c_str(), c->certificate.loss,
                        item.certificate.size(), item.blob.size());
        }
        return 0;
    }
    std::fprintf(stderr, "usage: %s hashes <genesis.json>... | golden <genesis.json> <dir>\n",
                 argv[0]);
    return 2;
}
