// Tests for engine/dedup_table.h: the window and its boundary, the keys_max
// bound, expiry and memory, release (rollback), hash collisions, key lengths,
// snapshots (for_each/restore), out-of-order clocks, a randomized comparison
// with a model, and concurrent claims (meant to be run under TSan as well).
// Time is virtual: every call is given its now.
#include "engine/dedup_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

namespace hotq::engine {
namespace {

using Claim = DedupTable::Claim;

// Every key collides completely: same stripe, same index home, same tag, same
// kept hash bits. Only the key bytes tell keys apart.
std::uint64_t constant_hash(std::string_view) { return 0x0123456789abcdefull; }
// Real hash bits, but every key in stripe 0: one FIFO, one clock.
std::uint64_t one_stripe_hash(std::string_view key) {
  return dedup_hash_xxh3(key) >> dedup_stripe_bits;
}

std::string key_of(std::uint64_t i, std::size_t len = 16) {
  std::string k = std::to_string(i);
  k.resize(std::max(len, k.size()), '.');
  return k;
}

// Claims and returns (result, existing id or 0).
std::pair<Claim, std::uint64_t> claim(DedupTable& t, std::string_view key, std::uint64_t now,
                                      std::uint64_t id) {
  std::uint64_t existing = 0;
  const Claim c = t.claim(key, now, id, &existing);
  return {c, c == Claim::duplicate ? existing : 0};
}

TEST(DedupTable, InsertThenDuplicateReturnsOriginalId) {
  DedupTable t(1'000, 100);
  EXPECT_EQ(claim(t, "order-17", 100, 7), std::make_pair(Claim::inserted, std::uint64_t{0}));
  EXPECT_EQ(claim(t, "order-17", 150, 8), std::make_pair(Claim::duplicate, std::uint64_t{7}));
  EXPECT_EQ(claim(t, "order-17", 160, 9), std::make_pair(Claim::duplicate, std::uint64_t{7}));
  EXPECT_EQ(claim(t, "order-18", 170, 10), std::make_pair(Claim::inserted, std::uint64_t{0}));
  EXPECT_EQ(t.size(170), 2u);
  t.check_invariants();
}

TEST(DedupTable, WindowBoundaryIsExclusive) {
  // Claimed at 1000 with window 100: remembered for now in [1000, 1100).
  DedupTable t(100, 100);
  ASSERT_EQ(claim(t, "k", 1000, 1).first, Claim::inserted);
  EXPECT_EQ(claim(t, "k", 1099, 2), std::make_pair(Claim::duplicate, std::uint64_t{1}));
  EXPECT_EQ(claim(t, "k", 1100, 3).first, Claim::inserted);
  EXPECT_EQ(claim(t, "k", 1199, 4), std::make_pair(Claim::duplicate, std::uint64_t{3}));
  EXPECT_EQ(t.size(1199), 1u);
  EXPECT_EQ(t.size(1200), 0u);
}

TEST(DedupTable, DuplicateDoesNotExtendTheWindow) {
  DedupTable t(100, 100);
  ASSERT_EQ(claim(t, "k", 0, 1).first, Claim::inserted);
  ASSERT_EQ(claim(t, "k", 99, 2).first, Claim::duplicate);
  EXPECT_EQ(claim(t, "k", 100, 3).first, Claim::inserted);
}

TEST(DedupTable, FullUntilExpiryMakesRoom) {
  DedupTable t(100, 3);
  ASSERT_EQ(claim(t, "a", 0, 1).first, Claim::inserted);
  ASSERT_EQ(claim(t, "b", 10, 2).first, Claim::inserted);
  ASSERT_EQ(claim(t, "c", 20, 3).first, Claim::inserted);
  EXPECT_EQ(claim(t, "d", 30, 4).first, Claim::full);
  // A duplicate is still recognised when the table is full, and full changed nothing.
  EXPECT_EQ(claim(t, "a", 30, 5), std::make_pair(Claim::duplicate, std::uint64_t{1}));
  EXPECT_EQ(claim(t, "d", 99, 6).first, Claim::full);
  EXPECT_EQ(t.size(99), 3u);
  // "a" expires at 100: room for exactly one.
  EXPECT_EQ(claim(t, "d", 100, 7).first, Claim::inserted);
  EXPECT_EQ(claim(t, "e", 100, 8).first, Claim::full);
  EXPECT_EQ(claim(t, "e", 110, 9).first, Claim::inserted);  // "b" expired
  EXPECT_EQ(claim(t, "d", 110, 10), std::make_pair(Claim::duplicate, std::uint64_t{7}));
  t.check_invariants();
}

TEST(DedupTable, FullSweepsOtherStripes) {
  // The expired key is in another stripe than the new one: the full path
  // must drop expired records everywhere before answering.
  DedupTable t(100, 1);
  ASSERT_EQ(claim(t, "x", 0, 1).first, Claim::inserted);
  std::uint64_t i = 0;
  while ((dedup_hash_xxh3(key_of(i)) >> 58) == (dedup_hash_xxh3("x") >> 58)) ++i;
  EXPECT_EQ(claim(t, key_of(i), 99, 2).first, Claim::full);
  EXPECT_EQ(claim(t, key_of(i), 100, 3).first, Claim::inserted);
  t.check_invariants();
}

TEST(DedupTable, ExpiredEntriesAreDroppedAndMemoryReturns) {
  constexpr std::uint64_t window = 1'000'000;
  constexpr std::uint64_t n = 10'000;
  DedupTable t(window, n);
  const std::size_t empty_bytes = t.bytes();
  // Key i claimed at i, id i + 1: remembered for now < window + i.
  for (std::uint64_t i = 0; i < n; ++i)
    ASSERT_EQ(claim(t, key_of(i), i, i + 1).first, Claim::inserted);
  EXPECT_EQ(t.size(n), n);
  const std::size_t full_bytes = t.bytes();
  EXPECT_GT(full_bytes, empty_bytes + n * 40);  // 40 = one 16-byte key's record
  t.check_invariants();
  // 90% expired: keys 0..m-1 (key m expires exactly now); the rings shrink.
  constexpr std::uint64_t m = n * 9 / 10;
  EXPECT_EQ(t.size(window + m - 1), n - m);
  EXPECT_EQ(t.size(window + m), n - m - 1);
  EXPECT_LT(t.bytes(), full_bytes / 2);
  t.check_invariants();
  EXPECT_EQ(claim(t, key_of(m), window + m, 99).first, Claim::inserted);
  EXPECT_EQ(claim(t, key_of(m + 1), window + m, 99), std::make_pair(Claim::duplicate, m + 2));
  // All expired: nothing held but the stripes.
  EXPECT_EQ(t.size(3 * window), 0u);
  EXPECT_EQ(t.bytes(), empty_bytes);
  t.check_invariants();
}

TEST(DedupTable, ExpiredKeyBeyondTheDropBoundIsAbsent) {
  // All keys in one stripe; a claim drops at most dedup_drops_per_claim_max
  // expired records, so the last ones are still held when claimed again.
  constexpr std::uint64_t n = 4 * dedup_drops_per_claim_max;
  DedupTable t(100, n, &one_stripe_hash);
  for (std::uint64_t i = 0; i < n; ++i)
    ASSERT_EQ(claim(t, key_of(i), 0, i + 1).first, Claim::inserted);
  EXPECT_EQ(claim(t, key_of(n - 1), 100, 1000).first, Claim::inserted);
  EXPECT_EQ(claim(t, key_of(n - 1), 101, 1001),
            std::make_pair(Claim::duplicate, std::uint64_t{1000}));
  EXPECT_EQ(claim(t, key_of(n - 2), 101, 1002).first, Claim::inserted);
  t.check_invariants();
  EXPECT_EQ(t.size(101), 2u);
}

TEST(DedupTable, ReleaseForgetsOnlyItsOwnId) {
  DedupTable t(1'000, 1);
  ASSERT_EQ(claim(t, "k", 0, 5).first, Claim::inserted);
  EXPECT_EQ(claim(t, "other", 0, 6).first, Claim::full);
  EXPECT_FALSE(t.release("k", 6));
  EXPECT_FALSE(t.release("other", 5));
  EXPECT_EQ(claim(t, "k", 1, 7), std::make_pair(Claim::duplicate, std::uint64_t{5}));
  EXPECT_TRUE(t.release("k", 5));
  EXPECT_FALSE(t.release("k", 5));
  EXPECT_EQ(t.size(2), 0u);
  // The released key is new again, and its room came back.
  EXPECT_EQ(claim(t, "other", 2, 8).first, Claim::inserted);
  EXPECT_EQ(claim(t, "k", 2, 9).first, Claim::full);
  EXPECT_TRUE(t.release("other", 8));
  EXPECT_EQ(claim(t, "k", 3, 10).first, Claim::inserted);
  t.check_invariants();
}

TEST(DedupTable, ReleaseOfOldestMiddleAndNewest) {
  DedupTable t(1'000, 100, &one_stripe_hash);  // one FIFO: positions are known
  for (std::uint64_t i = 0; i < 5; ++i)
    ASSERT_EQ(claim(t, key_of(i), i, i + 1).first, Claim::inserted);
  EXPECT_TRUE(t.release(key_of(2), 3));  // middle
  t.check_invariants();
  EXPECT_TRUE(t.release(key_of(0), 1));  // oldest
  t.check_invariants();
  EXPECT_TRUE(t.release(key_of(4), 5));  // newest
  t.check_invariants();
  EXPECT_EQ(t.size(10), 2u);
  EXPECT_EQ(claim(t, key_of(1), 10, 100), std::make_pair(Claim::duplicate, std::uint64_t{2}));
  EXPECT_EQ(claim(t, key_of(3), 10, 100), std::make_pair(Claim::duplicate, std::uint64_t{4}));
  for (std::uint64_t i : {0u, 2u, 4u})
    EXPECT_EQ(claim(t, key_of(i), 10, 200 + i).first, Claim::inserted);
  t.check_invariants();
  EXPECT_EQ(t.size(1'000), 5u);
  EXPECT_EQ(t.size(1'003), 3u);  // keys 1 and 3 expired at 1001 and 1003
  EXPECT_EQ(t.size(1'010), 0u);
}

TEST(DedupTable, RepeatedClaimAndRollbackHoldsNoGarbage) {
  // A producer retrying against a full queue: claim, roll back, again.
  DedupTable t(1'000'000, 10, &one_stripe_hash);
  ASSERT_EQ(claim(t, "keep", 0, 1).first, Claim::inserted);
  const std::size_t bytes = t.bytes();
  for (std::uint64_t i = 0; i < 100'000; ++i) {
    ASSERT_EQ(claim(t, "retry", i, 2 + i).first, Claim::inserted);
    ASSERT_TRUE(t.release("retry", 2 + i));
  }
  EXPECT_EQ(t.bytes(), bytes);
  t.check_invariants();
}

TEST(DedupTable, HashCollisionsAreResolvedByKeyBytes) {
  constexpr std::uint64_t n = 300;
  DedupTable t(1'000, 1'000, &constant_hash);
  // Same length, differing in one byte; and different lengths.
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_EQ(claim(t, key_of(i, 1 + i % 40), i, i + 1).first, Claim::inserted) << i;
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_EQ(claim(t, key_of(i, 1 + i % 40), n, 9999), std::make_pair(Claim::duplicate, i + 1))
        << i;
  }
  for (std::uint64_t i = 0; i < n; i += 3) ASSERT_TRUE(t.release(key_of(i, 1 + i % 40), i + 1));
  t.check_invariants();
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto [c, existing] = claim(t, key_of(i, 1 + i % 40), n, 10'000 + i);
    if (i % 3 == 0) {
      EXPECT_EQ(c, Claim::inserted) << i;
    } else {
      EXPECT_EQ(existing, i + 1) << i;
    }
  }
  t.check_invariants();
  EXPECT_EQ(t.size(n + 999), n / 3);  // only the re-inserted ones remain
  EXPECT_EQ(t.size(n + 1'000), 0u);
}

TEST(DedupTable, KeysOfOneByteAndOfMaximumLength) {
  DedupTable t(1'000, 1'000, &constant_hash);  // collide, so the bytes decide
  const std::string max_a(dedup_key_bytes_max, 'a');
  const std::vector<std::string> keys = {std::string(1, '\0'),
                                         "a",
                                         "b",
                                         "aa",
                                         std::string("a\0", 2),
                                         max_a,
                                         max_a.substr(1),
                                         max_a.substr(0, dedup_key_bytes_max - 1) + "b",
                                         std::string(dedup_key_bytes_max, '\0'),
                                         std::string(dedup_key_bytes_max, '\xff')};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(claim(t, keys[i], 0, i + 1).first, Claim::inserted) << i;
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(claim(t, keys[i], 1, 99), std::make_pair(Claim::duplicate, std::uint64_t{i + 1}))
        << i;
  }
  t.check_invariants();
  // And the same through the real hash.
  DedupTable u(1'000, 1'000);
  for (std::size_t i = 0; i < keys.size(); ++i)
    ASSERT_EQ(claim(u, keys[i], 0, i + 1).first, Claim::inserted);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(claim(u, keys[i], 1, 99), std::make_pair(Claim::duplicate, std::uint64_t{i + 1}))
        << i;
  }
}

TEST(DedupTable, ForEachRestoreRoundTrip) {
  constexpr std::uint64_t window = 100'000;  // nothing expires while claiming
  DedupTable a(window, 1'000);
  std::mt19937_64 rng(7);
  std::vector<std::string> keys;
  for (std::uint64_t i = 0; i < 600; ++i) {
    keys.push_back(key_of(i, 1 + rng() % dedup_key_bytes_max));
    ASSERT_EQ(claim(a, keys[i], 20 * i, i + 1).first, Claim::inserted);
  }
  std::size_t live = 0;  // at `now` below: claimed after 20 * 300, not released
  for (std::uint64_t i = 0; i < 600; ++i) {
    if (i % 7 == 0) {
      ASSERT_TRUE(a.release(keys[i], i + 1));
    } else {
      live += i > 300;
    }
  }
  using Entry = std::tuple<std::string, std::uint64_t, std::uint64_t>;
  auto dump = [](DedupTable& t, std::uint64_t now) {
    std::vector<Entry> out;
    t.for_each(now, [&](std::string_view k, std::uint64_t id, std::uint64_t exp) {
      out.emplace_back(std::string(k), id, exp);
    });
    return out;
  };
  const std::uint64_t now = 20 * 300 + window;  // keys 0..300 expired
  const std::vector<Entry> snapshot = dump(a, now);
  EXPECT_EQ(snapshot.size(), live);
  for (const auto& [k, id, exp] : snapshot) {
    EXPECT_GT(exp, now);
    EXPECT_EQ(exp, 20 * (id - 1) + window);
  }

  DedupTable b(window, 1'000);
  for (const auto& [k, id, exp] : snapshot) ASSERT_EQ(b.restore(k, id, exp), Claim::inserted);
  b.check_invariants();
  std::vector<Entry> again = dump(b, now);
  std::vector<Entry> want = snapshot;
  std::sort(again.begin(), again.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(again, want);
  // The restored table answers like the original, to the ns.
  for (const auto& [k, id, exp] : snapshot) {
    EXPECT_EQ(claim(b, k, exp - 1, 5'000), std::make_pair(Claim::duplicate, id));
  }
  const auto& [k0, id0, exp0] = snapshot.back();
  EXPECT_EQ(claim(b, k0, exp0, 5'001).first, Claim::inserted);
  // Restoring a key already held changes nothing; restoring beyond keys_max is full.
  EXPECT_EQ(b.restore(k0, 77, exp0 + 5), Claim::duplicate);
  EXPECT_EQ(claim(b, k0, exp0, 5'002), std::make_pair(Claim::duplicate, std::uint64_t{5'001}));
  DedupTable c(window, 2);
  EXPECT_EQ(c.restore("x", 1, 100), Claim::inserted);
  EXPECT_EQ(c.restore("y", 2, 100), Claim::inserted);
  EXPECT_EQ(c.restore("z", 3, 100), Claim::full);
  c.check_invariants();
}

TEST(DedupTable, OutOfOrderClocksNeverExpireEarly) {
  constexpr std::uint64_t window = 100;
  DedupTable t(window, 100, &one_stripe_hash);
  ASSERT_EQ(claim(t, "a", 1000, 1).first, Claim::inserted);
  // A caller that read its clock earlier (900) arrives later. Its key is
  // stamped at the stripe's clock, 1000: a caller at 1050..1099 (later than
  // anything served so far) must still see it.
  ASSERT_EQ(claim(t, "b", 900, 2).first, Claim::inserted);
  EXPECT_EQ(claim(t, "b", 1099, 3), std::make_pair(Claim::duplicate, std::uint64_t{2}));
  // A lagging caller is judged at the stripe's clock, not at its own now.
  EXPECT_EQ(claim(t, "a", 950, 4), std::make_pair(Claim::duplicate, std::uint64_t{1}));
  EXPECT_EQ(claim(t, "a", 1100, 5).first, Claim::inserted);
  EXPECT_EQ(claim(t, "b", 1050, 6).first, Claim::inserted);  // clock is 1100 now
  std::vector<std::uint64_t> expiries;
  t.for_each(0, [&](std::string_view, std::uint64_t, std::uint64_t e) { expiries.push_back(e); });
  EXPECT_EQ(expiries, (std::vector<std::uint64_t>{1200, 1200}));
}

TEST(DedupTable, ClearForgetsEverything) {
  DedupTable t(1'000, 2);
  const std::size_t empty_bytes = t.bytes();
  ASSERT_EQ(claim(t, "a", 0, 1).first, Claim::inserted);
  ASSERT_EQ(claim(t, "b", 0, 2).first, Claim::inserted);
  ASSERT_EQ(claim(t, "c", 0, 3).first, Claim::full);
  t.clear();
  EXPECT_EQ(t.size(0), 0u);
  EXPECT_EQ(t.bytes(), empty_bytes);
  EXPECT_EQ(claim(t, "a", 0, 4).first, Claim::inserted);
  EXPECT_EQ(claim(t, "c", 0, 5).first, Claim::inserted);
  t.check_invariants();
}

TEST(DedupTable, SlidingWindowSteadyState) {
  // One claim per ns with keys of 1..64 bytes: the rings wrap (with pads),
  // rebuild and shrink while exactly `window` keys stay live.
  constexpr std::uint64_t window = 2'000;
  DedupTable t(window, window + 1);
  auto key = [](std::uint64_t i) { return key_of(i, 1 + (i * 7) % 64); };
  for (std::uint64_t now = 0; now < 20 * window; ++now) {
    ASSERT_EQ(claim(t, key(now), now, now + 1).first, Claim::inserted) << now;
    if (now + 1 >= window) {
      const std::uint64_t oldest = now + 1 - window;  // expires at now + 1
      ASSERT_EQ(claim(t, key(oldest), now, 1), std::make_pair(Claim::duplicate, oldest + 1)) << now;
    }
    if (now >= window) {
      // The key claimed `window` ago is new: claim it and roll it back.
      ASSERT_EQ(claim(t, key(now - window), now, 7).first, Claim::inserted) << now;
      ASSERT_TRUE(t.release(key(now - window), 7)) << now;
    }
    if (now % 4'999 == 0) {
      t.check_invariants();
      ASSERT_EQ(t.size(now), std::min(now + 1, window));
    }
  }
  t.check_invariants();
}

struct ModelEntry {
  std::uint64_t id;
  std::uint64_t expires_ns;
};

// Random claims, releases and size calls against a std::map model, through
// the real hash, a one-stripe hash and a constant one.
void run_model(DedupHashFn hash, std::uint64_t seed) {
  constexpr std::uint64_t window = 1'000;
  constexpr std::uint64_t keys_max = 40;
  DedupTable t(window, keys_max, hash);
  std::map<std::string, ModelEntry> model;
  std::mt19937_64 rng(seed);
  std::vector<std::string> pool;
  for (std::uint64_t i = 0; i < 120; ++i)
    pool.push_back(key_of(i, 1 + rng() % dedup_key_bytes_max));
  std::uint64_t now = 0;
  std::uint64_t next_id = 1;
  for (int op = 0; op < 30'000; ++op) {
    now += rng() % 40;
    std::erase_if(model, [&](const auto& kv) { return kv.second.expires_ns <= now; });
    const std::string& k = pool[rng() % pool.size()];
    const auto it = model.find(k);
    const std::uint64_t r = rng() % 100;
    if (r < 80) {
      const auto [c, existing] = claim(t, k, now, next_id);
      if (it != model.end()) {
        ASSERT_EQ(c, Claim::duplicate) << op;
        ASSERT_EQ(existing, it->second.id) << op;
      } else if (model.size() < keys_max) {
        ASSERT_EQ(c, Claim::inserted) << op;
        model[k] = {next_id, now + window};
      } else {
        ASSERT_EQ(c, Claim::full) << op;
      }
      ++next_id;
    } else if (r < 95) {
      // Release with the right id or a wrong one. An expired entry may still
      // be held (and released) or not: only a live one has a known answer.
      const bool right = it != model.end() && rng() % 2 == 0;
      const std::uint64_t id = right ? it->second.id : next_id + 1'000'000;
      const bool released = t.release(k, id);
      if (it != model.end()) {
        ASSERT_EQ(released, right) << op;
      }
      if (released) model.erase(k);
    } else {
      ASSERT_EQ(t.size(now), model.size()) << op;
    }
    if (op % 1'000 == 0) t.check_invariants();
  }
  t.check_invariants();
}

TEST(DedupTable, RandomOpsMatchModelXxh3) { run_model(&dedup_hash_xxh3, 1); }
TEST(DedupTable, RandomOpsMatchModelOneStripe) { run_model(&one_stripe_hash, 2); }
TEST(DedupTable, RandomOpsMatchModelAllCollide) { run_model(&constant_hash, 3); }

// 4 threads claim overlapping random keys. Each key must have exactly one
// inserted claim, and every duplicate must report that winner's id.
void run_concurrent_claims(DedupHashFn hash) {
  constexpr int threads = 4;
  constexpr std::uint64_t keys = 4'000;
  constexpr std::uint64_t claims_per_thread = 20'000;
  DedupTable t(dedup_window_ms_max * 1'000'000, keys, hash);
  struct Result {
    std::uint64_t key;
    std::uint64_t id;
    Claim claim;
    std::uint64_t existing;
  };
  std::vector<std::vector<Result>> results(threads);
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937_64 rng(100 + static_cast<std::uint64_t>(w));
      auto& out = results[static_cast<std::size_t>(w)];
      out.reserve(claims_per_thread);
      for (std::uint64_t i = 0; i < claims_per_thread; ++i) {
        const std::uint64_t k = rng() % keys;
        const std::uint64_t id = (static_cast<std::uint64_t>(w) + 1) << 32 | (i + 1);
        std::uint64_t existing = 0;
        // Each thread's clock runs on its own (so they interleave out of order).
        const Claim c = t.claim(key_of(k), i * 3 + static_cast<std::uint64_t>(w), id, &existing);
        out.push_back({k, id, c, existing});
      }
    });
  }
  for (auto& th : workers) th.join();
  std::vector<std::uint64_t> winner(keys, 0);
  for (const auto& rs : results) {
    for (const Result& r : rs) {
      ASSERT_NE(r.claim, Claim::full);
      if (r.claim == Claim::inserted) {
        ASSERT_EQ(winner[r.key], 0u) << "two inserts for key " << r.key;
        winner[r.key] = r.id;
      }
    }
  }
  std::size_t claimed = 0;
  for (const auto& rs : results) {
    for (const Result& r : rs) {
      ASSERT_NE(winner[r.key], 0u) << "no insert for key " << r.key;
      if (r.claim == Claim::duplicate) {
        ASSERT_EQ(r.existing, winner[r.key]) << r.key;
      }
    }
  }
  for (std::uint64_t w : winner) claimed += w != 0;
  EXPECT_EQ(t.size(0), claimed);
  t.check_invariants();
}

TEST(DedupTable, ConcurrentClaimsHaveOneWinner) { run_concurrent_claims(&dedup_hash_xxh3); }
TEST(DedupTable, ConcurrentClaimsHaveOneWinnerOneStripe) {
  run_concurrent_claims(&one_stripe_hash);
}

TEST(DedupTable, ConcurrentChurnKeepsTheBound) {
  // Short window, small keys_max, skewed clocks, releases: the bound holds,
  // every answer is well-formed, and the structure is intact at the end.
  constexpr int threads = 4;
  constexpr std::uint64_t keys_max = 200;
  constexpr std::uint64_t pool = 1'500;
  DedupTable t(500, keys_max);
  std::vector<std::thread> workers;
  std::vector<std::uint64_t> last_now(threads);
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937_64 rng(200 + static_cast<std::uint64_t>(w));
      std::uint64_t now = static_cast<std::uint64_t>(w) * 37;  // skew
      for (std::uint64_t i = 0; i < 20'000; ++i) {
        now += rng() % 3;
        const std::uint64_t k = rng() % pool;
        // The id names its key, so a duplicate can be checked to be this key's.
        const std::uint64_t id = (k + 1) << 32 | (static_cast<std::uint64_t>(w) << 24) | (i + 1);
        std::uint64_t existing = 0;
        const Claim c = t.claim(key_of(k, 1 + k % 100), now, id, &existing);
        if (c == Claim::duplicate) {
          ASSERT_EQ(existing >> 32, k + 1);
        }
        // A release may find the key already expired by a thread whose clock
        // runs ahead, so its answer is not checked; the structure is, below.
        if (c == Claim::inserted && rng() % 5 == 0) (void)t.release(key_of(k, 1 + k % 100), id);
      }
      last_now[static_cast<std::size_t>(w)] = now;
    });
  }
  for (auto& th : workers) th.join();
  t.check_invariants();
  const std::uint64_t end = *std::max_element(last_now.begin(), last_now.end());
  EXPECT_LE(t.size(end), keys_max);
  EXPECT_EQ(t.size(end + 500), 0u);
  t.check_invariants();
}

TEST(DedupTableDeathTest, PreconditionsAreChecked) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(DedupTable(0, 10), "check failed");
  EXPECT_DEATH(DedupTable(dedup_window_ms_max * 1'000'000 + 1, 10), "check failed");
  EXPECT_DEATH(DedupTable(10, 0), "check failed");
  EXPECT_DEATH(DedupTable(10, dedup_keys_limit + 1), "check failed");
  DedupTable t(10, 10);
  std::uint64_t existing = 0;
  EXPECT_DEATH(t.claim("", 0, 1, &existing), "check failed");
  EXPECT_DEATH(t.claim(std::string(dedup_key_bytes_max + 1, 'k'), 0, 1, &existing), "check failed");
  EXPECT_DEATH(t.claim("k", 0, 0, &existing), "check failed");
  EXPECT_DEATH(t.release("", 1), "check failed");
  EXPECT_DEATH(t.restore("k", 1, 0), "check failed");
}

}  // namespace
}  // namespace hotq::engine
