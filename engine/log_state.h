// engine/log_state.h — the state a log describes, apart from any engine.
//
// Replay at open builds one from the newest snapshot and the log after it,
// then the engine places its jobs into their old slots (durable.cc,
// materialize). The background snapshotter builds one the same way, from the
// previous snapshot and the log up to a durable LSN, and writes it out: so a
// snapshot is exactly the state at one LSN, taken without stopping the
// engine at all (docs/architecture.md, "Snapshots").
//
// apply() is strict: a record that does not fit the state (an ack of a job
// that is not leased with that token, an enqueue of a live id, a queue that
// is gone) is refused with a message. The engine logs each job's changes in
// the order it makes them (durable.cc), so a refusal means damage or a bug,
// never a race.
//
// Thread safety: none. One thread builds and reads a LogState.
#ifndef HOTQ_ENGINE_LOG_STATE_H_
#define HOTQ_ENGINE_LOG_STATE_H_

#include <hotq/job.h>
#include <hotq/options.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/job_map.h"
#include "engine/job_table.h"
#include "wal/records.h"
#include "wal/recovery.h"
#include "wal/snapshot.h"

namespace hotq::engine {

// The generation of the last job each slot of one job-table shard held, by
// slot index (< shard_jobs_max); 0 for a slot that never held one.
//
// Sparse, because the indexes come from the input: any log or snapshot
// record may name a slot up to shard_jobs_max - 1 (checksums do not stop a
// damaged or hostile file), and a table sized by the highest index named
// would let one record demand 256 MiB per shard (found by fuzz_snapshot).
// Slots are kept in chunks of chunk_slots, each allocated zeroed when a
// non-zero generation is first noted in it, in a map by chunk number.
//
// Limit: memory is chunk_bytes (plus a map node) per distinct chunk the
// input reaches, whatever the indexes. A chunk is reached by a job id (the
// smallest carrier is a 16-byte publish target) or by a snap_generations
// run (a record of at least 48 bytes reaches at most two chunks, plus one
// per 4 KiB of entries), so at most 256 bytes per input byte; and at most
// 256 MiB per shard, what a vector of all 2^26 slots takes. A shard used
// densely up to n slots costs about 4n bytes, as a vector would. get() and
// note() take O(log chunks); for_each visits each chunk held once.
class GenerationTable {
 public:
  // A page of generations: small enough that naming one slot claims only
  // 4 KiB, large enough that a dense table's map nodes stay ~1% of it.
  static constexpr std::uint32_t chunk_slots = 1024;
  static constexpr std::size_t chunk_bytes = chunk_slots * sizeof(std::uint32_t);
  static_assert(shard_jobs_max % chunk_slots == 0);

  // 0 when slot `index` never held a job.
  std::uint32_t get(std::uint32_t index) const;
  // Raises slot `index` to `generation` (keeps the larger). A 0 generation
  // says nothing and allocates nothing.
  void note(std::uint32_t index, std::uint32_t generation);

  // Calls f(index, generation) for every slot with a non-zero generation,
  // in index order, while f returns true; false when f stopped it.
  template <typename F>
  bool for_each(F&& f) const {
    for (const auto& [number, chunk] : chunks_) {
      for (std::uint32_t i = 0; i < chunk_slots; ++i) {
        if (chunk[i] != 0 && !f(number * chunk_slots + i, chunk[i])) return false;
      }
    }
    return true;
  }

  bool empty() const { return chunks_.empty(); }
  std::size_t chunk_count() const { return chunks_.size(); }
  // The chunks' bytes (each map node adds a few dozen).
  std::size_t bytes() const { return chunks_.size() * chunk_bytes; }

 private:
  using Chunk = std::array<std::uint32_t, chunk_slots>;
  std::map<std::uint32_t, Chunk> chunks_;  // by index / chunk_slots
};

class LogState {
 public:
  using Job = LoggedJob;  // engine/job_map.h
  struct DedupEntry {
    JobId job = 0;
    std::uint64_t first_wall = 0;   // the key's first enqueue
  };
  struct QueueState {
    std::uint32_t id = 0;           // QueueId: generation and index
    std::string name;
    QueueOptions options;
    bool paused = false;
    std::unordered_map<std::string, DedupEntry> dedup;
  };

  // A log record, in LSN order. false with *error when it does not fit.
  bool apply(const wal::LogRecord& record, std::string* error);
  // A snapshot record (docs/wal-format.md, "Snapshots").
  bool apply_snapshot(const wal::LogRecord& record, std::string* error);
  // After the last record of a snapshot: frees what apply_snapshot kept
  // only for the snapshot's later records (its shared payloads by ref).
  void end_snapshot() { snapshot_payloads_.clear(); }
  // Writes the whole state as snapshot records; dedup keys whose window has
  // passed at wall_now_ns are left out. Bytes shared by several jobs (one
  // publish's) are written once, as a snap_payload record the jobs name.
  // Returns 0 or an errno.
  int write(wal::SnapshotWriter& writer, std::uint64_t wall_now_ns) const;

  // The generation of the last job each slot held (by job-table shard, then
  // slot index) and of the last queue each queue index held, dropped or not:
  // the engine restarts free slots and indexes past them, so no job id or
  // queue id is handed out twice across restarts. Kept by snapshots.
  // Slots are sparse (GenerationTable: memory follows the slots named, not
  // the highest index); queue indexes are < queues_max, so a dense vector of
  // at most 16 KiB.
  std::vector<GenerationTable> slot_generations;  // < shards_max of them
  std::vector<std::uint32_t> queue_generations;

  std::map<std::uint32_t, QueueState> queues;  // by queue index
  std::map<std::string, std::vector<QueueId>, std::less<>> topics;
  JobMap jobs;  // by id; slot order

 private:
  QueueState* queue_of(std::uint32_t queue_id);
  void saw_job(JobId id);
  void saw_queue(std::uint32_t queue_id);
  LoggedJob* job_of(std::uint32_t queue_id, JobId job);
  bool add_job(const QueueState& q, JobId id, Job job, const char** why);
  bool create_queue(std::uint32_t queue_id, std::string_view name, const QueueOptions& options,
                    bool paused, const char** why);
  bool add_snapshot_job(const wal::SnapJobRec& r, PayloadRef payload, std::string* error);

  // The snapshot's snap_payload records so far, by ref, while it loads.
  std::unordered_map<std::uint64_t, PayloadRef> snapshot_payloads_;
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_LOG_STATE_H_
