// dedup_bench — engine/dedup_table.h: the cost of one claim with 1M live keys
// (and, for contrast, 10k, where the table fits in cache), and the memory per
// key.
//
// Setup: 16-byte keys (an 8-byte counter + 8 fixed bytes), the default XXH3
// hash, simulated time (no clock reads), one shared table, keys_max =
// dedup_keys_limit (never full).
//
//   ClaimNew        claim of a key never seen (inserted). Simulated time moves
//                   1 ns per claim (threads interleave their clocks) and the
//                   window is Arg ns, so each claim also expires the oldest
//                   key: Arg keys stay live, and the cost includes that drop
//                   (an index deletion), the rebuilds (amortised) and the
//                   insert. With 2 threads, a preempted thread's clock lags
//                   and its keys are stamped at the stripe's later clock, so
//                   a little more than Arg keys can be live (see live_keys).
//   ClaimDuplicate  claim of a uniformly random one of Arg live keys
//                   (duplicate): one index slot and one record read.
// Arg: live keys, 1M (a ~63 MB table: cache and TLB misses dominate) and, for
// contrast, 10k (fits in cache). Threads(1), Threads(2): each thread claims
// its own new keys or its own random keys; with 64 stripes two threads
// rarely meet on a lock.
// Counters: claims/s over all threads (items_per_second); bytes_per_key =
// bytes() / live keys after the run (rings, indexes, stripes, the table).
// Time is wall time per claim per thread; on a loaded machine read the CPU
// column too.
//
// Run: build/release/bench/dedup_bench --benchmark_min_time=1
// (add --benchmark_repetitions=5 --benchmark_report_aggregates_only=true for
// medians). State the CPU, core count and load with any numbers quoted.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>

#include "engine/dedup_table.h"

namespace hotq::engine {
namespace {

constexpr std::uint64_t key_salt = 0x6b65792d73616c74ull;

struct Key {
  char bytes[16];
  explicit Key(std::uint64_t k) {
    std::memcpy(bytes, &k, 8);
    std::memcpy(bytes + 8, &key_salt, 8);
  }
  std::string_view view() const { return {bytes, sizeof(bytes)}; }
};

std::uint64_t xorshift(std::uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

std::uint64_t live_keys(const benchmark::State& state) {
  return static_cast<std::uint64_t>(state.range(0));
}

void report(benchmark::State& state, DedupTable& table, std::uint64_t now_ns) {
  const double keys = static_cast<double>(table.size(now_ns));
  state.counters["live_keys"] = keys;
  state.counters["bytes_per_key"] = static_cast<double>(table.bytes()) / keys;
}

// ClaimNew's tables persist across runs: time and keys continue where the
// previous run stopped, so every run sees the steady state. Key number ==
// simulated now == id - 1.
struct NewFixture {
  std::unique_ptr<DedupTable> table;
  std::uint64_t next = 0;
};
std::map<std::uint64_t, NewFixture> g_new;

// Setup hooks run on one thread before a run's threads start.
void SetupClaimNew(const benchmark::State& state) {
  NewFixture& f = g_new[live_keys(state)];
  if (f.table) return;
  f.table = std::make_unique<DedupTable>(live_keys(state), dedup_keys_limit);
  std::uint64_t existing = 0;
  for (std::uint64_t k = 0; k < live_keys(state); ++k)
    f.table->claim(Key(k).view(), k, k + 1, &existing);
  f.next = live_keys(state);
}

void ClaimNew(benchmark::State& state) {
  const auto threads = static_cast<std::uint64_t>(state.threads());
  const auto me = static_cast<std::uint64_t>(state.thread_index());
  NewFixture& f = g_new.at(live_keys(state));
  DedupTable& table = *f.table;
  const std::uint64_t base = f.next;
  std::uint64_t n = base + me;
  std::uint64_t existing = 0;
  std::uint64_t misses = 0;
  for (auto _ : state) {
    const DedupTable::Claim c = table.claim(Key(n).view(), n, n + 1, &existing);
    misses += c != DedupTable::Claim::inserted;
    n += threads;
  }
  if (misses != 0) state.SkipWithError("a new key was not inserted");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (me == 0) {
    // After the loop's closing barrier every thread is done claiming.
    f.next = base + static_cast<std::uint64_t>(state.iterations()) * threads;
    report(state, table, f.next);
  }
}

std::map<std::uint64_t, std::unique_ptr<DedupTable>> g_dup;

void SetupClaimDuplicate(const benchmark::State& state) {
  std::unique_ptr<DedupTable>& table = g_dup[live_keys(state)];
  if (table) return;
  table = std::make_unique<DedupTable>(dedup_window_ms_max * 1'000'000, dedup_keys_limit);
  std::uint64_t existing = 0;
  for (std::uint64_t k = 0; k < live_keys(state); ++k)
    table->claim(Key(k).view(), 0, k + 1, &existing);
}

void ClaimDuplicate(benchmark::State& state) {
  const auto me = static_cast<std::uint64_t>(state.thread_index());
  const std::uint64_t keys = live_keys(state);
  DedupTable& table = *g_dup.at(keys);
  std::uint64_t rng = 0x9e3779b97f4a7c15ull * (me + 1);
  std::uint64_t existing = 0;
  std::uint64_t misses = 0;
  for (auto _ : state) {
    const std::uint64_t k = xorshift(rng) % keys;
    const DedupTable::Claim c = table.claim(Key(k).view(), 1, 1ull << 40, &existing);
    misses += c != DedupTable::Claim::duplicate || existing != k + 1;
  }
  if (misses != 0) state.SkipWithError("a live key was not reported as a duplicate");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (me == 0) report(state, table, 1);
}

BENCHMARK(ClaimNew)
    ->Setup(SetupClaimNew)
    ->Arg(1'000'000)
    ->Arg(10'000)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(ClaimDuplicate)
    ->Setup(SetupClaimDuplicate)
    ->Arg(1'000'000)
    ->Arg(10'000)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace
}  // namespace hotq::engine
