// engine/durable.cc — the engine's side of the WAL: what each state change
// logs, and how a log replays into an engine at open (docs/wal-format.md).
//
// Ordering. A job's records reach the log in the order its changes happen:
// its enqueue is logged before its handle is visible to any consumer, and
// every later change (reserve, extend, ack, nack, expiry, death) is logged
// under the lock of the job's shard, which each of those changes holds. So
// replaying the log in LSN order redoes every job's history in order.
//
// Replay builds a LogState first (a job's final state is known only at the
// end of the log), then materialises it into the queue table, slabs, rings,
// timing wheels and dead sets, each job in its old slot so that its id and
// its lease token stay valid across the restart.
//
// Snapshots are built the same way, off to the side: a background thread
// loads the newest snapshot and the log after it up to a durable LSN into a
// LogState, writes that, and recycles the segments it covers. The engine is
// never stopped for it; the cost is that thread's reading and a transient
// copy of the live jobs (docs/architecture.md, "Snapshots").
#include <hotq/engine.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include "engine/engine_impl.h"
#include "util/check.h"
#include "util/thread_name.h"
#include "wal/records.h"
#include "wal/snapshot.h"

namespace hotq {

using engine::MutexLock;
using engine::Queue;
using engine::QueueShard;
using engine::Record;
using engine::RecordState;
using engine::SlotRef;
using engine::ms_to_ns;
using engine::saturating_add;
using engine::valid_queue_name;
using engine::valid_queue_options;

namespace {

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// A recovery failure as the engine reports it.
Status status_of(wal::RecoveryStatus st, const std::string& message) {
  return Status(st == wal::RecoveryStatus::io_error ? Code::io_error : Code::corruption, message);
}

// The newest valid snapshot of fs into state (nothing: covered_lsn 0).
wal::RecoveryStatus load_snapshot_into(wal::Fs& fs, engine::LogState& state,
                                       wal::SnapshotInfo* info, std::vector<std::string>* notes,
                                       std::string* error) {
  const wal::RecoveryStatus st = wal::load_snapshot(
      fs, [&](const wal::LogRecord& r, std::string* e) { return state.apply_snapshot(r, e); }, info,
      notes, error);
  state.end_snapshot();
  return st;
}

}  // namespace

std::uint64_t Engine::Impl::from_wall(std::uint64_t wall_ns) const {
  if (wall_ns == 0) return 0;
  const std::int64_t v = static_cast<std::int64_t>(wall_ns) - wall_minus_clock_ns_;
  return v <= 0 ? 1 : static_cast<std::uint64_t>(v);  // the past: due at once
}

Code Engine::Impl::take_room(std::uint64_t bytes) {
  if (credit_ == nullptr || bytes == 0) return Code::ok;
  switch (credit_->take(bytes)) {
    case wal::ReserveResult::ok:
      return Code::ok;
    case wal::ReserveResult::no_space:
      return Code::no_space;
    case wal::ReserveResult::closed:
      return Code::closed;
    case wal::ReserveResult::failed:
      break;
  }
  return Code::wal_failed;
}

Code Engine::Impl::log_records(std::span<const wal::Log::Record> records, std::uint64_t* lsn,
                               bool admission, Room room) {
  // acquire: see refuse_if_log_failed. A record about a job whose earlier
  // change was refused would make the log unreadable (an ack of a lease the
  // log never saw): once stopped, nothing more goes in.
  if (log_stopped_.load(std::memory_order_acquire)) {
    *lsn = lsn_unloggable;
    return Code::wal_failed;
  }
  // The room: the records' bytes and the claims kept after, less what the
  // caller brings, come from the credit.
  const std::uint64_t framed = wal::Log::framed_bytes(records);
  const std::uint64_t needs = framed + room.holds;
  std::uint64_t taken = 0;
  std::uint64_t claimed = std::min(framed, room.brings);  // claims the append consumes
  Code refused = Code::ok;
  if (needs > room.brings) {
    refused = take_room(needs - room.brings);
    if (refused == Code::ok) {
      taken = needs - room.brings;
      claimed = framed;
    } else if (!admission && refused == Code::no_space && room.holds == 0) {
      refused = Code::ok;  // a change made already: the log's unclaimed room may do
    }
  }
  if (refused == Code::ok) {
    std::uint64_t last = 0;
    switch (log_->append(records, &last, claimed)) {
      case wal::AppendResult::ok:
        *lsn = std::max(*lsn, last);
        // Left over: what was brought or taken beyond what the append
        // consumed and the new jobs keep.
        give_room(room.brings + taken - claimed - room.holds);
        return Code::ok;
      case wal::AppendResult::too_large:
        refused = Code::too_large;
        break;
      case wal::AppendResult::closed:
        refused = Code::closed;
        break;
      case wal::AppendResult::no_space:
        refused = Code::no_space;
        break;
      case wal::AppendResult::failed:
        refused = Code::wal_failed;
        break;
    }
    give_room(taken);
  }
  if (refused == Code::wal_failed) {
    *lsn = lsn_unloggable;  // the log failed: every wait says so anyway
    return Code::wal_failed;
  }
  if (admission) return refused;
  // release: later appenders (and refuse_if_log_failed) see it. Set before
  // the caller releases the lock that orders the job's records.
  log_stopped_.store(true, std::memory_order_release);
  *lsn = lsn_unloggable;
  return Code::wal_failed;
}

Code Engine::Impl::wait_durable(std::uint64_t lsn) {
  if (log_ == nullptr || lsn == 0) return Code::ok;
  if (lsn == lsn_unloggable) return Code::wal_failed;
  if (durability_ != Durability::sync) return log_->failed() ? Code::wal_failed : Code::ok;
  return log_->wait_durable(lsn) ? Code::ok : Code::wal_failed;
}

// ------------------------------------------------------------------ logging

std::span<const wal::Log::Record> Engine::Impl::RecordBatch::views() {
  records.clear();
  std::size_t start = 0;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    records.push_back({types[i], std::string_view(bodies).substr(start, ends[i] - start), tails[i]});
    start = ends[i];
  }
  return records;
}

