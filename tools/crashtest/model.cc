// The crash campaigns' checker (crashtest.h): what the acknowledged history
// says a recovered engine must hold.
#include <time.h>

#include <algorithm>

#include "tools/crashtest/crashtest.h"

namespace hotq::crashtest {
namespace {

std::uint64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// A lease is checked only while its deadline is this far ahead: the restart
// itself takes time, and the deadline the workload reported is an estimate
// across two clocks.
constexpr std::uint64_t lease_margin_ns = 2'000'000'000;

// Results after which the operation may or may not have happened: the call
// failed on the way to the disk (a torn write may still have carried it).
bool outcome_unknown(Code c) {
  return c == Code::wal_failed || c == Code::io_error || c == Code::closed || c == Code::internal;
}

std::string job_text(std::uint64_t id, std::uint64_t seq) {
  return "job " + std::to_string(id) + " (seq " + std::to_string(seq) + ")";
}

}  // namespace

void Model::violation(std::string what) { pending_violations_.push_back(std::move(what)); }

static const char* op_name(Op op) {
  switch (op) {
    case Op::ready: return "ready";
    case Op::enqueue: return "enqueue";
    case Op::reserve: return "reserve";
    case Op::ack: return "ack";
    case Op::nack: return "nack";
    case Op::fail: return "fail";
    case Op::extend: return "extend";
    case Op::redrive: return "redrive";
    case Op::violation: return "violation";
  }
  return "?";
}

std::string Model::history(std::uint64_t job) const {
  auto it = jobs_.find(job);
  if (it == jobs_.end() || it->second.history.empty()) return std::string();
  std::string out = "\n    its events (oldest first; thread = op_id >> 40):";
  for (const Event& e : it->second.history) {
    out += "\n      " + std::string(op_name(e.op)) + (e.phase == Phase::intent ? " intent" : " done") +
           " thread " + std::to_string(e.op_id >> 40) + " token " + std::to_string(e.token) +
           " attempts " + std::to_string(e.attempts) + " aux " + std::to_string(e.aux) +
           (e.phase == Phase::done ? std::string(" -> ") + code_name(static_cast<Code>(e.code)) : "");
  }
  return out;
}

void Model::remember(const Event& e) {
  auto it = jobs_.find(e.job);
  if (it == jobs_.end()) return;
  std::vector<Event>& h = it->second.history;
  if (h.size() >= job_history_max) h.erase(h.begin());
  h.push_back(e);
}

void Model::mark_gone(std::uint64_t seq, std::uint8_t queue) {
  const std::uint64_t i = ident(seq, queue);
  if (i >= gone_seqs_.size()) gone_seqs_.resize(std::max<std::size_t>(i + 1, gone_seqs_.size() * 2));
  gone_seqs_[i] = true;
}

bool Model::was_gone(std::uint64_t seq, std::uint8_t queue) const {
  const std::uint64_t i = ident(seq, queue);
  return i < gone_seqs_.size() && gone_seqs_[i];
}

Model::Job* Model::find(std::uint64_t job) {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : &it->second;
}

void Model::on_reserved(const Event& e) {
  Job* j = find(e.job);
  if (j == nullptr) {
    // Delivered before its enqueue's done was written (another thread), or
    // enqueued by a call the crash left without a done.
    if (intended_seqs_.count(e.seq) == 0) {
      violation(job_text(e.job, e.seq) + " delivered, but no enqueue ever carried its payload");
      return;
    }
    j = &jobs_[e.job];
    j->seq = e.seq;
    j->queue = e.queue;
    seq_to_job_[ident(e.seq, e.queue)] = e.job;
    enqueue_unknown_.erase(ident(e.seq, e.queue));
  } else if (j->seq != e.seq) {
    violation(job_text(e.job, j->seq) + " delivered with the payload of seq " + std::to_string(e.seq));
  }
  if (j->redrive_inflight > 0) {
    // Delivered before the redrive's done was written (another thread): the
    // redrive went through, and reset the attempts.
    j->dead = false;
    j->attempts_floor = 0;
  }
  if (j->gone && !j->unsure) {
    violation(job_text(e.job, j->seq) + " delivered after an ack of it returned ok" + history(e.job));
  }
  if (was_gone(e.seq, e.queue)) violation(job_text(e.job, e.seq) + " delivered after an ack of it returned ok (before a restart)");
  if (j->dead && !j->unsure) violation(job_text(e.job, j->seq) + " delivered while dead-lettered" + history(e.job));
  j->token = e.token;
  if (e.queue == 1) {
    if (e.attempts < j->attempts_floor && !j->unsure) {
      violation(job_text(e.job, j->seq) + " delivered as attempt " + std::to_string(e.attempts) +
                " after attempt " + std::to_string(j->attempts_floor));
    }
    j->attempts_floor = std::max(j->attempts_floor, e.attempts);
    j->lease_live = true;
    j->deadline_wall = e.aux;
  }
}

void Model::apply(const Event& e) {
  if (e.op != Op::enqueue && e.op != Op::reserve) remember(e);
  switch (e.phase) {
    case Phase::intent:
      if (e.op == Op::enqueue) {
        intended_seqs_.insert(e.seq);
        seq_high_ = std::max(seq_high_, e.seq);
        open_[e.op_id] = e;
      } else {
        Event kept = e;
        if (Job* j = find(e.job); j != nullptr) {
          if (e.op != Op::extend) ++j->inflight;
          if (e.op == Op::redrive) ++j->redrive_inflight;
          kept.aux = j->redrives;  // the redrives seen when this call started
        }
        open_[e.op_id] = kept;
      }
      return;
    case Phase::done:
      break;
  }
  const auto code = static_cast<Code>(e.code);
  if (e.op == Op::violation) {
    violation("the workload was handed job " + std::to_string(e.job) + " with a damaged payload");
    return;
  }
  if (e.op == Op::ready) return;
  if (e.op == Op::reserve) {
    if (code == Code::ok) on_reserved(e);
    remember(e);
    return;
  }
  // A done closes its intent, unless its outcome is unknown: then it stays
  // open, as if the crash had come during the call.
  if (outcome_unknown(code)) return;
  std::uint64_t redrives_at_start = 0;
  if (auto it = open_.find(e.op_id); it != open_.end()) {
    redrives_at_start = it->second.aux;
    open_.erase(it);
  }
  if (e.op == Op::enqueue) {
    if (code == Code::ok || (code == Code::duplicate && e.job != 0)) {
      const std::uint64_t id = e.job;
      if (e.aux != 0) {
        auto [it, fresh] = keys_.try_emplace({e.queue, e.aux - 1}, id);
        if (!fresh && it->second != id) {
          violation("dedup key " + key_name(e.aux - 1) + " of queue " + queue_names[e.queue] +
                    " answered job " + std::to_string(id) + ", first it was job " +
                    std::to_string(it->second));
        }
      }
      if (code == Code::ok) {
        Job& j = jobs_[id];  // may exist: delivered before this done was written
        j.seq = e.seq;
        j.queue = e.queue;
        j.acknowledged = true;
        seq_to_job_[ident(e.seq, e.queue)] = id;
      }
    }
    return;
  }
  Job* j = find(e.job);
  if (j == nullptr) return;  // a job the model never saw enqueued or delivered: nothing to track
  if (j->inflight > 0 && e.op != Op::extend) --j->inflight;
  if (e.op == Op::redrive && j->redrive_inflight > 0) --j->redrive_inflight;
  if (code != Code::ok) return;
  if (e.op == Op::redrive) {
    if (e.aux == 1) {
      ++j->redrives;
      j->dead = false;
      j->attempts_floor = 0;
      j->lease_live = false;
    }
    return;
  }
  // A settle of an older lease arriving after a newer delivery's event (two
  // threads): the newer delivery proves it did not end the job.
  if (e.token != j->token) return;
  // A redrive seen since this call started came after it took effect (only
  // a dead job is redriven): its done arrives late, the job is not dead.
  const bool redriven_since = e.op != Op::enqueue && redrives_at_start != j->redrives;
  switch (e.op) {
    case Op::ack:
      j->gone = true;
      j->lease_live = false;
      break;
    case Op::nack:
      j->lease_live = false;
      if (e.aux == 1 && !redriven_since) j->dead = true;
      break;
    case Op::fail:
      j->lease_live = false;
      if (!redriven_since) j->dead = true;
      break;
    case Op::extend:
      j->deadline_wall = std::max(j->deadline_wall, e.aux);
      break;
    default:
      break;
  }
}

void Model::crashed() {
  for (const auto& [op_id, e] : open_) {
    if (e.op == Op::enqueue) {
      if (seq_to_job_.count(ident(e.seq, e.queue)) == 0) enqueue_unknown_[ident(e.seq, e.queue)] = e.queue;
    } else if (e.op != Op::extend) {
      if (Job* j = find(e.job); j != nullptr) j->unsure = true;
    }
  }
  open_.clear();
  for (auto& [id, j] : jobs_) {
    j.inflight = 0;
    j.redrive_inflight = 0;
  }
}

Verdict Model::verify(Engine& engine, const std::vector<QueueId>& queues, std::mt19937_64& rng) {
  Verdict v;
  const std::uint64_t now_wall = wall_ns();
  std::uint64_t present[2] = {0, 0};
  struct ToAck {
    std::uint8_t queue;
    Lease lease;
    bool must;  // a durable lease the history says is held
  };
  std::vector<ToAck> to_ack;  // settled after the counts
  std::vector<std::uint64_t> erase;
  for (auto& [id, j] : jobs_) {
    if (j.gone) {
      // Acked: checked once, in the round after the ack, then forgotten.
      Result<JobInfo> info = engine.inspect(queues[j.queue], id);
      if (info.ok()) {
        violation(job_text(id, j.seq) + ": an ack of it returned ok, yet it is back after recovery (" +
                  job_state_name(info->state) + ")");
        ++present[j.queue];
      }
      erase.push_back(id);
      continue;
    }
    ++v.jobs_checked;
    Result<JobInfo> info = engine.inspect(queues[j.queue], id);
    if (!info.ok()) {
      if (j.unsure || !j.acknowledged) {
        // An ack in flight went through; or the job was only ever seen
        // delivered (a consumer may reserve a job before its enqueue is
        // durable) and its enqueue never returned ok: its record was lost.
        j.gone = j.unsure;
        erase.push_back(id);
      } else {
        violation(job_text(id, j.seq) + ": its enqueue returned ok and no ack of it did, but it is gone (" +
                  code_name(info.code()) + ")" + history(id));
        erase.push_back(id);
      }
      continue;
    }
    ++present[j.queue];
    j.acknowledged = true;  // recovered: as durable as an acknowledged enqueue from here on
    std::uint64_t seq = 0;
    if (!check_payload(info->payload.view(), &seq) || seq != j.seq) {
      violation(job_text(id, j.seq) + ": payload damaged after recovery");
    }
    if (j.unsure) {
      // Settle what the crash left open from what is there.
      ++v.in_flight;
      j.unsure = false;
      j.gone = false;
      j.dead = info->state == JobState::dead;
      j.attempts_floor = j.queue == 1 ? info->attempts : 0;
      j.lease_live = false;
      if (info->state == JobState::leased && j.token != 0) to_ack.push_back({j.queue, Lease{id, j.token, 0}, false});
      continue;
    }
    if (j.dead && info->state != JobState::dead) {
      violation(job_text(id, j.seq) + ": a fail (or last nack) of it returned ok, but it is " +
                job_state_name(info->state) + " after recovery");
    }
    if (j.queue == 1 && info->attempts < j.attempts_floor) {
      violation(job_text(id, j.seq) + ": attempts went down from " + std::to_string(j.attempts_floor) +
                " to " + std::to_string(info->attempts) + " (durable_delivery queue)");
    }
    if (j.queue == 1 && j.lease_live && j.deadline_wall > now_wall + lease_margin_ns) {
      ++v.leases_checked;
      if (info->state != JobState::leased) {
        violation(job_text(id, j.seq) + ": its durable lease (deadline in " +
                  std::to_string((j.deadline_wall - now_wall) / 1'000'000) + " ms) is lost: " +
                  job_state_name(info->state) + " after recovery");
      } else {
        to_ack.push_back({j.queue, Lease{id, j.token, 0}, true});
      }
    } else if (info->state == JobState::leased && j.token != 0) {
      to_ack.push_back({j.queue, Lease{id, j.token, 0}, false});  // free it rather than wait for expiry
    }
    j.lease_live = false;
  }
  // No job nobody enqueued: the queue holds the known present jobs plus at
  // most the enqueues whose outcome is unknown.
  std::uint64_t unknown[2] = {0, 0};
  for (const auto& [seq_queue, q] : enqueue_unknown_) ++unknown[q];
  for (std::uint8_t q = 0; q < 2; ++q) {
    Result<QueueCounts> c = engine.counts(queues[q]);
    if (!c.ok()) {
      violation(std::string("counts of queue ") + queue_names[q] + ": " + code_name(c.code()));
      continue;
    }
    const std::uint64_t total = c->ready + c->delayed + c->leased + c->dead;
    v.waiting += c->ready + c->delayed;
    v.leased += c->leased;
    v.dead += c->dead;
    if (total < present[q] || total - present[q] > unknown[q]) {
      violation(std::string("queue ") + queue_names[q] + " holds " + std::to_string(total) + " jobs: " +
                std::to_string(present[q]) + " known and at most " + std::to_string(unknown[q]) +
                " from enqueues whose outcome is unknown were expected");
    }
  }
  // Durable leases are still held by their token: ack with it.
  for (const ToAck& a : to_ack) {
    Job& j = jobs_[a.lease.job];
    const Code c = engine.ack(queues[a.queue], a.lease);
    if (c == Code::ok) {
      j.gone = true;
    } else if (a.must) {
      violation(job_text(a.lease.job, j.seq) + ": ack with its durable lease's token refused after recovery: " +
                code_name(c));
    }
  }
  for (std::uint64_t id : erase) {
    const Job& j = jobs_[id];
    if (j.gone) mark_gone(j.seq, j.queue);
    seq_to_job_.erase(ident(j.seq, j.queue));
    jobs_.erase(id);
  }
  // Dedup keys still deduplicate to their first job.
  std::vector<std::pair<std::pair<std::uint8_t, std::uint64_t>, std::uint64_t>> keys(keys_.begin(), keys_.end());
  std::shuffle(keys.begin(), keys.end(), rng);
  if (keys.size() > 32) keys.resize(32);
  for (const auto& [qk, first] : keys) {
    const std::uint64_t seq = ++seq_high_;
    intended_seqs_.insert(seq);
    const std::string payload = make_payload(seq, rng);
    const std::string key = key_name(qk.second);
    Result<JobId> r = engine.enqueue(queues[qk.first], EnqueueRequest{.payload = payload, .dedup_key = key});
    ++v.dedup_checked;
    if (r.code() != Code::duplicate || r.value() != first) {
      violation("dedup key " + key + " of queue " + queue_names[qk.first] + " (first job " +
                std::to_string(first) + ") answered " + code_name(r.code()) +
                (r.has_value() ? " job " + std::to_string(r.value()) : std::string()));
    }
    if (r.ok()) {  // a new job after all: track it, so it is not counted as a stranger
      Job& j = jobs_[r.value()];
      j.seq = seq;
      j.queue = qk.first;
      seq_to_job_[ident(seq, qk.first)] = r.value();
    }
  }
  v.violations = std::move(pending_violations_);
  pending_violations_.clear();
  return v;
}

}  // namespace hotq::crashtest
