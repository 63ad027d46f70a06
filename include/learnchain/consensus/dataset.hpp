// The training data: a synthetic arithmetic generator or a byte corpus, and the micro-batch a
// seed selects. Everything here is integer-only, so every node derives the same bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/learning_params.hpp>
#include <learnchain/chain/result.hpp>
#include <learnchain/consensus/prng.hpp>

namespace learnchain::consensus {

using chain::DatasetSpec;
using chain::Hash256;

// `size` sequences of context + 1 byte tokens, row-major. Sequence j's inputs are its bytes
// [0, context) and its targets bytes [1, context + 1).
struct Batch {
    std::uint32_t size = 0;
    std::uint32_t context = 0;
    std::vector<std::uint8_t> tokens;

    [[nodiscard]] std::span<const std::uint8_t> sequence(std::size_t j) const {
        return std::span<const std::uint8_t>(tokens).subspan(j * (context + 1), context + 1);
    }
    [[nodiscard]] std::uint64_t target_count() const { return std::uint64_t{size} * context; }
};

// One arithmetic problem: the text is prompt + answer + "\n", e.g. "123+45=" "168".
struct Problem {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    [[nodiscard]] std::string prompt() const;  // "a+b="
    [[nodiscard]] std::string answer() const;  // decimal a+b
    [[nodiscard]] std::string text() const { return prompt() + answer() + "\n"; }
    friend bool operator==(const Problem&, const Problem&) = default;
};

// A file corpus's last 1/file_held_out_parts bytes (rounded down) are held out: training
// sequences come from the bytes before them only. A contiguous tail, as held-out text splits
// usually are, so that no training window overlaps it.
inline constexpr std::size_t file_held_out_parts = 16;

// Whether the pair (a, b) belongs to the held-out split of this dataset seed (1/16 of pairs).
[[nodiscard]] bool is_held_out(std::uint64_t dataset_seed, std::uint32_t a, std::uint32_t b);

class Dataset {
public:
    // synthetic: validates the spec. file: reads base_dir / spec.path and checks its SHA-256
    // ("dataset-hash-mismatch", "dataset-unreadable", "dataset-too-short" under
    // 2 * file_held_out_parts bytes).
    [[nodiscard]] static Result<Dataset> open(const DatasetSpec& spec,
                                              const std::filesystem::path& base_dir = {});

    [[nodiscard]] const DatasetSpec& spec() const { return spec_; }

    // Appends one training sequence of `length` bytes drawn from `rng` (see PROTOCOL.md). For
    // a file dataset, `length` must not exceed training_size().
    void append_sequence(SplitMix64& rng, std::uint32_t length,
                         std::vector<std::uint8_t>& out) const;

    // File datasets: the corpus length in bytes, and the part training draws from (the rest is
    // held out). Synthetic: 0.
    [[nodiscard]] std::size_t corpus_size() const { return corpus_ ? corpus_->size() : 0; }
    [[nodiscard]] std::size_t training_size() const;

    // File only: `count` sequences of context + 1 bytes from the held-out tail, evenly spaced
    // from its first byte to its last, the same on every call ("dataset-no-held-out" for a
    // synthetic dataset, "dataset-too-short" when the tail is shorter than one sequence).
    [[nodiscard]] Result<Batch> held_out_batch(std::uint32_t count, std::uint32_t context) const;

    // Synthetic only: `count` problems drawn (with replacement) from the held-out split, fixed
    // by the dataset seed, for measuring accuracy. Empty for a file dataset.
    [[nodiscard]] std::vector<Problem> held_out_problems(std::size_t count) const;

    // Synthetic only: the training-split problem a stream would draw next.
    [[nodiscard]] Problem next_training_problem(SplitMix64& rng) const;

private:
    DatasetSpec spec_;
    std::shared_ptr<const std::vector<std::uint8_t>> corpus_;  // file datasets; shared by copies
};

// The micro-batch a contribution seed selects: fully determined by (seed, micro_batch_index).
// "batch-invalid" when micro_batch_size or context is 0.
[[nodiscard]] Result<Batch> make_micro_batch(const Dataset& dataset, const Hash256& seed,
                                             std::uint32_t micro_batch_index,
                                             std::uint32_t micro_batch_size, std::uint32_t context);

// Exact-match accuracy: the fraction of problems whose completion of prompt() equals answer().
// `complete` returns the model's greedy continuation of a prompt up to (excluding) "\n".
template <class Complete>
[[nodiscard]] double exact_match_accuracy(const std::vector<Problem>& problems,
                                          Complete&& complete) {
    if (problems.empty()) return 0.0;
    std::size_t correct = 0;
    for (const auto& p : problems)
        if (complete(p.prompt()) == p.answer()) ++correct;
    return static_cast<double>(correct) / static_cast<double>(problems.size());
}

}  // namespace learnchain::consensus
