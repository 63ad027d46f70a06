// The connection manager (Bitcoin Core's net): WebSocket sessions over TCP, the version
// handshake, ping, per-peer rate limits, misbehaviour scores and bans, the address book and
// reconnection. What the messages mean is net_processing's business (sync.hpp), reached
// through the NetHandler interface.
//
// Threads: one io_context run by `threads` threads; each peer's I/O runs on its own strand.
// NetHandler callbacks run on the peer's strand (so one peer's messages arrive in order), and
// may call back into PeerManager freely: every public method is thread-safe.
// Beast stays out of this header: only src/net.cpp compiles it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <learnchain/chain/result.hpp>
#include <learnchain/node/messages.hpp>

namespace learnchain::node {

using PeerId = std::uint64_t;

struct Endpoint {
    std::string host;
    std::uint16_t port = 0;

    [[nodiscard]] std::string to_string() const { return host + ":" + std::to_string(port); }
    friend bool operator==(const Endpoint&, const Endpoint&) = default;
    friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

// "host:port"; reason p2p-bad-endpoint.
[[nodiscard]] Result<Endpoint> parse_endpoint(std::string_view text);

struct PeerInfo {
    PeerId id = 0;
    bool inbound = false;
    Endpoint remote;  // the socket's remote address
    VersionMessage version;
    int score = 0;
};

// Misbehaviour scores (src/P2P.md). A peer reaching ban_score is banned and disconnected.
namespace score {
inline constexpr int ban = 100;
inline constexpr int malformed_message = 100;  // anything decode_message rejects
inline constexpr int invalid_block = 100;      // any bad-* from accept_block / accept_header
inline constexpr int invalid_tx = 100;         // context-free tx failure (signature, chain id)
inline constexpr int protocol_violation = 20;  // e.g. a message before the handshake ends
inline constexpr int unconnecting_headers = 20;
inline constexpr int unrequested = 5;  // a block or certificate nobody asked for
}  // namespace score

struct NetOptions {
    std::uint32_t magic = 0;  // network_magic(genesis.chain_id)
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 0;  // 0: ephemeral, see PeerManager::port()
    bool listen = true;
    std::vector<Endpoint> connect;  // --connect: kept connected, reconnecting with backoff
    bool use_known_peers = false;   // also dial the addresses in peers.json at start
    std::filesystem::path datadir;  // banlist.json and peers.json; empty: nothing persisted
    std::string user_agent = "/learnchain:0.1.0/";
    std::size_t threads = 2;

    std::size_t max_inbound = 32;
    std::size_t max_outbound = 8;

    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(10);
    std::chrono::milliseconds ping_interval = std::chrono::seconds(60);
    std::chrono::milliseconds ping_timeout = std::chrono::seconds(30);
    // How often NetHandler::on_tick runs (download timeouts, scheduling).
    std::chrono::milliseconds tick_interval = std::chrono::milliseconds(200);
    std::chrono::milliseconds reconnect_initial = std::chrono::seconds(1);
    std::chrono::milliseconds reconnect_max = std::chrono::seconds(60);
    std::chrono::seconds ban_duration = std::chrono::hours(24);

