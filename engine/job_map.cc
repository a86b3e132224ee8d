#include "engine/job_map.h"

#include <sys/mman.h>
#include <unistd.h>

#include <new>

namespace hotq::engine {

namespace {

constexpr std::size_t jobs_bytes = std::size_t{shard_jobs_max} * sizeof(LoggedJob);
constexpr std::size_t live_bytes = std::size_t{shard_jobs_max} / 8;
static_assert(shard_jobs_max % 64 == 0);

// Address space only: pages cost memory when first written (MAP_NORESERVE).
void* reserve(std::size_t bytes) {
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  return mem;
}

std::uint64_t bit_of(std::uint32_t index) { return std::uint64_t{1} << (index % 64); }

}  // namespace

JobMap::~JobMap() { clear(); }

JobMap::JobMap(JobMap&& other) noexcept
    : shards_(std::move(other.shards_)), size_(std::exchange(other.size_, 0)) {
  other.shards_.clear();
}

JobMap& JobMap::operator=(JobMap&& other) noexcept {
  if (this != &other) {
    clear();
    shards_ = std::move(other.shards_);
    size_ = std::exchange(other.size_, 0);
    other.shards_.clear();
  }
  return *this;
}

JobMap::JobMap(const JobMap& other) {
  other.for_each([&](JobId id, const LoggedJob& job) { (void)insert(id, LoggedJob(job)); });
}

JobMap& JobMap::operator=(const JobMap& other) {
  if (this != &other) {
    JobMap copy(other);
    *this = std::move(copy);
  }
  return *this;
}

const JobMap::Shard* JobMap::shard_at(JobId id) const {
  const std::uint32_t s = slot_shard(slot_of(id));
  return s < shards_.size() && shards_[s].live != nullptr ? &shards_[s] : nullptr;
}

JobMap::Shard* JobMap::shard_for(JobId id, bool create) {
  const std::uint32_t s = slot_shard(slot_of(id));  // < shards_max: 6 bits
  if (s >= shards_.size()) {
    if (!create) return nullptr;
    shards_.resize(s + 1);
  }
  Shard& sh = shards_[s];
  if (sh.live == nullptr) {
    if (!create) return nullptr;
    sh.jobs = static_cast<LoggedJob*>(reserve(jobs_bytes));
    try {
      sh.live = static_cast<std::uint64_t*>(reserve(live_bytes));
    } catch (...) {
      ::munmap(sh.jobs, jobs_bytes);
      sh.jobs = nullptr;
      throw;
    }
  }
  return &sh;
}

const LoggedJob* JobMap::in_slot(JobId id) const {
  const Shard* sh = shard_at(id);
  if (sh == nullptr) return nullptr;
  const std::uint32_t index = slot_index(slot_of(id));
  return index < sh->end && (sh->live[index / 64] & bit_of(index)) != 0 ? &sh->jobs[index] : nullptr;
}

bool JobMap::slot_taken(JobId id) const { return in_slot(id) != nullptr; }

const LoggedJob* JobMap::find(JobId id) const {
  const LoggedJob* job = in_slot(id);
  return job != nullptr && job->generation == static_cast<std::uint32_t>(id >> 32) ? job : nullptr;
}

LoggedJob* JobMap::find(JobId id) {
  return const_cast<LoggedJob*>(std::as_const(*this).find(id));
}

LoggedJob* JobMap::insert(JobId id, LoggedJob&& job) {
  if (slot_taken(id)) return nullptr;
  Shard& sh = *shard_for(id, /*create=*/true);
  const std::uint32_t index = slot_index(slot_of(id));
  LoggedJob* at = new (&sh.jobs[index]) LoggedJob(std::move(job));
  at->generation = static_cast<std::uint32_t>(id >> 32);
  sh.live[index / 64] |= bit_of(index);
  if (index >= sh.end) sh.end = index + 1;
  ++size_;
  return at;
}

bool JobMap::erase(JobId id) {
  LoggedJob* job = find(id);
  if (job == nullptr) return false;
  const std::uint32_t index = slot_index(slot_of(id));
  job->~LoggedJob();
  shards_[slot_shard(slot_of(id))].live[index / 64] &= ~bit_of(index);
  --size_;
  return true;
}

std::uint32_t JobMap::release_below(Shard& sh, std::uint32_t from, std::uint32_t index) {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  static_assert(sizeof(LoggedJob) <= 4096 && 4096 % sizeof(LoggedJob) == 0);
  const std::size_t from_bytes = std::size_t{from} * sizeof(LoggedJob);
  const std::size_t end_bytes = std::size_t{index} * sizeof(LoggedJob) / page * page;
  HOTQ_DCHECK(from_bytes % page == 0);
  // Every slot below index was visited and destroyed; pages wholly below it
  // hold nothing (MADV_DONTNEED: they read as zeros if touched again).
  if (end_bytes > from_bytes) {
    // Advice: failing only keeps the pages until clear().
    (void)::madvise(reinterpret_cast<char*>(sh.jobs) + from_bytes, end_bytes - from_bytes,
                    MADV_DONTNEED);
  } else {
    return from;
  }
  return static_cast<std::uint32_t>(end_bytes / sizeof(LoggedJob));
}

void JobMap::release(Shard& sh) {
  if (sh.live == nullptr) return;
  scan(sh, [&](std::uint32_t index) { sh.jobs[index].~LoggedJob(); });
  ::munmap(sh.jobs, jobs_bytes);
  ::munmap(sh.live, live_bytes);
  sh = Shard{};
}

void JobMap::clear() {
  for (Shard& sh : shards_) release(sh);
  shards_.clear();
  size_ = 0;
}

}  // namespace hotq::engine
