// export_model DIR: writes a checkpoint of the test genesis's model, every parameter moved off
// its initial value (so biases and norms are not the zeros and ones that would hide a misplaced
// tensor), with consensus::export_gpt2, plus DIR/expected.json: for a few prompts, the logits the
// node's own forward pass (training::Trainer) gives at every position. check_transformers.py
// loads the checkpoint in Hugging Face transformers and compares.
#include <cstdio>
#include <fstream>
#include <string>

#include <learnchain/chain/genesis.hpp>
#include <learnchain/consensus/model_export.hpp>
#include <learnchain/consensus/prng.hpp>
#include <learnchain/consensus/training/trainer.hpp>

#include <nlohmann/json.hpp>

using namespace learnchain;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: export_model DIR\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    auto genesis = chain::load_genesis(std::string(LEARNCHAIN_SOURCE_DIR) + "/genesis/test.json");
    if (!genesis) return std::fprintf(stderr, "%s\n", genesis.error().to_string().c_str()), 1;
    auto weights = consensus::init_weights(genesis->learning.model);
    if (!weights) return std::fprintf(stderr, "%s\n", weights.error().to_string().c_str()), 1;
    consensus::SplitMix64 rng(42);
    for (float& v : weights->values)
        v += 0.05f * (static_cast<float>(rng.next() >> 40) / static_cast<float>(1 << 24) - 0.5f);

    std::filesystem::remove_all(dir);
    if (auto written = consensus::export_gpt2(dir, *weights, "export_model test"); !written)
        return std::fprintf(stderr, "%s\n", written.error().to_string().c_str()), 1;

    auto trainer = training::Trainer::create(genesis->learning.model, "cpu");
    if (!trainer) return std::fprintf(stderr, "%s\n", trainer.error().to_string().c_str()), 1;
    nlohmann::json expected = nlohmann::json::array();
    for (const std::string prompt : {"12+34=", "7+8=15\n99+1=", "x", "The chain trains a model."}) {
        auto logits = trainer->logits(*weights, prompt);
        if (!logits) return std::fprintf(stderr, "%s\n", logits.error().to_string().c_str()), 1;
        expected.push_back({{"prompt", prompt}, {"logits", *logits}});
    }
    std::ofstream(dir / "expected.json") << expected.dump();
    std::printf("exported %zu parameters to %s\n", weights->values.size(), dir.c_str());
    return 0;
}
