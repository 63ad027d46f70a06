#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include <learnchain/chain/log.hpp>
#include <learnchain/rpc/auth.hpp>
#include <learnchain/rpc/server.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace learnchain::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view server_name = "learnchain-rpc";
// After an error response, how long a closing connection is drained so that the client
// reads the response instead of a reset (closing with unread input sends RST).
constexpr auto linger = std::chrono::milliseconds(500);
constexpr std::size_t max_linger_bytes = 1 << 20;

std::string error_body(std::string_view why, std::string detail) {
    const RpcError error{code::invalid_request,
                         make_error(ErrorKind::malformed, std::string(why), std::move(detail))};
    return json{{"jsonrpc", "2.0"}, {"error", error.to_json()}, {"id", nullptr}}.dump();
}

}  // namespace

class Session;

struct RpcServer::Impl {
    explicit Impl(ServerOptions opts) : options(std::move(opts)), dispatcher(options.dispatch) {}

    // Called by each Session's constructor and destructor.
    [[nodiscard]] bool admit(Session* session);
    void forget(Session* session);
    void accept();
    void on_accept(beast::error_code ec, tcp::socket socket);

    ServerOptions options;
    Dispatcher dispatcher;
    Authenticator auth;
    std::filesystem::path cookie;
    std::uint16_t bound_port = 0;
    bool started = false;
    std::atomic<bool> stopped{false};
    std::atomic<bool> stopping{false};

    std::mutex mutex;  // guards sessions; idle is signalled when it empties
    std::condition_variable idle;
    std::unordered_set<Session*> sessions;

    std::vector<std::thread> threads;
    // Declared last, destroyed first: pending handlers own Sessions, whose destructors
    // still reach `mutex` and `sessions` above.
    net::io_context ioc;
    tcp::acceptor acceptor{net::make_strand(ioc)};
    net::steady_timer accept_backoff{acceptor.get_executor()};
};

// One connection: read a request, answer it, repeat while keep-alive. Every handler runs
// on the connection's strand, so the members need no locks.
class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket&& socket, RpcServer::Impl& server)
        : stream_(std::move(socket)), server_(server), options_(server.options) {}
    ~Session() { server_.forget(this); }

    void start() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&Session::read_header, shared_from_this()));
    }

    // From stop(): connections waiting for a request are closed now; one whose request is
    // being handled or answered closes once the response is written.
    void request_stop() {
        net::post(stream_.get_executor(), [self = shared_from_this()] {
            if (!self->busy_) self->stream_.close();
        });
    }

