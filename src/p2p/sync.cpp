// net_processing: headers-first sync, parallel block download and inventory relay.
#include <algorithm>
#include <future>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include <learnchain/chain/time.hpp>
#include <learnchain/p2p/sync.hpp>

#include <sys/resource.h>
#include <unistd.h>

namespace learnchain::p2p {

namespace {

// Bitcoin Core's MaybePunishNodeForBlock: what a block or header that failed with `kind` costs
// the peer that sent it. Breaking a rule, or a body that does not match its header, is the
// sender's doing; a missing parent is handled by the caller (unconnecting headers); a block
// ahead of our clock may be our clock's fault, and our own failures are nobody's. A rule only
// recomputation shows (a faked micro-batch) is not the sender's: a node that sampled past it
// relays it honestly, and the fraud proof is what answers it.
int block_punishment(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid:
        case ErrorKind::conflict:  // against the parent's state: a rule broken
        case ErrorKind::mutated:
        case ErrorKind::malformed:
            return score::invalid_block;
        case ErrorKind::fraud:
        case ErrorKind::missing:
        case ErrorKind::policy:
        case ErrorKind::local:
            return 0;
    }
    return 0;
}

// A fraud proof or its evidence that does not hold is its sender's doing (nodes relay only the
// proofs they judged); a failure of any other kind says nothing of the proof.
bool is_senders_fault(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid:
        case ErrorKind::mutated:
        case ErrorKind::malformed:
            return true;
        case ErrorKind::fraud:
        case ErrorKind::missing:
        case ErrorKind::conflict:
        case ErrorKind::policy:
        case ErrorKind::local:
            return false;
    }
    return false;
}

// A transaction that is broken on its own (a bad signature, another chain's id) is the sender's
// doing; one that conflicts with our state (a nonce already used) may be an honest relay's view
// of another tip, and a full mempool is nobody's fault.
int transaction_punishment(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid:
        case ErrorKind::mutated:
        case ErrorKind::malformed:
            return score::invalid_tx;
        case ErrorKind::fraud:  // no transaction rule is of this kind
        case ErrorKind::missing:
        case ErrorKind::conflict:
        case ErrorKind::policy:
        case ErrorKind::local:
            return 0;
    }
    return 0;
}

// Headers-first sync verifies a whole headers message (up to 2000 signatures, ~40 us each)
// before it can ask for a single body, while the peer and the other cores wait: spread the
// verifications over the cores, this thread included.
void verify_signatures(std::span<chain::PreparedHeader* const> headers) {
    constexpr std::size_t min_per_thread = 32;  // below that, starting a thread costs more
    constexpr std::size_t max_threads = 8;
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    const std::size_t threads =
        std::clamp<std::size_t>(headers.size() / min_per_thread, 1, std::min(cores, max_threads));
    auto verify_share = [headers, threads](std::size_t first) {
        for (std::size_t i = first; i < headers.size(); i += threads)
            headers[i]->verify_signature();
    };
    std::vector<std::jthread> helpers;
    std::size_t share = 1;
    for (; share < threads; ++share) {
        try {
            helpers.emplace_back(verify_share, share);
        } catch (const std::system_error&) {
            break;  // no thread to be had: this one does the rest
        }
    }
    verify_share(0);
    for (; share < threads; ++share) verify_share(share);
}

// The background verification of a headers message's rest must use the CPU that the body
// download leaves idle (waiting for the peer, for fsync), not take it from the connects and
// from the peer's replies: on a busy machine it ran at their expense and delayed the first
// bodies by milliseconds. Best effort: where it fails the thread keeps its priority.
void lower_this_thread_priority() {
#ifdef __linux__
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
#endif
}

}  // namespace

Sync::Sync(chain::Chainstate& chainstate, SyncOptions options)
    : chainstate_(chainstate), options_(options) {
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        best_header_ = chainstate_.store().tip();
        announced_tip_ = best_header_.hash;
        resume_unjudged_fraud_proofs();
    }
    processor_ = std::thread([this] { process_blocks(); });
}

Sync::~Sync() {
    stop();
}

void Sync::stop() {
    {
        LOCK(queue_mutex_);
        if (stopping_) return;
        stopping_ = true;
    }
    queue_changed_.notify_all();
    processor_.join();
}

chain::BlockIndexEntry Sync::best_header() const {
    LOCK(peers_mutex_);
    return best_header_;
}

SyncStats Sync::stats() const {
    LOCK(peers_mutex_);
    return stats_;
}

bool Sync::downloading_blocks() const {
    LOCK(chainstate_.cs_main);
    LOCK(peers_mutex_);
    return downloading();
}

std::size_t Sync::blocks_queued() const {
    LOCK(queue_mutex_);
    return queue_.size() + (processing_one_ ? 1 : 0);
}

void Sync::flush(Outbox& out) {
    if (peers_ == nullptr) return;
    for (auto& [peer, message] : out.sends) peers_->send(peer, message);
    for (auto& [message, except] : out.broadcasts) peers_->broadcast(message, except);
    for (auto& [peer, how_much, reason] : out.misbehaving)
        peers_->misbehaving(peer, how_much, reason);
    for (auto& [peer, reason] : out.disconnects) peers_->disconnect(peer, reason);
    for (const PeerId peer : out.drain_notices) peers_->notify_when_drained(peer);
    for (auto& [peer, id, item] : out.work_items) {
        const WorkItemFate fate =
            on_work_item ? on_work_item(peer, id, item) : WorkItemFate::dropped;
        if (fate == WorkItemFate::dropped) {
            LOCK(peers_mutex_);
            pending_work_items_.erase(id);
            if (auto it = peer_states_.find(peer); it != peer_states_.end())
                --it->second.unverified_work_items;
        }
    }
}

// --- NetHandler ---------------------------------------------------------------------------------

VersionMessage Sync::local_version() {
    LOCK(chainstate_.cs_main);
    VersionMessage version;
    version.genesis_hash = chainstate_.store().genesis_hash();
    version.best_height = chainstate_.store().height();
    version.best_work = chainstate_.store().tip().cumulative_work;
    return version;
}

void Sync::on_connected(const PeerInfo& info) {
    Outbox out;
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        PeerState& peer = peer_states_[info.id];
        peer.info = info;
        // Ask anyone who claims more work than our tip for headers, even when another peer
        // already sent them: a peer is asked for bodies only on a chain it has shown us, so
        // the locator starts at the tip, not at the best header, to make it show us.
        if (info.version.best_work > chainstate_.store().tip().cumulative_work)
            request_headers(peer, chainstate_.store().tip(), out);
    }
    flush(out);
}

