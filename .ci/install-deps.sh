#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing, fuzzing and running
# learnchain needs. Idempotent; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang lld libclang-rt-14-dev clang-format clang-tidy
  libtorch-dev libopenblas0-pthread libopenblas-dev
  librocksdb-dev libsecp256k1-dev libssl-dev
  libboost1.81-dev
  libcereal-dev libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 curl procps
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"
