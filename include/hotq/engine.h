// hotq/engine.h — the job-queue engine. Start here.
//
//   std::unique_ptr<hotq::Engine> engine;
//   hotq::Status s = hotq::Engine::open({}, &engine);
//   hotq::QueueId q = engine->create_queue("emails").value();
//   engine->enqueue(q, {.payload = "hello"});
//   auto job = engine->reserve(q);            // Code::empty when none is ready
//   if (job.ok()) engine->ack(q, job->lease());
//
// The job state machine (delayed, ready, leased, dead; completed and cancelled
// jobs are gone) is drawn in <hotq/job.h> and docs/architecture.md.
//
// Delivery is at-least-once. A lease expires after its duration unless
// extended; the job is then handed out again (or dead-lettered when its
// attempts are used up), and the old holder's token is refused with
// Code::stale_lease by ack, nack, fail and extend.
//
// Thread safety: every member function may be called from any thread at once,
// except the destructor: destroy an engine only when no other thread uses it
// (call close() first to wake blocked callers, then join them).
//
// Time: delays, lease deadlines and backoff are fired by hierarchical timing
// wheels. Due timers are fired by any engine call that needs them (reserve,
// stats) and by run_timers(); an embedder that reserves rarely but wants
// expiries noticed promptly calls run_timers() from its own tick.
#ifndef HOTQ_ENGINE_H_
#define HOTQ_ENGINE_H_

#include <hotq/export.h>
#include <hotq/job.h>
#include <hotq/options.h>
#include <hotq/status.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotq {

// The outcome of a batch call: how many items succeeded (always a prefix of
// the request, in order) and why it stopped, if it stopped early.
struct BatchResult {
  Code code = Code::ok;     // ok when all succeeded
  std::uint32_t count = 0;  // items done, from the start of the batch
};

// Names the log records of asynchronous write calls: durable once the log's
// durable LSN reaches lsn. 0: nothing to wait for (an in-memory engine, or a
// call that changed nothing).
struct Ticket {
  std::uint64_t lsn = 0;
};

struct QueueInfo {
  QueueId id = 0;
  std::string name;
  QueueOptions options;
};

// Jobs of one queue by state, and what happened to them so far.
struct QueueCounts {
  std::uint64_t delayed = 0;
  std::uint64_t ready = 0;
  std::uint64_t ready_by_priority[priority_levels_max] = {};
  std::uint64_t leased = 0;
  std::uint64_t dead = 0;
  // Cumulative since open.
  std::uint64_t enqueued = 0;
  std::uint64_t completed = 0;      // acked
  std::uint64_t retried = 0;        // nacked with attempts left
  std::uint64_t failed = 0;         // fail()
  std::uint64_t expired = 0;        // leases that ran out (worker died or stalled)
  std::uint64_t dead_lettered = 0;  // entered the dead-letter set, for any reason
  std::uint64_t redriven = 0;
  std::uint64_t rejected_full = 0;  // enqueues refused with Code::full
  std::uint64_t rate_limited = 0;   // reserves refused (or delayed) by the rate limit
  std::uint64_t dedup_hits = 0;     // enqueues answered with Code::duplicate
  std::uint64_t cancelled = 0;      // jobs removed by cancel()
  std::uint64_t purged = 0;         // jobs removed by purge()
};

// A latency distribution: percentiles are upper bounds, within 1/16 (6.25%)
// of the true value (log-linear buckets), and never above max_ns.
struct LatencySummary {
  std::uint64_t count = 0;
  std::uint64_t p50_ns = 0;
  std::uint64_t p99_ns = 0;
  std::uint64_t p999_ns = 0;
  std::uint64_t max_ns = 0;
};

// Everything known about a queue now. Cheap enough to call often: per-shard
// counters and histograms summed on read, plus one look at each ring's head.
struct QueueStats {
  QueueCounts counts;
  // How long the oldest ready job has been ready (0 when none is): the head
  // of each ring is looked at, so with sharded ordering it is exact per
  // shard, and a cancelled or moved job at a head is skipped.
  std::uint64_t oldest_ready_age_ns = 0;
  LatencySummary wait;  // enqueue to first reserve (redriven jobs start again)
  LatencySummary run;   // reserve to ack (leases that carry reserved_ns)
};

