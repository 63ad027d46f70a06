// The connection manager: WebSocket sessions, handshake, ping, rate limits, accept, dial and
// reconnection. The only TU of the p2p library that includes Beast.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <learnchain/chain/log.hpp>
#include <learnchain/chain/time.hpp>
#include <learnchain/p2p/connection_manager.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace learnchain::p2p {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Before the handshake ends a peer may only send version, verack, ping and pong: tiny frames.
constexpr std::size_t pre_handshake_message_max = 4096;
constexpr std::size_t read_buffer_keep = 1024 * 1024;

std::uint64_t random_u64() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng();
}

// Refills at `rate` per second up to `burst`; may go negative, which sets how long the next
// read waits.
class TokenBucket {
public:
    TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

    // Takes `amount` and returns how long to wait before the balance is back to zero.
    Clock::duration take(double amount) {
        const auto now = Clock::now();
        const double elapsed = std::chrono::duration<double>(now - last_).count();
        last_ = now;
        tokens_ = std::min(burst_, tokens_ + elapsed * rate_) - amount;
        if (tokens_ >= 0 || rate_ <= 0) return Clock::duration::zero();
        return std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(-tokens_ / rate_));
    }

private:
    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point last_ = Clock::now();
};

}  // namespace

class Session;

struct ConnectionManager::Impl {
    Impl(NetOptions opts, NetHandler& h)
        : options(std::move(opts)),
          handler(h),
          bans(options.datadir.empty() ? std::filesystem::path{}
                                       : options.datadir / "banlist.json"),
          addresses(options.datadir.empty() ? std::filesystem::path{}
                                            : options.datadir / "peers.json"),
          acceptor(ioc),
          tick_timer(ioc) {}

    // --- called by sessions (any strand) ---------------------------------------------------
    void on_handshake_done(const std::shared_ptr<Session>& session);
    void on_session_closed(const Session& session, const std::string& reason);
    [[nodiscard]] VersionMessage our_version();

    // --- internals --------------------------------------------------------------------------
    void accept();
    void dial(const Endpoint& endpoint, bool persistent);
    void schedule_redial(const Endpoint& endpoint);
    void tick();
    void misbehave(PeerId peer, int how_much, const std::string& reason);
    // Bans the address and closes every connection from it.
    void ban(const std::string& address, std::chrono::seconds duration, const std::string& reason);
    [[nodiscard]] std::size_t count_locked(bool inbound) const;
    [[nodiscard]] std::size_t inbound_from_locked(const std::string& host) const;
    // Connections closed lately, so that a verdict arriving after a peer left still scores
    // its address (bounded: the oldest are forgotten).
    struct Closed {
        std::string host;
        int score = 0;
    };
    std::map<PeerId, Closed> recently_closed;
    static constexpr std::size_t max_recently_closed = 1024;

    NetOptions options;
    NetHandler& handler;
    BanManager bans;
    AddressBook addresses;
    asio::io_context ioc;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::vector<std::thread> threads;
    tcp::acceptor acceptor;
    asio::steady_timer tick_timer;
    const std::uint64_t nonce = random_u64();
    std::atomic<std::uint16_t> bound_port{0};

