// The tests' one way to wait for something another thread or process does: poll until it holds.
#pragma once

#include <chrono>
#include <thread>

namespace learnchain::testing {

// Polls `done` every `poll` until it holds or `timeout` passes; the last answer otherwise.
template <class F>
[[nodiscard]] bool eventually(F&& done,
                              std::chrono::milliseconds timeout = std::chrono::seconds(20),
                              std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(poll);
    }
    return done();
}

}  // namespace learnchain::testing
