// engine/timing_wheel.h — the hierarchical timing wheel of one shard: it drives
// delayed jobs, lease deadlines and retry backoff.
//
// Structure
//   Time is cut into ticks of tick_ns. A timer is an intrusive TimerNode
//   embedded in the job record, so the wheel never allocates per timer. The
//   wheel has `levels` = 6 levels of 64 slots; level L groups ticks by bits
//   [6L, 6L+6) of the tick number. Each slot is a circular doubly-linked list
//   with a sentinel (O(1) insert and unlink), and each level keeps a 64-bit
//   occupancy bitmap so advance() jumps to the next occupied slot with
//   countr_zero instead of stepping through empty ticks.
//
// Thread safety
//   None inside: the wheel is single-threaded. It belongs to one shard, and
//   the shard's owner calls every member (schedule, cancel, advance, the
//   accessors) while holding the shard lock. on_expire runs under that same
//   lock, inside advance(), and may call schedule() and cancel() (never
//   advance(): checked). A node belongs to at most one wheel at a time.
//
// Invariants (e = current_tick(), the wheel's position; t = a scheduled
// node's deadline_tick; g_L(x) = (x >> 6L) & 63, its level-L digit)
//   I1  t >= e: nothing overdue is left in the wheel.
//   I2  The node sits at level L = level_of(t, e): L = 0 if t >> 6 == e >> 6,
//       otherwise the highest 6-bit digit in which t and e differ, capped at
//       the top level 5. So for 1 <= L <= 4: t and e agree above digit L and
//       g_L(t) > g_L(e); at level 0: t >> 6 == e >> 6 and g_0(t) >= g_0(e).
//   I3  Its slot is g_L(t) for L < 5; the top level is circular: slot
//       (t >> 30) & 63, with 1 <= (t >> 30) - (e >> 30) <= 63 (guaranteed by
//       the horizon check at schedule()). So one slot never mixes "rounds".
//   I4  A level's bitmap bit is set iff its slot's list is non-empty; size()
//       counts every linked node.
//   Hence a level-0 slot holds exactly one tick value, and a slot at level
//   L >= 1 only holds ticks from its first tick on. check_invariants()
//   verifies all of this in O(n).
//
// Never early, late by at most one tick (proof sketch)
//   schedule() stores t = ceil(D / tick_ns), so t * tick_ns >= D, raised to e
//   if already passed. advance(now) sets target = floor(now / tick_ns) and
//   repeatedly takes the next event: the first occupied slot of the lowest
//   non-empty level (its first tick is the earliest tick any slot can be
//   entered at, because every higher level's occupied slots lie beyond the
//   current block of the level below). If that tick is <= target, e moves
//   to it; moving e there enters no other occupied slot, so I1-I3 hold for
//   every other node. A level >= 1 slot is then cascaded: each node is
//   re-placed by I2 relative to the new e, strictly lower. A level-0 slot is
//   fired: its nodes all have t == e <= target, so now >= t * tick_ns >= D:
//   never early. The loop stops only when the next event is beyond target
//   (then e = target, entering no occupied slot) or fire_max is reached. So
//   an advance(now) with now >= t * tick_ns fires the node unless fire_max
//   cut it, and t * tick_ns < D + tick_ns: late by less than one tick. (A
//   deadline already passed when scheduled fires at the next advance.)
//
// Timers scheduled from inside on_expire with a deadline tick at or before
// the tick being fired are deferred to the end of that advance (placed at
// current_tick(), so they fire at the next advance): a callback that re-arms
// at "now" cannot livelock the loop. Later deadline ticks <= now fire in the
// same advance, in order.
#ifndef HOTQ_ENGINE_TIMING_WHEEL_H_
#define HOTQ_ENGINE_TIMING_WHEEL_H_

#include <bit>
#include <cstddef>
#include <cstdint>

#include "util/check.h"

namespace hotq::engine {

// Embedded in the job record. Scheduled iff linked (next != nullptr). The
// wheel owns next/prev while scheduled; deadline_tick is the tick the wheel
// fires the node at (read-only for the owner of the record).
struct TimerNode {
  TimerNode* next = nullptr;
  TimerNode* prev = nullptr;
  uint64_t deadline_tick = 0;
};
static_assert(sizeof(TimerNode) == 24, "TimerNode is embedded in every job record");

class TimingWheel {
 public:
  static constexpr unsigned slot_bits = 6;
  static constexpr unsigned slots_per_level = 1u << slot_bits;  // 64: one bitmap word
  static constexpr unsigned levels = 6;
  static constexpr unsigned top_level = levels - 1;
  static constexpr unsigned top_shift = slot_bits * top_level;  // 30
  // The farthest deadline the wheel holds, in ticks after current_tick().
  // 63 top-level slots of 2^30 ticks: ~782 days (2.14 years) at 1 ms ticks.
  static constexpr uint64_t horizon_ticks = uint64_t{slots_per_level - 1} << top_shift;
  static_assert(slots_per_level == 64, "occupancy bitmaps are one uint64_t per level");
  static_assert(horizon_ticks >= uint64_t{2} * 365 * 24 * 3600 * 1000,
                "the horizon must cover two years of 1 ms ticks");