    mutable std::mutex mutex;
    std::condition_variable sessions_gone;
    std::map<PeerId, std::shared_ptr<Session>> sessions;  // every open connection
    std::set<PeerId> handshaken;
    struct Persistent {
        std::chrono::milliseconds backoff{};
        bool active = false;  // a connection attempt or session exists
        std::shared_ptr<asio::steady_timer> timer;
    };
    std::map<Endpoint, Persistent> persistent;
    PeerId next_id = 1;
    bool started = false;
    bool stopping = false;
};

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(ConnectionManager::Impl& impl, PeerId id, Endpoint remote, tcp::socket socket)
        : impl_(impl),
          id_(id),
          inbound_(true),
          remote_(std::move(remote)),
          ws_(std::move(socket)),
          handshake_timer_(ws_.get_executor()),
          ping_timer_(ws_.get_executor()),
          rate_timer_(ws_.get_executor()),
          messages_(impl.options.max_messages_per_second, impl.options.max_messages_burst),
          bytes_(impl.options.max_bytes_per_second, impl.options.max_bytes_burst) {}

    Session(ConnectionManager::Impl& impl, PeerId id, Endpoint target, bool persistent)
        : impl_(impl),
          id_(id),
          inbound_(false),
          target_(std::move(target)),
          persistent_(persistent),
          ws_(asio::make_strand(impl.ioc)),
          handshake_timer_(ws_.get_executor()),
          ping_timer_(ws_.get_executor()),
          rate_timer_(ws_.get_executor()),
          messages_(impl.options.max_messages_per_second, impl.options.max_messages_burst),
          bytes_(impl.options.max_bytes_per_second, impl.options.max_bytes_burst) {}

    [[nodiscard]] PeerId id() const { return id_; }
    [[nodiscard]] std::size_t queued_bytes() const { return queued_bytes_.load(); }
    // Any thread: the next time the send queue is empty, tell the handler (on_send_drained).
    void notify_when_drained() {
        asio::dispatch(ws_.get_executor(), [self = shared_from_this()] {
            if (self->closed_) return;
            if (self->queue_.empty())
                self->impl_.handler.on_send_drained(self->id_);
            else
                self->drain_notice_ = true;
        });
    }
    [[nodiscard]] bool inbound() const { return inbound_; }
    [[nodiscard]] const std::optional<Endpoint>& target() const { return target_; }
    [[nodiscard]] bool persistent() const { return persistent_; }
    [[nodiscard]] const Endpoint& remote() const { return remote_; }
    [[nodiscard]] const VersionMessage& version() const { return version_; }

    void start_inbound() {
        asio::dispatch(ws_.get_executor(), [self = shared_from_this()] {
            self->set_no_delay();
            beast::get_lowest_layer(self->ws_).expires_after(self->impl_.options.handshake_timeout);
            self->ws_.async_accept(
                [self](beast::error_code ec) { self->on_websocket_ready(ec, "accept"); });
        });
    }

    void start_outbound() {
        asio::dispatch(ws_.get_executor(), [self = shared_from_this()] {
            // An address needs no lookup: the resolver runs getaddrinfo on a thread of its own
            // (started on first use), which costs more than the rest of the handshake.
            beast::error_code not_an_address;
            const auto address = asio::ip::make_address(self->target_->host, not_an_address);
            if (!not_an_address) {
                beast::get_lowest_layer(self->ws_).expires_after(
                    self->impl_.options.handshake_timeout);
                beast::get_lowest_layer(self->ws_).async_connect(
                    tcp::endpoint(address, self->target_->port),
                    [self](beast::error_code ec) { self->on_connected(ec); });
                return;
            }
            auto resolver = std::make_shared<tcp::resolver>(self->ws_.get_executor());
            resolver->async_resolve(
                self->target_->host, std::to_string(self->target_->port),
                [self, resolver](beast::error_code ec, const tcp::resolver::results_type& r) {
                    if (ec) return self->close("p2p-connect-failed: " + ec.message());
                    beast::get_lowest_layer(self->ws_).expires_after(
                        self->impl_.options.handshake_timeout);
                    beast::get_lowest_layer(self->ws_).async_connect(
                        r, [self](beast::error_code ec2, const tcp::endpoint&) {
                            self->on_connected(ec2);
                        });
                });
        });
    }

    // Any thread. Encoding already happened; this only queues.
    void send(std::shared_ptr<const std::vector<std::uint8_t>> bytes) {
        const std::size_t queued = queued_bytes_ += bytes->size();
        if (queued > impl_.options.max_send_queue_bytes) {
            asio::post(ws_.get_executor(), [self = shared_from_this(), queued] {
                self->close("p2p-send-queue-full: " + std::to_string(queued) + " bytes unsent");
            });
            return;
        }
        // Dispatched: a reply sent while handling this peer's message (we are on its strand)
        // starts writing at once instead of after the handler returns, so a long handler
        // (a headers message) can ask for bodies early.
        asio::dispatch(ws_.get_executor(), [self = shared_from_this(), bytes = std::move(bytes)] {
            if (self->closed_) return;
            self->queue_.push_back(bytes);
            if (self->queue_.size() == 1) self->write_next();
        });
    }

    // Any thread.
    void post_close(std::string reason) {
        asio::post(ws_.get_executor(), [self = shared_from_this(), reason = std::move(reason)] {
            self->close(reason);
        });
    }

