// engine/engine.cc — the operations of the in-memory engine. The structures
// and the concurrency contract are in engine/engine_impl.h.
#include <hotq/engine.h>

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <bit>
#include <mutex>
#include <numeric>
#include <thread>
#include <unordered_set>

#include "engine/engine_impl.h"
#include "wal/posix_fs.h"
#include "wal/records.h"
#include "util/check.h"

namespace hotq {

using engine::Counter;
using engine::Handle;
using engine::MutexLock;
using engine::Queue;
using engine::QueueShard;
using engine::Record;
using engine::RecordState;
using engine::Ring;
using engine::Shard;
using engine::SlotRef;
using engine::ms_to_ns;
using engine::saturating_add;
using engine::valid_queue_name;
using engine::valid_queue_options;

namespace {

// Timers one reserve call fires per shard before it goes on: bounds the
// latency a mass expiry adds to one call. The rest fire on later calls.
constexpr std::uint64_t timers_per_poll_max = 4096;

void cpu_relax(std::uint32_t& spins) {
  if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

// Pushes every handle. The queue's job count bounds the handles of one ring
// below its capacity, so a failed push can only mean that a consumer of the
// previous lap has claimed a slot and not yet finished reading it (ring.h,
// "What full means"): it will, without needing anything from us.
void push_all(Ring& ring, const Handle* handles, std::size_t n) {
  std::size_t done = 0;
  std::uint32_t spins = 0;
  while (done < n) {
    done += ring.try_push_n(handles + done, n - done);
    if (done < n) cpu_relax(spins);
  }
}

}  // namespace

// ------------------------------------------------------------------ guard

// Holds a queue open for the duration of one operation (engine_impl.h, "Queue
// guard"). Never held while parked.
class Engine::Impl::Guard {
 public:
  Guard(Impl& e, QueueId id) {
    // acquire: a call that starts after close() returned sees closed_.
    if (e.closed_.load(std::memory_order_acquire)) {
      code_ = Code::closed;
      return;
    }
    std::uint32_t index = id & (queues_max - 1);
    std::uint32_t gen = id >> Queue::queue_index_bits;
    Queue* q = e.queues_[index].load(std::memory_order_acquire);  // see queues_
    if (q == nullptr || (gen & 1) == 0) {
      code_ = Code::no_such_queue;
      return;
    }
    QueueShard& qs = q->shards[e.home_shard()];
    qs.in_flight.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: Dekker with drop_queue
    if (q->generation.load(std::memory_order_seq_cst) != gen) {
      qs.in_flight.fetch_sub(1, std::memory_order_release);
      code_ = Code::no_such_queue;
      return;
    }
    q_ = q;
    qs_ = &qs;
  }
  ~Guard() {
    // release: drop_queue, once it sees zero, sees everything this call did.
    if (q_ != nullptr) qs_->in_flight.fetch_sub(1, std::memory_order_release);
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  bool ok() const { return q_ != nullptr; }
  Code code() const { return code_; }
  Queue& queue() const { return *q_; }
  QueueShard& shard() const { return *qs_; }

 private:
  Queue* q_ = nullptr;
  QueueShard* qs_ = nullptr;
  Code code_ = Code::ok;
};

// ------------------------------------------------------------------ setup

Engine::Impl::Impl(const EngineOptions& options)
    : clock_(options.clock != nullptr ? options.clock : &SystemClock::instance()),
      shard_count_(options.shards),
      queues_(new std::atomic<Queue*>[queues_max]) {
  std::uint64_t now = clock_->now_ns();
  for (std::uint32_t s = 0; s < shard_count_; ++s) {
    shards_.push_back(std::make_unique<Shard>(s, options.timer_tick_ns, now,
                                              options.seed + 0x9e3779b97f4a7c15ull * (s + 1)));
  }
  for (std::uint32_t i = 0; i < queues_max; ++i) {
    queues_[i].store(nullptr, std::memory_order_relaxed);  // relaxed: not yet shared
  }
}

Engine::Impl::~Impl() {
  stop_snapshots();  // it reads the log's files: before the log goes
  if (log_ != nullptr) log_->close();
  stop_completions();
  // No other thread is left (the destructor's contract). Release every
  // payload the records still hold; the slabs free the records.
  for (auto& shard : shards_) {
    std::uint32_t hw = shard->slab.high_water();
    for (std::uint32_t i = 0; i < hw; ++i) {
      Record& r = shard->slab.at(i);
      Payload::release(r.payload);
      r.payload = nullptr;
    }
  }
  for (std::uint32_t i = 0; i < queues_max; ++i) {
    delete queues_[i].load(std::memory_order_relaxed);  // relaxed: single-threaded now
  }
}

std::uint32_t Engine::Impl::home_shard() const {
  if (shard_count_ == 1) return 0;
  // sched_getcpu reads the rseq area glibc registers: no system call.
  int cpu = sched_getcpu();
  return cpu < 0 ? 0 : static_cast<std::uint32_t>(cpu) % shard_count_;
}

void Engine::Impl::close() {
  closed_.store(true, std::memory_order_seq_cst);  // seq_cst: before the wake-ups below
  for (std::uint32_t i = 0; i < queues_max; ++i) {
    Queue* q = queues_[i].load(std::memory_order_acquire);
    if (q == nullptr) continue;
    q->ready_signal.wake_all();
    q->space_signal.wake_all();
  }
  // What is pending goes to disk (interval mode); later appends are refused.
  stop_snapshots();
  if (log_ != nullptr) log_->close();
  stop_completions();  // after the log's last group: callbacks learn its fate
}

// ------------------------------------------------------------------ queues

Result<QueueId> Engine::Impl::create_queue(std::string_view name, const QueueOptions& options) {
  if (closed_.load(std::memory_order_acquire)) return Code::closed;
  if (!valid_queue_name(name) || !valid_queue_options(options)) return Code::invalid_argument;
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  QueueId id = 0;
  std::uint64_t lsn = 0;
  {
    MutexLock lock(table_mu_);
    if (names_.count(std::string(name)) != 0) return Code::already_exists;
    // The first free index whose next generation still fits a QueueId.
    // The new queue's generation (odd: live) is past the old one's at the
    // index, or past the last one a log recorded there, so that no queue id
    // is handed out twice, also across restarts; an index with no
    // generation left is retired.
    std::uint32_t index = queues_max;
    std::uint32_t gen = 0;
    for (std::uint32_t i = 0; i < queues_max; ++i) {
      const Queue* q = queues_[i].load(std::memory_order_relaxed);  // relaxed: written under table_mu_
      if (q != nullptr && (q->generation.load(std::memory_order_relaxed) & 1) != 0) continue;  // live
      std::uint64_t next = 1;
      if (q != nullptr) {
        next = std::uint64_t{q->generation.load(std::memory_order_relaxed)} + 1;
      } else if (i < queue_generation_floor_.size() && queue_generation_floor_[i] != 0) {
        next = std::uint64_t{queue_generation_floor_[i]} + 2;
      }
      if (next > Queue::generation_max) continue;  // retired
      index = i;
      gen = static_cast<std::uint32_t>(next);
      break;
    }
    if (index == queues_max) return Code::limit_exceeded;
    if (durable()) {
      // Logged under table_mu_, before the queue exists: every record of
      // the queue comes after this one.
      std::string body;
      wal::encode(wal::QueueCreateRec{(gen << Queue::queue_index_bits) | index, name, options}, &body);
      const wal::Log::Record rec{wal::RecordType::queue_create, body};
      if (Code c = log_records({&rec, 1}, &lsn, /*admission=*/true); c != Code::ok) return c;
    }
    id = install_queue(index, name, options, gen)->id();
  }
  if (Code c = wait_durable(lsn); c != Code::ok) return c;
  return id;
}

Queue* Engine::Impl::install_queue(std::uint32_t index, std::string_view name,
                                   const QueueOptions& options, std::uint32_t generation) {
  Queue* q = queues_[index].load(std::memory_order_relaxed);
  bool fresh = q == nullptr;
  if (fresh) {
    q = new Queue();
    q->index = index;
    q->shards.reset(new QueueShard[shard_count_]);
  }
  q->name = std::string(name);
  q->options = options;
  q->lease_ns_default = ms_to_ns(options.lease_ms_default);
  q->limiter.reset();
  q->dedup.reset();
  if (options.dedup_keys_max != 0) {
    q->dedup = std::make_unique<engine::DedupTable>(ms_to_ns(options.dedup_window_ms),
                                                    options.dedup_keys_max);
  }
  if (options.rate_limit.tokens_per_interval != 0) {
    const RateLimit& rl = options.rate_limit;
    q->limiter = std::make_unique<engine::RateLimiter>(
        rl.tokens_per_interval, ms_to_ns(rl.interval_ms),
        rl.burst_tokens != 0 ? rl.burst_tokens : rl.tokens_per_interval);
  }
  // relaxed: published by the generation store below.
  q->jobs.store(0, std::memory_order_relaxed);
  q->paused.store(false, std::memory_order_relaxed);
  q->leased_now.store(0, std::memory_order_relaxed);
  std::uint64_t ring_capacity = std::max<std::uint64_t>(2, std::bit_ceil(options.capacity_jobs_max));
  for (std::uint32_t s = 0; s < shard_count_; ++s) {
    QueueShard& qs = q->shards[s];
    for (auto& c : qs.counters) c.store(0, std::memory_order_relaxed);
    for (auto& c : qs.locked) c.store(0, std::memory_order_relaxed);
    qs.wait_hist.reset();  // (no job of the queue is alive: no writer)
    qs.run_hist.reset();
    const bool has_rings = options.ordering == Ordering::sharded || s == 0;
    for (std::uint32_t level = 0; level < priority_levels_max; ++level) {
      qs.rings[level] = has_rings && level < options.priority_levels
                            ? std::make_unique<Ring>(ring_capacity)
                            : nullptr;
    }
  }
  // seq_cst: the new generation (odd: live) publishes everything above to
  // the Guard's seq_cst load.
  q->generation.store(generation != 0 ? generation : q->generation.load(std::memory_order_relaxed) + 1,
                      std::memory_order_seq_cst);
  if (fresh) queues_[index].store(q, std::memory_order_release);  // see queues_
  names_.emplace(q->name, index);
  return q;
}

Result<QueueId> Engine::Impl::find_queue(std::string_view name) {
  MutexLock lock(table_mu_);
  auto it = names_.find(std::string(name));
  if (it == names_.end()) return Code::no_such_queue;
  return queue_at(it->second).id();
}

std::vector<QueueInfo> Engine::Impl::list_queues() {
  MutexLock lock(table_mu_);
  std::vector<QueueInfo> out;
  for (const auto& [name, index] : names_) {
    const Queue& q = queue_at(index);
    out.push_back(QueueInfo{q.id(), q.name, q.options});
  }
  std::sort(out.begin(), out.end(),
            [](const QueueInfo& a, const QueueInfo& b) { return a.name < b.name; });
  return out;
}

Code Engine::Impl::drop_queue(QueueId id) {
  if (closed_.load(std::memory_order_acquire)) return Code::closed;
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  Code logged = Code::ok;
  {
    MutexLock lock(table_mu_);
    std::uint32_t index = id & (queues_max - 1);
    Queue* qp = queues_[index].load(std::memory_order_relaxed);
    if (qp == nullptr || qp->generation.load(std::memory_order_relaxed) != id >> Queue::queue_index_bits ||
        (qp->generation.load(std::memory_order_relaxed) & 1) == 0) {
      return Code::no_such_queue;
    }
    Queue& q = *qp;
    // seq_cst: Dekker with Guard — after this, a new guard backs out, and an
    // older one is visible in in_flight.
    q.generation.fetch_add(1, std::memory_order_seq_cst);
    for (std::uint32_t s = 0; s < shard_count_; ++s) {
      std::uint32_t spins = 0;
      while (q.shards[s].in_flight.load(std::memory_order_seq_cst) != 0) cpu_relax(spins);
    }
    q.ready_signal.wake_all();
    q.space_signal.wake_all();

    // No operation on q is running or can start. Collect every record it owns.
    std::vector<SlotRef> refs;
    std::uint64_t leased = 0;
    (void)take_timed_records(q, /*leased_too=*/true, refs, &leased);
    (void)drain_rings(q, q.shards[0], refs);
    // The claims of its jobs (the dead hold none), freed with the queue.
    const std::uint64_t claims =
        leased * end_claim_bytes_ + (refs.size() - leased) * wait_claim_bytes_;
    {
      MutexLock dead_lock(q.dead_mu);
      for (const auto& [job, entry] : q.dead) refs.push_back(entry.slot);
      q.dead.clear();
    }
    for (SlotRef ref : refs) {
      record(ref).state.store(RecordState::free, std::memory_order_relaxed);  // we own it
    }
    // Logged once nothing of q can change any more (every record of its jobs
    // is before this one), and before its slots can be reused. Under
    // table_mu_, so a bind or a re-create of the name comes after it. A failed
    // log fails the call: the queue is gone here, and on disk nothing more
    // will ever be written.
    if (durable()) {
      RecordBatch& batch = record_batch();
      batch.clear();
      wal::encode(wal::QueueDropRec{id}, &batch.bodies);
      batch.end(wal::RecordType::queue_drop);
      logged = log_batch(batch, &lsn, /*admission=*/false,
                         {.brings = claims});
    }
    free_records(q, refs);
    names_.erase(q.name);
    {
      MutexLock topics_lock(topics_mu_);  // lock order: table, then topics
      for (auto it = topics_.begin(); it != topics_.end();) {
        std::erase(it->second, id);
        it = it->second.empty() ? topics_.erase(it) : std::next(it);
      }
    }
  }
  if (logged != Code::ok) return logged;
  return wait_durable(lsn);
}

// ------------------------------------------------------------------ enqueue

Code Engine::Impl::validate(const Queue& q, const EnqueueRequest& r) const {
  if (r.payload.size() > q.options.payload_bytes_max) return Code::too_large;
  if (r.priority >= q.options.priority_levels || r.delay_ms > delay_ms_max ||
      r.attempts_max > attempts_limit || r.lease_ms > lease_ms_max ||
      r.dedup_key.size() > dedup_key_bytes_max || (!r.dedup_key.empty() && !q.dedup)) {
    return Code::invalid_argument;
  }
  return Code::ok;
}

void Engine::Impl::fill_record(Record& r, const Queue& q, const EnqueueRequest& req,
                               detail::PayloadBuf* payload, std::uint64_t now) {
  r.payload = payload;
  r.enqueued_ns = now;
  r.queue_index = static_cast<std::uint16_t>(q.index);
  r.lease_ms = static_cast<std::uint32_t>(std::min<std::uint64_t>(req.lease_ms, UINT32_MAX));
  r.attempts = 0;
  r.attempts_max = static_cast<std::uint16_t>(req.attempts_max != 0 ? req.attempts_max
                                                                    : q.options.attempts_max);
  r.priority = req.priority;
}

std::uint32_t Engine::Impl::enqueue_some(Queue& q, QueueShard& qs,
                                         std::span<const EnqueueRequest> requests,
                                         std::span<JobId> ids, std::span<Code> codes,
                                         Code* stopped_by, std::uint64_t* lsn) {
  *stopped_by = Code::full;
  const auto n = static_cast<std::int64_t>(requests.size());
  const auto cap = static_cast<std::int64_t>(q.options.capacity_jobs_max);
  // relaxed: the count only has to be exact, not ordered with the job's
  // contents; space waiters are ordered by the WaitSignal handshake.
  std::int64_t before = q.jobs.fetch_add(n, std::memory_order_relaxed);
  std::int64_t take = std::clamp<std::int64_t>(cap - before, 0, n);
  if (take < n) q.jobs.fetch_sub(n - take, std::memory_order_relaxed);
  if (take == 0) return 0;

  const std::uint32_t home = static_cast<std::uint32_t>(&qs - q.shards.get());
  Shard& shard = *shards_[home];
  SlotRef refs[batch_jobs_max];
  auto got = static_cast<std::int64_t>(shard.slab.alloc(refs, static_cast<std::uint32_t>(take)));
  if (got < take) q.jobs.fetch_sub(take - got, std::memory_order_relaxed);  // shard full
  std::uint32_t count = static_cast<std::uint32_t>(got);
  if (count == 0) return 0;

  // A durable engine must not answer "duplicate" for a job whose enqueue is
  // not on disk (a crash would lose the job, and with it the message of the
  // producer told it was enqueued): keyed enqueues claim and append under
  // dedup_log_mu, so a duplicate found here is of a job already appended,
  // whose LSN is at most the log's last one, and the answer waits for that.
  bool keyed = false;
  if (durable() && q.dedup != nullptr) {
    for (std::uint32_t i = 0; i < count && !keyed; ++i) keyed = !requests[i].dedup_key.empty();
  }
  std::unique_lock<engine::Mutex> keyed_lock(q.dedup_log_mu, std::defer_lock);
  if (keyed) keyed_lock.lock();
  const std::uint64_t now = now_ns();
  // What became of each request: a job (ready or delayed), or a duplicate
  // (its record goes back unused).
  enum Fate : std::uint8_t { duplicate, ready, delayed };
  Fate fate[batch_jobs_max];
  std::uint32_t delayed_count = 0;
  std::uint32_t duplicates = 0;
  std::uint32_t level_mask = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const EnqueueRequest& req = requests[i];
    Record& r = record(refs[i]);
    if (!req.dedup_key.empty()) {
      JobId first = 0;
      const auto claim = q.dedup->claim(req.dedup_key, now, r.id(), &first);
      if (claim == engine::DedupTable::Claim::duplicate) {
        fate[i] = duplicate;
        ids[i] = first;
        if (!codes.empty()) codes[i] = Code::duplicate;
        ++duplicates;
        continue;
      }
      if (claim == engine::DedupTable::Claim::full) {
        *stopped_by = Code::dedup_full;
        count = i;  // a prefix is done; the rest go back
        break;
      }
    }
    fill_record(r, q, req, engine::payload_new(req.payload), now);
    ids[i] = r.id();
    if (!codes.empty()) codes[i] = Code::ok;
    if (req.delay_ms != 0) {
      fate[i] = delayed;
      ++delayed_count;
    } else {
      fate[i] = ready;
      level_mask |= 1u << req.priority;
    }
  }
  // Records not used (duplicates, and everything after a dedup_full stop)
  // go back, with their units of capacity.
  const std::uint32_t unused = duplicates + static_cast<std::uint32_t>(got) - count;
  if (unused != 0) {
    for (std::uint32_t i = 0; i < static_cast<std::uint32_t>(got); ++i) {
      if (i >= count || fate[i] == duplicate) shard.slab.free_one(refs[i]);
    }
    q.jobs.fetch_sub(unused, std::memory_order_relaxed);  // relaxed: see above
    q.space_signal.notify();
    qs.add(engine::c_dedup_hits, duplicates);
  }
  // The duplicates' originals were appended before their keys could be
  // found (see keyed_lock): this call is durable only once they are.
  if (duplicates != 0 && durable()) *lsn = std::max(*lsn, log_->last_lsn());
  if (durable() && count > duplicates) {
    // Logged before any job becomes visible, so every later record of a job
    // (its reserve, its ack) comes after its enqueue in the log.
    RecordBatch& batch = record_batch();
    batch.clear();
    for (std::uint32_t i = 0; i < count; ++i) {
      if (fate[i] == duplicate) continue;
      const Record& r = record(refs[i]);
      const EnqueueRequest& req = requests[i];
      wal::encode_head(wal::EnqueueRec{q.id(), r.priority, r.id(), to_wall(now),
                                       req.delay_ms != 0
                                           ? to_wall(saturating_add(now, ms_to_ns(req.delay_ms)))
                                           : 0,
                                       r.attempts_max, r.lease_ms, req.dedup_key, req.payload},
                       &batch.bodies);
      batch.end(wal::RecordType::enqueue, req.payload);  // the payload is not copied first
    }
    // Each new job keeps a claim for the record that will end it.
    const Room room{.holds = (count - duplicates) * wait_claim_bytes_};
    if (Code c = log_batch(batch, lsn, /*admission=*/true, room); c != Code::ok) {
      // Not logged: the jobs never existed (no room, the log has failed, or
      // the batch cannot fit one group). Their dedup keys go back too, or a
      // producer's retry would be answered "duplicate" of a job that never
      // was.
      SlotRef made[batch_jobs_max];
      std::uint32_t m = 0;
      for (std::uint32_t i = 0; i < count; ++i) {
        if (fate[i] == duplicate) continue;
        made[m++] = refs[i];
        // (Only if the key still names this job: once its window passed,
        // another enqueue may hold it.)
        if (!requests[i].dedup_key.empty()) {
          (void)q.dedup->release(requests[i].dedup_key, record(refs[i]).id());
        }
      }
      free_records(q, {made, m});
      q.space_signal.notify();
      *stopped_by = c;
      return 0;
    }
  }
  if (delayed_count != 0) {
    MutexLock lock(shard.mu);
    for (std::uint32_t i = 0; i < count; ++i) {
      if (fate[i] != delayed) continue;
      Record& r = record(refs[i]);
      r.state.store(RecordState::delayed, std::memory_order_relaxed);  // relaxed: under mu
      schedule_locked(shard, q, r, saturating_add(now, ms_to_ns(requests[i].delay_ms)));
    }
    qs.add(engine::g_delayed, delayed_count);
  }
  // Ready jobs go to the home shard's ring of their level, in request order.
  Handle handles[batch_jobs_max];
  while (level_mask != 0) {
    const auto level = static_cast<std::uint32_t>(std::countr_zero(level_mask));
    level_mask &= level_mask - 1;
    std::size_t m = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (fate[i] != ready || requests[i].priority != level) continue;
      Record& r = record(refs[i]);
      r.set_ready_since(now);
      handles[m++] = engine::make_handle(++r.nonce, refs[i]);
      // release: a consumer that pops the handle and then reads the state
      // (acquire) sees the whole record, its nonce included.
      r.state.store(RecordState::ready, std::memory_order_release);
    }
    // Counted before the push, so the gauge never dips below zero.
    qs.add(static_cast<Counter>(engine::g_ready0 + level), static_cast<std::int64_t>(m));
    push_all(ring_for(q, home, level), handles, m);
  }
  const std::uint32_t jobs_made = count - duplicates;
  if (jobs_made > delayed_count) q.ready_signal.notify();
  if (jobs_made != 0) qs.add(engine::c_enqueued, jobs_made);
  return count;
}

BatchResult Engine::Impl::enqueue(QueueId id, std::span<const EnqueueRequest> requests,
                                  std::span<JobId> ids, std::span<Code> codes,
                                  std::uint64_t timeout_ms, bool wait) {
  if (Code c = refuse_if_log_failed(); c != Code::ok) return {c, 0};
  std::uint64_t lsn = 0;
  BatchResult result = enqueue_logged(id, requests, ids, codes, timeout_ms, wait, &lsn);
  // Sync mode: an enqueue returns once its records are fdatasync'ed.
  if (lsn != 0 && wait_durable(lsn) != Code::ok) return {Code::wal_failed, 0};
  return result;
}

BatchResult Engine::Impl::enqueue_logged(QueueId id, std::span<const EnqueueRequest> requests,
                                         std::span<JobId> ids, std::span<Code> codes,
                                         std::uint64_t timeout_ms, bool wait,
                                         std::uint64_t* lsn) {
  HOTQ_CHECK(ids.size() >= requests.size());
  HOTQ_CHECK(codes.empty() || codes.size() >= requests.size());
  if (requests.size() > batch_jobs_max) return {Code::invalid_argument, 0};
  std::uint32_t done = 0;
  std::uint64_t deadline = 0;
  for (;;) {
    Queue* q = nullptr;
    {
      Guard g(*this, id);
      if (!g.ok()) return {g.code(), done};
      if (done == 0) {
        for (const EnqueueRequest& r : requests) {
          if (Code c = validate(g.queue(), r); c != Code::ok) return {c, 0};
        }
      }
      Code stopped_by = Code::full;
      done += enqueue_some(g.queue(), g.shard(), requests.subspan(done), ids.subspan(done),
                           codes.empty() ? codes : codes.subspan(done), &stopped_by, lsn);
      // A full queue still answers duplicates of keys it remembers, so an
      // idempotent producer's retry is not refused for lack of room.
      while (stopped_by == Code::full && done < requests.size() &&
             !requests[done].dedup_key.empty()) {
        JobId first = 0;
        {
          // As in enqueue_some: the original is appended; wait for it.
          std::unique_lock<engine::Mutex> keyed_lock(g.queue().dedup_log_mu, std::defer_lock);
          if (durable()) keyed_lock.lock();
          if (!g.queue().dedup->find(requests[done].dedup_key, now_ns(), &first)) break;
          if (durable()) *lsn = std::max(*lsn, log_->last_lsn());
        }
        ids[done] = first;
        if (!codes.empty()) codes[done] = Code::duplicate;
        g.shard().add(engine::c_dedup_hits, 1);
        ++done;
      }
      if (done == requests.size()) return {Code::ok, done};
      if (stopped_by != Code::full) return {stopped_by, done};
      if (!wait) {
        g.shard().add(engine::c_rejected_full, static_cast<std::int64_t>(requests.size() - done));
        return {Code::full, done};
      }
      q = &g.queue();
    }
    // Park until room may have appeared. The Queue object outlives any drop,
    // so q stays valid; the next Guard tells whether it is still this queue.
    const std::uint64_t now = now_ns();
    if (deadline == 0) deadline = saturating_add(now, ms_to_ns(timeout_ms));
    if (now >= deadline) return {Code::timed_out, done};
    const std::uint32_t epoch = q->space_signal.prepare();
    if (q->jobs.load(std::memory_order_relaxed) >=
        static_cast<std::int64_t>(q->options.capacity_jobs_max)) {
      q->space_signal.wait(epoch, deadline - now);
    }
    q->space_signal.done_waiting();
  }
}

// ------------------------------------------------------------------ reserve

bool Engine::Impl::lease_locked(Shard& shard, Queue& q, Handle handle, std::uint64_t lease_ms,
                                std::uint64_t now, ReservedJob& out) {
  const SlotRef ref = engine::slot_of(handle);
  Record& r = record(ref);
  // A handle is outdated when its job was cancelled, re-prioritised or
  // re-delayed after the handle was pushed (job_table.h). acquire: see enqueue.
  if (r.state.load(std::memory_order_acquire) != RecordState::ready ||
      r.nonce != engine::nonce_of(handle)) {
    return false;
  }
  r.state.store(RecordState::leased, std::memory_order_relaxed);  // relaxed: under mu
  ++r.nonce;
  if (r.attempts < UINT16_MAX) ++r.attempts;
  if (r.attempts == 1 && now >= r.enqueued_ns) {
    // The histograms of q.shards[s] are written only under shard s's lock,
    // which we hold: a plain record, no atomic read-modify-write.
    q.shards[shard.slab.shard()].wait_hist.record_exclusive(now - r.enqueued_ns);
  }
  QueueShard& locked = q.shards[shard.slab.shard()];  // its counters: ours under mu
  locked.add_locked(engine::l_leased, 1);
  locked.add_locked(static_cast<engine::LockedCounter>(engine::l_taken0 + r.priority), 1);
  const std::uint64_t lease_ns = lease_ms != 0     ? ms_to_ns(lease_ms)
                                 : r.lease_ms != 0 ? ms_to_ns(r.lease_ms)
                                                   : q.lease_ns_default;
  const std::uint64_t deadline = saturating_add(now, lease_ns);
  schedule_locked(shard, q, r, deadline);
  // relaxed: a new reference made from the record's, which keeps it alive.
  r.payload->refs.fetch_add(1, std::memory_order_relaxed);
  out.id = r.id();
  out.token = engine::make_handle(r.nonce, ref);
  out.attempt = r.attempts;
  out.priority = r.priority;
  out.lease_deadline_ns = deadline;
  out.reserved_ns = now;
  out.payload = Payload::adopt(r.payload);
  return true;
}

std::uint32_t Engine::Impl::reserve_some(Queue& q, QueueShard& qs, std::span<ReservedJob> out,
                                         std::uint64_t lease_ms, Code* why_none,
                                         std::uint64_t* lsn) {
  const std::uint64_t now = now_ns();
  poll_timers(now, timers_per_poll_max);
  *why_none = Code::empty;
  // acquire: pairs with pause()/resume()'s release; a hint, re-read each call.
  if (q.paused.load(std::memory_order_acquire)) {
    *why_none = Code::paused;
    return 0;
  }
  auto want = static_cast<std::uint32_t>(out.size());
  // The queue's caps take their share first and get back what is not used.
  std::uint32_t leased_taken = 0;
  if (q.options.leased_max != 0) {
    // relaxed: a count; exactness is all that matters.
    const std::int64_t before = q.leased_now.fetch_add(want, std::memory_order_relaxed);
    leased_taken = static_cast<std::uint32_t>(std::clamp<std::int64_t>(
        static_cast<std::int64_t>(q.options.leased_max) - before, 0, want));
    if (leased_taken < want) q.leased_now.fetch_sub(want - leased_taken, std::memory_order_relaxed);
    if (leased_taken == 0) {
      *why_none = Code::leased_full;
      return 0;
    }
    want = leased_taken;
  }
  std::uint32_t tokens = 0;
  if (q.limiter) {
    tokens = q.limiter->try_acquire(now, want);
    if (tokens == 0) {
      if (leased_taken != 0) q.leased_now.fetch_sub(leased_taken, std::memory_order_relaxed);
      qs.add(engine::c_rate_limited, 1);
      *why_none = Code::rate_limited;
      return 0;
    }
    if (leased_taken > tokens) {  // a partial grant: the unused leased share goes back now
      q.leased_now.fetch_sub(leased_taken - tokens, std::memory_order_relaxed);
      leased_taken = tokens;
    }
    want = tokens;
  }

  const std::uint32_t home = static_cast<std::uint32_t>(&qs - q.shards.get());
  const std::uint32_t ring_shards = q.options.ordering == Ordering::fifo ? 1 : shard_count_;
  Handle handles[batch_jobs_max];
  std::uint32_t got = 0;
  std::uint32_t stale = 0;
  // Rounds until enough jobs are leased or the rings are empty: a round
  // that pops outdated handles (cancelled or moved jobs) tries again, so a
  // ready job behind any number of them is reached — stopping earlier would
  // answer empty while a job is ready, and reserve_wait would then sleep
  // past it. It ends: every handle popped is gone from the rings, and the
  // outdated ones were each left by a cancel or a move, so this call does
  // their (already counted) work once and no later call does it again.
  while (got < want) {
    std::uint32_t n = 0;
    // Strict precedence: every shard's ring of a level before the next level.
    for (std::uint32_t level = 0; level < q.options.priority_levels && n < want - got; ++level) {
      for (std::uint32_t k = 0; k < ring_shards && n < want - got; ++k) {
        const std::uint32_t s = home + k < shard_count_ ? home + k : home + k - shard_count_;
        Ring& ring = ring_for(q, s, level);
        n += static_cast<std::uint32_t>(ring.try_pop_n(handles + n, want - got - n));
      }
    }
    if (n == 0) break;
    // Lease them, one lock per run of handles from the same slab shard.
    std::uint32_t i = 0;
    std::uint32_t leased_here = 0;
    while (i < n) {
      Shard& shard = *shards_[engine::slot_shard(engine::slot_of(handles[i]))];
      MutexLock lock(shard.mu);
      const std::uint32_t run_first = leased_here;
      do {
        if (lease_locked(shard, q, handles[i], lease_ms, now, out[got + leased_here])) {
          ++leased_here;
        } else {
          ++stale;
        }
        ++i;
      } while (i < n && engine::slot_shard(engine::slot_of(handles[i])) == shard.slab.shard());
      // Logged under the lock that the job's ack will take, so the reserve
      // precedes the ack in the log. Not waited for: a reserve lost in a
      // crash costs one more delivery (at-least-once), nothing else. Paid
      // by the reserve part of each job's claim: a reserve never lacks room,
      // so a full disk never stops a queue from draining.
      if (durable() && leased_here != run_first) {
        log_reserves(q, out.subspan(got + run_first, leased_here - run_first), lsn,
                     (leased_here - run_first) * reserve_framed_);
      }
    }
    got += leased_here;
  }
  if (stale != 0) {
    // Outdated handles held a unit of capacity each (see cancel_job).
    qs.add(engine::g_stale, -static_cast<std::int64_t>(stale));
    q.jobs.fetch_sub(stale, std::memory_order_relaxed);  // relaxed: see free_records
    q.space_signal.notify();
  }
  if (got < want) {
    if (q.limiter) q.limiter->give_back(want - got);
    if (leased_taken != 0) q.leased_now.fetch_sub(want - got, std::memory_order_relaxed);
  }
  return got;
}

BatchResult Engine::Impl::reserve(QueueId id, std::span<ReservedJob> out, std::uint64_t lease_ms,
                                  std::uint64_t timeout_ms, bool wait) {
  if (out.empty() || out.size() > batch_jobs_max || lease_ms > lease_ms_max) {
    return {Code::invalid_argument, 0};
  }
  std::uint64_t deadline = 0;
  Code blocked_by = Code::empty;
  for (;;) {
    Queue* q = nullptr;
    std::uint32_t n = 0;
    std::uint64_t lsn = 0;
    bool wait_lease = false;
    {
      Guard g(*this, id);
      if (!g.ok()) return {g.code(), 0};
      Code why = Code::empty;
      n = reserve_some(g.queue(), g.shard(), out, lease_ms, &why, &lsn);
      wait_lease = g.queue().options.durable_delivery;
      // Worth waiting for: a job, a resume, a settled lease, a token. Not
      // for the log (no_space, wal_failed, closed).
      const bool passing = why == Code::empty || why == Code::paused ||
                           why == Code::leased_full || why == Code::rate_limited;
      if (n == 0 && (!wait || !passing)) return {why, 0};
      q = &g.queue();
      blocked_by = why;
    }
    if (n != 0) {
      // durable_delivery: the leases are handed out only once on disk. If the
      // log failed, they are not handed out at all (they expire as any lease
      // whose holder vanished).
      if (wait_lease && lsn != 0 && (lsn == lsn_unloggable || !log_->wait_durable(lsn))) {
        return {Code::wal_failed, 0};
      }
      return {Code::ok, n};
    }
    const std::uint64_t now = now_ns();
    if (deadline == 0) deadline = saturating_add(now, ms_to_ns(timeout_ms));
    if (now >= deadline) return {Code::timed_out, 0};
    const std::uint32_t epoch = q->ready_signal.prepare();
    // Re-check after prepare(): what blocked us may have gone already. A job
    // in a ring, a resume and a settled lease all notify ready_signal; a due
    // timer and a rate-limit token are waited for by time.
    bool retry = false;
    std::uint64_t wake = std::min(deadline, earliest_due());
    if (blocked_by == Code::empty) {
      for (std::uint32_t s = 0; s < shard_count_ && !retry; ++s) {
        for (const auto& ring : q->shards[s].rings) {
          if (ring && !ring->empty_approx()) {
            retry = true;
            break;
          }
        }
      }
    } else if (blocked_by == Code::paused) {
      retry = !q->paused.load(std::memory_order_acquire);
    } else if (blocked_by == Code::leased_full) {
      retry = q->leased_now.load(std::memory_order_relaxed) <
              static_cast<std::int64_t>(q->options.leased_max);
    } else if (blocked_by == Code::rate_limited && q->limiter) {
      wake = std::min(wake, q->limiter->next_available_ns(now));
    }
    if (!retry && wake > now) q->ready_signal.wait(epoch, wake - now);
    q->ready_signal.done_waiting();
  }
}

// ------------------------------------------------------------------ settle

std::uint32_t Engine::Impl::settle(QueueId id, std::span<const Lease> leases,
                                   std::span<Code> results, const SettleArgs& args) {
  HOTQ_CHECK(results.size() >= leases.size());
  auto fill = [&](Code c) {
    for (std::size_t i = 0; i < leases.size(); ++i) results[i] = c;
    return 0u;
  };
  if (leases.size() > batch_jobs_max) return fill(Code::invalid_argument);
  if (args.how == Settle::extend && (args.delay_ms == 0 || args.delay_ms > lease_ms_max)) {
    return fill(Code::invalid_argument);
  }
  if (args.how == Settle::nack && args.has_delay && args.delay_ms > delay_ms_max) {
    return fill(Code::invalid_argument);
  }
  if (Code c = refuse_if_log_failed(); c != Code::ok) return fill(c);
  Guard g(*this, id);
  if (!g.ok()) return fill(g.code());
  const std::uint64_t now = now_ns();
  // On the stack: a settle call allocates nothing (batch_jobs_max bounds it).
  SlotRef freed[batch_jobs_max];
  std::uint32_t freed_count = 0;
  std::uint32_t ok = 0;
  std::uint64_t lsn = 0;
  for (std::size_t i = 0; i < leases.size(); ++i) {
    results[i] = settle_one(g.queue(), g.shard(), leases[i], args, now, freed, &freed_count, &lsn);
    if (results[i] == Code::ok) ++ok;
  }
  free_records(g.queue(), {freed, freed_count});
  if (args.lsn_out != nullptr) {  // asynchronous: the caller holds a ticket instead
    *args.lsn_out = lsn;
    return ok;
  }
  // Sync mode: the settle returns once its records are fdatasync'ed; if the
  // log failed first, none of them is reported done.
  if (lsn != 0 && wait_durable(lsn) != Code::ok) {
    for (std::size_t i = 0; i < leases.size(); ++i) {
      if (results[i] == Code::ok) results[i] = Code::wal_failed;
    }
    return 0;
  }
  return ok;
}

Code Engine::Impl::settle_one(Queue& q, QueueShard& qs, const Lease& lease,
                              const SettleArgs& args, std::uint64_t now,
                              SlotRef* freed, std::uint32_t* freed_count, std::uint64_t* lsn) {
  const SlotRef ref = engine::slot_of(lease.token);
  const std::uint32_t nonce = engine::nonce_of(lease.token);
  const std::uint32_t s = engine::slot_shard(ref);
  if (s >= shard_count_) return Code::stale_lease;
  Shard& shard = *shards_[s];
  if (engine::slot_index(ref) >= shard.slab.high_water()) return Code::stale_lease;

  MutexLock lock(shard.mu);
  Record& r = record(ref);
  // Only a leased record's other fields are read: see job_table.h.
  if (r.state.load(std::memory_order_acquire) != RecordState::leased || r.nonce != nonce ||
      r.id() != lease.job || r.queue_index != q.index) {
    return Code::stale_lease;
  }
  // Room for the record, taken before anything changes (no_space refuses
  // this lease alone). An ack, and a dead record without a longer error
  // text than the expiry's, are paid by the job's own claim.
  std::uint64_t room = 0;
  if (durable()) {
    const bool dies = args.how == Settle::fail ||
                      (args.how == Settle::nack && r.attempts >= r.attempts_max);
    if (args.how == Settle::extend) {
      room = lease_framed_;
    } else if (dies) {
      const std::uint64_t dead = dead_framed(args.error);
      room = dead - std::min(dead, end_claim_bytes_);
    } else if (args.how == Settle::nack) {
      // Its record, and the reserve part of a waiting job's claim again.
      room = nack_framed(args.error) + reserve_framed_;
    }
    if (Code c = take_room(room); c != Code::ok) return c;
  }
  shard.wheel.cancel(&r.timer);
  switch (args.how) {
    case Settle::extend: {
      const std::uint64_t deadline = saturating_add(now, ms_to_ns(args.delay_ms));
      schedule_locked(shard, q, r, deadline);
      if (durable()) {
        log_lease(wal::RecordType::extend, q, lease.job, lease.token, to_wall(deadline), lsn, room);
      }
      break;
    }
    case Settle::ack:
      if (durable()) {
        log_lease(wal::RecordType::ack, q, lease.job, lease.token, 0, lsn, end_claim_bytes_);
      }
      r.state.store(RecordState::free, std::memory_order_relaxed);  // relaxed: under mu
      q.shards[s].add_locked(engine::l_completed, 1);  // under shard s's lock
      if (lease.reserved_ns != 0 && lease.reserved_ns <= now) {
        q.shards[s].run_hist.record_exclusive(now - lease.reserved_ns);  // under shard s's lock
      }
      leave_leased(q, s);
      freed[(*freed_count)++] = ref;
      break;
    case Settle::fail:
      qs.add(engine::c_failed, 1);
      leave_leased(q, s);
      to_dead_locked(shard, q, qs, r, ref, DeadReason::failed, args.error, now, lsn,
                     end_claim_bytes_ + room);
      break;
    case Settle::nack: {
      leave_leased(q, s);
      if (r.attempts >= r.attempts_max) {
        to_dead_locked(shard, q, qs, r, ref, DeadReason::attempts_nacked, args.error, now, lsn,
                       end_claim_bytes_ + room);
        break;
      }
      qs.add(engine::c_retried, 1);
      const std::uint64_t delay_ms =
          args.has_delay ? args.delay_ms : backoff_ms(shard, q.options.backoff, r.attempts);
      if (durable()) {
        log_nack(q, lease, delay_ms == 0 ? 0 : to_wall(saturating_add(now, ms_to_ns(delay_ms))),
                 args.error, lsn, room - reserve_framed_);  // the rest stays the job's
      }
      if (delay_ms == 0) {
        make_ready(q, qs, r, ref, now);
      } else {
        r.state.store(RecordState::delayed, std::memory_order_relaxed);  // relaxed: under mu
        schedule_locked(shard, q, r, saturating_add(now, ms_to_ns(delay_ms)));
        qs.add(engine::g_delayed, 1);
      }
      break;
    }
  }
  publish_next_due(shard);
  return Code::ok;
}

void Engine::Impl::to_dead_locked(Shard& shard, Queue& q, QueueShard& qs, Record& r, SlotRef ref,
                                  DeadReason reason, std::string_view error, std::uint64_t now,
                                  std::uint64_t* lsn, std::uint64_t brings) {
  (void)shard;
  if (durable()) log_dead(q, r.id(), reason, to_wall(now), error, lsn, brings);
  r.state.store(RecordState::dead, std::memory_order_relaxed);  // relaxed: under mu
  engine::DeadEntry entry;
  entry.slot = ref;
  entry.reason = reason;
  entry.dead_ns = now;
  entry.error = std::string(error.substr(0, error_text_bytes_max));
  {
    MutexLock lock(q.dead_mu);  // lock order: shard, then dead_mu
    q.dead.emplace(r.id(), std::move(entry));
  }
  qs.add(engine::c_dead_lettered, 1);
  qs.add(engine::g_dead, 1);
}

void Engine::Impl::make_ready(Queue& q, QueueShard& qs, Record& r, SlotRef ref,
                              std::uint64_t ready_since_ns, bool replaces_handle) {
  // One live handle per ready job: a second would deliver it twice. A job
  // that is ready already gets a new handle only to replace its old one,
  // which the nonce bump below makes outdated.
  HOTQ_DCHECK(replaces_handle ||
              r.state.load(std::memory_order_relaxed) != RecordState::ready);
  const std::uint8_t priority = r.priority;
  // Counted before the push: once pushed, the job may be leased, completed
  // and its record reused at once, so nothing of r may be read after it.
  qs.add(static_cast<Counter>(engine::g_ready0 + priority), 1);
  const Handle h = ready_handle(r, ref, ready_since_ns);
  push_all(ring_for(q, engine::slot_shard(ref), priority), &h, 1);
  q.ready_signal.notify();
}

void Engine::Impl::leave_leased(Queue& q, std::uint32_t s) {
  q.shards[s].add_locked(engine::l_leased, -1);  // the caller holds shard s's lock
  if (q.options.leased_max != 0) {
    q.leased_now.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a count
    q.ready_signal.notify();  // a reserve blocked on leased_full may go on
  }
}


void Engine::Impl::free_records(Queue& q, std::span<const SlotRef> refs,
                                bool release_capacity) {
  if (refs.empty()) return;
  for (SlotRef ref : refs) {
    Record& r = record(ref);
    Payload::release(r.payload);
    r.payload = nullptr;
    shards_[engine::slot_shard(ref)]->slab.free_one(ref);
  }
  if (!release_capacity) return;
  // relaxed: notify()'s release RMW below orders it for space waiters.
  q.jobs.fetch_sub(static_cast<std::int64_t>(refs.size()), std::memory_order_relaxed);
  q.space_signal.notify();
}

// ------------------------------------------------------------------ timers

void Engine::Impl::schedule_locked(Shard& shard, Queue& q, Record& r, std::uint64_t deadline_ns) {
  shard.wheel.schedule(&r.timer, deadline_ns);
  const std::uint64_t next = shard.wheel.next_deadline_ns();
  if (next < shard.next_due_ns.load(std::memory_order_relaxed)) {
    shard.next_due_ns.store(next, std::memory_order_release);  // release: see Shard
    // A waiter of q may sleep until a later due time: let it recompute.
    q.ready_signal.notify();
  }
}

void Engine::Impl::publish_next_due(Shard& shard) {
  shard.next_due_ns.store(shard.wheel.next_deadline_ns(), std::memory_order_release);
}

std::uint64_t Engine::Impl::earliest_due() const {
  std::uint64_t due = UINT64_MAX;
  for (const auto& shard : shards_) {
    due = std::min(due, shard->next_due_ns.load(std::memory_order_acquire));
  }
  return due;
}

std::uint64_t Engine::Impl::poll_timers(std::uint64_t now, std::uint64_t fire_max) {
  std::uint64_t fired = 0;
  for (auto& shard_ptr : shards_) {
    Shard& shard = *shard_ptr;
    if (now < shard.next_due_ns.load(std::memory_order_acquire)) continue;
    MutexLock lock(shard.mu);
    if (now < shard.advanced_ns) continue;  // a later time was already handled
    shard.advanced_ns = now;
    const std::uint32_t s = shard.slab.shard();
    fired += shard.wheel.advance(
        now,
        [&](engine::TimerNode* node) HOTQ_NO_TSA {
          Record& r = *engine::record_of(node);
          const SlotRef ref = shard.slab.ref_of(r);
          Queue& q = queue_at(r.queue_index);
          QueueShard& qs = q.shards[s];
          // The state says what the timer meant (job_table.h). relaxed: under mu.
          const RecordState st = r.state.load(std::memory_order_relaxed);
          if (st == RecordState::delayed) {
            qs.add(engine::g_delayed, -1);
            make_ready(q, qs, r, ref, now);
            return;
          }
          HOTQ_DCHECK(st == RecordState::leased);
          std::uint64_t lsn = 0;  // not waited for: a lost expiry expires again
          if (durable()) {
            // No room for the record (a full disk): the lease is kept a while
            // longer, its holder's ack still good, and expires once there is.
            // A job that waits again needs the reserve part of its claim back.
            const bool dies = q.options.expiry_counts_as_attempt && r.attempts >= r.attempts_max;
            if (take_room(lease_framed_ + (dies ? 0 : reserve_framed_)) != Code::ok) {
              shard.wheel.schedule(&r.timer, saturating_add(now, ms_to_ns(expiry_retry_ms)));
              return;
            }
            log_lease(wal::RecordType::expire, q, r.id(), engine::make_handle(r.nonce, ref), 0,
                      &lsn, lease_framed_);
          }
          qs.add(engine::c_expired, 1);
          leave_leased(q, s);
          if (!q.options.expiry_counts_as_attempt) {
            --r.attempts;  // this delivery does not count
          } else if (r.attempts >= r.attempts_max) {
            to_dead_locked(shard, q, qs, r, ref, DeadReason::attempts_expired,
                           expired_error_text, now, &lsn, end_claim_bytes_);
            return;
          }
          make_ready(q, qs, r, ref, now);
        },
        fire_max);
    publish_next_due(shard);
  }
  return fired;
}

std::uint64_t Engine::Impl::run_timers() {
  std::uint64_t fired = 0;
  const std::uint64_t now = now_ns();
  for (;;) {
    std::uint64_t n = poll_timers(now, timers_per_poll_max);
    fired += n;
    if (n == 0) return fired;
  }
}

std::uint64_t Engine::Impl::backoff_ms(Shard& shard, const Backoff& b, std::uint32_t attempt) {
  std::uint64_t delay = b.base_ms;
  if (b.kind == Backoff::Kind::exponential && attempt > 1) {
    const std::uint32_t shift = std::min<std::uint32_t>(attempt - 1, 63);
    delay = (b.base_ms != 0 && b.base_ms > (b.cap_ms >> shift)) ? b.cap_ms : b.base_ms << shift;
  }
  delay = std::min(delay, b.cap_ms);
  if (b.jitter_percent != 0 && delay != 0) {
    // xorshift64: cheap, seeded per shard, reproducible for tests.
    shard.rng ^= shard.rng << 13;
    shard.rng ^= shard.rng >> 7;
    shard.rng ^= shard.rng << 17;
    const std::uint64_t span = delay * b.jitter_percent / 100;
    delay -= shard.rng % (span + 1);
  }
  return delay;
}

// ------------------------------------------------------------------ topics

bool Engine::Impl::queue_live_locked(QueueId id) const {
  const Queue* q = queues_[id & (queues_max - 1)].load(std::memory_order_relaxed);  // see queues_
  if (q == nullptr) return false;
  const std::uint32_t gen = q->generation.load(std::memory_order_relaxed);  // written under table_mu_
  return gen == id >> Queue::queue_index_bits && (gen & 1) != 0;
}

Code Engine::Impl::bind(std::string_view topic, QueueId queue) {
  if (closed_.load(std::memory_order_acquire)) return Code::closed;
  if (!valid_queue_name(topic)) return Code::invalid_argument;
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  {
    // table_mu_ keeps the queue alive until the binding (and its record,
    // which must come before any drop record of the queue) is in place.
    MutexLock table_lock(table_mu_);
    if (!queue_live_locked(queue)) return Code::no_such_queue;
    MutexLock lock(topics_mu_);  // lock order: table, then topics
    auto it = topics_.find(topic);
    if (it != topics_.end() &&
        std::find(it->second.begin(), it->second.end(), queue) != it->second.end()) {
      return Code::ok;
    }
    if (it == topics_.end() && topics_.size() >= topics_max) return Code::limit_exceeded;
    if (it != topics_.end() && it->second.size() >= topic_queues_max) return Code::limit_exceeded;
    if (durable()) {
      if (Code c = log_one(wal::RecordType::bind, wal::BindRec{queue, true, topic}, &lsn, true);
          c != Code::ok) {
        return c;
      }
    }
    if (it == topics_.end()) it = topics_.emplace(std::string(topic), std::vector<QueueId>()).first;
    it->second.push_back(queue);
  }
  return wait_durable(lsn);
}

Code Engine::Impl::unbind(std::string_view topic, QueueId queue) {
  if (closed_.load(std::memory_order_acquire)) return Code::closed;
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  {
    MutexLock table_lock(table_mu_);  // as bind: orders it with a drop of the queue
    MutexLock lock(topics_mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end() ||
        std::find(it->second.begin(), it->second.end(), queue) == it->second.end()) {
      return Code::ok;  // not bound: nothing to change, nothing to log
    }
    if (durable()) {
      if (Code c = log_one(wal::RecordType::bind, wal::BindRec{queue, false, topic}, &lsn, true);
          c != Code::ok) {
        return c;
      }
    }
    std::erase(it->second, queue);
    if (it->second.empty()) topics_.erase(it);
  }
  return wait_durable(lsn);
}

std::vector<QueueId> Engine::Impl::bindings(std::string_view topic) {
  MutexLock lock(topics_mu_);
  auto it = topics_.find(std::string(topic));
  return it == topics_.end() ? std::vector<QueueId>() : it->second;
}

Result<std::vector<JobId>> Engine::Impl::publish(std::string_view topic,
                                                 const EnqueueRequest& request,
                                                 std::vector<Code>* codes) {
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::vector<QueueId> targets = bindings(topic);
  if (targets.empty()) return Code::no_such_queue;
  // Hold every bound queue open for the whole publish.
  std::vector<std::unique_ptr<Guard>> guards;
  for (QueueId id : targets) {
    guards.push_back(std::make_unique<Guard>(*this, id));
    if (!guards.back()->ok()) return guards.back()->code();
    // A dedup key needs a window in every bound queue (else invalid_argument).
    if (Code c = validate(guards.back()->queue(), request); c != Code::ok) return c;
  }
  const auto n = static_cast<std::uint32_t>(guards.size());
  const std::string_view key = request.dedup_key;
  // A keyed publish in a durable engine claims its key and appends under each
  // target queue's dedup_log_mu, as a keyed enqueue does (enqueue_some), so a
  // key found is of a job already appended. Taken in queue-index order, so
  // two publishes (or a publish and enqueues) cannot deadlock. Released after
  // the guards' queues (declared after them).
  std::unique_lock<engine::Mutex> keyed_locks[topic_queues_max];
  if (!key.empty() && durable()) {
    std::uint32_t order[topic_queues_max];
    std::iota(order, order + n, 0u);
    std::sort(order, order + n, [&](std::uint32_t a, std::uint32_t b) {
      return guards[a]->queue().index < guards[b]->queue().index;
    });
    for (std::uint32_t i = 0; i < n; ++i) {
      keyed_locks[order[i]] = std::unique_lock<engine::Mutex>(guards[order[i]]->queue().dedup_log_mu);
    }
  }
  const std::uint64_t now = now_ns();
  std::vector<JobId> ids(n, 0);
  // Per bound queue: a new job, or the job that already holds the key there
  // (that queue gets nothing new and needs no room).
  bool fresh[topic_queues_max];
  std::uint32_t fresh_count = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    fresh[i] = key.empty() || !guards[i]->queue().dedup->find(key, now, &ids[i]);
    fresh_count += fresh[i] ? 1 : 0;
  }
  // All or none: a unit of capacity in every queue that gets a job first.
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!fresh[i]) continue;
    Queue& q = guards[i]->queue();
    // relaxed: a count (as in enqueue_some).
    if (q.jobs.fetch_add(1, std::memory_order_relaxed) >=
        static_cast<std::int64_t>(q.options.capacity_jobs_max)) {
      q.jobs.fetch_sub(1, std::memory_order_relaxed);
      guards[i]->shard().add(engine::c_rejected_full, 1);
      for (std::uint32_t k = 0; k < i; ++k) {
        if (!fresh[k]) continue;
        guards[k]->queue().jobs.fetch_sub(1, std::memory_order_relaxed);
        guards[k]->queue().space_signal.notify();
      }
      return Code::full;
    }
  }
  const std::uint32_t home = static_cast<std::uint32_t>(&guards[0]->shard() -
                                                        guards[0]->queue().shards.get());
  Shard& shard = *shards_[home];
  SlotRef slots[topic_queues_max];
  const std::uint32_t got = shard.slab.alloc(slots, fresh_count);
  if (got < fresh_count) {  // the shard's job table is full: give everything back
    for (std::uint32_t i = 0; i < got; ++i) shard.slab.free_one(slots[i]);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (fresh[i]) guards[i]->queue().jobs.fetch_sub(1, std::memory_order_relaxed);
    }
    return Code::full;
  }
  SlotRef refs[topic_queues_max];  // by bound queue; set for the fresh ones
  for (std::uint32_t i = 0, k = 0; i < n; ++i) {
    if (fresh[i]) refs[i] = slots[k++];
  }
  // A fresh queue's slot and unit of capacity go back (its record unfilled).
  auto give_back = [&](std::uint32_t i) {
    shard.slab.free_one(refs[i]);
    guards[i]->queue().jobs.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see free_records
    guards[i]->queue().space_signal.notify();
    fresh[i] = false;
    --fresh_count;
  };
  if (!key.empty()) {
    for (std::uint32_t i = 0; i < n; ++i) {
      if (!fresh[i]) continue;
      Queue& q = guards[i]->queue();
      const auto claim = q.dedup->claim(key, now, record(refs[i]).id(), &ids[i]);
      if (claim == engine::DedupTable::Claim::inserted) continue;
      if (claim == engine::DedupTable::Claim::duplicate) {  // claimed since the find (no log lock)
        give_back(i);
        continue;
      }
      // dedup_full: nothing anywhere, the keys claimed so far go back too.
      for (std::uint32_t k = 0; k < n; ++k) {
        if (!fresh[k]) continue;
        if (k < i) (void)guards[k]->queue().dedup->release(key, record(refs[k]).id());
        give_back(k);
      }
      return Code::dedup_full;
    }
  }
  std::uint64_t lsn = 0;
  if (fresh_count < n) {
    for (std::uint32_t i = 0; i < n; ++i) {
      if (!fresh[i]) guards[i]->shard().add(engine::c_dedup_hits, 1);
    }
    // The jobs holding the key were appended before it could be found
    // (keyed_locks): the duplicates are durable once those jobs are.
    if (durable()) lsn = log_->last_lsn();
  }
  if (fresh_count != 0) {
    // One copy of the payload, one reference per new job.
    detail::PayloadBuf* payload = engine::payload_new(request.payload);
    // relaxed: published with the records (ring push or shard lock).
    payload->refs.store(fresh_count, std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < n; ++i) {
      if (!fresh[i]) continue;
      Record& r = record(refs[i]);
      fill_record(r, guards[i]->queue(), request, payload, now);
      ids[i] = r.id();
    }
    if (durable()) {
      // One record for every new job: all of them survive a crash, or none.
      // Logged before any of them is visible (as an enqueue).
      wal::PublishRec rec;
      rec.topic = topic;
      rec.priority = request.priority;
      rec.enqueued_ns = to_wall(now);
      rec.run_at_ns = request.delay_ms != 0 ? to_wall(saturating_add(now, ms_to_ns(request.delay_ms))) : 0;
      rec.dedup_key = key;
      rec.payload = request.payload;  // its length in the head; the bytes are the tail
      for (std::uint32_t i = 0; i < n; ++i) {
        if (!fresh[i]) continue;
        rec.lease_ms = record(refs[i]).lease_ms;  // the same for every job: the request's
        rec.targets.push_back({guards[i]->queue().id(), record(refs[i]).attempts_max, ids[i]});
      }
      RecordBatch& batch = record_batch();
      batch.clear();
      wal::encode_head(rec, &batch.bodies);
      batch.end(wal::publish_type(rec), request.payload);
      if (Code c = log_batch(batch, &lsn, /*admission=*/true, {.holds = fresh_count * wait_claim_bytes_});
          c != Code::ok) {
        // Not logged: the jobs never existed, and their keys go back (as in
        // enqueue_some).
        for (std::uint32_t i = 0; i < n; ++i) {
          if (!fresh[i]) continue;
          if (!key.empty()) (void)guards[i]->queue().dedup->release(key, ids[i]);
          free_records(guards[i]->queue(), {&refs[i], 1});
        }
        return c;
      }
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      if (!fresh[i]) continue;
      Queue& q = guards[i]->queue();
      QueueShard& qs = guards[i]->shard();
      Record& r = record(refs[i]);
      qs.add(engine::c_enqueued, 1);
      if (request.delay_ms != 0) {
        MutexLock lock(shard.mu);
        r.state.store(RecordState::delayed, std::memory_order_relaxed);  // relaxed: under mu
        schedule_locked(shard, q, r, saturating_add(now, ms_to_ns(request.delay_ms)));
        qs.add(engine::g_delayed, 1);
      } else {
        make_ready(q, qs, r, refs[i], now);
      }
    }
  }
  for (auto& lock : keyed_locks) {
    if (lock.owns_lock()) lock.unlock();
  }
  guards.clear();  // not held while waiting for the disk
  if (Code c = wait_durable(lsn); c != Code::ok) return c;
  if (codes != nullptr) {
    for (std::uint32_t i = 0; i < n; ++i) codes->push_back(fresh[i] ? Code::ok : Code::duplicate);
  }
  if (fresh_count == 0) return Result<std::vector<JobId>>(Code::duplicate, std::move(ids));
  return ids;
}

