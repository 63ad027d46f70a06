#include <learnchain/rpc/auth.hpp>
#include <learnchain/rpc/client.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace learnchain::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct RpcClient::Impl {
    explicit Impl(ClientOptions opts) : options(std::move(opts)) {}

    // Runs one asynchronous operation to completion: tcp_stream's deadlines apply only to
    // asynchronous operations, so the synchronous API is built from them.
    template <class Start>
    beast::error_code run(Start&& start) {
        beast::error_code result = net::error::would_block;
        start([&result](beast::error_code ec, auto&&...) { result = ec; });
        ioc.restart();
        ioc.run();
        return result;
    }

    Status connect() {
        std::string credentials;
        if (!options.cookie_path.empty()) {
            auto cookie = read_cookie(options.cookie_path);
            if (!cookie.ok()) return cookie.error();
            credentials = std::move(*cookie);
        } else if (options.credentials) {
            credentials = *options.credentials;
        }
        authorization = credentials.empty() ? std::string() : basic_authorization(credentials);

        beast::error_code ec;
        tcp::resolver resolver(ioc);
        const auto endpoints = resolver.resolve(options.host, std::to_string(options.port), ec);
        if (ec)
            return make_error(ErrorKind::local, "rpc-connect-failed",
                              options.host + ": " + ec.message());
        stream.emplace(ioc);
        stream->expires_after(options.timeout);
        ec = run([&](auto handler) { stream->async_connect(endpoints, std::move(handler)); });
        if (ec) {
            stream.reset();
            return make_error(ErrorKind::local,
                              ec == beast::error::timeout ? "rpc-timeout" : "rpc-connect-failed",
                              fmt::format("{}:{}: {}", options.host, options.port, ec.message()));
        }
        stream->socket().set_option(tcp::no_delay(true), ec);
        return ok_status();
    }

    Result<HttpReply> round_trip(std::string_view body, bool& stale) {
        http::request<http::string_body> request(http::verb::post, "/", 11);
        request.set(http::field::host, options.host);
        request.set(http::field::user_agent, "learnchain-rpc-client");
        request.set(http::field::content_type, "application/json");
        if (!authorization.empty()) request.set(http::field::authorization, authorization);
        request.keep_alive(true);
        request.body() = std::string(body);
        request.prepare_payload();

        stream->expires_after(options.timeout);
        beast::error_code ec =
            run([&](auto handler) { http::async_write(*stream, request, std::move(handler)); });
        if (!ec) {
            parser.emplace();
            parser->body_limit(options.max_response_bytes);
            ec = run([&](auto handler) {
                http::async_read(*stream, buffer, *parser, std::move(handler));
            });
        }
        if (ec) {
            // A kept-alive connection the server has since closed fails like this before any
            // byte of a response; the request was not processed, so it may be sent again.
            stale = ec == http::error::end_of_stream || ec == net::error::connection_reset ||
                    ec == net::error::broken_pipe;
            stream.reset();
            buffer.clear();
            if (ec == beast::error::timeout)
                return make_error(ErrorKind::local, "rpc-timeout", "no reply in time");
            return make_error(ErrorKind::local, "rpc-transport-error", ec.message());
        }
        auto response = parser->release();
        if (!response.keep_alive()) close();
        return HttpReply{response.result_int(), std::move(response.body())};
    }

    void close() {
        if (!stream) return;
        beast::error_code ignored;
        stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.reset();
        buffer.clear();
    }

    ClientOptions options;
    std::string authorization;
    net::io_context ioc;
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
};

RpcClient::RpcClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

RpcClient::~RpcClient() = default;

void RpcClient::close() {
    impl_->close();
}

bool RpcClient::connected() const {
    return impl_->stream.has_value();
}

Result<HttpReply> RpcClient::post(std::string_view body) {
    for (int attempt = 0;; ++attempt) {
        const bool reused = impl_->stream.has_value();
        if (!reused) LEARNCHAIN_TRY(impl_->connect());
        bool stale = false;
        auto reply = impl_->round_trip(body, stale);
        if (reply.ok() || !(reused && stale) || attempt > 0) return reply;
    }
}

Result<json> RpcClient::call(std::string_view method, const json& params) {
    const std::uint64_t id = next_id_++;
    const json request{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
    auto reply = post(request.dump(-1, ' ', false, json::error_handler_t::replace));
    if (!reply.ok()) return reply.error();
    if (reply->status == 401)
        return make_error(ErrorKind::policy, "rpc-unauthorized", "server refused credentials");

    const json response = json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
    const auto http_error = [&] {
        return make_error(ErrorKind::local, "rpc-http-" + std::to_string(reply->status),
                          reply->body.substr(0, 200));
    };
    if (!response.is_object()) {
        if (reply->status != 200) return http_error();
        return make_error(ErrorKind::malformed, "rpc-bad-response", "reply is not a JSON object");
    }
    if (auto error = response.find("error"); error != response.end() && !error->is_null())
        return RpcError::from_json(*error);
    if (reply->status != 200) return http_error();
    if (auto it = response.find("id"); it == response.end() || *it != id)
        return make_error(ErrorKind::malformed, "rpc-bad-response",
                          "reply id does not match the request");
    auto result = response.find("result");
    if (result == response.end())
        return make_error(ErrorKind::malformed, "rpc-bad-response", "reply has no result");
    return *result;
}

}  // namespace learnchain::rpc