private:
    // Requests and small replies must not wait for Nagle's algorithm.
    void set_no_delay() {
        beast::error_code ec;
        beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    }
    void remember_remote() {
        set_no_delay();
        beast::error_code ec;
        const auto endpoint = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
        std::lock_guard lock(impl_.mutex);  // read by other threads under it (peers(), bans)
        if (!ec) remote_ = Endpoint{endpoint.address().to_string(), endpoint.port()};
    }

    void on_connected(beast::error_code ec) {
        if (ec) return close("p2p-connect-failed: " + ec.message());
        remember_remote();
        if (impl_.bans.is_banned(remote_.host)) return close("p2p-banned");
        ws_.async_handshake(target_->host, "/", [self = shared_from_this()](beast::error_code e) {
            self->on_websocket_ready(e, "handshake");
        });
    }

    void on_websocket_ready(beast::error_code ec, const char* what) {
        if (ec) return close(std::string("p2p-websocket-") + what + "-failed: " + ec.message());
        beast::get_lowest_layer(ws_).expires_never();
        websocket::stream_base::timeout timeout{};
        timeout.handshake_timeout = impl_.options.handshake_timeout;
        timeout.idle_timeout = websocket::stream_base::none();  // our own ping covers liveness
        timeout.keep_alive_pings = false;
        ws_.set_option(timeout);
        ws_.binary(true);
        ws_.read_message_max(pre_handshake_message_max);
        ws_.auto_fragment(false);

        handshake_timer_.expires_after(impl_.options.handshake_timeout);
        handshake_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
            if (!e && !self->handshaken_) self->close("p2p-handshake-timeout");
        });
        VersionMessage version = impl_.our_version();
        send_message(version);
        read_next();
    }

    void send_message(const Message& message) {
        send(std::make_shared<const std::vector<std::uint8_t>>(
            encode_message(impl_.options.magic, message)));
    }

    void read_next() {
        if (closed_) return;
        ws_.async_read(read_buffer_,
                       [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                           self->on_read(ec, bytes);
                       });
    }

    void on_read(beast::error_code ec, std::size_t bytes) {
        if (closed_) return;
        if (ec == websocket::error::message_too_big) {
            impl_.misbehave(id_, score::malformed_message, "p2p-message-too-large");
            return close("p2p-message-too-large");
        }
        if (ec) return close("p2p-read-failed: " + ec.message());
        if (!ws_.got_binary()) {
            impl_.misbehave(id_, score::malformed_message, "p2p-text-frame");
            return close("p2p-text-frame");
        }
        const auto data = read_buffer_.cdata();
        auto decoded =
            decode_message(impl_.options.magic,
                           std::span(static_cast<const std::uint8_t*>(data.data()), data.size()));
        read_buffer_.consume(read_buffer_.size());
        if (read_buffer_.capacity() > read_buffer_keep) read_buffer_.shrink_to_fit();
        if (!decoded) {
            log::info("p2p: peer {} ({}) sent a malformed message: {}", id_, remote_.to_string(),
                      decoded.error().to_string());
            impl_.misbehave(id_, score::malformed_message, decoded.error().reason);
            return close(decoded.error().reason);
        }
        handle(std::move(*decoded));
        if (closed_) return;

        const auto wait = std::max(messages_.take(1), bytes_.take(static_cast<double>(bytes)));
        if (wait <= Clock::duration::zero()) return read_next();
        rate_timer_.expires_after(wait);
        rate_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
            if (!e) self->read_next();
        });
    }

    void handle(Message message) {
        if (auto* version = std::get_if<VersionMessage>(&message)) return on_version(*version);
        if (std::holds_alternative<VerackMessage>(message)) {
            if (got_verack_)
                return impl_.misbehave(id_, score::protocol_violation, "p2p-dup-verack");
            got_verack_ = true;
            return maybe_finish_handshake();
        }
        if (const auto* ping = std::get_if<PingMessage>(&message))
            return send_message(PongMessage{ping->nonce});
        if (const auto* pong = std::get_if<PongMessage>(&message)) {
            if (ping_outstanding_ && pong->nonce == ping_nonce_) {
                ping_outstanding_ = false;
                schedule_ping(impl_.options.ping_interval);
            }
            return;
        }
        if (!handshaken_)
            return impl_.misbehave(id_, score::protocol_violation, "p2p-before-handshake");
        impl_.handler.on_message(id_, std::move(message));
    }

    void on_version(const VersionMessage& version) {
        if (got_version_) return impl_.misbehave(id_, score::protocol_violation, "p2p-dup-version");
        got_version_ = true;
        const VersionMessage ours = impl_.our_version();
        if (version.protocol < min_protocol_version)
            return close("p2p-protocol-version-mismatch: peer speaks " +
                         std::to_string(version.protocol));
        if (version.genesis_hash != ours.genesis_hash)
            return close("p2p-wrong-genesis: peer's genesis " + version.genesis_hash.hex());
        if (version.nonce == impl_.nonce) return close("p2p-self-connection");
        version_ = version;
        send_message(VerackMessage{});
        maybe_finish_handshake();
    }

    void maybe_finish_handshake() {
        if (!got_version_ || !got_verack_ || handshaken_ || closed_) return;
        handshaken_ = true;
        handshake_timer_.cancel();
        ws_.read_message_max(max_wire_message_bytes);
        schedule_ping(impl_.options.ping_interval);
        impl_.on_handshake_done(shared_from_this());
    }

    void schedule_ping(std::chrono::milliseconds after) {
        ping_timer_.expires_after(after);
        ping_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->closed_) return;
            if (self->ping_outstanding_) return self->close("p2p-ping-timeout");
            self->ping_outstanding_ = true;
            self->ping_nonce_ = random_u64();
            self->send_message(PingMessage{self->ping_nonce_});
            self->schedule_ping(self->impl_.options.ping_timeout);
        });
    }

    void write_next() {
        ws_.async_write(asio::buffer(*queue_.front()),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            self->queued_bytes_ -= self->queue_.front()->size();
                            self->queue_.pop_front();
                            if (ec) return self->close("p2p-write-failed: " + ec.message());
                            if (!self->queue_.empty() && !self->closed_) return self->write_next();
                            if (std::exchange(self->drain_notice_, false) && !self->closed_)
                                self->impl_.handler.on_send_drained(self->id_);
                        });
    }

    void close(const std::string& reason) {
        if (closed_) return;
        closed_ = true;
        if (reason.starts_with("p2p-wrong-genesis") || reason.starts_with("p2p-protocol"))
            log::warn("p2p: dropping peer {} ({}): {}", id_, remote_.to_string(), reason);
        else
            log::debug("p2p: closing peer {} ({}): {}", id_, remote_.to_string(), reason);
        handshake_timer_.cancel();
        ping_timer_.cancel();
        rate_timer_.cancel();
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
        beast::get_lowest_layer(ws_).close();
        impl_.on_session_closed(*this, reason);
    }

    ConnectionManager::Impl& impl_;
    const PeerId id_;
    const bool inbound_;
    std::optional<Endpoint> target_;
    bool persistent_ = false;
    Endpoint remote_;
    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer read_buffer_;
    std::deque<std::shared_ptr<const std::vector<std::uint8_t>>> queue_;
    std::atomic<std::size_t> queued_bytes_{0};
    bool drain_notice_ = false;  // on the strand
    asio::steady_timer handshake_timer_;
    asio::steady_timer ping_timer_;
    asio::steady_timer rate_timer_;
    TokenBucket messages_;
    TokenBucket bytes_;
    VersionMessage version_;
    bool got_version_ = false;
    bool got_verack_ = false;
    bool handshaken_ = false;
    bool closed_ = false;
    bool ping_outstanding_ = false;
    std::uint64_t ping_nonce_ = 0;
};