void Sync::on_disconnected(PeerId id) {
    Outbox out;
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        const auto it = peer_states_.find(id);
        if (it == peer_states_.end()) return;
        for (const auto& [hash, flight] : it->second.in_flight) requested_blocks_.erase(hash);
        // Its certificates still under verification are dropped: their verdicts relay nothing.
        std::erase_if(pending_work_items_,
                      [&](const auto& entry) { return entry.second.from == id; });
        peer_states_.erase(it);  // its getdata queue goes with it
        std::vector<Hash256> orphaned;
        for (auto& [hash, item] : requested_items_) {
            std::erase(item.others, id);
            if (item.from == id) orphaned.push_back(hash);
        }
        for (const auto& hash : orphaned) rerequest_item(hash, out);
        schedule_downloads(out);
    }
    flush(out);
}

void Sync::on_send_drained(PeerId id) {
    Outbox out;
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        const auto it = peer_states_.find(id);
        if (it == peer_states_.end()) return;
        serve_getdata(it->second, out);
    }
    flush(out);
}

void Sync::on_message(PeerId id, Message message) {
    if (auto* headers = std::get_if<HeadersMessage>(&message))
        return on_headers(id, std::move(*headers));
    Outbox out;
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        const auto it = peer_states_.find(id);
        if (it == peer_states_.end()) return;  // raced with its disconnect
        PeerState& peer = it->second;
        std::visit(
            [&](auto& m) REQUIRES(chainstate_.cs_main, peers_mutex_) {
                using T = std::decay_t<decltype(m)>;
                if constexpr (std::is_same_v<T, GetHeadersMessage>)
                    handle_getheaders(peer, m, out);
                else if constexpr (std::is_same_v<T, InvMessage>)
                    handle_inv(peer, m, out);
                else if constexpr (std::is_same_v<T, GetDataMessage>)
                    handle_getdata(peer, m, out);
                else if constexpr (std::is_same_v<T, NotFoundMessage>)
                    handle_notfound(peer, m, out);
                else if constexpr (std::is_same_v<T, BlockMessage>)
                    handle_block(peer, std::move(m.block), out);
                else if constexpr (std::is_same_v<T, TxMessage>)
                    handle_tx(peer, m.tx, out);
                else if constexpr (std::is_same_v<T, WorkItemMessage>)
                    handle_work_item(peer, m.item, out);
                else if constexpr (std::is_same_v<T, FraudProofMessage>)
                    handle_fraud_proof(peer, std::move(m.proof), out);
                else
                    out.misbehaving.emplace_back(
                        id, score::protocol_violation,
                        "p2p-unexpected-" +
                            std::string(message_type_name(message_type(Message{m}))));
            },
            message);
        finish_pending_headers(peer, out, false);
    }
    flush(out);
}

void Sync::on_tick() {
    Outbox out;
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        const auto now = Clock::now();
        for (auto& [id, peer] : peer_states_) {
            finish_pending_headers(peer, out, false);
            std::vector<Hash256> late;
            for (const auto& [hash, flight] : peer.in_flight)
                if (now - flight.since > options_.block_timeout) late.push_back(hash);
            for (const auto& hash : late) {
                release(peer, hash);
                peer.stalled.insert(hash);
                ++stats_.blocks_rerequested;
            }
            if (!late.empty()) {
                // Asked and not delivered in time: the blocks go to other peers, the peer is
                // scored (so one that stalls on purpose across reconnections ends up banned)
                // and dropped at its second stall.
                out.misbehaving.emplace_back(id, score::stalled, "p2p-block-download-stalled");
                if (++peer.stalls >= 2)
                    out.disconnects.emplace_back(id, "p2p-block-download-stalled");
            }
            if (peer.headers_requested && now - *peer.headers_requested > options_.headers_timeout)
                out.disconnects.emplace_back(id, "p2p-headers-timeout");
            if (!peer.getdata.empty()) serve_getdata(peer, out);
        }
        std::vector<Hash256> late_items;
        for (const auto& [hash, item] : requested_items_)
            if (now - item.since > options_.item_timeout) late_items.push_back(hash);
        for (const auto& hash : late_items) rerequest_item(hash, out);
        schedule_downloads(out);
    }
    flush(out);
}

// --- headers ------------------------------------------------------------------------------------

std::vector<Hash256> Sync::locator(const chain::BlockIndexEntry& from) const {
    // Dense for the last ten, then doubling steps back to genesis: a peer on another branch
    // finds our fork point in O(log n) hashes.
    std::vector<Hash256> hashes;
    std::uint64_t height = from.header.height;
    std::uint64_t step = 1;
    while (hashes.size() + 1 < max_locator_hashes) {
        const auto entry = chainstate_.store().ancestor(from.hash, height);
        if (!entry) break;
        hashes.push_back(entry->hash);
        if (height == 0) return hashes;
        if (hashes.size() >= 10) step *= 2;
        height = height > step ? height - step : 0;
    }
    hashes.push_back(chainstate_.store().genesis_hash());
    return hashes;
}

void Sync::request_headers(PeerState& peer, const chain::BlockIndexEntry& from, Outbox& out,
                           const Hash256& stop) {
    peer.headers_requested = Clock::now();
    out.sends.emplace_back(peer.info.id, GetHeadersMessage{locator(from), stop});
}

void Sync::handle_getheaders(PeerState& peer, const GetHeadersMessage& message, Outbox& out) {
    // Serve from the main chain, after the first locator hash on it.
    std::uint64_t start = 1;
    for (const auto& hash : message.locator) {
        if (!chainstate_.store().on_main_chain(hash)) continue;
        start = chainstate_.store().lookup(hash)->header.height + 1;
        break;
    }
    HeadersMessage reply;
    for (std::uint64_t h = start;
         h <= chainstate_.store().height() && reply.headers.size() < max_headers_per_message; ++h) {
        const auto hash = chainstate_.store().hash_at(h);
        if (!hash) break;
        reply.headers.push_back(*chainstate_.store().header(*hash));
        if (*hash == message.stop) break;
    }
    out.sends.emplace_back(peer.info.id, std::move(reply));
}

