// engine/durable.cc — the engine's side of the WAL: what each state change
// logs, and how a log replays into an engine at open (docs/wal-format.md).
//
// Ordering. A job's records reach the log in the order its changes happen:
// its enqueue is logged before its handle is visible to any consumer, and
// every later change (reserve, extend, ack, nack, expiry, death) is logged
// under the lock of the job's shard, which each of those changes holds. So
// replaying the log in LSN order redoes every job's history in order.
//
// Replay builds a plain map of live jobs first (a job's final state is known
// only at the end of the log), then materialises it into the slabs, rings,
// timing wheels and dead sets, each job in its old slot so that its id and
// its lease token stay valid across the restart.
#include <hotq/engine.h>

#include <time.h>

#include <algorithm>
#include <unordered_map>

#include "engine/engine_impl.h"
#include "util/check.h"
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

}  // namespace

std::uint64_t Engine::Impl::from_wall(std::uint64_t wall_ns) const {
  if (wall_ns == 0) return 0;
  const std::int64_t v = static_cast<std::int64_t>(wall_ns) - wall_minus_clock_ns_;
  return v <= 0 ? 1 : static_cast<std::uint64_t>(v);  // the past: due at once
}

Code Engine::Impl::log_records(std::span<const wal::Log::Record> records, std::uint64_t* lsn) {
  std::uint64_t last = 0;
  switch (log_->append(records, &last)) {
    case wal::AppendResult::ok:
      *lsn = std::max(*lsn, last);
      return Code::ok;
    case wal::AppendResult::too_large:
      return Code::too_large;
    case wal::AppendResult::closed:
      return Code::closed;
    case wal::AppendResult::failed:
      break;
  }
  return Code::wal_failed;
}

