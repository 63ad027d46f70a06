#include <cstdint>

#include <learnchain/chain/amount.hpp>

#include <gtest/gtest.h>

namespace learnchain::chain {
namespace {

TEST(Amount, CheckedArithmetic) {
    EXPECT_EQ(checked_add(1, 2), 3u);
    EXPECT_EQ(checked_add(UINT64_MAX, 0), UINT64_MAX);
    EXPECT_FALSE(checked_add(UINT64_MAX, 1));
    EXPECT_EQ(checked_sub(5, 5), 0u);
    EXPECT_FALSE(checked_sub(4, 5));
    EXPECT_EQ(checked_mul(coin, 3), 3 * coin);
    EXPECT_FALSE(checked_mul(UINT64_MAX / 2 + 1, 2));
    EXPECT_EQ(checked_mul(0, UINT64_MAX), 0u);
}

TEST(Amount, FormatsWithEightDecimals) {
    EXPECT_EQ(format_amount(0), "0.00000000");
    EXPECT_EQ(format_amount(1), "0.00000001");
    EXPECT_EQ(format_amount(coin), "1.00000000");
    EXPECT_EQ(format_amount(12 * coin + 34'500'000), "12.34500000");
    EXPECT_EQ(format_amount(UINT64_MAX), "184467440737.09551615");
}

TEST(Amount, ParsesWithoutFloatingPoint) {
    EXPECT_EQ(parse_amount("12.345").value(), 12 * coin + 34'500'000);
    EXPECT_EQ(parse_amount("12.34500000").value(), 12 * coin + 34'500'000);
    EXPECT_EQ(parse_amount("0.1").value(), 10'000'000u);
    EXPECT_EQ(parse_amount("0.00000001").value(), 1u);
    EXPECT_EQ(parse_amount("7").value(), 7 * coin);
    EXPECT_EQ(parse_amount("7.").value(), 7 * coin);
    EXPECT_EQ(parse_amount("0").value(), 0u);
    EXPECT_EQ(parse_amount("184467440737.09551615").value(), UINT64_MAX);
}

TEST(Amount, RoundTrips) {
    for (Amount a : {Amount{0}, Amount{1}, coin - 1, coin, 123'456'789'012u, UINT64_MAX})
        EXPECT_EQ(parse_amount(format_amount(a)).value(), a);
}

TEST(Amount, RejectsMalformedText) {
    for (const char* text :
         {"", ".5", "-1", "+1", "1e3", " 1", "1 ", "1.2.3", "1,5", "abc", "0x10", "1.-2"}) {
        auto parsed = parse_amount(text);
        ASSERT_FALSE(parsed) << text;
        EXPECT_EQ(parsed.error().reason, "bad-amount-format") << text;
    }
    EXPECT_EQ(parse_amount("0.000000001").error().reason, "bad-amount-too-precise");
    EXPECT_EQ(parse_amount("184467440737.09551616").error().reason, "bad-amount-overflow");
    EXPECT_EQ(parse_amount("184467440738").error().reason, "bad-amount-overflow");
    EXPECT_EQ(parse_amount("99999999999999999999999").error().reason, "bad-amount-overflow");
}

}  // namespace
}  // namespace learnchain::chain
