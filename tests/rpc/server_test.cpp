// The HTTP server and client over real loopback sockets and real threads.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <learnchain/rpc/auth.hpp>
#include <learnchain/rpc/client.hpp>
#include <learnchain/rpc/server.hpp>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace learnchain::rpc {
namespace {

using namespace std::chrono_literals;

// A plain blocking TCP socket, for requests no well-behaved client would send.
class RawSocket {
public:
    explicit RawSocket(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            throw std::runtime_error("connect failed");
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~RawSocket() { ::close(fd_); }
    RawSocket(const RawSocket&) = delete;
    RawSocket& operator=(const RawSocket&) = delete;

    bool send(std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    // Everything until the peer closes (or 5 s pass).
    std::string read_all() {
        std::string out;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return out;
            out.append(buf, static_cast<std::size_t>(n));
        }
    }
    // Whether the peer has closed: recv returns 0 (or an error) within 5 s.
    bool closed_by_peer() {
        char c;
        return ::recv(fd_, &c, 1, 0) <= 0;
    }

private:
    int fd_ = -1;
};

std::string http_post(std::string_view target, std::string_view auth, std::string_view body,
                      std::string_view method = "POST") {
    std::string r = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n";
    if (!auth.empty()) r += "Authorization: " + std::string(auth) + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    r += body;
    return r;
}

class RpcServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/learnchain-rpc-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        datadir_ = tmpl;
    }
    void TearDown() override {
        server_.reset();
        std::filesystem::remove_all(datadir_);
    }

    ServerOptions options() {
        ServerOptions o;
        o.datadir = datadir_;
        o.threads = 4;
        o.credentials = "alice:wonderland";
        o.max_body_bytes = 64 * 1024;
        return o;
    }

    void start(ServerOptions o) {
        server_ = std::make_unique<RpcServer>(std::move(o));
        ASSERT_TRUE(
            server_->register_method("echo", [](const json& p) -> Result<json> { return p; }));
        ASSERT_TRUE(server_->register_method("add", [](const json& p) -> Result<json> {
            if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number())
                return invalid_params("expected [number, number]");
            return json(p[0].get<double>() + p[1].get<double>());
        }));
        ASSERT_TRUE(server_->register_method("fail", [](const json&) -> Result<json> {
            return make_error(ErrorKind::invalid, "bad-thing", "it went wrong");
        }));
        ASSERT_TRUE(server_->register_method(
            "throw", [](const json&) -> Result<json> { throw std::runtime_error("boom"); }));
        ASSERT_TRUE(server_->register_method("sleep", [this](const json& p) -> Result<json> {
            ++sleeping_;
            std::this_thread::sleep_for(std::chrono::milliseconds(p.at(0).get<int>()));
            return json("slept");
        }));
        ASSERT_TRUE(server_->set_error_code("bad-thing", -7));
        const Status started = server_->start();
        ASSERT_TRUE(started) << started.error().to_string();
        ASSERT_NE(server_->port(), 0);
    }
    void start() { start(options()); }

    ClientOptions client_options() {
        ClientOptions c;
        c.port = server_->port();
        c.cookie_path = server_->cookie_path();
        c.timeout = 10s;
        return c;
    }

    std::string cookie_auth() {
        std::ifstream in(server_->cookie_path());
        std::string line;
        std::getline(in, line);
        return basic_authorization(line);
    }

    // Waits until the server counts `n` open connections (they close asynchronously).
    bool wait_connections(std::size_t n, std::chrono::milliseconds limit = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (server_->connections() != n) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(5ms);
        }
        return true;
    }

    std::filesystem::path datadir_;
    std::unique_ptr<RpcServer> server_;
    std::atomic<int> sleeping_{0};  // "sleep" calls that have started
};

TEST_F(RpcServerTest, EchoRoundTrip) {
    start();
    RpcClient client(client_options());
    const json params = {1, "two", {{"three", 3.5}}, nullptr, true};
    auto r = client.call("echo", params);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(*r, params);
    auto named = client.call("echo", json{{"k", "v"}});
    ASSERT_TRUE(named.ok());
    EXPECT_EQ((*named)["k"], "v");
}

