// engine/ring.h — MpmcRing<T>: a bounded lock-free multi-producer,
// multi-consumer ring of small trivially copyable values (the engine stores
// 8-byte job handles in it).
//
// Algorithm (Dmitry Vyukov's bounded MPMC queue). Two 64-bit positions, tail
// (next push) and head (next pop), only ever grow; position p lives in slot
// p & mask. Each slot carries a sequence number that says whose turn it is:
//   seq == p          the slot is free for the producer of position p;
//   seq == p + 1      it holds the item of position p, ready for its consumer;
//   seq == p + cap    that consumer is done: free for the producer of p + cap.
// A producer reads tail, checks the slot's seq, claims the position with a CAS
// on tail, writes the value, then publishes seq = p + 1. A consumer does the
// same on head and hands the slot to the next lap with seq = p + cap. The CAS
// only decides who owns a position; data is handed over by the seq store
// (release) and the seq load (acquire) on the slot itself.
//
// Zeroed memory is an empty ring: the slot stores seq - index (index = the
// slot's place in the array), so every slot's initial seq == index is 0
// bytes. Slots come from calloc, or from mmap for large rings, and a ring's
// pages cost no resident memory until a position on them is first used.
//
// Batch claim. try_push_n scans slots tail, tail+1, ... while each is free
// for its position of this lap, then claims all of them with ONE CAS of tail
// from t to t + m. This is correct because a slot seen free for position q
// (seq == q) cannot become un-free while tail <= q: only the producer that
// owns q may change it, and owning q needs tail to have moved past q. If our
// CAS from t succeeds, tail was still t, and since tail never decreases no
// position >= t had been claimed; every slot we scanned is still free and is
// now ours. try_pop_n is the mirror image on head (ready: seq == q + 1).
//
// Thread safety: any number of producers and consumers, from any threads, may
// call any member at once, except the constructor and destructor. All calls
// are lock-free and return at once: none waits for another thread's progress.
// A CAS retry happens only when another thread's CAS succeeded.
//
// What "full" and "empty" mean. try_push fails when the slot at tail is not
// yet free for this lap: the ring holds capacity() items, or the consumer of
// the previous lap has claimed the slot but not yet finished reading it.
// try_pop fails when the slot at head is not yet ready: the ring is empty, or
// the producer that claimed head has not yet published. So a thread stalled
// between its CAS and its seq store makes its slot look empty (or full) to
// others — they return false, never wait — until it resumes. Callers retry
// (the engine's shard loop) and never spin on a single ring forever.
//
// Ordering: per-producer FIFO. Items one thread pushes (single or batch) get
// increasing positions, and every consumer claims positions in increasing
// order, so any one consumer pops one producer's items in the order they were
// pushed. Items of different producers, or seen by different consumers, have
// no promised order relative to each other.
//
// Invariants (positions are 64-bit and never wrap in practice: 2^64 claims):
//   head <= tail <= head + capacity (as values; reads of both are not atomic
//     together, which is why size_approx clamps);
//   for every slot, seq only increases, and alternates free -> ready -> free;
//   the value of a slot is written only by the owner of its free position and
//     read only by the owner of its ready position.
//
// Capacity is a power of two (indexing by mask) in [2, ring_capacity_max].
// Capacity 1 is refused: "ready for p" (p + 1) would equal "free for p + 1".
#ifndef HOTQ_ENGINE_RING_H_
#define HOTQ_ENGINE_RING_H_

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "util/check.h"

namespace hotq::engine {

// Largest ring capacity (slots). 2^30 slots of 16 bytes is 16 GiB of address
// space, touched only as used.
inline constexpr std::uint64_t ring_capacity_max = 1u << 30;
// Slot arrays of at least this size come straight from mmap, so their pages
// are guaranteed zero and lazily backed; smaller ones from calloc.
inline constexpr std::uint64_t ring_mmap_threshold_bytes = 1u << 20;
// Destructive-interference distance used for the layout (x86-64, most ARM).
inline constexpr std::size_t ring_cache_line_bytes = 64;

template <class T>
class MpmcRing {
  static_assert(std::is_trivially_copyable_v<T>, "MpmcRing holds trivially copyable values");
  static_assert(sizeof(T) <= 8, "MpmcRing holds values of at most 8 bytes (job handles)");

