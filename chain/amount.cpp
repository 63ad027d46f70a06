#include <string>

#include <learnchain/chain/amount.hpp>

namespace learnchain::chain {

std::string format_amount(Amount units) {
    std::string fraction = std::to_string(units % coin);
    fraction.insert(0, static_cast<std::size_t>(coin_decimals) - fraction.size(), '0');
    return std::to_string(units / coin) + "." + fraction;
}

Result<Amount> parse_amount(std::string_view text) {
    const auto dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);

    const auto all_digits = [](std::string_view s) {
        for (char c : s)
            if (c < '0' || c > '9') return false;
        return true;
    };
    if (whole.empty() || !all_digits(whole) || !all_digits(fraction))
        return make_error(ErrorKind::malformed, "bad-amount-format",
                          "expected digits[.digits], got '" + std::string(text) + "'");
    if (fraction.size() > static_cast<std::size_t>(coin_decimals))
        return make_error(ErrorKind::malformed, "bad-amount-too-precise",
                          "at most 8 decimals, got '" + std::string(text) + "'");

    Amount coins = 0;
    for (char c : whole) {
        const auto shifted = checked_mul(coins, 10);
        const auto next =
            shifted ? checked_add(*shifted, static_cast<Amount>(c - '0')) : std::nullopt;
        if (!next) return make_error(ErrorKind::invalid, "bad-amount-overflow", std::string(text));
        coins = *next;
    }
    Amount units = 0;
    for (int i = 0; i < coin_decimals; ++i) {
        const auto pos = static_cast<std::size_t>(i);
        units = units * 10 + (pos < fraction.size() ? static_cast<Amount>(fraction[pos] - '0') : 0);
    }
    const auto whole_units = checked_mul(coins, coin);
    const auto total = whole_units ? checked_add(*whole_units, units) : std::nullopt;
    if (!total) return make_error(ErrorKind::invalid, "bad-amount-overflow", std::string(text));
    return *total;
}

}  // namespace learnchain::chain
