// transport_bench — the engine's sharded, batched transport as a whole
// (issue 7) against moodycamel::ConcurrentQueue, peers in the same binary and
// the same run.
//
// What is measured: jobs per second from producer threads to consumer
// threads.
//   * hotq_Engine_payload{0,8}: an in-memory hotq::Engine (EngineOptions with
//     no wal_dir, shards = 2), one queue (capacity_jobs_max 65536, one
//     priority level, ordering sharded). A producer enqueues jobs with an
//     empty or an 8-byte payload (the item's value); a consumer reserves
//     them (a lease with a token, on the timing wheel) and acks each one.
//     So one item is a whole job lifecycle: enqueue + reserve + ack, with
//     the record allocation, the payload copy (a malloc even when empty:
//     the payload header), the state changes, the per-shard counters and
//     the latency histograms the engine always keeps.
//     "single": enqueue / reserve / ack one job per call. "batch32":
//     enqueue_batch / reserve_batch / ack_batch of up to 32.
//   * moodycamel_ConcurrentQueue: 8-byte handles through enqueue_bulk /
//     try_dequeue_bulk (single: enqueue / try_dequeue) with a producer token
//     per producer and a consumer token per consumer; 65536 slots
//     pre-allocated. It only moves the 8 bytes: nothing of a job's life.
//   * hotq_MpmcRing: the engine's ring alone (engine/ring.h), 65536 slots,
//     8-byte handles — the piece of the transport the peer is comparable
//     to. bench/ring_bench.cc has the ring against every peer; it is here so
//     that the gap engine vs ring is read off one run.
//
// Method (that of ring_bench.cc).
//   * Threads(2) is 1 producer + 1 consumer, Threads(4) is 2 + 2 (four
//     threads on two cores here). Even thread_index produces, odd consumes.
//     Every thread handles iterations x batch items, so the items pushed
//     equal the items popped and every run ends with the queue empty.
//   * 1T, a reference: one thread pushes a batch (or one item) and pops it
//     again. No other thread, nothing crosses cores: the work per item
//     alone, to read the two-thread figures against.
//   * Bounded on every side: the engine's queue holds at most 65536 jobs
//     (enqueue says Code::full beyond, and the producer backs off); the ring
//     has 65536 slots; moodycamel is unbounded (it may allocate instead of
//     saying full), the peer's own caveat.
//   * A call that finds the queue full or empty backs off the same way
//     everywhere: a pause instruction, and a yield every 64 misses.
//   * items/s counts each item once (consumers report it). Wall time
//     (UseRealTime); Google Benchmark averages it over the threads.
//   * Any outcome other than ok, full (producer) or empty (consumer) aborts
//     the run: a miscounted transfer must not pass as a fast one.
//
// Run: build/release/bench/transport_bench --benchmark_min_time=0.5
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <hotq/engine.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "bench/transfer.h"

namespace hotq {
namespace {

using namespace bench;  // kQueueSlots, Backoff, HotqRing, Moodycamel, produce, consume

constexpr std::size_t kBatchMax = 32;

[[noreturn]] void unexpected(const char* call, Code c) {
  std::fprintf(stderr, "transport_bench: %s returned %s\n", call, code_name(c));
  std::abort();
}

// ------------------------------------------------------------ adapters
// Each adapter: a shared Queue, a per-thread Producer and Consumer with
// push/push_n and pop/pop_n that never block (push_n/pop_n may be partial).

// The whole engine: an item is a job, from enqueue to ack.
template <std::size_t kPayloadBytes>
struct HotqEngine {
  static_assert(kPayloadBytes == 0 || kPayloadBytes == sizeof(std::uint64_t));
  static constexpr const char* kName =
      kPayloadBytes == 0 ? "hotq_Engine_payload0" : "hotq_Engine_payload8";

  struct Queue {
    Queue() {
      EngineOptions o;
      o.shards = 2;  // wal_dir empty: in memory
      if (Status s = Engine::open(o, &engine); !s.ok()) {
        std::fprintf(stderr, "transport_bench: %s\n", s.to_string().c_str());
        std::abort();
      }
      QueueOptions qo;
      qo.capacity_jobs_max = kQueueSlots;
      qo.priority_levels = 1;
      qo.ordering = Ordering::sharded;
      Result<QueueId> q = engine->create_queue("transport", qo);
      if (!q.ok()) unexpected("create_queue", q.code());
      id = q.value();
    }
    std::unique_ptr<Engine> engine;
    QueueId id = 0;
  };
  // One engine for all runs of a variant; every run leaves it empty.
  static Queue& queue() {
    static Queue q;
    return q;
  }

  struct Producer {
    explicit Producer(Queue& q) : engine_(*q.engine), id_(q.id) {
      for (std::size_t k = 0; k < kBatchMax; ++k) {
        reqs_[k].payload = std::string_view(bytes_[k], kPayloadBytes);
      }
    }
    Producer(const Producer&) = delete;  // reqs_ point into bytes_
    Producer& operator=(const Producer&) = delete;
    bool push(std::uint64_t v) {
      std::memcpy(bytes_[0], &v, kPayloadBytes);
      Result<JobId> r = engine_.enqueue(id_, reqs_[0]);
      if (r.ok()) return true;
      if (r.code() != Code::full) unexpected("enqueue", r.code());
      return false;
    }
    std::size_t push_n(const std::uint64_t* v, std::size_t n) {
      for (std::size_t k = 0; k < n; ++k) std::memcpy(bytes_[k], &v[k], kPayloadBytes);
      const BatchResult r = engine_.enqueue_batch(id_, {reqs_, n}, {ids_, n});
      if (r.code != Code::ok && r.code != Code::full) unexpected("enqueue_batch", r.code);
      return r.count;
    }
    Engine& engine_;
    QueueId id_;
    char bytes_[kBatchMax][sizeof(std::uint64_t)] = {};
    EnqueueRequest reqs_[kBatchMax];
    JobId ids_[kBatchMax] = {};
  };

