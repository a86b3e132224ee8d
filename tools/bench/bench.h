// tools/bench/bench.h — hotq-bench: named scenarios that measure the whole
// engine through its public API and print a table (docs/performance.md).
//
// A scenario runs `repeat` times; each run (a "repetition") returns named
// metrics. The report gives, per metric, the median over the repetitions and
// the spread (smallest and largest). Latencies are recorded into a log-linear
// histogram (engine/histogram.h: a reported percentile is at most 6.25 %
// above the true sample) and each repetition reports its own p50, p90, p99,
// p99.9 and max, so they get a median and spread like any other metric.
//
// Thread safety: a Progress is shared between a scenario's threads and the
// progress printer (atomics, relaxed: a progress line is a hint, it orders
// nothing). Everything else here is used by one thread at a time.
#ifndef HOTQ_TOOLS_BENCH_BENCH_H_
#define HOTQ_TOOLS_BENCH_BENCH_H_

#include <hotq/engine.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/histogram.h"

namespace hotq::bench {

// Durability of the engine a scenario opens: memory (no wal_dir), or a log
// in a fresh directory in interval or sync mode.
enum class Mode : std::uint8_t { memory, interval, sync };

// Everything the command line sets. Zero means "the scenario's default"
// where a comment says so (scenarios differ in what a sensible size is).
struct Options {
  std::string scenario = "lifecycle";
  Mode mode = Mode::memory;
  bool mode_given = false;
  WalBackend backend = WalBackend::automatic;
  std::uint32_t payload_bytes = 64;
  std::uint32_t threads = 0;      // 0: the scenario's default
  std::uint32_t batch = 64;       // jobs per call; 1 uses the single-job calls
  std::uint32_t window = 16;      // --async: batches in flight before waiting
  bool async = false;             // durable lifecycle through *_async + tickets
  std::uint64_t jobs = 0;         // 0: the scenario's default
  std::uint64_t records = 0;      // recovery: completed lifecycles in the log; 0: default
  double seconds = 0;             // timed runs; 0: the scenario's default
  std::uint64_t rate = 0;         // enqueue-latency: offered jobs/s; 0: default
  std::uint64_t lease_ms = 0;     // leases: the lease that expires; 0: default
  std::vector<std::uint64_t> resident;  // backlog: resident job counts
  bool snapshot = false;          // recovery: snapshot before the reopen
  bool keyed = false;             // lifecycle: a fresh dedup key on every enqueue
  std::uint32_t repeat = 3;
  std::uint32_t shards = 0;       // EngineOptions::shards (0: one per hardware thread)
  bool quick = false;             // tiny sizes: proves the scenario works (ctest)
  bool progress = true;
  std::string dir;                // parent of the WAL directory; "" : $HOTQ_BENCH_DIR or /var/tmp
  std::string json_path;          // "-": stdout
};

// Counters the scenario's threads bump as they go; read by the progress line.
struct Progress {
  std::atomic<std::uint64_t> done{0};  // relaxed: a hint for a progress line
  std::atomic<const char*> phase{""};  // relaxed: a static string, for the line
  void add(std::uint64_t n) noexcept { done.fetch_add(n, std::memory_order_relaxed); }
  void set_phase(const char* p) noexcept {
    phase.store(p, std::memory_order_relaxed);
    done.store(0, std::memory_order_relaxed);
  }
};

// One metric of one repetition.
struct Metric {
  std::string name;
  double value = 0;
  std::string unit;  // "jobs/s", "us", "s", "B", ...
};

// What one repetition measured, plus facts learnt on the way (the I/O
// back-end the engine chose, the open report) for the setup lines.
struct RunResult {
  std::vector<Metric> metrics;
  std::vector<std::pair<std::string, std::string>> facts;
  std::string error;  // non-empty: the repetition failed (printed, exit 1)

  void add(std::string name, double value, std::string unit) {
    metrics.push_back({std::move(name), value, std::move(unit)});
  }
  // Adds <prefix>p50 .. <prefix>max in microseconds.
  void add_latency(const std::string& prefix, const engine::LatencyHistogram::Snapshot& s);
  // The same from a public LatencySummary (p50, p99, p99.9, max).
  void add_summary(const std::string& prefix, const LatencySummary& s);
};

// The settings a scenario resolved (its defaults filled in), printed in the
// setup block and written to the JSON.
using Params = std::vector<std::pair<std::string, std::string>>;

struct Scenario {
  const char* name;
  const char* summary;
  // Fills defaults into the options and lists the settings that apply.
  std::function<Params(Options&)> resolve;
  // One repetition.
  std::function<RunResult(const Options&, Progress&)> run;
};

const std::vector<Scenario>& scenarios();

// ------------------------------------------------------------------ helpers

inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

const char* mode_name(Mode m);
const char* backend_name(WalBackend b);
std::string format_count(double v);  // 12,345,678 / 1.23 for small values

// A fresh directory for an engine's log under options.dir (or
// $HOTQ_BENCH_DIR, or /var/tmp); removed with everything in it when the
// object goes away.
class TempDir {
 public:
  explicit TempDir(const Options& options);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Engine options for a scenario's mode: memory, or the log in `wal_dir`.
EngineOptions engine_options(const Options& options, const std::string& wal_dir);

// The engine's chosen back-end line from its open report ("" in memory).
std::string backend_fact(const Engine& engine);

}  // namespace hotq::bench

#endif  // HOTQ_TOOLS_BENCH_BENCH_H_
