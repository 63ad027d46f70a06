// The wallet's local record of what it signed: the node knows transactions by txid, but only the
// wallet knows which of them were its own and why. Every transaction is recorded before it is
// sent, then its outcome, so that nothing signed is ever unaccounted for and a payment whose
// fate is unknown can be sent again as it is instead of paying twice. A JSON file beside the
// keystore, rewritten atomically (write_file_atomic) on every change.
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
    std::uint64_t time = 0;  // unix seconds when signed
    // What became of it: "signed" (not yet sent, or the wallet stopped before hearing back),
    // "accepted", "refused: <reason>", "unknown: <reason>" (the node could not be asked or did
    // not answer), and for inference "text received" or "paid, no text: <reason>".
    std::string outcome = "signed";
    std::string raw;  // the signed transaction (hex), to send again as it is
    // For inference, the request the payment is for (its canonical JSON), so that a retry of
    // the same request reuses the payment.
    nlohmann::json request;
};

// "<wallet file>.history.json".
[[nodiscard]] std::filesystem::path history_path(const std::filesystem::path& wallet_path);

// The entries, oldest first; an absent file is an empty history. "wallet-history-invalid",
// "wallet-io-error".
[[nodiscard]] Result<std::vector<HistoryEntry>> load_history(const std::filesystem::path& path);
[[nodiscard]] Status append_history(const std::filesystem::path& path, const HistoryEntry& entry);
// Sets the outcome of the entry with `txid`. "wallet-history-invalid" when there is none.
[[nodiscard]] Status set_history_outcome(const std::filesystem::path& path, const std::string& txid,
                                         const std::string& outcome);

}  // namespace learnchain::wallet
