// Durable engine lifecycle: enqueue + reserve + ack of 64-byte payloads with
// the write-ahead log on a real directory ($HOTQ_BENCH_DIR, default /tmp),
// in sync mode — every job's enqueue and ack are fdatasync'ed before they
// count.
//
//   BM_DurableLifecycle_SyncBatch/N    one thread, batches of N, each call
//                                      waiting for its group commit
//   BM_DurableLifecycle_Async/N/W      one thread, batches of N through the
//                                      *_async forms, waiting for the ticket
//                                      only every W batches (W batches in
//                                      flight: one group commit serves them)
//   BM_DurableLifecycle_Threads        T threads each doing single-op sync
//                                      lifecycles (group commit across callers)
//   BM_DurableReopen/M/S               Engine::open of a directory holding M
//                                      million ready jobs: S=0 all in the log
//                                      (no snapshot by size), S=1 all in a
//                                      snapshot (log after it empty); only the
//                                      open is timed, twice
//
// Items/s is jobs through the whole lifecycle, durable, per second (for
// BM_DurableReopen: live jobs back per second of open).
// Run: build/release/bench/durable_bench --benchmark_repetitions=3
//        --benchmark_report_aggregates_only=true
#include <hotq/engine.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace hotq {
namespace {

const std::string& Payload64() {
  static const std::string p(64, 'x');
  return p;
}

EngineOptions BenchOptions(const std::string& dir, WalBackend backend) {
  EngineOptions o;
  o.shards = 2;
  o.wal_dir = dir + "/wal";
  o.wal_backend = backend;
  return o;
}

void OpenOrDie(const EngineOptions& o, std::unique_ptr<Engine>* engine) {
  Status st = Engine::open(o, engine);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.to_string().c_str());
    std::abort();
  }
}

struct DurableFixture {
  explicit DurableFixture(WalBackend backend = WalBackend::automatic,
                          std::uint64_t capacity = 1u << 20, bool snapshots_by_size = true) {
    const char* base = std::getenv("HOTQ_BENCH_DIR");
    dir = std::string(base != nullptr && *base != 0 ? base : "/tmp") + "/hotq-durable-bench-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) std::abort();
    options = BenchOptions(dir, backend);
    if (!snapshots_by_size) options.wal_snapshot_log_bytes = 0;
    OpenOrDie(options, &engine);
    QueueOptions qo;
    qo.capacity_jobs_max = capacity;
    qo.priority_levels = 1;
    queue = engine->create_queue("bench", qo).value();
  }
  ~DurableFixture() {
    engine.reset();
    std::filesystem::remove_all(dir);
  }
  std::string dir;
  EngineOptions options;
  std::unique_ptr<Engine> engine;
  QueueId queue = 0;
};

