// Durable, atomic, owner-only file replacement, shared by every module that persists small
// files (RPC cookie, wallet keystore and history, P2P peer and ban lists).
#pragma once

#include <filesystem>
#include <string_view>

#include <learnchain/chain/result.hpp>

namespace learnchain {

// Writes `contents` to `path` so that a reader sees the old file or the new one, never a
// mixture, even across a crash: a temporary file in the same directory, created exclusively
// with mode 0600 (whatever the umask), written, fsync'ed, renamed over `path`, then the
// directory fsync'ed. Failures carry `reason` and the OS error.
[[nodiscard]] Status write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                                       std::string_view reason);

}  // namespace learnchain