Code Engine::Impl::wait_durable(std::uint64_t lsn) {
  if (log_ == nullptr || lsn == 0) return Code::ok;
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

void Engine::Impl::log_reserves(const Queue& q, std::span<const ReservedJob> jobs) {
  RecordBatch& batch = record_batch();
  batch.clear();
  for (const ReservedJob& j : jobs) {
    wal::encode(wal::ReserveRec{q.id(), j.attempt, j.id, j.token, to_wall(j.lease_deadline_ns)},
                &batch.bodies);
    batch.end(wal::RecordType::reserve);
  }
  std::uint64_t lsn = 0;
  (void)log_batch(batch, &lsn);  // a failed log fails the job's ack instead
}

void Engine::Impl::log_lease(wal::RecordType type, const Queue& q, JobId job, std::uint64_t token,
                             std::uint64_t deadline_wall_ns, std::uint64_t* lsn) {
  RecordBatch& batch = record_batch();
  batch.clear();
  wal::encode(type, wal::LeaseRec{q.id(), job, token, deadline_wall_ns}, &batch.bodies);
  batch.end(type);
  (void)log_batch(batch, lsn);
}

void Engine::Impl::log_nack(const Queue& q, const Lease& lease, std::uint64_t run_at_wall_ns,
                            std::string_view error, std::uint64_t* lsn) {
  RecordBatch& batch = record_batch();
  batch.clear();
  wal::encode(wal::NackRec{q.id(), lease.job, lease.token, run_at_wall_ns,
                           error.substr(0, error_text_bytes_max)},
              &batch.bodies);
  batch.end(wal::RecordType::nack);
  (void)log_batch(batch, lsn);
}

void Engine::Impl::log_dead(const Queue& q, JobId job, DeadReason reason, std::uint64_t dead_wall_ns,
                            std::string_view error, std::uint64_t* lsn) {
  RecordBatch& batch = record_batch();
  batch.clear();
  wal::encode(wal::DeadRec{q.id(), static_cast<std::uint8_t>(reason), job, dead_wall_ns,
                           error.substr(0, error_text_bytes_max)},
              &batch.bodies);
  batch.end(wal::RecordType::dead);
  (void)log_batch(batch, lsn);
}

// ------------------------------------------------------------------ open

Status Engine::Impl::open_wal(const EngineOptions& options, std::unique_ptr<wal::Fs> fs,
                              std::string_view backend_note) {
  wal_fs_ = std::move(fs);
  durability_ = options.durability;
  const std::uint64_t wall = options.wall_clock != nullptr ? options.wall_clock->now_ns()
                                                           : realtime_ns();
  wall_minus_clock_ns_ = static_cast<std::int64_t>(wall) - static_cast<std::int64_t>(now_ns());
  if (!backend_note.empty()) open_report_ += std::string(backend_note) + "\n";

  replay_ = std::make_unique<Replay>();
  auto apply = [this](const wal::LogRecord& r, std::string* error) {
    return replay_record(r, error);
  };
  auto fail = [&](wal::RecoveryStatus st, const std::string& error) {
    replay_.reset();
    return Status(st == wal::RecoveryStatus::io_error ? Code::io_error : Code::corruption, error);
  };
  wal::SnapshotInfo snap;
  std::vector<std::string> notes;
  std::string error;
  wal::RecoveryStatus st = wal::load_snapshot(*wal_fs_, apply, &snap, &notes, &error);
  if (st != wal::RecoveryStatus::ok) return fail(st, error);
  wal::LogTail tail;
  wal::RecoveryReport report;
  st = wal::recover_log(*wal_fs_, snap.covered_lsn, apply, &tail, &report, &error);
  if (st != wal::RecoveryStatus::ok) return fail(st, error);
  for (const std::string& n : notes) open_report_ += n + "\n";
  for (const std::string& n : report.notes) open_report_ += n + "\n";
  open_report_ += "replayed " + std::to_string(report.records_applied) + " log records from " +
                  std::to_string(report.segments_read) + " segment(s)";
  if (!snap.name.empty()) open_report_ += " after snapshot " + snap.name;
  open_report_ += "; " + std::to_string(replay_->jobs.size()) + " live jobs\n";

  if (Status m = materialize(); !m.ok()) return m;
  replay_.reset();

  wal::LogOptions lo;
  lo.segment_bytes = options.wal_segment_bytes;
  lo.interval_ns = options.durability == Durability::interval ? options.wal_interval_ms * 1'000'000 : 0;
  lo.wall_minus_clock_ns = wall_minus_clock_ns_;
  const int rc = wal::Log::open(*wal_fs_, lo, tail, &log_, &error);
  if (rc != 0) return Status(Code::io_error, error);
  return Status::Ok();
}

// ------------------------------------------------------------------ replay

bool Engine::Impl::replay_record(const wal::LogRecord& rec, std::string* error) {
  Replay& rp = *replay_;
  ++rp.records;
  auto bad = [&](const char* why) {
    *error = why;
    return false;
  };
  auto queue_of = [&](std::uint32_t queue_id) -> Queue* {
    const std::uint32_t index = queue_id & (queues_max - 1);
    Queue* q = queues_[index].load(std::memory_order_relaxed);  // relaxed: replay is alone
    if (q == nullptr || q->id() != queue_id) return nullptr;
    return q;
  };
  // The job a record names, live and in that queue.
  auto job_of = [&](std::uint32_t queue_id, JobId job) -> Replay::Job* {
    auto it = rp.jobs.find(job);
    if (it == rp.jobs.end() || it->second.queue_index != (queue_id & (queues_max - 1))) {
      return nullptr;
    }
    return &it->second;
  };
  switch (rec.type) {
    case wal::RecordType::queue_create: {
      wal::QueueCreateRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad queue_create body");
      const std::uint32_t index = r.queue_id & (queues_max - 1);
      const std::uint32_t gen = r.queue_id >> Queue::queue_index_bits;
      if ((gen & 1) == 0 || !valid_queue_name(r.name) || !valid_queue_options(r.options)) {
        return bad("queue_create with an invalid id, name or options");
      }
      MutexLock lock(table_mu_);
      if (names_.count(std::string(r.name)) != 0) return bad("queue_create of a name that exists");
      install_queue(index, r.name, r.options, gen);
      return true;
    }
    case wal::RecordType::enqueue: {
      wal::EnqueueRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad enqueue body");
      Queue* q = queue_of(r.queue_id);
      if (q == nullptr) return bad("enqueue into an unknown queue");
      if (engine::slot_shard(engine::slot_of(r.job)) >= shard_count_) {
        return bad("job id names a shard this engine does not have (fewer shards than before?)");
      }
      Replay::Job j;
      j.queue_index = q->index;
      j.priority = r.priority;
      j.state = r.run_at_ns != 0 ? RecordState::delayed : RecordState::ready;
      j.attempts_max = static_cast<std::uint16_t>(r.attempts_max);
      j.lease_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.lease_ms, UINT32_MAX));
      j.enqueued_wall = r.enqueued_ns;
      j.at_wall = r.run_at_ns;
      j.order = rec.lsn;
      j.payload = std::string(r.payload);
      if (!r.dedup_key.empty() && q->dedup != nullptr) {
        JobId first = 0;
        (void)q->dedup->claim(r.dedup_key, from_wall(r.enqueued_ns), r.job, &first);
      }
      if (!rp.jobs.emplace(r.job, std::move(j)).second) return bad("enqueue of a job id that is live");
      return true;
    }
    case wal::RecordType::reserve: {
      wal::ReserveRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad reserve body");
      Replay::Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr) return bad("reserve of an unknown job");
      j->state = RecordState::leased;
      j->nonce = engine::nonce_of(r.token);
      j->attempts = static_cast<std::uint16_t>(r.attempt);
      j->at_wall = r.deadline_ns;
      return true;
    }
    case wal::RecordType::extend:
    case wal::RecordType::ack:
    case wal::RecordType::expire: {
      wal::LeaseRec r;
      if (!wal::decode(rec.type, rec.body, &r)) return bad("bad lease record body");
      Replay::Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || j->state != RecordState::leased || j->nonce != engine::nonce_of(r.token)) {
        return bad("lease record for a job not leased with that token");
      }
      if (rec.type == wal::RecordType::ack) {
        rp.jobs.erase(r.job);
      } else if (rec.type == wal::RecordType::extend) {
        j->at_wall = r.deadline_ns;
      } else {
        // As poll_timers: an expiry that does not count gives the attempt back.
        if (!queue_at(j->queue_index).options.expiry_counts_as_attempt && j->attempts > 0) {
          --j->attempts;
        }
        j->state = RecordState::ready;
        j->order = rec.lsn;
      }
      return true;
    }
    case wal::RecordType::nack: {
      wal::NackRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad nack body");
      Replay::Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || j->state != RecordState::leased || j->nonce != engine::nonce_of(r.token)) {
        return bad("nack for a job not leased with that token");
      }
      j->state = r.run_at_ns != 0 ? RecordState::delayed : RecordState::ready;
      j->at_wall = r.run_at_ns;
      j->order = rec.lsn;
      return true;
    }
    case wal::RecordType::dead: {
      wal::DeadRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad dead body");
      Replay::Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr) return bad("dead of an unknown job");
      j->state = RecordState::dead;
      j->reason = static_cast<DeadReason>(r.reason);
      j->at_wall = r.dead_ns;
      j->error = std::string(r.error);
      return true;
    }
    default:
      break;
  }
  *error = std::string("record type ") + wal::record_type_name(static_cast<std::uint16_t>(rec.type)) +
           " is not replayed by this version";
  return false;
}