void Sync::note_header(PeerState* peer, const chain::BlockIndexEntry& entry) {
    if (entry.cumulative_work > best_header_.cumulative_work) best_header_ = entry;
    if (peer != nullptr && entry.cumulative_work > peer->best_known_work) {
        peer->best_known = entry.hash;
        peer->best_known_work = entry.cumulative_work;
    }
}

// A headers message is accepted in two parts so that bodies download while signatures are
// verified: the first two windows' worth of headers is verified, accepted and its bodies
// requested at once; the rest is verified on a helper thread, with no lock held, while those
// bodies arrive and connect (on a durable store mostly waiting for fsync), and is accepted when
// the peer's next message finds it ready (finish_pending_headers). Only headers we do not know
// yet are verified: a peer showing us a chain another peer already sent costs lookups.
void Sync::on_headers(PeerId id, HeadersMessage message) {
    std::vector<chain::PreparedHeader> headers;
    headers.reserve(message.headers.size());
    for (auto& header : message.headers) headers.emplace_back(std::move(header));
    std::vector<chain::PreparedHeader*> unknown;
    bool cannot_matter = false;
    Outbox earlier;
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        const auto it = peer_states_.find(id);
        if (it == peer_states_.end()) return;               // raced with its disconnect
        finish_pending_headers(it->second, earlier, true);  // messages are handled in order
        const chain::ChainStore& store = chainstate_.store();
        // Headers that cannot matter are neither stored nor their signatures checked: the chain
        // the message ends must have more work than the tip. Unasked, they cost the sender.
        if (!headers.empty())
            if (const auto parent = store.lookup(headers.front().header().parent)) {
                chain::ChainWork end = parent->cumulative_work;
                for (const auto& header : headers) end = end.plus(header.header().work);
                if (end <= store.tip().cumulative_work) {
                    PeerState& peer = it->second;
                    ++stats_.headers_ignored;
                    if (!std::exchange(peer.headers_requested, std::nullopt))
                        earlier.misbehaving.emplace_back(id, score::useless_headers,
                                                         "p2p-headers-cannot-matter");
                    cannot_matter = true;
                }
            }
        if (!cannot_matter)
            for (auto& header : headers)
                if (!store.lookup(header.hash())) unknown.push_back(&header);
    }
    flush(earlier);
    if (cannot_matter) return;

    const std::size_t first_end = std::min(
        headers.size(), 2 * std::max<std::size_t>(1, options_.max_blocks_in_flight_per_peer));
    const auto first_unknown = std::partition_point(
        unknown.begin(), unknown.end(),
        [&](const chain::PreparedHeader* header) { return header < headers.data() + first_end; });
    verify_signatures(std::span(unknown.begin(), first_unknown));
    // Pointers into `headers`, whose buffer moves with it into PendingHeaders.
    std::vector<chain::PreparedHeader*> rest(first_unknown, unknown.end());

    Outbox out;
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        const auto it = peer_states_.find(id);
        if (it == peer_states_.end()) return;
        PeerState& peer = it->second;
        if (handle_headers(peer, headers, 0, first_end, out) && first_end < headers.size()) {
            PendingHeaders pending{std::move(headers), first_end, {}};
            try {
                pending.verified = std::async(std::launch::async, [rest] {
                    lower_this_thread_priority();
                    verify_signatures(rest);
                });
            } catch (const std::system_error&) {
                verify_signatures(rest);  // no thread to be had: verify here
                pending.verified = std::async(std::launch::deferred, [] {});  // never waits
            }
            peer.pending_headers.emplace(std::move(pending));
            finish_pending_headers(peer, out, false);
        }
    }
    flush(out);
}

void Sync::finish_pending_headers(PeerState& peer, Outbox& out, bool wait) {
    if (!peer.pending_headers) return;
    // With nothing in flight from this peer there is nothing better to do than to wait.
    if (!wait && !peer.in_flight.empty() &&
        peer.pending_headers->verified.wait_for(std::chrono::seconds(0)) ==
            std::future_status::timeout)
        return;
    PendingHeaders pending = std::move(*peer.pending_headers);
    peer.pending_headers.reset();
    pending.verified.wait();
    (void)handle_headers(peer, pending.headers, pending.begin, pending.headers.size(), out);
}

bool Sync::handle_headers(PeerState& peer, const std::vector<chain::PreparedHeader>& headers,
                          std::size_t begin, std::size_t end, Outbox& out) {
    const PeerId id = peer.info.id;
    if (headers.empty()) {
        peer.headers_requested.reset();
        return false;
    }
    stats_.headers_received += end - begin;
    for (std::size_t i = std::max<std::size_t>(begin, 1); i < end; ++i) {
        if (headers[i].header().parent != headers[i - 1].hash()) {
            out.misbehaving.emplace_back(id, score::malformed_message,
                                         "p2p-headers-not-continuous");
            return false;
        }
    }
    const chain::ChainStore& store = chainstate_.store();
    if (begin == 0 && !store.lookup(headers.back().hash())) {
        // A chain that does not start at our tip or at the end of what this peer showed before
        // is a branch; each costs storage, so a peer holds only a few at a time. (Starting
        // anywhere below the end of its best chain is a branch too, or siblings would be free.)
        const Hash256& parent = headers.front().header().parent;
        const auto parent_entry = store.lookup(parent);
        const bool extends =
            parent == store.tip().hash || (peer.best_known && parent == *peer.best_known);
        if (parent_entry && !extends) {
            std::erase_if(peer.header_branches, [&](const Hash256& first) {
                const auto record = store.record(first);
                return !record || record->has(chain::block_status::have_body);
            });
            if (peer.header_branches.size() >= options_.max_header_branches_per_peer) {
                out.misbehaving.emplace_back(id, score::header_branches,
                                             "p2p-too-many-header-branches");
                peer.headers_requested.reset();
                return false;
            }
            peer.header_branches.insert(headers.front().hash());
        }
    }
    const auto part = std::span(headers).subspan(begin, end - begin);
    const auto accepted = chainstate_.store().accept_headers(part, unix_time());
    for (const auto& entry : accepted.entries) note_header(&peer, entry);
    if (accepted.error) {
        const Error& error = *accepted.error;
        if (error.kind == ErrorKind::missing && begin == 0 && accepted.entries.empty()) {
            // Not connecting to anything we know: ask again from our best header.
            out.misbehaving.emplace_back(id, score::unconnecting_headers,
                                         "p2p-unconnecting-headers");
            request_headers(peer, best_header_, out);
            return false;
        }
        log::info("p2p: peer {} sent a bad header: {}", id, error.to_string());
        if (const int score = block_punishment(error.kind); score > 0)
            out.misbehaving.emplace_back(id, score, error.reason);
        peer.headers_requested.reset();
        return false;
    }
    if (end == headers.size()) {
        if (headers.size() == max_headers_per_message)
            request_headers(peer, accepted.entries.back(), out);  // more to come
        else
            peer.headers_requested.reset();
    }
    update_progress();
    schedule_downloads(out);
    return true;
}

