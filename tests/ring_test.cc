// Tests for engine/ring.h: single-thread contract (order, full/empty, laps,
// batch boundaries), the lazily backed memory, and a conservation stress test
// with many producers and consumers (meant to be run under TSan as well).
#include "engine/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace hotq::engine {
namespace {

using testing_util::kSanitized;

using Ring = MpmcRing<std::uint64_t>;

TEST(Ring, FreshRingIsEmpty) {
  // The slots are zeroed memory; that must already be a valid empty ring.
  Ring ring(8);
  EXPECT_EQ(ring.capacity(), 8u);
  EXPECT_EQ(ring.size_approx(), 0u);
  EXPECT_TRUE(ring.empty_approx());
  std::uint64_t v = 0;
  EXPECT_FALSE(ring.try_pop(v));
  std::uint64_t out[4];
  EXPECT_EQ(ring.try_pop_n(out, 4), 0u);
}

TEST(Ring, SingleThreadFifo) {
  Ring ring(16);
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(ring.try_push(100 + i));
  EXPECT_EQ(ring.size_approx(), 10u);
  for (std::uint64_t i = 0; i < 10; ++i) {
    std::uint64_t v = 0;
    ASSERT_TRUE(ring.try_pop(v));
    EXPECT_EQ(v, 100 + i);
  }
  EXPECT_TRUE(ring.empty_approx());
}

TEST(Ring, FullRefusesPushAndKeepsContents) {
  Ring ring(4);
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(ring.try_push(i));
  EXPECT_EQ(ring.size_approx(), 4u);
  EXPECT_FALSE(ring.try_push(99));
  const std::uint64_t more[2] = {7, 8};
  EXPECT_EQ(ring.try_push_n(more, 2), 0u);
  for (std::uint64_t i = 0; i < 4; ++i) {
    std::uint64_t v = 0;
    ASSERT_TRUE(ring.try_pop(v));
    EXPECT_EQ(v, i);
  }
  std::uint64_t v = 0;
  EXPECT_FALSE(ring.try_pop(v));
  EXPECT_TRUE(ring.empty_approx());
}

TEST(Ring, WrapsAroundManyLaps) {
  // Capacity 8, 1000 laps, the fill level moving between 1 and 8 so that
  // head and tail cross the mask boundary at every offset.
  Ring ring(8);
  std::uint64_t next_push = 0;
  std::uint64_t next_pop = 0;
  for (int round = 0; round < 4000; ++round) {
    const std::uint64_t fill = 1 + static_cast<std::uint64_t>(round % 8);
    while (next_push - next_pop < fill) ASSERT_TRUE(ring.try_push(next_push++));
    ASSERT_EQ(ring.size_approx(), next_push - next_pop);
    ASSERT_GE(ring.size_approx(), fill);
    const std::uint64_t drain = 1 + static_cast<std::uint64_t>((round * 3) % 8);
    for (std::uint64_t k = 0; k < drain && next_pop < next_push; ++k) {
      std::uint64_t v = 0;
      ASSERT_TRUE(ring.try_pop(v));
      ASSERT_EQ(v, next_pop++);
    }
  }
  EXPECT_GT(next_push, 1000u * 8u);
}

TEST(Ring, CapacityTwo) {
  MpmcRing<std::uint64_t> ring(2);
  EXPECT_EQ(ring.capacity(), 2u);
  for (std::uint64_t lap = 0; lap < 100; ++lap) {
    ASSERT_TRUE(ring.try_push(2 * lap));
    ASSERT_TRUE(ring.try_push(2 * lap + 1));
    ASSERT_FALSE(ring.try_push(0));
    std::uint64_t v = 0;
    ASSERT_TRUE(ring.try_pop(v));
    ASSERT_EQ(v, 2 * lap);
    ASSERT_TRUE(ring.try_push(77));  // one freed slot takes one more item
    ASSERT_FALSE(ring.try_push(0));
    ASSERT_TRUE(ring.try_pop(v));
    ASSERT_EQ(v, 2 * lap + 1);
    ASSERT_TRUE(ring.try_pop(v));
    ASSERT_EQ(v, 77u);
    ASSERT_FALSE(ring.try_pop(v));
  }
  const std::uint64_t three[3] = {1, 2, 3};
  EXPECT_EQ(ring.try_push_n(three, 3), 2u);
  std::uint64_t out[3] = {};
  EXPECT_EQ(ring.try_pop_n(out, 3), 2u);
  EXPECT_EQ(out[0], 1u);
  EXPECT_EQ(out[1], 2u);
}

TEST(Ring, BatchPushTakesThePrefixThatFits) {
  Ring ring(8);
  std::vector<std::uint64_t> items(20);
  for (std::uint64_t i = 0; i < items.size(); ++i) items[i] = 1000 + i;

  EXPECT_EQ(ring.try_push_n(items.data(), 0), 0u);  // n == 0 claims nothing
  EXPECT_EQ(ring.size_approx(), 0u);
  EXPECT_EQ(ring.try_push_n(items.data(), 3), 3u);
  EXPECT_EQ(ring.try_push_n(items.data() + 3, 17), 5u);  // n larger than the free space
  EXPECT_EQ(ring.size_approx(), 8u);
  EXPECT_EQ(ring.try_push_n(items.data() + 8, 12), 0u);  // full
  EXPECT_EQ(ring.try_push_n(items.data() + 8, 0), 0u);

  std::uint64_t out[8] = {};
  EXPECT_EQ(ring.try_pop_n(out, 8), 8u);
  for (std::uint64_t i = 0; i < 8; ++i) EXPECT_EQ(out[i], 1000 + i);
}

TEST(Ring, BatchLargerThanCapacityIsCappedAtCapacity) {
  Ring ring(4);
  std::vector<std::uint64_t> items(100, 5);
  EXPECT_EQ(ring.try_push_n(items.data(), items.size()), 4u);
  std::vector<std::uint64_t> out(100, 0);
  EXPECT_EQ(ring.try_pop_n(out.data(), out.size()), 4u);
  EXPECT_EQ(ring.try_pop_n(out.data(), out.size()), 0u);
}

TEST(Ring, BatchPopTakesWhatIsReady) {
  Ring ring(8);
  for (std::uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(ring.try_push(i));
  std::uint64_t out[16] = {};
  EXPECT_EQ(ring.try_pop_n(out, 0), 0u);  // n == 0
  EXPECT_EQ(ring.size_approx(), 5u);
  EXPECT_EQ(ring.try_pop_n(out, 2), 2u);
  EXPECT_EQ(out[0], 0u);
  EXPECT_EQ(out[1], 1u);
  EXPECT_EQ(ring.try_pop_n(out, 16), 3u);  // n larger than what is there
  EXPECT_EQ(out[0], 2u);
  EXPECT_EQ(out[2], 4u);
  EXPECT_EQ(ring.try_pop_n(out, 16), 0u);  // empty
  EXPECT_TRUE(ring.empty_approx());
}

TEST(Ring, BatchesCrossTheWrapBoundary) {
  // Batches of every size 1..8 starting at every offset of a ring of 8.
  Ring ring(8);
  std::uint64_t next_push = 0;
  std::uint64_t next_pop = 0;
  for (std::uint64_t offset = 0; offset < 8; ++offset) {
    for (std::uint64_t n = 1; n <= 8; ++n) {
      std::uint64_t items[8];
      for (std::uint64_t k = 0; k < n; ++k) items[k] = next_push + k;
      ASSERT_EQ(ring.try_push_n(items, n), n);
      next_push += n;
      std::uint64_t out[8] = {};
      ASSERT_EQ(ring.try_pop_n(out, 8), n);
      for (std::uint64_t k = 0; k < n; ++k) ASSERT_EQ(out[k], next_pop++);
    }
    ASSERT_TRUE(ring.try_push(next_push++));  // shift the start by one
    std::uint64_t v = 0;
    ASSERT_TRUE(ring.try_pop(v));
    ASSERT_EQ(v, next_pop++);
  }
}

TEST(Ring, SingleAndBatchOpsInterleaveInOrder) {
  Ring ring(16);
  const std::uint64_t a[3] = {1, 2, 3};
  ASSERT_EQ(ring.try_push_n(a, 3), 3u);
  ASSERT_TRUE(ring.try_push(4));
  const std::uint64_t b[2] = {5, 6};
  ASSERT_EQ(ring.try_push_n(b, 2), 2u);
  std::uint64_t v = 0;
  ASSERT_TRUE(ring.try_pop(v));
  EXPECT_EQ(v, 1u);
  std::uint64_t out[4] = {};
  ASSERT_EQ(ring.try_pop_n(out, 4), 4u);
  EXPECT_EQ(out[0], 2u);
  EXPECT_EQ(out[3], 5u);
  ASSERT_TRUE(ring.try_pop(v));
  EXPECT_EQ(v, 6u);
}

TEST(Ring, HoldsSmallerValueTypes) {
  struct Pair {
    std::uint16_t a;
    std::uint16_t b;
  };
  MpmcRing<Pair> ring(4);
  ASSERT_TRUE(ring.try_push(Pair{1, 2}));
  const Pair more[2] = {{3, 4}, {5, 6}};
  ASSERT_EQ(ring.try_push_n(more, 2), 2u);
  Pair out[3] = {};
  ASSERT_EQ(ring.try_pop_n(out, 3), 3u);
  EXPECT_EQ(out[0].a, 1u);
  EXPECT_EQ(out[2].b, 6u);

  MpmcRing<std::uint8_t> bytes(2);
  ASSERT_TRUE(bytes.try_push(0xab));
  std::uint8_t v = 0;
  ASSERT_TRUE(bytes.try_pop(v));
  EXPECT_EQ(v, 0xab);
}

TEST(RingDeathTest, RefusesBadCapacity) {
  EXPECT_DEATH(Ring ring(0), "check failed");
  EXPECT_DEATH(Ring ring(1), "check failed");
  EXPECT_DEATH(Ring ring(12), "check failed");
  EXPECT_DEATH(Ring ring(ring_capacity_max * 2), "check failed");
}

#if defined(__linux__)
// Resident set size in bytes, from /proc/self/statm (0 if unreadable).
std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  const int got = std::fscanf(f, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(f);
  return got == 2 ? static_cast<std::uint64_t>(resident_pages) * 4096u : 0;
}

TEST(Ring, HugeRingCostsNoResidentMemoryUntilUsed) {
  // 2^24 slots = 256 MiB of address space. Constructing it and using its
  // first few slots must not make it resident: the zero-initialised state
  // is never written.
  const std::uint64_t before = resident_bytes();
  Ring ring(std::uint64_t{1} << 24);
  for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_TRUE(ring.try_push(i));
  std::vector<std::uint64_t> out(1000);
  ASSERT_EQ(ring.try_pop_n(out.data(), out.size()), 1000u);
  EXPECT_EQ(out[999], 999u);
  const std::uint64_t after = resident_bytes();
  if (before == 0 || after == 0) GTEST_SKIP() << "/proc/self/statm unreadable";
  EXPECT_LT(after - std::min(after, before), std::uint64_t{32} << 20);
}
#endif

// ---------------------------------------------------------------- stress

// Items carry their producer in the high bits: producer << 40 | seq.
constexpr int kIdShift = 40;
constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kIdShift) - 1;
constexpr int kBatchItemsMax = 64;

// Backs off when the ring is full or empty. No sleeping: on a machine with
// fewer cores than threads, yield lets the other side run.
void backoff(int& misses) {
  if (++misses >= 16) {
    misses = 0;
    std::this_thread::yield();
  }
}

void produce(Ring& ring, int id, std::uint64_t items) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 7919 + 1);
  std::uniform_int_distribution<std::uint64_t> batch_len(1, kBatchItemsMax);
  std::uint64_t buf[kBatchItemsMax];
  std::uint64_t seq = 0;
  int misses = 0;
  const std::uint64_t tag = static_cast<std::uint64_t>(id) << kIdShift;
  while (seq < items) {
    if ((rng() & 1) == 0) {  // a single push
      if (ring.try_push(tag | seq)) {
        ++seq;
      } else {
        backoff(misses);
      }
      continue;
    }
    const std::uint64_t n = std::min(batch_len(rng), items - seq);
    for (std::uint64_t k = 0; k < n; ++k) buf[k] = tag | (seq + k);
    std::size_t done = 0;
    while (done < n) {  // a partial push leaves the rest for the next claim
      const std::size_t got = ring.try_push_n(buf + done, static_cast<std::size_t>(n) - done);
      if (got == 0) backoff(misses);
      done += got;
    }
    seq += n;
  }
}