Status Engine::Impl::materialize() {
  Replay& rp = *replay_;
  const std::uint64_t now = now_ns();
  // Ready jobs go back into their rings in the order they became ready.
  std::vector<std::pair<std::uint64_t, JobId>> ready;
  for (auto& [id, j] : rp.jobs) {
    Queue& q = queue_at(j.queue_index);
    const SlotRef ref = engine::slot_of(id);
    engine::Shard& shard = *shards_[engine::slot_shard(ref)];
    Record& r = shard.slab.restore(engine::slot_index(ref), id);
    r.payload = engine::payload_new(j.payload);
    r.enqueued_ns = from_wall(j.enqueued_wall);
    r.queue_index = static_cast<std::uint16_t>(j.queue_index);
    r.lease_ms = j.lease_ms;
    r.attempts = j.attempts;
    r.attempts_max = j.attempts_max;
    r.priority = j.priority;
    r.nonce = j.nonce;
    q.jobs.fetch_add(1, std::memory_order_relaxed);  // relaxed: replay is alone
    QueueShard& qs = q.shards[shard.slab.shard()];
    switch (j.state) {
      case RecordState::ready:
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
        e.error = std::move(j.error);
        MutexLock lock(q.dead_mu);
        q.dead.emplace(id, std::move(e));
        qs.add(engine::g_dead, 1);
        break;
      }
      case RecordState::free:
        HOTQ_CHECK(false);
    }
  }
  std::sort(ready.begin(), ready.end());
  for (const auto& [order, id] : ready) {
    const SlotRef ref = engine::slot_of(id);
    Record& r = record(ref);
    Queue& q = queue_at(r.queue_index);
    make_ready(q, q.shards[engine::slot_shard(ref)], r, ref, now);
  }
  for (auto& shard : shards_) {
    shard->slab.rebuild_free_stack();
    MutexLock lock(shard->mu);
    publish_next_due(*shard);
  }
  return Status::Ok();
}

}  // namespace hotq
