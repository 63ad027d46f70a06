// Amounts: unsigned 64-bit counts of the smallest unit; 1 coin = 100,000,000 units.
//
// All arithmetic is overflow-checked. Text form is fixed-point with exactly eight decimals
// ("12.34500000"); parsing never goes through floating point, so "0.1" is exactly 10,000,000.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

using Amount = std::uint64_t;

inline constexpr Amount coin = 100'000'000;
inline constexpr int coin_decimals = 8;
// Minted by every block and split over its workers (consensus/PROTOCOL.md §L.6.6).
inline constexpr Amount block_reward = coin;

[[nodiscard]] constexpr std::optional<Amount> checked_add(Amount a, Amount b) {
    Amount out = 0;
    if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
    return out;
}
[[nodiscard]] constexpr std::optional<Amount> checked_sub(Amount a, Amount b) {
    if (b > a) return std::nullopt;
    return a - b;
}
[[nodiscard]] constexpr std::optional<Amount> checked_mul(Amount a, Amount b) {
    Amount out = 0;
    if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
    return out;
}

// "12.34500000": integer part, a dot, always eight decimals.
[[nodiscard]] std::string format_amount(Amount units);

// Accepts "12", "12.", "12.345", "0.00000001"; at most eight decimals, digits only, no sign,
// no exponent, no whitespace. Reasons: "bad-amount-format", "bad-amount-too-precise",
// "bad-amount-overflow".
[[nodiscard]] Result<Amount> parse_amount(std::string_view text);

}  // namespace learnchain::chain
