// engine/histogram.h — LatencyHistogram: a lock-free log-linear histogram of
// nanosecond values, for a queue's wait latency (enqueue to first reserve)
// and run latency (reserve to ack). One instance per queue per shard; the
// engine sums the shards' histograms into a Snapshot when asked.
//
// Buckets. Values 0..31 have a bucket each (exact). Above that, every power
// of two [2^e, 2^(e+1)), 5 <= e <= 47, is cut into 16 equal sub-buckets of
// width 2^(e-4): the bucket of v is its leading 1 bit and the 4 bits after
// it. With shift = e - 4:
//   bucket_of(v) = 16 * shift + (v >> shift)       (v >> shift is in [16, 32))
// which for shift = 0 is v itself, so the exact range joins up seamlessly.
// Values >= histogram_overflow_ns (2^48 ns, about 78 hours) share one last
// overflow bucket; max_ns still records the true largest value.
//
// Error bound. A bucket of width 2^shift starts at >= 16 * 2^shift, so its
// inclusive upper edge exceeds any value v in it by less than v / 16. A
// percentile is reported as the upper edge of the bucket holding the sample
// of that rank, capped at max_ns: never below the true sample, and above it
// by less than 1/16 = 6.25% of it (exact below 32 ns; in the overflow bucket
// it is max_ns).
//
// Thread safety. record() may be called from any number of threads at once,
// together with add_to() from others; it is lock-free (a CAS retry on max_ns
// only when another thread raised it) and never allocates. The counters are
// separate atomics, so a snapshot taken while records are in flight is not a
// consistent cut: count, sum_ns, max_ns and the bucket counts may each
// include or miss any of those in-flight records (count may differ from the
// bucket sum by up to their number). Once the recording threads are joined,
// or otherwise synchronized with the reader, a snapshot is exact. reset() is
// not atomic as a whole: records racing with it may be partly kept.
//
// Memory orders. Every operation is relaxed: the counters are statistics and
// publish no other memory, each value is only ever added to (or raised by
// CAS, for max) atomically, so no update is lost whatever the order; a reader
// that needs all records to be visible gets that from its own
// synchronization with the writers (thread join, a lock), not from these.
//
// Memory: (3 + histogram_bucket_count) * 8 = 5792 bytes of counters, 5824
// with the alignment to a cache line (so two shards' histograms never share
// one); checked below to stay within 8 KiB.
#ifndef HOTQ_ENGINE_HISTOGRAM_H_
#define HOTQ_ENGINE_HISTOGRAM_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "util/check.h"

namespace hotq::engine {

// Sub-buckets per power of two (the reported value's relative error is below
// 1 / histogram_sub_buckets).
inline constexpr std::uint32_t histogram_sub_bucket_bits = 4;
inline constexpr std::uint32_t histogram_sub_buckets = 1u << histogram_sub_bucket_bits;
// Values at or above this go to the overflow bucket: 2^48 ns, ~78 hours.
inline constexpr std::uint32_t histogram_overflow_log2 = 48;
inline constexpr std::uint64_t histogram_overflow_ns = 1ull << histogram_overflow_log2;
// Buckets: the 2 * 16 exact ones (0..31), 16 for each power of two from 2^5
// to 2^47, and the overflow bucket: 32 + 16 * 43 + 1.
inline constexpr std::size_t histogram_bucket_count =
    histogram_sub_buckets * (histogram_overflow_log2 - histogram_sub_bucket_bits + 1) + 1;
static_assert(histogram_bucket_count == 721);
// Destructive-interference distance used for the layout (x86-64, most ARM).
inline constexpr std::size_t histogram_cache_line_bytes = 64;

class alignas(histogram_cache_line_bytes) LatencyHistogram {
 public:
  static constexpr std::size_t bucket_count = histogram_bucket_count;
  static constexpr std::size_t overflow_bucket = bucket_count - 1;

  // A plain copy of one or more histograms, for reading: not thread-safe.
  struct Snapshot {
    std::uint64_t count = 0;
    std::uint64_t sum_ns = 0;  // wraps modulo 2^64 (after ~584 years of latency)
    std::uint64_t max_ns = 0;
    std::array<std::uint64_t, bucket_count> buckets{};

    // The value at quantile q (precondition, checked: 0 <= q <= 1): the upper
    // edge of the bucket holding the rank-th smallest sample, rank =
    // max(1, ceil(q * n)), capped at max_ns; 0 when empty. n is the sum of the
    // bucket counts, which equals count unless the snapshot raced a record.
    // So p0 is the smallest sample's bucket and p100 is max_ns.
    std::uint64_t percentile(double q) const noexcept;
    // Adds other into this one, as if one histogram had seen both streams.
    void merge(const Snapshot& other) noexcept;
  };

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Counts one value. Lock-free, no allocation; from any thread.
  void record(std::uint64_t value_ns) noexcept;
  // The same for a caller that guarantees no other record() or
  // record_exclusive() on this histogram runs at once (the engine holds the
  // lock that owns it): relaxed loads and stores, no read-modify-write, so a
  // record costs a few plain moves. Concurrent add_to() stays fine.
  void record_exclusive(std::uint64_t value_ns) noexcept;
  // Adds this histogram's current counts into s (see "Thread safety").
  void add_to(Snapshot& s) const noexcept;
  // Zeroes every counter (relaxed stores; not atomic as a whole).
  void reset() noexcept;