Engine::Impl::RecordBatch& Engine::Impl::record_batch() {
  thread_local RecordBatch batch;
  return batch;
}

void Engine::Impl::log_reserves(const Queue& q, std::span<const ReservedJob> jobs,
                                std::uint64_t* lsn, std::uint64_t brings) {
  RecordBatch& batch = record_batch();
  batch.clear();
  for (const ReservedJob& j : jobs) {
    wal::encode(wal::ReserveRec{q.id(), j.attempt, j.id, j.token, to_wall(j.lease_deadline_ns)},
                &batch.bodies);
    batch.end(wal::RecordType::reserve);
  }
  // A failed log fails the job's ack (or durable delivery) instead.
  (void)log_batch(batch, lsn, false, {.brings = brings});
}

void Engine::Impl::log_lease(wal::RecordType type, const Queue& q, JobId job, std::uint64_t token,
                             std::uint64_t deadline_wall_ns, std::uint64_t* lsn,
                             std::uint64_t brings) {
  RecordBatch& batch = record_batch();
  batch.clear();
  wal::encode(type, wal::LeaseRec{q.id(), job, token, deadline_wall_ns}, &batch.bodies);
  batch.end(type);
  (void)log_batch(batch, lsn, false, {.brings = brings});
}

void Engine::Impl::log_nack(const Queue& q, const Lease& lease, std::uint64_t run_at_wall_ns,
                            std::string_view error, std::uint64_t* lsn, std::uint64_t brings) {
  RecordBatch& batch = record_batch();
  batch.clear();
  wal::encode(wal::NackRec{q.id(), lease.job, lease.token, run_at_wall_ns,
                           error.substr(0, error_text_bytes_max)},
              &batch.bodies);
  batch.end(wal::RecordType::nack);
  (void)log_batch(batch, lsn, false, {.brings = brings});
}

void Engine::Impl::log_dead(const Queue& q, JobId job, DeadReason reason, std::uint64_t dead_wall_ns,
                            std::string_view error, std::uint64_t* lsn, std::uint64_t brings) {
  RecordBatch& batch = record_batch();
  batch.clear();
  wal::encode(wal::DeadRec{q.id(), static_cast<std::uint8_t>(reason), job, dead_wall_ns,
                           error.substr(0, error_text_bytes_max)},
              &batch.bodies);
  batch.end(wal::RecordType::dead);
  (void)log_batch(batch, lsn, false, {.brings = brings});
}

std::uint64_t Engine::Impl::nack_framed(std::string_view error) {
  std::string body;
  wal::encode(wal::NackRec{0, 0, 0, 0, error.substr(0, error_text_bytes_max)}, &body);
  return framed_one(body.size());
}

std::uint64_t Engine::Impl::dead_framed(std::string_view error) {
  std::string body;
  wal::encode(wal::DeadRec{0, 0, 0, 0, error.substr(0, error_text_bytes_max)}, &body);
  return framed_one(body.size());
}

template <class Rec>
Code Engine::Impl::log_one(wal::RecordType type, const Rec& rec, std::uint64_t* lsn,
                           bool admission) {
  RecordBatch& batch = record_batch();
  batch.clear();
  wal::encode(rec, &batch.bodies);
  batch.end(type);
  return log_batch(batch, lsn, admission);
}

