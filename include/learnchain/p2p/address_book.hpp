// The address book (Bitcoin Core's addrman, reduced to what this node needs): endpoints of
// peers that completed a handshake, persisted in peers.json and dialled again at start.
// Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/result.hpp>
#include <learnchain/chain/threading.hpp>

namespace learnchain::p2p {

struct Endpoint {
    std::string host;
    std::uint16_t port = 0;

    [[nodiscard]] std::string to_string() const { return host + ":" + std::to_string(port); }
    friend bool operator==(const Endpoint&, const Endpoint&) = default;
    friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

// "host:port"; reason p2p-bad-endpoint.
[[nodiscard]] Result<Endpoint> parse_endpoint(std::string_view text);

class AddressBook {
public:
    // `path` is peers.json; empty: nothing is persisted.
    explicit AddressBook(std::filesystem::path path);

    // Reads the file. "p2p-bad-peers-file" when it is not ours.
    [[nodiscard]] Status load() EXCLUDES(mutex_);
    // Writes the file when the book changed since the last save (or always, with `force`).
    // The write happens outside the book's lock, so adding never waits for the disk.
    void save(bool force) EXCLUDES(mutex_, file_mutex_);

    // True when the endpoint is new.
    bool add(const Endpoint& endpoint) EXCLUDES(mutex_);
    [[nodiscard]] std::vector<Endpoint> endpoints() const EXCLUDES(mutex_);

private:
    const std::filesystem::path path_;
    Mutex file_mutex_;  // one writer of the file at a time (fixed temporary name)
    mutable Mutex mutex_ ACQUIRED_AFTER(file_mutex_);
    std::set<Endpoint> known_ GUARDED_BY(mutex_);
    bool changed_ GUARDED_BY(mutex_) = false;  // known_ differs from the file
};

}  // namespace learnchain::p2p