 public:
  // Precondition (checked): capacity is a power of two in [2, ring_capacity_max].
  // Aborts if the slot memory cannot be allocated.
  explicit MpmcRing(std::uint64_t capacity);
  ~MpmcRing();

  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;

  // Appends v. False if the slot at tail is not free yet (see "full" above).
  bool try_push(T v) noexcept;
  // Removes the oldest ready item into out. False if none is ready.
  bool try_pop(T& out) noexcept;

  // Appends items[0..k) for the largest k <= n whose slots are free now, with
  // one claim; returns k (0 if full or n == 0). items[k..n) are not pushed.
  std::size_t try_push_n(const T* items, std::size_t n) noexcept;
  // Removes up to n ready items into out[0..k) with one claim; returns k
  // (0 if empty or n == 0).
  std::size_t try_pop_n(T* out, std::size_t n) noexcept;

  // Copies the oldest ready item into out without removing it: false if none
  // is ready. What it returns may be popped by another thread at once; it is
  // a look, not a claim (the engine uses it for the age of the oldest job).
  bool try_peek(T& out) const noexcept;

  // Items pushed and not yet popped, in [0, capacity()]. A snapshot that may
  // be stale by the time it returns; exact only when no call is in flight.
  std::size_t size_approx() const noexcept;
  bool empty_approx() const noexcept { return size_approx() == 0; }
  std::size_t capacity() const noexcept { return static_cast<std::size_t>(mask_ + 1); }

 private:
  // A slot is plain memory, so that zeroed bytes are a valid slot: Slot is an
  // implicit-lifetime type, which calloc creates in place (C++20); for the
  // mmap path we rely on the same treatment, as every allocator does.
  // seq_rel is accessed only through std::atomic_ref.
  struct Slot {
    std::uint64_t seq_rel;  // seq - index; 0 in a fresh ring
    T value;
  };
  static_assert(sizeof(Slot) == 16, "slots are packed 4 to a cache line");
  static_assert(alignof(Slot) == 8);
  static_assert(offsetof(Slot, seq_rel) == 0 && offsetof(Slot, value) == 8);
  static_assert(std::is_trivially_copyable_v<Slot> && std::is_standard_layout_v<Slot>);
  static_assert(ring_cache_line_bytes % sizeof(Slot) == 0, "no slot straddles a cache line");
  static_assert(std::atomic_ref<std::uint64_t>::required_alignment <= alignof(Slot));
  static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

  static void cpu_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }

  std::uint64_t index_of(std::uint64_t pos) const noexcept { return pos & mask_; }

  // Values are accessed through atomic_ref so that try_peek, which may read
  // a slot while its next-lap producer writes it (and then discards what it
  // read), is not a data race. Release/acquire on the value (plain moves on
  // x86-64) makes try_peek's second look at seq sound: a value read from the
  // next lap's producer carries that producer's view, in which the slot's
  // seq has already moved on. Push and pop are still ordered by seq.
  void store_value(std::uint64_t index, T v) noexcept {
    std::atomic_ref<T>(slots_[index].value).store(v, std::memory_order_release);
  }
  T load_value(std::uint64_t index) const noexcept {
    return std::atomic_ref<T>(slots_[index].value).load(std::memory_order_acquire);
  }

  // The slot's absolute sequence number. Acquire: pairs with the release in
  // publish() of whoever last handed the slot over, so that the value (or
  // the previous reader's read of it) happens before what we do next.
  std::uint64_t load_seq(std::uint64_t index) const noexcept {
    return std::atomic_ref<std::uint64_t>(slots_[index].seq_rel).load(std::memory_order_acquire) +
           index;
  }
  // Hands slot index over with absolute sequence seq. Release: our write (or
  // read) of the value happens before the next owner's acquire load_seq.
  void publish(std::uint64_t index, std::uint64_t seq) noexcept {
    std::atomic_ref<std::uint64_t>(slots_[index].seq_rel)
        .store(seq - index, std::memory_order_release);
  }

  // Both positions move only forward and are touched by every operation of
  // one side, so each has a cache line of its own; the read-only fields below
  // sit on a third line that is never written after construction.
  alignas(ring_cache_line_bytes) std::atomic<std::uint64_t> tail_{0};  // producers
  alignas(ring_cache_line_bytes) std::atomic<std::uint64_t> head_{0};  // consumers
  alignas(ring_cache_line_bytes) Slot* slots_ = nullptr;
  std::uint64_t mask_ = 0;
  bool mapped_ = false;  // slots_ came from mmap (else calloc)
};