template Code Engine::Impl::log_one(wal::RecordType, const wal::PauseRec&, std::uint64_t*, bool);
template Code Engine::Impl::log_one(wal::RecordType, const wal::SetPriorityRec&, std::uint64_t*, bool);
template Code Engine::Impl::log_one(wal::RecordType, const wal::SetDelayRec&, std::uint64_t*, bool);
template Code Engine::Impl::log_one(wal::RecordType, const wal::BindRec&, std::uint64_t*, bool);

Code Engine::Impl::log_job_list(wal::RecordType type, QueueId queue, std::span<const JobId> ids,
                                std::uint64_t* lsn, bool admission, std::uint64_t brings_each,
                                std::uint64_t holds_each) {
  // One append per job_list_jobs_max ids: each is one group (all or none),
  // and a long list is several, each a complete set of changes.
  const auto list_framed = [](std::size_t n) { return framed_one(8 + 8 * n); };
  // As an admission, the room for every list is taken first: after the
  // first is logged a refusal would leave part of the list logged and none
  // of it done.
  std::uint64_t prepaid = 0;
  if (admission) {
    std::uint64_t needs = 0;
    for (std::size_t at = 0; at < ids.size(); at += wal::job_list_jobs_max) {
      const std::size_t n = std::min<std::size_t>(wal::job_list_jobs_max, ids.size() - at);
      needs += list_framed(n) + n * holds_each;
    }
    const std::uint64_t brought = ids.size() * brings_each;
    if (needs > brought) {
      if (Code c = take_room(needs - brought); c != Code::ok) return c;
      prepaid = needs - brought;
    }
  }
  for (std::size_t at = 0; at < ids.size(); at += wal::job_list_jobs_max) {
    const std::size_t n = std::min<std::size_t>(wal::job_list_jobs_max, ids.size() - at);
    RecordBatch& batch = record_batch();
    batch.clear();
    wal::encode_job_list(queue, ids.subspan(at, n), &batch.bodies);
    batch.end(type);
    const std::uint64_t share = std::min(prepaid, list_framed(n) + n * holds_each);
    prepaid -= share;
    const Room room{.holds = n * holds_each, .brings = n * brings_each + share};
    if (Code c = log_batch(batch, lsn, admission && at == 0, room); c != Code::ok) {
      give_room(prepaid + share);  // the caller's own claims (brings_each) stay its own
      return c;
    }
  }
  give_room(prepaid);
  return Code::ok;
}

// ------------------------------------------------------------------ open

