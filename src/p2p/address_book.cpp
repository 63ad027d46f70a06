#include <learnchain/chain/log.hpp>
#include <learnchain/p2p/address_book.hpp>

#include "json_file.hpp"

namespace learnchain::p2p {

using json = nlohmann::json;

Result<Endpoint> parse_endpoint(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
        return make_error(ErrorKind::malformed, "p2p-bad-endpoint", std::string(text));
    unsigned long port = 0;
    try {
        std::size_t used = 0;
        const std::string digits(text.substr(colon + 1));
        port = std::stoul(digits, &used);
        if (used != digits.size() || port == 0 || port > 65535) throw std::out_of_range("port");
    } catch (const std::exception&) {
        return make_error(ErrorKind::malformed, "p2p-bad-endpoint", std::string(text));
    }
    return Endpoint{std::string(text.substr(0, colon)), static_cast<std::uint16_t>(port)};
}

AddressBook::AddressBook(std::filesystem::path path) : path_(std::move(path)) {}

Status AddressBook::load() {
    if (path_.empty()) return ok_status();
    auto file = detail::read_json_file(path_, "p2p-bad-peers-file");
    if (!file) return file.error();
    LOCK(mutex_);
    try {
        if (file->contains("peers"))
            for (const auto& entry : file->at("peers")) {
                auto endpoint = parse_endpoint(entry.get<std::string>());
                if (!endpoint)
                    return make_error(ErrorKind::malformed, "p2p-bad-peers-file",
                                      endpoint.error().detail);
                known_.insert(*endpoint);
            }
    } catch (const json::exception& e) {
        return make_error(ErrorKind::malformed, "p2p-bad-peers-file", e.what());
    }
    return ok_status();
}

void AddressBook::save(bool force) {
    if (path_.empty()) return;
    LOCK(file_mutex_);
    json list = json::array();
    {
        LOCK(mutex_);
        if (!changed_ && !force) return;
        changed_ = false;
        for (const auto& endpoint : known_) list.push_back(endpoint.to_string());
    }
    if (auto status = detail::write_json_file(path_, json{{"version", 1}, {"peers", list}});
        !status)
        log::warn("p2p: {}", status.error().to_string());
}

bool AddressBook::add(const Endpoint& endpoint) {
    LOCK(mutex_);
    const bool added = known_.insert(endpoint).second;
    if (added) changed_ = true;
    return added;
}

std::vector<Endpoint> AddressBook::endpoints() const {
    LOCK(mutex_);
    return {known_.begin(), known_.end()};
}

}  // namespace learnchain::p2p
