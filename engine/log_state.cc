// engine/log_state.cc — see log_state.h; the record bodies are those of
// docs/wal-format.md and the meaning of each is that of the engine
// operation that logs it (engine.cc).
#include "engine/log_state.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "engine/engine_impl.h"
#include "util/check.h"
#include "wal/format.h"
#include "wal/records.h"

namespace hotq::engine {

namespace {

std::uint32_t index_of(std::uint32_t queue_id) { return queue_id & (queues_max - 1); }

// Waiting: what cancel, purge and the re-prioritise/re-delay operations act
// on. A delayed job's move to ready is not logged (the time says it), so a
// job the log last saw delayed may be ready by now.
bool waiting(RecordState s) { return s == RecordState::ready || s == RecordState::delayed; }

}  // namespace

std::uint32_t GenerationTable::get(std::uint32_t index) const {
  HOTQ_DCHECK(index < shard_jobs_max);
  const auto it = chunks_.find(index / chunk_slots);
  return it == chunks_.end() ? 0 : it->second[index % chunk_slots];
}

void GenerationTable::note(std::uint32_t index, std::uint32_t generation) {
  HOTQ_CHECK(index < shard_jobs_max);  // slot_index() and the decoders bound it
  if (generation == 0) return;
  // operator[] value-initializes a new chunk: all zeros, "never held a job".
  std::uint32_t& g = chunks_[index / chunk_slots][index % chunk_slots];
  g = std::max(g, generation);
}

namespace {

// Writes generations as snap_generations records (docs/wal-format.md): the
// non-zero entries, in index order, as runs of at most snap_generations_max,
// one record each. A gap of up to zeros_bridged_max entries without a
// generation is written as zeros, which takes no more room than the record
// a new run would start; a longer gap starts a new run, so a snapshot's size
// follows the slots used, not the highest index.
class GenerationWriter {
 public:
  GenerationWriter(wal::SnapshotWriter& w, wal::SnapGenerationsRec::Kind kind, std::uint32_t shard)
      : w_(w), run_{kind, shard, 0, {}} {}

  // The next entry: index above the last one's, generation non-zero. 0 or
  // an errno.
  int add(std::uint32_t index, std::uint32_t generation) {
    HOTQ_DCHECK(generation != 0);
    if (!run_.generations.empty()) {
      const std::uint64_t end = std::uint64_t{run_.first_index} + run_.generations.size();
      HOTQ_CHECK(index >= end);
      const std::uint64_t zeros = index - end;
      if (zeros <= zeros_bridged_max &&
          run_.generations.size() + zeros < wal::snap_generations_max) {
        run_.generations.insert(run_.generations.end(), static_cast<std::size_t>(zeros), 0u);
        run_.generations.push_back(generation);
        return 0;
      }
      if (int rc = flush(); rc != 0) return rc;
    }
    run_.first_index = index;
    run_.generations.push_back(generation);
    return 0;
  }

  // Writes the run so far, if any. 0 or an errno.
  int flush() {
    if (run_.generations.empty()) return 0;
    body_.clear();
    wal::encode(run_, &body_);
    run_.generations.clear();
    return w_.add(wal::RecordType::snap_generations, body_);
  }

 private:
  // A record's framing and fixed fields: header, then kind, 3 zero bytes,
  // shard, first_index and count (docs/wal-format.md).
  static constexpr std::uint64_t run_start_bytes = wal::record_header_bytes + 16;
  static constexpr std::uint64_t zeros_bridged_max = run_start_bytes / sizeof(std::uint32_t);
  static_assert(zeros_bridged_max == 10, "docs/wal-format.md, snap_generations, says 10");