// --- inventory ----------------------------------------------------------------------------------

void Sync::handle_inv(PeerState& peer, const InvMessage& message, Outbox& out) {
    GetDataMessage wanted;
    bool unknown_block = false;
    Hash256 last_unknown_block;
    for (const auto& item : message.items) {
        switch (item.type) {
            case InvType::block:
                if (const auto entry = chainstate_.store().lookup(item.hash)) {
                    note_header(&peer, *entry);
                } else {
                    unknown_block = true;
                    last_unknown_block = item.hash;
                }
                break;
            case InvType::tx:
                if (!chainstate_.mempool().contains(item.hash)) request_item(peer, item, wanted);
                break;
            case InvType::cert:
                if (!recent_work_items_.contains(item.hash) &&
                    !pending_work_items_.contains(item.hash))
                    request_item(peer, item, wanted);
                break;
        }
    }
    // Headers first: learn how an unknown block connects before asking for its body.
    if (unknown_block) request_headers(peer, best_header_, out, last_unknown_block);
    if (!wanted.items.empty()) out.sends.emplace_back(peer.info.id, std::move(wanted));
    schedule_downloads(out);
}

void Sync::handle_getdata(PeerState& peer, const GetDataMessage& message, Outbox& out) {
    // Queued, not answered at once: a request naming one big block thousands of times, or
    // more blocks than the socket can take, must cost the sender time, not the node memory.
    // Duplicates (of this request or of one still queued) are dropped and count for nothing.
    std::size_t blocks = 0;
    for (const auto& item : message.items) {
        if (peer.getdata_queued.contains(item)) continue;
        if (item.type == InvType::block && ++blocks > options_.max_blocks_per_getdata) {
            out.misbehaving.emplace_back(peer.info.id, score::oversized_request,
                                         "p2p-getdata-too-many-blocks");
            break;
        }
        if (peer.getdata.size() >= options_.max_getdata_queue) break;
        peer.getdata_queued.insert(item);
        peer.getdata.push_back(item);
    }
    serve_getdata(peer, out);
}

void Sync::serve_getdata(PeerState& peer, Outbox& out) {
    const PeerId id = peer.info.id;
    const chain::ChainStore& store = chainstate_.store();
    const std::size_t queued = peers_ != nullptr ? peers_->queued_bytes(id) : 0;
    std::size_t room =
        options_.getdata_send_budget_bytes - std::min(queued, options_.getdata_send_budget_bytes);
    NotFoundMessage missing;
    while (!peer.getdata.empty() && room > 0) {
        const InvItem item = peer.getdata.front();
        peer.getdata.pop_front();
        peer.getdata_queued.erase(item);
        switch (item.type) {
            case InvType::block: {
                // Main-chain blocks only: a side branch is nobody's to fetch from us.
                if (!store.on_main_chain(item.hash)) break;
                auto block = store.block(item.hash);
                if (!block || !*block) break;
                room -= std::min(room, (*block)->encoded_size());
                out.sends.emplace_back(id, BlockMessage{std::move(**block)});
                continue;
            }
            case InvType::tx:
                if (auto tx = chainstate_.mempool().get(item.hash)) {
                    out.sends.emplace_back(id, TxMessage{std::move(*tx)});
                    continue;
                }
                break;
            case InvType::cert:
                if (const auto it = recent_work_items_.find(item.hash);
                    it != recent_work_items_.end()) {
                    room -= std::min(room, it->second.certificate.size() + it->second.blob.size());
                    out.sends.emplace_back(id, WorkItemMessage{it->second});
                    continue;
                }
                break;
        }
        missing.items.push_back(item);
    }
    if (!missing.items.empty()) out.sends.emplace_back(id, std::move(missing));
    if (!peer.getdata.empty()) out.drain_notices.push_back(id);
}

void Sync::handle_notfound(PeerState& peer, const NotFoundMessage& message, Outbox& out) {
    for (const auto& item : message.items) {
        if (item.type == InvType::block && peer.in_flight.contains(item.hash)) {
            release(peer, item.hash);
            peer.stalled.insert(item.hash);
        }
        if (item.type != InvType::block) {
            const auto it = requested_items_.find(item.hash);
            if (it != requested_items_.end() && it->second.from == peer.info.id)
                rerequest_item(item.hash, out);
        }
    }
    schedule_downloads(out);
}

// --- blocks -------------------------------------------------------------------------------------

void Sync::release(PeerState& peer, const Hash256& hash) {
    if (const auto it = peer.in_flight.find(hash); it != peer.in_flight.end()) {
        peer.in_flight_bytes -= std::min(peer.in_flight_bytes, it->second.bytes);
        peer.in_flight.erase(it);
    }
    if (const auto it = requested_blocks_.find(hash);
        it != requested_blocks_.end() && it->second == peer.info.id)
        requested_blocks_.erase(it);
}

void Sync::request_item(PeerState& peer, const InvItem& item, GetDataMessage& request) {
    if (auto it = requested_items_.find(item.hash); it != requested_items_.end()) {
        auto& others = it->second.others;
        constexpr std::size_t max_others = 8;
        if (it->second.from != peer.info.id && others.size() < max_others &&
            std::find(others.begin(), others.end(), peer.info.id) == others.end())
            others.push_back(peer.info.id);
        return;
    }
    if (peer.items_requested >= options_.max_items_requested_per_peer) return;
    ++peer.items_requested;
    requested_items_.emplace(item.hash, RequestedItem{item.type, peer.info.id, Clock::now(), {}});
    request.items.push_back(item);
}

void Sync::rerequest_item(const Hash256& hash, Outbox& out) {
    const auto it = requested_items_.find(hash);
    if (it == requested_items_.end()) return;
    RequestedItem item = std::move(it->second);
    requested_items_.erase(it);
    if (const auto from = peer_states_.find(item.from); from != peer_states_.end())
        --from->second.items_requested;
    for (std::size_t i = 0; i < item.others.size(); ++i) {
        const auto next = peer_states_.find(item.others[i]);
        if (next == peer_states_.end()) continue;
        GetDataMessage request;
        request_item(next->second, InvItem{item.type, hash}, request);
        if (request.items.empty()) continue;
        requested_items_.at(hash).others.assign(item.others.begin() + i + 1, item.others.end());
        out.sends.emplace_back(next->first, std::move(request));
        return;
    }
}

