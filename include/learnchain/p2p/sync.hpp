// net_processing (Bitcoin Core's PeerManager): what the messages mean. Headers-first sync with
// block locators, parallel body download with per-peer in-flight limits and stall re-requests,
// and relay of blocks, transactions and certificates by inventory. src/p2p/P2P.md describes the
// algorithm.
//
// Threads and locks: message handlers run on the connection manager's I/O threads and hold the
// chain's cs_main (chain/chainstate.hpp) and then Sync's own peer-state mutex, briefly. Blocks
// are handed to one block-processing thread, which accepts them through
// Chainstate::process_block, so a block's verification (seconds of recomputation) holds
// neither lock nor an I/O thread, and other peers' messages and pings are answered meanwhile.
// Messages to peers are collected under the locks and sent after they are released, so that
// encoding a large block never holds the chain.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <vector>

#include <learnchain/chain/chainstate.hpp>
#include <learnchain/chain/log.hpp>
#include <learnchain/chain/store.hpp>
#include <learnchain/chain/threading.hpp>
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
    // Estimated bytes of the blocks one peer has been asked for and has sent but not yet seen
    // processed (the estimate is a block's size from its header's work): what one peer can
    // make the node hold at once. One block is always allowed.
    std::uint64_t max_in_flight_bytes_per_peer = 256ull << 20;
    // Header-only branches one peer may have the node hold at once: chains that start neither
    // at the tip nor at the end of what it showed before. A branch stops counting once its
    // first block has a body or its headers are forgotten. More are refused and scored.
    std::size_t max_header_branches_per_peer = 8;
    // getdata: blocks one request may name, items waiting to be served per peer, and how far
    // ahead of its socket blocks are queued (the rest waits for the send queue to drain).
    std::size_t max_blocks_per_getdata = 16;
    std::size_t max_getdata_queue = 5000;
    std::size_t getdata_send_budget_bytes = 8u << 20;
    // Verified certificates kept for relay (getdata), by bytes.
    std::uint64_t max_recent_work_item_bytes = 128ull << 20;
    // Certificates from one peer that may wait for verification at once; more are ignored
    // until verdicts come back, so one peer cannot fill the verifier's queue.
    std::size_t max_unverified_work_items_per_peer = 8;
    // Certificates from one peer that may fail recomputation before it is sent no more work.
    std::size_t max_recompute_failures_per_peer = 3;
    // Transactions and certificates asked of one peer at once, and how long it has to deliver.
    std::size_t max_items_requested_per_peer = 1000;
    std::chrono::milliseconds item_timeout = std::chrono::seconds(30);
    // Blocks from one peer that may wait for the block-processing thread beyond those it was
    // asked for; more unrequested ones are dropped.
    std::size_t max_unrequested_queued_per_peer = 2;
    // Fraud proofs from one peer that may wait for their judgment at once (each costs one
    // micro-batch's recomputation); more are ignored until verdicts come back.
    std::size_t max_unjudged_fraud_proofs_per_peer = 2;
    // Ids of fraud proofs seen (judged, relayed or found here), so each is judged once.
    std::size_t max_known_fraud_proofs = 4096;
    // Proofs against blocks this node does not hold yet, kept to judge once the block arrives:
    // in all, and from one peer (so that one peer cannot push out everyone else's).
    std::size_t max_waiting_fraud_proofs = 64;
    std::size_t max_waiting_fraud_proofs_per_peer = 8;
    std::chrono::milliseconds progress_interval = std::chrono::seconds(5);
    // A tip whose time is older than this, with blocks on their way, is an initial download:
    // the node does not announce each block it connects. Claimed work plays no part, so a
    // header nobody delivers can never silence the node.
    std::uint64_t catching_up_tip_age_seconds = 3600;
};

