// Genesis files are user input: any text must parse to a valid Genesis or fail with a
// reason, and a parsed one must survive genesis_to_json unchanged.
#include <cstdlib>
#include <string_view>

#include <learnchain/chain/genesis.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace learnchain::chain;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = parse_genesis(text);
    if (!parsed.ok()) {
        if (parsed.error().reason.empty()) std::abort();
        return 0;
    }
    auto again = parse_genesis(genesis_to_json(*parsed));
    if (!again.ok() || !(*again == *parsed)) std::abort();
    return 0;
}
