// Lifecycle benchmarks: enqueue + reserve + ack of 64-byte payloads through
// the public API, in memory (no WAL yet).
//
//   BM_Lifecycle_*_OneThread         one thread does all three
//   BM_Lifecycle_*_ProducerConsumer  one producer thread, one consumer thread
//   *_Single                         one job per call
//   *_Batch/N                        N jobs per call (enqueue_batch, reserve_batch, ack_batch)
//   BM_JobMemory                     bytes per queued job beyond its payload
//
// Items/s is jobs through the whole lifecycle per second (counted once).
// Run: build/release/bench/lifecycle_bench --benchmark_repetitions=5
//        --benchmark_report_aggregates_only=true
#include <hotq/engine.h>

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/job_table.h"

namespace hotq {
namespace {

constexpr std::size_t payload_bytes = 64;
const std::string& Payload64() {
  static const std::string p(payload_bytes, 'x');
  return p;
}

struct Fixture {
  explicit Fixture(std::uint64_t capacity = 1u << 16) {
    EngineOptions o;
    o.shards = 2;
    if (!Engine::open(o, &engine).ok()) std::abort();
    QueueOptions qo;
    qo.capacity_jobs_max = capacity;
    qo.priority_levels = 1;
    // Dedup benchmarks: a short window so the live keys stay bounded
    // (rate x window), and room for them.
    qo.dedup_window_ms = 100;
    qo.dedup_keys_max = 1u << 24;
    queue = engine->create_queue("bench", qo).value();
  }
  std::unique_ptr<Engine> engine;
  QueueId queue = 0;
};

void BM_Lifecycle_Single_OneThread(benchmark::State& state) {
  Fixture f;
  const EnqueueRequest req{.payload = Payload64()};
  for (auto _ : state) {
    Result<JobId> id = f.engine->enqueue(f.queue, req);
    Result<ReservedJob> job = f.engine->reserve(f.queue);
    Code c = f.engine->ack(f.queue, job->lease());
    benchmark::DoNotOptimize(id);
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Lifecycle_Single_OneThread);

// A fresh 16-byte dedup key per job, for the dedup variants.
std::string Key16(std::uint64_t i) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(i));
  return std::string(buf, 16);
}

// Batches of state.range(0) through enqueue_batch, reserve_batch, ack_batch;
// with dedup, every job carries a key never used before.
void BatchLifecycle(benchmark::State& state, bool dedup) {
  Fixture f;
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::string> keys(n);
  std::vector<EnqueueRequest> reqs(n, EnqueueRequest{.payload = Payload64()});
  std::vector<JobId> ids(n);
  std::vector<ReservedJob> jobs(n);
  std::vector<Lease> leases(n);
  std::vector<Code> codes(n);
  std::uint64_t next_key = 0;
  for (auto _ : state) {
    if (dedup) {
      for (std::size_t i = 0; i < n; ++i) {
        keys[i] = Key16(next_key++);
        reqs[i].dedup_key = keys[i];
      }
    }
    BatchResult e = f.engine->enqueue_batch(f.queue, reqs, ids);
    BatchResult r = f.engine->reserve_batch(f.queue, jobs);
    for (std::uint32_t i = 0; i < r.count; ++i) leases[i] = jobs[i].lease();
    std::uint32_t acked = f.engine->ack_batch(f.queue, {leases.data(), r.count}, codes);
    if (e.count != n || acked != n) state.SkipWithError("batch came back short");
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void BM_Lifecycle_Batch_OneThread(benchmark::State& state) { BatchLifecycle(state, false); }
BENCHMARK(BM_Lifecycle_Batch_OneThread)->Arg(16)->Arg(64)->Arg(256);

void BM_Lifecycle_Single_OneThread_Dedup(benchmark::State& state) {
  Fixture f;
  std::uint64_t n = 0;
  for (auto _ : state) {
    const std::string key = Key16(n++);
    Result<JobId> id = f.engine->enqueue(f.queue, {.payload = Payload64(), .dedup_key = key});
    Result<ReservedJob> job = f.engine->reserve(f.queue);
    if (!id.ok() || !job.ok()) state.SkipWithError("dedup lifecycle failed");
    Code c = f.engine->ack(f.queue, job->lease());
    benchmark::DoNotOptimize(c);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Lifecycle_Single_OneThread_Dedup);

void BM_Lifecycle_Batch_OneThread_Dedup(benchmark::State& state) { BatchLifecycle(state, true); }
BENCHMARK(BM_Lifecycle_Batch_OneThread_Dedup)->Arg(64);

// Thread 0 produces, thread 1 consumes; each iteration moves n jobs.
std::unique_ptr<Fixture> g_shared;

void BM_Lifecycle_ProducerConsumer(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  if (state.thread_index() == 0) g_shared = std::make_unique<Fixture>();
  // Google Benchmark starts the timed loop of all threads together, after
  // this setup; the fixture is made before the first iteration of either.
  std::vector<EnqueueRequest> reqs(n, EnqueueRequest{.payload = Payload64()});
  std::vector<JobId> ids(n);
  std::vector<ReservedJob> jobs(n);
  std::vector<Lease> leases(n);
  std::vector<Code> codes(n);
  for (auto _ : state) {
    Fixture& f = *g_shared;
    std::size_t done = 0;
    if (state.thread_index() == 0) {
      while (done < n) {
        BatchResult e = n == 1 ? BatchResult{} : f.engine->enqueue_batch(
                                                     f.queue, {reqs.data() + done, n - done},
                                                     {ids.data() + done, n - done});
        if (n == 1) {
          Result<JobId> id = f.engine->enqueue(f.queue, reqs[0]);
          e.count = id.ok() ? 1 : 0;
        }
        done += e.count;
      }
    } else {
      while (done < n) {
        if (n == 1) {
          Result<ReservedJob> job = f.engine->reserve(f.queue);
          if (job.ok()) {
            (void)f.engine->ack(f.queue, job->lease());
            ++done;
          }
          continue;
        }
        BatchResult r = f.engine->reserve_batch(f.queue, {jobs.data(), n - done});
        for (std::uint32_t i = 0; i < r.count; ++i) leases[i] = jobs[i].lease();
        f.engine->ack_batch(f.queue, {leases.data(), r.count}, codes);
        done += r.count;
      }
    }
  }
  if (state.thread_index() == 1) {
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  }
}
BENCHMARK(BM_Lifecycle_ProducerConsumer)->Arg(1)->Arg(64)->Threads(2)->UseRealTime();

// Memory per queued job beyond its 64-byte payload, in three parts:
//   payload_heap  the payload allocation (header + malloc overhead), measured
//                 with mallinfo2 as heap bytes in use (so memory freed by an
//                 earlier run and reused hides nothing);
//   record        the job record in the shard's slab (mmap'd outside malloc:
//                 exactly sizeof(Record) per job, counted from the slab);
//   ring_slot     the 16-byte ring slot a queued job's handle occupies.
std::size_t HeapInUseBytes() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

void BM_JobMemory(benchmark::State& state) {
  const auto jobs = static_cast<std::size_t>(state.range(0));
  constexpr double ring_slot_bytes = 16;
  constexpr double record_bytes = sizeof(engine::Record);
  double heap_per_job = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto f = std::make_unique<Fixture>(jobs);
    std::vector<EnqueueRequest> reqs(256, EnqueueRequest{.payload = Payload64()});
    std::vector<JobId> ids(256);
    const std::size_t before = HeapInUseBytes();
    state.ResumeTiming();
    for (std::size_t done = 0; done < jobs; done += 256) {
      (void)f->engine->enqueue_batch(f->queue, reqs, ids);
    }
    state.PauseTiming();
    const std::size_t after = HeapInUseBytes();
    heap_per_job = static_cast<double>(after - before) / static_cast<double>(jobs);
    f.reset();
    state.ResumeTiming();
  }
  state.counters["payload_heap_beyond_payload"] = heap_per_job - payload_bytes;
  state.counters["record"] = record_bytes;
  state.counters["ring_slot"] = ring_slot_bytes;
  state.counters["overhead_bytes_per_job"] =
      heap_per_job - payload_bytes + record_bytes + ring_slot_bytes;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(jobs));
}
BENCHMARK(BM_JobMemory)->Arg(1 << 20)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hotq
