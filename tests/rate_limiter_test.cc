// Tests for engine/rate_limiter.h, in virtual time only (no sleeps, no timing
// assertions): the burst, the refill rate with whole and fractional emission
// intervals, the window bound over long random runs (checked against the
// grant log with a sliding window), next_available_ns, give_back, out-of-order
// times, and the bound under several threads (meant to be run under TSan).
#include "engine/rate_limiter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace hotq::engine {
namespace {

using testing_util::kSanitized;

constexpr std::uint64_t kT0 = 1'000'000'000;  // virtual start time, as ManualClock's

struct Config {
  std::uint64_t tokens;  // per interval
  std::uint64_t interval_ns;
  std::uint64_t burst;
};

// Whole and rounded emission intervals, bursts below, at and above the
// per-interval count, and a rate above one token per ns.
const Config kConfigs[] = {
    {4, 1'000, 4},        // T = 250 ns
    {3, 1'000, 3},        // 333.3 ns per token: T = 334 ns
    {7, 1'000, 20},       // 142.9 ns: T = 143 ns, burst > rate
    {100, 1'000'000, 5},  // T = 10 us, burst < rate
    {1, 777, 1},          // T = 777 ns, burst 1
    {5, 3, 9},            // 0.6 ns: T = 1 ns
};

// One entry of a grant log: net tokens (granted minus given back at once)
// at the now_ns the call passed.
struct Grant {
  std::uint64_t now_ns;
  std::int64_t net;
};

// The largest amount by which any window [a, b] exceeds the promise
// (net tokens with now_ns in [a, b]) - burst - (b - a) * rate, in units of
// 1/interval_ns tokens; <= 0 when the promise holds. O(n log n): with P(j)
// the tokens before entry j in time order, a window from entry i to entry j
// holds P(j+1) - P(i), and the promise is
//   (P(j+1) * I - t_j * R) - (P(i) * I - t_i * R) <= B * I,
// so it suffices to keep the running minimum of P(i) * I - t_i * R. (Windows
// cutting through equal times only drop entries: weaker, never false alarms.)
// The values stay far below 2^63 for the sizes used here.
std::int64_t worst_window_excess(std::vector<Grant> log, const Config& c) {
  std::stable_sort(log.begin(), log.end(),
                   [](const Grant& x, const Grant& y) { return x.now_ns < y.now_ns; });
  const auto r = static_cast<std::int64_t>(c.tokens);
  const auto i = static_cast<std::int64_t>(c.interval_ns);
  const auto b = static_cast<std::int64_t>(c.burst);
  std::int64_t prefix = 0;
  std::int64_t min_start = 0;
  std::int64_t worst = -b * i;
  bool first = true;
  for (const Grant& g : log) {
    const auto t = static_cast<std::int64_t>(g.now_ns - kT0);
    const std::int64_t start = prefix * i - t * r;
    min_start = first ? start : std::min(min_start, start);
    first = false;
    prefix += g.net;
    worst = std::max(worst, (prefix * i - t * r) - min_start - b * i);
  }
  return worst;
}

TEST(RateLimiter, FullBucketGrantsBurstAtOnceThenNothing) {
  for (const Config& c : kConfigs) {
    SCOPED_TRACE(testing::Message() << c.tokens << "/" << c.interval_ns << " burst " << c.burst);
    RateLimiter all(c.tokens, c.interval_ns, c.burst);
    EXPECT_EQ(all.try_acquire(kT0, 0), 0u);
    EXPECT_EQ(all.try_acquire(kT0, 1000), c.burst);
    EXPECT_EQ(all.try_acquire(kT0, 1000), 0u);
    EXPECT_EQ(all.try_acquire(kT0, 1), 0u);

    RateLimiter one_by_one(c.tokens, c.interval_ns, c.burst);
    for (std::uint64_t k = 0; k < c.burst; ++k) ASSERT_EQ(one_by_one.try_acquire(kT0, 1), 1u);
    EXPECT_EQ(one_by_one.try_acquire(kT0, 1), 0u);
  }
  // A partial request takes only what it asks for.
  RateLimiter rl(10, 1'000, 10);
  EXPECT_EQ(rl.try_acquire(kT0, 3), 3u);
  EXPECT_EQ(rl.try_acquire(kT0, 100), 7u);
  EXPECT_EQ(rl.try_acquire(kT0, 100), 0u);
  // Time 0 is a valid now: the fresh bucket is full then too.
  RateLimiter at_zero(1, 1'000, 2);
  EXPECT_EQ(at_zero.try_acquire(0, 5), 2u);
}

TEST(RateLimiter, WholeEmissionIntervalRefillsExactly) {
  // T = 250 ns: the i-th token after draining comes at exactly kT0 + 250 i.
  RateLimiter rl(4, 1'000, 4);
  ASSERT_EQ(rl.try_acquire(kT0, 4), 4u);
  for (std::uint64_t i = 1; i <= 1'000; ++i) {
    ASSERT_EQ(rl.try_acquire(kT0 + 250 * i - 1, 1), 0u) << i;
    ASSERT_EQ(rl.try_acquire(kT0 + 250 * i, 5), 1u) << i;
  }
  // A whole interval later the bucket holds the full 4, and never more.
  const std::uint64_t t = kT0 + 250 * 1'000;
  EXPECT_EQ(rl.try_acquire(t + 1'000, 100), 4u);
  EXPECT_EQ(rl.try_acquire(t + 1'000'000, 100), 4u);
}

TEST(RateLimiter, FractionalEmissionIntervalIsRoundedUp) {
  // 1000 ns / 3 tokens: T is rounded up to 334 ns, never down.
  RateLimiter rl(3, 1'000, 3);
  EXPECT_EQ(rl.emission_interval_ns(), 334u);
  EXPECT_EQ(RateLimiter(4, 1'000, 1).emission_interval_ns(), 250u);
  EXPECT_EQ(RateLimiter(5, 3, 1).emission_interval_ns(), 1u);  // 0.6 ns -> 1 ns
  // The i-th token after draining comes at exactly kT0 + 334 i, not a ns
  // before, and the total never exceeds the promised 3 per 1000 ns.
  ASSERT_EQ(rl.try_acquire(kT0, 3), 3u);
  std::uint64_t granted = 3;
  for (std::uint64_t i = 1; i <= 3'000; ++i) {
    const std::uint64_t t = kT0 + 334 * i;
    ASSERT_EQ(rl.next_available_ns(kT0), t) << i;
    ASSERT_EQ(rl.try_acquire(t - 1, 1), 0u) << i;
    ASSERT_EQ(rl.try_acquire(t, 5), 1u) << i;
    ++granted;
    ASSERT_LE(granted, 3 + (t - kT0) * 3 / 1'000) << i;
  }
}

TEST(RateLimiter, OddTimeStepsGrantTheTokensElapsed) {
  // Taking everything at each step, the count granted since draining is
  // exactly floor(elapsed / T) at every step, whatever the steps (each below
  // (burst - 1) * T, so the bucket never fills up and caps), both for a
  // whole T and for a rounded one; and never more than the promise.
  std::uint64_t seed = 11;
  for (const Config& c : {Config{4, 1'000, 4}, Config{3, 1'000, 3}, Config{7, 1'000, 20}}) {
    SCOPED_TRACE(testing::Message() << c.tokens << "/" << c.interval_ns << " burst " << c.burst);
    std::mt19937_64 rng(seed++);
    RateLimiter rl(c.tokens, c.interval_ns, c.burst);
    const std::uint64_t t_ns = rl.emission_interval_ns();
    ASSERT_EQ(rl.try_acquire(kT0, 1'000), c.burst);
    std::uint64_t granted = 0;
    for (std::uint64_t t = kT0; t < kT0 + 10'000'000;) {
      t += (rng() % 2 == 0) ? 333 : 1 + rng() % ((c.burst - 1) * t_ns - 1);
      granted += rl.try_acquire(t, 1'000);
      ASSERT_EQ(granted, (t - kT0) / t_ns) << t;
      ASSERT_LE(granted, (t - kT0) * c.tokens / c.interval_ns) << t;
    }
  }
}

TEST(RateLimiter, RandomRunsNeverExceedTheWindowBound) {
  // Random request sizes, time steps (zero, small, long idle), now values
  // jittered backwards (out of order), and give_back right after a take.
  const int steps = kSanitized ? 50'000 : 300'000;
  std::uint64_t seed = 100;
  for (const Config& c : kConfigs) {
    SCOPED_TRACE(testing::Message() << c.tokens << "/" << c.interval_ns << " burst " << c.burst);
    std::mt19937_64 rng(seed++);
    RateLimiter rl(c.tokens, c.interval_ns, c.burst);
    const std::uint64_t t_ns = rl.emission_interval_ns();
    std::vector<Grant> log;
    std::uint64_t clock = kT0;
    for (int s = 0; s < steps; ++s) {
      const std::uint64_t kind = rng() % 100;
      if (kind < 30) {
        // same time
      } else if (kind < 98) {
        clock += rng() % (2 * t_ns + 1);
      } else {
        clock += rng() % (20 * c.burst * t_ns + 1);  // idle: the bucket refills
      }
      std::uint64_t now = clock;
      if (rng() % 5 == 0) now -= std::min(clock - kT0, rng() % (3 * t_ns + 1));
      const auto n = static_cast<std::uint32_t>(1 + rng() % (2 * c.burst + 1));
      const std::uint32_t k = rl.try_acquire(now, n);
      ASSERT_LE(k, n);
      ASSERT_LE(k, c.burst);
      std::uint32_t back = 0;
      if (k > 0 && rng() % 3 == 0) {
        back = static_cast<std::uint32_t>(rng() % (k + 1));
        rl.give_back(back);
      }
      if (k > 0) log.push_back({now, static_cast<std::int64_t>(k) - back});
    }
    ASSERT_FALSE(log.empty());
    const std::int64_t worst = worst_window_excess(log, c);
    EXPECT_LE(worst, 0);
    // Some window comes within a token of the bound, so the check is sharp.
    EXPECT_GT(worst, -static_cast<std::int64_t>(c.interval_ns));
  }
}

TEST(RateLimiter, SaturatingDemandRunsAtThePromisedRate) {
  // Every call asks for 1..8 tokens and time moves by at most T/2 per call:
  // the limiter is the only bottleneck. Over 20'000 emission intervals the
  // total is exactly burst + elapsed / T (less what the last call left in
  // the bucket), within the promise, and no more than 1% short of it when
  // T >= 100 ns (rounding T up costs < 1/T of the rate).
  std::uint64_t seed = 200;
  for (const Config& c : kConfigs) {
    // With burst 1 nothing can be banked, so any gap between a token's
    // arrival and the next call is lost: that is demand, not the limiter.
    if (c.burst < 2) continue;
    SCOPED_TRACE(testing::Message() << c.tokens << "/" << c.interval_ns << " burst " << c.burst);
    std::mt19937_64 rng(seed++);
    RateLimiter rl(c.tokens, c.interval_ns, c.burst);
    const std::uint64_t t_ns = rl.emission_interval_ns();
    std::uint64_t granted = 0;
    std::uint64_t t = kT0;
    while (t < kT0 + 20'000 * t_ns) {
      t += 1 + rng() % std::max<std::uint64_t>(1, t_ns / 2);
      granted += rl.try_acquire(t, static_cast<std::uint32_t>(1 + rng() % 8));
    }
    const std::uint64_t exact = c.burst + (t - kT0) / t_ns;
    EXPECT_LE(granted, exact);
    EXPECT_GE(granted + c.burst, exact);
    const double promised = static_cast<double>(c.burst) + static_cast<double>(t - kT0) *
                                                               static_cast<double>(c.tokens) /
                                                               static_cast<double>(c.interval_ns);
    EXPECT_LE(static_cast<double>(granted), promised);
    if (t_ns >= 100) {
      EXPECT_GE(static_cast<double>(granted), 0.99 * promised);
    }
  }
}

TEST(RateLimiter, NextAvailableIsExactlyWhenTheNextTakeSucceeds) {
  // T = 334 ns (1000/3 rounded up), drained at kT0: the next token comes at
  // kT0 + 334.
  RateLimiter ex(3, 1'000, 3);
  EXPECT_EQ(ex.next_available_ns(kT0), kT0);
  ASSERT_EQ(ex.try_acquire(kT0, 3), 3u);
  EXPECT_EQ(ex.next_available_ns(kT0), kT0 + 334);
  EXPECT_EQ(ex.next_available_ns(kT0 + 100), kT0 + 334);
  EXPECT_EQ(ex.next_available_ns(kT0 + 334), kT0 + 334);
  EXPECT_EQ(ex.next_available_ns(kT0 + 5'000), kT0 + 5'000);

  std::uint64_t seed = 300;
  for (const Config& c : kConfigs) {
    SCOPED_TRACE(testing::Message() << c.tokens << "/" << c.interval_ns << " burst " << c.burst);
    std::mt19937_64 rng(seed++);
    RateLimiter rl(c.tokens, c.interval_ns, c.burst);
    const std::uint64_t t_ns = rl.emission_interval_ns();
    std::uint64_t now = kT0;
    for (int s = 0; s < 20'000; ++s) {
      // Disturb the state: take some, maybe give some back, move time a bit.
      const std::uint32_t k =
          rl.try_acquire(now, static_cast<std::uint32_t>(1 + rng() % (c.burst + 1)));
      if (k > 0 && rng() % 4 == 0) rl.give_back(static_cast<std::uint32_t>(rng() % (k + 1)));
      now += rng() % (t_ns + 1);
      const std::uint64_t next = rl.next_available_ns(now);
      ASSERT_GE(next, now);
      if (next == now) {
        ASSERT_EQ(rl.try_acquire(now, 1), 1u);
      } else {
        ASSERT_EQ(rl.try_acquire(next - 1, 1), 0u);  // not a ns before
        ASSERT_EQ(rl.try_acquire(next, 1), 1u);
        now = next;
      }
    }
  }
}

TEST(RateLimiter, GiveBackRestoresCapacityButNeverAboveBurst) {
  RateLimiter rl(10, 1'000, 10);  // T = 100 ns
  ASSERT_EQ(rl.try_acquire(kT0, 10), 10u);
  rl.give_back(4);
  EXPECT_EQ(rl.next_available_ns(kT0), kT0);
  EXPECT_EQ(rl.try_acquire(kT0, 10), 4u);
  EXPECT_EQ(rl.try_acquire(kT0, 10), 0u);
  // Taking the whole bucket and giving it all back leaves it full, so an
  // empty queue's polls do not burn its rate.
  for (int i = 0; i < 1'000; ++i) {
    const std::uint64_t t = kT0 + 2'000 + static_cast<std::uint64_t>(i);
    ASSERT_EQ(rl.try_acquire(t, 10), 10u) << i;
    rl.give_back(10);
  }
  // Giving back to a full bucket does not raise it above the burst.
  RateLimiter full(10, 1'000, 10);
  full.give_back(7);
  full.give_back(1'000'000);
  EXPECT_EQ(full.try_acquire(kT0, 100), 10u);
  EXPECT_EQ(full.try_acquire(kT0, 100), 0u);
  // Nor giving back more than was taken (a broken caller).
  ASSERT_EQ(full.try_acquire(kT0 + 5'000, 3), 3u);
  full.give_back(9);
  EXPECT_EQ(full.try_acquire(kT0 + 5'000, 100), 10u);

  // With a rounded T as well, a returned token is back at once, exactly.
  RateLimiter frac(3, 1'000, 3);
  ASSERT_EQ(frac.try_acquire(kT0, 3), 3u);
  frac.give_back(1);
  EXPECT_EQ(frac.try_acquire(kT0, 3), 1u);
  EXPECT_EQ(frac.try_acquire(kT0, 3), 0u);
  frac.give_back(3);
  EXPECT_EQ(frac.try_acquire(kT0, 1), 1u);
  EXPECT_EQ(frac.try_acquire(kT0, 1), 1u);
  EXPECT_EQ(frac.try_acquire(kT0, 1), 1u);
  EXPECT_EQ(frac.try_acquire(kT0, 1), 0u);
}

TEST(RateLimiter, EarlierNowGrantsNothingExtra) {
  RateLimiter rl(10, 1'000, 10);  // T = 100 ns
  const std::uint64_t t = kT0 + 5'000;
  ASSERT_EQ(rl.try_acquire(t, 10), 10u);
  // A thread passing an older time sees a bigger backlog, not a fresh bucket,
  // however old the time (no underflow).
  EXPECT_EQ(rl.try_acquire(t - 1, 10), 0u);
  EXPECT_EQ(rl.try_acquire(kT0, 10), 0u);
  EXPECT_EQ(rl.try_acquire(0, 10), 0u);
  EXPECT_EQ(rl.next_available_ns(0), t + 100);
  EXPECT_EQ(rl.next_available_ns(t - 1), t + 100);
  // Time moving on again: the tokens come exactly as if the old times had
  // never been seen.
  EXPECT_EQ(rl.try_acquire(t + 99, 10), 0u);
  EXPECT_EQ(rl.try_acquire(t + 100, 10), 1u);
  EXPECT_EQ(rl.try_acquire(t + 250, 10), 1u);
  // A grant at an older time that is still possible is charged from the
  // latest state: the older time cannot reopen tokens already taken.
  EXPECT_EQ(rl.try_acquire(t + 1'300, 10), 10u);  // full again at t + 1200
  EXPECT_EQ(rl.try_acquire(t + 1'250, 10), 0u);
  EXPECT_EQ(rl.try_acquire(t + 1'300, 10), 0u);
  EXPECT_EQ(rl.try_acquire(t + 1'400, 10), 1u);
}

// The shared virtual clock of the threaded tests: every call moves it by a
// random step and uses the result, so calls race with each other's now_ns
// (a thread may pass a value older than one another thread already used).
struct ThreadLog {
  std::vector<Grant> grants;
  std::int64_t net = 0;
  std::uint64_t min_now = UINT64_MAX;
  std::uint64_t max_now = 0;
};

void run_threads(RateLimiter& rl, const Config& c, bool give_back, std::vector<ThreadLog>& logs) {
  const int per_thread = kSanitized ? 20'000 : 200'000;
  std::atomic<std::uint64_t> clock{kT0};
  std::atomic<bool> go{false};  // start together, so the calls overlap
  std::vector<std::thread> threads;
  for (std::size_t th = 0; th < logs.size(); ++th) {
    threads.emplace_back([&rl, &c, &clock, &go, &log = logs[th], give_back, per_thread, th] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      std::mt19937_64 rng(400 + th);
      const std::uint64_t t_ns = rl.emission_interval_ns();
      for (int s = 0; s < per_thread; ++s) {
        const std::uint64_t step = rng() % (t_ns / 2 + 1);
        // Relaxed: the clock is only a source of values; the limiter's own
        // atomic orders the grants.
        const std::uint64_t now = clock.fetch_add(step, std::memory_order_relaxed) + step;
        const auto n = static_cast<std::uint32_t>(1 + rng() % 4);
        const std::uint32_t k = rl.try_acquire(now, n);
        if (k > n || k > c.burst) std::abort();  // gtest asserts are not for threads
        std::uint32_t back = 0;
        if (give_back && k > 0) {
          back = static_cast<std::uint32_t>(rng() % (k + 1));
          rl.give_back(back);
        }
        if (give_back) (void)rl.next_available_ns(now);
        if (k > 0) {
          log.grants.push_back({now, static_cast<std::int64_t>(k)});
          log.net += static_cast<std::int64_t>(k) - back;
          log.min_now = std::min(log.min_now, now);
          log.max_now = std::max(log.max_now, now);
        }
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
}

TEST(RateLimiter, ConcurrentGrantsStayWithinTheWindowBound) {
  // 4 threads, no give_back: every window of now values, however the
  // threads' values interleave, obeys burst + w * rate.
  const Config c{7, 1'000, 20};
  RateLimiter rl(c.tokens, c.interval_ns, c.burst);
  std::vector<ThreadLog> logs(4);
  run_threads(rl, c, /*give_back=*/false, logs);
  std::vector<Grant> all;
  for (const ThreadLog& l : logs) all.insert(all.end(), l.grants.begin(), l.grants.end());
  ASSERT_FALSE(all.empty());
  const std::int64_t worst = worst_window_excess(all, c);
  EXPECT_LE(worst, 0);
  EXPECT_GT(worst, -static_cast<std::int64_t>(c.interval_ns));  // sharp, as above
}

TEST(RateLimiter, ConcurrentTakeAndGiveBackStayWithinTheTotalBound) {
  // With give_back the promise counts a return when it runs, which the logs
  // cannot place in time; the total over the whole run is still bounded.
  const Config c{3, 1'000, 5};
  RateLimiter rl(c.tokens, c.interval_ns, c.burst);
  std::vector<ThreadLog> logs(4);
  run_threads(rl, c, /*give_back=*/true, logs);
  std::int64_t net = 0;
  std::uint64_t min_now = UINT64_MAX;
  std::uint64_t max_now = 0;
  for (const ThreadLog& l : logs) {
    net += l.net;
    min_now = std::min(min_now, l.min_now);
    max_now = std::max(max_now, l.max_now);
  }
  ASSERT_LE(min_now, max_now);
  // net <= burst + (max - min) * R / I, in whole numbers.
  EXPECT_LE(net * static_cast<std::int64_t>(c.interval_ns),
            static_cast<std::int64_t>(c.burst * c.interval_ns + (max_now - min_now) * c.tokens));
  EXPECT_GT(net, 0);
}

TEST(RateLimiterDeathTest, RefusesBadParameters) {
  EXPECT_DEATH(RateLimiter(0, 1'000, 1), "check failed: tokens_per_interval >= 1");
  EXPECT_DEATH(RateLimiter(1, 0, 1), "check failed: interval_ns >= 1");
  EXPECT_DEATH(RateLimiter(1, 1'000, 0), "check failed: burst_tokens >= 1");
  // A full refill (burst * T) longer than 2^62 ns.
  EXPECT_DEATH(RateLimiter(1, rate_limiter_refill_ns_max, 2), "check failed");
  // T rounded up: (2^63 + 1) / 2 ns becomes 2^62 + 1, one past the limit.
  EXPECT_DEATH(RateLimiter(2, 2 * rate_limiter_refill_ns_max + 1, 1), "check failed");
  RateLimiter ok(2, 2 * rate_limiter_refill_ns_max - 1, 1);  // T = 2^62 exactly
  EXPECT_EQ(ok.emission_interval_ns(), rate_limiter_refill_ns_max);
  EXPECT_EQ(ok.try_acquire(kT0, 2), 1u);
  EXPECT_EQ(ok.next_available_ns(kT0), kT0 + rate_limiter_refill_ns_max);
}

}  // namespace
}  // namespace hotq::engine