// The write-ahead log of a durable engine (Engine::wal_stats()). An
// in-memory engine has none: durable is false and everything else is zero.
// Counters are cumulative since open.
struct WalStats {
  bool durable = false;           // the engine has a log (EngineOptions::wal_dir)
  bool failed = false;            // the log failed: every later write is refused
  std::string failure;            // why, naming the file, offset and errno (when failed)
  std::uint64_t durable_lsn = 0;  // every record up to this LSN is on disk
  std::uint64_t last_lsn = 0;     // the newest record handed out (durable or not)
  std::uint64_t groups = 0;       // group commits: one write + fdatasync each
  std::uint64_t records = 0;      // records in them
  std::uint64_t bytes = 0;        // bytes written in them, headers included
  std::uint64_t segments = 0;     // segment files holding the log after the newest snapshot
  std::uint64_t segments_started = 0;
  std::uint64_t segments_filled = 0;  // made from scratch (zero-filled), not recycled
  std::uint64_t roll_waits = 0;   // writes that waited for a segment to be made ready
  std::uint64_t no_space = 0;     // writes and reservations refused for lack of disk space
  // Each group's commit: the write + fdatasync call (io_uring: the linked
  // pair) as the log's writer thread timed it, start to return.
  LatencySummary commit;
  // Snapshots, taken in the background or by snapshot().
  std::uint64_t snapshot_lsn = 0;  // the newest snapshot covers the log up to here (0: none)
  std::uint64_t snapshots = 0;     // written since open
  std::uint64_t snapshot_failures = 0;
  std::string snapshot_error;      // the newest failure's message; empty after a success
};

// One job as inspect() sees it.
struct JobInfo {
  JobId id = 0;
  JobState state = JobState::ready;
  std::uint8_t priority = 0;
  std::uint32_t attempts = 0;       // counted attempts so far
  std::uint32_t attempts_max = 0;
  std::uint64_t enqueued_ns = 0;    // engine clock
  // delayed: when it becomes ready; leased: the lease deadline; ready: when
  // it became ready; dead: when it died.
  std::uint64_t state_ns = 0;
  DeadReason dead_reason = DeadReason::failed;  // dead only
  std::string error;                            // dead only: the last error text
  Payload payload;
};

class HOTQ_API Engine {
 public:
  // Opens an engine: in memory, or durable when options.wal_dir is set
  // (recovering what the directory holds: docs/wal-format.md). Fails with
  // invalid_argument naming the option; with locked when another engine has
  // the directory; with corruption naming the file and offset of damage
  // that is not a torn tail; with io_error.
  static Status open(const EngineOptions& options, std::unique_ptr<Engine>* engine);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Wakes every blocked call and refuses every later one with Code::closed.
  void close();

  // ---------------------------------------------------------------- queues
  // already_exists, invalid_argument (bad name or option), limit_exceeded
  // (queues_max queues exist, or every free slot has served its 2^19
  // queues: see queues_max), closed.
  Result<QueueId> create_queue(std::string_view name, const QueueOptions& options = {});
  // no_such_queue.
  Result<QueueId> find_queue(std::string_view name) const;
  std::vector<QueueInfo> list_queues() const;
  // Deletes the queue and every job in it. Blocked callers on it get
  // no_such_queue. Cost: a scan of the engine's job table.
  Code drop_queue(QueueId queue);

  // ---------------------------------------------------------------- enqueue
  // The job's id, or: duplicate (with the first job's id: has_value()),
  // full (at once), too_large, dedup_full, invalid_argument (priority, delay,
  // override or dedup key out of range), no_such_queue, closed.
  Result<JobId> enqueue(QueueId queue, const EnqueueRequest& request);
  // Like enqueue, but waits up to timeout_ms (engine clock) for room:
  // timed_out instead of full.
  Result<JobId> enqueue_wait(QueueId queue, const EnqueueRequest& request,
                             std::uint64_t timeout_ms);
  // Enqueues requests in order; ids[i] receives the id of requests[i] (for
  // a duplicate, the first job's id) and, if codes is given, codes[i] ok or
  // duplicate. Every request is validated first: one invalid request refuses
  // the whole batch (count 0). Otherwise a prefix is done; code is full or
  // dedup_full when it stopped early. At most batch_jobs_max requests;
  // ids.size() (and codes.size(), if not empty) >= requests.size().
  BatchResult enqueue_batch(QueueId queue, std::span<const EnqueueRequest> requests,
                            std::span<JobId> ids, std::span<Code> codes = {});

