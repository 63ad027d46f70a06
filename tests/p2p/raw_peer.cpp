#include "p2p/raw_peer.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace learnchain::p2p::testing {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct RawPeer::Impl {
    asio::io_context ioc;
    websocket::stream<beast::tcp_stream> ws{ioc};
    beast::flat_buffer buffer;
    bool open = false;
    bool closed_by_remote = false;  // open went false because the remote closed or failed

    // Runs the io_context until `done` or the deadline; cancels what is left on timeout.
    bool run_until(const bool& done, std::chrono::milliseconds timeout) {
        ioc.restart();
        ioc.run_for(timeout);
        if (done) return true;
        beast::get_lowest_layer(ws).cancel();
        ioc.restart();
        ioc.run();
        return false;
    }
};

RawPeer::RawPeer() : impl_(std::make_unique<Impl>()) {}
RawPeer::~RawPeer() {
    close();
}

Status RawPeer::connect(const Endpoint& remote, const std::string& local_address) {
    beast::error_code ec;
    const auto address = asio::ip::make_address(remote.host, ec);
    if (ec)
        return make_error(ErrorKind::local, "p2p-connect-failed",
                          remote.host + ": " + ec.message());
    auto& socket = beast::get_lowest_layer(impl_->ws).socket();
    socket.open(tcp::v4(), ec);
    if (!ec && !local_address.empty())
        socket.bind(tcp::endpoint{asio::ip::make_address(local_address, ec), 0}, ec);
    if (!ec) socket.connect(tcp::endpoint{address, remote.port}, ec);
    if (!ec) impl_->ws.handshake(remote.host, "/", ec);
    if (ec)
        return make_error(ErrorKind::local, "p2p-connect-failed",
                          remote.to_string() + ": " + ec.message());
    impl_->ws.binary(true);
    impl_->ws.read_message_max(max_wire_message_bytes);
    impl_->open = true;
    return ok_status();
}

Status RawPeer::send_bytes(std::span<const std::uint8_t> bytes) {
    beast::error_code ec;
    impl_->ws.write(asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec) return make_error(ErrorKind::local, "p2p-closed", ec.message());
    return ok_status();
}

Status RawPeer::send(std::uint32_t magic, const Message& message) {
    const auto bytes = encode_message(magic, message);
    return send_bytes(bytes);
}

Result<Message> RawPeer::receive(std::uint32_t magic, std::chrono::milliseconds timeout) {
    if (!impl_->open) return make_error(ErrorKind::local, "p2p-closed", "closed or timed out");
    bool done = false;
    beast::error_code ec;
    impl_->ws.async_read(impl_->buffer, [&](beast::error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    if (!impl_->run_until(done, timeout)) {
        impl_->open = false;  // a cancelled WebSocket read leaves the stream unusable
        return make_error(ErrorKind::local, "p2p-timeout");
    }
    if (ec) {
        impl_->open = false;
        impl_->closed_by_remote = true;
        return make_error(ErrorKind::local, "p2p-closed", ec.message());
    }
    const auto data = impl_->buffer.cdata();
    auto message = decode_message(
        magic, std::span(static_cast<const std::uint8_t*>(data.data()), data.size()));
    impl_->buffer.consume(impl_->buffer.size());
    return message;
}

Status RawPeer::handshake(std::uint32_t magic, const VersionMessage& version,
                          std::chrono::milliseconds timeout) {
    LEARNCHAIN_TRY(send(magic, version));
    bool got_version = false;
    bool got_verack = false;
    const auto deadline = Clock::now() + timeout;
    while (!got_version || !got_verack) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return make_error(ErrorKind::local, "p2p-timeout", "handshake");
        auto message = receive(magic, left);
        if (!message) return message.error();
        if (std::holds_alternative<VersionMessage>(*message)) {
            got_version = true;
            LEARNCHAIN_TRY(send(magic, VerackMessage{}));
        } else if (std::holds_alternative<VerackMessage>(*message)) {
            got_verack = true;
        }
    }
    return ok_status();
}

bool RawPeer::closed_within(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (impl_->open) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        auto message = receive(0, left);
        if (!message && message.error().reason == "p2p-timeout") return false;
    }
    // Not open because an earlier receive timed out is not the remote closing.
    return impl_->closed_by_remote;
}

void RawPeer::close() {
    if (!impl_->open) return;
    impl_->open = false;
    beast::error_code ignored;
    beast::get_lowest_layer(impl_->ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(impl_->ws).socket().close(ignored);
}

}  // namespace learnchain::p2p::testing