TEST_F(RpcServerTest, KeepAliveReusesOneConnection) {
    start();
    RpcClient client(client_options());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.call("echo", {i}).ok());
    EXPECT_TRUE(client.connected());
    EXPECT_EQ(server_->connections(), 1u);
}

TEST_F(RpcServerTest, Batch) {
    start();
    RpcClient client(client_options());
    auto reply = client.post(R"([
        {"jsonrpc":"2.0","id":1,"method":"add","params":[1,2]},
        {"jsonrpc":"2.0","method":"echo","params":["note"]},
        {"jsonrpc":"2.0","id":2,"method":"nope"},
        {"jsonrpc":"2.0","id":3,"method":"echo","params":["x"]}])");
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->status, 200u);
    const json r = json::parse(reply->body);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0]["id"], 1);
    EXPECT_EQ(r[0]["result"], 3.0);
    EXPECT_EQ(r[1]["error"]["code"], code::method_not_found);
    EXPECT_EQ(r[2]["result"], json({"x"}));
}

TEST_F(RpcServerTest, NotificationGetsNoContent) {
    start();
    RpcClient client(client_options());
    auto reply = client.post(R"({"jsonrpc":"2.0","method":"echo","params":[1]})");
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->status, 204u);
    EXPECT_TRUE(reply->body.empty());
    EXPECT_TRUE(client.call("echo", {1}).ok());  // same connection still good
}

TEST_F(RpcServerTest, ParseError) {
    start();
    RpcClient client(client_options());
    auto reply = client.post(R"({"jsonrpc":"2.0","id":1,"method":"echo",)");
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->status, 200u);
    const json r = json::parse(reply->body);
    EXPECT_EQ(r["error"]["code"], code::parse_error);
    EXPECT_TRUE(r["id"].is_null());
}

TEST_F(RpcServerTest, InvalidRequest) {
    start();
    RpcClient client(client_options());
    auto reply = client.post(R"({"jsonrpc":"2.0","id":4,"method":["echo"]})");
    ASSERT_TRUE(reply.ok());
    const json r = json::parse(reply->body);
    EXPECT_EQ(r["error"]["code"], code::invalid_request);
    EXPECT_EQ(r["id"], 4);
}

TEST_F(RpcServerTest, MethodNotFound) {
    start();
    RpcClient client(client_options());
    auto r = client.call("getnothing");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, "rpc-method-not-found");
    EXPECT_EQ(r.error().detail, "getnothing");
}

TEST_F(RpcServerTest, InvalidParamsFromHandler) {
    start();
    RpcClient client(client_options());
    auto r = client.call("add", {1, "x"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, "rpc-invalid-params");
    auto raw = client.post(R"({"jsonrpc":"2.0","id":1,"method":"add","params":[1]})");
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(json::parse(raw->body)["error"]["code"], code::invalid_params);
    auto ok = client.call("add", {1, 2});
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(*ok, 3.0);
}

TEST_F(RpcServerTest, ThrowingHandlerIsInternalErrorAndServerKeepsServing) {
    start();
    RpcClient client(client_options());
    for (int i = 0; i < 3; ++i) {
        auto r = client.call("throw");
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().reason, "rpc-internal-error");
        EXPECT_NE(r.error().detail.find("boom"), std::string::npos);
    }
    // A handler that throws from nlohmann (bad params access) is caught the same way.
    auto r = client.call("sleep", {"not a number"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, "rpc-internal-error");
    auto raw = client.post(R"({"jsonrpc":"2.0","id":1,"method":"throw"})");
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(json::parse(raw->body)["error"]["code"], code::internal_error);
    EXPECT_TRUE(client.call("echo", {1}).ok());
}

TEST_F(RpcServerTest, ClientErrorMapping) {
    start();
    RpcClient client(client_options());
    auto r = client.call("fail");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, "bad-thing");
    EXPECT_EQ(r.error().detail, "it went wrong");
    auto raw = client.post(R"({"jsonrpc":"2.0","id":1,"method":"fail"})");
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ(json::parse(raw->body)["error"]["code"], -7);

    ClientOptions nowhere = client_options();
    const std::uint16_t port = server_->port();
    server_->stop();
    nowhere.port = port;
    RpcClient refused(nowhere);
    auto down = refused.call("echo");
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.error().reason, "rpc-cookie-read-failed");  // stop() removed the cookie
    // The stopped server's port is free for any parallel test to take, so the refusal is
    // tested against a port this test holds bound but never listens on: the kernel refuses it.
    const int held = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(held, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    nowhere.port = ntohs(addr.sin_port);
    nowhere.cookie_path.clear();
    nowhere.credentials = "alice:wonderland";
    RpcClient refused2(nowhere);
    EXPECT_EQ(refused2.call("echo").error().reason, "rpc-connect-failed");
    ::close(held);
}