  // ---------------------------------------------------------------- topics (fan-out)
  // Binds a queue to a topic (made on first bind; names as for queues).
  // Idempotent. limit_exceeded at topics_max or topic_queues_max;
  // no_such_queue, invalid_argument, closed.
  Code bind(std::string_view topic, QueueId queue);
  // Unbinds (idempotent); a topic with no queue left is gone. Dropping a
  // queue unbinds it everywhere.
  Code unbind(std::string_view topic, QueueId queue);
  // The queues bound to topic, in bind order (empty for an unknown topic).
  std::vector<QueueId> bindings(std::string_view topic) const;
  // Enqueues the request into every queue bound to topic, all or none: if
  // one queue is full (full), refuses the payload (too_large), or is gone
  // (no_such_queue), nothing is enqueued anywhere. The payload is copied
  // once and shared by the jobs. Returns one job id per bound queue, in
  // bindings() order. An unknown topic (or one with no queue) is
  // no_such_queue.
  // With a dedup key, each bound queue checks it in its own window (the
  // same keys its enqueues use): a queue that holds the key gets no new job
  // (nor needs room) and its id is the job holding it. The result is ok
  // when any job was made, duplicate (with the ids) when every queue held
  // the key. A bound queue without dedup makes it invalid_argument; one out
  // of key room dedup_full (nothing made anywhere, no key kept). A duplicate
  // is durable only once the jobs holding the key are (as for enqueue).
  // codes (optional) says which: one per id, ok where that queue got a new
  // job, duplicate where it held the key; empty when the publish failed.
  Result<std::vector<JobId>> publish(std::string_view topic, const EnqueueRequest& request,
                                     std::vector<Code>* codes = nullptr);

  // ---------------------------------------------------------------- reserve
  // Leases the most urgent ready job for lease_ms (0: the job's own lease or
  // the queue's lease_ms_default): empty when none is ready.
  Result<ReservedJob> reserve(QueueId queue, std::uint64_t lease_ms = 0);
  // Waits up to timeout_ms for a job: timed_out. Parks without spinning.
  Result<ReservedJob> reserve_wait(QueueId queue, std::uint64_t timeout_ms,
                                   std::uint64_t lease_ms = 0);
  // Leases up to out.size() (<= batch_jobs_max) jobs, most urgent first.
  // count 0 with code empty when none is ready.
  BatchResult reserve_batch(QueueId queue, std::span<ReservedJob> out, std::uint64_t lease_ms = 0);
  // Waits up to timeout_ms for at least one job.
  BatchResult reserve_batch_wait(QueueId queue, std::span<ReservedJob> out,
                                 std::uint64_t timeout_ms, std::uint64_t lease_ms = 0);

  // ---------------------------------------------------------------- settle
  // Each returns ok, stale_lease (the lease expired, was redelivered or
  // settled: nothing changes), invalid_argument, no_such_queue or closed.
  // Completes the job: it is gone.
  Code ack(QueueId queue, Lease lease);
  // Acks each lease; results[i] receives the code for leases[i]. Returns the
  // number acked. results.size() >= leases.size(); at most batch_jobs_max.
  std::uint32_t ack_batch(QueueId queue, std::span<const Lease> leases, std::span<Code> results);
  // Retries the job after delay_ms, or after the queue's backoff when
  // delay_ms is empty; dead-letters it (attempts_nacked) when this was its
  // last attempt. error is kept as the job's last error if it dies.
  Code nack(QueueId queue, Lease lease, std::optional<std::uint64_t> delay_ms = std::nullopt,
            std::string_view error = {});
  // Dead-letters the job at once (reason failed), whatever attempts remain.
  Code fail(QueueId queue, Lease lease, std::string_view error);
  // Moves the lease deadline to now + lease_ms (heartbeat).
  Code extend(QueueId queue, Lease lease, std::uint64_t lease_ms);

  // ---------------------------------------------------------------- asynchronous writes
  // A sync-mode durable engine makes each write call wait for the group
  // commit that makes it durable. These forms return as soon as the change
  // is made in memory and its records are queued for the next group commit,
  // with a ticket, so one thread can have thousands of operations in one
  // fdatasync. Results are those of the waiting forms; until the ticket is
  // durable they are provisional: a crash may undo them (never part of one
  // call: a call's records are one group), and if the log fails first,
  // wait_durable() and on_durable() say wal_failed. A thread's later ticket
  // covers its earlier ones (LSNs only grow). In an in-memory engine the
  // ticket is 0 and already "durable".
  Result<JobId> enqueue_async(QueueId queue, const EnqueueRequest& request, Ticket* ticket);
  BatchResult enqueue_batch_async(QueueId queue, std::span<const EnqueueRequest> requests,
                                  std::span<JobId> ids, std::span<Code> codes, Ticket* ticket);
  Code ack_async(QueueId queue, Lease lease, Ticket* ticket);
  std::uint32_t ack_batch_async(QueueId queue, std::span<const Lease> leases,
                                std::span<Code> results, Ticket* ticket);
  Code nack_async(QueueId queue, Lease lease, std::optional<std::uint64_t> delay_ms,
                  std::string_view error, Ticket* ticket);
  Code fail_async(QueueId queue, Lease lease, std::string_view error, Ticket* ticket);

