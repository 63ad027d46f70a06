// Shared body of the chain-object fuzz targets: decode, then check the encoding is canonical
// (re-encoding gives back exactly the input) and that hashing the result is well defined.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <span>

#include <learnchain/chain/encoding.hpp>

template <class T, class Inspect>
void fuzz_decode_canonical(std::span<const std::uint8_t> input, Inspect inspect) {
    auto decoded = learnchain::chain::decode<T>(input);
    if (!decoded.ok()) return;
    const auto again = learnchain::chain::encode(*decoded);
    if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin()))
        std::abort();
    inspect(*decoded);
}
