#include "engine/wait_signal.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace hotq::engine {
namespace {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "the futex word must be a plain 32-bit integer");

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op | FUTEX_PRIVATE_FLAG, val,
                 ts, nullptr, 0);
}

}  // namespace

void WaitSignal::wait(std::uint32_t epoch, std::uint64_t timeout_ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
  // FUTEX_WAIT returns at once if the epoch already moved (the value check is
  // atomic with going to sleep); EINTR and EAGAIN are fine: the caller loops.
  futex(&epoch_, FUTEX_WAIT, epoch, &ts);
}

void WaitSignal::wake_all() noexcept {
  epoch_.fetch_add(1, std::memory_order_release);  // release: pairs with prepare()'s acquire
  futex(&epoch_, FUTEX_WAKE, INT_MAX, nullptr);
}

}  // namespace hotq::engine