  // Precondition (checked): tick_ns > 0. The wheel starts at tick
  // floor(start_ns / tick_ns); advance() must never be given an earlier time.
  explicit TimingWheel(uint64_t tick_ns = 1'000'000, uint64_t start_ns = 0)
      : tick_ns_(tick_ns), ticks_max_(tick_ns == 0 ? 0 : UINT64_MAX / tick_ns) {
    HOTQ_CHECK(tick_ns > 0);
    elapsed_ = start_ns / tick_ns;
    for (auto& level : slots_) {
      for (TimerNode& head : level) list_init(head);
    }
    list_init(local_);
    list_init(deferred_);
  }

  // Sentinels point into the object: neither copyable nor movable.
  TimingWheel(const TimingWheel&) = delete;
  TimingWheel& operator=(const TimingWheel&) = delete;

  static bool scheduled(const TimerNode* n) noexcept { return n->next != nullptr; }

  // Arms n to fire at the first advance(now) with now >= deadline_ns rounded
  // up to a tick; a deadline already passed fires at the next advance. O(1).
  // Preconditions (checked): n is not scheduled; deadline_ns rounded up to a
  // tick is at most horizon_ticks after current_tick().
  void schedule(TimerNode* n, uint64_t deadline_ns) noexcept {
    HOTQ_CHECK(!scheduled(n));
    uint64_t t = deadline_ns / tick_ns_;
    if (t * tick_ns_ != deadline_ns) ++t;  // ceil: never early
    if (t <= elapsed_) {
      t = elapsed_;
      if (firing_) {  // from on_expire at or before the firing tick: defer
        n->deadline_tick = t;
        list_push_back(deferred_, n);
        ++size_;
        return;
      }
    }
    HOTQ_CHECK(t - elapsed_ <= horizon_ticks);
    HOTQ_CHECK(t <= ticks_max_);  // t * tick_ns_ does not overflow
    n->deadline_tick = t;
    place(n);
    ++size_;
  }

  // Disarms n. O(1). Precondition (checked): n is scheduled (on this wheel).
  void cancel(TimerNode* n) noexcept {
    HOTQ_CHECK(scheduled(n));
    const uint64_t t = n->deadline_tick;
    list_unlink(n);
    --size_;
    // Nodes in a slot satisfy I1-I3, so (level, slot) is computed. A node in
    // local_/deferred_ belongs to no slot; testing emptiness keeps I4 either way.
    if (t >= elapsed_) {
      const unsigned level = level_of(t);
      const unsigned slot = slot_of(t, level);
      if (list_empty(slots_[level][slot])) occupied_[level] &= ~bit(slot);
    }
  }

  // Fires, in deadline-tick order, every timer whose deadline tick is at or
  // before floor(now_ns / tick_ns), calling on_expire(TimerNode*) once per
  // node after unlinking it. on_expire may schedule or cancel any node. Stops
  // after fire_max fires (the rest fire at the next advance). Returns the
  // number fired. Cost: O(fired + cascaded + levels per occupied slot
  // entered); empty ticks cost nothing. If on_expire throws, the exception
  // propagates and the wheel stays consistent: the nodes not yet fired fire
  // at the next advance. Precondition (checked): now_ns is not
  // before the start time or an earlier advance's now_ns (time never goes
  // backwards); not called from on_expire.
  template <class F>
  size_t advance(uint64_t now_ns, F&& on_expire, size_t fire_max = SIZE_MAX) {
    HOTQ_CHECK(!firing_);
    const uint64_t target = now_ns / tick_ns_;
    HOTQ_CHECK(target >= elapsed_);
    AdvanceScope scope(*this);  // restores local_/deferred_ even on a throw
    size_t fired = 0;
    for (;;) {
      const Event ev = next_event();
      if (ev.level == levels || ev.tick > target) {
        elapsed_ = target;  // enters no occupied slot (see the proof sketch)
        break;
      }
      if (fired >= fire_max) break;  // e stays at or before the next due tick
      elapsed_ = ev.tick;
      ++slots_visited_;
      TimerNode& head = slots_[ev.level][ev.slot];
      occupied_[ev.level] &= ~bit(ev.slot);
      if (ev.level > 0) {
        cascade(head);
        continue;
      }
      list_take_all(local_, head);
      firing_ = true;
      while (!list_empty(local_) && fired < fire_max) {
        TimerNode* n = local_.next;
        list_unlink(n);
        --size_;
        ++fired;
        on_expire(n);
      }
      firing_ = false;
      if (!list_empty(local_)) break;  // cut by fire_max; scope puts them back
    }
    return fired;
  }