  struct Consumer {
    explicit Consumer(Queue& q) : engine_(*q.engine), id_(q.id) {}
    static std::uint64_t value_of(const ReservedJob& job) {
      if constexpr (kPayloadBytes == 0) {
        return job.id;
      } else {
        const std::string_view bytes = job.payload.view();
        if (bytes.size() != kPayloadBytes) unexpected("reserve (payload size)", Code::internal);
        std::uint64_t v = 0;
        std::memcpy(&v, bytes.data(), kPayloadBytes);
        return v;
      }
    }
    bool pop(std::uint64_t& v) {
      Result<ReservedJob> job = engine_.reserve(id_);
      if (!job.ok()) {
        if (job.code() != Code::empty) unexpected("reserve", job.code());
        return false;
      }
      v = value_of(job.value());
      if (Code c = engine_.ack(id_, job->lease()); c != Code::ok) unexpected("ack", c);
      return true;
    }
    std::size_t pop_n(std::uint64_t* v, std::size_t n) {
      const BatchResult r = engine_.reserve_batch(id_, {jobs_, n});
      if (r.count == 0) {
        if (r.code != Code::empty) unexpected("reserve_batch", r.code);
        return 0;
      }
      for (std::uint32_t k = 0; k < r.count; ++k) {
        v[k] = value_of(jobs_[k]);
        leases_[k] = jobs_[k].lease();
      }
      if (engine_.ack_batch(id_, {leases_, r.count}, {codes_, r.count}) != r.count) {
        std::uint32_t k = 0;
        while (k + 1 < r.count && codes_[k] == Code::ok) ++k;
        unexpected("ack_batch", codes_[k]);
      }
      return r.count;
    }
    Engine& engine_;
    QueueId id_;
    ReservedJob jobs_[kBatchMax];
    Lease leases_[kBatchMax];
    Code codes_[kBatchMax] = {};
  };
};


// ------------------------------------------------------------ the benchmark


// 1T: one thread pushes kBatch items, then pops them: the work per item
// with no other thread and no cache line crossing cores.
template <class Impl, std::size_t kBatch>
void round_trip(benchmark::State& state, typename Impl::Queue& q) {
  typename Impl::Producer producer(q);
  typename Impl::Consumer consumer(q);
  std::uint64_t next = 1;
  std::uint64_t sum = 0;
  std::uint64_t buf[kBatch];
  for (auto _ : state) {
    if constexpr (kBatch == 1) {
      if (!producer.push(next++) || !consumer.pop(buf[0])) {
        state.SkipWithError("1T: an item did not go through");
        break;
      }
      sum += buf[0];
    } else {
      for (std::size_t k = 0; k < kBatch; ++k) buf[k] = next + k;
      next += kBatch;
      if (producer.push_n(buf, kBatch) != kBatch || consumer.pop_n(buf, kBatch) != kBatch) {
        state.SkipWithError("1T: a batch did not go through");
        break;
      }
      for (std::size_t k = 0; k < kBatch; ++k) sum += buf[k];
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}

template <class Impl, std::size_t kBatch>
void BM_Transfer(benchmark::State& state) {
  static_assert(kBatch <= kBatchMax);
  auto& q = Impl::queue();  // shared by all threads of all runs; empty between runs
  if (state.threads() == 1) {
    round_trip<Impl, kBatch>(state, q);
  } else if (state.thread_index() % 2 == 0) {
    produce<Impl, kBatch>(state, q);
  } else {
    consume<Impl, kBatch>(state, q);
  }
}

// Registers "<scenario>_<ops>/<impl>" with 1 thread (1T), 2 (1P1C) or 4 (2P2C).
template <class Impl, std::size_t kBatch>
void add(const char* scenario, int threads) {
  std::string name = scenario;
  name += kBatch == 1 ? "_single/" : "_batch32/";
  name += Impl::kName;
  benchmark::RegisterBenchmark(name.c_str(), &BM_Transfer<Impl, kBatch>)
      ->Threads(threads)
      ->UseRealTime();
}

template <std::size_t kBatch>
void add_scenarios() {
  for (const auto& [scenario, threads] :
       {std::pair{"1T", 1}, std::pair{"1P1C", 2}, std::pair{"2P2C", 4}}) {
    add<HotqEngine<0>, kBatch>(scenario, threads);
    add<HotqEngine<8>, kBatch>(scenario, threads);
    add<Moodycamel, kBatch>(scenario, threads);
    add<HotqRing, kBatch>(scenario, threads);
  }
}

const bool registered = [] {
  add_scenarios<1>();
  add_scenarios<32>();
  return true;
}();

}  // namespace
}  // namespace hotq