// --- ConnectionManager::Impl
// ----------------------------------------------------------------------

VersionMessage ConnectionManager::Impl::our_version() {
    VersionMessage version = handler.local_version();
    version.protocol = protocol_version;
    version.nonce = nonce;
    version.user_agent = options.user_agent.substr(0, max_user_agent_bytes);
    version.listen_port = options.listen ? bound_port.load() : 0;
    return version;
}

void ConnectionManager::Impl::on_handshake_done(const std::shared_ptr<Session>& session) {
    PeerInfo info{session->id(), session->inbound(), session->remote(), session->version(), 0};
    {
        std::lock_guard lock(mutex);
        if (stopping) return;
        handshaken.insert(session->id());
        info.score = bans.score(session->id());
        if (session->target()) {
            addresses.add(*session->target());
            if (auto it = persistent.find(*session->target()); it != persistent.end())
                it->second.backoff = options.reconnect_initial;
        } else if (session->version().listen_port != 0) {
            addresses.add(Endpoint{session->remote().host, session->version().listen_port});
        }
        // Saved by the next tick, off this peer's strand: the file is fsynced twice, and the
        // peer's first requests (getheaders) must not wait for the disk.
    }
    log::info("p2p: peer {} connected ({}, {}, height {}, {})", info.id, info.remote.to_string(),
              info.inbound ? "inbound" : "outbound", info.version.best_height,
              info.version.user_agent);
    handler.on_connected(info);
}

