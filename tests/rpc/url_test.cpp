// Query values as browsers encode them: the explorer's API decodes its params with url_decode.
#include <learnchain/rpc/url.hpp>

#include <gtest/gtest.h>

namespace learnchain::rpc {
namespace {

TEST(UrlDecode, PercentEscapesAndPlus) {
    EXPECT_EQ(url_decode("%5B%22abc%22%2C1%5D"), "[\"abc\",1]");
    EXPECT_EQ(url_decode("a+b%20c"), "a b c");
    EXPECT_EQ(url_decode("%e2%9f%b6"), "\xe2\x9f\xb6");
    EXPECT_EQ(url_decode("%00"), std::string(1, '\0'));
    EXPECT_EQ(url_decode(""), "");
}

TEST(UrlDecode, RefusesBrokenEscapes) {
    for (const char* bad : {"%", "%4", "abc%", "%zz", "%4g", "x%g0"})
        EXPECT_FALSE(url_decode(bad).has_value()) << bad;
}

}  // namespace
}  // namespace learnchain::rpc
