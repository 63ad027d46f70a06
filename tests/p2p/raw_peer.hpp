// A bare synchronous WebSocket client speaking the P2P envelope: the hostile or scripted peer
// of the p2p and functional tests. TEST ONLY: not for use on a node's own threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <learnchain/chain/result.hpp>
#include <learnchain/p2p/address_book.hpp>
#include <learnchain/p2p/messages.hpp>

namespace learnchain::p2p::testing {

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
    // Next message, within `timeout`. Reasons p2p-closed, p2p-timeout, and decode's. A timed-out
    // read leaves the stream unusable: every later call fails (wait on a ping's pong instead).
    [[nodiscard]] Result<Message> receive(std::uint32_t magic, std::chrono::milliseconds timeout);
    // Version then verack both ways.
    [[nodiscard]] Status handshake(std::uint32_t magic, const VersionMessage& version,
                                   std::chrono::milliseconds timeout);
    // True once the remote closed the connection (waits up to `timeout` for it); false when it
    // did not within `timeout`, or an earlier receive timed out.
    [[nodiscard]] bool closed_within(std::chrono::milliseconds timeout);
    void close();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace learnchain::p2p::testing
