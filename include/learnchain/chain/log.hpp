// Logging through spdlog (fmt formatting), and a progress meter for long work.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <learnchain/chain/result.hpp>

#include <spdlog/spdlog.h>

namespace learnchain::log {

// Accepts trace, debug, info, warn, error, off.
[[nodiscard]] Status set_level(std::string_view level);

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

// Logs "<what> <done>/<total> <unit> (<rate> <unit>/s, ETA <eta>)" at most once per interval.
class Progress {
public:
    Progress(std::string what, std::string unit, std::uint64_t total,
             std::chrono::milliseconds interval = std::chrono::seconds(5));
    // Records progress; logs if the interval has elapsed or the work is complete.
    void update(std::uint64_t done, std::string_view extra = {});
    [[nodiscard]] std::string line(std::uint64_t done, std::string_view extra = {}) const;

private:
    std::string what_;
    std::string unit_;
    std::uint64_t total_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_log_;
};

}  // namespace learnchain::log
