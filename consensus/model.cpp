#include <algorithm>
#include <array>
#include <bit>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/model.hpp>
#include <learnchain/consensus/prng.hpp>

namespace learnchain::consensus {
namespace {

// 2^-k as a float, built from its bits so no libm call is involved (0 <= k < 126).
float pow2_neg(std::uint32_t k) {
    return std::bit_cast<float>((127u - k) << 23);
}

// floor(log2(2 * layers) / 2): residual projections are scaled by 2^-this, the power of two
// nearest below GPT-2's 1/sqrt(2 * layers).
std::uint32_t residual_shift(std::uint32_t layers) {
    const auto two_l = std::uint64_t{2} * layers;
    return (static_cast<std::uint32_t>(std::bit_width(two_l)) - 1) / 2;
}

}  // namespace

Result<ModelLayout> ModelLayout::from_config(const ModelConfig& c) {
    auto invalid = [](std::string detail) {
        return make_error(ErrorKind::malformed, "model-config-invalid", detail);
    };
    for (auto [name, v] : {std::pair{"vocab_size", c.vocab_size},
                           {"context", c.context},
                           {"width", c.width},
                           {"layers", c.layers},
                           {"heads", c.heads},
                           {"mlp_ratio", c.mlp_ratio}}) {
        if (v == 0 || v > max_dimension)
            return invalid(std::string(name) + " must be in [1, " + std::to_string(max_dimension) +
                           "]");
    }
    if (c.width % c.heads != 0) return invalid("width must be a multiple of heads");
    const std::uint64_t hidden = std::uint64_t{c.mlp_ratio} * c.width;
    if (hidden > max_dimension || std::uint64_t{3} * c.width > max_dimension)
        return invalid("mlp hidden or qkv width too large");
    const auto h = static_cast<std::uint32_t>(hidden);
    const std::uint32_t d = c.width;

    ModelLayout layout;
    layout.config_ = c;
    std::uint64_t offset = 0;
    auto add = [&](std::string name, std::vector<std::uint32_t> shape, InitKind init) {
        std::uint64_t size = 1;
        for (auto dim : shape) size *= dim;  // each dim <= 2^20 and rank <= 2: no overflow
        layout.tensors_.push_back({std::move(name), std::move(shape), offset, size, init});
        offset += size;
    };
    add("tok_emb", {c.vocab_size, d}, InitKind::uniform);
    add("pos_emb", {c.context, d}, InitKind::uniform);
    for (std::uint32_t l = 0; l < c.layers; ++l) {
        const std::string p = "blocks." + std::to_string(l) + ".";
        add(p + "ln1.weight", {d}, InitKind::ones);
        add(p + "ln1.bias", {d}, InitKind::zeros);
        add(p + "attn.qkv.weight", {3 * d, d}, InitKind::uniform);
        add(p + "attn.qkv.bias", {3 * d}, InitKind::zeros);
        add(p + "attn.proj.weight", {d, d}, InitKind::residual);
        add(p + "attn.proj.bias", {d}, InitKind::zeros);
        add(p + "ln2.weight", {d}, InitKind::ones);
        add(p + "ln2.bias", {d}, InitKind::zeros);
        add(p + "mlp.fc.weight", {h, d}, InitKind::uniform);
        add(p + "mlp.fc.bias", {h}, InitKind::zeros);
        add(p + "mlp.proj.weight", {d, h}, InitKind::residual);
        add(p + "mlp.proj.bias", {d}, InitKind::zeros);
        if (offset > max_parameters) break;
    }
    add("ln_f.weight", {d}, InitKind::ones);
    add("ln_f.bias", {d}, InitKind::zeros);
    add("lm_head.weight", {c.vocab_size, d}, InitKind::uniform);
    if (offset > max_parameters)
        return invalid("more than " + std::to_string(max_parameters) + " parameters");
    layout.parameter_count_ = offset;
    return layout;
}

Result<ModelWeights> init_weights(const ModelConfig& config) {
    auto layout = ModelLayout::from_config(config);
    if (!layout) return layout.error();
    ModelWeights weights{std::move(layout).value(), {}};
    weights.values.assign(weights.layout.parameter_count(), 0.0f);

    // Each draw's top 16 bits k give the odd integer 2k + 1 - 2^16 in [-(2^16 - 1), 2^16 - 1];
    // times 2^-21 that is uniform on (-2^-5, 2^-5), exact in binary32.
    const std::uint32_t base_shift = 21;
    const std::uint32_t extra = residual_shift(config.layers);
    const auto& tensors = weights.layout.tensors();
    for (std::size_t t = 0; t < tensors.size(); ++t) {
        const auto& spec = tensors[t];
        auto out = weights.tensor(t);
        switch (spec.init) {
            case InitKind::zeros:
                break;
            case InitKind::ones:
                std::fill(out.begin(), out.end(), 1.0f);
                break;
            case InitKind::uniform:
            case InitKind::residual: {
                const float scale =
                    pow2_neg(base_shift + (spec.init == InitKind::residual ? extra : 0));
                SplitMix64 rng(derive_key(config.init_seed, t));
                for (auto& w : out) {
                    const auto k = static_cast<std::int32_t>(rng.next() >> 48);
                    w = static_cast<float>(2 * k + 1 - 65536) * scale;
                }
                break;
            }
        }
    }
    return weights;
}

Hash256 weights_hash(const ModelLayout& layout, std::span<const float> values) {
    chain::TaggedHasher hasher(chain::tag::weights);
    std::vector<std::uint8_t> buffer;
    auto put_u32 = [&](std::uint32_t v) {
        for (int i = 0; i < 4; ++i) buffer.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    put_u32(static_cast<std::uint32_t>(layout.tensors().size()));
    for (const auto& spec : layout.tensors()) {
        put_u32(static_cast<std::uint32_t>(spec.shape.size()));
        for (auto dim : spec.shape) put_u32(dim);
    }
    hasher.update(buffer);

    // Values in chunks, so hashing a large model needs no second copy of it.
    constexpr std::size_t chunk = 4096;
    std::array<std::uint8_t, 4 * chunk> bytes{};
    for (std::size_t start = 0; start < values.size(); start += chunk) {
        const std::size_t n = std::min(chunk, values.size() - start);
        chain::write_f32_le(values.subspan(start, n), std::span(bytes).first(4 * n));
        hasher.update(chain::Bytes(bytes.data(), 4 * n));
    }
    return hasher.finalize();
}

Result<ModelWeights> genesis_weights(const ModelConfig& config) {
    auto weights = init_weights(config);
    if (!weights) return weights;
    const Hash256 actual = weights_hash(*weights);
    if (actual != config.init_weights_hash)
        return make_error(ErrorKind::malformed, "model-init-hash-mismatch",
                          "genesis records " + config.init_weights_hash.hex() +
                              ", the init seed gives " + actual.hex());
    return weights;
}

}  // namespace learnchain::consensus