struct SyncStats {
    std::uint64_t blocks_received = 0;
    std::uint64_t headers_received = 0;
    std::uint64_t blocks_rerequested = 0;
    std::uint64_t headers_ignored = 0;               // messages whose chain could not beat the tip
    std::map<PeerId, std::uint64_t> blocks_by_peer;  // bodies accepted, by sender
    std::uint64_t fraud_proofs_found = 0;            // by this node's own recomputation
    std::uint64_t fraud_proofs_received = 0;         // from peers, taken for judgment
    std::uint64_t fraud_proofs_proven = 0;           // received proofs that held (and were relayed)
    std::uint64_t fraud_proofs_refused = 0;          // received proofs that did not hold
    std::uint64_t blocks_condemned = 0;              // blocks this node condemned on a peer's proof
    // received proofs whose block is not on the main chain here, whose evidence held alone
    std::uint64_t evidence_proven = 0;
};

class Sync final : public NetHandler {
public:
    // The chainstate must outlive the Sync. Starts the block-processing thread.
    explicit Sync(chain::Chainstate& chainstate, SyncOptions options = {});
    ~Sync() override;  // stop()s
    Sync(const Sync&) = delete;
    Sync& operator=(const Sync&) = delete;

    // Wires the connection manager in; call before ConnectionManager::start.
    void attach(ConnectionManager& peers) { peers_ = &peers; }
    // Ends the block-processing thread (blocks still queued are dropped). Before the
    // connection manager goes; idempotent.
    void stop() EXCLUDES(queue_mutex_);

    // What became of a peer's certificate handed to on_work_item.
    enum class WorkItemFate {
        dropped,    // not taken (a full queue, say): not relayed, nothing follows
        verifying,  // taken for verification: work_item_verdict() follows
    };
    // A certificate arrived from a peer (`id` = work_item_id) with the size the genesis fixes.
    // Called without any lock held.
    std::function<WorkItemFate(PeerId, const Hash256& id, const chain::WorkItem&)> on_work_item;
    // A fraud proof this node found or judged true: its evidence, which a block of this chain may
    // carry (the miner's to include). cs_main and Sync's own locks may be held: it must only
    // queue.
    std::function<void(const chain::Evidence&)> on_proven_evidence;
    // How far a certificate's verification went: its cheap checks, which every node runs
    // before relaying, or also the recomputation, which a relay cannot afford.
    enum class WorkItemCheck { cheap, recomputed };
    // The verdict on a certificate that on_work_item left verifying. A valid one is relayed
    // (certificates are relayed only once verified, so junk does not spread). One that fails
    // its cheap checks scores its sender as an invalid block does, even after it disconnected:
    // no honest relay forwards it. One that fails only the recomputation was perhaps merely
    // forwarded: its sender is not scored, but after a few such it is sent no more work.
    void work_item_verdict(PeerId from, const Hash256& id, const Status& verdict,
                           WorkItemCheck checked) EXCLUDES(peers_mutex_);

    // Local submissions: accepted like a peer's, then announced to every peer. submit_block
    // runs the block's verification on the calling thread.
    [[nodiscard]] Result<Hash256> submit_transaction(const chain::Transaction& tx)
        EXCLUDES(chainstate_.cs_main, peers_mutex_);
    [[nodiscard]] Result<chain::AcceptResult> submit_block(const chain::Block& block)
        EXCLUDES(chainstate_.cs_main, peers_mutex_);
    void announce_work_item(const chain::WorkItem& item) EXCLUDES(peers_mutex_);

    [[nodiscard]] chain::BlockIndexEntry best_header() const EXCLUDES(peers_mutex_);
    [[nodiscard]] SyncStats stats() const EXCLUDES(peers_mutex_);
    // Catching up (initial block download): the tip is older than catching_up_tip_age_seconds
    // and blocks are on their way (in flight or being processed). Headers, whatever work they
    // claim, do not count.
    [[nodiscard]] bool downloading_blocks() const EXCLUDES(chainstate_.cs_main, peers_mutex_);
    // Blocks received and not processed yet (tests and benchmarks wait for 0).
    [[nodiscard]] std::size_t blocks_queued() const EXCLUDES(queue_mutex_);

    // --- NetHandler -----------------------------------------------------------------------
    [[nodiscard]] VersionMessage local_version() override EXCLUDES(chainstate_.cs_main);
    void on_connected(const PeerInfo& peer) override EXCLUDES(chainstate_.cs_main, peers_mutex_);
    void on_message(PeerId peer, Message message) override
        EXCLUDES(chainstate_.cs_main, peers_mutex_);
    void on_disconnected(PeerId peer) override EXCLUDES(chainstate_.cs_main, peers_mutex_);
    void on_send_drained(PeerId peer) override EXCLUDES(chainstate_.cs_main, peers_mutex_);
    void on_tick() override EXCLUDES(chainstate_.cs_main, peers_mutex_);

private:
    using Clock = std::chrono::steady_clock;