private:
    void read_header() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
        parser_->body_limit(options_.max_body_bytes);
        // One deadline for the whole request, headers and body: a client trickling bytes
        // (slowloris) cannot hold the connection past it.
        stream_.expires_after(options_.read_timeout);
        http::async_read_header(stream_, buffer_, *parser_,
                                beast::bind_front_handler(&Session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        if (ec) return on_read_error(ec);
        const auto& request = parser_->get();
        // Decided before the body is read, so an unauthenticated client never makes the
        // server buffer a body.
        if (request.method() == http::verb::get && options_.pages) return serve_page(request);
        if (request.target() != "/") return reject(http::status::not_found, "not found\n");
        if (request.method() != http::verb::post)
            return reject(http::status::method_not_allowed, "only POST\n");
        if (!server_.auth.check(request[http::field::authorization]))
            return reject(http::status::unauthorized, "");
        if (beast::iequals(request[http::field::expect], "100-continue")) {
            auto interim = std::make_shared<http::response<http::empty_body>>(
                http::status::continue_, request.version());
            http::async_write(
                stream_, *interim,
                [self = shared_from_this(), interim](beast::error_code e, std::size_t) {
                    if (e) return self->stream_.close();
                    self->read_body();
                });
            return;
        }
        read_body();
    }

    void read_body() {
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_body, shared_from_this()));
    }

    void on_body(beast::error_code ec, std::size_t) {
        if (ec) return on_read_error(ec);
        busy_ = true;
        const auto& request = parser_->get();
        // Content-Type is not checked: curl, bitcoin-cli-like tools and browsers send
        // application/json, text/plain or nothing, and the body is parsed as JSON regardless.
        std::optional<std::string> body = server_.dispatcher.handle(request.body());
        auto response = std::make_shared<http::response<http::string_body>>(
            body ? http::status::ok : http::status::no_content, request.version());
        if (body) {
            response->set(http::field::content_type, "application/json");
            response->body() = std::move(*body);
        }
        response->keep_alive(request.keep_alive() && !server_.stopping);
        write(std::move(response));
    }

    // A GET has no body to read: the page is the whole answer.
    template <class Request>
    void serve_page(const Request& request) {
        busy_ = true;
        std::optional<Page> page = options_.pages(request.target());
        if (!page) return reject(http::status::not_found, "not found\n");
        auto response = std::make_shared<http::response<http::string_body>>(http::status::ok,
                                                                            request.version());
        response->set(http::field::content_type, page->content_type);
        response->set(http::field::cache_control, "no-store");
        response->body() = std::move(page->body);
        response->keep_alive(request.keep_alive() && !server_.stopping);
        write(std::move(response));
    }

    void on_read_error(beast::error_code ec) {
        if (ec == http::error::body_limit)
            return reject(
                http::status::payload_too_large,
                error_body("rpc-request-too-large",
                           "body over " + std::to_string(options_.max_body_bytes) + " bytes"),
                "application/json");
        if (ec == http::error::header_limit)
            return reject(http::status::request_header_fields_too_large, "headers too large\n");
        // The peer went away, timed out (slowloris), or stop() closed the socket.
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == net::error::operation_aborted || ec == net::error::connection_reset ||
            ec == net::error::eof || ec == net::error::bad_descriptor ||
            ec == http::error::partial_message) {
            if (ec == beast::error::timeout) log::debug("rpc: dropping connection: read timeout");
            return stream_.close();
        }
        return reject(http::status::bad_request, "bad request: " + ec.message() + "\n");
    }

    // Answers and closes: after a rejection the rest of the request is unread, so the
    // connection cannot carry another.
    void reject(http::status status, std::string text, std::string_view type = "text/plain") {
        busy_ = true;
        auto response = std::make_shared<http::response<http::string_body>>(status, 11);
        if (status == http::status::unauthorized)
            response->set(http::field::www_authenticate, "Basic realm=\"jsonrpc\"");
        if (status == http::status::method_not_allowed) response->set(http::field::allow, "POST");
        if (!text.empty()) response->set(http::field::content_type, type);
        response->body() = std::move(text);
        response->keep_alive(false);
        write(std::move(response));
    }

    void write(std::shared_ptr<http::response<http::string_body>> response) {
        response->set(http::field::server, server_name);
        response->prepare_payload();
        stream_.expires_after(options_.write_timeout);
        http::async_write(stream_, *response,
                          [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
                              self->on_write(ec, response->keep_alive());
                          });
    }

    void on_write(beast::error_code ec, bool keep_alive) {
        if (ec) return stream_.close();
        if (!keep_alive || server_.stopping) return close_gracefully();
        busy_ = false;
        read_header();
    }

    void close_gracefully() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.expires_after(linger);
        drain();
    }

    void drain() {
        stream_.async_read_some(net::buffer(scratch_),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                    self->drained_ += n;
                                    if (ec || self->drained_ > max_linger_bytes)
                                        return self->stream_.close();
                                    self->drain();
                                });
    }

    beast::tcp_stream stream_;
    RpcServer::Impl& server_;
    const ServerOptions& options_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    bool busy_ = false;  // a request is being handled or answered
    std::array<char, 4096> scratch_{};
    std::size_t drained_ = 0;
};

bool RpcServer::Impl::admit(Session* session) {
    std::lock_guard lock(mutex);
    if (stopping || sessions.size() >= options.max_connections) return false;
    sessions.insert(session);
    return true;
}

void RpcServer::Impl::forget(Session* session) {
    std::lock_guard lock(mutex);
    if (sessions.erase(session) > 0 && sessions.empty()) idle.notify_all();
}

void RpcServer::Impl::accept() {
    acceptor.async_accept(net::make_strand(ioc), beast::bind_front_handler(&Impl::on_accept, this));
}

void RpcServer::Impl::on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
        // Typically EMFILE: back off instead of spinning on an accept that keeps failing.
        log::warn("rpc: accept failed: {}", ec.message());
        accept_backoff.expires_after(std::chrono::milliseconds(100));
        accept_backoff.async_wait([this](beast::error_code e) {
            if (!e) accept();
        });
        return;
    }
    auto session = std::make_shared<Session>(std::move(socket), *this);
    if (admit(session.get())) {
        session->start();
    } else {
        // Over the limit: the socket closes as `session` goes out of scope.
        log::debug("rpc: refusing connection: {} open", options.max_connections);
    }
    accept();
}

RpcServer::RpcServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

RpcServer::~RpcServer() {
    stop();
}