  // Whether everything the ticket names is on disk (false once the log failed).
  bool is_durable(Ticket ticket) const;
  // Waits until it is: ok, or wal_failed if the log failed first.
  Code wait_durable(Ticket ticket);
  // Calls done(ok or wal_failed) once, when the ticket is durable or the log
  // failed: at once in this thread if that is known now, else later on the
  // engine's completion thread (in LSN order). done may call the engine, but
  // must not block on durability (no sync-mode write calls, no
  // wait_durable): it would hold up every later completion. Callbacks still
  // waiting at close() are called then (with ok if close() made them durable).
  void on_durable(Ticket ticket, std::function<void(Code)> done);

  // ---------------------------------------------------------------- queue operations
  // Pause: reserve hands out nothing (Code::paused; blocking reserves wait)
  // until resume. Enqueue, settling and timers go on. Idempotent.
  Code pause(QueueId queue);
  Code resume(QueueId queue);
  // Deletes every ready and delayed job of the queue (leased and dead jobs
  // stay). Returns how many. Cost: a scan of the queue's shards' job tables.
  Result<std::uint64_t> purge(QueueId queue);
  // Deletes one ready or delayed job: ok, or no_such_job (gone, or leased or
  // dead). A cancelled ready job is never delivered; its unit of capacity is
  // released when a consumer next passes its place in the ring.
  Code cancel(QueueId queue, JobId job);
  // The job's state, attempts, timestamps, last error and payload:
  // no_such_job when it is gone.
  Result<JobInfo> inspect(QueueId queue, JobId job);
  // Changes a waiting (ready or delayed) job's priority: ok, no_such_job,
  // invalid_argument (level), or full (a ready job's move needs a unit of
  // capacity until its old place in the ring is passed).
  Code set_priority(QueueId queue, JobId job, std::uint8_t priority);
  // Makes a waiting job ready after delay_ms from now (0: ready now). Same
  // results as set_priority.
  Code set_delay(QueueId queue, JobId job, std::uint64_t delay_ms);

  // ---------------------------------------------------------------- dead letters
  // Up to limit dead letters with id > after_id, in id order. Pass the last
  // id seen as after_id to continue.
  Result<std::vector<DeadLetter>> list_dead(QueueId queue, JobId after_id = 0,
                                            std::size_t limit = 100) const;
  // Makes dead jobs ready again with their attempts reset; oldest id first,
  // at most max_jobs. Returns the number redriven.
  Result<std::uint64_t> redrive(QueueId queue, std::uint64_t max_jobs = UINT64_MAX);
  // Redrives the named dead jobs; ids not in the dead set are skipped.
  Result<std::uint64_t> redrive_ids(QueueId queue, std::span<const JobId> ids);
  // Deletes the named dead jobs (they are gone); returns how many.
  Result<std::uint64_t> delete_dead(QueueId queue, std::span<const JobId> ids);
  // Deletes every dead job of the queue; returns how many.
  Result<std::uint64_t> purge_dead(QueueId queue);

  // ---------------------------------------------------------------- time, counts
  // Fires every due timer (delays, lease expiries, backoff) on every shard.
  // Returns the number fired.
  std::uint64_t run_timers();
  // Counts of the queue's jobs by state and its cumulative counters. Fires due
  // timers first, so the counts are current.
  Result<QueueCounts> counts(QueueId queue);
  // counts() plus the age of the oldest ready job and the latency histograms.
  Result<QueueStats> stats(QueueId queue);
  // The same over every queue of the engine (counts and histograms summed;
  // the oldest ready age is the maximum).
  QueueStats engine_stats();

  // The log's counters, commit latency and snapshots (see WalStats). For a
  // stats page, not the hot path: atomic loads, a histogram read and short
  // locks (one is the log's append lock).
  // Callable from any thread, also after the log failed.
  WalStats wal_stats() const;

  // What open() found and did, one line each: the WAL back-end chosen, the
  // snapshot and records replayed, a torn tail cut (file, offset, bytes),
  // unfinished files removed. Empty for an in-memory engine.
  const std::string& open_report() const;

  // Durable engines: writes a snapshot of the state at the last durable LSN
  // now (the engine goes on meanwhile; a snapshot already running is waited
  // for), then frees the log segments it covers. Snapshots are also taken in
  // the background (EngineOptions::wal_snapshot_log_bytes, _interval_ms).
  // not_supported in memory; io_error or corruption with a message.
  Status snapshot();

  class Impl;

 private:
  friend class EngineOpener;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hotq

#endif  // HOTQ_ENGINE_H_