  wal::SnapshotWriter& w_;
  wal::SnapGenerationsRec run_;  // first_index and the entries so far
  std::string body_;
};

}  // namespace

LogState::QueueState* LogState::queue_of(std::uint32_t queue_id) {
  auto it = queues.find(index_of(queue_id));
  return it == queues.end() || it->second.id != queue_id ? nullptr : &it->second;
}

LoggedJob* LogState::job_of(std::uint32_t queue_id, JobId job) {
  if (queue_of(queue_id) == nullptr) return nullptr;  // a stale id names no job
  LoggedJob* j = jobs.find(job);
  return j == nullptr || j->queue_index != index_of(queue_id) ? nullptr : j;
}

bool LogState::create_queue(std::uint32_t queue_id, std::string_view name,
                            const QueueOptions& options, bool paused, const char** why) {
  const std::uint32_t gen = queue_id >> Queue::queue_index_bits;
  if ((gen & 1) == 0 || !valid_queue_name(name) || !valid_queue_options(options)) {
    *why = "queue with an invalid id, name or options";
    return false;
  }
  if (queues.count(index_of(queue_id)) != 0) {
    *why = "queue created in a slot that holds a live queue";
    return false;
  }
  for (const auto& [index, q] : queues) {
    if (q.name == name) {
      *why = "queue created with the name of a live queue";
      return false;
    }
  }
  saw_queue(queue_id);
  QueueState& q = queues[index_of(queue_id)];
  q.id = queue_id;
  q.name = std::string(name);
  q.options = options;
  q.paused = paused;
  return true;
}

void LogState::saw_job(JobId id) {
  const SlotRef ref = slot_of(id);
  const std::uint32_t shard = slot_shard(ref);  // < shards_max: 6 bits
  if (slot_generations.size() <= shard) slot_generations.resize(shard + 1);
  slot_generations[shard].note(slot_index(ref), static_cast<std::uint32_t>(id >> 32));
}

void LogState::saw_queue(std::uint32_t queue_id) {
  const std::uint32_t index = index_of(queue_id);
  if (queue_generations.size() <= index) queue_generations.resize(index + 1);
  queue_generations[index] =
      std::max(queue_generations[index], queue_id >> Queue::queue_index_bits);
}

bool LogState::add_job(const QueueState& q, JobId id, Job job, const char** why) {
  if (job.priority >= q.options.priority_levels) {
    *why = "job with a priority its queue does not have";
    return false;
  }
  job.queue_index = static_cast<std::uint16_t>(index_of(q.id));
  if (jobs.insert(id, std::move(job)) == nullptr) {
    *why = "job in a slot that holds a live job already";
    return false;
  }
  saw_job(id);
  return true;
}

bool LogState::apply(const wal::LogRecord& rec, std::string* error) {
  const char* why = nullptr;
  auto bad = [&](const char* what) {
    *error = what;
    return false;
  };
  using wal::RecordType;
  switch (rec.type) {
    case RecordType::queue_create: {
      wal::QueueCreateRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad queue_create body");
      if (!create_queue(r.queue_id, r.name, r.options, false, &why)) return bad(why);
      return true;
    }
    case RecordType::queue_drop: {
      wal::QueueDropRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad queue_drop body");
      if (queue_of(r.queue_id) == nullptr) return bad("drop of a queue that is not live");
      const std::uint32_t index = index_of(r.queue_id);
      jobs.erase_if([&](JobId, const LoggedJob& j) { return j.queue_index == index; });
      for (auto it = topics.begin(); it != topics.end();) {
        std::erase(it->second, r.queue_id);
        it = it->second.empty() ? topics.erase(it) : std::next(it);
      }
      queues.erase(index);
      return true;
    }
    case RecordType::enqueue: {
      wal::EnqueueRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad enqueue body");
      QueueState* q = queue_of(r.queue_id);
      if (q == nullptr) return bad("enqueue into a queue that is not live");
      if (!r.dedup_key.empty() &&
          (r.dedup_key.size() > dedup_key_bytes_max || q->options.dedup_keys_max == 0)) {
        return bad("enqueue with a dedup key its queue cannot have");
      }
      Job j;
      j.priority = r.priority;
      j.state = r.run_at_ns != 0 ? RecordState::delayed : RecordState::ready;
      j.attempts_max = static_cast<std::uint16_t>(std::min<std::uint32_t>(r.attempts_max, attempts_limit));
      j.lease_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.lease_ms, UINT32_MAX));
      j.enqueued_wall = r.enqueued_ns;
      j.at_wall = r.run_at_ns;
      j.order = rec.lsn;
      j.payload = PayloadRef(r.payload);
      if (!add_job(*q, r.job, std::move(j), &why)) return bad(why);
      if (!r.dedup_key.empty()) q->dedup[std::string(r.dedup_key)] = DedupEntry{r.job, r.enqueued_ns};
      return true;
    }
    case RecordType::publish:
    case RecordType::publish_keyed: {
      wal::PublishRec r;
      if (!wal::decode(rec.type, rec.body, &r)) return bad("bad publish body");
      if (r.targets.size() > topic_queues_max) return bad("publish to more queues than a topic may have");
      if (r.dedup_key.size() > dedup_key_bytes_max) return bad("publish with a dedup key longer than allowed");
      // All or none: every target is checked before any job is added.
      for (std::size_t i = 0; i < r.targets.size(); ++i) {
        const wal::PublishTarget& t = r.targets[i];
        const QueueState* q = queue_of(t.queue_id);
        if (q == nullptr) return bad("publish into a queue that is not live");
        if (r.priority >= q->options.priority_levels) return bad("publish with a priority a queue does not have");
        if (!r.dedup_key.empty() && q->options.dedup_keys_max == 0) {
          return bad("publish with a dedup key into a queue without dedup");
        }
        if (jobs.slot_taken(t.job)) return bad("publish into a slot that holds a live job already");
        for (std::size_t k = 0; k < i; ++k) {  // <= topic_queues_max targets
          if (slot_of(r.targets[k].job) == slot_of(t.job)) return bad("publish of two jobs into one slot");
        }
      }
      const PayloadRef shared(r.payload);  // one copy of the bytes for every queue's job
      for (const wal::PublishTarget& t : r.targets) {
        QueueState* q = queue_of(t.queue_id);
        if (q == nullptr) return bad("publish into a queue that is not live");
        Job j;
        j.priority = r.priority;
        j.state = r.run_at_ns != 0 ? RecordState::delayed : RecordState::ready;
        j.attempts_max = static_cast<std::uint16_t>(std::min<std::uint32_t>(t.attempts_max, attempts_limit));
        j.lease_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.lease_ms, UINT32_MAX));
        j.enqueued_wall = r.enqueued_ns;
        j.at_wall = r.run_at_ns;
        j.order = rec.lsn;
        j.payload = shared;
        if (!add_job(*q, t.job, std::move(j), &why)) return bad(why);
        if (!r.dedup_key.empty()) q->dedup[std::string(r.dedup_key)] = DedupEntry{t.job, r.enqueued_ns};
      }
      return true;
    }
    case RecordType::reserve: {
      wal::ReserveRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad reserve body");
      Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || !waiting(j->state)) return bad("reserve of a job that is not waiting");
      j->state = RecordState::leased;
      j->nonce = nonce_of(r.token);
      j->attempts = static_cast<std::uint16_t>(std::min<std::uint32_t>(r.attempt, attempts_limit));
      j->at_wall = r.deadline_ns;
      return true;
    }
    case RecordType::extend:
    case RecordType::ack:
    case RecordType::expire: {
      wal::LeaseRec r;
      if (!wal::decode(rec.type, rec.body, &r)) return bad("bad lease record body");
      Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || j->state != RecordState::leased || j->nonce != nonce_of(r.token)) {
        return bad("lease record for a job not leased with that token");
      }
      if (rec.type == RecordType::ack) {
        jobs.erase(r.job);
      } else if (rec.type == RecordType::extend) {
        j->at_wall = r.deadline_ns;
      } else {
        // As the engine's timer: an expiry that does not count gives the
        // attempt back. (A dead record follows when it was the last one.)
        if (!queues[j->queue_index].options.expiry_counts_as_attempt && j->attempts > 0) {
          --j->attempts;
        }
        j->state = RecordState::ready;
        j->order = rec.lsn;
      }
      return true;
    }
    case RecordType::nack: {
      wal::NackRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad nack body");
      Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || j->state != RecordState::leased || j->nonce != nonce_of(r.token)) {
        return bad("nack for a job not leased with that token");
      }
      j->state = r.run_at_ns != 0 ? RecordState::delayed : RecordState::ready;
      j->at_wall = r.run_at_ns;
      j->order = rec.lsn;
      return true;
    }
    case RecordType::dead: {
      wal::DeadRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad dead body");
      Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || j->state == RecordState::dead) return bad("dead of a job that is not live");
      j->state = RecordState::dead;
      j->reason = static_cast<DeadReason>(r.reason);
      j->at_wall = r.dead_ns;
      j->error.assign(r.error);
      return true;
    }
    case RecordType::redrive:
    case RecordType::purge:
    case RecordType::delete_dead: {
      wal::JobListRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad job list body");
      if (queue_of(r.queue_id) == nullptr) return bad("job list for a queue that is not live");
      for (JobId id : r.jobs) {
        Job* j = job_of(r.queue_id, id);
        if (rec.type == RecordType::purge) {
          if (j == nullptr || !waiting(j->state)) return bad("purge of a job that is not waiting");
          jobs.erase(id);
          continue;
        }
        if (j == nullptr || j->state != RecordState::dead) return bad("job list names a job that is not dead");
        if (rec.type == RecordType::delete_dead) {
          jobs.erase(id);
        } else {
          j->state = RecordState::ready;
          j->attempts = 0;
          j->error.clear();
          j->reason = DeadReason::failed;  // as a job never dead: write() keeps it for dead ones only
          j->order = rec.lsn;
        }
      }
      return true;
    }
    case RecordType::cancel: {
      wal::CancelRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad cancel body");
      Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || !waiting(j->state)) return bad("cancel of a job that is not waiting");
      jobs.erase(r.job);
      return true;
    }
    case RecordType::pause: {
      wal::PauseRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad pause body");
      QueueState* q = queue_of(r.queue_id);
      if (q == nullptr) return bad("pause of a queue that is not live");
      q->paused = r.paused;
      return true;
    }
    case RecordType::set_priority: {
      wal::SetPriorityRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad set_priority body");
      Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || !waiting(j->state)) return bad("set_priority of a job that is not waiting");
      if (r.priority >= queues[j->queue_index].options.priority_levels) {
        return bad("set_priority to a level the queue does not have");
      }
      j->priority = r.priority;
      j->order = rec.lsn;  // a ready job moves to the end of its new level
      return true;
    }
    case RecordType::set_delay: {
      wal::SetDelayRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad set_delay body");
      Job* j = job_of(r.queue_id, r.job);
      if (j == nullptr || !waiting(j->state)) return bad("set_delay of a job that is not waiting");
      j->state = r.run_at_ns != 0 ? RecordState::delayed : RecordState::ready;
      j->at_wall = r.run_at_ns;
      j->order = rec.lsn;
      return true;
    }
    case RecordType::bind: {
      wal::BindRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad bind body");
      if (queue_of(r.queue_id) == nullptr || !valid_queue_name(r.topic)) {
        return bad("bind of a queue that is not live, or a bad topic");
      }
      auto it = topics.find(r.topic);
      if (r.bound) {
        if (it == topics.end()) it = topics.emplace(std::string(r.topic), std::vector<QueueId>()).first;
        if (std::find(it->second.begin(), it->second.end(), r.queue_id) == it->second.end()) {
          it->second.push_back(r.queue_id);
        }
      } else if (it != topics.end()) {
        std::erase(it->second, r.queue_id);
        if (it->second.empty()) topics.erase(it);
      }
      return true;
    }
    default:
      break;
  }
  *error = std::string("record type ") + wal::record_type_name(static_cast<std::uint16_t>(rec.type)) +
           " does not belong in a log";
  return false;
}

