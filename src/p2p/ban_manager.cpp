#include <learnchain/chain/log.hpp>
#include <learnchain/chain/time.hpp>
#include <learnchain/p2p/ban_manager.hpp>

#include "json_file.hpp"

namespace learnchain::p2p {

using json = nlohmann::json;

BanManager::BanManager(std::filesystem::path path) : path_(std::move(path)) {}

Status BanManager::load() {
    if (path_.empty()) return ok_status();
    auto file = detail::read_json_file(path_, "p2p-bad-banlist");
    if (!file) return file.error();
    LOCK(mutex_);
    try {
        if (file->contains("bans"))
            for (const auto& entry : file->at("bans")) {
                BanEntry ban{entry.at("address").get<std::string>(),
                             entry.at("until").get<std::int64_t>(),
                             entry.value("reason", std::string())};
                if (ban.until > static_cast<std::int64_t>(unix_time())) bans_[ban.address] = ban;
            }
    } catch (const json::exception& e) {
        return make_error(ErrorKind::malformed, "p2p-bad-banlist", e.what());
    }
    return ok_status();
}

void BanManager::save() const {
    LOCK(mutex_);
    save_locked();
}

void BanManager::save_locked() const {
    if (path_.empty()) return;
    json list = json::array();
    for (const auto& [address, entry] : bans_)
        if (banned_locked(address))
            list.push_back(
                {{"address", address}, {"until", entry.until}, {"reason", entry.reason}});
    if (auto status = detail::write_json_file(path_, json{{"version", 1}, {"bans", list}}); !status)
        log::warn("p2p: {}", status.error().to_string());
}

bool BanManager::banned_locked(const std::string& address) const {
    const auto it = bans_.find(address);
    return it != bans_.end() && it->second.until > static_cast<std::int64_t>(unix_time());
}

bool BanManager::is_banned(const std::string& address) const {
    LOCK(mutex_);
    return banned_locked(address);
}

void BanManager::ban(const std::string& address, std::chrono::seconds duration,
                     const std::string& reason) {
    if (address.empty()) return;
    log::warn("p2p: banning {} for {} s: {}", address, duration.count(), reason);
    LOCK(mutex_);
    bans_[address] =
        BanEntry{address, static_cast<std::int64_t>(unix_time()) + duration.count(), reason};
    save_locked();
}

void BanManager::unban(const std::string& address) {
    LOCK(mutex_);
    bans_.erase(address);
    save_locked();
}

std::vector<BanEntry> BanManager::bans() const {
    LOCK(mutex_);
    std::vector<BanEntry> out;
    for (const auto& [address, entry] : bans_)
        if (banned_locked(address)) out.push_back(entry);
    return out;
}

int BanManager::add_score(PeerId peer, int how_much) {
    LOCK(mutex_);
    return scores_[peer] += how_much;
}

int BanManager::score(PeerId peer) const {
    LOCK(mutex_);
    const auto it = scores_.find(peer);
    return it == scores_.end() ? 0 : it->second;
}

void BanManager::forget(PeerId peer) {
    LOCK(mutex_);
    scores_.erase(peer);
}

}  // namespace learnchain::p2p
