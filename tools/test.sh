#!/usr/bin/env bash
# Installs what is missing, builds and runs the whole test suite through ctest.
#   tools/test.sh            the release preset
#   tools/test.sh asan|tsan|debug
# HOTQ_WERROR=ON turns compiler warnings into errors (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
tools/setup.sh
cmake --preset "$preset" -DHOTQ_WERROR="${HOTQ_WERROR:-OFF}" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset" -j "$(nproc)"
