// engine/log_credit.h — the engine's claims on room in the WAL, so that a
// full disk is found at admission and an ack never fails for lack of space
// (docs/architecture.md, "Room in the log"; wal/log_writer.h, "Reservations").
//
// The ledger. The engine holds claims on the log (wal::Log::reserve) of two
// kinds: every live job holds claims for its coming records — a leased one
// for the record that ends it (ack, or dead on expiry), a waiting one (ready
// or delayed) for that and its next reserve record — and the dead hold
// none (Engine::Impl::end_claim_bytes_, wait_claim_bytes_); the rest is
// credit, taken by admissions before they change anything. So an ack never
// lacks room, and neither does a reserve: a full disk refuses new work
// (no_space) but never stops a queue from draining. Whenever no operation
// is under way,
//     Log::stats().reserved_bytes == credit() + wait_claim * waiting + end_claim * leased
// (RoomLedger; tests check it). An admission takes what its records and its new jobs'
// claims need beyond what it brings (a job's claim at its end, or credit it
// took before); an append consumes its framed bytes of claims; what is left
// over goes back to the credit. Credit is taken from the log in chunks so
// that the log's lock is not taken per operation, and given back to the log
// above four chunks.
//
// Thread safety: take() and give() from any thread at once; the credit is
// one atomic, and refills and returns to the log are serialised by
// refill_mu_ (the log's reserve() may wait for a spare segment: takers that
// need a refill wait behind it, the others go on with what is there).
#ifndef HOTQ_ENGINE_LOG_CREDIT_H_
#define HOTQ_ENGINE_LOG_CREDIT_H_

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "engine/mutex.h"
#include "wal/log_writer.h"

namespace hotq::engine {

// What one append brings to and keeps of the engine's claims
// (Engine::Impl::log_records): `holds` stays claimed afterwards for the jobs
// it creates; `brings` is claims the caller already holds and hands in.
struct LogRoom {
  std::uint64_t holds = 0;
  std::uint64_t brings = 0;
};

// The ledger at rest, for tests: `log_claimed` must equal `expected`.
struct RoomLedger {
  std::uint64_t log_claimed = 0;  // wal::Log::stats().reserved_bytes
  std::uint64_t credit = 0;
  std::uint64_t expected = 0;  // credit + the claims of the live jobs by state
};

class LogCredit {
 public:
  // Claims taken from the log at a time, at most (also the largest claim
  // the log sees, which bounds what a segment roll can waste:
  // log_writer.h): a sixteenth of a segment, so that the credit never asks
  // for spares of its own.
  static constexpr std::uint64_t chunk_bytes_max = 256u << 10;
  static constexpr std::uint64_t chunk_bytes_for(std::uint64_t segment_bytes) {
    return std::min(chunk_bytes_max, segment_bytes / 16);
  }

  LogCredit(wal::Log& log, std::uint64_t chunk_bytes)
      : log_(log), chunk_bytes_(chunk_bytes), keep_bytes_max_(4 * chunk_bytes) {}
  LogCredit(const LogCredit&) = delete;
  LogCredit& operator=(const LogCredit&) = delete;

  // Takes `bytes` of credit, refilling from the log if short. Anything but
  // ok takes nothing.
  wal::ReserveResult take(std::uint64_t bytes) {
    if (try_take(bytes)) return wal::ReserveResult::ok;
    MutexLock lock(refill_mu_);
    // Another refill may have run while we waited for the lock.
    if (try_take(bytes)) return wal::ReserveResult::ok;
    const std::uint64_t ask = std::max(bytes, chunk_bytes_);
    if (const wal::ReserveResult r = log_.reserve(ask); r != wal::ReserveResult::ok) return r;
    // relaxed: a count; see try_take().
    credit_.fetch_add(ask - bytes, std::memory_order_relaxed);
    return wal::ReserveResult::ok;
  }

  // Gives back credit (taken and not used, or a job's claim at its end).
  void give(std::uint64_t bytes) {
    if (bytes == 0) return;
    // relaxed: a count; see take().
    const std::uint64_t now = credit_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    if (now <= keep_bytes_max_) return;
    MutexLock lock(refill_mu_);
    std::uint64_t c = credit_.load(std::memory_order_relaxed);
    while (c > keep_bytes_max_ &&
           !credit_.compare_exchange_weak(c, chunk_bytes_, std::memory_order_relaxed)) {
    }
    if (c > keep_bytes_max_) log_.unreserve(c - chunk_bytes_);
  }

  // Credit now (a statistic: others may change it meanwhile).
  std::uint64_t credit() const { return credit_.load(std::memory_order_relaxed); }

 private:
  bool try_take(std::uint64_t bytes) {
    // relaxed: the credit is a count of bytes whose only rule is never to go
    // below zero, which the CAS keeps; it publishes no other data.
    std::uint64_t c = credit_.load(std::memory_order_relaxed);
    while (c >= bytes) {
      if (credit_.compare_exchange_weak(c, c - bytes, std::memory_order_relaxed)) return true;
    }
    return false;
  }

  wal::Log& log_;
  const std::uint64_t chunk_bytes_;
  const std::uint64_t keep_bytes_max_;  // credit above this goes back to the log
  std::atomic<std::uint64_t> credit_{0};
  Mutex refill_mu_;
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_LOG_CREDIT_H_
