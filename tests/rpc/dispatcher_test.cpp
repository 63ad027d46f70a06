// JSON-RPC framing and dispatch without sockets, and the authentication primitives.
#include <stdexcept>
#include <string>

#include <learnchain/rpc/auth.hpp>
#include <learnchain/rpc/dispatcher.hpp>

#include <gtest/gtest.h>

namespace learnchain::rpc {
namespace {

class DispatcherTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(
            dispatcher.register_method("echo", [](const json& p) -> Result<json> { return p; }));
        ASSERT_TRUE(dispatcher.register_method("fail", [](const json&) -> Result<json> {
            return make_error(ErrorKind::invalid, "bad-thing", "it went wrong");
        }));
        ASSERT_TRUE(dispatcher.register_method(
            "throw", [](const json&) -> Result<json> { throw std::runtime_error("boom"); }));
    }

    json run(std::string_view body) {
        auto out = dispatcher.handle(body);
        EXPECT_TRUE(out.has_value()) << body;
        return out ? json::parse(*out) : json();
    }

    Dispatcher dispatcher{DispatchLimits{.max_depth = 8, .max_batch = 4}};
};

TEST_F(DispatcherTest, EchoCarriesIdAndParams) {
    const json r = run(R"({"jsonrpc":"2.0","id":"x","method":"echo","params":{"a":[1,2]}})");
    EXPECT_EQ(r["id"], "x");
    EXPECT_EQ(r["result"], json({{"a", {1, 2}}}));
    EXPECT_FALSE(r.contains("error"));
}

TEST_F(DispatcherTest, AbsentParamsArriveAsEmptyArray) {
    EXPECT_EQ(run(R"({"jsonrpc":"2.0","id":1,"method":"echo"})")["result"], json::array());
}

TEST_F(DispatcherTest, ParseErrors) {
    for (const char* body : {"", "{", "[1,", "nul", "{\"a\":1}}", "\xff\xfe"}) {
        const json r = run(body);
        EXPECT_EQ(r["error"]["code"], code::parse_error) << body;
        EXPECT_TRUE(r["id"].is_null());
        EXPECT_EQ(r["error"]["data"]["reason"], "rpc-parse-error");
    }
}