void BM_DurableLifecycle_SyncBatch(benchmark::State& state) {
  DurableFixture f;
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<EnqueueRequest> reqs(n, EnqueueRequest{.payload = Payload64()});
  std::vector<JobId> ids(n);
  std::vector<ReservedJob> jobs(n);
  std::vector<Lease> leases(n);
  std::vector<Code> codes(n);
  for (auto _ : state) {
    if (f.engine->enqueue_batch(f.queue, reqs, ids).count != n) state.SkipWithError("enqueue");
    BatchResult r = f.engine->reserve_batch(f.queue, jobs);
    for (std::uint32_t i = 0; i < r.count; ++i) leases[i] = jobs[i].lease();
    if (f.engine->ack_batch(f.queue, {leases.data(), r.count}, codes) != r.count) {
      state.SkipWithError("ack");
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_DurableLifecycle_SyncBatch)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();

void BM_DurableLifecycle_Async(benchmark::State& state) {
  DurableFixture f;
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto window = static_cast<std::int64_t>(state.range(1));
  std::vector<EnqueueRequest> reqs(n, EnqueueRequest{.payload = Payload64()});
  std::vector<JobId> ids(n);
  std::vector<ReservedJob> jobs(n);
  std::vector<Lease> leases(n);
  std::vector<Code> codes(n);
  std::int64_t batches = 0;
  Ticket t;
  for (auto _ : state) {
    if (f.engine->enqueue_batch_async(f.queue, reqs, ids, {}, &t).count != n) {
      state.SkipWithError("enqueue");
    }
    BatchResult r = f.engine->reserve_batch(f.queue, jobs);
    for (std::uint32_t i = 0; i < r.count; ++i) leases[i] = jobs[i].lease();
    if (f.engine->ack_batch_async(f.queue, {leases.data(), r.count}, codes, &t) != r.count) {
      state.SkipWithError("ack");
    }
    if (++batches % window == 0 && f.engine->wait_durable(t) != Code::ok) state.SkipWithError("wal");
  }
  if (f.engine->wait_durable(t) != Code::ok) state.SkipWithError("wal");  // counted only once durable
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_DurableLifecycle_Async)
    ->Args({64, 16})
    ->Args({1024, 4})
    ->Args({1024, 16})
    ->UseRealTime();

void BM_DurableLifecycle_Threads(benchmark::State& state) {
  static DurableFixture* f = nullptr;
  if (state.thread_index() == 0) f = new DurableFixture();
  // Google Benchmark starts every thread's loop together after this point.
  const EnqueueRequest req{.payload = Payload64()};
  for (auto _ : state) {
    if (!f->engine->enqueue(f->queue, req).ok()) state.SkipWithError("enqueue");
    Result<ReservedJob> job = f->engine->reserve(f->queue);
    if (job.ok() && f->engine->ack(f->queue, job->lease()) != Code::ok) state.SkipWithError("ack");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete f;
    f = nullptr;
  }
}
BENCHMARK(BM_DurableLifecycle_Threads)->Threads(16)->Threads(64)->UseRealTime();

// Recovery at the engine level (issue 5: "10 million live jobs back in under
// 5 s"). The jobs are written once, outside the timing, through batches of
// the async enqueue; the engine is closed (its log synced) and reopened for
// each iteration, and only Engine::open is timed: snapshot load, log replay,
// materializing jobs, re-arming timers, re-taking log room. The page cache
// is warm (the files were just written). Counters: records and log/snapshot
// bytes replayed are in the open report; jobs_per_s is live jobs / open time.
void BM_DurableReopen(benchmark::State& state) {
  const auto jobs = static_cast<std::uint64_t>(state.range(0)) * 1'000'000;
  const bool snapshot = state.range(1) != 0;
  std::string report;
  double open_seconds = 0;
  {
    DurableFixture f(WalBackend::automatic, jobs, /*snapshots_by_size=*/false);
    std::vector<EnqueueRequest> reqs(batch_jobs_max, EnqueueRequest{.payload = Payload64()});
    std::vector<JobId> ids(batch_jobs_max);
    Ticket t;
    for (std::uint64_t done = 0; done < jobs;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(batch_jobs_max, jobs - done));
      if (f.engine->enqueue_batch_async(f.queue, {reqs.data(), n}, {ids.data(), n}, {}, &t).count != n) {
        state.SkipWithError("enqueue");
        return;
      }
      done += n;
    }
    if (f.engine->wait_durable(t) != Code::ok) state.SkipWithError("wal");
    if (snapshot && !f.engine->snapshot().ok()) state.SkipWithError("snapshot");
    f.engine.reset();
    for (auto _ : state) {
      auto start = std::chrono::steady_clock::now();
      OpenOrDie(f.options, &f.engine);
      auto end = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(end - start).count();
      state.SetIterationTime(seconds);
      open_seconds += seconds;
      Result<QueueCounts> c = f.engine->counts(f.queue);
      if (!c.ok() || c->ready != jobs) state.SkipWithError("jobs missing after reopen");
      report = f.engine->open_report();
      f.engine.reset();
    }
  }
  if (open_seconds > 0) {
    state.counters["jobs_per_s"] =
        static_cast<double>(jobs) * static_cast<double>(state.iterations()) / open_seconds;
  }
  while (!report.empty() && report.back() == '\n') report.pop_back();
  for (char& c : report) c = c == '\n' ? ';' : c;
  state.SetLabel(report);
}
BENCHMARK(BM_DurableReopen)
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({10, 0})
    ->Args({10, 1})
    ->Iterations(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hotq