TEST_F(RpcServerTest, UnauthorizedWithoutOrWithWrongCredentials) {
    start();
    ClientOptions none = client_options();
    none.cookie_path.clear();
    RpcClient anonymous(none);
    EXPECT_EQ(anonymous.call("echo").error().reason, "rpc-unauthorized");

    ClientOptions wrong = none;
    wrong.credentials =
        "__cookie__:0000000000000000000000000000000000000000000000000000000000000000";
    RpcClient guesser(wrong);
    EXPECT_EQ(guesser.call("echo").error().reason, "rpc-unauthorized");
    wrong.credentials = "alice:wonderlanD";
    RpcClient guesser2(wrong);
    EXPECT_EQ(guesser2.call("echo").error().reason, "rpc-unauthorized");

    RawSocket raw(server_->port());
    ASSERT_TRUE(raw.send(http_post("/", "", R"({"jsonrpc":"2.0","id":1,"method":"echo"})")));
    const std::string reply = raw.read_all();
    EXPECT_EQ(reply.rfind("HTTP/1.1 401", 0), 0u) << reply;
    EXPECT_NE(reply.find("WWW-Authenticate: Basic"), std::string::npos);

    // The static credentials work alongside the cookie.
    ClientOptions static_creds = none;
    static_creds.credentials = "alice:wonderland";
    RpcClient alice(static_creds);
    EXPECT_TRUE(alice.call("echo").ok());
}

TEST_F(RpcServerTest, CookieFileIsOwnerOnlyAndRemovedOnStop) {
    start();
    const auto path = server_->cookie_path();
    EXPECT_EQ(path, datadir_ / ".cookie");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::ifstream in(path);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_TRUE(std::regex_match(content, std::regex("__cookie__:[0-9a-f]{64}"))) << content;
    EXPECT_FALSE(std::filesystem::exists(datadir_ / ".cookie.tmp"));
    server_->stop();
    EXPECT_FALSE(std::filesystem::exists(path));
    server_->stop();  // twice is fine
}

TEST_F(RpcServerTest, StartFailsWithoutAnyAuthentication) {
    ServerOptions o;
    RpcServer server(o);
    EXPECT_EQ(server.start().reason(), "rpc-no-auth");
    o.datadir = datadir_ / "missing";
    RpcServer server2(o);
    EXPECT_EQ(server2.start().reason(), "rpc-cookie-write-failed");
}

