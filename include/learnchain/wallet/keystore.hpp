// The encrypted keystore: one secret key in a JSON file, sealed with a key derived from a
// passphrase by scrypt and encrypted with AES-256-GCM (OpenSSL). The file records every KDF
// parameter, so a future default never locks out an old wallet. wallet/WALLET.md has the format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>

#include <nlohmann/json.hpp>

namespace learnchain::wallet {

using json = nlohmann::json;

inline constexpr int keystore_version = 1;

struct ScryptParams {
    std::uint64_t n = std::uint64_t{1} << 15;  // CPU/memory cost: 32 MiB at r = 8
    std::uint32_t r = 8;
    std::uint32_t p = 1;
};

// Accepted on reading: a file cannot make the wallet spend minutes or gigabytes deriving.
inline constexpr std::uint64_t max_scrypt_n = std::uint64_t{1} << 20;
inline constexpr std::uint32_t max_scrypt_r = 32;
inline constexpr std::uint32_t max_scrypt_p = 16;

// Seals `key` under `passphrase` (fresh random salt and nonce). "wallet-crypto-failed".
[[nodiscard]] Result<json> seal_key(const chain::SecretKey& key, std::string_view passphrase,
                                    const ScryptParams& params = {});

// Opens a sealed key. "wallet-wrong-passphrase" when the AES-GCM tag does not verify (the
// passphrase is wrong, or the file was altered); "wallet-keystore-invalid" for a malformed
// file or parameters out of bounds; "wallet-keystore-corrupt" when the key decrypts but does
// not match the recorded address.
[[nodiscard]] Result<chain::SecretKey> open_key(const json& keystore, std::string_view passphrase);

// The address recorded in the keystore (no passphrase needed). "wallet-keystore-invalid".
[[nodiscard]] Result<std::string> keystore_address(const json& keystore);

// Reads and parses a keystore file: "wallet-not-found", "wallet-io-error",
// "wallet-keystore-invalid".
[[nodiscard]] Result<json> load_keystore(const std::filesystem::path& path);

// Writes `contents` to `path` so that a reader sees the old file or the new one, never a
// mixture, even across a crash: a temporary file created with mode 0600 in the same
// directory, written, fsync'ed, renamed over `path`, then the directory fsync'ed.
// "wallet-io-error".
[[nodiscard]] Status write_file_atomic(const std::filesystem::path& path,
                                       std::string_view contents);

// Creates a new keystore file; refuses to overwrite ("wallet-exists"). Creates the parent
// directory (0700) if needed.
[[nodiscard]] Status create_keystore_file(const std::filesystem::path& path,
                                          const chain::SecretKey& key, std::string_view passphrase,
                                          const ScryptParams& params = {});

}  // namespace learnchain::wallet
