// engine/rate_limiter.h — RateLimiter: a queue's "at most N reserves per
// interval" token bucket, lock-free, as GCRA (the generic cell rate
// algorithm) on one atomic word.
//
// Algorithm. Let T be the emission interval (ns per token, see "Rounding")
// and B = burst_tokens. The only state is the theoretical arrival time tat:
// the time at which the bucket would be full again if nothing more were
// taken. At time t the backlog is b = max(tat - t, 0), and the tokens
// available are
//   avail(t) = B - ceil(b / T)                      (0 if that is negative)
// so a full bucket (tat <= t) holds B. Taking k <= avail(t) tokens moves tat
// to max(tat, t) + k * T; give_back(k) moves it back by k * T. Each change is
// one CAS of tat; nothing is written when nothing is granted, so a blocked
// queue polling the limiter does not bounce its cache line.
//
// Rounding. T = ceil(interval_ns / tokens_per_interval), a whole number of
// ns, fixed at construction; from there on all arithmetic is exact in
// integers (products in 128 bits where they could overflow). So the limiter
// is an exact GCRA for a rate of 1/T tokens per ns, which is never above
// the promised tokens_per_interval / interval_ns, and is below it by less
// than 1/T of it: nothing when T divides exactly, < 0.1% when T >= 1 us
// (<= 10^6 tokens/s), < 1% when T >= 100 ns. A T below 1 ns becomes 1 ns:
// rates above 10^9 tokens/s are capped there. Why not keep T as an exact
// fraction: tat would then need sub-ns precision to stay exact, and 64 bits
// cannot hold both that and any clock value; rounding the stored tat on each
// update instead wastes credit on every take and give_back, and a full
// bucket could no longer be emptied one token at a time.
//
// What is promised (rate = tokens_per_interval / interval_ns):
//   * a full bucket gives B tokens at once, and never more;
//   * for the calls whose now_ns lies in any window [a, a + w]: the tokens
//     they are granted, minus the tokens given back (counted when give_back
//     runs) between the first and the last of those calls, are at most
//     B + w * rate. Hence the long-run rate is at most tokens_per_interval per
//     interval_ns.
//   Proof sketch: the first grant in the window starts from max(tat, t) >= a;
//   every grant adds at least k * T to tat and every give_back subtracts at
//   most k * T, other calls only raise tat; and the last grant must leave
//   tat <= t + B * T <= a + w + B * T; so the net count K has K * T <= w + B * T,
//   and T >= interval_ns / tokens_per_interval. This holds whatever order the
//   calls' now_ns values arrive in. give_back is meant for tokens just taken (the
//   engine takes tokens, pops what is ready and returns the rest in the same
//   call); tokens returned long after they were taken can be reused once the
//   bucket has refilled — the accounting above counts them as never taken.
//
// Time. now_ns comes from the engine's monotonic clock, but threads may pass
// values slightly out of order. A now_ns earlier than one already used only
// sees a larger backlog (fewer tokens), never extra ones, and nothing
// underflows: b is taken as 0 when tat <= now_ns. Precondition (debug check):
// now_ns < rate_limiter_now_ns_max; with the refill bound checked at
// construction this keeps tat within 64 bits.
//
// Thread safety. After construction, every member may be called from any
// number of threads at once. Calls are lock-free: a CAS retry happens only
// when another thread's CAS changed tat (or on a weak CAS's spurious
// failure). next_available_ns is a snapshot: another thread may take the
// token first.
//
// Memory orders. Every access to tat is relaxed. The limiter's whole state is
// that one word, and every change is a single read-modify-write (CAS) of it,
// so all changes form one modification order and none is lost; no other
// memory is published through tat, and callers do not order their own work
// (popping jobs) by it.
#ifndef HOTQ_ENGINE_RATE_LIMITER_H_
#define HOTQ_ENGINE_RATE_LIMITER_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "util/check.h"

namespace hotq::engine {

// now_ns values must stay below this (2^63 ns: 292 years of clock).
inline constexpr std::uint64_t rate_limiter_now_ns_max = 1ull << 63;
// Time for an empty bucket to refill completely, B * T, at most 2^62 ns
// (146 years); together with the above, tat never exceeds 64 bits.
inline constexpr std::uint64_t rate_limiter_refill_ns_max = 1ull << 62;
// Destructive-interference distance used for the layout (x86-64, most ARM).
inline constexpr std::size_t rate_limiter_cache_line_bytes = 64;

class alignas(rate_limiter_cache_line_bytes) RateLimiter {
 public:
  // At most tokens_per_interval tokens per interval_ns in the long run, and
  // burst_tokens from a full bucket at once. Preconditions (checked): all
  // three >= 1, and a full refill (burst_tokens * T) takes at most
  // rate_limiter_refill_ns_max. The bucket starts full.
  RateLimiter(std::uint64_t tokens_per_interval, std::uint64_t interval_ns,
              std::uint64_t burst_tokens);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes min(n, tokens available at now_ns) tokens and returns how many
  // (0..n; a partial grant is normal). n == 0 returns 0.
  std::uint32_t try_acquire(std::uint64_t now_ns, std::uint32_t n) noexcept;
  // The earliest time at which try_acquire(t, 1) succeeds if nobody else
  // takes a token first: now_ns itself when one is available now, otherwise
  // a time > now_ns (exact to the ns). For sleeping a blocked reserve.
  std::uint64_t next_available_ns(std::uint64_t now_ns) const noexcept;
  // Returns n tokens taken by try_acquire and not used. The bucket never
  // holds more than burst_tokens afterwards. Precondition (not checkable
  // here): n is at most the tokens this caller took and has not returned.
  void give_back(std::uint32_t n) noexcept;