// ------------------------------------------------------------------ queue operations

std::uint64_t Engine::Impl::drain_rings(Queue& q, QueueShard& qs, std::vector<SlotRef>& freed) {
  std::uint64_t live = 0;
  std::int64_t stale = 0;
  Handle handles[batch_jobs_max];
  for (std::uint32_t s = 0; s < shard_count_; ++s) {
    for (auto& ring : q.shards[s].rings) {
      if (!ring) continue;
      // Bounded: at most the ring's capacity per pass, so concurrent pushes
      // cannot keep one drain going forever.
      std::size_t budget = ring->capacity();
      while (budget != 0) {
        const std::size_t n = ring->try_pop_n(handles, std::min<std::size_t>(budget, batch_jobs_max));
        if (n == 0) break;
        budget -= n;
        for (std::size_t i = 0; i < n; ++i) {
          const SlotRef ref = engine::slot_of(handles[i]);
          Shard& shard = *shards_[engine::slot_shard(ref)];
          MutexLock lock(shard.mu);
          Record& r = record(ref);
          if (r.state.load(std::memory_order_acquire) != RecordState::ready ||
              r.nonce != engine::nonce_of(handles[i])) {
            ++stale;
            continue;
          }
          r.state.store(RecordState::free, std::memory_order_relaxed);  // relaxed: under mu
          qs.add(static_cast<Counter>(engine::g_ready0 + r.priority), -1);
          freed.push_back(ref);
          ++live;
        }
      }
    }
  }
  if (stale != 0) {
    qs.add(engine::g_stale, -stale);
    q.jobs.fetch_sub(stale, std::memory_order_relaxed);  // relaxed: see free_records
  }
  return live;
}