  // A lower bound on the earliest time anything can fire, i.e. no advance
  // with an earlier now_ns fires anything: min(deadline_tick) * tick_ns when
  // the earliest timer is within 64 ticks (level 0), otherwise the first
  // tick of its slot. UINT64_MAX if empty. O(levels).
  uint64_t next_deadline_ns() const noexcept {
    if (size_ == 0) return UINT64_MAX;
    if (!list_empty(local_) || !list_empty(deferred_)) return elapsed_ * tick_ns_;
    const Event ev = next_event();
    HOTQ_CHECK(ev.level < levels);
    return ev.tick * tick_ns_;  // ev.tick <= some deadline_tick <= ticks_max_
  }

  size_t size() const noexcept { return size_; }
  uint64_t tick_ns() const noexcept { return tick_ns_; }
  // The wheel's position e: every node with deadline_tick < e has fired.
  uint64_t current_tick() const noexcept { return elapsed_; }
  // Cumulative slots processed (fired or cascaded) by advance(): tests use it
  // to prove that empty ticks are skipped.
  uint64_t slots_visited() const noexcept { return slots_visited_; }

  // O(n + slots) check of I1-I4 and the list links, with HOTQ_CHECK. For
  // tests and debugging (e.g. under HOTQ_DCHECK_ON), never the hot path.
  void check_invariants() const {
    HOTQ_CHECK(!firing_ && list_empty(local_) && list_empty(deferred_));
    size_t count = 0;
    for (unsigned level = 0; level < levels; ++level) {
      for (unsigned slot = 0; slot < slots_per_level; ++slot) {
        const TimerNode& head = slots_[level][slot];
        const bool bit_set = (occupied_[level] & bit(slot)) != 0;
        HOTQ_CHECK(bit_set == !list_empty(head));
        const TimerNode* prev = &head;
        for (const TimerNode* n = head.next; n != &head; prev = n, n = n->next) {
          HOTQ_CHECK(n->prev == prev);
          const uint64_t t = n->deadline_tick;
          HOTQ_CHECK(t >= elapsed_);                                          // I1
          HOTQ_CHECK(level_of(t) == level);                                   // I2
          HOTQ_CHECK(slot_of(t, level) == slot);                              // I3
          if (level == top_level) {
            HOTQ_CHECK((t >> top_shift) - (elapsed_ >> top_shift) >= 1);      // I3
            HOTQ_CHECK((t >> top_shift) - (elapsed_ >> top_shift) <= slots_per_level - 1);
          } else if (level > 0) {
            HOTQ_CHECK(slot > slot_of(elapsed_, level));                      // I2
          } else {
            HOTQ_CHECK(slot >= slot_of(elapsed_, 0));                         // I2
          }
          HOTQ_CHECK(t <= ticks_max_);
          HOTQ_CHECK(++count <= size_);  // also bounds the walk of a corrupt list
        }
        HOTQ_CHECK(head.prev == prev);
      }
    }
    HOTQ_CHECK(count == size_);  // I4
  }

 private:
  struct Event {
    unsigned level;  // == levels: the wheel has no occupied slot
    unsigned slot;
    uint64_t tick;   // the first tick of that slot
  };

  // Ends an advance, normally or by a throw from on_expire: nodes left
  // unfired at tick e go back to the front of their slot, and nodes deferred
  // by on_expire are placed at e, so they fire at the next advance.
  class AdvanceScope {
   public:
    explicit AdvanceScope(TimingWheel& w) : w_(w) {}
    AdvanceScope(const AdvanceScope&) = delete;
    AdvanceScope& operator=(const AdvanceScope&) = delete;
    ~AdvanceScope() {
      w_.firing_ = false;
      const unsigned slot = slot_of(w_.elapsed_, 0);
      if (!list_empty(w_.local_)) {  // all have deadline_tick == elapsed_
        list_splice_front(w_.slots_[0][slot], w_.local_);
        w_.occupied_[0] |= bit(slot);
      }
      while (!list_empty(w_.deferred_)) {
        TimerNode* n = w_.deferred_.next;
        list_unlink(n);
        n->deadline_tick = w_.elapsed_;  // was <= elapsed_: raised, never early
        list_push_back(w_.slots_[0][slot], n);
        w_.occupied_[0] |= bit(slot);
      }
    }

