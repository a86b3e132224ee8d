#!/usr/bin/env bash
# Installs what hotq needs to build, test and benchmark, from Debian packages.
# Idempotent: when everything is present it only checks, and returns at once.
# Runs apt-get directly as root, through sudo otherwise.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang
  liburing-dev libboost-dev libxxhash-dev libgtest-dev libbenchmark-dev
  libatomic-queue-dev libconcurrentqueue-dev   # benchmark peers only
  clang-14 libclang-rt-14-dev                  # fuzz/: libFuzzer (only recommended by clang)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "hotq setup: missing packages: ${missing[*]}" >&2
  echo "hotq setup: run as root or install sudo, or install them yourself." >&2
  exit 1
fi
echo "hotq setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
