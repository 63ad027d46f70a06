// Addresses arrive from users and peers as arbitrary text. Whatever decodes must
// re-encode to the same string (lowercased), or two spellings could name one key.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <learnchain/chain/address.hpp>

namespace {

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

[[noreturn]] void fail(const char* what, std::string_view input, const std::string& got) {
    std::fprintf(stderr, "%s\n  input: %.*s\n  re-encoded: %s\n", what,
                 static_cast<int>(input.size()), input.data(), got.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::chain;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto decoded = bech32::decode(text); decoded.ok()) {
        const std::string again = bech32::encode(decoded->encoding, decoded->hrp, decoded->data);
        if (again != lowercase(text)) fail("bech32 round trip mismatch", text, again);
    }

    if (auto key = decode_address(text); key.ok()) {
        const std::string again = encode_address(*key);
        if (again != lowercase(text)) fail("address round trip mismatch", text, again);
        if (!key->is_valid()) fail("decoded address holds an invalid key", text, again);
    }
    return 0;
}
