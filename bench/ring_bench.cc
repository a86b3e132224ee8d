// ring_bench — hotq::engine::MpmcRing against peer bounded/MPMC queues.
//
// What is measured: throughput of moving 8-byte job handles (uint64_t) from
// producer threads to consumer threads through one shared queue.
//
// Method.
//   * Threads(2) is 1 producer + 1 consumer, Threads(4) is 2 + 2. Even
//     thread_index produces, odd consumes. Every thread handles the same
//     number of items (iterations x batch), so the items pushed equal the
//     items popped and a run ends with the queue empty: a consumer loops until
//     it has popped exactly its share, a producer until it has pushed its
//     share. No run can deadlock: while a producer is blocked on a full queue
//     some consumer still has items to pop, and while a consumer waits some
//     producer still has items to push.
//   * "single": one item per call. "batch32": 32 items per iteration, using
//     the peer's bulk call where it has one (MpmcRing try_push_n/try_pop_n,
//     moodycamel enqueue_bulk/try_dequeue_bulk, boost spsc_queue's range
//     push/pop); for the others a batch is a loop of single calls.
//   * Capacity 65536 slots for every queue, except boost::lockfree::queue
//     whose fixed-size node pool tops out at 65534.
//   * When a call finds the queue full or empty, every implementation backs
//     off the same way: a pause instruction, and a yield every 64 misses
//     (HOTQ_BENCH_SPINS=n changes 64). This matters when there are more
//     threads than cores (2P2C on a 2-core machine): then a thread preempted
//     between claiming a slot and publishing it stalls every consumer of a
//     ticket-based ring (hotq, atomic_queue) until it runs again, and a
//     quicker yield gives it the core back sooner.
//   * items/s counts each item once (consumers report it). Wall time
//     (UseRealTime); Google Benchmark averages it over the threads.
//
// Peers' caveats, so the table reads right:
//   * moodycamel::ConcurrentQueue is unbounded: 65536 is pre-allocated, but
//     enqueue may allocate more instead of reporting full. Producer and
//     consumer tokens are used. It gives no cross-producer FIFO at all.
//   * atomic_queue::AtomicQueueB reserves 0 as its empty marker, so items
//     start at 1. Its try_push/try_pop read the other side's index to decide
//     full/empty (a shared cache line per call), then, after claiming a
//     position, spin until that slot's previous occupant is gone. It is also
//     run through push()/pop() ("_waiting"), its intended fast path, which
//     waits instead of failing.
//   * boost::lockfree::spsc_queue is single-producer single-consumer: 1P1C only.
//
// Run: build/release/bench/ring_bench --benchmark_min_time=0.5
// (add --benchmark_repetitions=5 --benchmark_report_aggregates_only=true for
// medians). State the CPU, core count and load with any numbers quoted.
#include <atomic_queue/atomic_queue.h>
#include <benchmark/benchmark.h>

#include <boost/lockfree/policies.hpp>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include "bench/transfer.h"
#include "engine/ring.h"

namespace {

using namespace hotq::bench;  // kQueueSlots, Backoff, HotqRing, Moodycamel, produce, consume

constexpr std::size_t kBoostQueueSlots = 65534;  // boost::lockfree::queue's limit

// A batch as a loop of single calls, for queues without a bulk call.
template <class Fn>
std::size_t loop_n(std::size_t n, Fn&& one) {
  std::size_t k = 0;
  while (k < n && one(k)) ++k;
  return k;
}

// ------------------------------------------------------------ adapters
// Each adapter: a shared Queue, a per-thread Producer and Consumer with
// push/push_n and pop/pop_n that never block (push_n/pop_n may be partial).


struct AtomicQueue {
  static constexpr const char* kName = "atomic_queue_AtomicQueueB";
  using Queue = atomic_queue::AtomicQueueB<std::uint64_t>;
  static Queue& queue() {
    static Queue q(static_cast<unsigned>(kQueueSlots));
    return q;
  }
  struct Producer {
    explicit Producer(Queue& q) : q_(q) {}
    bool push(std::uint64_t v) { return q_.try_push(v); }
    std::size_t push_n(const std::uint64_t* v, std::size_t n) {
      return loop_n(n, [&](std::size_t k) { return q_.try_push(v[k]); });
    }
    Queue& q_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q) {}
    bool pop(std::uint64_t& v) { return q_.try_pop(v); }
    std::size_t pop_n(std::uint64_t* v, std::size_t n) {
      return loop_n(n, [&](std::size_t k) { return q_.try_pop(v[k]); });
    }
    Queue& q_;
  };
};

