// Addresses: bech32m (BIP350) of the 32-byte x-only public key, human-readable part "lrn".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <learnchain/chain/keys.hpp>
#include <learnchain/chain/result.hpp>

namespace learnchain::chain {

inline constexpr std::string_view address_hrp = "lrn";

[[nodiscard]] std::string encode_address(const PublicKey& key);
// Clear errors: wrong prefix, bad checksum (a typo), bad characters, mixed case, wrong length.
[[nodiscard]] Result<PublicKey> decode_address(std::string_view address);

namespace bech32 {
enum class Encoding { bech32, bech32m };
struct Decoded {
    Encoding encoding;
    std::string hrp;
    std::vector<std::uint8_t> data;  // 5-bit groups, checksum removed
};
// Generic bech32/bech32m as in BIP173/BIP350 (limit 90 chars), for tests and tools.
[[nodiscard]] std::string encode(Encoding encoding, std::string_view hrp,
                                 const std::vector<std::uint8_t>& data5);
[[nodiscard]] Result<Decoded> decode(std::string_view text);
// Regroups bits (8->5 or 5->8); fails on non-zero or over-long padding when !pad.
[[nodiscard]] Result<std::vector<std::uint8_t>> convert_bits(const std::vector<std::uint8_t>& in,
                                                             int from_bits, int to_bits, bool pad);
}  // namespace bech32

}  // namespace learnchain::chain
