// A minimal fork-join for O(n) passes that should use every core (sketching, hashing patterns,
// the mean gradient), so proof-of-learning bookkeeping keeps up with training.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace learnchain {

// Runs fn(i) for every i in [0, count), on up to hardware_concurrency threads. fn must not
// throw and jobs must be independent.
template <class Fn>
void parallel_jobs(std::size_t count, const Fn& fn) {
    const std::size_t threads =
        std::min<std::size_t>(count, std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t i; (i = next.fetch_add(1)) < count;) fn(i);
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
}

}  // namespace learnchain