// ---------------------------------------------------------------- implementation

template <class T>
MpmcRing<T>::MpmcRing(std::uint64_t capacity) {
  // Layout facts, checked here where the class is complete.
  static_assert(std::is_standard_layout_v<MpmcRing>);
  static_assert(alignof(MpmcRing) == ring_cache_line_bytes);
  static_assert(offsetof(MpmcRing, tail_) == 0);
  static_assert(offsetof(MpmcRing, head_) == ring_cache_line_bytes);
  static_assert(offsetof(MpmcRing, slots_) == 2 * ring_cache_line_bytes);
  static_assert(sizeof(MpmcRing) == 3 * ring_cache_line_bytes);
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

  HOTQ_CHECK(capacity >= 2 && capacity <= ring_capacity_max);
  HOTQ_CHECK((capacity & (capacity - 1)) == 0);  // a power of two
  mask_ = capacity - 1;

  const std::size_t bytes = static_cast<std::size_t>(capacity) * sizeof(Slot);
  void* mem = nullptr;
  if (bytes >= ring_mmap_threshold_bytes) {
    mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    HOTQ_CHECK(mem != MAP_FAILED);
    mapped_ = true;
  } else {
    mem = std::calloc(static_cast<std::size_t>(capacity), sizeof(Slot));
    HOTQ_CHECK(mem != nullptr);
  }
  slots_ = static_cast<Slot*>(mem);
  HOTQ_DCHECK(reinterpret_cast<std::uintptr_t>(slots_) % alignof(Slot) == 0);
}

template <class T>
MpmcRing<T>::~MpmcRing() {
  if (mapped_) {
    ::munmap(slots_, static_cast<std::size_t>(mask_ + 1) * sizeof(Slot));
  } else {
    std::free(slots_);
  }
}

template <class T>
bool MpmcRing<T>::try_push(T v) noexcept {
  // Relaxed: tail is only a guess at a position; the slot's acquire load
  // below decides whether it is ours to take.
  std::uint64_t pos = tail_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t index = index_of(pos);
    const auto dif = static_cast<std::int64_t>(load_seq(index) - pos);
    if (dif == 0) {
      // Relaxed both ways: the CAS only arbitrates ownership of pos among
      // producers; data visibility flows through the slot's seq. On failure
      // pos is reloaded with the current tail.
      if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        store_value(index, v);
        publish(index, pos + 1);  // release: the value, to its consumer
        return true;
      }
      cpu_pause();
    } else if (dif < 0) {
      return false;  // the previous lap's item is still here (or being read)
    } else {
      // Another producer took pos already. Relaxed: same reason as above.
      pos = tail_.load(std::memory_order_relaxed);
    }
  }
}

template <class T>
bool MpmcRing<T>::try_pop(T& out) noexcept {
  // Relaxed: head is only a guess; the slot's acquire load decides.
  std::uint64_t pos = head_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t index = index_of(pos);
    const auto dif = static_cast<std::int64_t>(load_seq(index) - (pos + 1));
    if (dif == 0) {
      // Relaxed both ways: ownership only; the value was made visible by the
      // acquire load_seq above.
      if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
        out = load_value(index);
        publish(index, pos + mask_ + 1);  // release: our read, before the next lap's write
        return true;
      }
      cpu_pause();
    } else if (dif < 0) {
      return false;  // not yet published for this lap: empty (or in flight)
    } else {
      // Another consumer took pos already. Relaxed: same reason as above.
      pos = head_.load(std::memory_order_relaxed);
    }
  }
}

template <class T>
bool MpmcRing<T>::try_peek(T& out) const noexcept {
  // Relaxed: head is a guess; the slot's seq decides, before and after the
  // read of the value, that the value belongs to position pos.
  const std::uint64_t pos = head_.load(std::memory_order_relaxed);
  const std::uint64_t index = index_of(pos);
  if (load_seq(index) != pos + 1) return false;  // acquire: the value is visible
  const T v = load_value(index);
  // The value was the one of position pos if the slot still says so: an
  // overwrite comes after the slot's seq moved past pos + 1, and a value read
  // from it (acquire, see store_value) makes this load see that move.
  if (load_seq(index) != pos + 1) return false;
  out = v;
  return true;
}

