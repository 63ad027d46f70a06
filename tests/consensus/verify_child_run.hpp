// Runs consensus_verify_child (tests/consensus/verify_child.cpp) on one contribution in another
// process, with OpenBLAS forced onto another kernel set (Prescott) and one thread: the verifier
// of another machine. Only for tests built with LEARNCHAIN_VERIFY_CHILD (tests/CMakeLists.txt).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/consensus/verify.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace learnchain::consensus::testing {

// The OpenBLAS kernel set this process runs (DYNAMIC_ARCH builds pick one per CPU).
inline std::string openblas_core() {
    using Fn = char* (*)();
    auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    return fn ? fn() : "unknown";
}

struct ChildVerdict {
    int exit_code = -1;  // 0 verified, 1 rejected, else the child failed
    std::string output;  // what it printed: its kernel set, then "verified: ..." or "rejected: ..."
};

#ifdef LEARNCHAIN_VERIFY_CHILD
inline ChildVerdict verify_in_child(const LearningParams& params, const Hash256& parent,
                                    const chain::WorkItem& item) {
    static int calls = 0;
    const auto dir =
        std::filesystem::temp_directory_path() /
        ("learnchain_verify_child_" + std::to_string(getpid()) + "_" + std::to_string(calls++));
    std::filesystem::create_directories(dir);
    const auto input = dir / "contribution.bin", output = dir / "out.txt";
    {
        std::vector<std::uint8_t> bytes;
        chain::encode_append(bytes, params);
        chain::encode_append(bytes, parent);
        chain::encode_append(bytes, item);
        std::ofstream(input, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
    std::vector<std::string> env_strings = {"OPENBLAS_CORETYPE=Prescott", "OPENBLAS_NUM_THREADS=1",
                                            "OMP_NUM_THREADS=1"};
    for (char** e = environ; *e; ++e) {
        const std::string s = *e;
        if (!s.starts_with("OPENBLAS_") && !s.starts_with("OMP_")) env_strings.push_back(s);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string exe = LEARNCHAIN_VERIFY_CHILD, in_arg = input.string();
    char* argv[] = {exe.data(), in_arg.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    ChildVerdict verdict;
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    if (spawned == 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
        verdict.exit_code = WEXITSTATUS(status);
    std::ifstream out_file(output);
    verdict.output.assign(std::istreambuf_iterator<char>(out_file), {});
    std::filesystem::remove_all(dir);
    return verdict;
}
#endif

}  // namespace learnchain::consensus::testing
