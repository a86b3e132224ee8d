// Tests for engine/histogram.h: the bucket scheme (every boundary, the exact
// range, the overflow bucket), percentiles of known distributions against the
// 1/16 error bound, snapshots (empty, merge), and exact totals with several
// threads recording at once (meant to be run under TSan as well).
#include "engine/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace hotq::engine {
namespace {

using testing_util::kSanitized;

using H = LatencyHistogram;
constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

H::Snapshot snapshot_of(const H& h) {
  H::Snapshot s;
  h.add_to(s);
  return s;
}

// The value a percentile must bound: the rank-th smallest of sorted, with the
// rank rule the header documents.
std::uint64_t true_percentile(const std::vector<std::uint64_t>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  const double r = std::max(1.0, std::min(n, std::ceil(q * n)));
  return sorted[static_cast<std::size_t>(r) - 1];
}

// reported is never below the truth and above it by less than 1/16 of it.
void expect_within_bound(std::uint64_t reported, std::uint64_t truth, double q) {
  ASSERT_GE(reported, truth) << "q=" << q;
  EXPECT_TRUE(reported == truth || (reported - truth) * 16 < truth)
      << "q=" << q << " reported " << reported << " true " << truth;
}

TEST(Histogram, BucketEdgesAreConsistentAndMonotonic) {
  EXPECT_EQ(H::bucket_of(0), 0u);
  EXPECT_EQ(H::bucket_upper_ns(0), 0u);
  for (std::size_t i = 1; i < H::bucket_count; ++i) {
    const std::uint64_t lower = H::bucket_upper_ns(i - 1) + 1;  // first value of bucket i
    const std::uint64_t upper = H::bucket_upper_ns(i);
    ASSERT_LE(lower, upper) << i;
    ASSERT_EQ(H::bucket_of(lower), i) << i;
    ASSERT_EQ(H::bucket_of(upper), i) << i;
    ASSERT_EQ(H::bucket_of(lower - 1), i - 1) << i;  // the previous bucket's upper edge
    if (i != H::overflow_bucket) {
      // Width * 16 <= lower edge: the 1/16 bound (exact buckets have width 1).
      const std::uint64_t width = upper - lower + 1;
      ASSERT_TRUE(width == 1 || width * 16 <= lower) << i;
    }
  }
  EXPECT_EQ(H::bucket_upper_ns(H::overflow_bucket), kU64Max);
  EXPECT_EQ(H::bucket_upper_ns(H::overflow_bucket - 1), histogram_overflow_ns - 1);

  // Monotonic over random values of every magnitude.
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t a = rng() >> (rng() % 64);
    const std::uint64_t b = rng() >> (rng() % 64);
    const std::size_t ba = H::bucket_of(a);
    const std::size_t bb = H::bucket_of(b);
    if (a < b) {
      ASSERT_LE(ba, bb);
    }
    ASSERT_LE(a, H::bucket_upper_ns(ba));
  }
}

TEST(Histogram, SmallValuesAreExact) {
  for (std::uint64_t v = 0; v < 32; ++v) {
    EXPECT_EQ(H::bucket_of(v), v);
    EXPECT_EQ(H::bucket_upper_ns(v), v);
  }
  H h;
  for (std::uint64_t v = 0; v < 16; ++v) h.record(v);
  const H::Snapshot s = snapshot_of(h);
  EXPECT_EQ(s.count, 16u);
  EXPECT_EQ(s.sum_ns, 120u);
  EXPECT_EQ(s.max_ns, 15u);
  for (std::uint64_t v = 0; v < 16; ++v) EXPECT_EQ(s.buckets[v], 1u) << v;
  // rank ceil(q * 16) is the value rank - 1.
  EXPECT_EQ(s.percentile(0.0), 0u);
  EXPECT_EQ(s.percentile(0.5), 7u);
  EXPECT_EQ(s.percentile(0.51), 8u);
  EXPECT_EQ(s.percentile(1.0), 15u);
}

