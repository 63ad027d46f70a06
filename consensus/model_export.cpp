#include <bit>
#include <cstring>
#include <fstream>

#include <learnchain/consensus/model_export.hpp>

#include <nlohmann/json.hpp>

namespace learnchain::consensus {

namespace {

using json = nlohmann::ordered_json;

ExportTensor copy_of(const ModelWeights& weights, std::size_t index, std::string name) {
    const auto& spec = weights.layout.tensors()[index];
    const auto values = weights.tensor(index);
    return {std::move(name),
            {spec.shape.begin(), spec.shape.end()},
            std::vector<float>(values.begin(), values.end())};
}

// A linear weight [out, in] as GPT-2's Conv1D weight [in, out].
ExportTensor transposed(const ModelWeights& weights, std::size_t index, std::string name) {
    const auto& spec = weights.layout.tensors()[index];
    const std::uint64_t out = spec.shape[0], in = spec.shape[1];
    const auto values = weights.tensor(index);
    std::vector<float> t(values.size());
    for (std::uint64_t o = 0; o < out; ++o)
        for (std::uint64_t i = 0; i < in; ++i) t[i * out + o] = values[o * in + i];
    return {std::move(name), {in, out}, std::move(t)};
}

Status write_file(const std::filesystem::path& path, const void* data, std::size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) return make_error(ErrorKind::local, "export-io", "cannot write " + path.string());
    return ok_status();
}

// GPT-2's name for each of a layer's tensors in canonical order, and whether it is a Conv1D
// weight (stored [in, out]).
struct Gpt2Name {
    const char* name;
    bool conv1d;
};
constexpr Gpt2Name gpt2_layer_tensors[ModelLayout::tensors_per_layer()] = {
    {"ln_1.weight", false},      {"ln_1.bias", false},         {"attn.c_attn.weight", true},
    {"attn.c_attn.bias", false}, {"attn.c_proj.weight", true}, {"attn.c_proj.bias", false},
    {"ln_2.weight", false},      {"ln_2.bias", false},         {"mlp.c_fc.weight", true},
    {"mlp.c_fc.bias", false},    {"mlp.c_proj.weight", true},  {"mlp.c_proj.bias", false}};

}  // namespace

std::vector<ExportTensor> gpt2_tensors(const ModelWeights& weights) {
    const ModelConfig& c = weights.layout.config();
    std::vector<ExportTensor> out;
    out.push_back(copy_of(weights, 0, "transformer.wte.weight"));
    out.push_back(copy_of(weights, 1, "transformer.wpe.weight"));
    for (std::uint32_t l = 0; l < c.layers; ++l) {
        const std::string prefix = "transformer.h." + std::to_string(l) + ".";
        for (std::size_t i = 0; i < ModelLayout::tensors_per_layer(); ++i) {
            const auto& [name, conv1d] = gpt2_layer_tensors[i];
            const std::size_t index = ModelLayout::layer_tensor(l, i);
            out.push_back(conv1d ? transposed(weights, index, prefix + name)
                                 : copy_of(weights, index, prefix + name));
        }
    }
    const std::size_t n = weights.layout.tensors().size();
    out.push_back(copy_of(weights, n - 3, "transformer.ln_f.weight"));
    out.push_back(copy_of(weights, n - 2, "transformer.ln_f.bias"));
    out.push_back(copy_of(weights, n - 1, "lm_head.weight"));
    return out;
}

std::string gpt2_config_json(const ModelConfig& c) {
    const json config{{"architectures", {"GPT2LMHeadModel"}},
                      {"model_type", "gpt2"},
                      {"vocab_size", c.vocab_size},
                      {"n_positions", c.context},
                      {"n_ctx", c.context},
                      {"n_embd", c.width},
                      {"n_layer", c.layers},
                      {"n_head", c.heads},
                      {"n_inner", c.mlp_ratio * c.width},
                      {"activation_function", "gelu"},
                      {"layer_norm_epsilon", 1e-5},
                      {"resid_pdrop", 0.0},
                      {"embd_pdrop", 0.0},
                      {"attn_pdrop", 0.0},
                      {"scale_attn_weights", true},
                      {"scale_attn_by_inverse_layer_idx", false},
                      {"reorder_and_upcast_attn", false},
                      {"tie_word_embeddings", false},
                      {"bos_token_id", 0},
                      {"eos_token_id", 10},
                      {"torch_dtype", "float32"}};
    return config.dump(2) + "\n";
}