Code Engine::Impl::set_paused(QueueId id, bool paused) {
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  {
    Guard g(*this, id);
    if (!g.ok()) return g.code();
    Queue& q = g.queue();
    // pause_mu orders the records of racing pauses and resumes as their
    // stores: the last record is the flag's last value.
    MutexLock lock(q.pause_mu);
    if (durable()) {
      if (Code c = log_one(wal::RecordType::pause, wal::PauseRec{id, paused}, &lsn, true);
          c != Code::ok) {
        return c;
      }
    }
    // release: a reserve that reads the flag (acquire) sees what came before.
    q.paused.store(paused, std::memory_order_release);
    if (!paused) q.ready_signal.notify();
  }
  return wait_durable(lsn);
}

std::uint64_t Engine::Impl::take_timed_records(Queue& q, bool leased_too,
                                              std::vector<SlotRef>& taken,
                                              std::uint64_t* leased) {
  std::uint64_t n = 0;
  for (auto& shard : shards_) {
    MutexLock lock(shard->mu);
    const std::uint32_t hw = shard->slab.high_water();
    for (std::uint32_t i = 0; i < hw; ++i) {
      Record& r = shard->slab.at(i);
      // acquire: only a record in use has a meaningful queue_index (job_table.h).
      const RecordState st = r.state.load(std::memory_order_acquire);
      if ((st == RecordState::delayed || (leased_too && st == RecordState::leased)) &&
          r.queue_index == q.index) {
        shard->wheel.cancel(&r.timer);
        r.state.store(RecordState::free, std::memory_order_relaxed);  // relaxed: under mu
        taken.push_back(engine::make_slot_ref(shard->slab.shard(), i));
        ++n;
        if (leased != nullptr && st == RecordState::leased) ++*leased;
      }
    }
    publish_next_due(*shard);
  }
  return n;
}

