// engine/job_table.h — job records and the per-shard slab that holds them.
//
// A job lives in one fixed-size Record from enqueue until it is completed,
// cancelled or deleted. Records sit in chunks that are allocated on demand and
// never move or shrink while the engine lives, so a pointer to a record (and
// an index naming it) stays valid for the engine's life; what it describes
// changes as the slot is reused. A record is named by a 32-bit SlotRef:
//
//   bits 31..26  shard (0..shards_max-1)
//   bits 25..0   index in the shard's slab (0..shard_jobs_max-1)
//
// Free slots form a lock-free LIFO (a Treiber stack) threaded through the
// records' `link` field, whose head carries a 32-bit tag against ABA.
//
// Ownership and synchronisation of a record's fields (see engine.cc):
//   * a thread that pops a slot from the free stack owns the record alone
//     until it publishes it (ring push with release, or under the shard lock);
//   * a ready record's handle is in exactly one ring slot; the consumer that
//     pops it owns the record until it takes the shard lock to lease it;
//   * delayed and leased records are changed only under their shard's lock;
//   * `state` is atomic because the validation of a (possibly stale) lease
//     reads it under the shard lock while a new owner may be initialising a
//     reused record without that lock: a reader that sees `leased` under the
//     lock knows every other field was last written under that lock too.
//
// Thread safety: SlotStack and Slab members may be called from any thread.
#ifndef HOTQ_ENGINE_JOB_TABLE_H_
#define HOTQ_ENGINE_JOB_TABLE_H_

#include <hotq/job.h>
#include <hotq/options.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include "engine/mutex.h"
#include "engine/timing_wheel.h"
#include "util/check.h"

namespace hotq::engine {

using SlotRef = std::uint32_t;
inline constexpr std::uint32_t slot_index_bits = 26;
inline constexpr std::uint32_t slot_index_mask = (1u << slot_index_bits) - 1;
static_assert(shard_jobs_max == 1u << slot_index_bits);
static_assert(shards_max <= 1u << (32 - slot_index_bits));

inline SlotRef make_slot_ref(std::uint32_t shard, std::uint32_t index) {
  return (shard << slot_index_bits) | index;
}
inline std::uint32_t slot_shard(SlotRef ref) { return ref >> slot_index_bits; }
inline std::uint32_t slot_index(SlotRef ref) { return ref & slot_index_mask; }

// What the record's timer means when it fires.
enum class TimerKind : std::uint8_t { none = 0, delay = 1, lease = 2 };

// Record states. `free` is the slab's; the others are JobState's.
enum class RecordState : std::uint8_t {
  free = 0,
  delayed = static_cast<std::uint8_t>(JobState::delayed),
  ready = static_cast<std::uint8_t>(JobState::ready),
  leased = static_cast<std::uint8_t>(JobState::leased),
  dead = static_cast<std::uint8_t>(JobState::dead),
};

struct Record {
  TimerNode timer;                       // delay, backoff or lease deadline
  detail::PayloadBuf* payload = nullptr; // one counted reference
  JobId id = 0;
  std::uint64_t enqueued_ns = 0;
  std::uint32_t nonce = 0;               // delivery counter of this slot: the lease token
  std::uint32_t queue_index = 0;         // index in the engine's queue table
  std::uint32_t lease_ms = 0;            // per-job lease override; 0: none
  std::uint16_t attempts = 0;            // counted attempts so far
  std::uint16_t attempts_max = 0;
  std::uint8_t priority = 0;
  TimerKind timer_kind = TimerKind::none;
  std::atomic<RecordState> state{RecordState::free};
  // While free: the free-stack link (index + 1 of the next free record, 0 at
  // the end). While in use: the record's own SlotRef, so that a timer that
  // fires knows which handle to put in a ring.
  std::atomic<std::uint32_t> link{0};
};
static_assert(std::is_standard_layout_v<Record>, "TimerNode* -> Record* needs a standard layout");
static_assert(offsetof(Record, timer) == 0);
static_assert(sizeof(Record) == 72, "a job record must stay small: see docs/performance.md");
static_assert(std::atomic<RecordState>::is_always_lock_free);

inline Record* record_of(TimerNode* node) { return reinterpret_cast<Record*>(node); }

// Allocates payload bytes with one reference (held by the record).
detail::PayloadBuf* payload_new(std::string_view bytes);

// The records of one shard. Chunks of chunk_records are allocated on demand,
// up to shard_jobs_max records.
class Slab {
 public:
  static constexpr std::uint32_t chunk_bits = 16;
  static constexpr std::uint32_t chunk_records = 1u << chunk_bits;
  static constexpr std::uint32_t chunks_max = shard_jobs_max / chunk_records;

  explicit Slab(std::uint32_t shard) : shard_(shard) {}
  ~Slab();
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  // Pops up to n free slots into out; returns how many (fewer only when the
  // shard holds shard_jobs_max records).
  std::uint32_t alloc(SlotRef* out, std::uint32_t n);
  // Returns a slot whose record the caller owns and has reset to free.
  void free_one(SlotRef ref);

  Record& at(std::uint32_t index) const {
    Record* chunk = chunks_[index >> chunk_bits].load(std::memory_order_acquire);
    // acquire: pairs with the release store that published the chunk.
    HOTQ_DCHECK(chunk != nullptr);
    return chunk[index & (chunk_records - 1)];
  }
  // Slots ever handed out: every index below it names an allocated record.
  std::uint32_t high_water() const { return high_water_.load(std::memory_order_acquire); }
  std::uint32_t shard() const { return shard_; }
  // Bytes the slab holds (chunks allocated), for memory accounting.
  std::size_t bytes_allocated() const;

 private:
  bool grow(std::uint32_t need_index);

  const std::uint32_t shard_;
  // Head of the free stack: (tag << 32) | (index + 1); 0 in the low half
  // means empty. The tag changes on every pop so a stale CAS fails (ABA).
  alignas(64) std::atomic<std::uint64_t> free_head_{0};
  alignas(64) std::atomic<std::uint32_t> high_water_{0};  // written under grow_mu_
  Mutex grow_mu_;
  std::atomic<Record*> chunks_[chunks_max] = {};
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_JOB_TABLE_H_
