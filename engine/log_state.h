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

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/job_table.h"
#include "wal/recovery.h"
#include "wal/snapshot.h"

namespace hotq::engine {

class LogState {
 public:
  struct Job {
    std::uint32_t queue_index = 0;
    std::uint8_t priority = 0;
    RecordState state = RecordState::ready;
    DeadReason reason = DeadReason::failed;
    std::uint16_t attempts = 0;
    std::uint16_t attempts_max = 0;
    std::uint32_t lease_ms = 0;
    std::uint32_t nonce = 0;        // leased: the token's
    std::uint64_t enqueued_wall = 0;
    std::uint64_t at_wall = 0;      // run-at, lease deadline or death
    std::uint64_t order = 0;        // ready: the LSN it became ready at (ring order)
    std::string payload;
    std::string error;              // dead: the last error
  };
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
  // Writes the whole state as snapshot records; dedup keys whose window has
  // passed at wall_now_ns are left out. Returns 0 or an errno.
  int write(wal::SnapshotWriter& writer, std::uint64_t wall_now_ns) const;

  // The generation of the last job each slot held (by job-table shard, then
  // slot index) and of the last queue each queue index held, dropped or not:
  // the engine restarts free slots and indexes past them, so no job id or
  // queue id is handed out twice across restarts. Kept by snapshots.
  std::vector<std::vector<std::uint32_t>> slot_generations;
  std::vector<std::uint32_t> queue_generations;

  std::map<std::uint32_t, QueueState> queues;  // by queue index
  std::map<std::string, std::vector<QueueId>, std::less<>> topics;
  std::unordered_map<JobId, Job> jobs;

 private:
  QueueState* queue_of(std::uint32_t queue_id);
  void saw_job(JobId id);
  void saw_queue(std::uint32_t queue_id);
  Job* job_of(std::uint32_t queue_id, JobId job);
  bool add_job(const QueueState& q, JobId id, Job job, const char** why);
  bool create_queue(std::uint32_t queue_id, std::string_view name, const QueueOptions& options,
                    bool paused, const char** why);
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_LOG_STATE_H_