   private:
    TimingWheel& w_;
  };

  static constexpr uint64_t bit(unsigned slot) { return uint64_t{1} << slot; }
  static constexpr unsigned shift_of(unsigned level) { return slot_bits * level; }
  static constexpr unsigned slot_of(uint64_t t, unsigned level) {
    return static_cast<unsigned>((t >> shift_of(level)) & (slots_per_level - 1));
  }

  // I2: the level a node with deadline tick t >= elapsed_ belongs to.
  unsigned level_of(uint64_t t) const {
    const uint64_t diff = t ^ elapsed_;
    if (diff < slots_per_level) return 0;
    const unsigned level = static_cast<unsigned>(std::bit_width(diff) - 1) / slot_bits;
    return level < top_level ? level : top_level;
  }

  void place(TimerNode* n) {
    const unsigned level = level_of(n->deadline_tick);
    const unsigned slot = slot_of(n->deadline_tick, level);
    list_push_back(slots_[level][slot], n);
    occupied_[level] |= bit(slot);
  }

  // The first occupied slot of the lowest non-empty level and its first tick.
  Event next_event() const {
    const uint64_t e = elapsed_;
    for (unsigned level = 0; level < top_level; ++level) {
      const uint64_t occ = occupied_[level];
      if (occ == 0) continue;
      // I2: every occupied slot is at or after e's digit, so the lowest wins.
      const unsigned slot = static_cast<unsigned>(std::countr_zero(occ));
      const unsigned block = shift_of(level + 1);
      const uint64_t tick = ((e >> block) << block) | (uint64_t{slot} << shift_of(level));
      return Event{level, slot, tick};
    }
    const uint64_t occ = occupied_[top_level];
    if (occ == 0) return Event{levels, 0, UINT64_MAX};
    // I3: circular; the first occupied slot after e's, 1..63 slots ahead.
    const unsigned cur = slot_of(e, top_level);
    const uint64_t rotated = std::rotr(occ, static_cast<int>((cur + 1) % slots_per_level));
    const unsigned ahead = 1 + static_cast<unsigned>(std::countr_zero(rotated));
    const uint64_t tick = ((e >> top_shift) + ahead) << top_shift;
    return Event{top_level, (cur + ahead) % slots_per_level, tick};
  }

  // Re-places every node of a level >= 1 slot just entered; each lands at a
  // strictly lower level (I2 relative to the new elapsed_), order kept.
  void cascade(TimerNode& head) {
    while (!list_empty(head)) {
      TimerNode* n = head.next;
      list_unlink(n);
      place(n);
    }
  }

  // Circular doubly-linked lists with a sentinel head.
  static void list_init(TimerNode& head) { head.next = head.prev = &head; }
  static bool list_empty(const TimerNode& head) { return head.next == &head; }
  static void list_push_back(TimerNode& head, TimerNode* n) {
    n->prev = head.prev;
    n->next = &head;
    head.prev->next = n;
    head.prev = n;
  }
  static void list_unlink(TimerNode* n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = nullptr;
    n->prev = nullptr;
  }
  // dst (empty) takes every node of src; src becomes empty.
  static void list_take_all(TimerNode& dst, TimerNode& src) {
    list_init(dst);
    if (list_empty(src)) return;
    dst.next = src.next;
    dst.prev = src.prev;
    dst.next->prev = &dst;
    dst.prev->next = &dst;
    list_init(src);
  }
  // Moves every node of src to the front of dst, order kept; src becomes empty.
  static void list_splice_front(TimerNode& dst, TimerNode& src) {
    if (list_empty(src)) return;
    TimerNode* first = src.next;
    TimerNode* last = src.prev;
    last->next = dst.next;
    dst.next->prev = last;
    dst.next = first;
    first->prev = &dst;
    list_init(src);
  }

  const uint64_t tick_ns_;
  const uint64_t ticks_max_;  // the largest tick whose * tick_ns_ fits
  uint64_t elapsed_ = 0;      // e, the wheel's position (a tick number)
  size_t size_ = 0;
  uint64_t slots_visited_ = 0;
  bool firing_ = false;       // inside advance(), calling on_expire
  uint64_t occupied_[levels] = {};
  TimerNode slots_[levels][slots_per_level];
  TimerNode local_;     // the level-0 slot being fired
  TimerNode deferred_;  // scheduled by on_expire at or before the firing tick
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_TIMING_WHEEL_H_
