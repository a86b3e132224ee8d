// engine/job_table.h — job records and the per-shard slab that holds them.
//
// A job lives in one fixed-size Record from enqueue until it is completed,
// cancelled or deleted. Records sit in one address-space reservation per
// shard, constructed on demand, and never move while the engine lives, so a pointer to a record (and
// an index naming it) stays valid for the engine's life; what it describes
// changes as the slot is reused. A record is named by a 32-bit SlotRef:
//
//   bits 31..26  shard (0..shards_max-1)
//   bits 25..0   index in the shard's slab (0..shard_jobs_max-1)
//
// Job ids name their record: id = generation << 32 | SlotRef, where the
// generation of a slot grows with every job it holds. Looking a job up by id
// is therefore O(1) with no index to maintain. A slot whose generation would
// wrap is retired (never reused), so an id is never reused in the engine's
// life. Ring handles and lease tokens are nonce << 32 | SlotRef.
//
// Free slots form a lock-free LIFO (a Treiber stack) threaded through the
// records' `id_or_link` field, whose head carries a 32-bit tag against ABA.
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
#include <string_view>
#include <type_traits>
#include <utility>

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
// The SlotRef of a job id, ring handle or lease token (their low 32 bits).
inline SlotRef slot_of(std::uint64_t id_handle_or_token) {
  return static_cast<SlotRef>(id_handle_or_token);
}
// The nonce of a ring handle or lease token (their high 32 bits).
inline std::uint32_t nonce_of(std::uint64_t handle_or_token) {
  return static_cast<std::uint32_t>(handle_or_token >> 32);
}
inline std::uint64_t make_handle(std::uint32_t nonce, SlotRef ref) {
  return (static_cast<std::uint64_t>(nonce) << 32) | ref;
}

// Record states. `free` is the slab's; the others are JobState's. A delayed
// record's timer is its delay (or backoff); a leased record's, its lease.
enum class RecordState : std::uint8_t {
  free = 0,
  delayed = static_cast<std::uint8_t>(JobState::delayed),
  ready = static_cast<std::uint8_t>(JobState::ready),
  leased = static_cast<std::uint8_t>(JobState::leased),
  dead = static_cast<std::uint8_t>(JobState::dead),
};

// One job: 64 bytes, one cache line. Every byte counts against the limit of
// 96 bytes per job beyond the payload (docs/performance.md): record 64,
// payload header and malloc overhead 16, ring slot 16.
struct alignas(64) Record {
  TimerNode timer;                        // delay, backoff or lease deadline
  detail::PayloadBuf* payload = nullptr;  // one counted reference
  // High 32 bits: the slot's generation, bumped by every allocation. Low 32
  // bits: while in use, the record's own SlotRef, so the whole word is the
  // job id; while free, the free-stack link (index + 1 of the next free
  // record, 0 at the end). Atomic because a racing pop may read the link of
  // a record that another thread has just taken and is writing an id into;
  // such a pop's CAS then fails (job_table.cc).
  std::atomic<JobId> id_or_link{0};
  std::uint64_t enqueued_ns = 0;
  // Bumped each time the record enters `ready` or `leased`; never reset, also
  // across jobs. A ring handle and a lease token carry the nonce they were
  // made with, so an outdated one is recognised (job ids below).
  std::uint32_t nonce = 0;
  std::uint32_t lease_ms = 0;             // per-job lease override; 0: none
  std::uint16_t queue_index = 0;          // index in the engine's queue table
  std::uint16_t attempts = 0;             // counted attempts so far
  std::uint16_t attempts_max = 0;
  std::uint8_t priority = 0;
  std::atomic<RecordState> state{RecordState::free};

  JobId id() const { return id_or_link.load(std::memory_order_relaxed); }  // see above

  // While ready the timer is not scheduled, and its deadline field holds the
  // time the job became ready (for the age of the oldest ready job).
  void set_ready_since(std::uint64_t ns) { timer.deadline_tick = ns; }
  std::uint64_t ready_since_ns() const { return timer.deadline_tick; }
};
static_assert(std::is_standard_layout_v<Record>, "TimerNode* -> Record* needs a standard layout");
static_assert(offsetof(Record, timer) == 0);
static_assert(sizeof(Record) == 64, "a job record is one cache line: see docs/performance.md");
static_assert(std::atomic<RecordState>::is_always_lock_free);
static_assert(std::atomic<JobId>::is_always_lock_free);
static_assert(queues_max <= UINT16_MAX + 1, "queue_index is 16 bits");
static_assert(attempts_limit <= UINT16_MAX, "attempts are 16 bits");

