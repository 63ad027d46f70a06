// Decodes arbitrary bytes as a P2P envelope: nothing may crash or over-allocate, and whatever
// decodes must re-encode to exactly the input (the wire encoding is canonical, so a message
// has one byte string and a relayed message hashes the same everywhere).
#include <algorithm>
#include <cstdlib>
#include <span>

#include <learnchain/p2p/messages.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::p2p;
    constexpr std::uint32_t magic = 0x314e524c;
    const std::span<const std::uint8_t> input(data, size);
    auto decoded = decode_message(magic, input);
    if (!decoded) {
        if (decoded.error().reason.empty()) std::abort();
        return 0;
    }
    const auto again = encode_message(magic, *decoded);
    if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin()))
        std::abort();
    if (again.size() > envelope_overhead + max_payload_bytes(message_type(*decoded))) std::abort();
    return 0;
}