Status RpcServer::register_method(std::string name, Handler handler, std::string help) {
    if (impl_->started)
        return make_error(ErrorKind::local, "rpc-server-running",
                          "register methods before start()");
    return impl_->dispatcher.register_method(std::move(name), std::move(handler), std::move(help));
}

Status RpcServer::set_error_code(std::string reason_code, int rpc_code) {
    if (impl_->started)
        return make_error(ErrorKind::local, "rpc-server-running", "set error codes before start()");
    impl_->dispatcher.set_error_code(std::move(reason_code), rpc_code);
    return ok_status();
}

Status RpcServer::start() {
    Impl& s = *impl_;
    if (s.started)
        return make_error(ErrorKind::local, "rpc-server-running", "start() called twice");
    if (s.options.threads == 0 || s.options.max_connections == 0)
        return make_error(ErrorKind::malformed, "rpc-bad-options",
                          "threads and max_connections must be positive");
    if (s.options.credentials) {
        if (s.options.credentials->find(':') == std::string::npos)
            return make_error(ErrorKind::malformed, "rpc-bad-options",
                              "credentials must be user:password");
        s.auth.set_static(*s.options.credentials);
    }
    if (!s.options.datadir.empty()) {
        auto cookie = write_cookie(s.options.datadir);
        if (!cookie.ok()) return cookie.error();
        s.auth.set_cookie(*cookie);
        s.cookie = s.options.datadir / cookie_file_name;
    }
    // A server of pages alone may have no credentials: then no POST is ever authorized.
    if (s.auth.empty() && !s.options.pages)
        return make_error(ErrorKind::policy, "rpc-no-auth",
                          "neither a datadir for the cookie nor credentials given");

    auto fail = [&](std::string_view what, const beast::error_code& ec) -> Error {
        std::error_code ignored;
        if (!s.cookie.empty()) std::filesystem::remove(s.cookie, ignored);
        s.cookie.clear();
        return make_error(
            ErrorKind::local, "rpc-listen-failed",
            fmt::format("{} {}:{}: {}", what, s.options.address, s.options.port, ec.message()));
    };
    beast::error_code ec;
    const auto address = net::ip::make_address(s.options.address, ec);
    if (ec) return fail("bad address", ec);
    const tcp::endpoint endpoint(address, s.options.port);
    if (s.acceptor.open(endpoint.protocol(), ec); ec) return fail("open", ec);
    if (s.acceptor.set_option(net::socket_base::reuse_address(true), ec); ec)
        return fail("set_option", ec);
    if (s.acceptor.bind(endpoint, ec); ec) return fail("bind", ec);
    if (s.acceptor.listen(net::socket_base::max_listen_connections, ec); ec)
        return fail("listen", ec);
    s.bound_port = s.acceptor.local_endpoint().port();

    s.started = true;
    s.accept();
    for (std::size_t i = 0; i < s.options.threads; ++i)
        s.threads.emplace_back([&s] { s.ioc.run(); });
    log::info("rpc: listening on {}:{} ({} threads)", s.options.address, s.bound_port,
              s.options.threads);
    return ok_status();
}

void RpcServer::stop() {
    Impl& s = *impl_;
    if (!s.started || s.stopped.exchange(true)) return;
    // Sessions are collected under the lock but told (and possibly released, the last
    // reference running ~Session, which takes the lock) outside it.
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(s.mutex);
        s.stopping = true;
        for (Session* session : s.sessions)
            if (auto alive = session->weak_from_this().lock()) open.push_back(std::move(alive));
    }
    for (auto& session : open) session->request_stop();
    open.clear();
    net::post(s.acceptor.get_executor(), [&s] {
        beast::error_code ignored;
        s.acceptor.close(ignored);
        s.accept_backoff.cancel();
    });
    {
        std::unique_lock lock(s.mutex);
        if (!s.idle.wait_for(lock, s.options.stop_timeout, [&] { return s.sessions.empty(); }))
            log::warn("rpc: {} connections still open after {} ms; cutting them off",
                      s.sessions.size(), s.options.stop_timeout.count());
    }
    s.ioc.stop();
    for (auto& thread : s.threads) thread.join();
    s.threads.clear();
    if (!s.cookie.empty()) {
        std::error_code ignored;
        std::filesystem::remove(s.cookie, ignored);
    }
    log::info("rpc: stopped");
}

std::uint16_t RpcServer::port() const {
    return impl_->bound_port;
}

std::filesystem::path RpcServer::cookie_path() const {
    return impl_->cookie;
}

const Dispatcher& RpcServer::dispatcher() const {
    return impl_->dispatcher;
}

std::size_t RpcServer::connections() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->sessions.size();
}

}  // namespace learnchain::rpc