template <class T>
std::size_t MpmcRing<T>::try_push_n(const T* items, std::size_t n) noexcept {
  HOTQ_DCHECK(items != nullptr || n == 0);
  const std::uint64_t want = std::min<std::uint64_t>(n, mask_ + 1);
  if (want == 0) return 0;
  // Relaxed: a guess, as in try_push.
  std::uint64_t pos = tail_.load(std::memory_order_relaxed);
  for (;;) {
    // Scan the run of slots free for this lap. Each load_seq is an acquire,
    // so the previous lap's reads of all of them happen before our writes.
    std::uint64_t vacant = 0;
    std::int64_t first_dif = 0;
    for (; vacant < want; ++vacant) {
      const auto dif = static_cast<std::int64_t>(load_seq(index_of(pos + vacant)) - (pos + vacant));
      if (dif != 0) {
        if (vacant == 0) first_dif = dif;
        break;
      }
    }
    if (vacant == 0) {
      if (first_dif < 0) return 0;                  // full
      pos = tail_.load(std::memory_order_relaxed);  // stale guess; relaxed as above
      continue;
    }
    // Relaxed both ways: one CAS claims pos..pos+vacant-1 (see the header
    // comment for why the scan is still valid when it succeeds).
    if (tail_.compare_exchange_weak(pos, pos + vacant, std::memory_order_relaxed,
                                    std::memory_order_relaxed)) {
      for (std::uint64_t k = 0; k < vacant; ++k) {
        const std::uint64_t index = index_of(pos + k);
        store_value(index, items[k]);
        publish(index, pos + k + 1);  // release: the value, to its consumer
      }
      return static_cast<std::size_t>(vacant);
    }
    cpu_pause();
  }
}

template <class T>
std::size_t MpmcRing<T>::try_pop_n(T* out, std::size_t n) noexcept {
  HOTQ_DCHECK(out != nullptr || n == 0);
  const std::uint64_t want = std::min<std::uint64_t>(n, mask_ + 1);
  if (want == 0) return 0;
  // Relaxed: a guess, as in try_pop.
  std::uint64_t pos = head_.load(std::memory_order_relaxed);
  for (;;) {
    // Scan the run of slots ready for this lap; each acquire load_seq makes
    // that slot's value visible to our reads after the claim.
    std::uint64_t ready = 0;
    std::int64_t first_dif = 0;
    for (; ready < want; ++ready) {
      const auto dif =
          static_cast<std::int64_t>(load_seq(index_of(pos + ready)) - (pos + ready + 1));
      if (dif != 0) {
        if (ready == 0) first_dif = dif;
        break;
      }
    }
    if (ready == 0) {
      if (first_dif < 0) return 0;                  // empty
      pos = head_.load(std::memory_order_relaxed);  // stale guess; relaxed as above
      continue;
    }
    // Relaxed both ways: one CAS claims pos..pos+ready-1; a slot seen ready
    // for q stays ready until the owner of q (us, if this succeeds) frees it.
    if (head_.compare_exchange_weak(pos, pos + ready, std::memory_order_relaxed,
                                    std::memory_order_relaxed)) {
      for (std::uint64_t k = 0; k < ready; ++k) {
        const std::uint64_t index = index_of(pos + k);
        out[k] = load_value(index);
        publish(index, pos + k + mask_ + 1);  // release: our read, before the next write
      }
      return static_cast<std::size_t>(ready);
    }
    cpu_pause();
  }
}

template <class T>
std::size_t MpmcRing<T>::size_approx() const noexcept {
  // Relaxed: a snapshot for metrics and heuristics, not for synchronization.
  // The two loads are not one atomic view, so the difference is clamped.
  const std::uint64_t head = head_.load(std::memory_order_relaxed);
  // Relaxed: as above.
  const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
  const auto dif = static_cast<std::int64_t>(tail - head);
  if (dif <= 0) return 0;
  return static_cast<std::size_t>(
      std::min<std::uint64_t>(static_cast<std::uint64_t>(dif), mask_ + 1));
}

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_RING_H_