  std::uint64_t tokens_per_interval() const noexcept { return tokens_per_interval_; }
  std::uint64_t interval_ns() const noexcept { return interval_ns_; }
  std::uint64_t burst_tokens() const noexcept { return burst_tokens_; }
  // T: interval_ns / tokens_per_interval rounded up to a whole ns (>= 1).
  std::uint64_t emission_interval_ns() const noexcept { return emission_ns_; }

 private:
  __extension__ typedef unsigned __int128 u128;

  // Tokens available at now_ns when the state is tat, in [0, burst_tokens].
  std::uint64_t available(std::uint64_t tat, std::uint64_t now_ns) const noexcept;

  // The theoretical arrival time in ns; 0 (long past) means a full bucket.
  // Relaxed everywhere: see "Memory orders". The limiter fills a cache line
  // of its own (no false sharing with a neighbour); tat, written on every
  // grant, shares it only with the read-only fields every call reads anyway.
  std::atomic<std::uint64_t> tat_ns_{0};
  // Read-only after construction.
  std::uint64_t tokens_per_interval_;
  std::uint64_t interval_ns_;
  std::uint64_t burst_tokens_;
  std::uint64_t emission_ns_ = 1;  // T
  // (burst_tokens - 1) * T: the largest backlog that still leaves one token.
  std::uint64_t one_token_backlog_ns_max_ = 0;
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(sizeof(RateLimiter) == rate_limiter_cache_line_bytes, "one cache line per queue");

// ---------------------------------------------------------------- implementation

inline RateLimiter::RateLimiter(std::uint64_t tokens_per_interval, std::uint64_t interval_ns,
                                std::uint64_t burst_tokens)
    : tokens_per_interval_(tokens_per_interval),
      interval_ns_(interval_ns),
      burst_tokens_(burst_tokens) {
  HOTQ_CHECK(tokens_per_interval >= 1);
  HOTQ_CHECK(interval_ns >= 1);
  HOTQ_CHECK(burst_tokens >= 1);
  // Rounded up, so the rate 1/T is never above the promised one.
  emission_ns_ = interval_ns / tokens_per_interval + (interval_ns % tokens_per_interval != 0);
  HOTQ_CHECK(static_cast<u128>(burst_tokens) * emission_ns_ <= rate_limiter_refill_ns_max);
  one_token_backlog_ns_max_ = (burst_tokens - 1) * emission_ns_;
}

inline std::uint64_t RateLimiter::available(std::uint64_t tat,
                                            std::uint64_t now_ns) const noexcept {
  if (tat <= now_ns) return burst_tokens_;  // full (also: tat long past)
  const std::uint64_t b = tat - now_ns;
  const std::uint64_t owed = b / emission_ns_ + (b % emission_ns_ != 0);  // ceil(b / T)
  return owed >= burst_tokens_ ? 0 : burst_tokens_ - owed;
}

inline std::uint32_t RateLimiter::try_acquire(std::uint64_t now_ns, std::uint32_t n) noexcept {
  HOTQ_DCHECK(now_ns < rate_limiter_now_ns_max);
  if (n == 0) return 0;
  // Relaxed: the CAS below validates what we read (see "Memory orders").
  std::uint64_t tat = tat_ns_.load(std::memory_order_relaxed);
  for (;;) {
    const auto k = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, available(tat, now_ns)));
    if (k == 0) return 0;  // nothing written: an empty bucket costs no store
    // k <= avail means max(tat, now) + k * T <= now + B * T < 2^63 + 2^62.
    const std::uint64_t next = std::max(tat, now_ns) + k * emission_ns_;
    // Relaxed both ways: the single word is the whole state; a failure
    // reloads tat and the grant is recomputed from the newer value.
    if (tat_ns_.compare_exchange_weak(tat, next, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
      return k;
    }
  }
}

inline std::uint64_t RateLimiter::next_available_ns(std::uint64_t now_ns) const noexcept {
  HOTQ_DCHECK(now_ns < rate_limiter_now_ns_max);
  // Relaxed: a snapshot (see "Memory orders").
  const std::uint64_t tat = tat_ns_.load(std::memory_order_relaxed);
  // One token is available at t iff ceil((tat - t) / T) <= B - 1, i.e.
  // tat - t <= (B - 1) * T.
  if (tat <= now_ns || tat - now_ns <= one_token_backlog_ns_max_) return now_ns;
  return tat - one_token_backlog_ns_max_;
}

inline void RateLimiter::give_back(std::uint32_t n) noexcept {
  if (n == 0) return;
  // n * T may exceed 64 bits for a huge T; then it empties the backlog.
  const u128 back = static_cast<u128>(n) * emission_ns_;
  // Relaxed: as in try_acquire. tat may go below the present time: that is a
  // full bucket, since available() caps the tokens at burst_tokens.
  std::uint64_t tat = tat_ns_.load(std::memory_order_relaxed);
  while (!tat_ns_.compare_exchange_weak(tat,
                                        tat > back ? tat - static_cast<std::uint64_t>(back) : 0,
                                        std::memory_order_relaxed, std::memory_order_relaxed)) {
  }
}

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_RATE_LIMITER_H_