bool Sync::adds_work(const chain::Block& block) const {
    const chain::ChainStore& store = chainstate_.store();
    const auto parent = store.lookup(block.header.parent);
    return parent && parent->cumulative_work.plus(block.header.work) > store.tip().cumulative_work;
}

std::uint64_t Sync::estimated_bytes(const chain::BlockHeader& header) const {
    const auto& params = chainstate_.store().genesis().learning;
    const std::uint64_t tokens = std::max<std::uint64_t>(1, chain::tokens_per_contribution(params));
    const std::uint64_t items = header.work / tokens + (header.work % tokens != 0 ? 1 : 0);
    return chain::header_encoded_size + items * chain::contribution_work_item_size(params);
}

bool Sync::downloading() const {
    const std::uint64_t tip_time = chainstate_.store().tip().header.time;
    const bool old_tip = tip_time + options_.catching_up_tip_age_seconds < unix_time();
    return old_tip && (!requested_blocks_.empty() || !processing_.empty());
}

void Sync::handle_block(PeerState& peer, chain::Block block, Outbox& out) {
    const PeerId id = peer.info.id;
    const Hash256 hash = block.hash();
    const bool requested = peer.in_flight.contains(hash);
    if (requested) {
        release(peer, hash);
        peer.stalls = 0;
        if (processing_.contains(hash)) return;  // another peer's copy came first
    } else {
        if (!requested_blocks_.contains(hash)) {
            out.misbehaving.emplace_back(id, score::unrequested, "p2p-unrequested-block");
            // Unasked, a block is kept only if it could be the new tip: a side branch with no
            // more work than ours would only fill the disk.
            if (!adds_work(block)) {
                log::debug("p2p: peer {} sent unrequested block {} that adds no work", id,
                           hash.hex());
                return;
            }
        }
        // Asked of another peer (a late delivery after a stall, say) or of nobody: one copy is
        // enough, and a peer has only a few such blocks waiting at once.
        if (processing_.contains(hash)) return;
        if (const auto record = chainstate_.store().record(hash);
            record && record->has(chain::block_status::have_body))
            return;
        if (peer.unrequested_queued >= options_.max_unrequested_queued_per_peer) {
            log::debug("p2p: peer {} has {} unrequested blocks waiting, dropping {}", id,
                       peer.unrequested_queued, hash.hex());
            return;
        }
        ++peer.unrequested_queued;
    }
    // Before the block: were its header chain's next part still pending, connecting it would
    // look like the end of the download (and announce the tip).
    finish_pending_headers(peer, out, false);
    processing_.insert(hash);
    const std::uint64_t bytes = block.encoded_size();
    peer.queued_bytes += bytes;
    {
        LOCK(queue_mutex_);
        queue_.push_back(QueuedBlock{id, std::move(block), requested, bytes});
    }
    queue_changed_.notify_all();
}

void Sync::process_blocks() {
    for (;;) {
        QueuedBlock next;
        std::optional<QueuedFraudProof> proof;
        {
            UniqueLock lock(queue_mutex_);
            processing_one_ = false;
            wait_until(queue_changed_, lock, [&]() REQUIRES(queue_mutex_) {
                return stopping_ || !queue_.empty() || !fraud_proof_queue_.empty();
            });
            if (stopping_) return;
            // A proof first: it may condemn a block that the queued ones build on.
            if (!fraud_proof_queue_.empty()) {
                proof = std::move(fraud_proof_queue_.front());
                fraud_proof_queue_.pop_front();
            } else {
                next = std::move(queue_.front());
                queue_.pop_front();
                processing_one_ = true;
            }
        }
        if (proof) {
            process_fraud_proof(std::move(*proof));
            continue;
        }
        // The verification runs here, with no lock held (Chainstate::process_block).
        const auto accepted = chainstate_.process_block(next.block);
        Outbox out;
        {
            LOCK(chainstate_.cs_main);
            LOCK(peers_mutex_);
            processing_.erase(next.block.hash());
            if (auto it = peer_states_.find(next.from); it != peer_states_.end()) {
                PeerState& peer = it->second;
                peer.queued_bytes -= std::min(peer.queued_bytes, next.bytes);
                if (!next.requested) --peer.unrequested_queued;
            }
            block_processed(next.from, next.block, accepted, out);
            relay_found_fraud_proofs(out);
        }
        flush(out);
    }
}

void Sync::block_processed(PeerId from, const chain::Block& block,
                           const Result<chain::AcceptResult>& accepted, Outbox& out) {
    const Hash256 hash = block.hash();
    const auto peer_it = peer_states_.find(from);
    PeerState* peer = peer_it != peer_states_.end() ? &peer_it->second : nullptr;
    const chain::ChainStore& store = chainstate_.store();
    if (!accepted) {
        const auto& reason = accepted.error().reason;
        if (reason == "block-duplicate") return schedule_downloads(out);
        log::info("p2p: peer {} sent block {} at height {}: {}", from, hash.hex(),
                  block.header.height, accepted.error().to_string());
        if (const int score = block_punishment(accepted.error().kind); score > 0)
            out.misbehaving.emplace_back(from, score, reason);
        forget_dead_best_header();
        return schedule_downloads(out);
    }
    ++stats_.blocks_received;
    ++stats_.blocks_by_peer[from];
    // Proofs that arrived before the block are judged now that it is here.
    for (auto it = waiting_fraud_proofs_.begin(); it != waiting_fraud_proofs_.end();) {
        if (it->proof.block != hash) {
            ++it;
            continue;
        }
        QueuedFraudProof waiting = std::move(*it);
        forget_waiting(waiting);
        it = waiting_fraud_proofs_.erase(it);
        queue_fraud_proof(waiting.from, waiting.id, std::move(waiting.proof));
    }
    if (const auto entry = store.lookup(hash)) note_header(peer, *entry);
    after_tip_change(*accepted, from, out);
    schedule_downloads(out);
}

