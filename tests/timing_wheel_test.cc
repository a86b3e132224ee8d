// Tests of engine/timing_wheel.h: one test per promise of the header (never
// early, at most one tick late, order, cancel, re-entrant callbacks, fire_max,
// cascading, skipping empty ticks, next_deadline_ns), one per checked
// precondition, and a seeded randomized comparison against a std::multimap.
// Time is a plain integer: no sleeps, no timing assertions.
#include "engine/timing_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace hotq::engine {
namespace {

constexpr uint64_t ms_ns = 1'000'000;
constexpr uint64_t day_ms = 24ull * 3600 * 1000;

// A stand-in for the job record: the node is its first member, so a
// TimerNode* converts back to the record (pointer-interconvertible).
struct Timer {
  TimerNode node;
  uint32_t id = 0;
  uint64_t deadline_ns = 0;
};
static_assert(std::is_standard_layout_v<Timer>);
static_assert(offsetof(Timer, node) == 0);

Timer* timer_of(TimerNode* n) { return reinterpret_cast<Timer*>(n); }

std::vector<Timer> make_timers(size_t count) {
  std::vector<Timer> timers(count);
  for (size_t i = 0; i < count; ++i) timers[i].id = static_cast<uint32_t>(i);
  return timers;
}

// Advances and returns the ids fired, in order.
std::vector<uint32_t> advance_ids(TimingWheel& wheel, uint64_t now_ns,
                                  size_t fire_max = SIZE_MAX) {
  std::vector<uint32_t> ids;
  const size_t fired = wheel.advance(
      now_ns, [&](TimerNode* n) { ids.push_back(timer_of(n)->id); }, fire_max);
  EXPECT_EQ(fired, ids.size());
  return ids;
}

TEST(TimingWheel, NodeIsTwentyFourBytesAndStartsUnscheduled) {
  TimerNode n;
  EXPECT_EQ(sizeof(n), 24u);
  EXPECT_FALSE(TimingWheel::scheduled(&n));
  TimingWheel wheel;
  EXPECT_EQ(wheel.tick_ns(), ms_ns);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.next_deadline_ns(), UINT64_MAX);
  wheel.check_invariants();
}

TEST(TimingWheel, HorizonIsAtLeastTwoYearsOfMilliseconds) {
  EXPECT_GE(TimingWheel::horizon_ticks, 2 * 365 * day_ms);
}

TEST(TimingWheel, FiresAtExactlyTheDeadlineNotOneNanosecondBefore) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(1);
  const uint64_t deadline_ns = 5 * ms_ns;
  wheel.schedule(&timers[0].node, deadline_ns);
  EXPECT_TRUE(TimingWheel::scheduled(&timers[0].node));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_TRUE(advance_ids(wheel, deadline_ns - 1).empty());
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(advance_ids(wheel, deadline_ns), std::vector<uint32_t>{0});
  EXPECT_FALSE(TimingWheel::scheduled(&timers[0].node));
  EXPECT_EQ(wheel.size(), 0u);
  wheel.check_invariants();
}

TEST(TimingWheel, DeadlineBetweenTicksRoundsUpAndIsNeverEarly) {
  // D = 2.5 ms: nothing at 2.5 ms .. 3 ms - 1 ns (within the tick); fires at
  // 3 ms, less than one tick after D.
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(1);
  const uint64_t deadline_ns = 2 * ms_ns + ms_ns / 2;
  wheel.schedule(&timers[0].node, deadline_ns);
  EXPECT_EQ(timers[0].node.deadline_tick, 3u);
  EXPECT_TRUE(advance_ids(wheel, deadline_ns - 1).empty());
  EXPECT_TRUE(advance_ids(wheel, 3 * ms_ns - 1).empty());
  EXPECT_EQ(advance_ids(wheel, 3 * ms_ns).size(), 1u);
}

