#include <array>
#include <cstddef>
#include <optional>

#include <learnchain/chain/address.hpp>

namespace learnchain::chain {
namespace bech32 {
namespace {

constexpr std::string_view charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::size_t max_length = 90;
constexpr std::size_t checksum_length = 6;
constexpr std::uint32_t bech32_const = 1;
constexpr std::uint32_t bech32m_const = 0x2bc830a3;

// Reverse of `charset`; `no_value` for characters outside it.
constexpr std::uint8_t no_value = 0xff;
constexpr std::array<std::uint8_t, 128> charset_rev = [] {
    std::array<std::uint8_t, 128> rev{};
    rev.fill(no_value);
    for (std::size_t i = 0; i < charset.size(); ++i)
        rev[static_cast<unsigned char>(charset[i])] = static_cast<std::uint8_t>(i);
    return rev;
}();

std::uint32_t polymod(const std::vector<std::uint8_t>& values) {
    constexpr std::array<std::uint32_t, 5> gen = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                                  0x2a1462b3};
    std::uint32_t chk = 1;
    for (const std::uint8_t v : values) {
        const std::uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i)
            if ((top >> i) & 1) chk ^= gen[static_cast<std::size_t>(i)];
    }
    return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
    std::vector<std::uint8_t> out;
    out.reserve(hrp.size() * 2 + 1);
    for (const char c : hrp) out.push_back(static_cast<std::uint8_t>(c) >> 5);
    out.push_back(0);
    for (const char c : hrp) out.push_back(static_cast<std::uint8_t>(c) & 31);
    return out;
}

char to_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// The structure shared by bech32::decode and decode_address, before any checksum: the
// lowercased hrp and all 5-bit values, checksum included. Failure reasons are short
// suffixes so that each caller can put its own prefix ("bech32-", "address-") on them.
struct Parts {
    std::string hrp;
    std::vector<std::uint8_t> values;
};

// A non-empty `required_hrp` is checked before the data characters, so that text which is
// plainly not ours (a hex key, another chain's address) is reported as such.
Result<Parts> split(std::string_view text, std::string_view required_hrp = {}) {
    if (text.size() > max_length)
        return make_error(ErrorKind::malformed, "too-long",
                          "at most 90 characters, got " + std::to_string(text.size()));
    bool lower = false;
    bool upper = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 33 || c > 126)
            return make_error(ErrorKind::malformed, "invalid-character",
                              "character out of range at position " + std::to_string(i));
        lower |= (c >= 'a' && c <= 'z');
        upper |= (c >= 'A' && c <= 'Z');
    }
    if (lower && upper)
        return make_error(ErrorKind::malformed, "mixed-case", "use all lowercase or all uppercase");
    const std::size_t sep = text.rfind('1');
    if (sep == std::string_view::npos)
        return make_error(ErrorKind::malformed, "no-separator", "no '1' separator");
    if (sep == 0)
        return make_error(ErrorKind::malformed, "empty-hrp", "nothing before the '1' separator");
    if (text.size() - sep - 1 < checksum_length)
        return make_error(ErrorKind::malformed, "too-short", "fewer than 6 checksum characters");

    Parts parts;
    parts.hrp.reserve(sep);
    for (std::size_t i = 0; i < sep; ++i) parts.hrp.push_back(to_lower(text[i]));
    if (!required_hrp.empty() && parts.hrp != required_hrp)
        return make_error(
            ErrorKind::malformed, "wrong-prefix",
            "expected \"" + std::string(required_hrp) + "\", got \"" + parts.hrp + "\"");
    parts.values.reserve(text.size() - sep - 1);
    for (std::size_t i = sep + 1; i < text.size(); ++i) {
        // Every character is in 33..126 here, so the index is in range.
        const std::uint8_t v = charset_rev[static_cast<unsigned char>(to_lower(text[i]))];
        if (v == no_value)
            return make_error(ErrorKind::malformed, "invalid-character",
                              std::string("'") + text[i] + "' at position " + std::to_string(i) +
                                  " is not a bech32 character");
        parts.values.push_back(v);
    }
    return parts;
}

std::optional<Encoding> checksum_encoding(const Parts& parts) {
    std::vector<std::uint8_t> values = hrp_expand(parts.hrp);
    values.insert(values.end(), parts.values.begin(), parts.values.end());
    const std::uint32_t check = polymod(values);
    if (check == bech32_const) return Encoding::bech32;
    if (check == bech32m_const) return Encoding::bech32m;
    return std::nullopt;
}

Error prefixed(std::string_view prefix, const Error& e) {
    return make_error(e.kind, std::string(prefix) + e.reason, e.detail);
}

}  // namespace