void ConnectionManager::Impl::on_session_closed(const Session& session, const std::string& reason) {
    bool was_handshaken = false;
    {
        std::lock_guard lock(mutex);
        was_handshaken = handshaken.erase(session.id()) > 0;
        sessions.erase(session.id());
        recently_closed[session.id()] = Closed{session.remote().host, bans.score(session.id())};
        while (recently_closed.size() > max_recently_closed)
            recently_closed.erase(recently_closed.begin());
        bans.forget(session.id());
        if (session.persistent() && session.target()) {
            auto it = persistent.find(*session.target());
            if (it != persistent.end()) {
                it->second.active = false;
                if (!stopping) schedule_redial(*session.target());
            }
        }
        if (sessions.empty()) sessions_gone.notify_all();
    }
    if (was_handshaken) {
        log::info("p2p: peer {} disconnected: {}", session.id(), reason);
        handler.on_disconnected(session.id());
    }
}

std::size_t ConnectionManager::Impl::inbound_from_locked(const std::string& host) const {
    return static_cast<std::size_t>(std::count_if(
        sessions.begin(), sessions.end(),
        [&](const auto& e) { return e.second->inbound() && e.second->remote().host == host; }));
}

std::size_t ConnectionManager::Impl::count_locked(bool inbound) const {
    return static_cast<std::size_t>(
        std::count_if(sessions.begin(), sessions.end(),
                      [inbound](const auto& entry) { return entry.second->inbound() == inbound; }));
}

void ConnectionManager::Impl::accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            beast::error_code ignored;
            const auto remote = socket.remote_endpoint(ignored);
            std::shared_ptr<Session> session;
            {
                std::lock_guard lock(mutex);
                if (stopping) return;
                const std::string host = remote.address().to_string();
                if (bans.is_banned(host)) {
                    log::debug("p2p: refusing banned {}", host);
                } else if (count_locked(true) >= options.max_inbound) {
                    log::debug("p2p: refusing inbound {}: inbound slots full", host);
                } else if (inbound_from_locked(host) >= options.max_inbound_per_address) {
                    log::debug("p2p: refusing inbound {}: {} connections from it already", host,
                               options.max_inbound_per_address);
                } else {
                    session = std::make_shared<Session>(
                        *this, next_id++, Endpoint{host, remote.port()}, std::move(socket));
                    sessions.emplace(session->id(), session);
                }
            }
            if (session) session->start_inbound();
        }
        accept();
    });
}

void ConnectionManager::Impl::dial(const Endpoint& endpoint, bool is_persistent) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(mutex);
        if (stopping) return;
        if (count_locked(false) >= options.max_outbound) {
            if (is_persistent) schedule_redial(endpoint);
            return;
        }
        if (is_persistent) persistent[endpoint].active = true;
        session = std::make_shared<Session>(*this, next_id++, endpoint, is_persistent);
        sessions.emplace(session->id(), session);
    }
    session->start_outbound();
}

// Caller holds the mutex.
void ConnectionManager::Impl::schedule_redial(const Endpoint& endpoint) {
    auto& entry = persistent[endpoint];
    if (entry.active) return;
    const auto delay = entry.backoff.count() > 0 ? entry.backoff : options.reconnect_initial;
    entry.backoff = std::min(options.reconnect_max, delay * 2);
    if (!entry.timer) entry.timer = std::make_shared<asio::steady_timer>(ioc);
    entry.active = true;  // the timer stands for the pending attempt
    entry.timer->expires_after(delay);
    entry.timer->async_wait([this, endpoint](beast::error_code ec) {
        if (ec) return;
        {
            std::lock_guard lock(mutex);
            persistent[endpoint].active = false;
        }
        dial(endpoint, true);
    });
}

