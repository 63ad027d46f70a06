// JSON-RPC 2.0 over HTTP/1.1 (Boost.Beast), with Bitcoin Core's cookie authentication.
//
// Beast stays out of this header: only rpc/server.cpp compiles it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <learnchain/chain/result.hpp>
#include <learnchain/rpc/dispatcher.hpp>

namespace learnchain::rpc {

// A page a GET request gets: its content type and body.
struct Page {
    std::string content_type;
    std::string body;
};
// Answers a GET for `target` (path and query as sent), or nullopt for 404. Called on a server
// thread; must be thread-safe.
using PageHandler = std::function<std::optional<Page>(std::string_view target)>;

struct ServerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  // 0: an ephemeral port, see RpcServer::port()
    std::size_t threads = 2;

    // Where `.cookie` is written at start and removed at stop; empty: no cookie.
    std::filesystem::path datadir;
    // An optional static "user:password", accepted alongside the cookie.
    std::optional<std::string> credentials;

    std::size_t max_header_bytes = 8 * 1024;   // 431 beyond
    std::size_t max_body_bytes = 1024 * 1024;  // 413 beyond
    std::size_t max_connections = 64;          // further connections are closed at accept
    // A whole request (headers and body) must arrive within this, counted from when the
    // server starts waiting for it; idle keep-alive connections are closed after it too.
    std::chrono::milliseconds read_timeout = std::chrono::seconds(30);
    std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
    // How long stop() lets in-flight requests finish before cutting them off.
    std::chrono::milliseconds stop_timeout = std::chrono::seconds(10);
    DispatchLimits dispatch;
    // Set: GET requests are answered by it, without authentication (a public, read-only
    // listener such as the explorer's: every page must be safe for anyone who can connect).
    // POST stays JSON-RPC behind the cookie or credentials.
    PageHandler pages;
};

class RpcServer {
public:
    explicit RpcServer(ServerOptions options);
    ~RpcServer();  // stop()s
    RpcServer(const RpcServer&) = delete;
    RpcServer& operator=(const RpcServer&) = delete;

    // Methods are registered before start(); afterwards this fails with rpc-server-running.
    [[nodiscard]] Status register_method(std::string name, Handler handler, std::string help = {});
    [[nodiscard]] Status set_error_code(std::string reason_code, int rpc_code);

    // Writes the cookie, binds, listens, starts the worker threads.
    [[nodiscard]] Status start();
    // Closes the listener, lets in-flight requests finish (up to stop_timeout), joins the
    // threads, removes the cookie. Idempotent.
    void stop();

    [[nodiscard]] std::uint16_t port() const;                 // the bound port, once started
    [[nodiscard]] std::filesystem::path cookie_path() const;  // empty without a datadir
    [[nodiscard]] const Dispatcher& dispatcher() const;
    // Connections open right now (for tests and monitoring).
    [[nodiscard]] std::size_t connections() const;

    struct Impl;  // public only so that server.cpp's connection class can name it

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace learnchain::rpc