std::string encode(Encoding encoding, std::string_view hrp,
                   const std::vector<std::uint8_t>& data5) {
    std::string lower_hrp;
    lower_hrp.reserve(hrp.size());
    for (const char c : hrp) lower_hrp.push_back(to_lower(c));

    std::vector<std::uint8_t> values = hrp_expand(lower_hrp);
    values.insert(values.end(), data5.begin(), data5.end());
    values.resize(values.size() + checksum_length, 0);
    const std::uint32_t mod =
        polymod(values) ^ (encoding == Encoding::bech32m ? bech32m_const : bech32_const);

    std::string out = lower_hrp;
    out.reserve(lower_hrp.size() + 1 + data5.size() + checksum_length);
    out.push_back('1');
    for (const std::uint8_t v : data5) out.push_back(charset[v & 31]);
    for (std::size_t i = 0; i < checksum_length; ++i)
        out.push_back(charset[(mod >> (5 * (5 - i))) & 31]);
    return out;
}

Result<Decoded> decode(std::string_view text) {
    auto parts = split(text);
    if (!parts.ok()) return prefixed("bech32-", parts.error());
    const auto encoding = checksum_encoding(*parts);
    if (!encoding)
        return make_error(ErrorKind::malformed, "bech32-bad-checksum", "checksum does not match");
    parts->values.resize(parts->values.size() - checksum_length);
    return Decoded{*encoding, std::move(parts->hrp), std::move(parts->values)};
}

Result<std::vector<std::uint8_t>> convert_bits(const std::vector<std::uint8_t>& in, int from_bits,
                                               int to_bits, bool pad) {
    if (from_bits < 1 || from_bits > 8 || to_bits < 1 || to_bits > 8)
        return make_error(ErrorKind::malformed, "bech32-bad-group",
                          "group sizes must be 1 to 8 bits");
    std::uint32_t acc = 0;
    int bits = 0;
    const std::uint32_t max_out = (1u << to_bits) - 1;
    std::vector<std::uint8_t> out;
    out.reserve(
        in.size() * static_cast<std::size_t>(from_bits) / static_cast<std::size_t>(to_bits) + 1);
    for (const std::uint8_t v : in) {
        if ((v >> from_bits) != 0)
            return make_error(ErrorKind::malformed, "bech32-bad-value", "value exceeds group size");
        // Only the low to_bits + from_bits bits of acc are ever needed.
        acc = ((acc << from_bits) | v) & ((1u << (from_bits + to_bits - 1)) - 1);
        bits += from_bits;
        while (bits >= to_bits) {
            bits -= to_bits;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & max_out));
        }
    }
    if (pad) {
        if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (to_bits - bits)) & max_out));
    } else if (bits >= from_bits || ((acc << (to_bits - bits)) & max_out) != 0) {
        return make_error(ErrorKind::malformed, "bech32-bad-padding",
                          "padding is over-long or non-zero");
    }
    return out;
}

}  // namespace bech32

namespace {

// "lrn" + "1" + 52 data characters (256 bits in 5-bit groups) + 6 checksum characters.
constexpr std::size_t address_data_length = (PublicKey::size * 8 + 4) / 5;
constexpr std::size_t address_length = address_hrp.size() + 1 + address_data_length + 6;

}  // namespace

std::string encode_address(const PublicKey& key) {
    const std::vector<std::uint8_t> bytes(key.bytes().begin(), key.bytes().end());
    // 8 -> 5 with padding cannot fail: every input value fits in 8 bits.
    auto data5 = bech32::convert_bits(bytes, 8, 5, true);
    return bech32::encode(bech32::Encoding::bech32m, address_hrp, *data5);
}

Result<PublicKey> decode_address(std::string_view address) {
    auto parts = bech32::split(address, address_hrp);
    if (!parts.ok()) {
        const std::string& r = parts.error().reason;
        // Length and prefix problems get the address-level reason a user can act on.
        if (r == "too-long" || r == "too-short")
            return make_error(ErrorKind::malformed, "address-wrong-length",
                              "an address has " + std::to_string(address_length) +
                                  " characters, got " + std::to_string(address.size()));
        if (r == "no-separator" || r == "empty-hrp")
            return make_error(ErrorKind::malformed, "address-wrong-prefix",
                              "an address starts with \"lrn1\"");
        return bech32::prefixed("address-", parts.error());
    }
    if (address.size() != address_length)
        return make_error(ErrorKind::malformed, "address-wrong-length",
                          "an address has " + std::to_string(address_length) + " characters, got " +
                              std::to_string(address.size()) +
                              " (a character may be missing or doubled)");
    const auto encoding = bech32::checksum_encoding(*parts);
    if (!encoding)
        return make_error(ErrorKind::malformed, "address-bad-checksum",
                          "checksum does not match: the address probably has a typo");
    if (*encoding != bech32::Encoding::bech32m)
        return make_error(ErrorKind::malformed, "address-not-bech32m",
                          "bech32 checksum where bech32m is required (BIP350)");

    parts->values.resize(parts->values.size() - 6);
    auto bytes = bech32::convert_bits(parts->values, 5, 8, false);
    if (!bytes.ok())
        return make_error(ErrorKind::malformed, "address-bad-padding", bytes.error().detail);
    auto key = PublicKey::parse(*bytes);
    if (!key.ok())
        return make_error(ErrorKind::malformed, "address-invalid-key",
                          "not a valid public key: " + key.error().detail);
    return key;
}

}  // namespace learnchain::chain
