// kill -9 at random moments must leave the last committed tip: runs chain_crash_writer
// (connects blocks with reorgs, sync writes) and SIGKILLs it at random times, then checks the
// store after every kill against a replay of its main chain from genesis.
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <learnchain/chain/store.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chain/store_test_support.hpp"

extern char** environ;

namespace learnchain::chain {
namespace {

using testing::ForkBuilder;
using testing::PersistentTestEngine;
using testing::store_test_genesis;

constexpr int kills = 30;

pid_t spawn_writer(const std::filesystem::path& dir, std::uint64_t seed) {
    const std::string program = LEARNCHAIN_CRASH_WRITER;
    const std::string dir_arg = dir.string();
    const std::string seed_arg = std::to_string(seed);
    char* const argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>(dir_arg.c_str()),
                          const_cast<char*>(seed_arg.c_str()), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, environ);
    return rc == 0 ? pid : -1;
}

struct CheckSummary {
    std::uint64_t height = 0;
    std::size_t side_blocks = 0;  // stored blocks off the main chain: forks happened
};

// Everything a committed tip implies, then equality with a replay from genesis.
CheckSummary check_store(const std::filesystem::path& dir, const Genesis& genesis) {
    CheckSummary summary;
    PersistentTestEngine engine;
    auto opened = ChainStore::open({dir}, genesis, engine);
    EXPECT_TRUE(opened.ok()) << opened.error().to_string();
    if (!opened) return summary;
    ChainStore& store = **opened;
    summary.height = store.height();

    const auto tip = store.record(store.tip().hash);
    EXPECT_TRUE(tip->has(block_status::have_body) && tip->has(block_status::valid));
    auto heights = store.stored_height_index();
    EXPECT_TRUE(heights.ok());
    EXPECT_EQ(heights->size(), store.height() + 1);

    std::vector<Block> main;
    for (std::uint64_t h = 1; h <= store.height(); ++h) {
        EXPECT_EQ((*heights)[h], *store.hash_at(h)) << "height " << h;
        auto block = store.block_at(h);
        EXPECT_TRUE(block.ok() && block->has_value()) << "body missing at " << h;
        if (!block.ok() || !block->has_value()) return summary;
        auto undo = store.undo(*store.hash_at(h));
        EXPECT_TRUE(undo.ok() && undo->has_value()) << "undo missing at " << h;
        main.push_back(std::move(**block));
    }
    auto replay = ForkBuilder::replay(genesis, main);
    EXPECT_TRUE(replay.ok()) << replay.error().to_string();
    if (!replay) return summary;
    EXPECT_EQ(replay->state, store.state());
    auto on_disk = store.stored_accounts();
    EXPECT_TRUE(on_disk.ok());
    EXPECT_EQ(*on_disk, replay->state);
    EXPECT_EQ(replay->model_root, engine.model_root());

    summary.side_blocks = store.block_count() - (store.height() + 1);
    return summary;
}

TEST(CrashTest, KillNineLeavesTheLastCommittedTip) {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("learnchain_crash_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const Genesis genesis = store_test_genesis(6);
    std::mt19937_64 rng(20240611);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(50);

    std::uint64_t last_height = 0;
    std::size_t side_blocks = 0;
    int done = 0;
    for (; done < kills && std::chrono::steady_clock::now() < deadline; ++done) {
        const pid_t pid = spawn_writer(dir, static_cast<std::uint64_t>(done));
        ASSERT_GT(pid, 0) << "cannot start " << LEARNCHAIN_CRASH_WRITER;
        std::this_thread::sleep_for(std::chrono::milliseconds(80 + rng() % 520));
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        // Killed, not exited on its own (an exit means the writer hit an error).
        ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited with " << WEXITSTATUS(status);

        const CheckSummary summary = check_store(dir, genesis);
        if (HasFailure()) break;
        last_height = summary.height;
        side_blocks = summary.side_blocks;
    }
    EXPECT_GE(done, 25) << "too slow: only " << done << " kills before the deadline";
    EXPECT_GT(last_height, 10u) << "the writer made no progress";
    EXPECT_GT(side_blocks, 0u) << "no forks were exercised";
    std::printf("crash test: %d kills, final height %llu, %zu blocks off the main chain\n", done,
                static_cast<unsigned long long>(last_height), side_blocks);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace learnchain::chain