Status Engine::Impl::open_wal(const EngineOptions& options, std::unique_ptr<wal::Fs> fs,
                              std::string_view backend_note) {
  wal_fs_ = std::move(fs);
  durability_ = options.durability;
  wall_clock_ = options.wall_clock;
  const std::uint64_t wall = wall_now_ns();
  wall_minus_clock_ns_ = static_cast<std::int64_t>(wall) - static_cast<std::int64_t>(now_ns());
  if (!backend_note.empty()) open_report_ += std::string(backend_note) + "\n";

  // Real elapsed time of each phase, for the report (not the engine's clock:
  // this is about how long the open took, not about job times).
  using Steady = std::chrono::steady_clock;
  Steady::time_point phase_start = Steady::now();
  std::string timings;
  auto phase = [&](const char* name) {
    const Steady::time_point t = Steady::now();
    if (!timings.empty()) timings += ", ";
    timings += name;
    timings += ' ';
    timings += std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t - phase_start).count());
    timings += " ms";
    phase_start = t;
  };
  engine::LogState state;
  wal::SnapshotInfo snap;
  std::vector<std::string> notes;
  std::string error;
  wal::RecoveryStatus st = load_snapshot_into(*wal_fs_, state, &snap, &notes, &error);
  phase("snapshot");
  if (st != wal::RecoveryStatus::ok) return status_of(st, error);
  wal::LogTail tail;
  wal::RecoveryReport report;
  st = wal::recover_log(
      *wal_fs_, snap.covered_lsn,
      [&](const wal::LogRecord& r, std::string* e) { return state.apply(r, e); }, &tail, &report,
      &error);
  if (st != wal::RecoveryStatus::ok) return status_of(st, error);
  phase("log");
  for (const std::string& n : notes) open_report_ += n + "\n";
  for (const std::string& n : report.notes) open_report_ += n + "\n";
  open_report_ += "replayed " + std::to_string(report.records_applied) + " log records from " +
                  std::to_string(report.segments_read) + " segment(s)";
  if (!snap.name.empty()) {
    open_report_ += " after snapshot " + snap.name + " (" + std::to_string(snap.records) + " records)";
  }
  open_report_ += "; " + std::to_string(state.jobs.size()) + " live jobs\n";
  // The claims on the log's room its live jobs hold (engine/log_credit.h).
  std::uint64_t waiting = 0, leased = 0;
  state.jobs.for_each([&](JobId, const engine::LoggedJob& job) {
    if (job.state == RecordState::leased) {
      ++leased;
    } else if (job.state != RecordState::dead) {
      ++waiting;
    }
  });

  if (Status m = materialize(state); !m.ok()) return m;
  phase("jobs");
  state = engine::LogState();  // free the replay's copy before the log starts
  phase("free");

  wal::LogOptions lo;
  lo.segment_bytes = options.wal_segment_bytes;
  lo.interval_ns = options.durability == Durability::interval ? options.wal_interval_ms * 1'000'000 : 0;
  lo.wall_minus_clock_ns = wall_minus_clock_ns_;
  const int rc = wal::Log::open(*wal_fs_, lo, tail, &log_, &error);
  if (rc != 0) return Status(Code::io_error, error);
  phase("log open");

  // Room: what each live job holds (engine_impl.h, end_claim_bytes_).
  {
    std::string body;
    wal::encode(wal::RecordType::ack, wal::LeaseRec{}, &body);
    end_claim_bytes_ = std::max(framed_one(body.size()), dead_framed(expired_error_text));
    body.clear();
    wal::encode(wal::ReserveRec{}, &body);
    reserve_framed_ = framed_one(body.size());
    body.clear();
    wal::encode(wal::CancelRec{}, &body);
    wait_claim_bytes_ = std::max(end_claim_bytes_ + reserve_framed_, framed_one(body.size()));
    body.clear();
    wal::encode(wal::RecordType::extend, wal::LeaseRec{}, &body);
    lease_framed_ = framed_one(body.size());
  }
  credit_ = std::make_unique<engine::LogCredit>(
      *log_, engine::LogCredit::chunk_bytes_for(options.wal_segment_bytes));
  if (const std::uint64_t claims = waiting * wait_claim_bytes_ + leased * end_claim_bytes_;
      claims != 0) {
    // The claims existed before the restart, in the same segments and
    // spares; not finding them now means the disk filled meanwhile. Taken a
    // credit chunk at a time, as they were first taken: the log keeps slack
    // for a roll in proportion to its largest single claim (log_writer.h,
    // THE GUARANTEE), so one claim of them all would make it prepare about
    // as many spare segments again (10 s for 10 M jobs).
    Code c = Code::ok;
    const std::uint64_t chunk = engine::LogCredit::chunk_bytes_for(options.wal_segment_bytes);
    for (std::uint64_t left = claims; left != 0 && c == Code::ok;) {
      const std::uint64_t piece = std::min(left, chunk);
      c = take_room(piece);
      left -= piece;
    }
    if (c != Code::ok) {
      return Status(c, "wal: no room in " + wal_fs_->path() + " to reserve the records of " +
                           std::to_string(waiting + leased) + " live jobs (" +
                           std::to_string(claims) + " bytes): free disk space and open again");
    }
  }
  phase("room");
  open_report_ += "open took " + timings + "\n";
  // After each group (or the failure), wake the completion thread if any
  // callback waits. Runs on the log's writer thread: only a short lock here.
  log_->set_on_durable([this](std::uint64_t, bool) {
    {
      MutexLock lock(completion_mu_);
      if (completions_.empty()) return;
      completion_wake_ = true;
    }
    completion_cv_.notify_one();
  });

  snapshot_lsn_.store(snap.covered_lsn, std::memory_order_relaxed);  // relaxed: no other thread yet
  snapshot_log_bytes_ = options.wal_snapshot_log_bytes;
  snapshot_interval_ns_ = ms_to_ns(options.wal_snapshot_interval_ms);
  if (snapshot_log_bytes_ != 0 || snapshot_interval_ns_ != 0) {
    snapshot_thread_ = std::thread([this] {
      name_this_thread("hotq-snapshot");
      snapshot_loop();
    });
  }
  return Status::Ok();
}

engine::RoomLedger Engine::Impl::room_ledger() {
  engine::RoomLedger out;
  if (log_ == nullptr) return out;
  const QueueCounts c = engine_stats().counts;
  out.log_claimed = log_->stats().reserved_bytes;
  out.credit = credit_->credit();
  out.expected = out.credit + (c.ready + c.delayed) * wait_claim_bytes_ + c.leased * end_claim_bytes_;
  return out;
}

engine::RoomLedger EngineOpener::room_ledger(Engine& engine) { return engine.impl_->room_ledger(); }

WalStats EngineOpener::wal_stats_histogram(Engine& engine,
                                           engine::LatencyHistogram::Snapshot* commit) {
  return engine.impl_->wal_stats(commit);
}

void EngineOpener::set_queue_generation_floor(Engine& engine, std::uint32_t index,
                                              std::uint32_t generation) {
  engine.impl_->set_queue_generation_floor(index, generation);
}