TEST_F(RpcServerTest, OversizedBodyIs413AndOthersAreServed) {
    start();
    // Announced size over the limit: refused from the headers alone.
    RawSocket raw(server_->port());
    std::string head = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + cookie_auth() +
                       "\r\nContent-Length: 2097152\r\n\r\n";
    ASSERT_TRUE(raw.send(head));
    const std::string reply = raw.read_all();
    EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;

    // The client sending a real oversized body gets the server's reason back.
    RpcClient client(client_options());
    auto big = client.call("echo", {std::string(200 * 1024, 'a')});
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.error().reason, "rpc-request-too-large");
    EXPECT_TRUE(client.call("echo", {1}).ok());

    // Chunked bodies are bounded as they arrive.
    RawSocket chunked(server_->port());
    std::string chunk(32 * 1024, 'x');
    std::string req = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + cookie_auth() +
                      "\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i) req += "8000\r\n" + chunk + "\r\n";
    req += "0\r\n\r\n";
    chunked.send(req);
    EXPECT_EQ(chunked.read_all().rfind("HTTP/1.1 413", 0), 0u);
}

TEST_F(RpcServerTest, OversizedHeadersAre431) {
    start();
    RawSocket raw(server_->port());
    ASSERT_TRUE(raw.send("POST / HTTP/1.1\r\nX-Junk: " + std::string(16 * 1024, 'j') + "\r\n\r\n"));
    EXPECT_EQ(raw.read_all().rfind("HTTP/1.1 431", 0), 0u);
}

TEST_F(RpcServerTest, OnlyPostToRoot) {
    start();
    {
        RawSocket raw(server_->port());
        ASSERT_TRUE(raw.send(http_post("/", cookie_auth(), "", "GET")));
        EXPECT_EQ(raw.read_all().rfind("HTTP/1.1 405", 0), 0u);
    }
    {
        RawSocket raw(server_->port());
        ASSERT_TRUE(raw.send(http_post("/wallet", cookie_auth(), "{}")));
        EXPECT_EQ(raw.read_all().rfind("HTTP/1.1 404", 0), 0u);
    }
    {
        RawSocket raw(server_->port());
        ASSERT_TRUE(raw.send("garbage\r\n\r\n"));
        EXPECT_EQ(raw.read_all().rfind("HTTP/1.1 400", 0), 0u);
    }
}

// A server of pages alone (the explorer's listener): GETs answered without credentials, a
// missing page 404, and JSON-RPC refused, since no credential can match.
TEST_F(RpcServerTest, APagesOnlyServerAnswersGetsAndRefusesEveryPost) {
    ServerOptions o;
    o.pages = [](std::string_view target) -> std::optional<Page> {
        if (target != "/hello?x=1") return std::nullopt;
        return Page{"text/plain", "hi"};
    };
    RpcServer pages(o);
    ASSERT_TRUE(pages.register_method("echo", [](const json& p) -> Result<json> { return p; }));
    ASSERT_TRUE(pages.start().ok());
    {
        RawSocket raw(pages.port());
        ASSERT_TRUE(raw.send(http_post("/hello?x=1", "", "", "GET")));
        const std::string reply = raw.read_all();
        EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
        EXPECT_NE(reply.find("Content-Type: text/plain"), std::string::npos);
        EXPECT_EQ(reply.substr(reply.size() - 2), "hi");
    }
    {
        RawSocket raw(pages.port());
        ASSERT_TRUE(raw.send(http_post("/other", "", "", "GET")));
        EXPECT_EQ(raw.read_all().rfind("HTTP/1.1 404", 0), 0u);
    }
    for (const std::string auth : {std::string(), std::string("Basic YWxpY2U6d29uZGVybGFuZA==")}) {
        RawSocket raw(pages.port());
        ASSERT_TRUE(raw.send(
            http_post("/", auth, R"({"jsonrpc":"2.0","id":1,"method":"echo","params":[1]})")));
        EXPECT_EQ(raw.read_all().rfind("HTTP/1.1 401", 0), 0u) << "auth '" << auth << "'";
    }
}

TEST_F(RpcServerTest, ExpectContinueAndAnyContentType) {
    start();
    RawSocket raw(server_->port());
    const std::string body = R"({"jsonrpc":"2.0","id":9,"method":"echo","params":[9]})";
    ASSERT_TRUE(raw.send("POST / HTTP/1.1\r\nHost: x\r\nAuthorization: " + cookie_auth() +
                         "\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\nConnection: "
                         "close\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n"));
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(raw.send(body));
    const std::string reply = raw.read_all();
    EXPECT_EQ(reply.rfind("HTTP/1.1 100 Continue", 0), 0u) << reply;
    EXPECT_NE(reply.find("HTTP/1.1 200"), std::string::npos);
    EXPECT_NE(reply.find(R"("result":[9])"), std::string::npos);
}