bool LogState::apply_snapshot(const wal::LogRecord& rec, std::string* error) {
  const char* why = nullptr;
  auto bad = [&](const char* what) {
    *error = what;
    return false;
  };
  using wal::RecordType;
  switch (rec.type) {
    case RecordType::queue_create: {
      wal::QueueCreateRec r;
      bool paused = false;
      if (!wal::decode_snapshot_queue(rec.body, &r, &paused)) return bad("bad snapshot queue body");
      if (!create_queue(r.queue_id, r.name, r.options, paused, &why)) return bad(why);
      return true;
    }
    case RecordType::bind: {
      wal::BindRec r;
      if (!wal::decode(rec.body, &r) || !r.bound) return bad("bad snapshot bind body");
      return apply(rec, error);
    }
    case RecordType::snap_job: {
      wal::SnapJobRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad snapshot job body");
      return add_snapshot_job(r, PayloadRef(r.payload), error);
    }
    case RecordType::snap_payload: {
      wal::SnapPayloadRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad snapshot payload body");
      if (!snapshot_payloads_.emplace(r.ref, PayloadRef(r.payload)).second) {
        return bad("snapshot payload ref written twice");
      }
      return true;
    }
    case RecordType::snap_job_shared: {
      wal::SnapJobRec r;
      if (!wal::decode_shared(rec.body, &r)) return bad("bad snapshot shared job body");
      auto it = snapshot_payloads_.find(r.payload_ref);
      if (it == snapshot_payloads_.end()) return bad("snapshot job names a payload ref not written before it");
      return add_snapshot_job(r, it->second, error);
    }
    case RecordType::snap_generations: {
      wal::SnapGenerationsRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad snapshot generations body");
      for (std::size_t i = 0; i < r.generations.size(); ++i) {
        const std::uint32_t index = r.first_index + static_cast<std::uint32_t>(i);
        if (r.generations[i] == 0) continue;
        if (r.kind == wal::SnapGenerationsRec::Kind::slots) {
          saw_job((JobId{r.generations[i]} << 32) | make_slot_ref(r.shard, index));
        } else {
          saw_queue((r.generations[i] << Queue::queue_index_bits) | index);
        }
      }
      return true;
    }
    case RecordType::snap_dedup_key: {
      wal::SnapDedupRec r;
      if (!wal::decode(rec.body, &r)) return bad("bad snapshot dedup body");
      QueueState* q = queue_of(r.queue_id);
      if (q == nullptr || q->options.dedup_keys_max == 0) return bad("dedup key of a queue without dedup");
      q->dedup[std::string(r.key)] = DedupEntry{r.job, r.first_ns};
      return true;
    }
    default:
      break;
  }
  *error = std::string("record type ") + wal::record_type_name(static_cast<std::uint16_t>(rec.type)) +
           " does not belong in a snapshot";
  return false;
}

