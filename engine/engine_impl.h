// engine/engine_impl.h — the engine's internal structures (see
// docs/architecture.md for the picture, engine.cc for the operations).
//
// Concurrency contract, in one place:
//
//   Queue table    `table_mu_` guards creation, drop and the name map. A
//                  Queue object, once made, lives until the engine dies; a
//                  drop bumps its generation so every QueueId naming it turns
//                  stale, and a later create may reuse the object.
//   Queue guard    every operation on a queue raises the queue's per-shard
//                  `in_flight` count (on the caller's home shard, so no shared
//                  cache line) and then checks the generation; drop changes
//                  the generation and then waits for every in_flight to reach
//                  zero. Both sides are seq_cst: a Dekker handshake. Blocking
//                  calls leave the guard before they park.
//   Rings          lock-free (engine/ring.h). A ready job's handle is in
//                  exactly one ring slot; popping it gives the popper the job.
//   Shard lock     `Shard::mu` guards the shard's timing wheel and every
//                  transition into, out of, or within `delayed` and `leased`
//                  for the records of that shard's slab (wherever the caller
//                  runs). Lease validation happens under it.
//   Dead set       `Queue::dead_mu` guards the queue's dead-letter map. Lock
//                  order: a shard lock, then a dead_mu; never the reverse.
//   Counters       per queue and shard, relaxed atomics, summed on read.
#ifndef HOTQ_ENGINE_ENGINE_IMPL_H_
#define HOTQ_ENGINE_ENGINE_IMPL_H_

#include <hotq/clock.h>
#include <hotq/engine.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/dedup_table.h"
#include "engine/histogram.h"
#include "engine/job_table.h"
#include "engine/log_credit.h"
#include "engine/log_state.h"
#include "engine/mutex.h"
#include "engine/rate_limiter.h"
#include "engine/ring.h"
#include "engine/timing_wheel.h"
#include "engine/wait_signal.h"
#include "wal/fs.h"
#include "wal/log_writer.h"
#include "wal/recovery.h"

namespace hotq::engine {

// Shared by engine.cc and durable.cc.
inline constexpr std::uint64_t ns_per_ms = 1'000'000;
inline std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

inline std::uint64_t ms_to_ns(std::uint64_t ms) {
  return ms > UINT64_MAX / ns_per_ms ? UINT64_MAX : ms * ns_per_ms;
}

inline bool valid_queue_name(std::string_view name) {
  if (name.empty() || name.size() > queue_name_bytes_max) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == ':';
  });
}

inline bool valid_queue_options(const QueueOptions& o) {
  return o.capacity_jobs_max >= 1 && o.capacity_jobs_max <= capacity_jobs_limit &&
         o.priority_levels >= 1 && o.priority_levels <= priority_levels_max &&
         o.lease_ms_default >= 1 && o.lease_ms_default <= lease_ms_max &&
         o.attempts_max >= 1 && o.attempts_max <= attempts_limit &&
         o.payload_bytes_max <= payload_bytes_limit && o.backoff.base_ms <= delay_ms_max &&
         o.backoff.cap_ms <= delay_ms_max && o.backoff.jitter_percent <= 100 &&
         (o.ordering == Ordering::sharded || o.ordering == Ordering::fifo) &&
         o.leased_max <= capacity_jobs_limit && o.dedup_window_ms >= 1 &&
         o.dedup_window_ms <= dedup_window_ms_max && o.dedup_keys_max <= dedup_keys_limit &&
         (o.rate_limit.tokens_per_interval == 0 ||
          (o.rate_limit.interval_ms >= 1 && o.rate_limit.interval_ms <= delay_ms_max &&
           o.rate_limit.tokens_per_interval <= rate_tokens_limit &&
           o.rate_limit.burst_tokens <= rate_tokens_limit));
}

using Handle = std::uint64_t;  // a SlotRef, widened for the ring
using Ring = MpmcRing<Handle>;