TEST_F(RpcServerTest, SlowHeaderClientIsDropped) {
    ServerOptions o = options();
    o.read_timeout = 300ms;
    start(o);
    RawSocket raw(server_->port());
    const auto begin = std::chrono::steady_clock::now();
    ASSERT_TRUE(raw.send("POST / HTTP/1.1\r\n"));
    // Trickle a header byte every 50 ms: each is "progress", but the request as a whole
    // must arrive within read_timeout.
    bool still_open = true;
    for (int i = 0; i < 40 && still_open; ++i) {
        std::this_thread::sleep_for(50ms);
        still_open = raw.send("X");
    }
    EXPECT_TRUE(raw.closed_by_peer());
    const auto took = std::chrono::steady_clock::now() - begin;
    EXPECT_LT(took, 2500ms);
    EXPECT_TRUE(wait_connections(0));
    RpcClient client(client_options());
    EXPECT_TRUE(client.call("echo", {1}).ok());
}

TEST_F(RpcServerTest, ConnectionLimit) {
    ServerOptions o = options();
    o.max_connections = 4;
    start(o);
    std::vector<std::unique_ptr<RawSocket>> held;
    for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<RawSocket>(server_->port()));
    ASSERT_TRUE(wait_connections(4));
    RawSocket excess(server_->port());
    EXPECT_TRUE(excess.closed_by_peer());
    EXPECT_EQ(server_->connections(), 4u);

    held.pop_back();
    ASSERT_TRUE(wait_connections(3));
    RpcClient client(client_options());
    EXPECT_TRUE(client.call("echo", {1}).ok());
}

TEST_F(RpcServerTest, ConcurrentClients) {
    start();
    constexpr int threads = 8;
    constexpr int calls = 200;
    std::atomic<int> good{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            RpcClient client(client_options());
            for (int i = 0; i < calls; ++i) {
                const json params = {t, i, std::string(static_cast<std::size_t>(i % 17), 'z')};
                auto r = client.call("echo", params);
                if (r.ok() && *r == params) ++good;
            }
        });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(good.load(), threads * calls);
}

TEST_F(RpcServerTest, StopFinishesInFlightRequests) {
    start();
    Result<json> slow = make_error(ErrorKind::policy, "not-run");
    std::thread caller([&] {
        RpcClient client(client_options());
        slow = client.call("sleep", {500});
    });
    while (sleeping_ == 0) std::this_thread::sleep_for(1ms);
    RpcClient idle(client_options());
    ASSERT_TRUE(idle.call("echo", {1}).ok());  // an idle keep-alive connection, closed by stop
    server_->stop();
    caller.join();
    ASSERT_TRUE(slow.ok()) << slow.error().to_string();
    EXPECT_EQ(*slow, "slept");
    EXPECT_EQ(server_->connections(), 0u);
    server_->stop();
    EXPECT_FALSE(idle.call("echo", {1}).ok());
}

TEST_F(RpcServerTest, ClientTimesOutAndRecovers) {
    start();
    ClientOptions impatient = client_options();
    impatient.timeout = 200ms;
    RpcClient client(impatient);
    auto r = client.call("sleep", {1000});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().reason, "rpc-timeout");
    EXPECT_FALSE(client.connected());
    EXPECT_TRUE(client.call("echo", {1}).ok());  // reconnects
}

TEST_F(RpcServerTest, RegistrationClosesAtStart) {
    start();
    EXPECT_EQ(
        server_->register_method("late", [](const json& p) -> Result<json> { return p; }).reason(),
        "rpc-server-running");
}

}  // namespace
}  // namespace learnchain::rpc
