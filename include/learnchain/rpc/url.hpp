// URL query values as browsers send them (the explorer's API, explorer.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace learnchain::rpc {

// Percent-decoding of a URL query value, '+' as a space; nullopt on a '%' not followed by two
// hex digits. Any byte may come out (a caller that wants text checks it).
[[nodiscard]] std::optional<std::string> url_decode(std::string_view text);

}  // namespace learnchain::rpc