void Sync::forget_dead_best_header() {
    const chain::ChainStore& store = chainstate_.store();
    if (best_header_.cumulative_work > store.tip().cumulative_work &&
        store.lookup(best_header_.hash) && store.record(best_header_.hash)->invalid())
        best_header_ = store.tip();  // the header chain we chased is dead
}

void Sync::after_tip_change(const chain::AcceptResult& result, std::optional<PeerId> from,
                            Outbox& out) {
    if (result.connected.empty() && result.disconnected.empty()) return;
    chain::ChainStore& store = chainstate_.store();
    const chain::BlockIndexEntry& tip = store.tip();
    if (tip.cumulative_work > best_header_.cumulative_work) best_header_ = tip;
    // Headers that can no longer beat the tip go (and stop counting against their peers'
    // branch budgets).
    if (const std::size_t pruned = store.prune_headers(); pruned > 0)
        log::debug("p2p: forgot {} headers that cannot beat the tip", pruned);
    update_progress();
    // Announce unless catching up (downloading()): a node mid-sync would announce every block
    // it connects. Claimed header work plays no part, so a header nobody delivers cannot
    // silence the node.
    if (downloading() || tip.hash == announced_tip_) return;
    announced_tip_ = tip.hash;
    out.broadcasts.emplace_back(InvMessage{{InvItem{InvType::block, announced_tip_}}}, from);
}

void Sync::schedule_downloads(Outbox& out) {
    const chain::ChainStore& store = chainstate_.store();
    const chain::BlockIndexEntry& tip = store.tip();
    // Peers are refilled in batches: a getdata per delivered block would cost a message each
    // way per block, while half a window still in flight keeps the peer busy meanwhile.
    const std::size_t window = options_.max_blocks_in_flight_per_peer;
    const std::size_t batch = std::clamp<std::size_t>(options_.min_blocks_per_request, 1, window);
    // Each peer is asked for the blocks of the best chain it showed us, so that a header chain
    // one peer claims and never delivers holds up only that peer; another peer's chain is
    // fetched meanwhile. A block is asked of one peer at a time; a peer that failed to deliver
    // it leaves it to the others (and is dropped after a second stall).
    for (auto& [id, peer] : peer_states_) {
        if (!peer.best_known || peer.best_known_work <= tip.cumulative_work) continue;
        const std::size_t free = window - std::min(window, peer.in_flight.size());
        if (free == 0 || (free < batch && !peer.in_flight.empty())) continue;
        const auto best = store.lookup(*peer.best_known);
        if (!best) {  // forgotten (prune_headers): it could not beat the tip
            peer.best_known.reset();
            continue;
        }
        if (const auto record = store.record(best->hash); !record || record->invalid()) continue;
        // Where the peer's chain leaves ours.
        std::uint64_t height = std::min(tip.header.height, best->header.height);
        while (height > 0) {
            const auto on_best = store.ancestor(best->hash, height);
            if (on_best && store.on_main_chain(on_best->hash)) break;
            --height;
        }
        const std::uint64_t top =
            std::min(best->header.height, tip.header.height + options_.download_window);
        GetDataMessage request;
        for (++height; height <= top && request.items.size() < free; ++height) {
            const auto entry = store.ancestor(best->hash, height);
            if (!entry) break;
            if (requested_blocks_.contains(entry->hash) || processing_.contains(entry->hash))
                continue;
            const auto record = store.record(entry->hash);
            if (!record || record->invalid() || peer.stalled.contains(entry->hash)) break;
            if (record->has(chain::block_status::have_body)) continue;
            const std::uint64_t bytes = estimated_bytes(entry->header);
            const std::uint64_t held = peer.in_flight_bytes + peer.queued_bytes;
            if (held + bytes > options_.max_in_flight_bytes_per_peer &&
                (held > 0 || !request.items.empty()))
                break;
            peer.in_flight.emplace(entry->hash, InFlight{Clock::now(), bytes});
            peer.in_flight_bytes += bytes;
            requested_blocks_.emplace(entry->hash, id);
            request.items.push_back(InvItem{InvType::block, entry->hash});
        }
        if (!request.items.empty()) out.sends.emplace_back(id, std::move(request));
    }
}

void Sync::update_progress() {
    const std::uint64_t height = chainstate_.store().height();
    const std::uint64_t target = best_header_.header.height;
    if (target <= height) {
        if (progress_)
            progress_->update(progress_target_ - progress_start_, fmt::format("height {}", height));
        progress_.reset();
        return;
    }
    if (!progress_ || target != progress_target_) {
        if (!progress_) progress_start_ = height;
        progress_target_ = target;
        progress_.emplace("sync", "blocks", target - progress_start_, options_.progress_interval);
    }
    progress_->update(height - progress_start_, fmt::format("height {}", height));
}

// --- transactions and certificates ---------------------------------------------------------------

void Sync::handle_tx(PeerState& peer, const chain::Transaction& tx, Outbox& out) {
    const Hash256 txid = tx.txid();
    if (const auto it = requested_items_.find(txid);
        it != requested_items_.end() && it->second.from == peer.info.id) {
        --peer.items_requested;
        requested_items_.erase(it);
    }
    auto added = chainstate_.mempool().add(tx, chainstate_.store().state());
    if (added) {
        out.broadcasts.emplace_back(InvMessage{{InvItem{InvType::tx, txid}}}, peer.info.id);
        return;
    }
    if (const int score = transaction_punishment(added.error().kind); score > 0)
        out.misbehaving.emplace_back(peer.info.id, score, added.error().reason);
}

void Sync::remember_work_item(const Hash256& id, const chain::WorkItem& item) {
    if (!recent_work_items_.emplace(id, item).second) return;
    recent_work_order_.push_back(id);
    recent_work_bytes_ += item.certificate.size() + item.blob.size();
    while (recent_work_bytes_ > options_.max_recent_work_item_bytes &&
           recent_work_order_.size() > 1) {
        const auto oldest = recent_work_items_.find(recent_work_order_.front());
        recent_work_bytes_ -= oldest->second.certificate.size() + oldest->second.blob.size();
        recent_work_items_.erase(oldest);
        recent_work_order_.pop_front();
    }
}

