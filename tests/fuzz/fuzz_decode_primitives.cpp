// Decodes arbitrary bytes as each primitive shape; anything that decodes must re-encode to
// the same bytes (the encoding is canonical), and nothing may crash or over-allocate.
#include <cstdlib>

#include <learnchain/chain/encoding.hpp>
#include <learnchain/chain/hash.hpp>

namespace {
using namespace learnchain::chain;

struct Composite {
    std::uint32_t a = 0;
    bool b = false;
    Hash256 h;
    std::vector<std::vector<std::uint8_t>> blobs;
    std::vector<float> floats;
    std::string text;
    template <class Archive>
    void serialize(Archive& ar) {
        ar(a, b, h, blobs, floats, text);
    }
};

template <class T>
void check_canonical(std::span<const std::uint8_t> input) {
    auto decoded = decode<T>(input);
    if (!decoded.ok()) return;
    const auto again = encode(*decoded);
    if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin()))
        std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);
    check_canonical<std::vector<std::uint8_t>>(input);
    check_canonical<std::string>(input);
    check_canonical<std::vector<std::uint64_t>>(input);
    check_canonical<Composite>(input);
    check_canonical<std::vector<Composite>>(input);
    return 0;
}