Result<std::uint64_t> Engine::Impl::purge(QueueId id) {
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  std::size_t purged = 0;
  {
    Guard g(*this, id);
    if (!g.ok()) return g.code();
    Queue& q = g.queue();
    std::vector<SlotRef> freed;
    drain_rings(q, g.shard(), freed);
    const std::uint64_t delayed = take_timed_records(q, /*leased_too=*/false, freed);
    g.shard().add(engine::g_delayed, -static_cast<std::int64_t>(delayed));
    g.shard().add(engine::c_purged, static_cast<std::int64_t>(freed.size()));
    purged = freed.size();
    // The ids of what was taken, logged before the slots can be reused (no
    // other record of a job marked free can be written meanwhile). A failed
    // log fails the call: the jobs are gone here, and nothing more will be
    // written on disk.
    Code logged = Code::ok;
    if (durable() && !freed.empty()) {
      std::vector<JobId> ids;
      ids.reserve(freed.size());
      for (SlotRef ref : freed) ids.push_back(record(ref).id());
      logged = log_job_list(wal::RecordType::purge, id, ids, &lsn, /*admission=*/false,
                            /*brings_each=*/wait_claim_bytes_);
    }
    free_records(q, freed);
    if (logged != Code::ok) return logged;
  }
  if (Code c = wait_durable(lsn); c != Code::ok) return c;
  return static_cast<std::uint64_t>(purged);
}

