// bench/transfer.h — what ring_bench and transport_bench share: the same
// back-off for every queue, the producer and consumer loops, and the two
// adapters both binaries run (the engine's ring and moodycamel). Each
// adapter: a shared Queue, a per-thread Producer and Consumer with
// push/push_n and pop/pop_n that never block (push_n/pop_n may be partial).
// The method is written down at the top of ring_bench.cc.
#ifndef HOTQ_BENCH_TRANSFER_H_
#define HOTQ_BENCH_TRANSFER_H_

#include <benchmark/benchmark.h>

// GCC 12 reports -Wnull-dereference and -Wstringop-overflow false positives
// inside concurrentqueue.h once its code is inlined (the system-header
// exemption does not cover inlined frames). Depending on what GCC inlines,
// the reported function is the header's own out-of-line copy or a frame of
// the adapter below, so the pragma covers both.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <concurrentqueue/concurrentqueue.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <thread>

#include "engine/ring.h"

namespace hotq::bench {

inline constexpr std::size_t kQueueSlots = 65536;
inline constexpr int kSpinsBeforeYieldDefault = 64;  // as the engine's own back-off
inline constexpr int kSpinsBeforeYieldMax = 1 << 20;

// HOTQ_BENCH_SPINS overrides the spins before a yield (1..2^20).
inline int spins_before_yield() {
  static const int spins = [] {
    const char* env = std::getenv("HOTQ_BENCH_SPINS");
    const long v = env != nullptr ? std::strtol(env, nullptr, 10) : 0;
    return v >= 1 && v <= kSpinsBeforeYieldMax ? static_cast<int>(v) : kSpinsBeforeYieldDefault;
  }();
  return spins;
}

inline void cpu_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// The same back-off for every implementation when it is full or empty: a
// pause instruction, and a yield every spins_before_yield() misses.
class Backoff {
 public:
  void operator()() noexcept {
    if (++misses_ < spins_) {
      cpu_pause();
    } else {
      misses_ = 0;
      std::this_thread::yield();
    }
  }

 private:
  int spins_ = spins_before_yield();
  int misses_ = 0;
};

// The engine's ring alone.
struct HotqRing {
  static constexpr const char* kName = "hotq_MpmcRing";
  using Queue = engine::MpmcRing<std::uint64_t>;
  static Queue& queue() {
    static Queue q(kQueueSlots);
    return q;
  }
  struct Producer {
    explicit Producer(Queue& q) : q_(q) {}
    bool push(std::uint64_t v) { return q_.try_push(v); }
    std::size_t push_n(const std::uint64_t* v, std::size_t n) { return q_.try_push_n(v, n); }
    Queue& q_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q) {}
    bool pop(std::uint64_t& v) { return q_.try_pop(v); }
    std::size_t pop_n(std::uint64_t* v, std::size_t n) { return q_.try_pop_n(v, n); }
    Queue& q_;
  };
};

// moodycamel::ConcurrentQueue with producer and consumer tokens: unbounded
// (kQueueSlots pre-allocated; enqueue may allocate instead of saying full),
// no FIFO across producers.
struct Moodycamel {
  static constexpr const char* kName = "moodycamel_ConcurrentQueue";
  using Queue = moodycamel::ConcurrentQueue<std::uint64_t>;
  static Queue& queue() {
    static Queue q(kQueueSlots, /*maxExplicitProducers=*/2, /*maxImplicitProducers=*/0);
    return q;
  }
  struct Producer {
    explicit Producer(Queue& q) : q_(q), token_(q) {}
    bool push(std::uint64_t v) { return q_.enqueue(token_, v); }
    std::size_t push_n(const std::uint64_t* v, std::size_t n) {
      return q_.enqueue_bulk(token_, v, n) ? n : 0;
    }
    Queue& q_;
    moodycamel::ProducerToken token_;
  };
  struct Consumer {
    explicit Consumer(Queue& q) : q_(q), token_(q) {}
    bool pop(std::uint64_t& v) { return q_.try_dequeue(token_, v); }
    std::size_t pop_n(std::uint64_t* v, std::size_t n) { return q_.try_dequeue_bulk(token_, v, n); }
    Queue& q_;
    moodycamel::ConsumerToken token_;
  };
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// A producer thread's share: iterations x kBatch items, numbered from 1
// (never 0: atomic_queue's empty marker), backing off while full.
template <class Impl, std::size_t kBatch>
void produce(benchmark::State& state, typename Impl::Queue& q) {
  typename Impl::Producer producer(q);
  Backoff backoff;
  std::uint64_t next = 1;
  std::uint64_t buf[kBatch];
  for (auto _ : state) {
    if constexpr (kBatch == 1) {
      while (!producer.push(next)) backoff();
      ++next;
    } else {
      for (std::size_t k = 0; k < kBatch; ++k) buf[k] = next + k;
      std::size_t done = 0;
      while (done < kBatch) {
        const std::size_t got = producer.push_n(buf + done, kBatch - done);
        if (got == 0) backoff();
        done += got;
      }
      next += kBatch;
    }
  }
}

// A consumer thread's share, backing off while empty. Only consumers count
// items, so each item is counted once.
template <class Impl, std::size_t kBatch>
void consume(benchmark::State& state, typename Impl::Queue& q) {
  typename Impl::Consumer consumer(q);
  Backoff backoff;
  std::uint64_t sum = 0;
  std::uint64_t buf[kBatch];
  for (auto _ : state) {
    if constexpr (kBatch == 1) {
      while (!consumer.pop(buf[0])) backoff();
      sum += buf[0];
    } else {
      std::size_t done = 0;
      while (done < kBatch) {
        const std::size_t got = consumer.pop_n(buf + done, kBatch - done);
        if (got == 0) backoff();
        done += got;
      }
      for (std::size_t k = 0; k < kBatch; ++k) sum += buf[k];
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}

}  // namespace hotq::bench

#endif  // HOTQ_BENCH_TRANSFER_H_