TEST_F(DispatcherTest, NestingBeyondTheLimitIsAParseError) {
    const std::string deep = std::string(9, '[') + std::string(9, ']');
    EXPECT_EQ(run(deep)["error"]["code"], code::parse_error);
    // Brackets inside strings do not count.
    const json r = run(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":["[[[[[[[[[[[[\"]]"]})");
    EXPECT_EQ(r["result"][0], "[[[[[[[[[[[[\"]]");
    EXPECT_TRUE(exceeds_depth(std::string(100000, '{'), 64));
    EXPECT_FALSE(exceeds_depth(R"("\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[")", 2));
}

TEST_F(DispatcherTest, InvalidRequests) {
    for (const char* body : {
             R"(1)",
             R"("x")",
             R"({"jsonrpc":"2.0","id":1})",
             R"({"jsonrpc":"1.0","id":1,"method":"echo"})",
             R"({"id":1,"method":"echo"})",
             R"({"jsonrpc":"2.0","id":1,"method":7})",
             R"({"jsonrpc":"2.0","id":1,"method":"echo","params":"str"})",
             R"({"jsonrpc":"2.0","id":[1],"method":"echo"})",
             R"({"jsonrpc":"2.0","id":{},"method":"echo"})",
             R"({"jsonrpc":"2.0","method":"echo","params":3})",  // invalid even as notification
             R"([])",
         }) {
        const json r = run(body);
        EXPECT_EQ(r["error"]["code"], code::invalid_request) << body;
        EXPECT_EQ(r["error"]["data"]["reason"], "rpc-invalid-request") << body;
    }
}

TEST_F(DispatcherTest, MethodNotFound) {
    const json r = run(R"({"jsonrpc":"2.0","id":1,"method":"nope"})");
    EXPECT_EQ(r["error"]["code"], code::method_not_found);
    EXPECT_EQ(r["id"], 1);
}

TEST_F(DispatcherTest, HandlerErrorsMapToCodes) {
    json r = run(R"({"jsonrpc":"2.0","id":1,"method":"fail"})");
    EXPECT_EQ(r["error"]["code"], code::application_error);
    EXPECT_EQ(r["error"]["message"], "bad-thing: it went wrong");
    EXPECT_EQ(RpcError::from_json(r["error"]).reason, "bad-thing");
    EXPECT_EQ(RpcError::from_json(r["error"]).detail, "it went wrong");

    dispatcher.set_error_code("bad-thing", -5);
    r = run(R"({"jsonrpc":"2.0","id":1,"method":"fail"})");
    EXPECT_EQ(r["error"]["code"], -5);

    r = run(R"({"jsonrpc":"2.0","id":1,"method":"throw"})");
    EXPECT_EQ(r["error"]["code"], code::internal_error);
    EXPECT_NE(r["error"]["message"].get<std::string>().find("boom"), std::string::npos);
}

TEST_F(DispatcherTest, ErrorWithoutReasonMapsToCode) {
    const Error e = RpcError::from_json(json{{"code", -32000}, {"message", "busy"}});
    EXPECT_EQ(e.reason, "rpc-error--32000");
    EXPECT_EQ(e.detail, "busy");
}

TEST_F(DispatcherTest, NotificationsGetNoResponse) {
    EXPECT_FALSE(dispatcher.handle(R"({"jsonrpc":"2.0","method":"echo","params":[1]})"));
    EXPECT_FALSE(dispatcher.handle(R"({"jsonrpc":"2.0","method":"nope"})"));
    EXPECT_FALSE(dispatcher.handle(R"({"jsonrpc":"2.0","method":"throw"})"));
    EXPECT_FALSE(dispatcher.handle(R"([{"jsonrpc":"2.0","method":"echo"}])"));
    // A null id is a request, not a notification.
    EXPECT_TRUE(dispatcher.handle(R"({"jsonrpc":"2.0","id":null,"method":"echo"})"));
}

TEST_F(DispatcherTest, Batch) {
    const json r = run(R"([
        {"jsonrpc":"2.0","id":1,"method":"echo","params":[1]},
        {"jsonrpc":"2.0","method":"echo","params":[2]},
        5,
        {"jsonrpc":"2.0","id":"b","method":"nope"}])");
    ASSERT_TRUE(r.is_array());
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0]["result"], json({1}));
    EXPECT_EQ(r[1]["error"]["code"], code::invalid_request);
    EXPECT_EQ(r[2]["error"]["code"], code::method_not_found);
    EXPECT_EQ(r[2]["id"], "b");

    const json big = run("[1,2,3,4,5]");
    EXPECT_EQ(big["error"]["code"], code::invalid_request);
}

TEST_F(DispatcherTest, RegistrationRules) {
    EXPECT_EQ(dispatcher.register_method("echo", [](const json& p) -> Result<json> { return p; })
                  .reason(),
              "rpc-duplicate-method");
    EXPECT_FALSE(dispatcher.register_method("", [](const json& p) -> Result<json> { return p; }));
    EXPECT_FALSE(dispatcher.register_method("x", nullptr));
}

TEST(Base64Test, RoundTripAndRejects) {
    for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        auto back = base64_decode(base64_encode(s));
        ASSERT_TRUE(back.ok()) << s;
        EXPECT_EQ(*back, s);
    }
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_FALSE(base64_decode("Zm9").ok());
    EXPECT_FALSE(base64_decode("Zm9v!!==").ok());
}

TEST(AuthenticatorTest, AcceptsOnlyConfiguredCredentials) {
    Authenticator auth;
    EXPECT_TRUE(auth.empty());
    EXPECT_FALSE(auth.check(basic_authorization("a:b")));
    auth.set_cookie("__cookie__:abc");
    auth.set_static("alice:secret");
    EXPECT_TRUE(auth.check(basic_authorization("__cookie__:abc")));
    EXPECT_TRUE(auth.check(basic_authorization("alice:secret")));
    EXPECT_TRUE(auth.check("basic " + base64_encode("alice:secret")));
    EXPECT_FALSE(auth.check(basic_authorization("alice:secreT")));
    EXPECT_FALSE(auth.check(basic_authorization("alice:secret2")));
    EXPECT_FALSE(auth.check("Bearer " + base64_encode("alice:secret")));
    EXPECT_FALSE(auth.check(""));
    EXPECT_FALSE(auth.check("Basic !!!!"));
}

}  // namespace
}  // namespace learnchain::rpc
