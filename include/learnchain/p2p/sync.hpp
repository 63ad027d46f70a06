// net_processing: what the messages mean. Headers-first sync with block locators, parallel
// body download with per-peer in-flight limits and stall re-requests, and relay of blocks,
// transactions and certificates by inventory. src/p2p/P2P.md describes the algorithm.
//
// Locking: one mutex (Bitcoin Core's cs_main) guards the store, the mempool and all sync
// state. Messages to peers are collected under it and sent after it is released, so that
// encoding a large block never holds the chain.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <learnchain/chain/log.hpp>
#include <learnchain/chain/mempool.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/p2p/connection_manager.hpp>
#include <learnchain/p2p/messages.hpp>

namespace learnchain::p2p {

struct SyncOptions {
    std::size_t max_blocks_in_flight_per_peer = 16;
    // A peer with blocks in flight is sent more requests only once this many slots are free,
    // so that one getdata asks for several blocks (an idle peer is always asked).
    std::size_t min_blocks_per_request = 8;
    // Bodies are fetched at most this far above the tip, so a long header chain never
    // turns into an unbounded request list.
    std::uint64_t download_window = 1024;
    // A requested block not delivered within this is re-requested from another peer; a
    // peer that stalls twice is disconnected.
    std::chrono::milliseconds block_timeout = std::chrono::seconds(20);
    std::chrono::milliseconds headers_timeout = std::chrono::seconds(60);
    std::size_t max_recent_work_items = 1024;
    // Certificates from one peer that may wait for verification at once; more are ignored
    // until verdicts come back, so one peer cannot fill the verifier's queue.
    std::size_t max_unverified_work_items_per_peer = 8;
    std::chrono::milliseconds progress_interval = std::chrono::seconds(5);
};

struct SyncStats {
    std::uint64_t blocks_received = 0;
    std::uint64_t headers_received = 0;
    std::uint64_t blocks_rerequested = 0;
    std::map<PeerId, std::uint64_t> blocks_by_peer;  // bodies accepted, by sender
};

class Sync final : public NetHandler {
public:
    // The store and mempool must outlive the Sync; access them through locked() once the
    // ConnectionManager runs.
    Sync(chain::ChainStore& store, chain::Mempool& mempool, SyncOptions options = {});

    // Wires the connection manager in; call before ConnectionManager::start.
    void attach(ConnectionManager& peers) { peers_ = &peers; }

    // What became of a peer's certificate handed to on_work_item.
    enum class WorkItemFate {
        dropped,    // not taken (a full queue, say): not relayed, nothing follows
        relay,      // taken as it is (a node that does not verify): relayed at once
        verifying,  // queued for verification: work_item_verdict() follows
    };
    // A certificate arrived from a peer (`id` = work_item_id). Called without Sync's lock held.
    std::function<WorkItemFate(PeerId, const Hash256& id, const chain::WorkItem&)> on_work_item;
    // The verdict on a certificate that on_work_item left verifying. A valid one is relayed
    // (certificates are relayed only once verified, so junk does not spread); one that breaks
    // a rule (bad-cert-*, a decode failure) scores its sender as an invalid block does.
    void work_item_verdict(PeerId from, const Hash256& id, const Status& verdict);

    // Local submissions: accepted like a peer's, then announced to every peer.
    [[nodiscard]] Result<Hash256> submit_transaction(const chain::Transaction& tx);
    [[nodiscard]] Result<chain::AcceptResult> submit_block(const chain::Block& block);
    void announce_work_item(const chain::WorkItem& item);

    // Runs `f(store, mempool)` under the chain lock.
    template <class F>
    auto locked(F&& f) {
        std::lock_guard lock(mutex_);
        return f(store_, mempool_);
    }
    [[nodiscard]] chain::BlockIndexEntry best_header() const;
    [[nodiscard]] SyncStats stats() const;

    // --- NetHandler -----------------------------------------------------------------------
    [[nodiscard]] VersionMessage local_version() override;
    void on_connected(const PeerInfo& peer) override;
    void on_message(PeerId peer, Message message) override;
    void on_disconnected(PeerId peer) override;
    void on_tick() override;

private:
    using Clock = std::chrono::steady_clock;

