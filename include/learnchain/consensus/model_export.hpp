// Open weights: a model written as a Hugging Face `transformers` GPT-2 checkpoint.
//
// The chain's model has GPT-2's layout exactly: token and position embeddings, pre-norm blocks
// (layer norm, fused q|k|v projection, causal softmax attention scaled by 1/sqrt(head width),
// output projection, layer norm, MLP with exact GELU), a final layer norm and a linear head over
// the byte vocabulary. So the export is a renaming plus one transpose: GPT-2 stores its
// projections as Conv1D weights, [in, out], where ours are torch linear weights, [out, in]. The
// head is not tied to the token embedding (tie_word_embeddings false), and the activation is
// "gelu" (erf), not GPT-2's default tanh approximation. Token ids are the bytes themselves, and
// the tokenizer written beside the weights says so: a byte-level BPE without merges whose
// vocabulary maps GPT-2's character for byte b to id b.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/model.hpp>

namespace learnchain::consensus {

// One tensor of a safetensors file: its name, shape and f32 values.
struct ExportTensor {
    std::string name;
    std::vector<std::uint64_t> shape;
    std::vector<float> values;
};

// The model's tensors under GPT-2's names and layouts, in canonical order.
[[nodiscard]] std::vector<ExportTensor> gpt2_tensors(const ModelWeights& weights);
// GPT-2's config.json for the layout (architecture GPT2LMHeadModel).
[[nodiscard]] std::string gpt2_config_json(const ModelConfig& config);
// The safetensors encoding: u64le header length, the JSON header (tensor name -> dtype F32,
// shape, data_offsets; padded with spaces to 8 bytes), then the tensors' little-endian bytes.
[[nodiscard]] std::vector<std::uint8_t> encode_safetensors(const std::vector<ExportTensor>& tensors,
                                                           const std::string& metadata_json);

// tokenizer.json (the `tokenizers` library's format): byte-level pre-tokenizer and decoder, a
// BPE model without merges over the first vocab_size bytes, each byte's id its value.
[[nodiscard]] std::string byte_tokenizer_json(std::uint32_t vocab_size);
// tokenizer_config.json: PreTrainedTokenizerFast, model_max_length the context.
[[nodiscard]] std::string tokenizer_config_json(const ModelConfig& config);

// Writes model.safetensors, config.json, tokenizer.json and tokenizer_config.json into `dir`
// (created if missing). Refuses a directory that holds any of them already ("export-exists");
// "export-io" when writing fails.
[[nodiscard]] Status export_gpt2(const std::filesystem::path& dir, const ModelWeights& weights,
                                 const std::string& description);

}  // namespace learnchain::consensus