  // The bucket that holds value_ns, in [0, bucket_count).
  static constexpr std::size_t bucket_of(std::uint64_t value_ns) noexcept;
  // The largest value bucket i holds (inclusive); UINT64_MAX for the overflow
  // bucket. Precondition (checked): i < bucket_count.
  static constexpr std::uint64_t bucket_upper_ns(std::size_t i) noexcept;

 private:
  // Relaxed updates everywhere (see "Memory orders" above).
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> max_ns_{0};
  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8);
static_assert(sizeof(LatencyHistogram) <= 8 * 1024, "one per queue per shard: keep it small");
static_assert(sizeof(LatencyHistogram) % histogram_cache_line_bytes == 0);

// ---------------------------------------------------------------- implementation

constexpr std::size_t LatencyHistogram::bucket_of(std::uint64_t value_ns) noexcept {
  if (value_ns >= histogram_overflow_ns) return overflow_bucket;
  // e = index of the leading 1 bit (-1 for 0); below 2^5 shift is 0 (exact).
  const int e = 63 - std::countl_zero(value_ns);
  const int shift = std::max(0, e - static_cast<int>(histogram_sub_bucket_bits));
  return histogram_sub_buckets * static_cast<std::size_t>(shift) +
         static_cast<std::size_t>(value_ns >> shift);
}

constexpr std::uint64_t LatencyHistogram::bucket_upper_ns(std::size_t i) noexcept {
  HOTQ_CHECK(i < bucket_count);
  if (i == overflow_bucket) return std::numeric_limits<std::uint64_t>::max();
  if (i < 2 * histogram_sub_buckets) return i;  // exact buckets
  // Inverse of bucket_of: i = 16 * shift + m with m in [16, 32).
  const std::size_t shift = i / histogram_sub_buckets - 1;
  const std::uint64_t m = i - histogram_sub_buckets * shift;
  return ((m + 1) << shift) - 1;
}

inline void LatencyHistogram::record(std::uint64_t value_ns) noexcept {
  buckets_[bucket_of(value_ns)].fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  count_.fetch_add(1, std::memory_order_relaxed);                         // relaxed: statistic
  sum_ns_.fetch_add(value_ns, std::memory_order_relaxed);                 // relaxed: statistic
  // Raise max to value_ns unless it is already >= value_ns. Relaxed both
  // ways: max is a statistic, and the CAS on this one atomic is enough for no
  // larger value ever to be overwritten by a smaller one. A retry happens only
  // when another thread raised max meanwhile (or on a weak CAS's spurious
  // failure), so this loop is lock-free.
  std::uint64_t seen = max_ns_.load(std::memory_order_relaxed);
  while (value_ns > seen &&
         !max_ns_.compare_exchange_weak(seen, value_ns, std::memory_order_relaxed,
                                        std::memory_order_relaxed)) {
  }
}

inline void LatencyHistogram::record_exclusive(std::uint64_t value_ns) noexcept {
  // Relaxed: a statistic; the caller's lock orders writers, and a reader
  // sees each counter whole (atomics), if not all of them from one instant.
  auto bump = [](std::atomic<std::uint64_t>& a, std::uint64_t by) {
    a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  };
  bump(buckets_[bucket_of(value_ns)], 1);
  bump(count_, 1);
  bump(sum_ns_, value_ns);
  if (value_ns > max_ns_.load(std::memory_order_relaxed)) {
    max_ns_.store(value_ns, std::memory_order_relaxed);
  }
}

inline void LatencyHistogram::add_to(Snapshot& s) const noexcept {
  // Relaxed loads: a statistic, not a consistent cut (see the header comment).
  s.count += count_.load(std::memory_order_relaxed);
  s.sum_ns += sum_ns_.load(std::memory_order_relaxed);
  s.max_ns = std::max(s.max_ns, max_ns_.load(std::memory_order_relaxed));
  for (std::size_t i = 0; i < bucket_count; ++i) {
    s.buckets[i] += buckets_[i].load(std::memory_order_relaxed);
  }
}

inline void LatencyHistogram::reset() noexcept {
  // Relaxed stores: as for record(); racing records may be partly kept.
  for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_ns_.store(0, std::memory_order_relaxed);
  max_ns_.store(0, std::memory_order_relaxed);
}

inline std::uint64_t LatencyHistogram::Snapshot::percentile(double q) const noexcept {
  HOTQ_CHECK(q >= 0.0 && q <= 1.0);  // also refuses NaN
  std::uint64_t n = 0;
  for (const std::uint64_t b : buckets) n += b;
  if (n == 0) return 0;
  // rank in [1, n]; computed in double and clamped before converting back,
  // so a product that rounds up to n (or beyond) cannot overflow.
  const double r = std::ceil(q * static_cast<double>(n));
  std::uint64_t rank = n;
  if (r < static_cast<double>(n)) rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(r));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets[i];
    if (seen >= rank) return std::min(bucket_upper_ns(i), max_ns);
  }
  return max_ns;  // unreachable: seen reaches n >= rank
}

inline void LatencyHistogram::Snapshot::merge(const Snapshot& other) noexcept {
  count += other.count;
  sum_ns += other.sum_ns;
  max_ns = std::max(max_ns, other.max_ns);
  for (std::size_t i = 0; i < bucket_count; ++i) buckets[i] += other.buckets[i];
}

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_HISTOGRAM_H_
