// The connection manager (Bitcoin Core's net, CConnman): WebSocket sessions over TCP, accepting
// and dialling, the version handshake, ping, per-peer rate limits and send queues, and
// reconnection. Scores and bans are the ban manager's (ban_manager.hpp), known endpoints the
// address book's (address_book.hpp); what the messages mean is net_processing's business
// (sync.hpp), reached through the NetHandler interface.
//
// Threads: one io_context run by `threads` threads; each peer's I/O runs on its own strand.
// NetHandler callbacks run on the peer's strand (so one peer's messages arrive in order) and
// must return promptly: a handler that blocks holds an I/O thread, and with every I/O thread
// held no peer's ping is answered. They may call back into ConnectionManager freely: every
// public method is thread-safe. Beast stays out of this header: only connection_manager.cpp
// compiles it.
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
#include <learnchain/p2p/address_book.hpp>
#include <learnchain/p2p/ban_manager.hpp>
#include <learnchain/p2p/messages.hpp>

namespace learnchain::p2p {

struct PeerInfo {
    PeerId id = 0;
    bool inbound = false;
    Endpoint remote;  // the socket's remote address
    VersionMessage version;
    int score = 0;
};

struct NetOptions {
    std::uint32_t magic = 0;  // network_magic(genesis.chain_id)
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 0;  // 0: ephemeral, see ConnectionManager::port()
    bool listen = true;
    std::vector<Endpoint> connect;  // --connect: kept connected, reconnecting with backoff
    bool use_known_peers = false;   // also dial the addresses in peers.json at start
    std::filesystem::path datadir;  // banlist.json and peers.json; empty: nothing persisted
    std::string user_agent = "/learnchain:0.1.0/";
    std::size_t threads = 2;

    std::size_t max_inbound = 32;
    // No one address may take every inbound slot.
    std::size_t max_inbound_per_address = 4;
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

class ConnectionManager;

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
    // The peer's send queue ran empty after notify_when_drained(peer). On the peer's strand.
    virtual void on_send_drained(PeerId peer) {}
    // Every NetOptions::tick_interval, on no particular strand.
    virtual void on_tick() = 0;
};

class ConnectionManager {
public:
    ConnectionManager(NetOptions options, NetHandler& handler);
    ~ConnectionManager();  // stop()s
    ConnectionManager(const ConnectionManager&) = delete;
    ConnectionManager& operator=(const ConnectionManager&) = delete;

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
    // Bytes queued to the peer and not yet written (0 once it is gone).
    [[nodiscard]] std::size_t queued_bytes(PeerId peer) const;
    // Calls NetHandler::on_send_drained(peer) once the peer's send queue is next empty: what a
    // handler serving large replies (blocks) waits for before queueing more.
    void notify_when_drained(PeerId peer);
    // Adds to the peer's score; at score::ban the address is banned and the peer dropped. A
    // peer that disconnected lately is still scored, by the address it had.
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

    struct Impl;  // public so that connection_manager.cpp's session class can name it

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace learnchain::p2p
