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
//
// Items/s is jobs through the whole lifecycle, durable, per second.
// Run: build/release/bench/durable_bench --benchmark_repetitions=3
//        --benchmark_report_aggregates_only=true
#include <hotq/engine.h>

#include <benchmark/benchmark.h>

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

struct DurableFixture {
  explicit DurableFixture(WalBackend backend = WalBackend::automatic) {
    const char* base = std::getenv("HOTQ_BENCH_DIR");
    dir = std::string(base != nullptr && *base != 0 ? base : "/tmp") + "/hotq-durable-bench-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) std::abort();
    EngineOptions o;
    o.shards = 2;
    o.wal_dir = dir + "/wal";
    o.wal_backend = backend;
    Status st = Engine::open(o, &engine);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.to_string().c_str());
      std::abort();
    }
    QueueOptions qo;
    qo.capacity_jobs_max = 1u << 20;
    qo.priority_levels = 1;
    queue = engine->create_queue("bench", qo).value();
  }
  ~DurableFixture() {
    engine.reset();
    std::filesystem::remove_all(dir);
  }
  std::string dir;
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

}  // namespace
}  // namespace hotq