Shard* Engine::Impl::shard_of_job(JobId job) const {
  const SlotRef ref = engine::slot_of(job);
  const std::uint32_t s = engine::slot_shard(ref);
  if (s >= shard_count_) return nullptr;
  if (engine::slot_index(ref) >= shards_[s]->slab.high_water()) return nullptr;
  return shards_[s].get();
}

bool Engine::Impl::live_in(const Queue& q, const Record& r, JobId job) {
  // acquire: a ready record was published without the lock; its fields are
  // read only once its state says it is in use (job_table.h).
  const RecordState st = r.state.load(std::memory_order_acquire);
  return st != RecordState::free && r.id() == job && r.queue_index == q.index;
}

Code Engine::Impl::cancel(QueueId id, JobId job) {
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  {
    Guard g(*this, id);
    if (!g.ok()) return g.code();
    Queue& q = g.queue();
    QueueShard& qs = g.shard();
    Shard* shard = shard_of_job(job);
    if (shard == nullptr) return Code::no_such_job;
    const SlotRef ref = engine::slot_of(job);
    bool release_capacity = false;
    {
      MutexLock lock(shard->mu);
      Record& r = record(ref);
      if (!live_in(q, r, job)) return Code::no_such_job;
      const RecordState st = r.state.load(std::memory_order_relaxed);  // relaxed: under mu
      if (st != RecordState::delayed && st != RecordState::ready) {
        return Code::no_such_job;  // leased or dead: not waiting
      }
      // Under the job's shard lock, as every change of a waiting job.
      if (durable()) {
        // The job's claim pays for its cancel.
        RecordBatch& batch = record_batch();
        batch.clear();
        wal::encode(wal::CancelRec{id, job}, &batch.bodies);
        batch.end(wal::RecordType::cancel);
        if (Code c = log_batch(batch, &lsn, true, {.brings = wait_claim_bytes_}); c != Code::ok) {
          return c;
        }
      }
      if (st == RecordState::delayed) {
        shard->wheel.cancel(&r.timer);
        publish_next_due(*shard);
        qs.add(engine::g_delayed, -1);
        release_capacity = true;
      } else {
        // Its handle stays in the ring, outdated, holding the job's unit of
        // capacity until a consumer or a purge passes it (reserve_some).
        qs.add(static_cast<Counter>(engine::g_ready0 + r.priority), -1);
        qs.add(engine::g_stale, 1);
      }
      r.state.store(RecordState::free, std::memory_order_relaxed);  // relaxed: under mu
    }
    qs.add(engine::c_cancelled, 1);
    free_records(q, {&ref, 1}, release_capacity);
  }
  return wait_durable(lsn);
}

