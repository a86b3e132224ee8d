// Benchmarks of engine/timing_wheel.h against the usual alternative, a binary
// heap (std::priority_queue) with lazy deletion.
//
// Setup: single thread (the wheel is used under its shard's lock), 1 ms ticks
// (the engine's), simulated time (no clock reads), timers embedded in a
// pre-allocated array like job records. Run Release:
//   build/release/bench/timing_wheel_bench --benchmark_min_time=0.5
// add --benchmark_repetitions=5 --benchmark_report_aggregates_only=true for
// medians. Record the CPU and core count with the numbers (the benchmark
// library prints them in its header).
//
//   ScheduleCancelPair   schedule(n, now + delay) then cancel(n): a lease
//                        armed at reserve and disarmed by an ack. Target:
//                        <= 50 ns per pair. Arg: timers already outstanding.
//   *Pair_SteadyState    the wheel's pairs against the heap's equivalent
//                        (push; cancel = bump a generation, the stale entry is
//                        popped when it reaches the top) while simulated time
//                        moves 1 us per pair and expiry runs every 64 pairs, so
//                        the heap pays for its lazy deletes and stays bounded
//                        (~500k dead entries); delays uniform in [1 ms, 1 s].
//                        A heap without the pops would grow without bound.
//   *ScheduleExpire      schedule 1M timers spread over 1 minute, then expire
//                        them all with advance() once per 1 ms tick (or pops).
//                        Arg: timers (100k: the nodes fit in cache; 1M: 24 MB
//                        of nodes, and expiry is bound by memory latency, each
//                        node being visited once per cascade and once to fire).
//   Memory10M            10M timers outstanding: bytes per timer =
//                        (sizeof(TimerNode) * N + sizeof(TimingWheel)) / N.
//                        Target: <= 48 bytes per timer.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include "engine/timing_wheel.h"

