// engine/wait_signal.h — park and wake without lost wake-ups (futex).
//
// A WaitSignal lets threads sleep until "something changed" (a job became
// ready, room appeared in a queue) without spinning, and lets the hot path
// skip the wake-up syscall entirely when nobody sleeps.
//
// Protocol (a Dekker handshake through one read-modify-write word):
//   waiter:   t = prepare();  re-check the condition;  if still false: wait(t, ...)
//             finally done_waiting()
//   notifier: make the condition true (e.g. a ring push, a count decrement);
//             notify()
// prepare() and notify() are both acq_rel read-modify-writes of `waiters_`
// (notify adds 0), so they are ordered in its modification order, and an RMW
// always reads the latest value:
//   * notify's RMW after prepare's: it reads waiters_ > 0 and wakes (bumping
//     `epoch_`, so a FUTEX_WAIT that has not slept yet returns at once);
//   * notify's RMW before prepare's: prepare's acquire reads what notify's
//     release wrote, so the notifier's change happens-before the waiter's
//     re-check, which therefore sees it.
// No lost wake-up, with no fences (which ThreadSanitizer does not model) and
// no seq_cst. A notify with no waiters costs one uncontended RMW.
//
// Thread safety: every member may be called from any thread at once.
#ifndef HOTQ_ENGINE_WAIT_SIGNAL_H_
#define HOTQ_ENGINE_WAIT_SIGNAL_H_

#include <atomic>
#include <cstdint>

namespace hotq::engine {

class WaitSignal {
 public:
  // Registers the caller as a waiter; returns the epoch to pass to wait().
  std::uint32_t prepare() noexcept {
    waiters_.fetch_add(1, std::memory_order_acq_rel);  // acq_rel: see the protocol above
    // acquire: a wake_all() whose epoch bump we miss here comes after our
    // registration, and FUTEX_WAIT compares against the bumped value.
    return epoch_.load(std::memory_order_acquire);
  }
  // Sleeps until notify() moves the epoch past `epoch`, or timeout_ns passes
  // (real time), or a spurious wake-up. The caller re-checks in every case.
  void wait(std::uint32_t epoch, std::uint64_t timeout_ns) noexcept;
  void done_waiting() noexcept {
    waiters_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: only a hint to notify()
  }
  // Wakes every waiter, if there is any. Cheap (one RMW) when none.
  void notify() noexcept {
    // acq_rel RMW (adding 0): see the protocol above.
    if (waiters_.fetch_add(0, std::memory_order_acq_rel) != 0) wake_all();
  }
  void wake_all() noexcept;

 private:
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> waiters_{0};
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_WAIT_SIGNAL_H_
