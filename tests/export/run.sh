#!/usr/bin/env bash
# export_model writes a checkpoint and the node's logits; the project's venv (install-deps.sh)
# loads it with transformers. Exit 77 (ctest: skipped) when that venv is absent.
set -euo pipefail
tool=$1 python=$2 dir=$3
if [ ! -x "$python" ]; then echo "no $python: run .ci/install-deps.sh"; exit 77; fi
"$tool" "$dir"
"$python" "$(dirname "$0")/check_transformers.py" "$dir"