void Engine::Impl::set_queue_generation_floor(std::uint32_t index, std::uint32_t generation) {
  MutexLock lock(table_mu_);
  HOTQ_CHECK(index < queues_max);
  if (queue_generation_floor_.size() <= index) queue_generation_floor_.resize(index + 1, 0);
  queue_generation_floor_[index] = generation;
}

void EngineOpener::pause_on_durable(Engine& engine, std::function<void()> pause) {
  engine.impl_->set_on_durable_pause(std::move(pause));
}

std::uint64_t Engine::Impl::wall_now_ns() const {
  return wall_clock_ != nullptr ? wall_clock_->now_ns() : realtime_ns();
}

// ------------------------------------------------------------------ materialize

namespace {

// Sorts v, made of runs that start at runs[0] (0), runs[1], ... Each run is
// usually sorted already — a shard hands out slots in increasing order
// until it reuses freed ones, and the replay visits slots in order — so a
// run is sorted only if it is not, and the runs are then merged pairwise:
// O(n log runs) for the usual log instead of O(n log n).
void sort_runs(std::vector<std::pair<std::uint64_t, JobId>>& v, std::vector<std::size_t> runs) {
  if (runs.empty()) return;
  runs.push_back(v.size());
  for (std::size_t i = 0; i + 1 < runs.size(); ++i) {
    const auto first = v.begin() + static_cast<std::ptrdiff_t>(runs[i]);
    const auto last = v.begin() + static_cast<std::ptrdiff_t>(runs[i + 1]);
    if (!std::is_sorted(first, last)) std::sort(first, last);
  }
  while (runs.size() > 2) {
    std::vector<std::size_t> merged;
    std::size_t i = 0;
    for (; i + 2 < runs.size(); i += 2) {
      merged.push_back(runs[i]);
      std::inplace_merge(v.begin() + static_cast<std::ptrdiff_t>(runs[i]),
                         v.begin() + static_cast<std::ptrdiff_t>(runs[i + 1]),
                         v.begin() + static_cast<std::ptrdiff_t>(runs[i + 2]));
    }
    if (i + 1 < runs.size()) merged.push_back(runs[i]);  // an odd run out, as it is
    merged.push_back(v.size());
    runs = std::move(merged);
  }
}

}  // namespace

