// hotq/clock.h — the time source of an engine.
//
// Every time-dependent rule in hotq (delays, lease deadlines, backoff, rate
// limits, dedup windows, ages) reads time from a Clock given at open. Tests and
// simulations pass a ManualClock and move time explicitly, so they never sleep.
//
// Thread safety: now_ns() may be called from any thread at once. ManualClock's
// set/advance may be called from any thread; readers see a value that never
// goes backwards.
#ifndef HOTQ_CLOCK_H_
#define HOTQ_CLOCK_H_

#include <hotq/export.h>

#include <atomic>
#include <cstdint>

namespace hotq {

class HOTQ_API Clock {
 public:
  virtual ~Clock();
  // Monotonic nanoseconds since an arbitrary epoch. Never decreases.
  virtual std::uint64_t now_ns() const noexcept = 0;
};

// CLOCK_MONOTONIC. The default clock of an engine.
class HOTQ_API SystemClock final : public Clock {
 public:
  std::uint64_t now_ns() const noexcept override;
  // One process-wide instance, safe to share between engines.
  static SystemClock& instance() noexcept;
};

// A clock that moves only when told to.
class HOTQ_API ManualClock final : public Clock {
 public:
  explicit ManualClock(std::uint64_t start_ns = 1'000'000'000) noexcept
      : now_ns_(start_ns) {}
  std::uint64_t now_ns() const noexcept override {
    // acquire: pairs with the release in advance_ns/set_ns, so that a thread
    // that sees the new time also sees what the mover wrote before moving it.
    return now_ns_.load(std::memory_order_acquire);
  }
  void advance_ns(std::uint64_t delta_ns) noexcept {
    now_ns_.fetch_add(delta_ns, std::memory_order_release);  // see now_ns()
  }
  void advance_ms(std::uint64_t delta_ms) noexcept { advance_ns(delta_ms * 1'000'000); }
  // Precondition (checked): t_ns >= now_ns(); time never goes backwards.
  void set_ns(std::uint64_t t_ns) noexcept;

 private:
  std::atomic<std::uint64_t> now_ns_;
};

}  // namespace hotq

#endif  // HOTQ_CLOCK_H_