Result<JobInfo> Engine::Impl::inspect(QueueId id, JobId job) {
  Guard g(*this, id);
  if (!g.ok()) return g.code();
  Queue& q = g.queue();
  Shard* shard = shard_of_job(job);
  if (shard == nullptr) return Code::no_such_job;
  MutexLock lock(shard->mu);
  Record& r = record(engine::slot_of(job));
  if (!live_in(q, r, job)) return Code::no_such_job;
  JobInfo info;
  const RecordState st = r.state.load(std::memory_order_relaxed);  // relaxed: under mu
  info.id = job;
  info.state = static_cast<JobState>(st);
  info.priority = r.priority;
  info.attempts = r.attempts;
  info.attempts_max = r.attempts_max;
  info.enqueued_ns = r.enqueued_ns;
  if (st == RecordState::delayed || st == RecordState::leased) {
    info.state_ns = r.timer.deadline_tick * shard->wheel.tick_ns();
  } else if (st == RecordState::ready) {
    info.state_ns = r.ready_since_ns();
  } else {
    MutexLock dead_lock(q.dead_mu);  // lock order: shard, then dead_mu
    auto it = q.dead.find(job);
    if (it != q.dead.end()) {
      info.state_ns = it->second.dead_ns;
      info.dead_reason = it->second.reason;
      info.error = it->second.error;
    }
  }
  r.payload->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: see lease_locked
  info.payload = Payload::adopt(r.payload);
  return info;
}

Code Engine::Impl::change_waiting(QueueId id, JobId job, std::optional<std::uint8_t> priority,
                                  std::optional<std::uint64_t> delay_ms) {
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  const Code c = change_waiting_logged(id, job, priority, delay_ms, &lsn);
  if (c != Code::ok) return c;
  return wait_durable(lsn);
}

Code Engine::Impl::log_change(QueueId id, JobId job, std::optional<std::uint8_t> priority,
                              std::optional<std::uint64_t> delay_ms, std::uint64_t now,
                              std::uint64_t* lsn) {
  if (!durable()) return Code::ok;
  RecordBatch& batch = record_batch();
  batch.clear();
  if (priority) {
    wal::encode(wal::SetPriorityRec{id, *priority, job}, &batch.bodies);
    batch.end(wal::RecordType::set_priority);
  }
  if (delay_ms) {
    const std::uint64_t run_at = *delay_ms == 0 ? 0 : to_wall(saturating_add(now, ms_to_ns(*delay_ms)));
    wal::encode(wal::SetDelayRec{id, job, run_at}, &batch.bodies);
    batch.end(wal::RecordType::set_delay);
  }
  return log_batch(batch, lsn, /*admission=*/true);
}

