#include <fstream>
#include <sstream>

#include <learnchain/wallet/history.hpp>
#include <learnchain/wallet/keystore.hpp>

namespace learnchain::wallet {
namespace {

json to_json(const HistoryEntry& e) {
    json out = {{"txid", e.txid}, {"to", e.to},           {"amount", e.amount},
                {"fee", e.fee},   {"nonce", e.nonce},     {"memo_kind", e.memo_kind},
                {"time", e.time}, {"outcome", e.outcome}, {"raw", e.raw}};
    if (!e.request.is_null()) out["request"] = e.request;
    return out;
}

Status write_history(const std::filesystem::path& path, const std::vector<HistoryEntry>& entries) {
    json list = json::array();
    for (const auto& e : entries) list.push_back(to_json(e));
    const json file = {{"version", 1}, {"transactions", std::move(list)}};
    return write_file_atomic(path, file.dump(2) + "\n");
}

}  // namespace

std::filesystem::path history_path(const std::filesystem::path& wallet_path) {
    return wallet_path.string() + ".history.json";
}

Result<std::vector<HistoryEntry>> load_history(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::vector<HistoryEntry>{};
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorKind::local, "wallet-io-error", "cannot open " + path.string());
    std::stringstream buffer;
    buffer << in.rdbuf();
    const json parsed = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("transactions") ||
        !parsed["transactions"].is_array())
        return make_error(ErrorKind::malformed, "wallet-history-invalid",
                          path.string() + " is not a wallet history");
    std::vector<HistoryEntry> out;
    try {
        for (const auto& item : parsed["transactions"]) {
            HistoryEntry e;
            e.txid = item.at("txid").get<std::string>();
            e.to = item.at("to").get<std::string>();
            e.amount = item.at("amount").get<chain::Amount>();
            e.fee = item.at("fee").get<chain::Amount>();
            e.nonce = item.at("nonce").get<std::uint64_t>();
            e.memo_kind = item.at("memo_kind").get<std::string>();
            e.time = item.at("time").get<std::uint64_t>();
            e.outcome = item.value("outcome", std::string("accepted"));
            e.raw = item.value("raw", std::string());
            if (item.contains("request")) e.request = item.at("request");
            out.push_back(std::move(e));
        }
    } catch (const std::exception& e) {
        return make_error(ErrorKind::malformed, "wallet-history-invalid",
                          path.string() + ": " + e.what());
    }
    return out;
}

Status append_history(const std::filesystem::path& path, const HistoryEntry& entry) {
    auto entries = load_history(path);
    if (!entries) return entries.error();
    entries->push_back(entry);
    return write_history(path, *entries);
}

Status set_history_outcome(const std::filesystem::path& path, const std::string& txid,
                           const std::string& outcome) {
    auto entries = load_history(path);
    if (!entries) return entries.error();
    for (auto it = entries->rbegin(); it != entries->rend(); ++it)
        if (it->txid == txid) {
            it->outcome = outcome;
            return write_history(path, *entries);
        }
    return make_error(ErrorKind::local, "wallet-history-invalid", "no entry for " + txid);
}

}  // namespace learnchain::wallet
