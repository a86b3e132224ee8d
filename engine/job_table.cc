#include "engine/job_table.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace hotq::engine {

detail::PayloadBuf* payload_new(std::string_view bytes) {
  void* mem = std::malloc(sizeof(detail::PayloadBuf) + bytes.size());
  if (mem == nullptr) throw std::bad_alloc();
  auto* buf = new (mem) detail::PayloadBuf;
  // relaxed: the buffer is published to other threads only through the
  // record, by a release operation (ring push or unlock) after this store.
  buf->refs.store(1, std::memory_order_relaxed);
  buf->size = static_cast<std::uint32_t>(bytes.size());
  if (!bytes.empty()) std::memcpy(buf->bytes(), bytes.data(), bytes.size());
  return buf;
}

namespace {
constexpr std::size_t slab_bytes = std::size_t{shard_jobs_max} * sizeof(Record);

Record* reserve_slab() {
  void* mem = ::mmap(nullptr, slab_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  return static_cast<Record*>(mem);
}
}  // namespace

Slab::Slab(std::uint32_t shard) : shard_(shard), base_(reserve_slab()) {}

Slab::~Slab() {
  std::uint32_t constructed = 0;
  {
    MutexLock lock(grow_mu_);
    constructed = constructed_;
  }
  for (std::uint32_t i = 0; i < constructed; ++i) base_[i].~Record();
  ::munmap(base_, slab_bytes);
}

std::uint32_t Slab::alloc(SlotRef* out, std::uint32_t n) {
  std::uint32_t got = 0;
  // Free stack first: reused records are warm in cache.
  // acquire (load and CAS failure): the popped record's link, written by the
  // thread that pushed it, must be visible before we follow it.
  std::uint64_t head = free_head_.load(std::memory_order_acquire);
  while (got < n) {
    std::uint32_t top = static_cast<std::uint32_t>(head);
    if (top == 0) break;
    std::uint32_t index = top - 1;
    // relaxed: a racing pop may have taken this record already; then the
    // value read is garbage but the tag makes the CAS below fail.
    auto next = static_cast<std::uint32_t>(base_[index].id_or_link.load(std::memory_order_relaxed));
    std::uint64_t tag = (head >> 32) + 1;
    std::uint64_t desired = (tag << 32) | next;
    if (free_head_.compare_exchange_weak(head, desired, std::memory_order_acquire,
                                         std::memory_order_acquire)) {
      head = desired;
      // The record is ours: give it its next generation, or retire the slot
      // for good if the generation would wrap (ids are never reused).
      const SlotRef ref = make_slot_ref(shard_, index);
      const std::uint64_t generation =
          (base_[index].id_or_link.load(std::memory_order_relaxed) >> 32) + 1;
      if (generation > UINT32_MAX) continue;
      // relaxed: published with the record by the caller.
      base_[index].id_or_link.store((generation << 32) | ref, std::memory_order_relaxed);
      out[got++] = ref;
    }
  }
  if (got == n) return got;

  // Never-used slots, constructing records a chunk at a time.
  MutexLock lock(grow_mu_);
  std::uint32_t hw = high_water_.load(std::memory_order_relaxed);  // relaxed: written under grow_mu_
  while (got < n && hw < shard_jobs_max) {
    if (hw == constructed_) {
      for (std::uint32_t i = 0; i < chunk_records; ++i) new (&base_[constructed_ + i]) Record();
      constructed_ += chunk_records;
    }
    const SlotRef ref = make_slot_ref(shard_, hw++);
    // Generation 1: an id is never 0. relaxed: published by the caller.
    base_[slot_index(ref)].id_or_link.store((std::uint64_t{1} << 32) | ref,
                                            std::memory_order_relaxed);
    out[got++] = ref;
  }
  // release: a scanner that reads high_water and then a record below it sees
  // the record constructed.
  high_water_.store(hw, std::memory_order_release);
  return got;
}

void Slab::free_one(SlotRef ref) {
  HOTQ_DCHECK(slot_shard(ref) == shard_);
  std::uint32_t index = slot_index(ref);
  Record& r = at(index);
  HOTQ_DCHECK(r.state.load(std::memory_order_relaxed) == RecordState::free);
  std::uint64_t head = free_head_.load(std::memory_order_relaxed);
  std::uint64_t desired;
  // Keep the generation (high half); the low half becomes the link.
  const std::uint64_t generation = r.id_or_link.load(std::memory_order_relaxed) >> 32;
  do {
    // relaxed: published by the release CAS below.
    r.id_or_link.store((generation << 32) | static_cast<std::uint32_t>(head),
                       std::memory_order_relaxed);
    desired = (head & 0xffffffff00000000ull) | (index + 1);
    // release: the record's reset fields and link are visible to the thread
    // that pops it (acquire in alloc).
  } while (!free_head_.compare_exchange_weak(head, desired, std::memory_order_release,
                                              std::memory_order_relaxed));
}

Record& Slab::restore(std::uint32_t index, JobId id) {
  HOTQ_CHECK(index < shard_jobs_max && slot_of(id) == make_slot_ref(shard_, index));
  MutexLock lock(grow_mu_);
  while (constructed_ <= index) {
    for (std::uint32_t i = 0; i < chunk_records; ++i) new (&base_[constructed_ + i]) Record();
    constructed_ += chunk_records;
  }
  // relaxed: no other thread yet (the engine is not open).
  if (high_water_.load(std::memory_order_relaxed) <= index) {
    high_water_.store(index + 1, std::memory_order_release);
  }
  base_[index].id_or_link.store(id, std::memory_order_relaxed);
  return base_[index];
}

void Slab::rebuild_free_stack() {
  const std::uint32_t hw = high_water();
  // Highest first, so the lowest free index is on top (reused first).
  for (std::uint32_t i = hw; i-- > 0;) {
    if (base_[i].state.load(std::memory_order_relaxed) == RecordState::free) {
      free_one(make_slot_ref(shard_, i));
    }
  }
}

}  // namespace hotq::engine
