// What the hostile-peer scenarios share: forging headers and blocks on a daemon's chain, and a
// scripted peer (RawPeer) speaking the real wire protocol from its own loopback address.
//
// TEST ONLY: these build invalid or useless objects on purpose.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <learnchain/chain/block.hpp>
#include <learnchain/chain/keys.hpp>
#include <learnchain/p2p/messages.hpp>

#include "functional/framework.hpp"
#include "p2p/raw_peer.hpp"

namespace learnchain::functional {

// The attacker's key: proposer signatures are anyone's to make.
[[nodiscard]] chain::SecretKey attacker_key();

// A header on `parent` (height + 1, one second later) claiming `work`, signed by the attacker.
// Its roots are those of an empty body unless the block is built by forged_block.
[[nodiscard]] chain::BlockHeader forged_header(const chain::BlockHeader& parent, std::uint64_t work,
                                               std::uint64_t time_offset = 1);

// A work item of `certificate_bytes` and `blob_bytes` of random junk (seeded).
[[nodiscard]] chain::WorkItem junk_work_item(std::size_t certificate_bytes, std::size_t blob_bytes,
                                             std::uint64_t seed);

// A block on `parent` claiming `work` whose one work item is junk_work_item(certificate_bytes,
// blob_bytes, seed); its tx and work roots match its body, so it fails only inside.
[[nodiscard]] chain::Block forged_block(const chain::BlockHeader& parent, std::uint64_t work,
                                        std::size_t certificate_bytes, std::size_t blob_bytes,
                                        std::uint64_t seed);

// A RawPeer connected and handshaken to `node` from `local_address`, claiming `best_work`.
struct HostilePeer {
    p2p::testing::RawPeer raw;
    std::uint32_t magic = 0;

    // The network (genesis block and magic) is read from `node` over RPC.
    [[nodiscard]] Status join(Daemon& node, const std::string& local_address,
                              chain::ChainWork best_work = {});
    [[nodiscard]] Status send(const p2p::Message& message) { return raw.send(magic, message); }
    // The next message other than pings (which are answered), within `timeout`.
    [[nodiscard]] Result<p2p::Message> next(std::chrono::milliseconds timeout);
};

// Serves `block` (a child of the node's tip) to `node` from `address` the way a peer announces
// a new tip: its header, then the body when asked; the connection stays open until `judged()`
// holds (the node took the block or refused it), so the block is not dropped mid-way. Fails
// the test when the node never asks for it.
void offer_block(Daemon& node, const std::string& address, const chain::Block& block,
                 const std::function<bool()>& judged);

// The score `node` holds against the connected peer from `address`, or nullopt when no peer
// from there is connected.
[[nodiscard]] std::optional<int> peer_score(Daemon& node, const std::string& address);

// Addresses on `node`'s ban list.
[[nodiscard]] std::vector<std::string> banned(Daemon& node);
[[nodiscard]] bool is_banned(Daemon& node, const std::string& address);

}  // namespace learnchain::functional