    // A peer whose unsent output exceeds this is too slow to keep: it is disconnected rather
    // than buffered without bound. Must exceed one maximal block.
    std::size_t max_send_queue_bytes = 2 * max_wire_message_bytes;
    // Token buckets on what a peer sends us; an empty bucket pauses reading from that peer
    // (back-pressure through TCP), it does not punish.
    double max_messages_per_second = 2000;
    double max_messages_burst = 4000;
    double max_bytes_per_second = 64.0 * 1024 * 1024;
    double max_bytes_burst = 2.0 * max_wire_message_bytes;
};

class PeerManager;

// net_processing's side of the connection manager.
class NetHandler {
public:
    virtual ~NetHandler() = default;
    // Our version message for a new connection (genesis, best height and work); the
    // manager fills in nonce, user agent and listen port.
    [[nodiscard]] virtual VersionMessage local_version() = 0;
    // The handshake finished both ways.
    virtual void on_connected(const PeerInfo& peer) = 0;
    // A decoded, post-handshake message other than version, verack, ping and pong.
    virtual void on_message(PeerId peer, Message message) = 0;
    virtual void on_disconnected(PeerId peer) = 0;
    // Every NetOptions::tick_interval, on no particular strand.
    virtual void on_tick() = 0;
};

struct BanEntry {
    std::string address;     // IP address
    std::int64_t until = 0;  // unix seconds
    std::string reason;
};

class PeerManager {
public:
    PeerManager(NetOptions options, NetHandler& handler);
    ~PeerManager();  // stop()s
    PeerManager(const PeerManager&) = delete;
    PeerManager& operator=(const PeerManager&) = delete;

    // Loads banlist.json and peers.json, listens, dials the --connect peers, starts the
    // threads. Reasons: p2p-listen-failed, p2p-bad-banlist, p2p-bad-peers-file.
    [[nodiscard]] Status start();
    // Closes every connection and joins the threads; persists bans and known peers.
    void stop();

    [[nodiscard]] std::uint16_t port() const;  // bound port, once started

    // A one-shot outbound connection (no reconnection); see also NetOptions::connect.
    void connect(const Endpoint& endpoint);
    // Adds a peer to keep connected, reconnecting with exponential backoff.
    void add_persistent(const Endpoint& endpoint);

    // Queues a message; false if the peer is gone. Encodes on the caller's thread.
    bool send(PeerId peer, const Message& message);
    void broadcast(const Message& message, std::optional<PeerId> except = std::nullopt);
    // Adds to the peer's score; at score::ban the address is banned and the peer dropped.
    void misbehaving(PeerId peer, int how_much, const std::string& reason);
    void disconnect(PeerId peer, const std::string& reason);

    [[nodiscard]] std::vector<PeerInfo> peers() const;  // handshaken peers
    [[nodiscard]] std::size_t peer_count() const;
    [[nodiscard]] bool is_banned(const std::string& address) const;
    [[nodiscard]] std::vector<BanEntry> bans() const;
    void ban(const std::string& address, std::chrono::seconds duration, const std::string& reason);
    void unban(const std::string& address);
    [[nodiscard]] std::vector<Endpoint> known_peers() const;
    [[nodiscard]] std::uint64_t local_nonce() const;

    struct Impl;  // public so that net.cpp's session class can name it

private:
    std::unique_ptr<Impl> impl_;
};

// A bare synchronous WebSocket client speaking the envelope, for tools and tests that need
// to act as a (possibly misbehaving) peer. Not for use on the node's own threads.
class RawPeer {
public:
    RawPeer();
    ~RawPeer();
    RawPeer(const RawPeer&) = delete;
    RawPeer& operator=(const RawPeer&) = delete;

    // `local_address` binds the client side first (e.g. "127.0.0.2", to be told apart from
    // other loopback peers). Reason p2p-connect-failed.
    [[nodiscard]] Status connect(const Endpoint& remote, const std::string& local_address = {});
    [[nodiscard]] Status send_bytes(std::span<const std::uint8_t> bytes);
    [[nodiscard]] Status send(std::uint32_t magic, const Message& message);
    // Next message, within `timeout`. Reasons p2p-closed, p2p-timeout, and decode's.
    [[nodiscard]] Result<Message> receive(std::uint32_t magic, std::chrono::milliseconds timeout);
    // Version then verack both ways.
    [[nodiscard]] Status handshake(std::uint32_t magic, const VersionMessage& version,
                                   std::chrono::milliseconds timeout);
    // True once the remote closed the connection (waits up to `timeout` for it).
    [[nodiscard]] bool closed_within(std::chrono::milliseconds timeout);
    void close();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace learnchain::node