void ConnectionManager::Impl::tick() {
    tick_timer.expires_after(options.tick_interval);
    tick_timer.async_wait([this](beast::error_code ec) {
        if (ec) return;
        handler.on_tick();
        addresses.save(false);
        tick();
    });
}

void ConnectionManager::Impl::misbehave(PeerId peer, int how_much, const std::string& reason) {
    Endpoint remote;
    std::optional<std::string> closed_host;  // set when a closed session just reached the ban
    {
        std::lock_guard lock(mutex);
        const auto it = sessions.find(peer);
        if (it == sessions.end()) {
            // Gone already: the verdict on what it sent still counts against its address.
            const auto closed = recently_closed.find(peer);
            if (closed == recently_closed.end()) return;
            closed->second.score += how_much;
            log::info("p2p: disconnected peer {} ({}) misbehaving +{} -> {}: {}", peer,
                      closed->second.host, how_much, closed->second.score, reason);
            if (closed->second.score < score::ban || closed->second.score - how_much >= score::ban)
                return;
            closed_host = closed->second.host;
        } else {
            remote = it->second->remote();
        }
    }
    if (closed_host) return ban(*closed_host, options.ban_duration, reason);
    const int total = bans.add_score(peer, how_much);
    log::info("p2p: peer {} ({}) misbehaving +{} -> {}: {}", peer, remote.to_string(), how_much,
              total, reason);
    if (total >= score::ban && total - how_much < score::ban)
        ban(remote.host, options.ban_duration, reason);
}

void ConnectionManager::Impl::ban(const std::string& address, std::chrono::seconds duration,
                                  const std::string& reason) {
    if (address.empty()) return;
    bans.ban(address, duration, reason);
    std::lock_guard lock(mutex);
    for (const auto& [id, session] : sessions)
        if (session->remote().host == address) session->post_close("p2p-banned: " + reason);
}

// --- ConnectionManager
// ------------------------------------------------------------------------------

ConnectionManager::ConnectionManager(NetOptions options, NetHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

ConnectionManager::~ConnectionManager() {
    stop();
}

Status ConnectionManager::start() {
    Impl& m = *impl_;
    if (m.started) return make_error(ErrorKind::local, "p2p-already-started");
    LEARNCHAIN_TRY(m.bans.load());
    LEARNCHAIN_TRY(m.addresses.load());
    if (m.options.listen) {
        beast::error_code ec;
        const auto address = asio::ip::make_address(m.options.listen_address, ec);
        if (ec)
            return make_error(ErrorKind::local, "p2p-listen-failed",
                              m.options.listen_address + ": " + ec.message());
        const tcp::endpoint endpoint{address, m.options.listen_port};
        m.acceptor.open(endpoint.protocol(), ec);
        if (!ec) m.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) m.acceptor.bind(endpoint, ec);
        if (!ec) m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            return make_error(ErrorKind::local, "p2p-listen-failed",
                              m.options.listen_address + ":" +
                                  std::to_string(m.options.listen_port) + ": " + ec.message());
        m.bound_port = m.acceptor.local_endpoint().port();
        m.accept();
    }
    m.started = true;
    m.work.emplace(m.ioc.get_executor());
    m.tick();
    for (const auto& endpoint : m.options.connect) add_persistent(endpoint);
    if (m.options.use_known_peers) {
        for (const auto& endpoint : m.addresses.endpoints()) m.dial(endpoint, false);
    }
    for (std::size_t i = 0; i < std::max<std::size_t>(1, m.options.threads); ++i)
        m.threads.emplace_back([&m] { m.ioc.run(); });
    log::info("p2p: listening on {}:{}", m.options.listen_address, m.bound_port.load());
    return ok_status();
}