TEST(Histogram, PercentilesOfUniformWithinBound) {
  H h;
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 1; v <= 100'000; ++v) values.push_back(v);
  std::shuffle(values.begin(), values.end(), std::mt19937_64(2));
  for (const std::uint64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());

  const H::Snapshot s = snapshot_of(h);
  EXPECT_EQ(s.count, 100'000u);
  EXPECT_EQ(s.sum_ns, 100'000ull * 100'001 / 2);
  EXPECT_EQ(s.max_ns, 100'000u);
  for (const double q : {0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    expect_within_bound(s.percentile(q), true_percentile(values, q), q);
  }
  EXPECT_EQ(s.percentile(0.0), 1u);  // the bucket of 1 is exact
  EXPECT_EQ(s.percentile(1.0), 100'000u);
}

TEST(Histogram, PercentilesOfBimodalWithinBound) {
  // 90% fast (200 ns .. 2 us), 10% slow (5 ms .. 50 ms): the percentiles
  // around the gap must land in the right mode.
  H h;
  std::vector<std::uint64_t> values;
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<std::uint64_t> fast(200, 2'000);
  std::uniform_int_distribution<std::uint64_t> slow(5'000'000, 50'000'000);
  for (int i = 0; i < 90'000; ++i) values.push_back(fast(rng));
  for (int i = 0; i < 10'000; ++i) values.push_back(slow(rng));
  std::shuffle(values.begin(), values.end(), rng);
  for (const std::uint64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());

  const H::Snapshot s = snapshot_of(h);
  for (int permille = 0; permille <= 1'000; permille += 5) {
    const double q = permille / 1000.0;
    expect_within_bound(s.percentile(q), true_percentile(values, q), q);
  }
  EXPECT_LE(s.percentile(0.9), 2'000u + 2'000u / 16);  // the fast mode's top, + 1/16
  EXPECT_GE(s.percentile(0.9001), 5'000'000u);
  EXPECT_EQ(s.percentile(1.0), values.back());
  EXPECT_EQ(s.max_ns, values.back());
}

TEST(Histogram, EmptyAndSingleSample) {
  H h;
  H::Snapshot s = snapshot_of(h);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.max_ns, 0u);
  EXPECT_EQ(s.percentile(0.0), 0u);
  EXPECT_EQ(s.percentile(0.5), 0u);
  EXPECT_EQ(s.percentile(1.0), 0u);

  // One sample of 1000: its bucket's upper edge is 1023, capped at max.
  h.record(1000);
  s = snapshot_of(h);
  EXPECT_EQ(H::bucket_upper_ns(H::bucket_of(1000)), 1023u);
  EXPECT_EQ(s.percentile(0.0), 1000u);
  EXPECT_EQ(s.percentile(1.0), 1000u);

  // Below the max the upper edge is reported as is.
  h.record(5000);
  s = snapshot_of(h);
  EXPECT_EQ(s.percentile(0.5), 1023u);
  EXPECT_EQ(s.percentile(1.0), 5000u);

  h.reset();
  s = snapshot_of(h);
  EXPECT_EQ(s.count, 0u);
  EXPECT_EQ(s.sum_ns, 0u);
  EXPECT_EQ(s.max_ns, 0u);
  EXPECT_EQ(s.percentile(1.0), 0u);
}

TEST(Histogram, OverflowValues) {
  EXPECT_EQ(H::bucket_of(histogram_overflow_ns - 1), H::overflow_bucket - 1);
  EXPECT_EQ(H::bucket_of(histogram_overflow_ns), H::overflow_bucket);
  EXPECT_EQ(H::bucket_of(kU64Max), H::overflow_bucket);

  H h;
  h.record(10);
  h.record(histogram_overflow_ns);
  h.record(histogram_overflow_ns * 5 + 3);
  const H::Snapshot s = snapshot_of(h);
  EXPECT_EQ(s.buckets[H::overflow_bucket], 2u);
  EXPECT_EQ(s.max_ns, histogram_overflow_ns * 5 + 3);
  EXPECT_EQ(s.sum_ns, 10 + histogram_overflow_ns * 6 + 3);
  EXPECT_EQ(s.percentile(0.0), 10u);
  // Percentiles in the overflow bucket report the true max.
  EXPECT_EQ(s.percentile(0.5), histogram_overflow_ns * 5 + 3);
  EXPECT_EQ(s.percentile(1.0), histogram_overflow_ns * 5 + 3);
}

TEST(Histogram, MergeEqualsOneHistogramOfBothStreams) {
  H a;
  H b;
  H both;
  std::mt19937_64 rng(4);
  for (int i = 0; i < 50'000; ++i) {
    const std::uint64_t v = rng() >> (16 + rng() % 48);  // every magnitude below 2^48
    ((i % 3 == 0) ? a : b).record(v);
    both.record(v);
  }
  a.record(histogram_overflow_ns + 7);  // the max comes from a
  both.record(histogram_overflow_ns + 7);

  H::Snapshot merged = snapshot_of(b);
  merged.merge(snapshot_of(a));
  const H::Snapshot expected = snapshot_of(both);
  EXPECT_EQ(merged.count, expected.count);
  EXPECT_EQ(merged.sum_ns, expected.sum_ns);
  EXPECT_EQ(merged.max_ns, expected.max_ns);
  EXPECT_EQ(merged.buckets, expected.buckets);
  for (const double q : {0.0, 0.5, 0.9, 0.99, 1.0}) {
    EXPECT_EQ(merged.percentile(q), expected.percentile(q)) << q;
  }

  // add_to sums into an existing snapshot the same way (the engine's
  // per-shard read).
  H::Snapshot summed;
  a.add_to(summed);
  b.add_to(summed);
  EXPECT_EQ(summed.count, expected.count);
  EXPECT_EQ(summed.buckets, expected.buckets);
  EXPECT_EQ(summed.max_ns, expected.max_ns);
}

TEST(Histogram, ConcurrentRecordsAreAllCounted) {
  // Conservation: every thread records a known stream; after the join the
  // totals and the max are exact (TSan checks the races are only on atomics).
  constexpr int kThreads = 4;
  const std::uint64_t per_thread = kSanitized ? 20'000 : 500'000;
  H h;
  std::atomic<bool> go{false};  // start together, so the records overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&h, &go, per_thread, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      // Together a permutation of 0..n-1. Odd threads count down, so the
      // largest value comes first and others keep racing to raise max.
      for (std::uint64_t j = 0; j < per_thread; ++j) {
        const std::uint64_t i = (t % 2 == 1) ? per_thread - 1 - j : j;
        h.record(i * kThreads + static_cast<std::uint64_t>(t));
      }
    });
  }
  go.store(true, std::memory_order_release);
  // A reader racing the writers sees sane (if not consistent) values.
  for (int i = 0; i < 10; ++i) {
    const H::Snapshot s = snapshot_of(h);
    EXPECT_LE(s.count, per_thread * kThreads);
    EXPECT_LT(s.max_ns, per_thread * kThreads);
  }
  for (auto& th : threads) th.join();

  const std::uint64_t n = per_thread * kThreads;
  const H::Snapshot s = snapshot_of(h);
  EXPECT_EQ(s.count, n);
  EXPECT_EQ(s.sum_ns, n * (n - 1) / 2);
  EXPECT_EQ(s.max_ns, n - 1);
  std::uint64_t bucket_sum = 0;
  for (const std::uint64_t c : s.buckets) bucket_sum += c;
  EXPECT_EQ(bucket_sum, n);
  // Each bucket holds exactly the values of 0..n-1 in its range.
  for (std::size_t i = 0; i < H::bucket_count; ++i) {
    const std::uint64_t lower = i == 0 ? 0 : H::bucket_upper_ns(i - 1) + 1;
    const std::uint64_t upper = H::bucket_upper_ns(i);
    const std::uint64_t want = lower >= n ? 0 : std::min(upper, n - 1) - lower + 1;
    ASSERT_EQ(s.buckets[i], want) << i;
  }
}

TEST(HistogramDeathTest, PercentileRefusesQOutsideZeroToOne) {
  H::Snapshot s;
  EXPECT_DEATH((void)s.percentile(-0.1), "check failed: q >= 0.0 && q <= 1.0");
  EXPECT_DEATH((void)s.percentile(1.5), "check failed");
  EXPECT_DEATH((void)s.percentile(std::nan("")), "check failed");
}

}  // namespace
}  // namespace hotq::engine
