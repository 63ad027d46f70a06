#!/usr/bin/env bash
# Installs dependencies, builds everything, runs every test, checks the locking with clang, and
# smoke-runs every fuzz target.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash .ci/install-deps.sh

jobs=$(nproc)
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs" 2>&1 | tee build/ctest.log

# Clang's thread-safety analysis over every library (the chain lock and the other annotated
# mutexes, chain/threading.hpp): a guarded member touched without its lock fails the build.
cmake --preset clang
cmake --build --preset clang -j "$jobs"

# Fuzz targets: build with clang + libFuzzer + sanitizers, then run every build/fuzz/tests/fuzz/
# fuzz_* binary for LEARNCHAIN_FUZZ_SECONDS (default 30) so they keep compiling and running.
# Long fuzzing campaigns are run by hand (see README).
cmake --preset fuzz
cmake --build --preset fuzz -j "$jobs"
fuzz_seconds=${LEARNCHAIN_FUZZ_SECONDS:-30}
for target in build/fuzz/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  echo "fuzz smoke: $(basename "$target") for ${fuzz_seconds}s"
  "$target" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$target-" >"$target.log" 2>&1 ||
    { tail -n 40 "$target.log"; echo "fuzz target $(basename "$target") failed"; exit 1; }
  grep -E "^Done|#[0-9]+.*DONE" "$target.log" | tail -n 1 || true
done

# Repeat ctest's summary last, so the run closes on its verdict.
grep -E "tests passed|tests failed" build/ctest.log | tail -n 1
