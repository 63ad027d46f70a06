// A synchronous JSON-RPC 2.0 client over HTTP/1.1 keep-alive (Boost.Beast in client.cpp).
// One client is one connection and is not thread-safe: use one per thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <learnchain/chain/result.hpp>
#include <learnchain/rpc/dispatcher.hpp>

namespace learnchain::rpc {

struct ClientOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    // Re-read at every (re)connect, so a restarted node's new cookie is picked up.
    std::filesystem::path cookie_path;
    std::optional<std::string> credentials;  // "user:password", when there is no cookie path
    std::chrono::milliseconds timeout = std::chrono::seconds(30);  // connect; each round trip
    std::size_t max_response_bytes = 64 * 1024 * 1024;
};

struct HttpReply {
    unsigned status = 0;
    std::string body;
};

class RpcClient {
public:
    explicit RpcClient(ClientOptions options);
    ~RpcClient();
    RpcClient(const RpcClient&) = delete;
    RpcClient& operator=(const RpcClient&) = delete;

    // The result, or an Error: the server's reason (data.reason) when it sent one, else
    // "rpc-error-<code>"; transport failures are rpc-connect-failed, rpc-timeout,
    // rpc-transport-error, rpc-unauthorized, rpc-http-<status>, rpc-bad-response.
    [[nodiscard]] Result<json> call(std::string_view method, const json& params = json::array());

    // One raw POST / with `body`, for batches and for tests of malformed input.
    [[nodiscard]] Result<HttpReply> post(std::string_view body);

    void close();
    [[nodiscard]] bool connected() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::uint64_t next_id_ = 1;
};

}  // namespace learnchain::rpc