    // The part of a headers message whose signatures a helper thread is verifying.
    struct PendingHeaders {
        std::vector<chain::PreparedHeader> headers;  // the whole message
        std::size_t begin = 0;                       // the first header not accepted yet
        std::future<void> verified;  // declared last: destroyed (joined) before the headers
    };

    struct PeerState {
        PeerInfo info;
        std::optional<PendingHeaders> pending_headers;
        std::optional<Hash256> best_known;  // best header the peer showed us
        chain::ChainWork best_known_work;
        std::map<Hash256, Clock::time_point> in_flight;
        std::optional<Clock::time_point> headers_requested;
        std::set<Hash256> stalled;  // blocks this peer failed to deliver
        int stalls = 0;
        std::size_t unverified_work_items = 0;  // handed to on_work_item, no verdict yet
    };

    // Effects gathered under the lock, carried out after it is released.
    struct Outbox {
        std::vector<std::pair<PeerId, Message>> sends;
        std::vector<std::pair<Message, std::optional<PeerId>>> broadcasts;
        std::vector<std::tuple<PeerId, int, std::string>> misbehaving;
        std::vector<std::pair<PeerId, std::string>> disconnects;
        std::vector<std::tuple<PeerId, Hash256, chain::WorkItem>> work_items;
    };
    void flush(Outbox& out);

    void handle_getheaders(PeerState& peer, const GetHeadersMessage& message, Outbox& out);
    void on_headers(PeerId id, HeadersMessage message);
    // Accepts the pending part of a headers message if verified, or (with `wait`, or when
    // nothing is in flight from the peer) once verified.
    void finish_pending_headers(PeerState& peer, Outbox& out, bool wait);
    // Accepts headers[begin, end) of one message; false when the message is done with (an
    // error, or an empty message).
    [[nodiscard]] bool handle_headers(PeerState& peer,
                                      const std::vector<chain::PreparedHeader>& headers,
                                      std::size_t begin, std::size_t end, Outbox& out);
    void handle_inv(PeerState& peer, const InvMessage& message, Outbox& out);
    void handle_getdata(PeerState& peer, const GetDataMessage& message, Outbox& out);
    void handle_notfound(PeerState& peer, const NotFoundMessage& message, Outbox& out);
    void handle_block(PeerState& peer, const chain::Block& block, Outbox& out);
    void handle_tx(PeerState& peer, const chain::Transaction& tx, Outbox& out);
    void handle_work_item(PeerState& peer, const chain::WorkItem& item, Outbox& out);

    [[nodiscard]] std::vector<Hash256> locator(const chain::BlockIndexEntry& from) const;
    void request_headers(PeerState& peer, const chain::BlockIndexEntry& from, Outbox& out,
                         const Hash256& stop = {});
    void note_header(PeerState* peer, const chain::BlockIndexEntry& entry);
    void after_tip_change(const chain::AcceptResult& result, std::optional<PeerId> from,
                          Outbox& out);
    void schedule_downloads(Outbox& out);
    void release(PeerState& peer, const Hash256& hash);
    void remember_work_item(const Hash256& id, const chain::WorkItem& item);
    void update_progress();

    chain::ChainStore& store_;
    chain::Mempool& mempool_;
    SyncOptions options_;
    ConnectionManager* peers_ = nullptr;

    mutable std::mutex mutex_;
    std::map<PeerId, PeerState> peer_states_;
    std::map<Hash256, PeerId> requested_blocks_;
    std::set<Hash256> requested_txs_;
    std::set<Hash256> requested_certs_;
    chain::BlockIndexEntry best_header_;
    std::map<Hash256, chain::WorkItem> recent_work_items_;
    std::deque<Hash256> recent_work_order_;
    SyncStats stats_;
    std::optional<log::Progress> progress_;
    std::uint64_t progress_start_ = 0;
    std::uint64_t progress_target_ = 0;
    Hash256 announced_tip_;
};

}  // namespace learnchain::p2p