// Cumulative counters and gauges of one queue on one shard.
enum Counter : std::uint32_t {
  // Touched by every job: kept on the cache line of in_flight (see below).
  c_enqueued,
  g_ready0,   // gauges: may go negative on one shard, sum is right. Handles
              // of priority p made ready, minus those removed other than by a
              // lease (cancel, purge, re-prioritise); leases count in l_taken0.
  // The rest.
  c_retried = g_ready0 + priority_levels_max,
  c_failed,
  c_expired,
  c_dead_lettered,
  c_redriven,
  c_rejected_full,
  c_rate_limited,
  c_dedup_hits,
  c_cancelled,
  c_purged,
  g_delayed,
  g_dead,
  g_stale,    // outdated handles still in rings (each holds a unit of capacity)
  counter_count,
};

// Counters written only under the lock of the slab shard with the same index
// as the QueueShard (the shard whose records they count): one writer at a
// time, so a plain load and store instead of a locked read-modify-write.
// These are the ones every job's reserve and ack touch.
enum LockedCounter : std::uint32_t {
  l_completed,
  l_leased,   // gauge: leases held
  l_taken0,   // ready handles of priority p leased: l_taken0 + p
  locked_count = l_taken0 + priority_levels_max,
};

struct alignas(64) QueueShard {
  std::atomic<std::uint32_t> in_flight{0};
  std::array<std::atomic<std::int64_t>, counter_count> counters{};
  // Written only under the lock of the shard with the same index (the
  // shard whose records they measure): see lease_locked and settle_one.
  std::array<std::atomic<std::int64_t>, locked_count> locked{};
  LatencyHistogram wait_hist;  // enqueue to first reserve
  LatencyHistogram run_hist;   // reserve to ack
  std::array<std::unique_ptr<Ring>, priority_levels_max> rings;