void ConnectionManager::stop() {
    Impl& m = *impl_;
    if (!m.started) return;
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(m.mutex);
        if (m.stopping) return;
        m.stopping = true;
        for (auto& [endpoint, entry] : m.persistent)
            if (entry.timer) entry.timer->cancel();
        for (const auto& [id, session] : m.sessions) open.push_back(session);
    }
    asio::post(m.ioc, [&m] {
        beast::error_code ignored;
        m.acceptor.close(ignored);
        m.tick_timer.cancel();
    });
    for (const auto& session : open) session->post_close("p2p-shutdown");
    open.clear();
    {
        std::unique_lock lock(m.mutex);
        m.sessions_gone.wait_for(lock, std::chrono::seconds(5),
                                 [&m] { return m.sessions.empty(); });
    }
    m.bans.save();
    m.addresses.save(true);
    m.work.reset();
    m.ioc.stop();
    for (auto& thread : m.threads) thread.join();
    m.threads.clear();
    std::lock_guard lock(m.mutex);
    m.sessions.clear();
    m.persistent.clear();
}

std::uint16_t ConnectionManager::port() const {
    return impl_->bound_port;
}

void ConnectionManager::connect(const Endpoint& endpoint) {
    impl_->dial(endpoint, false);
}

void ConnectionManager::add_persistent(const Endpoint& endpoint) {
    {
        std::lock_guard lock(impl_->mutex);
        auto& entry = impl_->persistent[endpoint];
        if (entry.active) return;
        entry.backoff = impl_->options.reconnect_initial;
    }
    impl_->dial(endpoint, true);
}

bool ConnectionManager::send(PeerId peer, const Message& message) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(impl_->mutex);
        const auto it = impl_->sessions.find(peer);
        if (it == impl_->sessions.end() || !impl_->handshaken.contains(peer)) return false;
        session = it->second;
    }
    session->send(std::make_shared<const std::vector<std::uint8_t>>(
        encode_message(impl_->options.magic, message)));
    return true;
}

void ConnectionManager::broadcast(const Message& message, std::optional<PeerId> except) {
    std::vector<std::shared_ptr<Session>> targets;
    {
        std::lock_guard lock(impl_->mutex);
        for (const PeerId id : impl_->handshaken)
            if (id != except) targets.push_back(impl_->sessions.at(id));
    }
    if (targets.empty()) return;
    // Encoded once, shared by every queue.
    const auto bytes = std::make_shared<const std::vector<std::uint8_t>>(
        encode_message(impl_->options.magic, message));
    for (const auto& session : targets) session->send(bytes);
}

std::size_t ConnectionManager::queued_bytes(PeerId peer) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->sessions.find(peer);
    return it == impl_->sessions.end() ? 0 : it->second->queued_bytes();
}

void ConnectionManager::notify_when_drained(PeerId peer) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(impl_->mutex);
        const auto it = impl_->sessions.find(peer);
        if (it == impl_->sessions.end()) return;
        session = it->second;
    }
    session->notify_when_drained();
}

void ConnectionManager::misbehaving(PeerId peer, int how_much, const std::string& reason) {
    impl_->misbehave(peer, how_much, reason);
}

void ConnectionManager::disconnect(PeerId peer, const std::string& reason) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(impl_->mutex);
        const auto it = impl_->sessions.find(peer);
        if (it == impl_->sessions.end()) return;
        session = it->second;
    }
    session->post_close(reason);
}

std::vector<PeerInfo> ConnectionManager::peers() const {
    std::lock_guard lock(impl_->mutex);
    std::vector<PeerInfo> out;
    for (const PeerId id : impl_->handshaken) {
        const auto& s = impl_->sessions.at(id);
        out.push_back(PeerInfo{id, s->inbound(), s->remote(), s->version(), impl_->bans.score(id)});
    }
    return out;
}

std::size_t ConnectionManager::peer_count() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->handshaken.size();
}

bool ConnectionManager::is_banned(const std::string& address) const {
    return impl_->bans.is_banned(address);
}

std::vector<BanEntry> ConnectionManager::bans() const {
    return impl_->bans.bans();
}

void ConnectionManager::ban(const std::string& address, std::chrono::seconds duration,
                            const std::string& reason) {
    impl_->ban(address, duration, reason);
}

void ConnectionManager::unban(const std::string& address) {
    impl_->bans.unban(address);
}

std::vector<Endpoint> ConnectionManager::known_peers() const {
    return impl_->addresses.endpoints();
}

std::uint64_t ConnectionManager::local_nonce() const {
    return impl_->nonce;
}

}  // namespace learnchain::p2p
