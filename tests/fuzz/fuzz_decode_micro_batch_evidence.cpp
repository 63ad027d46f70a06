// Micro-batch evidence arrives from peers (fraud proofs): decode, re-encode exactly, and run the
// evidence check against the test genesis's unit plan. A second half starts from a valid,
// signed evidence of that plan and changes the bytes the input picks: no change of its
// encoding may still pass the check, since every byte is under the signature or the path.
// Links the torch-free consensus library.
#include <cstdlib>

#include <learnchain/consensus/certificate.hpp>
#include <learnchain/consensus/verify.hpp>

#include "chain/chain_test_support.hpp"
#include "fuzz/fuzz_decode_chain_objects.hpp"

namespace {

using namespace learnchain;
using namespace learnchain::consensus;

struct Setup {
    chain::LearningParams params = chain::testing::load_test_genesis().learning;
    UnitPlan plan =
        UnitPlan::create(ModelLayout::from_config(params.model).value(), params).value();
    std::vector<std::uint8_t> valid;  // the encoding of a valid evidence for micro-batch 1

    Setup() {
        std::array<std::uint8_t, 32> secret{};
        secret.fill(0x42);
        const auto key = chain::SecretKey::from_bytes(secret).value();
        Certificate cert;
        cert.micro_batches = plan.micro_batches();
        cert.tokens =
            std::uint64_t{plan.micro_batches()} * params.micro_batch_size * params.model.context;
        cert.losses.assign(cert.micro_batches, 5.5f);
        for (std::uint32_t b = 0; b < cert.micro_batches; ++b)
            for (std::uint32_t j = 0; j < plan.units_per_micro_batch(); ++j) {
                const auto [kind, index] = plan.unit(j);
                Leaf leaf{kind,
                          b,
                          index,
                          std::vector<float>(plan.sketch_rows(), 0.5f),
                          std::vector<float>(plan.sketch_rows(), -0.25f),
                          key.public_key()};
                cert.leaves.push_back(std::move(leaf));
            }
        cert.merkle_root = cert.compute_merkle_root();
        cert.sign(key);
        const auto evidence = make_micro_batch_evidence(cert, 1).value();
        if (!check_micro_batch_evidence(evidence, plan, params).ok()) std::abort();
        valid = encode_micro_batch_evidence(evidence);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Setup setup;
    const std::span<const std::uint8_t> input(data, size);
    fuzz_decode_canonical<MicroBatchEvidence>(input, [](const MicroBatchEvidence& evidence) {
        (void)check_micro_batch_evidence(evidence, setup.plan, setup.params);
    });

    // Input as (u16 position, u8 xor) edits of the valid evidence's encoding.
    if (size < 3) return 0;
    auto edited = setup.valid;
    bool changed = false;
    for (std::size_t i = 0; i + 3 <= size && i < 3 * 8; i += 3) {
        const std::size_t at =
            (std::size_t{data[i]} | std::size_t{data[i + 1]} << 8) % edited.size();
        edited[at] ^= data[i + 2];
    }
    changed = edited != setup.valid;
    auto decoded = decode_micro_batch_evidence(edited);
    if (!decoded.ok()) return 0;
    const bool accepted = check_micro_batch_evidence(*decoded, setup.plan, setup.params).ok();
    if (changed && accepted) std::abort();
    return 0;
}
