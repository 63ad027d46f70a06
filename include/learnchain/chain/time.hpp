// The node's one wall clock: Unix seconds, for block times, ban expiry, wallet history. Tests
// set a mock time (as Bitcoin Core's SetMockTime) instead of each object carrying its own clock.
// Durations and timeouts use std::chrono::steady_clock, never this.
#pragma once

#include <cstdint>

namespace learnchain {

// Seconds since the Unix epoch: the mock time when one is set, else the system clock.
[[nodiscard]] std::uint64_t unix_time();

// Makes unix_time() return `seconds` until cleared with 0. Thread-safe; for tests only.
void set_mock_unix_time(std::uint64_t seconds);

}  // namespace learnchain