void Sync::handle_work_item(PeerState& peer, const chain::WorkItem& item, Outbox& out) {
    const Hash256 id = work_item_id(item);
    if (const auto it = requested_items_.find(id);
        it != requested_items_.end() && it->second.from == peer.info.id) {
        --peer.items_requested;
        requested_items_.erase(it);
    } else {
        out.misbehaving.emplace_back(peer.info.id, score::unrequested, "p2p-unrequested-cert");
    }
    if (recent_work_items_.contains(id) || pending_work_items_.contains(id)) return;
    // Every certificate of a chain has one size, and its blob another: anything else is junk,
    // refused before it is kept or handed on.
    const auto& params = chainstate_.store().genesis().learning;
    if (item.certificate.size() != chain::certificate_encoded_size(params) ||
        item.blob.size() != 4 * chain::model_parameter_count(params.model)) {
        out.misbehaving.emplace_back(peer.info.id, score::malformed_message, "p2p-work-item-size");
        return;
    }
    if (peer.recompute_failures >= options_.max_recompute_failures_per_peer) return;
    if (peer.unverified_work_items >= options_.max_unverified_work_items_per_peer) {
        log::debug("p2p: peer {} has {} certificates waiting for verification, ignoring {}",
                   peer.info.id, peer.unverified_work_items, id.hex());
        return;  // not remembered: another peer may offer it again
    }
    ++peer.unverified_work_items;
    pending_work_items_.emplace(id, PendingWorkItem{item, peer.info.id});
    out.work_items.emplace_back(peer.info.id, id, item);
}

void Sync::work_item_verdict(PeerId from, const Hash256& id, const Status& verdict,
                             WorkItemCheck checked) {
    Outbox out;
    {
        LOCK(peers_mutex_);
        const auto peer = peer_states_.find(from);
        if (peer != peer_states_.end()) --peer->second.unverified_work_items;
        auto pending = pending_work_items_.extract(id);
        if (verdict) {
            if (pending) {
                remember_work_item(id, pending.mapped().item);
                out.broadcasts.emplace_back(InvMessage{{InvItem{InvType::cert, id}}}, from);
            }
        } else if (checked == WorkItemCheck::recomputed &&
                   (verdict.kind() == ErrorKind::fraud || block_punishment(verdict.kind()) > 0)) {
            // A relay cannot recompute what it forwards; the sender is not scored for it, but
            // a peer whose certificates keep failing is sent no more work.
            log::info("p2p: a certificate from peer {} failed recomputation: {}", from,
                      verdict.error().to_string());
            if (peer != peer_states_.end()) ++peer->second.recompute_failures;
        } else if (const int score = block_punishment(verdict.kind()); score > 0) {
            // No honest relay forwards what fails the cheap checks: the sender made it.
            log::info("p2p: peer {} sent an invalid certificate: {}", from,
                      verdict.error().to_string());
            out.misbehaving.emplace_back(from, score, verdict.reason());
        }
    }
    flush(out);
}

// --- fraud proofs -------------------------------------------------------------------------------

bool Sync::note_fraud_proof(const Hash256& id) {
    if (!known_fraud_proofs_.insert(id).second) return false;
    known_fraud_proof_order_.push_back(id);
    while (known_fraud_proof_order_.size() > options_.max_known_fraud_proofs) {
        known_fraud_proofs_.erase(known_fraud_proof_order_.front());
        known_fraud_proof_order_.pop_front();
    }
    return true;
}

void Sync::handle_fraud_proof(PeerState& peer, chain::FraudProof proof, Outbox& out) {
    const PeerId from = peer.info.id;
    // One micro-batch's evidence is at most the size the genesis fixes: anything larger is
    // junk, refused before it is kept or judged.
    const auto& params = chainstate_.store().genesis().learning;
    if (proof.evidence.size() > chain::micro_batch_evidence_size(params)) {
        out.misbehaving.emplace_back(from, score::malformed_message, "p2p-fraud-proof-size");
        return;
    }
    const Hash256 id = fraud_proof_id(proof);
    if (known_fraud_proofs_.contains(id)) return;
    if (peer.unjudged_fraud_proofs >= options_.max_unjudged_fraud_proofs_per_peer) {
        log::debug("p2p: peer {} has {} fraud proofs waiting for judgment, ignoring {}", from,
                   peer.unjudged_fraud_proofs, id.hex());
        return;  // not remembered: another peer may send it again
    }
    const auto record = chainstate_.store().record(proof.block);
    const bool have_block = record && record->has(chain::block_status::have_body);
    // Evidence whose key has rewards to burn is judged at once, alone: its block may never come
    // (every node that received it may have caught it), and the evidence is worth a block.
    const bool judge_now = have_block || evidence_burns(proof.evidence);
    if (!judge_now && peer.waiting_fraud_proofs >= options_.max_waiting_fraud_proofs_per_peer)
        return;  // not remembered either
    if (!note_fraud_proof(id)) return;
    ++stats_.fraud_proofs_received;
    // Kept on disk until judged: a restart before then judges it still.
    if (const auto kept = chainstate_.store().keep_unjudged_fraud_proof(id, proof); !kept)
        log::error("p2p: could not keep fraud proof {}: {}", id.hex(), kept.error().to_string());
    if (!judge_now) {
        // Its block is on its way, or is nobody's: keep a few such proofs until it arrives.
        ++peer.waiting_fraud_proofs;
        wait_for_block(QueuedFraudProof{from, id, std::move(proof)});
        return;
    }
    queue_fraud_proof(from, id, std::move(proof));
}

bool Sync::evidence_burns(std::span<const std::uint8_t> evidence) const {
    const auto claim = chainstate_.engine().check_evidence_claim(evidence);
    return claim && chainstate_.store().account(claim->worker).immature_total() > 0;
}

void Sync::wait_for_block(QueuedFraudProof proof) {
    waiting_fraud_proofs_.push_back(std::move(proof));
    if (waiting_fraud_proofs_.size() <= options_.max_waiting_fraud_proofs) return;
    forget_waiting(waiting_fraud_proofs_.front());
    forget_unjudged(waiting_fraud_proofs_.front().id);
    waiting_fraud_proofs_.pop_front();
}

void Sync::forget_waiting(const QueuedFraudProof& waiting) {
    if (auto it = peer_states_.find(waiting.from); it != peer_states_.end())
        --it->second.waiting_fraud_proofs;
}

void Sync::forget_unjudged(const Hash256& id) {
    if (const auto forgotten = chainstate_.store().forget_unjudged_fraud_proof(id); !forgotten)
        log::error("p2p: could not forget fraud proof {}: {}", id.hex(),
                   forgotten.error().to_string());
}

