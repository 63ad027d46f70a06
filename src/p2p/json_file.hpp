// Private to src/p2p/: the small JSON files the ban manager and the address book persist.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <learnchain/chain/file.hpp>
#include <learnchain/chain/result.hpp>

#include <nlohmann/json.hpp>

namespace learnchain::p2p::detail {

// The parsed file, or an empty object when there is none yet; `reason` when it is not JSON.
inline Result<nlohmann::json> read_json_file(const std::filesystem::path& path,
                                             const std::string& reason) {
    std::ifstream in(path);
    if (!in) return nlohmann::json::object();
    auto parsed = nlohmann::json::parse(in, nullptr, false);
    if (parsed.is_discarded())
        return make_error(ErrorKind::malformed, reason, path.string() + " is not JSON");
    return parsed;
}

inline Status write_json_file(const std::filesystem::path& path, const nlohmann::json& value) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    return write_file_atomic(path, value.dump(2), "p2p-io-error");
}

}  // namespace learnchain::p2p::detail