Code Engine::Impl::change_waiting_logged(QueueId id, JobId job,
                                         std::optional<std::uint8_t> priority,
                                         std::optional<std::uint64_t> delay_ms,
                                         std::uint64_t* lsn) {
  Guard g(*this, id);
  if (!g.ok()) return g.code();
  Queue& q = g.queue();
  QueueShard& qs = g.shard();
  if (priority && *priority >= q.options.priority_levels) return Code::invalid_argument;
  if (delay_ms && *delay_ms > delay_ms_max) return Code::invalid_argument;
  Shard* shard = shard_of_job(job);
  if (shard == nullptr) return Code::no_such_job;
  const std::uint64_t now = now_ns();
  const SlotRef ref = engine::slot_of(job);
  MutexLock lock(shard->mu);
  Record& r = record(ref);
  if (!live_in(q, r, job)) return Code::no_such_job;
  const RecordState st = r.state.load(std::memory_order_relaxed);  // relaxed: under mu
  if (st == RecordState::delayed) {
    // Logged under the job's shard lock, before the change (as cancel).
    if (Code c = log_change(id, job, priority, delay_ms, now, lsn); c != Code::ok) return c;
    if (priority) r.priority = *priority;
    if (delay_ms) {
      shard->wheel.cancel(&r.timer);
      if (*delay_ms == 0) {
        qs.add(engine::g_delayed, -1);
        make_ready(q, qs, r, ref, now);
      } else {
        schedule_locked(*shard, q, r, saturating_add(now, ms_to_ns(*delay_ms)));
      }
      publish_next_due(*shard);
    }
    return Code::ok;
  }
  if (st != RecordState::ready) return Code::no_such_job;  // leased or dead
  const bool moves = (priority && *priority != r.priority) || (delay_ms && *delay_ms != 0);
  if (!moves) return Code::ok;
  // The old handle stays in its ring, outdated, and needs a unit of capacity.
  // relaxed: a count (as in enqueue_some).
  if (q.jobs.fetch_add(1, std::memory_order_relaxed) >=
      static_cast<std::int64_t>(q.options.capacity_jobs_max)) {
    q.jobs.fetch_sub(1, std::memory_order_relaxed);
    return Code::full;
  }
  if (Code c = log_change(id, job, priority, delay_ms, now, lsn); c != Code::ok) {
    q.jobs.fetch_sub(1, std::memory_order_relaxed);  // relaxed: as above
    q.space_signal.notify();
    return c;
  }
  qs.add(static_cast<Counter>(engine::g_ready0 + r.priority), -1);
  qs.add(engine::g_stale, 1);
  if (priority) r.priority = *priority;
  if (delay_ms) {
    r.state.store(RecordState::delayed, std::memory_order_relaxed);  // relaxed: under mu
    schedule_locked(*shard, q, r, saturating_add(now, ms_to_ns(*delay_ms)));
    qs.add(engine::g_delayed, 1);
  } else {
    // A new handle in the new level's ring; still waiting since it first
    // became ready.
    make_ready(q, qs, r, ref, r.ready_since_ns(), /*replaces_handle=*/true);
  }
  return Code::ok;
}

// ------------------------------------------------------------------ dead letters

