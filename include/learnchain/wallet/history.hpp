// The wallet's local record of what it sent: the node knows transactions by txid, but only the
// wallet knows which of them were its own and why. A JSON file beside the keystore, rewritten
// atomically (write_file_atomic) on every append.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <learnchain/chain/amount.hpp>
#include <learnchain/chain/result.hpp>

#include <nlohmann/json.hpp>

namespace learnchain::wallet {

struct HistoryEntry {
    std::string txid;  // hex
    std::string to;    // address
    chain::Amount amount = 0;
    chain::Amount fee = 0;
    std::uint64_t nonce = 0;
    std::string memo_kind;   // "none", "inference" (memo = request hash) or "text"
    std::uint64_t time = 0;  // unix seconds when sent
};

// "<wallet file>.history.json".
[[nodiscard]] std::filesystem::path history_path(const std::filesystem::path& wallet_path);

// The entries, oldest first; an absent file is an empty history. "wallet-history-invalid",
// "wallet-io-error".
[[nodiscard]] Result<std::vector<HistoryEntry>> load_history(const std::filesystem::path& path);
[[nodiscard]] Status append_history(const std::filesystem::path& path, const HistoryEntry& entry);

}  // namespace learnchain::wallet
