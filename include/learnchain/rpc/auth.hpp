// RPC authentication as Bitcoin Core does it: a random cookie in the data directory that
// any local process able to read the file can use, and optionally a static user:password.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <learnchain/chain/hash.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::rpc {

inline constexpr std::string_view cookie_user = "__cookie__";
inline constexpr std::string_view cookie_file_name = ".cookie";

// Where a node and its clients (learnchain-wallet, learnchain-cli) meet by default: the RPC port
// on loopback, and the data directory that holds the cookie, $HOME/.learnchain (./.learnchain
// without a HOME).
inline constexpr std::uint16_t default_rpc_port = 19445;
[[nodiscard]] std::filesystem::path default_datadir();

// Writes `<datadir>/.cookie` = "__cookie__:<64 hex chars>" with mode 0600, atomically
// (temporary file, fsync, rename), and returns the "user:password" it holds.
[[nodiscard]] Result<std::string> write_cookie(const std::filesystem::path& datadir);
// The "user:password" in a cookie file, as a client reads it.
[[nodiscard]] Result<std::string> read_cookie(const std::filesystem::path& cookie_path);

[[nodiscard]] std::string base64_encode(std::string_view data);
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

// The value of an Authorization header for "user:password".
[[nodiscard]] std::string basic_authorization(std::string_view credentials);

// The set of accepted credentials. Only their SHA-256 digests are kept, and a presented
// credential is hashed and compared in constant time against each, so neither timing nor
// length leaks how much of a guess was right.
class Authenticator {
public:
    [[nodiscard]] bool empty() const { return !cookie_ && !static_; }
    void set_cookie(std::string_view credentials);
    void set_static(std::string_view credentials);

    // Checks an Authorization header value ("Basic <base64>").
    [[nodiscard]] bool check(std::string_view authorization_header) const;

private:
    std::optional<chain::Hash256> cookie_;
    std::optional<chain::Hash256> static_;
};

}  // namespace learnchain::rpc
