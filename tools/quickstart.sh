#!/usr/bin/env bash
# Installs what is missing, builds Release and runs the main job: a short
# hotq-bench run: the default scenario (lifecycle in memory, 3 x 2 s).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset release -DHOTQ_WERROR="${HOTQ_WERROR:-OFF}" >/dev/null
cmake --build --preset release -j "$(nproc)"
build/release/tools/hotq-bench