  void add(Counter c, std::int64_t n) {
    counters[c].fetch_add(n, std::memory_order_relaxed);  // relaxed: statistics only
  }
  // Caller holds the lock of the slab shard with this QueueShard's index.
  // relaxed: statistics; the lock orders the writers, readers want no order.
  void add_locked(LockedCounter c, std::int64_t n) {
    locked[c].store(locked[c].load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

struct DeadEntry {
  SlotRef slot = 0;
  DeadReason reason = DeadReason::failed;
  std::uint64_t dead_ns = 0;
  std::string error;
};

struct Queue {
  std::uint32_t index = 0;
  // Generation of the live queue in this slot; bumped by drop. seq_cst: see
  // the queue guard above.
  std::atomic<std::uint32_t> generation{0};
  std::string name;
  QueueOptions options;
  std::uint64_t lease_ns_default = 0;
  std::unique_ptr<RateLimiter> limiter;  // null: no rate limit
  std::unique_ptr<DedupTable> dedup;     // null: dedup off (dedup_keys_max 0)
  // Durable engines: held by a keyed enqueue from its claims until its
  // records are appended (or its keys released), and by a duplicate answer,
  // so that a duplicate is only ever answered for a job whose enqueue record
  // has an LSN — which the answer then waits for (Engine::Impl::enqueue_some).
  Mutex dedup_log_mu;

  // release/acquire: pause()/resume() publish the flag to reserve.
  alignas(64) std::atomic<bool> paused{false};
  Mutex pause_mu;  // orders pause()/resume() calls with their log records
  // Jobs leased now, kept only when options.leased_max != 0.
  alignas(64) std::atomic<std::int64_t> leased_now{0};

  // Jobs held in any state: the back-pressure count.
  alignas(64) std::atomic<std::int64_t> jobs{0};
  alignas(64) WaitSignal ready_signal;  // a job may have become ready
  alignas(64) WaitSignal space_signal;  // room may have appeared
  std::unique_ptr<QueueShard[]> shards;

  Mutex dead_mu;
  std::map<JobId, DeadEntry> dead HOTQ_GUARDED_BY(dead_mu);

  QueueId id() const {
    return (generation.load(std::memory_order_relaxed) << queue_index_bits) | index;
  }
  static constexpr std::uint32_t queue_index_bits = 12;
  static_assert(queues_max <= 1u << queue_index_bits);
  // A QueueId's other 20 bits hold the generation (odd: live), so an index
  // serves at most (2^20 - 1 + 1) / 2 queues; create_queue then retires it
  // (a wrapped generation would give an old queue's id again).
  static constexpr std::uint32_t generation_max = (1u << (32 - queue_index_bits)) - 1;
};

struct alignas(64) Shard {
  Shard(std::uint32_t index, std::uint64_t tick_ns, std::uint64_t now_ns, std::uint64_t seed)
      : slab(index), wheel(tick_ns, now_ns), rng(seed | 1) {}

  Slab slab;
  Mutex mu;
  TimingWheel wheel HOTQ_GUARDED_BY(mu);
  std::uint64_t rng HOTQ_GUARDED_BY(mu);
  // The latest time the wheel was advanced to. Callers read the clock before
  // taking mu, so one may arrive with an earlier time than the last advance;
  // the wheel's time never goes backwards.
  std::uint64_t advanced_ns HOTQ_GUARDED_BY(mu) = 0;
  // wheel.next_deadline_ns(), stored after every change under mu so that
  // callers can tell "nothing due" without the lock. acquire/release: a
  // caller that sees a due time then takes mu anyway; the value is a hint.
  alignas(64) std::atomic<std::uint64_t> next_due_ns{UINT64_MAX};
};

// A histogram's percentiles as the public stats carry them.
inline LatencySummary summarize(const LatencyHistogram::Snapshot& s) {
  LatencySummary out;
  out.count = s.count;
  out.p50_ns = s.percentile(0.5);
  out.p99_ns = s.percentile(0.99);
  out.p999_ns = s.percentile(0.999);
  out.max_ns = s.max_ns;
  return out;
}

}  // namespace hotq::engine

namespace hotq {

using engine::LatencyHistogram;

class Engine::Impl {
 public:
  explicit Impl(const EngineOptions& options);
  ~Impl();

  // Durability (engine/durable.cc). Replays what `fs` holds into this
  // (still private) engine and starts the log; the engine is durable after.
  Status open_wal(const EngineOptions& options, std::unique_ptr<wal::Fs> fs,
                  std::string_view backend_note);
  const std::string& open_report() const { return open_report_; }
  // Takes a snapshot now (waits for one already running). not_supported in
  // memory; io_error or corruption with a message.
  Status snapshot();
  // With `commit`, the log's commit-latency histogram is also added there
  // (the same read the summary comes from; nothing in memory).
  WalStats wal_stats(engine::LatencyHistogram::Snapshot* commit = nullptr) const;
  // Stops the snapshot thread (close() and the destructor).
  void stop_snapshots();

  // Asynchronous durability (durable.cc): tickets and completion callbacks.
  bool is_durable(std::uint64_t lsn) const;
  Code wait_ticket(std::uint64_t lsn);
  void on_durable(std::uint64_t lsn, std::function<void(Code)> done);
  // enqueue() without the wait; *lsn: the last LSN logged (0: none).
  BatchResult enqueue_nowait(QueueId queue, std::span<const EnqueueRequest> requests,
                             std::span<JobId> ids, std::span<Code> codes, std::uint64_t* lsn) {
    if (Code c = refuse_if_log_failed(); c != Code::ok) return {c, 0};
    return enqueue_logged(queue, requests, ids, codes, 0, false, lsn);
  }

  // See engine.h for the contracts of the public operations.
  void close();
  Result<QueueId> create_queue(std::string_view name, const QueueOptions& options);
  Result<QueueId> find_queue(std::string_view name);
  std::vector<QueueInfo> list_queues();
  Code drop_queue(QueueId queue);

  BatchResult enqueue(QueueId queue, std::span<const EnqueueRequest> requests,
                      std::span<JobId> ids, std::span<Code> codes, std::uint64_t timeout_ms,
                      bool wait);
  BatchResult reserve(QueueId queue, std::span<ReservedJob> out, std::uint64_t lease_ms,
                      std::uint64_t timeout_ms, bool wait);
  enum class Settle : std::uint8_t { ack, nack, fail, extend };
  struct SettleArgs {
    Settle how = Settle::ack;
    bool has_delay = false;
    std::uint64_t delay_ms = 0;   // nack's delay; extend's lease
    std::string_view error{};
    // Not null: the asynchronous form. Nothing is waited for; the last LSN
    // logged goes here.
    std::uint64_t* lsn_out = nullptr;
  };
  std::uint32_t settle(QueueId queue, std::span<const Lease> leases, std::span<Code> results,
                       const SettleArgs& args);

  Code bind(std::string_view topic, QueueId queue);
  Code unbind(std::string_view topic, QueueId queue);
  std::vector<QueueId> bindings(std::string_view topic);
  Result<std::vector<JobId>> publish(std::string_view topic, const EnqueueRequest& request,
                                     std::vector<Code>* codes);

  Code set_paused(QueueId queue, bool paused);
  Result<std::uint64_t> purge(QueueId queue);
  Code cancel(QueueId queue, JobId job);
  Result<JobInfo> inspect(QueueId queue, JobId job);
  Code change_waiting(QueueId queue, JobId job, std::optional<std::uint8_t> priority,
                      std::optional<std::uint64_t> delay_ms);
  Code change_waiting_logged(QueueId queue, JobId job, std::optional<std::uint8_t> priority,
                             std::optional<std::uint64_t> delay_ms, std::uint64_t* lsn);
  // Logs a change_waiting (set_priority and/or set_delay records, one group).
  Code log_change(QueueId queue, JobId job, std::optional<std::uint8_t> priority,
                  std::optional<std::uint64_t> delay_ms, std::uint64_t now, std::uint64_t* lsn);
  // The queue id names the live queue (table_mu_ held).
  bool queue_live_locked(QueueId id) const HOTQ_REQUIRES(table_mu_);

  Result<std::vector<DeadLetter>> list_dead(QueueId queue, JobId after_id, std::size_t limit);
  enum class DeadOp : std::uint8_t { redrive, remove };
  Result<std::uint64_t> dead_op(QueueId queue, DeadOp op, std::span<const JobId> ids,
                                bool all, std::uint64_t max_jobs);
  std::uint64_t run_timers();
  Result<QueueCounts> counts(QueueId queue);
  Result<QueueStats> stats(QueueId queue);
  // stats() with the summed latency histograms copied out too (the
  // Prometheus export re-buckets them; QueueStats has only percentiles).
  Result<QueueStats> stats(QueueId queue, engine::LatencyHistogram::Snapshot* wait,
                           engine::LatencyHistogram::Snapshot* run);
  QueueStats engine_stats();
  engine::RoomLedger room_ledger();
  void set_on_durable_pause(std::function<void()> pause) { on_durable_pause_ = std::move(pause); }
  void set_queue_generation_floor(std::uint32_t index, std::uint32_t generation) HOTQ_EXCLUDES(table_mu_);

 private:
  class Guard;
  std::uint32_t home_shard() const;

  // ---- durability (engine/durable.cc). With no log, all are no-ops.
  bool durable() const { return log_ != nullptr; }
  // wal_failed once the log has failed (nothing can be made durable).
  Code refuse_if_log_failed() const {
    // acquire: pairs with log_records' release when it stops logging.
    return log_ != nullptr && (log_->failed() || log_stopped_.load(std::memory_order_acquire))
               ? Code::wal_failed
               : Code::ok;
  }
  std::uint64_t to_wall(std::uint64_t clock_ns) const {
    return clock_ns == 0 ? 0 : static_cast<std::uint64_t>(static_cast<std::int64_t>(clock_ns) + wall_minus_clock_ns_);
  }
  std::uint64_t from_wall(std::uint64_t wall_ns) const;
  std::uint64_t wall_now_ns() const;
  // Appends records as one group; *lsn gets the last LSN.
  //
  // Admission (`admission` true): the caller has changed nothing yet, so a
  // refusal for lack of space is simply `no_space` to its caller. Otherwise
  // the change is made (or cannot be undone), so a record the log refuses
  // would leave the log behind memory: the engine then stops logging for
  // good (every later write: wal_failed), *lsn becomes lsn_unloggable and
  // the caller's wait reports wal_failed.
  //
  // Room (engine/log_credit.h): `room.holds` is the claims the append's new
  // jobs keep afterwards (wait_claim_bytes_ each); `room.brings` the claims
  // the caller holds and hands in (ended jobs' claims, credit it took
  // before). What the records and holds need beyond brings is taken from the
  // credit first: an admission without it is refused with no_space; a change
  // already made tries the log's unclaimed room (holds must be 0 then). What
  // is left over goes back to the credit. On a refusal the caller keeps its
  // brings.
  using Room = engine::LogRoom;
  Code log_records(std::span<const wal::Log::Record> records, std::uint64_t* lsn,
                   bool admission = false, Room room = {});
  // Takes `bytes` of credit before a change (ok, no_space, wal_failed or
  // closed); 0 bytes or no log: ok.
  Code take_room(std::uint64_t bytes);
  void give_room(std::uint64_t bytes) {
    if (credit_ != nullptr) credit_->give(bytes);
  }
  // What one record of `body_bytes` takes in the log, in a group of its own.
  static std::uint64_t framed_one(std::uint64_t body_bytes) {
    return wal::group_header_bytes + wal::record_span_bytes(body_bytes);
  }
  static constexpr std::uint64_t lsn_unloggable = UINT64_MAX;
  // Sync mode: waits until lsn is durable (ok) or the log failed (wal_failed).
  Code wait_durable(std::uint64_t lsn);
  // Records for one append: bodies encoded back to back, views made only
  // once all are encoded (the buffer may move while it grows). One per
  // thread (record_batch()), cleared by each user.
  struct RecordBatch {
    std::string bodies;
    std::vector<std::size_t> ends;
    std::vector<wal::RecordType> types;
    std::vector<std::string_view> tails;
    std::vector<wal::Log::Record> records;
    void clear() {
      bodies.clear();
      ends.clear();
      types.clear();
      tails.clear();
    }
    // Closes the record whose head was just appended to `bodies`.
    void end(wal::RecordType type, std::string_view tail = {}) {
      ends.push_back(bodies.size());
      types.push_back(type);
      tails.push_back(tail);
    }
    std::span<const wal::Log::Record> views();
  };
  static RecordBatch& record_batch();
  // Appends a batch as one group; *lsn rises to its last LSN.
  Code log_batch(RecordBatch& batch, std::uint64_t* lsn, bool admission = false, Room room = {}) {
    return log_records(batch.views(), lsn, admission, room);
  }
  // Log one state change of a job (caller holds the job's shard lock, which
  // orders its records); *lsn rises to the record's LSN. A failed append
  // needs no handling here: the log has failed and the caller's wait says so.
  // `brings`: as in Room (each takes what else it needs from the credit).
  void log_reserves(const engine::Queue& q, std::span<const ReservedJob> jobs, std::uint64_t* lsn,
                    std::uint64_t brings);
  void log_lease(wal::RecordType type, const engine::Queue& q, JobId job, std::uint64_t token,
                 std::uint64_t deadline_wall_ns, std::uint64_t* lsn, std::uint64_t brings);
  void log_nack(const engine::Queue& q, const Lease& lease, std::uint64_t run_at_wall_ns,
                std::string_view error, std::uint64_t* lsn, std::uint64_t brings);
  void log_dead(const engine::Queue& q, JobId job, DeadReason reason, std::uint64_t dead_wall_ns,
                std::string_view error, std::uint64_t* lsn, std::uint64_t brings);
  // What a nack or a dead record with `error` takes (framed_one).
  static std::uint64_t nack_framed(std::string_view error);
  static std::uint64_t dead_framed(std::string_view error);
  // Queues, topics, dedup keys and jobs of a replayed state into this
  // (still private) engine, each job in its old slot.
  Status materialize(engine::LogState& state);
  // Logs one record built by encode (a thread's RecordBatch); *lsn rises to its LSN.
  template <class Rec>
  Code log_one(wal::RecordType type, const Rec& rec, std::uint64_t* lsn, bool admission);
  // Logs ids as job-list records of `type` (redrive, purge, delete_dead).
  // Each job brings `brings_each` of claims (purge: its claim ends) and
  // keeps `holds_each` after (redrive: a claim for its new life). As an
  // admission it takes the room for every list before the first is logged.
  Code log_job_list(wal::RecordType type, QueueId queue, std::span<const JobId> ids,
                    std::uint64_t* lsn, bool admission, std::uint64_t brings_each = 0,
                    std::uint64_t holds_each = 0);
  // Snapshots (durable.cc): the background thread, and one snapshot.
  void snapshot_loop();
  Status take_snapshot() HOTQ_REQUIRES(snapshot_run_mu_);
  // take_snapshot(), counted in the stats (a snapshot with nothing new to
  // cover is neither a snapshot nor a failure).
  Status counted_snapshot() HOTQ_REQUIRES(snapshot_run_mu_);
  // Installs a queue at index (table_mu_ held); generation 0: the next one.
  engine::Queue* install_queue(std::uint32_t index, std::string_view name,
                               const QueueOptions& options, std::uint32_t generation)
      HOTQ_REQUIRES(table_mu_);

  std::uint64_t now_ns() const { return clock_->now_ns(); }

  Code validate(const engine::Queue& q, const EnqueueRequest& r) const;
  static void fill_record(engine::Record& r, const engine::Queue& q, const EnqueueRequest& req,
                          detail::PayloadBuf* payload, std::uint64_t now);
  // Enqueues a prefix of requests (jobs or duplicates); stops early when the
  // queue is full (*stopped_by = full) or the dedup table is (dedup_full).
  std::uint32_t enqueue_some(engine::Queue& q, engine::QueueShard& qs,
                             std::span<const EnqueueRequest> requests, std::span<JobId> ids,
                             std::span<Code> codes, Code* stopped_by, std::uint64_t* lsn);
  // enqueue() without the durable wait; *lsn: the last LSN logged (0: none).
  BatchResult enqueue_logged(QueueId queue, std::span<const EnqueueRequest> requests,
                             std::span<JobId> ids, std::span<Code> codes,
                             std::uint64_t timeout_ms, bool wait, std::uint64_t* lsn);
  // *lsn rises to the last reserve record's LSN (durable engines).
  std::uint32_t reserve_some(engine::Queue& q, engine::QueueShard& qs, std::span<ReservedJob> out,
                             std::uint64_t lease_ms, Code* why_none, std::uint64_t* lsn);
  // Leases the job of handle into out; false if the handle is outdated.
  bool lease_locked(engine::Shard& shard, engine::Queue& q, engine::Handle handle,
                    std::uint64_t lease_ms, std::uint64_t now, ReservedJob& out)
      HOTQ_REQUIRES(shard.mu);
  Code settle_one(engine::Queue& q, engine::QueueShard& qs, const Lease& lease,
                  const SettleArgs& args, std::uint64_t now,
                  engine::SlotRef* freed, std::uint32_t* freed_count, std::uint64_t* lsn);
  // Sends a record to the dead set (caller holds its shard's lock). `brings`:
  // the job's claim and any credit taken for the dead record (Room).
  void to_dead_locked(engine::Shard& shard, engine::Queue& q, engine::QueueShard& qs,
                      engine::Record& r, engine::SlotRef ref, DeadReason reason,
                      std::string_view error, std::uint64_t now, std::uint64_t* lsn,
                      std::uint64_t brings)
      HOTQ_REQUIRES(shard.mu);
  // Pushes a new handle for r (caller owns r or holds its shard lock). Reads
  // nothing of r after the push: the job may be gone by then.
  void make_ready(engine::Queue& q, engine::QueueShard& qs, engine::Record& r,
                  engine::SlotRef ref, std::uint64_t ready_since_ns,
                  bool replaces_handle = false);
  // make_ready's part on the record: r is ready since ready_since_ns with a
  // new nonce; returns the handle to push (after counting the job: once
  // pushed, nothing of r may be read). Recovery uses it for whole runs.
  static engine::Handle ready_handle(engine::Record& r, engine::SlotRef ref,
                                     std::uint64_t ready_since_ns) {
    r.set_ready_since(ready_since_ns);
    const engine::Handle h = engine::make_handle(++r.nonce, ref);
    // release: the consumer that pops the handle sees the record (see enqueue).
    r.state.store(engine::RecordState::ready, std::memory_order_release);
    return h;
  }
  void leave_leased(engine::Queue& q, std::uint32_t s);  // caller holds shard s's lock
  // A strict-FIFO queue has one ring per level (shard 0's): one total order.
  static engine::Ring& ring_for(engine::Queue& q, std::uint32_t shard, std::uint32_t level) {
    return *q.shards[q.options.ordering == Ordering::fifo ? 0 : shard].rings[level];
  }
  void schedule_locked(engine::Shard& shard, engine::Queue& q, engine::Record& r,
                       std::uint64_t deadline_ns) HOTQ_REQUIRES(shard.mu);
  void publish_next_due(engine::Shard& shard) HOTQ_REQUIRES(shard.mu);
  std::uint64_t poll_timers(std::uint64_t now, std::uint64_t fire_max);
  std::uint64_t backoff_ms(engine::Shard& shard, const Backoff& b, std::uint32_t attempt)
      HOTQ_REQUIRES(shard.mu);
  // Releases the payloads and slots of records the caller owns (state free)
  // and, unless told otherwise, their units of the queue's capacity (a
  // cancelled ready job's unit stays with its outdated handle).
  void free_records(engine::Queue& q, std::span<const engine::SlotRef> refs,
                    bool release_capacity = true);
  // Takes every delayed (and, with leased_too, leased) record of q out of the
  // timing wheels, marks it free and appends it to taken; returns how many
  // (and adds the leased ones among them to *leased, if given).
  // A scan of every shard's job table, each under its lock.
  std::uint64_t take_timed_records(engine::Queue& q, bool leased_too,
                                   std::vector<engine::SlotRef>& taken,
                                   std::uint64_t* leased = nullptr);
  // Pops every handle of the queue's rings; marks the live ready jobs free and
  // appends them to freed (the caller frees them); accounts for outdated
  // handles. Returns the number of live jobs.
  std::uint64_t drain_rings(engine::Queue& q, engine::QueueShard& qs,
                            std::vector<engine::SlotRef>& freed);
  engine::Shard* shard_of_job(JobId job) const;
  // Sums a queue's per-shard counters and histograms (the caller holds a
  // guard, or the table lock).
  void collect(engine::Queue& q, std::uint64_t now, QueueStats& out,
               LatencyHistogram::Snapshot& wait, LatencyHistogram::Snapshot& run);
  static bool live_in(const engine::Queue& q, const engine::Record& r, JobId job);
  std::uint64_t earliest_due() const;
  engine::Record& record(engine::SlotRef ref) const {
    return shards_[engine::slot_shard(ref)]->slab.at(engine::slot_index(ref));
  }
  engine::Queue& queue_at(std::uint32_t index) const {
    return *queues_[index].load(std::memory_order_acquire);
  }

  const Clock* clock_;
  const std::uint32_t shard_count_;
  std::vector<std::unique_ptr<engine::Shard>> shards_;
  std::atomic<bool> closed_{false};

  engine::Mutex table_mu_;
  std::unordered_map<std::string, std::uint32_t> names_ HOTQ_GUARDED_BY(table_mu_);
  // By queue index: the generation of the last queue a replayed log had
  // there (0: none), for indexes with no Queue object yet (create).
  std::vector<std::uint32_t> queue_generation_floor_ HOTQ_GUARDED_BY(table_mu_);
  // Topics: name -> bound queues. Lock order: table_mu_, then topics_mu_.
  engine::Mutex topics_mu_;
  std::map<std::string, std::vector<QueueId>, std::less<>> topics_ HOTQ_GUARDED_BY(topics_mu_);
  std::unique_ptr<wal::Fs> wal_fs_;
  std::unique_ptr<wal::Log> log_;
  // Set when a record of a change already made was refused (no space): the
  // log no longer follows memory, so nothing more is logged (log_records).
  std::atomic<bool> log_stopped_{false};
  // Claims on the log's room (durable engines only; engine/log_credit.h).
  std::unique_ptr<engine::LogCredit> credit_;
  // Claims each live job holds (engine/log_credit.h). A leased one: the
  // record that ends it (ack, or dead on expiry), in a group of its own. A
  // waiting one (ready, delayed): that and its next reserve record, or its
  // cancel or purge. The dead hold none.
  std::uint64_t end_claim_bytes_ = 0;
  std::uint64_t wait_claim_bytes_ = 0;
  // One reserve record, and one extend or expire record, each in its own group.
  std::uint64_t reserve_framed_ = 0;
  std::uint64_t lease_framed_ = 0;
  // The error text of a job dead-lettered by its lease's expiry.
  static constexpr std::string_view expired_error_text = "lease expired";
  // A lease whose expiry cannot be logged for lack of room is tried again
  // this much later (engine.cc, poll_timers).
  static constexpr std::uint64_t expiry_retry_ms = 100;
  Durability durability_ = Durability::sync;
  std::int64_t wall_minus_clock_ns_ = 0;
  std::string open_report_;
  const Clock* wall_clock_ = nullptr;  // null: CLOCK_REALTIME
  // Snapshots. snapshot_run_mu_ is held for a whole snapshot (one at a time:
  // the background thread's or snapshot()'s); snapshot_mu_ guards the rest.
  engine::Mutex snapshot_run_mu_;
  mutable engine::Mutex snapshot_mu_;
  engine::CondVar snapshot_cv_;
  bool snapshot_stop_ HOTQ_GUARDED_BY(snapshot_mu_) = false;
  std::thread snapshot_thread_;
  std::uint64_t snapshot_log_bytes_ = 0;     // options: 0 = never by size
  std::uint64_t snapshot_interval_ns_ = 0;   // options: 0 = never by time
  // The newest snapshot's LSN and the log's byte count when it was taken.
  std::atomic<std::uint64_t> snapshot_lsn_{0};
  // relaxed: statistics (written under snapshot_run_mu_, read by wal_stats()).
  std::atomic<std::uint64_t> snapshots_taken_{0};
  std::atomic<std::uint64_t> snapshot_failures_{0};
  std::string snapshot_error_ HOTQ_GUARDED_BY(snapshot_mu_);  // the newest failure's; "" after a success
  std::uint64_t snapshot_at_log_bytes_ HOTQ_GUARDED_BY(snapshot_run_mu_) = 0;
  // Completions: callbacks waiting for their LSN, run in LSN order by the
  // completion thread, which the log's writer wakes after each group.
  struct Completion {
    std::uint64_t lsn;
    std::uint64_t serial;  // FIFO among equal LSNs
    std::function<void(Code)> done;
    bool operator>(const Completion& o) const {
      return lsn != o.lsn ? lsn > o.lsn : serial > o.serial;
    }
  };
  void completion_loop();
  void stop_completions();
  engine::Mutex completion_mu_;
  engine::CondVar completion_cv_;
  std::vector<Completion> completions_ HOTQ_GUARDED_BY(completion_mu_);  // a min-heap
  std::uint64_t completion_serial_ HOTQ_GUARDED_BY(completion_mu_) = 0;
  bool completion_stop_ HOTQ_GUARDED_BY(completion_mu_) = false;
  bool completion_wake_ HOTQ_GUARDED_BY(completion_mu_) = false;
  std::thread completion_thread_;  // started by the first on_durable that must wait
  // Tests only (EngineOpener::pause_on_durable): called by on_durable() after
  // it found the ticket not yet durable and before it registers the
  // callback. Set before the engine is shared between threads.
  std::function<void()> on_durable_pause_;
  // Queue objects by index; each is made once and lives until the engine dies.
  // acquire/release: a thread that sees the pointer sees the constructed queue.
  std::unique_ptr<std::atomic<engine::Queue*>[]> queues_;
};

// Builds Engine objects (Engine's constructor is private): Engine::open and
// the tests that open an engine on an in-memory or faulty file layer.
class EngineOpener {
 public:
  // Engine::open after its checks of `options`: shards must be set (1 ..
  // shards_max; checked), and the other options valid.
  static Status open(const EngineOptions& options, std::unique_ptr<wal::Fs> fs,
                     std::string_view backend_note, std::unique_ptr<Engine>* engine);

  // The log-room ledger of a durable engine with no operation under way
  // (engine/log_credit.h), for tests.
  static engine::RoomLedger room_ledger(Engine& engine);

  // Tests only: the queue generation a log last recorded at `index`, as
  // open() learns it, so a test can bring an index to its last generation
  // without creating and dropping half a million queues. Before other
  // threads use the engine.
  static void set_queue_generation_floor(Engine& engine, std::uint32_t index,
                                         std::uint32_t generation);

  // Makes on_durable() call `pause` between finding the ticket not durable
  // and registering its callback, so a test can end the group right there.
  // Call before other threads use the engine.
  static void pause_on_durable(Engine& engine, std::function<void()> pause);

  // Engine::wal_stats() plus the log's commit-latency histogram (added to
  // *commit), for engine/prometheus.cc.
  static WalStats wal_stats_histogram(Engine& engine, engine::LatencyHistogram::Snapshot* commit);

  // Engine::stats() plus the queue's summed latency histograms (wait:
  // enqueue to first reserve; run: reserve to ack), read in the same pass.
  // For engine/prometheus.cc, which exports them as Prometheus histograms.
  static Result<QueueStats> stats_histograms(Engine& engine, QueueId queue,
                                             engine::LatencyHistogram::Snapshot* wait,
                                             engine::LatencyHistogram::Snapshot* run);
};

}  // namespace hotq

#endif  // HOTQ_ENGINE_ENGINE_IMPL_H_