std::vector<std::uint8_t> encode_safetensors(const std::vector<ExportTensor>& tensors,
                                             const std::string& metadata_json) {
    json header = json::object();
    header["__metadata__"] = json{{"format", "pt"}, {"learnchain", metadata_json}};
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        const std::uint64_t bytes = 4 * t.values.size();
        header[t.name] =
            json{{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<std::uint8_t> out;
    out.reserve(8 + text.size() + offset);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(text.size() >> (8 * i)));
    out.insert(out.end(), text.begin(), text.end());
    for (const auto& t : tensors)
        for (const float v : t.values) {
            const auto bits = std::bit_cast<std::uint32_t>(v);
            for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
        }
    return out;
}

namespace {

// GPT-2's byte-to-character table (its bytes_to_unicode): printable Latin-1 bytes stand for
// themselves, the other 68 for U+0100 onwards, so that every byte is one visible character.
std::string byte_character(std::uint32_t byte) {
    const auto printable = [](std::uint32_t b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    std::uint32_t code = byte;
    if (!printable(byte)) {
        code = 256;
        for (std::uint32_t b = 0; b < byte; ++b)
            if (!printable(b)) ++code;
    }
    std::string utf8;  // every code point here is below U+0800: one or two bytes
    if (code < 0x80) {
        utf8.push_back(static_cast<char>(code));
    } else {
        utf8.push_back(static_cast<char>(0xC0 | (code >> 6)));
        utf8.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
    return utf8;
}

}  // namespace

std::string byte_tokenizer_json(std::uint32_t vocab_size) {
    json vocab = json::object();
    for (std::uint32_t b = 0; b < vocab_size && b < 256; ++b) vocab[byte_character(b)] = b;
    const json byte_level{{"type", "ByteLevel"},
                          {"add_prefix_space", false},
                          {"trim_offsets", false},
                          {"use_regex", false}};
    const json tokenizer{{"version", "1.0"},
                         {"truncation", nullptr},
                         {"padding", nullptr},
                         {"added_tokens", json::array()},
                         {"normalizer", nullptr},
                         {"pre_tokenizer", byte_level},
                         {"post_processor", nullptr},
                         {"decoder", byte_level},
                         {"model",
                          {{"type", "BPE"},
                           {"dropout", nullptr},
                           {"unk_token", nullptr},
                           {"continuing_subword_prefix", nullptr},
                           {"end_of_word_suffix", nullptr},
                           {"fuse_unk", false},
                           {"byte_fallback", false},
                           {"vocab", vocab},
                           {"merges", json::array()}}}};
    return tokenizer.dump(2) + "\n";
}

std::string tokenizer_config_json(const ModelConfig& config) {
    const json tokenizer_config{{"tokenizer_class", "PreTrainedTokenizerFast"},
                                {"model_max_length", config.context},
                                {"clean_up_tokenization_spaces", false}};
    return tokenizer_config.dump(2) + "\n";
}

Status export_gpt2(const std::filesystem::path& dir, const ModelWeights& weights,
                   const std::string& description) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return make_error(ErrorKind::local, "export-io", dir.string() + ": " + ec.message());
    const auto model_path = dir / "model.safetensors";
    const ModelConfig& layout = weights.layout.config();
    const std::pair<std::filesystem::path, std::string> texts[] = {
        {dir / "config.json", gpt2_config_json(layout)},
        {dir / "tokenizer.json", byte_tokenizer_json(layout.vocab_size)},
        {dir / "tokenizer_config.json", tokenizer_config_json(layout)}};
    if (std::filesystem::exists(model_path))
        return make_error(ErrorKind::policy, "export-exists", model_path.string());
    for (const auto& [path, text] : texts)
        if (std::filesystem::exists(path))
            return make_error(ErrorKind::policy, "export-exists", path.string());
    const auto bytes = encode_safetensors(gpt2_tensors(weights), description);
    for (const auto& [path, text] : texts)
        LEARNCHAIN_TRY(write_file(path, text.data(), text.size()));
    return write_file(model_path, bytes.data(), bytes.size());
}

}  // namespace learnchain::consensus
