// Private to consensus/: a minimal fork-join for torch-free O(n) passes (sketching, the mean
// gradient), so proof-of-learning bookkeeping uses every core as training does.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace learnchain::consensus::detail {

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

}  // namespace learnchain::consensus::detail
