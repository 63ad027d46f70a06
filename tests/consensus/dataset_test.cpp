#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <learnchain/consensus/dataset.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

namespace learnchain::consensus {
namespace {

chain::DatasetSpec synthetic_spec(std::uint32_t max_operand = 999) {
    chain::DatasetSpec spec;
    spec.kind = chain::DatasetKind::synthetic;
    spec.seed = 11;
    spec.max_operand = max_operand;
    return spec;
}

Hash256 seed_of(std::uint8_t fill) {
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(fill);
    bytes[0] = 1;
    return Hash256(bytes);
}

std::string as_text(std::span<const std::uint8_t> bytes) {
    return {bytes.begin(), bytes.end()};
}

TEST(Synthetic, ProblemText) {
    EXPECT_EQ((Problem{123, 45}.text()), "123+45=168\n");
    EXPECT_EQ((Problem{0, 0}.text()), "0+0=0\n");
}

TEST(Synthetic, BatchIsDeterminedBySeedAndIndex) {
    const auto dataset = Dataset::open(synthetic_spec()).value();
    const auto a = make_micro_batch(dataset, seed_of(7), 3, 8, 64).value();
    const auto b = make_micro_batch(dataset, seed_of(7), 3, 8, 64).value();
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.tokens.size(), 8u * 65);
    EXPECT_EQ(a.target_count(), 8u * 64);
    EXPECT_NE(a.tokens, make_micro_batch(dataset, seed_of(7), 4, 8, 64).value().tokens);
    EXPECT_NE(a.tokens, make_micro_batch(dataset, seed_of(8), 3, 8, 64).value().tokens);
    // A smaller micro-batch is a prefix: sequences are drawn in order from one stream.
    const auto prefix = make_micro_batch(dataset, seed_of(7), 3, 2, 64).value();
    EXPECT_TRUE(std::equal(prefix.tokens.begin(), prefix.tokens.end(), a.tokens.begin()));
}

TEST(Synthetic, RecordedBatch) {
    // Recorded once: any platform or algorithm change to batch derivation shows up here.
    const auto dataset = Dataset::open(synthetic_spec()).value();
    const auto batch = make_micro_batch(dataset, seed_of(7), 0, 2, 31).value();
    EXPECT_EQ(as_text(batch.sequence(0)), "653+18=671\n476+915=1391\n102+386=");
    EXPECT_EQ(as_text(batch.sequence(1)), "820+964=1784\n334+256=590\n511+395");
}

TEST(Synthetic, SequencesAreCorrectTrainingProblems) {
    const auto dataset = Dataset::open(synthetic_spec()).value();
    const auto batch = make_micro_batch(dataset, seed_of(9), 0, 64, 64).value();
    std::size_t checked = 0;
    for (std::size_t j = 0; j < batch.size; ++j) {
        const std::string text = as_text(batch.sequence(j));
        // Every complete line is "a+b=c" with c = a + b, and (a, b) in the training split.
        std::size_t start = 0;
        for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
            const std::string line = text.substr(start, nl - start);
            const auto plus = line.find('+'), eq = line.find('=');
            ASSERT_NE(plus, std::string::npos) << line;
            ASSERT_NE(eq, std::string::npos) << line;
            const auto a = std::stoul(line.substr(0, plus));
            const auto b = std::stoul(line.substr(plus + 1, eq - plus - 1));
            EXPECT_EQ(std::stoul(line.substr(eq + 1)), a + b) << line;
            EXPECT_LE(a, 999u);
            EXPECT_LE(b, 999u);
            EXPECT_FALSE(
                is_held_out(11, static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(b)));
            ++checked;
        }
        EXPECT_NE(text[0], '+');  // sequences start at a problem boundary
    }
    EXPECT_GT(checked, 64u * 3);
}

TEST(Synthetic, HeldOutIsDisjointFromTraining) {
    const auto dataset = Dataset::open(synthetic_spec(99)).value();
    const auto held = dataset.held_out_problems(200);
    ASSERT_EQ(held.size(), 200u);
    std::set<std::pair<std::uint32_t, std::uint32_t>> held_pairs;
    for (const auto& p : held) {
        EXPECT_TRUE(is_held_out(11, p.a, p.b));
        held_pairs.insert({p.a, p.b});
    }
    EXPECT_EQ(held, dataset.held_out_problems(200));  // fixed by the dataset seed
    // About 1/16 of the 10^4 pairs are held out.
    std::size_t held_count = 0;
    for (std::uint32_t a = 0; a <= 99; ++a)
        for (std::uint32_t b = 0; b <= 99; ++b) held_count += is_held_out(11, a, b);
    EXPECT_GT(held_count, 500u);
    EXPECT_LT(held_count, 760u);
    // Training draws never hit a held-out pair.
    SplitMix64 rng(5);
    for (int i = 0; i < 20000; ++i) {
        const auto p = dataset.next_training_problem(rng);
        EXPECT_FALSE(held_pairs.count({p.a, p.b}));
        EXPECT_FALSE(is_held_out(11, p.a, p.b));
    }
}

