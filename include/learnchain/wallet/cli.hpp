// The learnchain-wallet command line, as a library function so that tests run it in-process
// against a real RPC server (wallet/wallet_main.cpp is only main()).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::wallet {

// For scripts: the passphrase, when neither --passphrase-file nor a terminal is used.
inline constexpr std::string_view passphrase_env = "LEARNCHAIN_WALLET_PASSPHRASE";
// Default fee: comfortably above the mempool's relay floor (1 unit per byte, at most 224
// bytes per transaction).
inline constexpr chain::Amount default_fee = 1000;
inline constexpr std::uint32_t default_infer_tokens = 16;
// Ceilings on what infer pays whatever the node asks: ten times the default price a byte, and
// a hundredth of a coin a request, fee included. The user raises them with --max-price and
// --max-pay.
inline constexpr std::string_view default_max_price = "0.0001";
inline constexpr std::string_view default_max_pay = "0.01";

// Runs one command; `args` excludes the program name. Returns the process exit status:
// 0 on success, 1 on an error (printed to `err` as "error: <reason>: <detail>"), and CLI11's
// code for a usage error. --help prints to `out` and returns 0.
[[nodiscard]] int run_cli(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);

// Parses a coin amount given on the command line ("12.5", "0.00000001"): chain::parse_amount,
// whose reasons (bad-amount-format, bad-amount-too-precise, bad-amount-overflow) it keeps.
// Zero is refused with "wallet-zero-amount" when !allow_zero.
[[nodiscard]] Result<chain::Amount> parse_cli_amount(std::string_view text, bool allow_zero);

// Reads a passphrase from a file: its first line, without the line ending.
[[nodiscard]] Result<std::string> read_passphrase_file(const std::string& path);

}  // namespace learnchain::wallet
