#include <algorithm>
#include <fstream>
#include <iterator>

#include <learnchain/consensus/dataset.hpp>

namespace learnchain::consensus {
namespace {

// The pair scan that proves both splits non-empty stops here; beyond it an empty split would
// need 2^20 consecutive misses of a 1/16 event.
constexpr std::uint64_t split_scan_limit = std::uint64_t{1} << 20;

// Keeps (max_operand + 1)^2 within 64 bits and a problem's text within 31 bytes.
constexpr std::uint32_t max_synthetic_operand = 999'999'999;

// Independent streams of one dataset seed.
constexpr std::uint64_t held_out_stream = 1;

}  // namespace

std::string Problem::prompt() const {
    return std::to_string(a) + "+" + std::to_string(b) + "=";
}

std::string Problem::answer() const {
    return std::to_string(std::uint64_t{a} + std::uint64_t{b});
}

bool is_held_out(std::uint64_t dataset_seed, std::uint32_t a, std::uint32_t b) {
    return derive_key(derive_key(dataset_seed, a), b) >> 60 == 0;
}

Result<Dataset> Dataset::open(const DatasetSpec& spec, const std::filesystem::path& base_dir) {
    Dataset dataset;
    dataset.spec_ = spec;
    switch (spec.kind) {
        case chain::DatasetKind::synthetic: {
            if (spec.max_operand > max_synthetic_operand)
                return make_error(ErrorKind::malformed, "dataset-spec-invalid",
                                  "max_operand above " + std::to_string(max_synthetic_operand));
            const std::uint64_t n = std::uint64_t{spec.max_operand} + 1;
            const std::uint64_t pairs = n * n;
            bool train = false, held = false;
            for (std::uint64_t i = 0; i < std::min(pairs, split_scan_limit) && !(train && held);
                 ++i) {
                const bool h = is_held_out(spec.seed, static_cast<std::uint32_t>(i / n),
                                           static_cast<std::uint32_t>(i % n));
                (h ? held : train) = true;
            }
            if (!train || !held)
                return make_error(ErrorKind::malformed, "dataset-split-empty",
                                  "max_operand " + std::to_string(spec.max_operand) +
                                      " leaves the training or held-out split empty");
            return dataset;
        }
        case chain::DatasetKind::file: {
            const auto path = base_dir / spec.path;
            std::ifstream in(path, std::ios::binary);
            if (!in)
                return make_error(ErrorKind::local, "dataset-unreadable",
                                  "cannot open " + path.string());
            auto bytes = std::make_shared<std::vector<std::uint8_t>>(
                std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            if (in.bad())
                return make_error(ErrorKind::local, "dataset-unreadable",
                                  "read error on " + path.string());
            const Hash256 actual = chain::sha256(chain::Bytes(bytes->data(), bytes->size()));
            if (actual != spec.sha256)
                return make_error(ErrorKind::local, "dataset-hash-mismatch",
                                  path.string() + " has SHA-256 " + actual.hex() +
                                      ", genesis names " + spec.sha256.hex());
            if (bytes->size() < 2 * file_held_out_parts)
                return make_error(ErrorKind::local, "dataset-too-short",
                                  path.string() + " is under " +
                                      std::to_string(2 * file_held_out_parts) + " bytes");
            dataset.corpus_ = std::move(bytes);
            return dataset;
        }
    }
    return make_error(ErrorKind::malformed, "dataset-kind-unknown",
                      std::to_string(static_cast<unsigned>(spec.kind)));
}

Problem Dataset::next_training_problem(SplitMix64& rng) const {
    const std::uint64_t n = std::uint64_t{spec_.max_operand} + 1;
    for (;;) {
        const auto a = static_cast<std::uint32_t>(rng.below(n));
        const auto b = static_cast<std::uint32_t>(rng.below(n));
        if (!is_held_out(spec_.seed, a, b)) return {a, b};
    }
}

std::size_t Dataset::training_size() const {
    return corpus_ ? corpus_->size() - corpus_->size() / file_held_out_parts : 0;
}

Result<Batch> Dataset::held_out_batch(std::uint32_t count, std::uint32_t context) const {
    if (!corpus_) return make_error(ErrorKind::local, "dataset-no-held-out", "not a file dataset");
    const std::uint64_t begin = training_size(), span = corpus_->size() - begin;
    if (count == 0 || span < context + 1ULL)
        return make_error(ErrorKind::local, "dataset-too-short",
                          "held-out part of " + std::to_string(span) + " bytes");
    // Evenly spaced windows over the held-out tail, the first at its start, the last at its end.
    const std::uint64_t room = span - (context + 1);
    Batch batch{count, context, {}};
    batch.tokens.reserve(std::uint64_t{count} * (context + 1));
    for (std::uint32_t j = 0; j < count; ++j) {
        const std::uint64_t start = begin + (count == 1 ? 0 : room * j / (count - 1));
        batch.tokens.insert(batch.tokens.end(),
                            corpus_->begin() + static_cast<std::ptrdiff_t>(start),
                            corpus_->begin() + static_cast<std::ptrdiff_t>(start + context + 1));
    }
    return batch;
}

std::vector<Problem> Dataset::held_out_problems(std::size_t count) const {
    std::vector<Problem> problems;
    if (spec_.kind != chain::DatasetKind::synthetic) return problems;
    const std::uint64_t n = std::uint64_t{spec_.max_operand} + 1;
    SplitMix64 rng(derive_key(spec_.seed, held_out_stream));
    while (problems.size() < count) {
        const auto a = static_cast<std::uint32_t>(rng.below(n));
        const auto b = static_cast<std::uint32_t>(rng.below(n));
        if (is_held_out(spec_.seed, a, b)) problems.push_back({a, b});
    }
    return problems;
}

void Dataset::append_sequence(SplitMix64& rng, std::uint32_t length,
                              std::vector<std::uint8_t>& out) const {
    if (corpus_) {
        const std::uint64_t start = rng.below(training_size() - length + 1);
        out.insert(out.end(), corpus_->begin() + static_cast<std::ptrdiff_t>(start),
                   corpus_->begin() + static_cast<std::ptrdiff_t>(start + length));
        return;
    }
    // Whole problems from the training split, concatenated and cut at `length`.
    std::size_t remaining = length;
    while (remaining > 0) {
        const std::string text = next_training_problem(rng).text();
        const std::size_t take = std::min(remaining, text.size());
        out.insert(out.end(), text.begin(), text.begin() + static_cast<std::ptrdiff_t>(take));
        remaining -= take;
    }
}

Result<Batch> make_micro_batch(const Dataset& dataset, const Hash256& seed,
                               std::uint32_t micro_batch_index, std::uint32_t micro_batch_size,
                               std::uint32_t context) {
    if (micro_batch_size == 0 || context == 0)
        return make_error(ErrorKind::local, "batch-invalid",
                          "micro-batch size and context must be positive");
    if (dataset.spec().kind == chain::DatasetKind::file && dataset.training_size() < context + 1ULL)
        return make_error(ErrorKind::local, "dataset-too-short",
                          "training part of " + std::to_string(dataset.training_size()) +
                              " bytes is shorter than context + 1");
    Batch batch{micro_batch_size, context, {}};
    batch.tokens.reserve(std::uint64_t{micro_batch_size} * (context + 1));
    SplitMix64 rng(derive_key(seed_key(seed), micro_batch_index));
    for (std::uint32_t j = 0; j < micro_batch_size; ++j)
        dataset.append_sequence(rng, context + 1, batch.tokens);
    return batch;
}

}  // namespace learnchain::consensus