TEST(TimingWheel, DeadlineInThePastFiresOnNextAdvance) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(3);
  ASSERT_TRUE(advance_ids(wheel, 100 * ms_ns).empty());
  wheel.schedule(&timers[0].node, 10 * ms_ns);   // well past
  wheel.schedule(&timers[1].node, 100 * ms_ns);  // exactly now
  wheel.schedule(&timers[2].node, 0);            // the epoch
  EXPECT_EQ(timers[0].node.deadline_tick, 100u);  // raised to the wheel's tick
  wheel.check_invariants();
  EXPECT_LE(wheel.next_deadline_ns(), 100 * ms_ns);
  // The next advance, even at the same time, fires all three.
  EXPECT_EQ(advance_ids(wheel, 100 * ms_ns), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimingWheel, CancelLeavesNothingBehindAndNothingFires) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(4);
  // One per kind of place: level 0, level 1, a high level, and overdue.
  const uint64_t deadlines_ns[] = {3 * ms_ns, 500 * ms_ns, 90 * day_ms * ms_ns, 0};
  for (size_t i = 0; i < 4; ++i) wheel.schedule(&timers[i].node, deadlines_ns[i]);
  EXPECT_EQ(wheel.size(), 4u);
  for (auto& t : timers) {
    wheel.cancel(&t.node);
    EXPECT_FALSE(TimingWheel::scheduled(&t.node));
    wheel.check_invariants();
  }
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.next_deadline_ns(), UINT64_MAX);
  EXPECT_TRUE(advance_ids(wheel, 100 * day_ms * ms_ns).empty());
  // A cancelled node can be scheduled again.
  wheel.schedule(&timers[0].node, 101 * day_ms * ms_ns);
  EXPECT_EQ(advance_ids(wheel, 101 * day_ms * ms_ns), std::vector<uint32_t>{0});
}

TEST(TimingWheel, ManyTimersFireInDeadlineOrder) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(5000);
  std::mt19937_64 rng(7);
  for (auto& t : timers) {
    t.deadline_ns = rng() % (3 * 3600 * 1000 * ms_ns);  // within 3 hours: levels 0..4
    wheel.schedule(&t.node, t.deadline_ns);
  }
  wheel.check_invariants();
  std::vector<uint64_t> ticks;
  const size_t fired = wheel.advance(4 * 3600 * 1000 * ms_ns, [&](TimerNode* n) {
    ticks.push_back(n->deadline_tick);
  });
  EXPECT_EQ(fired, timers.size());
  EXPECT_TRUE(std::is_sorted(ticks.begin(), ticks.end()));
  std::vector<uint64_t> want;
  for (const auto& t : timers) want.push_back((t.deadline_ns + ms_ns - 1) / ms_ns);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ticks, want);
  EXPECT_EQ(wheel.size(), 0u);
  wheel.check_invariants();
}

TEST(TimingWheel, CallbackReschedulesItselfAndCancelsAnotherDueNode) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(3);
  wheel.schedule(&timers[0].node, 10 * ms_ns);  // periodic, every 10 ms
  wheel.schedule(&timers[1].node, 10 * ms_ns);  // same tick: cancelled by 0
  wheel.schedule(&timers[2].node, 25 * ms_ns);  // cancelled by 0's second fire
  std::vector<uint32_t> ids;
  std::vector<uint64_t> at_tick;
  const size_t fired = wheel.advance(45 * ms_ns, [&](TimerNode* n) {
    Timer* t = timer_of(n);
    ids.push_back(t->id);
    at_tick.push_back(n->deadline_tick);
    if (t->id != 0) return;
    if (TimingWheel::scheduled(&timers[1].node)) wheel.cancel(&timers[1].node);
    if (n->deadline_tick == 20 && TimingWheel::scheduled(&timers[2].node)) {
      wheel.cancel(&timers[2].node);
    }
    wheel.schedule(n, (n->deadline_tick + 10) * ms_ns);
  });
  // 0 fires at 10, 20, 30, 40 (a later deadline still <= now fires in the
  // same advance); 1 was due with it but cancelled first; 2 cancelled too.
  EXPECT_EQ(fired, 4u);
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, 0, 0, 0}));
  EXPECT_EQ(at_tick, (std::vector<uint64_t>{10, 20, 30, 40}));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(timers[0].node.deadline_tick, 50u);
  wheel.check_invariants();
}

TEST(TimingWheel, CallbackReArmingAtNowIsDeferredToTheNextAdvance) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(2);
  wheel.schedule(&timers[0].node, 5 * ms_ns);
  size_t calls = 0;
  auto rearm_now = [&](TimerNode* n) {
    if (++calls > 100) return;      // a regression fails below instead of hanging
    wheel.schedule(n, 1 * ms_ns);  // already passed: must not livelock
    if (!TimingWheel::scheduled(&timers[1].node)) wheel.schedule(&timers[1].node, 0);
  };
  EXPECT_EQ(wheel.advance(9 * ms_ns, rearm_now), 1u);
  EXPECT_EQ(calls, 1u);
  EXPECT_EQ(wheel.size(), 2u);
  // Placed at the end of the advance, at the wheel's tick: due next advance.
  EXPECT_EQ(timers[0].node.deadline_tick, 9u);
  EXPECT_EQ(timers[1].node.deadline_tick, 9u);
  wheel.check_invariants();
  EXPECT_EQ(advance_ids(wheel, 9 * ms_ns), (std::vector<uint32_t>{0, 1}));
}