    // The part of a headers message whose signatures a helper thread is verifying.
    struct PendingHeaders {
        std::vector<chain::PreparedHeader> headers;  // the whole message
        std::size_t begin = 0;                       // the first header not accepted yet
        std::future<void> verified;  // declared last: destroyed (joined) before the headers
    };

    struct InFlight {
        Clock::time_point since;
        std::uint64_t bytes = 0;  // estimated from the header's work
    };

    struct PeerState {
        PeerInfo info;
        std::optional<PendingHeaders> pending_headers;
        std::optional<Hash256> best_known;  // best header the peer showed us
        chain::ChainWork best_known_work;
        std::map<Hash256, InFlight> in_flight;
        std::uint64_t in_flight_bytes = 0;  // of in_flight
        std::uint64_t queued_bytes = 0;     // its blocks waiting for the block-processing thread
        std::optional<Clock::time_point> headers_requested;
        std::set<Hash256> stalled;  // blocks this peer failed to deliver
        int stalls = 0;
        // First headers of the branches it made us store that are still header-only: a peer
        // holds at most max_header_branches_per_peer of them at once.
        std::set<Hash256> header_branches;
        std::deque<InvItem> getdata;  // asked for, not served yet
        std::set<InvItem> getdata_queued;
        std::size_t unverified_work_items = 0;  // handed to on_work_item, no verdict yet
        std::size_t recompute_failures = 0;     // its certificates that failed recomputation
        std::size_t unrequested_queued = 0;     // unrequested blocks waiting to be processed
        std::size_t items_requested = 0;        // transactions and certificates asked of it
        std::size_t unjudged_fraud_proofs = 0;  // its fraud proofs waiting for judgment
        std::size_t waiting_fraud_proofs = 0;   // its proofs waiting for their block
    };

    // A certificate between its arrival and its verdict.
    struct PendingWorkItem {
        chain::WorkItem item;
        PeerId from = 0;
    };

    // The sender of what was received before a restart: no peer has this id.
    static constexpr PeerId no_peer = 0;
    // A fraud proof waiting for the block-processing thread.
    struct QueuedFraudProof {
        PeerId from = 0;
        Hash256 id;
        chain::FraudProof proof;
    };

    // A block waiting for the block-processing thread.
    struct QueuedBlock {
        PeerId from = 0;
        chain::Block block;
        bool requested = false;
        std::uint64_t bytes = 0;  // its encoding, counted against the sender's bound
    };

    // Effects gathered under the lock, carried out after it is released.
    struct Outbox {
        std::vector<std::pair<PeerId, Message>> sends;
        std::vector<std::pair<Message, std::optional<PeerId>>> broadcasts;
        std::vector<std::tuple<PeerId, int, std::string>> misbehaving;
        std::vector<std::pair<PeerId, std::string>> disconnects;
        std::vector<std::tuple<PeerId, Hash256, chain::WorkItem>> work_items;
        std::vector<PeerId> drain_notices;  // peers with getdata still to serve
    };
    void flush(Outbox& out) EXCLUDES(chainstate_.cs_main, peers_mutex_);