// Pops until the producers are done and the ring is empty, so that a ring
// that loses items fails the checks below instead of hanging the test.
void consume(Ring& ring, int id, const std::atomic<bool>& producers_done,
             std::vector<std::uint64_t>& seen) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 104729 + 3);
  std::uniform_int_distribution<std::size_t> batch_len(1, kBatchItemsMax);
  std::uint64_t buf[kBatchItemsMax];
  int misses = 0;
  for (;;) {
    // Acquire: pairs with the release after the producers are joined; if it
    // reads true, every push has completed, so a failed pop below means the
    // ring is empty for good.
    const bool done = producers_done.load(std::memory_order_acquire);
    std::size_t got = 0;
    if ((rng() & 1) == 0) {
      got = ring.try_pop(buf[0]) ? 1 : 0;
    } else {
      got = ring.try_pop_n(buf, batch_len(rng));
    }
    if (got == 0) {
      if (done) return;
      backoff(misses);
      continue;
    }
    seen.insert(seen.end(), buf, buf + got);
  }
}

void run_conservation(std::uint64_t capacity, int producers, int consumers,
                      std::uint64_t items_per_producer) {
  Ring ring(capacity);
  std::atomic<bool> producers_done{false};
  std::vector<std::vector<std::uint64_t>> seen(static_cast<std::size_t>(consumers));
  std::vector<std::thread> consumer_threads;
  std::vector<std::thread> producer_threads;
  consumer_threads.reserve(static_cast<std::size_t>(consumers));
  producer_threads.reserve(static_cast<std::size_t>(producers));
  for (int c = 0; c < consumers; ++c) {
    consumer_threads.emplace_back(consume, std::ref(ring), c, std::cref(producers_done),
                                  std::ref(seen[static_cast<std::size_t>(c)]));
  }
  for (int p = 0; p < producers; ++p) {
    producer_threads.emplace_back(produce, std::ref(ring), p, items_per_producer);
  }
  for (auto& t : producer_threads) t.join();
  producers_done.store(true, std::memory_order_release);  // release: see consume()
  for (auto& t : consumer_threads) t.join();

  EXPECT_TRUE(ring.empty_approx());
  std::uint64_t leftover = 0;
  EXPECT_FALSE(ring.try_pop(leftover)) << "extra item " << leftover;

  // Every item popped exactly once; per consumer, each producer's items in
  // increasing order.
  std::vector<std::vector<std::uint8_t>> count(
      static_cast<std::size_t>(producers),
      std::vector<std::uint8_t>(static_cast<std::size_t>(items_per_producer), 0));
  std::uint64_t total = 0;
  for (std::size_t c = 0; c < seen.size(); ++c) {
    std::vector<std::uint64_t> last(static_cast<std::size_t>(producers), 0);
    std::vector<bool> any(static_cast<std::size_t>(producers), false);
    for (const std::uint64_t item : seen[c]) {
      const auto p = static_cast<std::size_t>(item >> kIdShift);
      const std::uint64_t seq = item & kSeqMask;
      ASSERT_LT(p, static_cast<std::size_t>(producers)) << "item " << item;
      ASSERT_LT(seq, items_per_producer) << "item " << item;
      std::uint8_t& times = count[p][static_cast<std::size_t>(seq)];
      ASSERT_EQ(times, 0) << "popped twice: " << item;
      times = 1;
      if (any[p]) {
        ASSERT_GT(seq, last[p]) << "out of order: consumer " << c << ", producer " << p;
      }
      any[p] = true;
      last[p] = seq;
      ++total;
    }
  }
  EXPECT_EQ(total, items_per_producer * static_cast<std::uint64_t>(producers));
}

TEST(RingStress, FourProducersFourConsumersConserveItemsAndOrder) {
  run_conservation(/*capacity=*/64, 4, 4, kSanitized ? 100'000 : 500'000);
}

TEST(RingStress, TinyRingUnderContention) {
  // Capacity 2: every batch is cut short and laps turn over constantly.
  run_conservation(/*capacity=*/2, 4, 4, kSanitized ? 10'000 : 20'000);
}

TEST(Ring, PeekShowsTheOldestWithoutTakingIt) {
  MpmcRing<std::uint64_t> ring(4);
  std::uint64_t v = 0;
  EXPECT_FALSE(ring.try_peek(v));
  ASSERT_TRUE(ring.try_push(11));
  ASSERT_TRUE(ring.try_push(22));
  ASSERT_TRUE(ring.try_peek(v));
  EXPECT_EQ(v, 11u);
  ASSERT_TRUE(ring.try_pop(v));
  EXPECT_EQ(v, 11u);
  ASSERT_TRUE(ring.try_peek(v));
  EXPECT_EQ(v, 22u);
  EXPECT_EQ(ring.size_approx(), 1u);
}

}  // namespace
}  // namespace hotq::engine