TEST(TimingWheel, FireMaxBoundsOneCallAndTheRestFireNext) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(10);
  for (uint32_t i = 0; i < 10; ++i) {
    wheel.schedule(&timers[i].node, (i < 6 ? 3 : 40 + i) * ms_ns);  // six share tick 3
  }
  EXPECT_EQ(advance_ids(wheel, 100 * ms_ns, 4), (std::vector<uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(wheel.size(), 6u);
  wheel.check_invariants();
  EXPECT_LE(wheel.next_deadline_ns(), 3 * ms_ns);  // still due
  EXPECT_EQ(advance_ids(wheel, 100 * ms_ns, 3), (std::vector<uint32_t>{4, 5, 6}));
  EXPECT_TRUE(advance_ids(wheel, 100 * ms_ns, 0).empty());
  wheel.check_invariants();
  EXPECT_EQ(advance_ids(wheel, 100 * ms_ns), (std::vector<uint32_t>{7, 8, 9}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimingWheel, ThrowingCallbackLeavesTheWheelConsistent) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(4);
  for (auto& t : timers) wheel.schedule(&t.node, 7 * ms_ns);
  struct Boom {};
  std::vector<uint32_t> ids;
  EXPECT_THROW(wheel.advance(10 * ms_ns,
                             [&](TimerNode* n) {
                               ids.push_back(timer_of(n)->id);
                               if (ids.size() == 2) {
                                 wheel.schedule(n, 0);  // deferred, then the throw
                                 throw Boom{};
                               }
                             }),
               Boom);
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, 1}));
  wheel.check_invariants();
  EXPECT_EQ(wheel.size(), 3u);
  EXPECT_EQ(advance_ids(wheel, 10 * ms_ns), (std::vector<uint32_t>{2, 3, 1}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimingWheel, FarFutureTimersFireExactlyAfterCascading) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(6);
  // Months to ~2 years at 1 ms ticks; uneven so they cascade through every level.
  const uint64_t deadlines_ms[] = {30 * day_ms + 7,         90 * day_ms + 123'457,
                                   182 * day_ms + 1,        365 * day_ms + 86'399'999,
                                   700 * day_ms + 12'345,   TimingWheel::horizon_ticks};
  for (size_t i = 0; i < 6; ++i) {
    timers[i].deadline_ns = deadlines_ms[i] * ms_ns;
    wheel.schedule(&timers[i].node, timers[i].deadline_ns);
  }
  wheel.check_invariants();
  for (size_t i = 0; i < 6; ++i) {
    // Walk up to 1 ns before the deadline in uneven steps, checking on the way.
    const uint64_t before_ns = timers[i].deadline_ns - 1;
    uint64_t now_ns = wheel.current_tick() * ms_ns;
    while (now_ns < before_ns) {
      now_ns = std::min(before_ns, now_ns + 7 * day_ms * ms_ns + 3);
      ASSERT_TRUE(advance_ids(wheel, now_ns).empty()) << "early, timer " << i;
      ASSERT_LE(wheel.next_deadline_ns(), timers[i].deadline_ns);
      wheel.check_invariants();
    }
    EXPECT_EQ(advance_ids(wheel, timers[i].deadline_ns), std::vector<uint32_t>{timers[i].id});
  }
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimingWheel, HorizonWrapsAcrossTopLevelBlocks) {
  // Start just before a 2^36-tick boundary so deadlines straddle the top
  // level's circular wrap.
  const uint64_t start_tick = (uint64_t{1} << 36) - 5;
  TimingWheel wheel(1, start_tick);
  auto timers = make_timers(3);
  const uint64_t deadlines[] = {start_tick + TimingWheel::horizon_ticks,
                                start_tick + (uint64_t{1} << 31), start_tick + 10};
  for (size_t i = 0; i < 3; ++i) wheel.schedule(&timers[i].node, deadlines[i]);
  wheel.check_invariants();
  EXPECT_EQ(advance_ids(wheel, deadlines[2]), std::vector<uint32_t>{2});
  EXPECT_TRUE(advance_ids(wheel, deadlines[1] - 1).empty());
  EXPECT_EQ(advance_ids(wheel, deadlines[1]), std::vector<uint32_t>{1});
  EXPECT_TRUE(advance_ids(wheel, deadlines[0] - 1).empty());
  wheel.check_invariants();
  EXPECT_EQ(advance_ids(wheel, deadlines[0]), std::vector<uint32_t>{0});
}

TEST(TimingWheel, AdvancingABillionEmptyTicksVisitsFewSlots) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(1);
  const uint64_t ticks = 1'000'000'000;
  wheel.schedule(&timers[0].node, ticks * ms_ns);
  EXPECT_TRUE(advance_ids(wheel, ticks * ms_ns - 1).empty());
  // Cascades only: at most one slot per level on the way down.
  EXPECT_LE(wheel.slots_visited(), uint64_t{TimingWheel::levels});
  EXPECT_EQ(advance_ids(wheel, ticks * ms_ns), std::vector<uint32_t>{0});
  EXPECT_LE(wheel.slots_visited(), uint64_t{TimingWheel::levels} + 1);
  // An empty wheel advances a billion more ticks without visiting a slot.
  const uint64_t visited = wheel.slots_visited();
  EXPECT_TRUE(advance_ids(wheel, 2 * ticks * ms_ns).empty());
  EXPECT_EQ(wheel.slots_visited(), visited);
}