    // The handlers: cs_main, then the peer state.
    void handle_getheaders(PeerState& peer, const GetHeadersMessage& message, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    void on_headers(PeerId id, HeadersMessage message) EXCLUDES(chainstate_.cs_main, peers_mutex_);
    // Accepts the pending part of a headers message if verified, or (with `wait`, or when
    // nothing is in flight from the peer) once verified.
    void finish_pending_headers(PeerState& peer, Outbox& out, bool wait)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    // Accepts headers[begin, end) of one message; false when the message is done with (an
    // error, or an empty message).
    [[nodiscard]] bool handle_headers(PeerState& peer,
                                      const std::vector<chain::PreparedHeader>& headers,
                                      std::size_t begin, std::size_t end, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    void handle_inv(PeerState& peer, const InvMessage& message, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    void handle_getdata(PeerState& peer, const GetDataMessage& message, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    // Serves the peer's getdata queue while its socket has room (getdata_send_budget_bytes).
    void serve_getdata(PeerState& peer, Outbox& out) REQUIRES(chainstate_.cs_main, peers_mutex_);
    void handle_notfound(PeerState& peer, const NotFoundMessage& message, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    // Queues the block for the block-processing thread.
    void handle_block(PeerState& peer, chain::Block block, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_) EXCLUDES(queue_mutex_);
    void handle_tx(PeerState& peer, const chain::Transaction& tx, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    void handle_work_item(PeerState& peer, const chain::WorkItem& item, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);
    // Queues a peer's fraud proof for judgment (or keeps it until its block arrives).
    void handle_fraud_proof(PeerState& peer, chain::FraudProof proof, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_) EXCLUDES(queue_mutex_);
    void queue_fraud_proof(PeerId from, const Hash256& id, chain::FraudProof proof)
        REQUIRES(peers_mutex_) EXCLUDES(queue_mutex_);
    // Keeps a proof until its block arrives; the oldest goes past the bound.
    void wait_for_block(QueuedFraudProof proof) REQUIRES(chainstate_.cs_main, peers_mutex_);
    // Whether a fraud proof's evidence names a key with immature rewards at the tip (its
    // signature checked, nothing recomputed).
    [[nodiscard]] bool evidence_burns(std::span<const std::uint8_t> evidence) const
        REQUIRES(chainstate_.cs_main);
    // Takes a proof out of the waiting list's count of its sender.
    void forget_waiting(const QueuedFraudProof& waiting) REQUIRES(peers_mutex_);
    // Deletes a proof kept on disk for judgment (ChainStore::keep_unjudged_fraud_proof).
    void forget_unjudged(const Hash256& id) REQUIRES(chainstate_.cs_main);
    // At startup: the proofs received before a restart and never judged, queued for judgment
    // or, when their block has not arrived, kept waiting for it.
    void resume_unjudged_fraud_proofs() REQUIRES(chainstate_.cs_main, peers_mutex_)
        EXCLUDES(queue_mutex_);
    // Remembers a fraud proof's id; false when it was known already.
    [[nodiscard]] bool note_fraud_proof(const Hash256& id) REQUIRES(peers_mutex_);
    // On the block-processing thread: judges the proof, relays it to every other peer when it
    // holds, then condemns the block; a proof that does not hold scores its sender.
    void process_fraud_proof(QueuedFraudProof queued)
        EXCLUDES(chainstate_.cs_main, peers_mutex_, queue_mutex_);
    // Sends the fraud proofs this node's own verification found to every peer.
    void relay_found_fraud_proofs(Outbox& out) REQUIRES(chainstate_.cs_main, peers_mutex_);

    // The block-processing thread, and what follows a processed block.
    void process_blocks() EXCLUDES(chainstate_.cs_main, peers_mutex_, queue_mutex_);
    void block_processed(PeerId from, const chain::Block& block,
                         const Result<chain::AcceptResult>& accepted, Outbox& out)
        REQUIRES(chainstate_.cs_main, peers_mutex_);

    [[nodiscard]] std::vector<Hash256> locator(const chain::BlockIndexEntry& from) const
        REQUIRES(chainstate_.cs_main);
    void request_headers(PeerState& peer, const chain::BlockIndexEntry& from, Outbox& out,
                         const Hash256& stop = {}) REQUIRES(chainstate_.cs_main);
    void note_header(PeerState* peer, const chain::BlockIndexEntry& entry) REQUIRES(peers_mutex_);
    // Falls back to the tip when the best header we chased turned out invalid.
    void forget_dead_best_header() REQUIRES(chainstate_.cs_main, peers_mutex_);
    void after_tip_change(const chain::AcceptResult& result, std::optional<PeerId> from,
                          Outbox& out) REQUIRES(chainstate_.cs_main, peers_mutex_);
    void schedule_downloads(Outbox& out) REQUIRES(chainstate_.cs_main, peers_mutex_);
    void release(PeerState& peer, const Hash256& hash) REQUIRES(peers_mutex_);
    // Asks `peer` for a transaction or certificate it announced, if nobody else is being asked.
    void request_item(PeerState& peer, const InvItem& item, GetDataMessage& request)
        REQUIRES(peers_mutex_);
    // The peer asked for `hash` gave up on it (notfound, timeout, gone): ask the next announcer.
    void rerequest_item(const Hash256& hash, Outbox& out) REQUIRES(peers_mutex_);
    // Keeps a verified certificate for relay, forgetting the oldest beyond the byte bound.
    void remember_work_item(const Hash256& id, const chain::WorkItem& item) REQUIRES(peers_mutex_);
    // Whether a block is worth storing unasked: more work than the tip.
    [[nodiscard]] bool adds_work(const chain::Block& block) const REQUIRES(chainstate_.cs_main);
    // A block's size as its header's work says (for the per-peer byte bound).
    [[nodiscard]] std::uint64_t estimated_bytes(const chain::BlockHeader& header) const
        REQUIRES(chainstate_.cs_main);
    // Catching up: an old tip, and blocks in flight or being processed.
    [[nodiscard]] bool downloading() const REQUIRES(chainstate_.cs_main, peers_mutex_);
    void update_progress() REQUIRES(chainstate_.cs_main, peers_mutex_);

    chain::Chainstate& chainstate_;
    const SyncOptions options_;
    ConnectionManager* peers_ = nullptr;

    mutable Mutex peers_mutex_ ACQUIRED_AFTER(chainstate_.cs_main);
    std::map<PeerId, PeerState> peer_states_ GUARDED_BY(peers_mutex_);
    std::map<Hash256, PeerId> requested_blocks_ GUARDED_BY(peers_mutex_);
    // Transactions and certificates asked for: from whom, since when, and who else announced
    // them (asked next if the first does not deliver).
    struct RequestedItem {
        InvType type = InvType::tx;
        PeerId from = 0;
        Clock::time_point since;
        std::vector<PeerId> others;
    };
    std::map<Hash256, RequestedItem> requested_items_ GUARDED_BY(peers_mutex_);
    std::set<Hash256> processing_ GUARDED_BY(peers_mutex_);  // arrived, queued or in process
    chain::BlockIndexEntry best_header_ GUARDED_BY(peers_mutex_);
    std::map<Hash256, chain::WorkItem> recent_work_items_ GUARDED_BY(peers_mutex_);
    std::deque<Hash256> recent_work_order_ GUARDED_BY(peers_mutex_);
    std::uint64_t recent_work_bytes_ GUARDED_BY(peers_mutex_) = 0;
    std::map<Hash256, PendingWorkItem> pending_work_items_ GUARDED_BY(peers_mutex_);
    SyncStats stats_ GUARDED_BY(peers_mutex_);
    std::optional<log::Progress> progress_ GUARDED_BY(peers_mutex_);
    std::uint64_t progress_start_ GUARDED_BY(peers_mutex_) = 0;
    std::uint64_t progress_target_ GUARDED_BY(peers_mutex_) = 0;
    Hash256 announced_tip_ GUARDED_BY(peers_mutex_);
    std::set<Hash256> known_fraud_proofs_ GUARDED_BY(peers_mutex_);
    std::deque<Hash256> known_fraud_proof_order_ GUARDED_BY(peers_mutex_);
    // Proofs against blocks not held yet, with their sender, oldest first (a few dozen: a
    // block's arrival scans them).
    std::deque<QueuedFraudProof> waiting_fraud_proofs_ GUARDED_BY(peers_mutex_);

    mutable Mutex queue_mutex_;
    std::condition_variable_any queue_changed_;
    std::deque<QueuedBlock> queue_ GUARDED_BY(queue_mutex_);
    std::deque<QueuedFraudProof> fraud_proof_queue_ GUARDED_BY(queue_mutex_);  // before blocks
    bool processing_one_ GUARDED_BY(queue_mutex_) = false;
    bool stopping_ GUARDED_BY(queue_mutex_) = false;
    std::thread processor_;  // declared last: started once everything above exists
};

}  // namespace learnchain::p2p