// atomic_queue's own fast path: push()/pop() take a position with one
// fetch_add and then wait for the slot, never failing. Not a try-API like the
// others (a pop on an empty queue waits), but the way atomic_queue is meant to
// be used, so it is shown too. Exact per-thread counts keep it deadlock-free:
// every position a consumer takes is eventually filled by some producer.
struct AtomicQueueWaiting {
  static constexpr const char* kName = "atomic_queue_AtomicQueueB_waiting";
  using Queue = atomic_queue::AtomicQueueB<std::uint64_t>;
  static Queue& queue() {
    static Queue q(static_cast<unsigned>(kQueueSlots));
    return q;
  }
  struct Producer {
    explicit Producer(Queue& q) : q_(q) {}
    bool push(std::uint64_t v) {
      q_.push(v);
      return true;
    }
    std::size_t push_n(const std::uint64_t* v, std::size_t n) {
      for (std::size_t k = 0; k < n; ++k) q_.push(v[k]);
      return n;
    }
    Queue& q_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q) {}
    bool pop(std::uint64_t& v) {
      v = q_.pop();
      return true;
    }
    std::size_t pop_n(std::uint64_t* v, std::size_t n) {
      for (std::size_t k = 0; k < n; ++k) v[k] = q_.pop();
      return n;
    }
    Queue& q_;
  };
};

struct BoostQueue {
  static constexpr const char* kName = "boost_lockfree_queue";
  using Queue = boost::lockfree::queue<std::uint64_t, boost::lockfree::capacity<kBoostQueueSlots>>;
  static Queue& queue() {
    static Queue q;
    return q;
  }
  struct Producer {
    explicit Producer(Queue& q) : q_(q) {}
    bool push(std::uint64_t v) { return q_.bounded_push(v); }
    std::size_t push_n(const std::uint64_t* v, std::size_t n) {
      return loop_n(n, [&](std::size_t k) { return q_.bounded_push(v[k]); });
    }
    Queue& q_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q) {}
    bool pop(std::uint64_t& v) { return q_.pop(v); }
    std::size_t pop_n(std::uint64_t* v, std::size_t n) {
      return loop_n(n, [&](std::size_t k) { return q_.pop(v[k]); });
    }
    Queue& q_;
  };
};

struct BoostSpsc {
  static constexpr const char* kName = "boost_lockfree_spsc_queue";
  using Queue = boost::lockfree::spsc_queue<std::uint64_t, boost::lockfree::capacity<kQueueSlots>>;
  static Queue& queue() {
    static Queue q;
    return q;
  }
  struct Producer {
    explicit Producer(Queue& q) : q_(q) {}
    bool push(std::uint64_t v) { return q_.push(v); }
    std::size_t push_n(const std::uint64_t* v, std::size_t n) { return q_.push(v, n); }
    Queue& q_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q) {}
    bool pop(std::uint64_t& v) { return q_.pop(v); }
    std::size_t pop_n(std::uint64_t* v, std::size_t n) { return q_.pop(v, n); }
    Queue& q_;
  };
};


// ------------------------------------------------------------ the benchmark


template <class Impl, std::size_t kBatch>
void BM_Transfer(benchmark::State& state) {
  auto& q = Impl::queue();  // shared by all threads of all runs; empty between runs
  if (state.thread_index() % 2 == 0) {
    produce<Impl, kBatch>(state, q);
  } else {
    consume<Impl, kBatch>(state, q);
  }
}

// Registers "<scenario>_<ops>/<impl>" with 2 threads (1P1C) or 4 (2P2C).
template <class Impl, std::size_t kBatch>
void add(const char* scenario, int threads) {
  const std::string name =
      std::string(scenario) + (kBatch == 1 ? "_single/" : "_batch32/") + Impl::kName;
  benchmark::RegisterBenchmark(name.c_str(), &BM_Transfer<Impl, kBatch>)
      ->Threads(threads)
      ->UseRealTime();
}

template <std::size_t kBatch>
void add_scenarios() {
  add<HotqRing, kBatch>("1P1C", 2);
  add<AtomicQueue, kBatch>("1P1C", 2);
  add<AtomicQueueWaiting, kBatch>("1P1C", 2);
  add<BoostQueue, kBatch>("1P1C", 2);
  add<BoostSpsc, kBatch>("1P1C", 2);
  add<Moodycamel, kBatch>("1P1C", 2);
  add<HotqRing, kBatch>("2P2C", 4);
  add<AtomicQueue, kBatch>("2P2C", 4);
  add<AtomicQueueWaiting, kBatch>("2P2C", 4);
  add<BoostQueue, kBatch>("2P2C", 4);
  add<Moodycamel, kBatch>("2P2C", 4);
}

const bool registered = [] {
  benchmark::AddCustomContext("spins_before_yield", std::to_string(spins_before_yield()));
  add_scenarios<1>();
  add_scenarios<32>();
  return true;
}();

}  // namespace
