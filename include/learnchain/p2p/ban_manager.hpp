// The ban manager (Bitcoin Core's banman): misbehaviour scores of live connections, bans by IP
// address with an expiry, and their persistence in banlist.json. Thread-safe.
//
// A peer reaching score::ban is banned for the configured duration; the connection manager
// then closes every connection from that address and refuses new ones until the ban expires.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <learnchain/chain/result.hpp>
#include <learnchain/chain/threading.hpp>

namespace learnchain::p2p {

using PeerId = std::uint64_t;

// Misbehaviour scores (src/p2p/P2P.md). A peer reaching ban is banned and disconnected.
namespace score {
inline constexpr int ban = 100;
inline constexpr int malformed_message = 100;  // anything decode_message rejects
inline constexpr int invalid_block = 100;      // a block or header that breaks a rule
inline constexpr int invalid_tx = 100;         // context-free tx failure (signature, chain id)
inline constexpr int protocol_violation = 20;  // e.g. a message before the handshake ends
inline constexpr int unconnecting_headers = 20;
inline constexpr int unrequested = 5;         // a block or certificate nobody asked for
inline constexpr int stalled = 20;            // asked for blocks and did not deliver them in time
inline constexpr int useless_headers = 10;    // unasked headers of a chain that cannot beat ours
inline constexpr int header_branches = 20;    // more header branches than a peer may store
inline constexpr int oversized_request = 10;  // a getdata naming more blocks than allowed
}  // namespace score

struct BanEntry {
    std::string address;     // IP address
    std::int64_t until = 0;  // unix seconds
    std::string reason;
};

class BanManager {
public:
    // `path` is banlist.json; empty: nothing is persisted.
    explicit BanManager(std::filesystem::path path);

    // Reads the ban list, dropping expired entries. "p2p-bad-banlist" when it is not ours.
    [[nodiscard]] Status load() EXCLUDES(mutex_);
    // Writes the unexpired bans (atomically, mode 0600); failures are logged.
    void save() const EXCLUDES(mutex_);

    [[nodiscard]] bool is_banned(const std::string& address) const EXCLUDES(mutex_);
    void ban(const std::string& address, std::chrono::seconds duration, const std::string& reason)
        EXCLUDES(mutex_);
    void unban(const std::string& address) EXCLUDES(mutex_);
    [[nodiscard]] std::vector<BanEntry> bans() const EXCLUDES(mutex_);  // unexpired, by address

    // Adds to a connection's score and returns the new total.
    int add_score(PeerId peer, int how_much) EXCLUDES(mutex_);
    [[nodiscard]] int score(PeerId peer) const EXCLUDES(mutex_);
    void forget(PeerId peer) EXCLUDES(mutex_);  // the connection closed

private:
    void save_locked() const REQUIRES(mutex_);
    [[nodiscard]] bool banned_locked(const std::string& address) const REQUIRES(mutex_);

    const std::filesystem::path path_;
    mutable Mutex mutex_;
    std::map<std::string, BanEntry> bans_ GUARDED_BY(mutex_);
    std::map<PeerId, int> scores_ GUARDED_BY(mutex_);
};

}  // namespace learnchain::p2p
