#include <hotq/clock.h>

#include <time.h>

#include "util/check.h"

namespace hotq {

Clock::~Clock() = default;

std::uint64_t SystemClock::now_ns() const noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

SystemClock& SystemClock::instance() noexcept {
  static SystemClock clock;
  return clock;
}

void ManualClock::set_ns(std::uint64_t t_ns) noexcept {
  // A CAS loop rather than a store, so that a concurrent advance is never
  // undone and the "never backwards" precondition is checked against the
  // value actually replaced.
  std::uint64_t cur = now_ns_.load(std::memory_order_relaxed);
  do {
    HOTQ_CHECK(t_ns >= cur);
  } while (!now_ns_.compare_exchange_weak(cur, t_ns, std::memory_order_release,
                                          std::memory_order_relaxed));
}

}  // namespace hotq