Status Engine::Impl::materialize(engine::LogState& state) {
  // Every job's slot first: nothing is placed until all are known to fit.
  Status fits = Status::Ok();
  state.jobs.for_each([&](JobId id, const engine::LoggedJob&) {
    const SlotRef ref = engine::slot_of(id);
    if (fits.ok() && engine::slot_shard(ref) >= shard_count_) {
      fits = Status(Code::invalid_argument,
                    "the log holds job " + std::to_string(id) + " of shard " +
                        std::to_string(engine::slot_shard(ref)) + " but this engine has " +
                        std::to_string(shard_count_) +
                        " shards: open it with at least as many shards as before");
    }
  });
  if (!fits.ok()) return fits;
  {
    MutexLock lock(table_mu_);
    queue_generation_floor_ = std::move(state.queue_generations);
    for (const auto& [index, qs] : state.queues) {
      Queue* q = install_queue(index, qs.name, qs.options, qs.id >> Queue::queue_index_bits);
      q->paused.store(qs.paused, std::memory_order_relaxed);  // relaxed: no other thread yet
      if (q->dedup == nullptr) continue;
      // Keys in the order they were first used, each at its own time.
      std::vector<std::pair<std::uint64_t, const std::string*>> keys;
      for (const auto& [key, e] : qs.dedup) keys.emplace_back(e.first_wall, &key);
      std::sort(keys.begin(), keys.end());
      for (const auto& [first_wall, key] : keys) {
        JobId first = 0;
        (void)q->dedup->claim(*key, from_wall(first_wall), qs.dedup.at(*key).job, &first);
      }
    }
  }
  {
    MutexLock lock(topics_mu_);
    topics_ = std::move(state.topics);
  }
  const std::uint64_t now = now_ns();
  // Ready jobs go back into their rings in the order they became ready.
  std::vector<std::pair<std::uint64_t, JobId>> ready;
  ready.reserve(state.jobs.size());
  // Where each slab shard's ready jobs start in `ready` (the drain visits
  // the shards one after the other).
  std::vector<std::size_t> runs;
  // In slot order, so each shard's slab is written front to back; the
  // replay's copy of each job is given back as it is placed (JobMap::drain).
  state.jobs.drain([&](JobId id, engine::LoggedJob& j) {
    Queue& q = queue_at(j.queue_index);
    const SlotRef ref = engine::slot_of(id);
    engine::Shard& shard = *shards_[engine::slot_shard(ref)];
    Record& r = shard.slab.restore(engine::slot_index(ref), id);
    r.payload = j.payload.take();  // the replay's allocation, not a copy
    r.enqueued_ns = from_wall(j.enqueued_wall);
    r.queue_index = static_cast<std::uint16_t>(j.queue_index);
    r.lease_ms = j.lease_ms;
    r.attempts = j.attempts;
    r.attempts_max = j.attempts_max;
    r.priority = j.priority;
    r.nonce = j.nonce;
    q.jobs.fetch_add(1, std::memory_order_relaxed);  // relaxed: no other thread yet
    QueueShard& qs = q.shards[shard.slab.shard()];
    switch (j.state) {
      case RecordState::ready:
        if (runs.size() <= shard.slab.shard()) runs.resize(shard.slab.shard() + 1, ready.size());
        ready.emplace_back(j.order, id);
        break;
      case RecordState::delayed: {
        MutexLock lock(shard.mu);
        r.state.store(RecordState::delayed, std::memory_order_relaxed);
        schedule_locked(shard, q, r, from_wall(j.at_wall));
        qs.add(engine::g_delayed, 1);
        break;
      }
      case RecordState::leased: {
        MutexLock lock(shard.mu);
        r.state.store(RecordState::leased, std::memory_order_relaxed);
        schedule_locked(shard, q, r, from_wall(j.at_wall));
        qs.add_locked(engine::l_leased, 1);
        if (q.options.leased_max != 0) q.leased_now.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      case RecordState::dead: {
        r.state.store(RecordState::dead, std::memory_order_relaxed);
        engine::DeadEntry e;
        e.slot = ref;
        e.reason = j.reason;
        e.dead_ns = from_wall(j.at_wall);
        e.error = j.error.take();
        MutexLock lock(q.dead_mu);
        q.dead.emplace(id, std::move(e));
        qs.add(engine::g_dead, 1);
        break;
      }
      case RecordState::free:
        HOTQ_CHECK(false);
    }
  });
  sort_runs(ready, runs);
  // make_ready's work, a run of jobs bound for the same ring (and counted
  // in the same queue shard) at a time: one push, one count and one wake-up
  // per run instead of per job. No other thread runs yet, so counting a run
  // after its records are ready is as good as before.
  {
    engine::Handle run[batch_jobs_max];
    std::size_t n = 0;
    engine::Ring* ring = nullptr;
    QueueShard* counted = nullptr;
    Queue* queue = nullptr;
    engine::Counter level = engine::g_ready0;
    const Queue* overflow = nullptr;
    auto flush = [&] {
      if (n == 0) return;
      counted->add(level, static_cast<std::int64_t>(n));
      // No consumer runs yet, so a push fails only on a full ring, which
      // the queue's capacity rules out for any log the engine wrote.
      if (ring->try_push_n(run, n) != n && overflow == nullptr) overflow = queue;
      queue->ready_signal.notify();
      n = 0;
    };
    for (const auto& [order, id] : ready) {
      const SlotRef ref = engine::slot_of(id);
      Record& r = record(ref);
      Queue& q = queue_at(r.queue_index);
      QueueShard& qs = q.shards[engine::slot_shard(ref)];
      engine::Ring& target = ring_for(q, engine::slot_shard(ref), r.priority);
      if (&target != ring || &qs != counted || n == batch_jobs_max) {
        flush();
        ring = &target;
        counted = &qs;
        queue = &q;
        level = static_cast<engine::Counter>(engine::g_ready0 + r.priority);
      }
      run[n++] = ready_handle(r, ref, now);
    }
    flush();
    if (overflow != nullptr) {
      return Status(Code::corruption, "the log holds more ready jobs for queue " + overflow->name +
                                          " than its capacity_jobs_max (" +
                                          std::to_string(overflow->options.capacity_jobs_max) + ")");
    }
  }
  // Slots that held jobs before and hold none now keep their generation, so
  // that their next job gets a new id. After the live jobs (whose slots hold
  // their own, never older, generation), so that the slab's pages are first
  // written in the pass above, into the pages the replay's copy gave back.
  for (std::uint32_t s = 0; s < state.slot_generations.size() && s < shard_count_; ++s) {
    engine::Slab& slab = shards_[s]->slab;
    (void)state.slot_generations[s].for_each([&](std::uint32_t index, std::uint32_t generation) {
      if (index < slab.high_water() &&
          slab.at(index).state.load(std::memory_order_relaxed) != RecordState::free) {
        return true;  // a live job's
      }
      (void)slab.restore(index, (JobId{generation} << 32) | engine::make_slot_ref(s, index));
      return true;
    });
  }
  for (auto& shard : shards_) {
    shard->slab.rebuild_free_stack();
    MutexLock lock(shard->mu);
    publish_next_due(*shard);
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ snapshots

Status Engine::Impl::snapshot() {
  if (!durable()) return Status(Code::not_supported, "an in-memory engine has no snapshots");
  MutexLock run(snapshot_run_mu_);
  return counted_snapshot();
}

Status Engine::Impl::counted_snapshot() {
  const std::uint64_t before = snapshot_lsn_.load(std::memory_order_relaxed);  // relaxed: ours
  Status st = take_snapshot();
  if (st.ok() && snapshot_lsn_.load(std::memory_order_relaxed) == before) return st;  // nothing new
  // relaxed: statistics.
  (st.ok() ? snapshots_taken_ : snapshot_failures_).fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(snapshot_mu_);
  snapshot_error_ = st.ok() ? std::string() : st.to_string();
  return st;
}

WalStats Engine::Impl::wal_stats(engine::LatencyHistogram::Snapshot* commit_out) const {
  WalStats w;
  if (!durable()) return w;
  w.durable = true;
  // failed, then durable_lsn (acquire both): a failure seen here comes with
  // its final durable LSN.
  w.failed = log_->failed();
  if (w.failed) w.failure = log_->failure();
  w.durable_lsn = log_->durable_lsn();
  w.last_lsn = log_->last_lsn();
  const wal::LogStats ls = log_->stats();
  w.groups = ls.groups;
  w.records = ls.records;
  w.bytes = ls.bytes;
  w.segments = log_->segment_count();
  w.segments_started = ls.segments_started;
  w.segments_filled = ls.segments_filled;
  w.roll_waits = ls.roll_waits;
  w.no_space = ls.no_space;
  // Not one instant with the counters above: the histogram's count may
  // differ from groups by the commits in flight (and counts failed ones).
  engine::LatencyHistogram::Snapshot local;
  engine::LatencyHistogram::Snapshot& commit = commit_out != nullptr ? *commit_out : local;
  log_->commit_latency(&commit);
  w.commit = engine::summarize(commit);
  // relaxed: statistics.
  w.snapshot_lsn = snapshot_lsn_.load(std::memory_order_relaxed);
  w.snapshots = snapshots_taken_.load(std::memory_order_relaxed);
  w.snapshot_failures = snapshot_failures_.load(std::memory_order_relaxed);
  MutexLock lock(snapshot_mu_);
  w.snapshot_error = snapshot_error_;
  return w;
}

Status Engine::Impl::take_snapshot() {
  const std::uint64_t through = log_->durable_lsn();
  const std::uint64_t log_bytes = log_->stats().bytes;
  const std::uint64_t covered = snapshot_lsn_.load(std::memory_order_relaxed);  // relaxed: ours
  if (through <= covered) return Status::Ok();  // nothing new
  auto failed = [&](wal::RecoveryStatus st, const std::string& error) {
    return status_of(st, "snapshot at LSN " + std::to_string(through) + ": " + error);
  };
  // The state at `through`: the newest snapshot plus the log after it.
  engine::LogState state;
  wal::SnapshotInfo old;
  std::vector<std::string> notes;
  std::string error;
  wal::RecoveryStatus st = load_snapshot_into(*wal_fs_, state, &old, &notes, &error);
  if (st != wal::RecoveryStatus::ok) return failed(st, error);
  if (old.covered_lsn != covered) {
    return failed(wal::RecoveryStatus::corrupt,
                  "the newest valid snapshot covers LSN " + std::to_string(old.covered_lsn) +
                      ", not " + std::to_string(covered));
  }
  std::uint64_t applied = 0;
  st = wal::read_log(
      *wal_fs_, log_->segments(), covered, through,
      [&](const wal::LogRecord& r, std::string* e) { return state.apply(r, e); }, &applied, &error);
  if (st != wal::RecoveryStatus::ok) return failed(st, error);

  std::unique_ptr<wal::SnapshotWriter> writer;
  const std::uint64_t wall = wall_now_ns();
  int rc = wal::SnapshotWriter::create(*wal_fs_, through, wall, &writer);
  if (rc == 0) rc = state.write(*writer, wall);
  if (rc != 0) {
    return failed(wal::RecoveryStatus::io_error, std::string("cannot write: ") + std::strerror(rc));
  }
  if (writer->finish(&error) != 0) return failed(wal::RecoveryStatus::io_error, error);
  // relaxed: read by this thread (under snapshot_run_mu_) and by stats.
  snapshot_lsn_.store(through, std::memory_order_relaxed);
  snapshot_at_log_bytes_ = log_bytes;
  // The snapshot is durable (renamed, directory synced): the segments it
  // covers are free. Failing to recycle is not an error: they stay, and the
  // next snapshot tries again.
  (void)log_->recycle(through);
  return Status::Ok();
}

void Engine::Impl::snapshot_loop() {
  // Polls the log's size: a snapshot costs a read of the live state and the
  // log since the last one, so it is worth starting only after a good share
  // of log. The poll is a few atomic loads every snapshot_poll_ms.
  constexpr std::uint64_t snapshot_poll_ms = 50;
  std::uint64_t last_ns = now_ns();
  for (;;) {
    {
      MutexLock lock(snapshot_mu_);
      if (snapshot_stop_) return;
      (void)snapshot_cv_.wait_for_ns(snapshot_mu_, ms_to_ns(snapshot_poll_ms));
      if (snapshot_stop_) return;
    }
    if (log_->failed()) continue;
    MutexLock run(snapshot_run_mu_);
    const std::uint64_t logged = log_->stats().bytes - snapshot_at_log_bytes_;
    const std::uint64_t now = now_ns();
    const bool by_size = snapshot_log_bytes_ != 0 && logged >= snapshot_log_bytes_;
    const bool by_time = snapshot_interval_ns_ != 0 && logged != 0 && now - last_ns >= snapshot_interval_ns_;
    if (!by_size && !by_time) continue;
    last_ns = now;
    // A failure leaves the log longer, nothing else; the next try may work.
    // The embedder sees it in wal_stats() (snapshot_failures, snapshot_error).
    (void)counted_snapshot();
  }
}

void Engine::Impl::stop_snapshots() {
  {
    MutexLock lock(snapshot_mu_);
    snapshot_stop_ = true;
  }
  snapshot_cv_.notify_all();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

// ------------------------------------------------------------------ tickets

bool Engine::Impl::is_durable(std::uint64_t lsn) const {
  // What was durable stays durable, also after a later failure.
  return lsn == 0 || (lsn != lsn_unloggable && log_->durable_lsn() >= lsn);
}

Code Engine::Impl::wait_ticket(std::uint64_t lsn) {
  if (lsn == 0) return Code::ok;
  if (lsn == lsn_unloggable) return Code::wal_failed;
  return log_->wait_durable(lsn) ? Code::ok : Code::wal_failed;
}

void Engine::Impl::on_durable(std::uint64_t lsn, std::function<void(Code)> done) {
  // Known now: called at once, in this thread.
  if (lsn == lsn_unloggable) return done(Code::wal_failed);
  if (lsn == 0 || log_ == nullptr || log_->durable_lsn() >= lsn) return done(Code::ok);
  if (log_->failed()) return done(log_->durable_lsn() >= lsn ? Code::ok : Code::wal_failed);
  if (on_durable_pause_) on_durable_pause_();
  {
    MutexLock lock(completion_mu_);
    if (!completion_stop_) {
      if (!completion_thread_.joinable()) {
        completion_thread_ = std::thread([this] {
          name_this_thread("hotq-durable");
          completion_loop();
        });
      }
      completions_.push_back(Completion{lsn, completion_serial_++, std::move(done)});
      std::push_heap(completions_.begin(), completions_.end(), std::greater<>());
      // The group may have become durable (or the log failed) between the
      // check above and the push, and the hook then saw no completion: look
      // once more, here. The hook stores the durable LSN (or the failure)
      // before it takes completion_mu_, so either its look comes after this
      // push and it wakes the thread, or its store happened before this
      // critical section and the loads below see it. Only then wake the
      // thread: a wake per registration costs a context switch each.
      if (log_->failed() || log_->durable_lsn() >= lsn) {
        completion_wake_ = true;
        completion_cv_.notify_one();
      }
      return;
    }
  }
  // Closed meanwhile: the log is closed too, so the answer is final.
  done(log_->durable_lsn() >= lsn ? Code::ok : Code::wal_failed);
}

void Engine::Impl::completion_loop() {
  std::vector<std::pair<Completion, Code>> ready;
  for (;;) {
    bool stopping = false;
    {
      MutexLock lock(completion_mu_);
      while (!completion_wake_ && !completion_stop_) completion_cv_.wait(completion_mu_);
      completion_wake_ = false;
      stopping = completion_stop_;
      // failed, then durable_lsn: both read after the wake flag was cleared,
      // so a group that ends later sets the flag again. Read in this order,
      // an LSN above `durable` of a failed log can never become durable.
      const bool failed = log_->failed();
      const std::uint64_t durable = log_->durable_lsn();
      while (!completions_.empty() &&
             (failed || stopping || completions_.front().lsn <= durable)) {
        std::pop_heap(completions_.begin(), completions_.end(), std::greater<>());
        Completion& c = completions_.back();
        const Code code = c.lsn <= durable ? Code::ok : Code::wal_failed;
        ready.emplace_back(std::move(c), code);
        completions_.pop_back();
      }
    }
    // Outside the lock: a callback may register another completion.
    for (auto& [c, code] : ready) c.done(code);
    ready.clear();
    if (stopping) return;
  }
}

void Engine::Impl::stop_completions() {
  {
    MutexLock lock(completion_mu_);
    completion_stop_ = true;
  }
  completion_cv_.notify_all();
  if (completion_thread_.joinable()) completion_thread_.join();
}

}  // namespace hotq