inline Record* record_of(TimerNode* node) { return reinterpret_cast<Record*>(node); }

// Allocates payload bytes with one reference (held by the record).
detail::PayloadBuf* payload_new(std::string_view bytes);

// One owned, counted reference to payload bytes: what recovery's LogState
// holds for a job until materialize hands it to the job's record (take()),
// so a recovered payload is allocated once, not once for the replay and
// again for the engine. Copies share the bytes (the jobs of one publish).
// Thread safety: as Payload's (the count is atomic).
class PayloadRef {
 public:
  PayloadRef() noexcept = default;
  explicit PayloadRef(std::string_view bytes) : buf_(payload_new(bytes)) {}
  PayloadRef(const PayloadRef& other) noexcept : buf_(other.buf_) {
    // relaxed: a new reference made from one that keeps the bytes alive.
    if (buf_ != nullptr) buf_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  PayloadRef(PayloadRef&& other) noexcept : buf_(std::exchange(other.buf_, nullptr)) {}
  PayloadRef& operator=(PayloadRef other) noexcept {
    std::swap(buf_, other.buf_);
    return *this;
  }
  ~PayloadRef() { Payload::release(buf_); }

  std::string_view view() const noexcept {
    return buf_ != nullptr ? std::string_view(buf_->bytes(), buf_->size) : std::string_view();
  }
  // Hands this handle's reference over (to a record); the handle is empty after.
  detail::PayloadBuf* take() noexcept { return std::exchange(buf_, nullptr); }
  // Whether another handle shares the bytes, and which bytes: a snapshot
  // writes shared bytes once (LogState::write). Exact only while no other
  // thread copies or drops a handle to them, as in a LogState, which one
  // thread owns; relaxed for that reason. A wrong answer would cost a
  // snapshot a few bytes, not a job: either form loads the same payload.
  bool shared() const noexcept {
    return buf_ != nullptr && buf_->refs.load(std::memory_order_relaxed) > 1;
  }
  const void* identity() const noexcept { return buf_; }

 private:
  detail::PayloadBuf* buf_ = nullptr;
};

// The records of one shard, in one reservation of address space for
// shard_jobs_max records (mmap'd with MAP_NORESERVE: untouched pages cost
// nothing). Records are constructed chunk by chunk as the shard first needs
// them and never move, so a record's index is its distance from the base.
class Slab {
 public:
  static constexpr std::uint32_t chunk_records = 1u << 16;

  explicit Slab(std::uint32_t shard);
  ~Slab();
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  // Pops up to n free slots into out and gives each record its new job id
  // (read it with Record::id()); returns how many (fewer only when the shard
  // holds shard_jobs_max records). The caller owns the records.
  std::uint32_t alloc(SlotRef* out, std::uint32_t n);
  // Returns a slot whose record the caller owns and has set to free.
  void free_one(SlotRef ref);

  // Recovery only, before any other thread uses the slab: makes slot
  // `index` hold job `id` (constructing records up to it) and returns it.
  Record& restore(std::uint32_t index, JobId id);
  // Recovery only, after the last restore(): every slot below the high-water
  // mark that holds no job goes onto the free stack.
  void rebuild_free_stack();

  Record& at(std::uint32_t index) const {
    HOTQ_DCHECK(index < high_water());
    return base_[index];
  }
  SlotRef ref_of(const Record& r) const {
    return make_slot_ref(shard_, static_cast<std::uint32_t>(&r - base_));
  }
  // Slots ever handed out: every index below it names a constructed record.
  std::uint32_t high_water() const { return high_water_.load(std::memory_order_acquire); }
  std::uint32_t shard() const { return shard_; }

 private:
  const std::uint32_t shard_;
  Record* const base_;
  // Head of the free stack: (tag << 32) | (index + 1); 0 in the low half
  // means empty. The tag changes on every pop so a stale CAS fails (ABA).
  alignas(64) std::atomic<std::uint64_t> free_head_{0};
  // Written under grow_mu_; read without it (acquire) by scans and checks.
  alignas(64) std::atomic<std::uint32_t> high_water_{0};
  Mutex grow_mu_;
  std::uint32_t constructed_ HOTQ_GUARDED_BY(grow_mu_) = 0;
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_JOB_TABLE_H_
