// The explorer's query values come from whoever reaches its port: whatever the bytes,
// url_decode either refuses them or gives a string no longer than its input that encodes back
// to the same value, and never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <learnchain/rpc/url.hpp>

namespace {

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        out.push_back('%');
        out.push_back(hex[byte >> 4]);
        out.push_back(hex[byte & 15]);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto decoded = learnchain::rpc::url_decode(input);
    if (!decoded) return 0;
    if (decoded->size() > input.size()) std::abort();
    const auto again = learnchain::rpc::url_decode(percent_encode(*decoded));
    if (!again || *again != *decoded) std::abort();
    return 0;
}
