#include <atomic>
#include <chrono>

#include <learnchain/chain/time.hpp>

namespace learnchain {
namespace {

std::atomic<std::uint64_t> mock_seconds{0};

}  // namespace

std::uint64_t unix_time() {
    if (const std::uint64_t mock = mock_seconds.load(std::memory_order_relaxed); mock != 0)
        return mock;
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

void set_mock_unix_time(std::uint64_t seconds) {
    mock_seconds.store(seconds, std::memory_order_relaxed);
}

}  // namespace learnchain