bool LogState::add_snapshot_job(const wal::SnapJobRec& r, PayloadRef payload, std::string* error) {
  QueueState* q = queue_of(r.queue_id);
  if (q == nullptr) {
    *error = "snapshot job of a queue that is not in the snapshot";
    return false;
  }
  Job j;
  j.priority = r.priority;
  j.state = static_cast<RecordState>(r.state);
  j.reason = r.reason != 0 ? static_cast<DeadReason>(r.reason) : DeadReason::failed;
  j.attempts = static_cast<std::uint16_t>(std::min<std::uint32_t>(r.attempts, attempts_limit));
  j.attempts_max = static_cast<std::uint16_t>(std::min<std::uint32_t>(r.attempts_max, attempts_limit));
  j.lease_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.lease_ms, UINT32_MAX));
  j.nonce = r.nonce;
  j.enqueued_wall = r.enqueued_ns;
  j.at_wall = r.at_ns;
  j.order = r.order;
  j.payload = std::move(payload);
  j.error.assign(r.error);
  const char* why = nullptr;
  if (!add_job(*q, r.job, std::move(j), &why)) {
    *error = why;
    return false;
  }
  return true;
}

int LogState::write(wal::SnapshotWriter& w, std::uint64_t wall_now_ns) const {
  // Generations first: queue indexes, then each shard's slots.
  {
    GenerationWriter out(w, wal::SnapGenerationsRec::Kind::queues, 0);
    for (std::uint32_t index = 0; index < queue_generations.size(); ++index) {
      if (queue_generations[index] == 0) continue;
      if (int rc = out.add(index, queue_generations[index]); rc != 0) return rc;
    }
    if (int rc = out.flush(); rc != 0) return rc;
  }
  for (std::uint32_t s = 0; s < slot_generations.size(); ++s) {
    GenerationWriter out(w, wal::SnapGenerationsRec::Kind::slots, s);
    int rc = 0;
    slot_generations[s].for_each([&](std::uint32_t index, std::uint32_t generation) {
      rc = out.add(index, generation);
      return rc == 0;
    });
    if (rc == 0) rc = out.flush();
    if (rc != 0) return rc;
  }
  std::string body;
  for (const auto& [index, q] : queues) {
    body.clear();
    wal::encode_snapshot_queue(wal::QueueCreateRec{q.id, q.name, q.options}, q.paused, &body);
    if (int rc = w.add(wal::RecordType::queue_create, body); rc != 0) return rc;
  }
  for (const auto& [topic, bound] : topics) {
    for (QueueId id : bound) {
      body.clear();
      wal::encode(wal::BindRec{id, true, topic}, &body);
      if (int rc = w.add(wal::RecordType::bind, body); rc != 0) return rc;
    }
  }
  int rc = 0;
  // Shared bytes (the jobs of one publish) by identity: the ref of the
  // snap_payload record that carries them, written before the first job.
  std::unordered_map<const void*, std::uint64_t> shared_refs;
  jobs.for_each([&](JobId id, const LoggedJob& j) {
    if (rc != 0) return;
    const wal::SnapJobRec r{queues.at(j.queue_index).id,
                            static_cast<std::uint8_t>(j.state),
                            j.priority,
                            static_cast<std::uint8_t>(j.state == RecordState::dead ? j.reason : DeadReason{}),
                            id,
                            j.nonce,
                            j.attempts,
                            j.attempts_max,
                            j.enqueued_wall,
                            j.at_wall,
                            j.lease_ms,
                            j.order,
                            j.error.view(),
                            j.payload.view(),
                            0};
    body.clear();
    if (!j.payload.shared()) {
      wal::encode_head(r, &body);
      rc = w.add(wal::RecordType::snap_job, body, r.payload);
      return;
    }
    auto [it, first] = shared_refs.emplace(j.payload.identity(), shared_refs.size() + 1);
    if (first) {
      wal::encode_head(wal::SnapPayloadRec{it->second, r.payload}, &body);
      rc = w.add(wal::RecordType::snap_payload, body, r.payload);
      if (rc != 0) return;
      body.clear();
    }
    wal::SnapJobRec shared = r;
    shared.payload = {};
    shared.payload_ref = it->second;
    wal::encode_shared(shared, &body);
    rc = w.add(wal::RecordType::snap_job_shared, body);
  });
  if (rc != 0) return rc;
  for (const auto& [index, q] : queues) {
    const std::uint64_t window_ns = ms_to_ns(q.options.dedup_window_ms);
    for (const auto& [key, e] : q.dedup) {
      if (saturating_add(e.first_wall, window_ns) <= wall_now_ns) continue;  // forgotten anyway
      body.clear();
      wal::encode(wal::SnapDedupRec{q.id, e.job, e.first_wall, key}, &body);
      rc = w.add(wal::RecordType::snap_dedup_key, body);
      if (rc != 0) return rc;
    }
  }
  return 0;
}

}  // namespace hotq::engine