TEST(Synthetic, TinyOperandRangeMayBeRejected) {
    // With max_operand 0 there is a single pair, so one split must be empty.
    EXPECT_EQ(Dataset::open(synthetic_spec(0)).error().reason, "dataset-split-empty");
    EXPECT_EQ(Dataset::open(synthetic_spec(1'000'000'000)).error().reason, "dataset-spec-invalid");
    EXPECT_TRUE(Dataset::open(synthetic_spec(999'999'999)).ok());
}

TEST(Synthetic, AccuracyIsExactMatch) {
    const std::vector<Problem> problems{{1, 2}, {10, 5}, {7, 7}, {50, 50}};
    const double acc = exact_match_accuracy(problems, [](const std::string& prompt) {
        return prompt == "7+7=" ? std::string("15") : std::string("3");  // right only on 1+2
    });
    EXPECT_DOUBLE_EQ(acc, 0.25);
}

TEST(Batch, RejectsEmptyShapes) {
    const auto dataset = Dataset::open(synthetic_spec()).value();
    EXPECT_EQ(make_micro_batch(dataset, seed_of(1), 0, 0, 8).error().reason, "batch-invalid");
    EXPECT_EQ(make_micro_batch(dataset, seed_of(1), 0, 8, 0).error().reason, "batch-invalid");
}

class FileDataset : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("learnchain_dataset_test_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        for (int i = 0; i < 1000; ++i) corpus_ += "line " + std::to_string(i) + "\n";
        std::ofstream(dir_ / "corpus.txt", std::ios::binary) << corpus_;
        spec_.kind = chain::DatasetKind::file;
        spec_.path = "corpus.txt";
        spec_.sha256 = chain::sha256(corpus_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::filesystem::path dir_;
    std::string corpus_;
    chain::DatasetSpec spec_;
};

TEST_F(FileDataset, BatchesAreSlicesOfTheCorpus) {
    const auto dataset = Dataset::open(spec_, dir_);
    ASSERT_TRUE(dataset.ok()) << dataset.error().to_string();
    EXPECT_EQ(dataset->corpus_size(), corpus_.size());
    const auto batch = make_micro_batch(*dataset, seed_of(3), 1, 16, 32).value();
    for (std::size_t j = 0; j < batch.size; ++j)
        EXPECT_NE(corpus_.find(as_text(batch.sequence(j))), std::string::npos);
    EXPECT_EQ(batch.tokens, make_micro_batch(*dataset, seed_of(3), 1, 16, 32).value().tokens);
}

TEST_F(FileDataset, WrongHashIsRejected) {
    spec_.sha256 = chain::sha256(std::string_view("something else"));
    const auto dataset = Dataset::open(spec_, dir_);
    ASSERT_FALSE(dataset.ok());
    EXPECT_EQ(dataset.error().reason, "dataset-hash-mismatch");
}

TEST_F(FileDataset, MissingFileIsRejected) {
    spec_.path = "nope.txt";
    EXPECT_EQ(Dataset::open(spec_, dir_).error().reason, "dataset-unreadable");
}

TEST_F(FileDataset, ContextLongerThanTheTrainingPartIsRejected) {
    const auto dataset = Dataset::open(spec_, dir_).value();
    const auto context = static_cast<std::uint32_t>(dataset.training_size());
    EXPECT_EQ(make_micro_batch(dataset, seed_of(3), 0, 1, context).error().reason,
              "dataset-too-short");
    EXPECT_TRUE(make_micro_batch(dataset, seed_of(3), 0, 1, context - 1).ok());
}

TEST_F(FileDataset, TrainingNeverReadsTheHeldOutTail) {
    const auto dataset = Dataset::open(spec_, dir_).value();
    EXPECT_EQ(dataset.training_size(), corpus_.size() - corpus_.size() / file_held_out_parts);
    for (std::uint8_t s = 0; s < 20; ++s) {
        const auto batch = make_micro_batch(dataset, seed_of(s), 0, 64, 32).value();
        for (std::size_t j = 0; j < batch.size; ++j) {
            const std::string text = as_text(batch.sequence(j));
            const auto at = corpus_.find(text);
            ASSERT_NE(at, std::string::npos);
            EXPECT_LE(at + text.size(), dataset.training_size()) << "seed " << int(s);
        }
    }
}

TEST_F(FileDataset, HeldOutSequencesSpanTheTailEvenly) {
    const auto dataset = Dataset::open(spec_, dir_).value();
    const auto batch = dataset.held_out_batch(5, 32).value();
    ASSERT_EQ(batch.size, 5u);
    EXPECT_EQ(as_text(batch.sequence(0)), corpus_.substr(dataset.training_size(), 33));
    EXPECT_EQ(as_text(batch.sequence(4)), corpus_.substr(corpus_.size() - 33, 33));
    EXPECT_EQ(batch.tokens, dataset.held_out_batch(5, 32).value().tokens);
    const auto tail = static_cast<std::uint32_t>(corpus_.size() / file_held_out_parts);
    EXPECT_EQ(dataset.held_out_batch(1, tail).error().reason, "dataset-too-short");
    EXPECT_TRUE(dataset.held_out_batch(1, tail - 1).ok());

    const auto synthetic = Dataset::open(chain::DatasetSpec{}).value();
    EXPECT_EQ(synthetic.held_out_batch(1, 8).error().reason, "dataset-no-held-out");
}

}  // namespace
}  // namespace learnchain::consensus