TEST(TimingWheel, NextDeadlineIsNeverLaterThanTheEarliestDeadline) {
  TimingWheel wheel(ms_ns, 0);
  auto timers = make_timers(2000);
  std::mt19937_64 rng(11);
  for (auto& t : timers) {
    const unsigned bits = static_cast<unsigned>(rng() % 36);
    t.deadline_ns = (rng() & ((uint64_t{1} << bits) - 1)) * ms_ns + rng() % ms_ns;
    wheel.schedule(&t.node, t.deadline_ns);
  }
  // Near timers make it exact.
  TimingWheel near(ms_ns, 0);
  auto near_timers = make_timers(1);
  near.schedule(&near_timers[0].node, 40 * ms_ns);
  EXPECT_EQ(near.next_deadline_ns(), 40 * ms_ns);

  size_t steps = 0;
  while (wheel.size() > 0) {
    ASSERT_LT(++steps, 20'000u);
    uint64_t earliest_ns = UINT64_MAX;
    for (const auto& t : timers) {
      if (TimingWheel::scheduled(&t.node)) {
        earliest_ns = std::min(earliest_ns, t.node.deadline_tick * ms_ns);
      }
    }
    const uint64_t next_ns = wheel.next_deadline_ns();
    ASSERT_LE(next_ns, earliest_ns);
    ASSERT_GE(next_ns, wheel.current_tick() * ms_ns);
    // Nothing fires before it; advancing to it fires or cascades.
    if (next_ns > 0) {
      ASSERT_TRUE(advance_ids(wheel, next_ns - 1).empty());
    }
    for (uint32_t id : advance_ids(wheel, next_ns)) {
      ASSERT_GE(next_ns, timers[id].deadline_ns);
    }
  }
  EXPECT_EQ(wheel.next_deadline_ns(), UINT64_MAX);
}

// The reference model: expected fire tick -> id, for every scheduled timer.
struct Reference {
  std::multimap<uint64_t, uint32_t> by_tick;
  std::vector<std::multimap<uint64_t, uint32_t>::iterator> where;  // per id
  std::vector<bool> in;

  explicit Reference(size_t count) : where(count), in(count, false) {}
  void add(uint32_t id, uint64_t tick) {
    ASSERT_FALSE(in[id]);
    where[id] = by_tick.emplace(tick, id);
    in[id] = true;
  }
  void remove(uint32_t id) {
    ASSERT_TRUE(in[id]);
    by_tick.erase(where[id]);
    in[id] = false;
  }
};

struct RandomConfig {
  const char* name;
  uint64_t tick_ns;
  uint64_t start_ns;
  uint64_t seed;
};

void PrintTo(const RandomConfig& c, std::ostream* os) {
  *os << "{tick_ns=" << c.tick_ns << ", start_ns=" << c.start_ns << ", seed=" << c.seed << "}";
}

class TimingWheelRandomized : public ::testing::TestWithParam<RandomConfig> {};

// 200k operations — schedule (deadlines spanning every level, some already
// passed), cancel, advance by random amounts with random fire_max, and
// callbacks that re-arm themselves, cancel or schedule others — checked
// against a multimap: never early, never more than one tick late, nothing
// lost or duplicated, global deadline-tick order, periodic check_invariants().
TEST_P(TimingWheelRandomized, MatchesAReferenceMultimap) {
  const RandomConfig cfg = GetParam();
  const uint64_t tick = cfg.tick_ns;
  constexpr size_t timer_count = 4096;
  constexpr int ops = 200'000;
  std::mt19937_64 rng(cfg.seed);
  TimingWheel wheel(tick, cfg.start_ns);
  auto timers = make_timers(timer_count);
  Reference ref(timer_count);
  uint64_t now_ns = cfg.start_ns;
  uint64_t last_fired_tick = 0;
  uint64_t fired_total = 0;
  std::vector<uint32_t> deferred;  // scheduled by a callback at or before its tick

  auto random_deadline = [&](uint64_t from_ns) {
    const uint64_t base_tick = wheel.current_tick();
    const uint64_t max_ns = (base_tick + TimingWheel::horizon_ticks) * tick;
    if (rng() % 16 == 0) return from_ns - std::min(from_ns, rng() % (1000 * tick));  // passed
    const unsigned bits = static_cast<unsigned>(rng() % 37);
    const uint64_t delay_ticks = rng() & ((uint64_t{1} << bits) - 1);
    return std::min(max_ns, from_ns + delay_ticks * tick + rng() % tick);
  };
  auto ceil_tick = [&](uint64_t ns) { return ns / tick + (ns % tick != 0 ? 1 : 0); };
  auto random_id = [&] { return static_cast<uint32_t>(rng() % timer_count); };

  for (int op = 0; op < ops; ++op) {
    const uint64_t dice = rng() % 100;
    if (dice < 45) {  // schedule
      const uint32_t id = random_id();
      Timer& t = timers[id];
      if (TimingWheel::scheduled(&t.node)) continue;
      t.deadline_ns = random_deadline(now_ns);
      wheel.schedule(&t.node, t.deadline_ns);
      const uint64_t want = std::max(ceil_tick(t.deadline_ns), wheel.current_tick());
      ASSERT_EQ(t.node.deadline_tick, want);
      ref.add(id, want);
    } else if (dice < 65) {  // cancel
      const uint32_t id = random_id();
      if (!TimingWheel::scheduled(&timers[id].node)) continue;
      wheel.cancel(&timers[id].node);
      ref.remove(id);
    } else {  // advance
      const uint64_t r = rng() % 100;
      uint64_t step_ticks = r < 70 ? rng() % 2000 : r < 95 ? rng() % (1u << 20) : rng() % (1ull << 32);
      now_ns += step_ticks * tick + rng() % tick;
      const uint64_t target = now_ns / tick;
      const size_t fire_max = rng() % 5 == 0 ? rng() % 20 : SIZE_MAX;
      const size_t fired = wheel.advance(
          now_ns,
          [&](TimerNode* n) {
            Timer* t = timer_of(n);
            const uint32_t id = t->id;
            const uint64_t at = n->deadline_tick;
            ASSERT_FALSE(TimingWheel::scheduled(n));
            ASSERT_TRUE(ref.in[id]) << "fired twice or never scheduled: " << id;
            ASSERT_EQ(ref.where[id]->first, at);
            ASSERT_GE(now_ns, t->deadline_ns) << "early";
            ASSERT_LE(at, target) << "early";
            ASSERT_GE(at, last_fired_tick) << "out of order";
            ASSERT_EQ(at, wheel.current_tick());
            last_fired_tick = at;
            ref.remove(id);
            ++fired_total;
            const uint64_t act = rng() % 8;
            if (act < 2) {  // re-arm itself, maybe at or before this tick
              t->deadline_ns = random_deadline(at * tick);
              wheel.schedule(n, t->deadline_ns);
              if (ceil_tick(t->deadline_ns) <= at) {
                deferred.push_back(id);
              } else {
                ASSERT_EQ(n->deadline_tick, ceil_tick(t->deadline_ns));
                ref.add(id, n->deadline_tick);
              }
            } else if (act == 2) {  // cancel another, perhaps one due now
              const uint32_t other = ref.by_tick.empty() ? id : ref.by_tick.begin()->second;
              if (other != id && TimingWheel::scheduled(&timers[other].node)) {
                wheel.cancel(&timers[other].node);
                ref.remove(other);
              }
            }
          },
          fire_max);
      if (HasFatalFailure()) return;  // an ASSERT inside on_expire
      ASSERT_LE(fired, fire_max);
      // Deferred ones sit at the wheel's tick now, due at the next advance.
      for (uint32_t id : deferred) {
        ASSERT_TRUE(TimingWheel::scheduled(&timers[id].node));
        ASSERT_EQ(timers[id].node.deadline_tick, wheel.current_tick());
        ref.add(id, wheel.current_tick());
      }
      if (fired < fire_max) {
        // Not cut: everything due at or before target fired (late < 1 tick).
        ASSERT_EQ(wheel.current_tick(), target);
        if (!ref.by_tick.empty()) {
          bool only_deferred = true;
          for (auto it = ref.by_tick.begin(); it != ref.by_tick.end() && it->first <= target; ++it) {
            only_deferred &= std::find(deferred.begin(), deferred.end(), it->second) != deferred.end();
          }
          ASSERT_TRUE(only_deferred) << "a due timer did not fire";
        }
      }
      deferred.clear();
    }
    ASSERT_EQ(wheel.size(), ref.by_tick.size());
    if (op % 1000 == 0) wheel.check_invariants();
    const uint64_t next_ns = wheel.next_deadline_ns();
    if (!ref.by_tick.empty()) {
      ASSERT_LE(next_ns, ref.by_tick.begin()->first * tick);
    }
  }
  wheel.check_invariants();
  // Drain: everything left fires, exactly once, and nothing is lost.
  const uint64_t scheduled_left = ref.by_tick.size();
  const uint64_t end_ns = (wheel.current_tick() + TimingWheel::horizon_ticks) * tick;
  const size_t drained = wheel.advance(end_ns, [&](TimerNode* n) {
    ASSERT_GE(n->deadline_tick, last_fired_tick);
    last_fired_tick = n->deadline_tick;
    ref.remove(timer_of(n)->id);
  });
  EXPECT_EQ(drained, scheduled_left);
  EXPECT_TRUE(ref.by_tick.empty());
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_GT(fired_total, 10'000u);  // the run exercised firing, not just scheduling
  wheel.check_invariants();
}

INSTANTIATE_TEST_SUITE_P(
    Seeds, TimingWheelRandomized,
    ::testing::Values(RandomConfig{"MillisecondTicks", ms_ns, 0, 1},  // the engine's tick
                      RandomConfig{"NanosecondTicksNearTopWrap", 1, (uint64_t{1} << 36) - 12345, 2},
                      RandomConfig{"UnevenTicks", 7'777, 123'456'789'012'345, 3}),
    [](const ::testing::TestParamInfo<RandomConfig>& param_info) {
      return std::string(param_info.param.name);
    });

// Checked preconditions: one death test each.
TEST(TimingWheelDeathTest, SchedulingAScheduledNodeAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TimingWheel wheel;
  TimerNode n;
  wheel.schedule(&n, 5 * ms_ns);
  EXPECT_DEATH(wheel.schedule(&n, 6 * ms_ns), "check failed: !scheduled\\(n\\)");
}

TEST(TimingWheelDeathTest, CancellingAnUnscheduledNodeAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TimingWheel wheel;
  TimerNode n;
  EXPECT_DEATH(wheel.cancel(&n), "check failed: scheduled\\(n\\)");
}

TEST(TimingWheelDeathTest, DeadlineBeyondTheHorizonAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TimingWheel wheel(ms_ns, 0);
  TimerNode ok;
  wheel.schedule(&ok, TimingWheel::horizon_ticks * ms_ns);  // the limit itself is held
  TimerNode n;
  EXPECT_DEATH(wheel.schedule(&n, (TimingWheel::horizon_ticks + 1) * ms_ns),
               "check failed: t - elapsed_ <= horizon_ticks");
}

TEST(TimingWheelDeathTest, TimeGoingBackwardsAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TimingWheel wheel(ms_ns, 10 * ms_ns);
  EXPECT_DEATH(wheel.advance(9 * ms_ns, [](TimerNode*) {}), "check failed: target >= elapsed_");
}

TEST(TimingWheelDeathTest, AdvanceFromACallbackAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TimingWheel wheel(ms_ns, 0);
  TimerNode n;
  wheel.schedule(&n, ms_ns);
  EXPECT_DEATH(wheel.advance(ms_ns, [&](TimerNode*) { wheel.advance(ms_ns, [](TimerNode*) {}); }),
               "check failed: !firing_");
}

}  // namespace
}  // namespace hotq::engine
