#!/usr/bin/env bash
# Installs what is missing, builds Release and runs the main job: a short
# smoke run of the engine (the default hotq-bench scenario once it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake --preset release -DHOTQ_WERROR="${HOTQ_WERROR:-OFF}" >/dev/null
cmake --build --preset release -j "$(nproc)"
build/release/tools/hotq-smoke
