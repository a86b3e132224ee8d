// engine/job_map.h — the live jobs of a LogState, each in the slot its id
// names.
//
// Replay at open holds every live job here until the engine takes them
// (durable.cc, materialize), so this map's cost per job is paid once per
// job at every restart: at 10 M live jobs a node-based hash map cost about
// 130 bytes a job plus a malloc each, most of the replay's time going to
// first-touch page faults (docs/performance.md, "Recovery"). Here a job
// costs sizeof(LoggedJob) = 64 bytes, no allocation and no hashing: a job
// id names its slot (shard, index: engine/job_table.h), so the map is laid
// out like the engine's slabs — one reservation of address space per shard,
// MAP_NORESERVE, slot i at base + i — plus one bit per slot saying whether
// it holds a job. Iteration is in slot order, which is also the order the
// engine's slab is written in when the jobs are handed over.
//
// A slot holds at most one live job, as in the engine: a job whose slot
// already holds one (of any generation) is refused, not stacked.
//
// Limits. Indexes come from the input (a damaged or hostile log may name any
// slot < shard_jobs_max of any shard < shards_max): the reservations cost
// address space only (4 GiB + 8 MiB per shard named), memory is the pages
// the named slots touch — at most two pages (4 KiB of jobs, 4 KiB of bits)
// per job record in the input, and 64 + 1/8 bytes per slot when dense.
// A scan reads the bits up to the highest index named (at most 8 MiB per
// shard, of which the untouched pages read as the shared zero page).
//
// Thread safety: none. One thread builds and reads a JobMap.
#ifndef HOTQ_ENGINE_JOB_MAP_H_
#define HOTQ_ENGINE_JOB_MAP_H_

#include <hotq/job.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/job_table.h"
#include "util/check.h"

namespace hotq::engine {

// A dead job's last error: one pointer in the job (most jobs have none).
class ErrorText {
 public:
  ErrorText() noexcept = default;
  ErrorText(const ErrorText& other)
      : text_(other.text_ != nullptr ? std::make_unique<std::string>(*other.text_) : nullptr) {}
  ErrorText(ErrorText&&) noexcept = default;
  ErrorText& operator=(ErrorText other) noexcept {
    text_.swap(other.text_);
    return *this;
  }
  ~ErrorText() = default;

  void assign(std::string_view text) {
    text_ = text.empty() ? nullptr : std::make_unique<std::string>(text);
  }
  void clear() noexcept { text_.reset(); }
  std::string_view view() const noexcept {
    return text_ != nullptr ? std::string_view(*text_) : std::string_view();
  }
  // Hands the text over (empty after).
  std::string take() {
    std::string out = text_ != nullptr ? std::move(*text_) : std::string();
    text_.reset();
    return out;
  }

 private:
  std::unique_ptr<std::string> text_;
};

// A job as the log describes it (LogState::Job).
struct LoggedJob {
  PayloadRef payload;             // allocated once: materialize hands it to the record
  std::uint64_t enqueued_wall = 0;
  std::uint64_t at_wall = 0;      // run-at, lease deadline or death
  std::uint64_t order = 0;        // ready: the LSN it became ready at (ring order)
  ErrorText error;                // dead: the last error
  std::uint32_t lease_ms = 0;
  std::uint32_t nonce = 0;        // leased: the token's
  std::uint32_t generation = 0;   // the id's high half (set by JobMap::insert)
  std::uint16_t queue_index = 0;  // < queues_max
  std::uint16_t attempts = 0;
  std::uint16_t attempts_max = 0;
  std::uint8_t priority = 0;
  RecordState state = RecordState::ready;
  DeadReason reason = DeadReason::failed;
};
static_assert(sizeof(LoggedJob) == 64, "a logged job is 64 bytes: see job_map.h");
static_assert(queues_max <= UINT16_MAX + 1, "queue_index is 16 bits");

class JobMap {
 public:
  JobMap() = default;
  ~JobMap();
  JobMap(JobMap&& other) noexcept;
  JobMap& operator=(JobMap&& other) noexcept;
  // Copies every job (tests compare states; the engine never copies one).
  JobMap(const JobMap& other);
  JobMap& operator=(const JobMap& other);

