#!/usr/bin/env bash
# Fuzzes the WAL's readers (fuzz/README.md): configures and builds the `fuzz`
# preset (clang-14, libFuzzer, ASan+UBSan), makes the seed corpus from real
# files, then runs each fuzzer for the same time.
#   fuzz/run.sh                 60 s each (what CI runs)
#   fuzz/run.sh 3600            an hour each
#   fuzz/run.sh 3600 segment    one fuzzer only (record, segment or snapshot)
# Exits 1 on any crash, sanitizer report, oracle violation, leak, timeout
# (-timeout: one input running over 10 s) or OOM (-rss_limit_mb,
# -malloc_limit_mb); the input is left in build/fuzz/artifacts/ and the
# command that replays it is printed. Each fuzzer's output is kept in
# build/fuzz/logs/<name>.log; the corpus grows in build/fuzz/corpus/<name>
# from run to run (make_corpus rewrites only its seeds).
# HOTQ_WERROR=ON turns compiler warnings into errors (CI sets it);
# HOTQ_FUZZ_BUILD_JOBS sets the build's parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
only="${2:-}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: fuzz/run.sh [seconds] [record|segment|snapshot]" >&2
  exit 2
fi

tools/setup.sh
cmake --preset fuzz -DHOTQ_WERROR="${HOTQ_WERROR:-OFF}" >/dev/null
cmake --build --preset fuzz -j "${HOTQ_FUZZ_BUILD_JOBS:-2}"

build=build/fuzz
corpus="$build/corpus"
artifacts="$build/artifacts"
logs="$build/logs"
mkdir -p "$artifacts" "$logs"
"$build/fuzz/make_corpus" "$corpus"

# Limits, per fuzzer process:
#   -timeout=10          an input that runs 10 s is a hang: a seed runs in
#                        well under 10 ms, and every loop in the readers is
#                        bounded by the input's length.
#   -malloc_limit_mb=128 one allocation above 128 MiB fails the run: inputs
#                        are at most 160 KiB, and nothing a reader needs
#                        grows faster than the input (a slot index in a
#                        record costs a 1,024-slot chunk, not a table).
#   -rss_limit_mb=2048   the process as a whole (ASan's quarantine and shadow
#                        included: a fuzzer idles at 0.5-0.7 GiB).
limits=(-timeout=10 -malloc_limit_mb=128 -rss_limit_mb=2048)
failed=()
found=0
while read -r name bin max_len; do
  if [ -n "$only" ] && [ "$only" != "$name" ]; then continue; fi
  found=1
  mkdir -p "$corpus/$name"
  log="$logs/$name.log"
  echo "== fuzz_$name: ${seconds} s, -max_len=$max_len, corpus $corpus/$name"
  # Past findings (fuzz/regressions/<name>/) are run with the corpus, as a second
  # directory: libFuzzer adds new inputs to the first one only.
  dirs=("$corpus/$name")
  if [ -d "fuzz/regressions/$name" ]; then dirs+=("fuzz/regressions/$name"); fi
  rc=0
  "$bin" -max_total_time="$seconds" "${limits[@]}" -max_len="$max_len" -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
    "$log" | sed 's/^/   /' || true
  echo "   corpus now: $(find "$corpus/$name" -type f | wc -l) inputs"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    echo "!! fuzz_$name FAILED (exit $rc); the end of $log:"
    tail -n 60 "$log" | sed 's/^/   /'
    grep -o 'Test unit written to .*' "$log" | sed 's/^Test unit written to //' |
      while read -r unit; do
        echo "!! input kept: $unit"
        echo "!! replay:     $bin ${limits[*]} -max_len=$max_len $unit"
      done
  fi
done <"$build/fuzz/fuzzers.txt"

if [ "$found" -eq 0 ]; then
  echo "fuzz/run.sh: no fuzzer named '$only'" >&2
  exit 2
fi
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz/run.sh: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz/run.sh: every fuzzer ran ${seconds} s without a finding"
