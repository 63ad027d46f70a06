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
  python3-torch python3-venv
  bible-kjv chromium
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}"

# The project's Python environment (.venv, beside the sources): Debian's torch through the
# system site packages, and from PyPI the pinned transformers and safetensors that load the
# exported checkpoint (tests/export/).
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/.venv/bin/python" ]; then /usr/bin/python3 -m venv --system-site-packages "$root/.venv"; fi
"$root/.venv/bin/pip" install -q --disable-pip-version-check "transformers==4.44.2" "safetensors==0.4.5"

# The King James Version as plain text, the corpus genesis/kjv.json trains on (named there by
# SHA-256: Debian 12's bible-kjv 4.38 prints these bytes).
if [ ! -s "$root/genesis/kjv.txt" ]; then
  /usr/bin/bible -f "Gen1:1-Rev22:21" >"$root/genesis/kjv.txt.tmp"
  mv "$root/genesis/kjv.txt.tmp" "$root/genesis/kjv.txt"
fi