namespace hotq::engine {
namespace {

constexpr uint64_t ms_ns = 1'000'000;
constexpr uint64_t us_ns = 1'000;

// Deadlines (ns from now) drawn up front so the RNG stays out of the loop.
std::vector<uint64_t> random_delays(size_t count, uint64_t lo_ns, uint64_t hi_ns, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> dist(lo_ns, hi_ns);
  std::vector<uint64_t> delays(count);
  for (auto& d : delays) d = dist(rng);
  return delays;
}

// Reports the wall time per iteration (one schedule+cancel pair) as ns_per_pair.
void report_ns_per_pair(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.counters["ns_per_pair"] = benchmark::Counter(
      static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Fills a wheel with `count` timers spread over one minute.
void fill(TimingWheel& wheel, std::vector<TimerNode>& nodes, uint64_t now_ns) {
  const auto delays = random_delays(nodes.size(), 1 * ms_ns, 60'000 * ms_ns, 99);
  for (size_t i = 0; i < nodes.size(); ++i) wheel.schedule(&nodes[i], now_ns + delays[i]);
}

// ---------------------------------------------------------------- pair cost

void BM_Wheel_ScheduleCancelPair(benchmark::State& state) {
  const uint64_t now_ns = 1'000 * ms_ns;
  auto wheel = std::make_unique<TimingWheel>(ms_ns, now_ns);
  std::vector<TimerNode> background(static_cast<size_t>(state.range(0)));
  fill(*wheel, background, now_ns);
  constexpr size_t mask = 4095;
  std::vector<TimerNode> nodes(mask + 1);
  const auto delays = random_delays(mask + 1, 1 * ms_ns, 60'000 * ms_ns, 1);
  size_t i = 0;
  for (auto _ : state) {
    TimerNode* n = &nodes[i & mask];
    wheel->schedule(n, now_ns + delays[i & mask]);
    wheel->cancel(n);
    ++i;
  }
  benchmark::DoNotOptimize(wheel->size());
  report_ns_per_pair(state);
}
BENCHMARK(BM_Wheel_ScheduleCancelPair)->Arg(0)->Arg(100'000)->Arg(1'000'000);

// The heap's equivalent: push an entry; cancel bumps the node's generation so
// the entry is skipped (and only then removed) when it reaches the top.
struct HeapEntry {
  uint64_t deadline_ns;
  uint32_t index;
  uint32_t generation;
  bool operator>(const HeapEntry& o) const { return deadline_ns > o.deadline_ns; }
};
using Heap = std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>>;

// ---------------------------------------------------------------- steady state

constexpr size_t steady_nodes = 1u << 12;
constexpr size_t expire_every = 64;  // pairs between expiry runs (64 us of simulated time)

void BM_Wheel_ScheduleCancelPair_SteadyState(benchmark::State& state) {
  uint64_t now_ns = 1'000 * ms_ns;
  auto wheel = std::make_unique<TimingWheel>(ms_ns, now_ns);
  std::vector<TimerNode> nodes(steady_nodes);
  const auto delays = random_delays(steady_nodes, 1 * ms_ns, 1'000 * ms_ns, 2);
  size_t i = 0;
  size_t fired = 0;
  for (auto _ : state) {
    TimerNode* n = &nodes[i % steady_nodes];
    wheel->schedule(n, now_ns + delays[i % steady_nodes]);
    wheel->cancel(n);
    now_ns += us_ns;
    if (++i % expire_every == 0) fired += wheel->advance(now_ns, [](TimerNode*) {});
  }
  benchmark::DoNotOptimize(fired);
  report_ns_per_pair(state);
}
BENCHMARK(BM_Wheel_ScheduleCancelPair_SteadyState);

void BM_Heap_PushLazyDeletePair_SteadyState(benchmark::State& state) {
  uint64_t now_ns = 1'000 * ms_ns;
  Heap heap;
  std::vector<uint32_t> generation(steady_nodes, 0);
  const auto delays = random_delays(steady_nodes, 1 * ms_ns, 1'000 * ms_ns, 2);
  size_t i = 0;
  size_t fired = 0;
  for (auto _ : state) {
    const auto index = static_cast<uint32_t>(i % steady_nodes);
    heap.push({now_ns + delays[index], index, generation[index]});
    ++generation[index];
    now_ns += us_ns;
    if (++i % expire_every == 0) {
      while (!heap.empty() && heap.top().deadline_ns <= now_ns) {
        if (heap.top().generation == generation[heap.top().index]) ++fired;  // live
        heap.pop();
      }
    }
  }
  benchmark::DoNotOptimize(fired);
  state.counters["heap_entries"] = static_cast<double>(heap.size());
  report_ns_per_pair(state);
}
BENCHMARK(BM_Heap_PushLazyDeletePair_SteadyState);

// ---------------------------------------------------------------- schedule + expire

constexpr uint64_t expire_span_ns = 60'000 * ms_ns;  // one minute

void BM_Wheel_ScheduleExpire(benchmark::State& state) {
  const auto expire_timers = static_cast<size_t>(state.range(0));
  std::vector<TimerNode> nodes(expire_timers);
  const auto delays = random_delays(expire_timers, 0, expire_span_ns, 3);
  uint64_t now_ns = 0;
  for (auto _ : state) {
    auto wheel = std::make_unique<TimingWheel>(ms_ns, now_ns);
    for (size_t i = 0; i < expire_timers; ++i) wheel->schedule(&nodes[i], now_ns + delays[i]);
    size_t fired = 0;
    const uint64_t end_ns = now_ns + expire_span_ns;
    while (now_ns < end_ns) {
      now_ns += ms_ns;  // one advance per tick, as an engine loop would
      fired += wheel->advance(now_ns, [](TimerNode* n) { benchmark::DoNotOptimize(n); });
    }
    if (fired != expire_timers) state.SkipWithError("lost timers");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(expire_timers));
}
BENCHMARK(BM_Wheel_ScheduleExpire)->Arg(1'000'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

void BM_Heap_ScheduleExpire(benchmark::State& state) {
  const auto expire_timers = static_cast<size_t>(state.range(0));
  const auto delays = random_delays(expire_timers, 0, expire_span_ns, 3);
  uint64_t now_ns = 0;
  for (auto _ : state) {
    Heap heap;
    for (size_t i = 0; i < expire_timers; ++i) {
      heap.push({now_ns + delays[i], static_cast<uint32_t>(i), 0});
    }
    size_t fired = 0;
    const uint64_t end_ns = now_ns + expire_span_ns;
    while (now_ns < end_ns) {
      now_ns += ms_ns;
      while (!heap.empty() && heap.top().deadline_ns <= now_ns) {
        benchmark::DoNotOptimize(heap.top().index);
        heap.pop();
        ++fired;
      }
    }
    if (fired != expire_timers) state.SkipWithError("lost timers");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(expire_timers));
}
BENCHMARK(BM_Heap_ScheduleExpire)->Arg(1'000'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- memory

void BM_Wheel_Memory10M(benchmark::State& state) {
  constexpr size_t count = 10'000'000;
  std::vector<TimerNode> nodes(count);  // stands in for the job records' embedded nodes
  const uint64_t now_ns = 0;
  for (auto _ : state) {
    auto wheel = std::make_unique<TimingWheel>(ms_ns, now_ns);
    // Spread over one hour: every level below the top is populated.
    for (size_t i = 0; i < count; ++i) {
      wheel->schedule(&nodes[i], now_ns + (i * 2'654'435'761u) % (3'600'000 * ms_ns));
    }
    if (wheel->size() != count) state.SkipWithError("size mismatch");
    state.PauseTiming();
    for (auto& n : nodes) wheel->cancel(&n);
    state.ResumeTiming();
  }
  const double bytes = static_cast<double>(sizeof(TimerNode) * count + sizeof(TimingWheel));
  state.counters["bytes_per_timer"] = bytes / static_cast<double>(count);
  state.counters["wheel_bytes"] = static_cast<double>(sizeof(TimingWheel));
  state.counters["node_bytes"] = static_cast<double>(sizeof(TimerNode));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(count));
}
BENCHMARK(BM_Wheel_Memory10M)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace hotq::engine
