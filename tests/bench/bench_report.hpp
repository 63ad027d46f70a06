// Shared main for benchmark binaries: runs Google Benchmark as usual, keeps every result,
// then prints one "BENCH <name> <value> <unit>" line per headline figure, so scripts and
// reports can grep a stable format instead of parsing the table.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

namespace learnchain::bench {

// Prints the table like the console reporter and remembers each run. Repetitions of one
// benchmark are folded into the fastest: on a shared machine noise only ever adds time.
// Times are CPU time, as Google Benchmark's rate counters are: on a loaded machine wall time
// also counts the moments the thread was not running at all.
class Results : public benchmark::ConsoleReporter {
public:
    using ConsoleReporter::ConsoleReporter;

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) {
            if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
            // "name/args" without the "repeats:N" and similar suffixes, so lookups are stable.
            std::string name = run.run_name.function_name;
            if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
            auto it = best_.find(name);
            if (it == best_.end() || run.GetAdjustedCPUTime() < it->second.GetAdjustedCPUTime())
                best_[name] = run;
        }
    }

    [[nodiscard]] const Run* find(std::string_view name) const {
        auto it = best_.find(std::string(name));
        return it == best_.end() ? nullptr : &it->second;
    }

    // CPU seconds per iteration of the fastest repetition; NaN if the benchmark did not run.
    [[nodiscard]] double seconds_per_iteration(std::string_view name) const {
        const Run* run = find(name);
        if (run == nullptr || run->iterations == 0) return std::numeric_limits<double>::quiet_NaN();
        return run->cpu_accumulated_time / static_cast<double>(run->iterations);
    }

    // A user counter (e.g. "bytes_per_second") of the fastest repetition; Google Benchmark
    // has already turned rate counters into per-second values. NaN if absent.
    [[nodiscard]] double counter(std::string_view name, const std::string& key) const {
        const Run* run = find(name);
        if (run == nullptr) return std::numeric_limits<double>::quiet_NaN();
        auto it = run->counters.find(key);
        if (it == run->counters.end()) return std::numeric_limits<double>::quiet_NaN();
        return it->second.value;
    }

private:
    std::map<std::string, Run> best_;
};

inline void print_line(std::string_view name, double value, std::string_view unit) {
    std::printf("BENCH %.*s %.6g %.*s\n", static_cast<int>(name.size()), name.data(), value,
                static_cast<int>(unit.size()), unit.data());
    std::fflush(stdout);
}

// Requests/s, p99 latency and failures of a concurrent load, from each client thread's
// per-request latencies (ms) over `seconds` of wall clock.
struct LoadResult {
    double requests_per_second = 0;
    double p99_ms = 0;
    std::uint64_t failures = 0;
};

inline LoadResult summarize_load(const std::vector<std::vector<double>>& latencies, double seconds,
                                 std::uint64_t failures) {
    std::vector<double> all;
    for (const auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
    LoadResult result;
    result.failures = failures;
    if (all.empty()) return result;
    const std::size_t index = std::min(all.size() - 1, all.size() * 99 / 100);
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(index), all.end());
    result.p99_ms = all[index];
    result.requests_per_second = static_cast<double>(all.size()) / seconds;
    return result;
}

// Runs the registered benchmarks, then `headlines`, which prints the BENCH lines.
inline int run_main(int argc, char** argv, const std::function<void(const Results&)>& headlines) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    // Plain output: colour codes would otherwise precede the first BENCH line.
    Results results(benchmark::ConsoleReporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&results);
    benchmark::Shutdown();
    std::fflush(stdout);
    headlines(results);
    return 0;
}

}  // namespace learnchain::bench