Result<std::vector<DeadLetter>> Engine::Impl::list_dead(QueueId id, JobId after_id,
                                                        std::size_t limit) {
  if (limit == 0 || limit > batch_jobs_max) return Code::invalid_argument;
  Guard g(*this, id);
  if (!g.ok()) return g.code();
  Queue& q = g.queue();
  std::vector<DeadLetter> out;
  MutexLock lock(q.dead_mu);
  for (auto it = q.dead.upper_bound(after_id); it != q.dead.end() && out.size() < limit; ++it) {
    const engine::DeadEntry& e = it->second;
    Record& r = record(e.slot);
    r.payload->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: see lease_locked
    DeadLetter d;
    d.id = it->first;
    d.attempts = r.attempts;
    d.priority = r.priority;
    d.reason = e.reason;
    d.error = e.error;
    d.enqueued_ns = r.enqueued_ns;
    d.dead_ns = e.dead_ns;
    d.payload = Payload::adopt(r.payload);
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::uint64_t> Engine::Impl::dead_op(QueueId id, DeadOp op, std::span<const JobId> ids,
                                            bool all, std::uint64_t max_jobs) {
  if (Code c = refuse_if_log_failed(); c != Code::ok) return c;
  std::uint64_t lsn = 0;
  std::size_t done = 0;
  {
    Guard g(*this, id);
    if (!g.ok()) return g.code();
    Queue& q = g.queue();
    std::vector<SlotRef> refs;
    {
      MutexLock lock(q.dead_mu);
      std::vector<JobId> chosen;
      if (all) {
        for (auto it = q.dead.begin(); it != q.dead.end() && chosen.size() < max_jobs; ++it) {
          chosen.push_back(it->first);
        }
      } else {
        std::unordered_set<JobId> seen;
        for (JobId job : ids) {
          if (q.dead.count(job) != 0 && seen.insert(job).second) chosen.push_back(job);
        }
      }
      // Logged under dead_mu before anything changes: a dead job has no other
      // record until it leaves the set, and a failed log changes nothing.
      if (durable() && !chosen.empty()) {
        const wal::RecordType type =
            op == DeadOp::redrive ? wal::RecordType::redrive : wal::RecordType::delete_dead;
        // A redriven job takes a claim for its new life; a dead one has none.
        const std::uint64_t holds_each = op == DeadOp::redrive ? wait_claim_bytes_ : 0;
        if (Code c = log_job_list(type, id, chosen, &lsn, /*admission=*/true, 0, holds_each);
            c != Code::ok) {
          return c;
        }
      }
      for (JobId job : chosen) {
        auto it = q.dead.find(job);
        refs.push_back(it->second.slot);
        q.dead.erase(it);
      }
    }
    // The records are out of the dead set and in no other structure: ours.
    g.shard().add(engine::g_dead, -static_cast<std::int64_t>(refs.size()));
    if (op == DeadOp::redrive) {
      const std::uint64_t now = now_ns();
      for (SlotRef ref : refs) {
        Record& r = record(ref);
        r.attempts = 0;
        make_ready(q, g.shard(), r, ref, now);
      }
      g.shard().add(engine::c_redriven, static_cast<std::int64_t>(refs.size()));
    } else {
      for (SlotRef ref : refs) record(ref).state.store(RecordState::free, std::memory_order_relaxed);
      free_records(q, refs);
    }
    done = refs.size();
  }
  if (Code c = wait_durable(lsn); c != Code::ok) return c;
  return static_cast<std::uint64_t>(done);
}

void Engine::Impl::collect(Queue& q, std::uint64_t now, QueueStats& stats,
                           LatencyHistogram::Snapshot& wait, LatencyHistogram::Snapshot& run) {
  std::array<std::int64_t, engine::counter_count> sum{};
  std::array<std::int64_t, engine::locked_count> locked{};
  for (std::uint32_t s = 0; s < shard_count_; ++s) {
    for (std::uint32_t c = 0; c < engine::counter_count; ++c) {
      sum[c] += q.shards[s].counters[c].load(std::memory_order_relaxed);  // relaxed: statistics
    }
    for (std::uint32_t c = 0; c < engine::locked_count; ++c) {
      locked[c] += q.shards[s].locked[c].load(std::memory_order_relaxed);  // relaxed: statistics
    }
    q.shards[s].wait_hist.add_to(wait);
    q.shards[s].run_hist.add_to(run);
  }
  auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(std::max<std::int64_t>(v, 0)); };
  QueueCounts& out = stats.counts;
  out.delayed += u(sum[engine::g_delayed]);
  out.leased += u(locked[engine::l_leased]);
  out.dead += u(sum[engine::g_dead]);
  for (std::uint32_t level = 0; level < q.options.priority_levels; ++level) {
    const std::int64_t ready = sum[engine::g_ready0 + level] - locked[engine::l_taken0 + level];
    out.ready_by_priority[level] += u(ready);
    out.ready += u(ready);
  }
  out.enqueued += u(sum[engine::c_enqueued]);
  out.completed += u(locked[engine::l_completed]);
  out.retried += u(sum[engine::c_retried]);
  out.failed += u(sum[engine::c_failed]);
  out.expired += u(sum[engine::c_expired]);
  out.dead_lettered += u(sum[engine::c_dead_lettered]);
  out.redriven += u(sum[engine::c_redriven]);
  out.rejected_full += u(sum[engine::c_rejected_full]);
  out.rate_limited += u(sum[engine::c_rate_limited]);
  out.dedup_hits += u(sum[engine::c_dedup_hits]);
  out.cancelled += u(sum[engine::c_cancelled]);
  out.purged += u(sum[engine::c_purged]);
  // The oldest ready job sits at the head of some ring: look at each head.
  for (std::uint32_t s = 0; s < shard_count_; ++s) {
    for (const auto& ring : q.shards[s].rings) {
      Handle h = 0;
      if (!ring || !ring->try_peek(h)) continue;
      const SlotRef ref = engine::slot_of(h);
      Shard& shard = *shards_[engine::slot_shard(ref)];
      MutexLock lock(shard.mu);
      const Record& r = record(ref);
      if (r.state.load(std::memory_order_acquire) != RecordState::ready ||
          r.nonce != engine::nonce_of(h) || r.ready_since_ns() > now) {
        continue;  // taken meanwhile, or an outdated handle
      }
      stats.oldest_ready_age_ns = std::max(stats.oldest_ready_age_ns, now - r.ready_since_ns());
    }
  }
}


Result<QueueCounts> Engine::Impl::counts(QueueId id) {
  Result<QueueStats> s = stats(id);
  if (!s.ok()) return s.code();
  return s->counts;
}

Result<QueueStats> Engine::Impl::stats(QueueId id) {
  LatencyHistogram::Snapshot wait;
  LatencyHistogram::Snapshot run;
  return stats(id, &wait, &run);
}

Result<QueueStats> Engine::Impl::stats(QueueId id, LatencyHistogram::Snapshot* wait,
                                       LatencyHistogram::Snapshot* run) {
  HOTQ_CHECK(wait != nullptr && run != nullptr);
  Guard g(*this, id);
  if (!g.ok()) return g.code();
  const std::uint64_t now = now_ns();
  poll_timers(now, UINT64_MAX);
  QueueStats out;
  *wait = LatencyHistogram::Snapshot();
  *run = LatencyHistogram::Snapshot();
  collect(g.queue(), now, out, *wait, *run);
  out.wait = summarize(*wait);
  out.run = summarize(*run);
  return out;
}

Result<QueueStats> EngineOpener::stats_histograms(Engine& engine, QueueId queue,
                                                  engine::LatencyHistogram::Snapshot* wait,
                                                  engine::LatencyHistogram::Snapshot* run) {
  return engine.impl_->stats(queue, wait, run);
}

QueueStats Engine::Impl::engine_stats() {
  const std::uint64_t now = now_ns();
  poll_timers(now, UINT64_MAX);
  QueueStats out;
  LatencyHistogram::Snapshot wait;
  LatencyHistogram::Snapshot run;
  // The table lock keeps every queue from being dropped while it is read.
  MutexLock lock(table_mu_);
  for (const auto& [name, index] : names_) collect(queue_at(index), now, out, wait, run);
  out.wait = summarize(wait);
  out.run = summarize(run);
  return out;
}

// ------------------------------------------------------------------ public shell

Status Engine::open(const EngineOptions& options, std::unique_ptr<Engine>* engine) {
  HOTQ_CHECK(engine != nullptr);
  EngineOptions o = options;
  if (o.shards == 0) o.shards = std::max(1u, std::thread::hardware_concurrency());
  o.shards = std::min(o.shards, shards_max);
  if (options.shards > shards_max) {
    return Status(Code::invalid_argument, "EngineOptions::shards exceeds shards_max (64)");
  }
  if (o.timer_tick_ns < 1'000 || o.timer_tick_ns > 1'000'000'000) {
    return Status(Code::invalid_argument, "EngineOptions::timer_tick_ns must be in [1us, 1s]");
  }
  if (o.wal_dir.empty()) return EngineOpener::open(o, nullptr, {}, engine);
  if (o.wal_segment_bytes < wal_segment_bytes_min || o.wal_segment_bytes > wal_segment_bytes_max ||
      o.wal_segment_bytes % wal::segment_align_bytes != 0) {
    return Status(Code::invalid_argument,
                  "EngineOptions::wal_segment_bytes must be a multiple of 4 KiB in [64 KiB, 1 GiB]");
  }
  if (o.durability == Durability::interval &&
      (o.wal_interval_ms == 0 || o.wal_interval_ms > wal_interval_ms_max)) {
    return Status(Code::invalid_argument, "EngineOptions::wal_interval_ms must be in [1, 10000]");
  }
  wal::PosixFsOptions fo;
  fo.backend = o.wal_backend == WalBackend::io_uring  ? wal::Backend::io_uring
               : o.wal_backend == WalBackend::pwritev ? wal::Backend::pwritev
                                                      : wal::Backend::automatic;
  std::unique_ptr<wal::Fs> fs;
  std::string message;
  const int rc = wal::open_posix_fs(o.wal_dir, fo, &fs, nullptr, &message);
  if (rc == EWOULDBLOCK) {
    return Status(Code::locked, "wal directory " + o.wal_dir + " is open in another engine");
  }
  if (rc != 0) return Status(Code::io_error, "wal directory " + o.wal_dir + ": " + message);
  return EngineOpener::open(o, std::move(fs), message, engine);
}

Status EngineOpener::open(const EngineOptions& options, std::unique_ptr<wal::Fs> fs,
                          std::string_view backend_note, std::unique_ptr<Engine>* engine) {
  // Options as Engine::open leaves them: a caller that skips it (a test on
  // an in-memory file layer) must name the shards itself.
  HOTQ_CHECK(options.shards >= 1 && options.shards <= shards_max);
  auto impl = std::make_unique<Engine::Impl>(options);
  if (fs != nullptr) {
    Status st = impl->open_wal(options, std::move(fs), backend_note);
    if (!st.ok()) return st;
  }
  engine->reset(new Engine(std::move(impl)));
  return Status::Ok();
}

const std::string& Engine::open_report() const { return impl_->open_report(); }
Status Engine::snapshot() { return impl_->snapshot(); }
WalStats Engine::wal_stats() const { return impl_->wal_stats(); }

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;
void Engine::close() { impl_->close(); }

Result<QueueId> Engine::create_queue(std::string_view name, const QueueOptions& options) {
  return impl_->create_queue(name, options);
}
Result<QueueId> Engine::find_queue(std::string_view name) const { return impl_->find_queue(name); }
std::vector<QueueInfo> Engine::list_queues() const { return impl_->list_queues(); }
Code Engine::drop_queue(QueueId queue) { return impl_->drop_queue(queue); }

Result<JobId> Engine::enqueue(QueueId queue, const EnqueueRequest& request) {
  JobId id = 0;
  Code code = Code::ok;
  BatchResult r = impl_->enqueue(queue, {&request, 1}, {&id, 1}, {&code, 1}, 0, false);
  if (r.count != 1) return r.code;
  if (code == Code::duplicate) return Result<JobId>(Code::duplicate, id);
  return id;
}
Result<JobId> Engine::enqueue_wait(QueueId queue, const EnqueueRequest& request,
                                   std::uint64_t timeout_ms) {
  JobId id = 0;
  Code code = Code::ok;
  BatchResult r = impl_->enqueue(queue, {&request, 1}, {&id, 1}, {&code, 1}, timeout_ms, true);
  if (r.count != 1) return r.code;
  if (code == Code::duplicate) return Result<JobId>(Code::duplicate, id);
  return id;
}
BatchResult Engine::enqueue_batch(QueueId queue, std::span<const EnqueueRequest> requests,
                                  std::span<JobId> ids, std::span<Code> codes) {
  return impl_->enqueue(queue, requests, ids, codes, 0, false);
}

Result<ReservedJob> Engine::reserve(QueueId queue, std::uint64_t lease_ms) {
  ReservedJob job;
  BatchResult r = impl_->reserve(queue, {&job, 1}, lease_ms, 0, false);
  if (r.count == 1) return job;
  return r.code;
}
Result<ReservedJob> Engine::reserve_wait(QueueId queue, std::uint64_t timeout_ms,
                                         std::uint64_t lease_ms) {
  ReservedJob job;
  BatchResult r = impl_->reserve(queue, {&job, 1}, lease_ms, timeout_ms, true);
  if (r.count == 1) return job;
  return r.code;
}
BatchResult Engine::reserve_batch(QueueId queue, std::span<ReservedJob> out,
                                  std::uint64_t lease_ms) {
  return impl_->reserve(queue, out, lease_ms, 0, false);
}
BatchResult Engine::reserve_batch_wait(QueueId queue, std::span<ReservedJob> out,
                                       std::uint64_t timeout_ms, std::uint64_t lease_ms) {
  return impl_->reserve(queue, out, lease_ms, timeout_ms, true);
}

namespace {
Code settle_one_lease(Engine::Impl& impl, QueueId queue, Lease lease,
                      const Engine::Impl::SettleArgs& args) {
  Code code = Code::ok;
  impl.settle(queue, {&lease, 1}, {&code, 1}, args);
  return code;
}
}  // namespace

Code Engine::ack(QueueId queue, Lease lease) { return settle_one_lease(*impl_, queue, lease, {}); }
std::uint32_t Engine::ack_batch(QueueId queue, std::span<const Lease> leases,
                                std::span<Code> results) {
  return impl_->settle(queue, leases, results, {});
}
Code Engine::nack(QueueId queue, Lease lease, std::optional<std::uint64_t> delay_ms,
                  std::string_view error) {
  return settle_one_lease(*impl_, queue, lease,
                          {.how = Impl::Settle::nack,
                           .has_delay = delay_ms.has_value(),
                           .delay_ms = delay_ms.value_or(0),
                           .error = error});
}
Code Engine::fail(QueueId queue, Lease lease, std::string_view error) {
  return settle_one_lease(*impl_, queue, lease, {.how = Impl::Settle::fail, .error = error});
}
Code Engine::extend(QueueId queue, Lease lease, std::uint64_t lease_ms) {
  return settle_one_lease(*impl_, queue, lease,
                          {.how = Impl::Settle::extend, .delay_ms = lease_ms});
}

Result<JobId> Engine::enqueue_async(QueueId queue, const EnqueueRequest& request, Ticket* ticket) {
  JobId id = 0;
  Code code = Code::ok;
  *ticket = Ticket{};
  BatchResult r = impl_->enqueue_nowait(queue, {&request, 1}, {&id, 1}, {&code, 1}, &ticket->lsn);
  if (r.count != 1) return r.code;
  if (code == Code::duplicate) return Result<JobId>(Code::duplicate, id);
  return id;
}
BatchResult Engine::enqueue_batch_async(QueueId queue, std::span<const EnqueueRequest> requests,
                                        std::span<JobId> ids, std::span<Code> codes,
                                        Ticket* ticket) {
  *ticket = Ticket{};
  return impl_->enqueue_nowait(queue, requests, ids, codes, &ticket->lsn);
}
Code Engine::ack_async(QueueId queue, Lease lease, Ticket* ticket) {
  *ticket = Ticket{};
  Code result = Code::ok;
  impl_->settle(queue, {&lease, 1}, {&result, 1}, {.lsn_out = &ticket->lsn});
  return result;
}
std::uint32_t Engine::ack_batch_async(QueueId queue, std::span<const Lease> leases,
                                      std::span<Code> results, Ticket* ticket) {
  *ticket = Ticket{};
  return impl_->settle(queue, leases, results, {.lsn_out = &ticket->lsn});
}
Code Engine::nack_async(QueueId queue, Lease lease, std::optional<std::uint64_t> delay_ms,
                        std::string_view error, Ticket* ticket) {
  *ticket = Ticket{};
  Code result = Code::ok;
  impl_->settle(queue, {&lease, 1}, {&result, 1},
                {.how = Impl::Settle::nack,
                 .has_delay = delay_ms.has_value(),
                 .delay_ms = delay_ms.value_or(0),
                 .error = error,
                 .lsn_out = &ticket->lsn});
  return result;
}
Code Engine::fail_async(QueueId queue, Lease lease, std::string_view error, Ticket* ticket) {
  *ticket = Ticket{};
  Code result = Code::ok;
  impl_->settle(queue, {&lease, 1}, {&result, 1},
                {.how = Impl::Settle::fail, .error = error, .lsn_out = &ticket->lsn});
  return result;
}
bool Engine::is_durable(Ticket ticket) const { return impl_->is_durable(ticket.lsn); }
Code Engine::wait_durable(Ticket ticket) { return impl_->wait_ticket(ticket.lsn); }
void Engine::on_durable(Ticket ticket, std::function<void(Code)> done) {
  impl_->on_durable(ticket.lsn, std::move(done));
}

Code Engine::bind(std::string_view topic, QueueId queue) { return impl_->bind(topic, queue); }
Code Engine::unbind(std::string_view topic, QueueId queue) { return impl_->unbind(topic, queue); }
std::vector<QueueId> Engine::bindings(std::string_view topic) const {
  return impl_->bindings(topic);
}
Result<std::vector<JobId>> Engine::publish(std::string_view topic, const EnqueueRequest& request,
                                           std::vector<Code>* codes) {
  if (codes != nullptr) codes->clear();
  return impl_->publish(topic, request, codes);
}
Code Engine::pause(QueueId queue) { return impl_->set_paused(queue, true); }
Code Engine::resume(QueueId queue) { return impl_->set_paused(queue, false); }
Result<std::uint64_t> Engine::purge(QueueId queue) { return impl_->purge(queue); }
Code Engine::cancel(QueueId queue, JobId job) { return impl_->cancel(queue, job); }
Result<JobInfo> Engine::inspect(QueueId queue, JobId job) { return impl_->inspect(queue, job); }
Code Engine::set_priority(QueueId queue, JobId job, std::uint8_t priority) {
  return impl_->change_waiting(queue, job, priority, std::nullopt);
}
Code Engine::set_delay(QueueId queue, JobId job, std::uint64_t delay_ms) {
  return impl_->change_waiting(queue, job, std::nullopt, delay_ms);
}

Result<std::vector<DeadLetter>> Engine::list_dead(QueueId queue, JobId after_id,
                                                  std::size_t limit) const {
  return impl_->list_dead(queue, after_id, limit);
}
Result<std::uint64_t> Engine::redrive(QueueId queue, std::uint64_t max_jobs) {
  return impl_->dead_op(queue, Impl::DeadOp::redrive, {}, true, max_jobs);
}
Result<std::uint64_t> Engine::redrive_ids(QueueId queue, std::span<const JobId> ids) {
  return impl_->dead_op(queue, Impl::DeadOp::redrive, ids, false, 0);
}
Result<std::uint64_t> Engine::delete_dead(QueueId queue, std::span<const JobId> ids) {
  return impl_->dead_op(queue, Impl::DeadOp::remove, ids, false, 0);
}
Result<std::uint64_t> Engine::purge_dead(QueueId queue) {
  return impl_->dead_op(queue, Impl::DeadOp::remove, {}, true, UINT64_MAX);
}
std::uint64_t Engine::run_timers() { return impl_->run_timers(); }
Result<QueueCounts> Engine::counts(QueueId queue) { return impl_->counts(queue); }
Result<QueueStats> Engine::stats(QueueId queue) { return impl_->stats(queue); }
QueueStats Engine::engine_stats() { return impl_->engine_stats(); }

const char* job_state_name(JobState state) noexcept {
  switch (state) {
    case JobState::delayed: return "delayed";
    case JobState::ready: return "ready";
    case JobState::leased: return "leased";
    case JobState::dead: return "dead";
  }
  return "unknown_state";
}

const char* dead_reason_name(DeadReason reason) noexcept {
  switch (reason) {
    case DeadReason::failed: return "failed";
    case DeadReason::attempts_nacked: return "attempts_nacked";
    case DeadReason::attempts_expired: return "attempts_expired";
  }
  return "unknown_reason";
}

}  // namespace hotq