  // The live job with exactly this id, or nullptr.
  LoggedJob* find(JobId id);
  const LoggedJob* find(JobId id) const;
  std::size_t count(JobId id) const { return find(id) != nullptr ? 1 : 0; }
  // True when id's slot holds a live job, of any generation.
  bool slot_taken(JobId id) const;

  // Puts `job` in id's slot; nullptr (and `job` unchanged) when the slot
  // holds a live job already. Sets the job's generation from the id.
  LoggedJob* insert(JobId id, LoggedJob&& job);
  // Removes the live job with this id; false when there is none.
  bool erase(JobId id);
  // Removes every job for which pred(id, job) is true.
  template <typename Pred>
  void erase_if(Pred&& pred) {
    for_each([&](JobId id, LoggedJob& job) {
      if (pred(id, static_cast<const LoggedJob&>(job))) erase(id);
    });
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Calls f(id, job) for every live job, by shard then index.
  template <typename F>
  void for_each(F&& f) {
    for (std::uint32_t s = 0; s < shards_.size(); ++s) {
      Shard& sh = shards_[s];
      scan(sh, [&](std::uint32_t index) { f(id_at(s, index, sh.jobs[index]), sh.jobs[index]); });
    }
  }
  template <typename F>
  void for_each(F&& f) const {
    for (std::uint32_t s = 0; s < shards_.size(); ++s) {
      const Shard& sh = shards_[s];
      scan(sh, [&](std::uint32_t index) {
        f(id_at(s, index, sh.jobs[index]), std::as_const(sh.jobs[index]));
      });
    }
  }

  // Hands every job over: calls f(id, job) for each, in for_each's order,
  // and gives the memory of the slots already visited back to the system as
  // it goes, so that whatever f allocates can reuse those pages (the
  // engine's records, at open) and the peak holds about one copy of the
  // jobs, not two. Empty after.
  template <typename F>
  void drain(F&& f) {
    for (std::uint32_t s = 0; s < shards_.size(); ++s) {
      Shard& sh = shards_[s];
      std::uint32_t released = 0;  // slots below this are given back
      scan(sh, [&](std::uint32_t index) {
        f(id_at(s, index, sh.jobs[index]), sh.jobs[index]);
        sh.jobs[index].~LoggedJob();
        sh.live[index / 64] &= ~(std::uint64_t{1} << (index % 64));
        --size_;
        if (index - released >= release_slots) released = release_below(sh, released, index);
      });
    }
    clear();
  }

  // Removes every job and gives all memory back.
  void clear();

 private:
  struct Shard {
    LoggedJob* jobs = nullptr;       // shard_jobs_max slots, reserved lazily
    std::uint64_t* live = nullptr;   // one bit per slot
    std::uint32_t end = 0;           // 1 + the highest index ever inserted
  };
  // Slots given back at a time while draining: 1 MiB of jobs.
  static constexpr std::uint32_t release_slots = (1u << 20) / sizeof(LoggedJob);

  static JobId id_at(std::uint32_t shard, std::uint32_t index, const LoggedJob& job) {
    return (JobId{job.generation} << 32) | make_slot_ref(shard, index);
  }
  template <typename F>
  static void scan(const Shard& sh, F&& f) {
    if (sh.live == nullptr) return;
    const std::uint32_t words = (sh.end + 63) / 64;
    for (std::uint32_t w = 0; w < words; ++w) {
      std::uint64_t bits = sh.live[w];
      while (bits != 0) {
        const auto bit = static_cast<std::uint32_t>(__builtin_ctzll(bits));
        bits &= bits - 1;
        f(w * 64 + bit);
      }
    }
  }
  // Gives back the whole pages of jobs from slot `from` (page-aligned, as
  // every value this returns) up to slot `index`, all visited; returns the
  // first slot not given back.
  static std::uint32_t release_below(Shard& sh, std::uint32_t from, std::uint32_t index);
  // The live job in id's slot, of any generation, or nullptr.
  const LoggedJob* in_slot(JobId id) const;
  Shard* shard_for(JobId id, bool create);
  const Shard* shard_at(JobId id) const;
  void release(Shard& sh);

  std::vector<Shard> shards_;  // by shard number; < shards_max
  std::size_t size_ = 0;
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_JOB_MAP_H_