void Sync::resume_unjudged_fraud_proofs() {
    const chain::ChainStore& store = chainstate_.store();
    auto kept = store.unjudged_fraud_proofs();
    if (!kept) {
        log::error("p2p: could not read the fraud proofs kept for judgment: {}",
                   kept.error().to_string());
        return;
    }
    // Their senders are gone: one that does not hold scores nobody.
    for (auto& [id, proof] : *kept) {
        if (!note_fraud_proof(id)) continue;
        const auto record = store.record(proof.block);
        QueuedFraudProof queued{no_peer, id, std::move(proof)};
        if (record && record->has(chain::block_status::have_body)) {
            LOCK(queue_mutex_);
            fraud_proof_queue_.push_back(std::move(queued));
        } else {
            wait_for_block(std::move(queued));
        }
    }
    if (!kept->empty())
        log::info("p2p: {} fraud proofs received before the restart are judged again",
                  kept->size());
}

void Sync::queue_fraud_proof(PeerId from, const Hash256& id, chain::FraudProof proof) {
    if (auto it = peer_states_.find(from); it != peer_states_.end())
        ++it->second.unjudged_fraud_proofs;
    {
        LOCK(queue_mutex_);
        fraud_proof_queue_.push_back(QueuedFraudProof{from, id, std::move(proof)});
    }
    queue_changed_.notify_all();
}

void Sync::process_fraud_proof(QueuedFraudProof queued) {
    const PeerId from = queued.from;
    const Hash256 block = queued.proof.block;
    auto judged = chainstate_.judge_fraud_proof(queued.proof);
    // A block this node never saw, or saw off its main chain, has no parent model here to judge
    // it on; the evidence alone, a certificate its signer made false on a main-chain block,
    // still can be (and then fails that block wherever it turns up).
    bool evidence_alone = false;
    if (!judged && (judged.error().reason == "fraud-proof-block-unknown" ||
                    judged.error().reason == "fraud-proof-block-not-connected")) {
        const auto claim = chainstate_.judge_evidence(chain::Evidence{queued.proof.evidence});
        evidence_alone = claim.ok();
        // A parent on a branch this node does not follow says nothing of the sender.
        if (!claim && is_senders_fault(claim.error().kind) &&
            claim.error().reason != "bad-evidence-parent")
            judged = claim.error();
    }
    if (judged || evidence_alone) {
        if (on_proven_evidence) on_proven_evidence(chain::Evidence{queued.proof.evidence});
    }
    if (evidence_alone) {
        log::warn("p2p: peer {} proved a certificate false on our chain (block {} is not on it)",
                  from, block.hex());
        Outbox relay;
        relay.broadcasts.emplace_back(FraudProofMessage{std::move(queued.proof)}, from);
        flush(relay);
    } else if (judged) {
        // Relayed before anything else is done: every node should leave the block soon.
        log::warn("p2p: peer {} proved block {} invalid: {}", from, block.hex(),
                  judged->broken.to_string());
        Outbox relay;
        relay.broadcasts.emplace_back(FraudProofMessage{std::move(queued.proof)}, from);
        flush(relay);
    }
    Outbox out;
    const auto condemned = judged ? chainstate_.condemn_block(block, judged->broken)
                                  : Result<chain::AcceptResult>(judged.error());
    {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        if (auto it = peer_states_.find(from); it != peer_states_.end())
            --it->second.unjudged_fraud_proofs;
        // Judged: a proven block's condemnation is on disk, and anything else is refused or
        // judged again if offered again.
        forget_unjudged(queued.id);
        if (evidence_alone) {
            ++stats_.evidence_proven;
        } else if (judged) {
            ++stats_.fraud_proofs_proven;
            if (condemned) {
                ++stats_.blocks_condemned;
                forget_dead_best_header();
                after_tip_change(*condemned, std::nullopt, out);
                schedule_downloads(out);
            } else {
                log::warn("p2p: could not condemn block {}: {}", block.hex(),
                          condemned.error().to_string());
            }
        } else {
            const Error& why = judged.error();
            switch (why.kind) {
                case ErrorKind::invalid:
                case ErrorKind::mutated:
                case ErrorKind::malformed:
                    // Nodes relay only the proofs they judged: the sender made this one.
                    ++stats_.fraud_proofs_refused;
                    log::info("p2p: peer {} sent a fraud proof that does not hold: {}", from,
                              why.to_string());
                    out.misbehaving.emplace_back(from, score::invalid_block, why.reason);
                    break;
                case ErrorKind::fraud:  // the block's kind, never a proof's
                case ErrorKind::missing:
                case ErrorKind::conflict:
                case ErrorKind::policy:
                case ErrorKind::local:
                    // Says nothing of the proof; judged again if offered again.
                    log::debug("p2p: fraud proof from peer {} against {} not judged: {}", from,
                               block.hex(), why.to_string());
                    known_fraud_proofs_.erase(queued.id);
                    break;
            }
        }
    }
    flush(out);
}

void Sync::relay_found_fraud_proofs(Outbox& out) {
    for (auto& proof : chainstate_.engine().take_found_fraud_proofs()) {
        if (!note_fraud_proof(fraud_proof_id(proof))) continue;
        if (on_proven_evidence) on_proven_evidence(chain::Evidence{proof.evidence});
        ++stats_.fraud_proofs_found;
        log::warn("p2p: block {} is invalid; sending the fraud proof to every peer",
                  proof.block.hex());
        out.broadcasts.emplace_back(FraudProofMessage{std::move(proof)}, std::nullopt);
    }
}

// --- local submissions
// -----------------------------------------------------------------------------

Result<Hash256> Sync::submit_transaction(const chain::Transaction& tx) {
    auto added = chainstate_.add_transaction(tx);
    if (added && peers_ != nullptr)
        peers_->broadcast(InvMessage{{InvItem{InvType::tx, *added}}}, std::nullopt);
    return added;
}

Result<chain::AcceptResult> Sync::submit_block(const chain::Block& block) {
    auto accepted = chainstate_.process_block(block);
    Outbox out;
    if (accepted) {
        LOCK(chainstate_.cs_main);
        LOCK(peers_mutex_);
        after_tip_change(*accepted, std::nullopt, out);
    }
    flush(out);
    return accepted;
}

void Sync::announce_work_item(const chain::WorkItem& item) {
    const Hash256 id = work_item_id(item);
    {
        LOCK(peers_mutex_);
        remember_work_item(id, item);
    }
    if (peers_ != nullptr) peers_->broadcast(InvMessage{{InvItem{InvType::cert, id}}});
}

}  // namespace learnchain::p2p
