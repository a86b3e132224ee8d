// The crash campaigns' payloads and workload (crashtest.h).
#include <time.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>

#include <hotq/clock.h>

#include "tools/crashtest/crashtest.h"

namespace hotq::crashtest {
namespace {

std::uint64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// A lease deadline on the engine's clock (SystemClock, monotonic) as wall
// time: what the checker in another process can compare with its own clock.
std::uint64_t deadline_wall(std::uint64_t deadline_ns) {
  const std::uint64_t now = SystemClock::instance().now_ns();
  return wall_ns() + (deadline_ns > now ? deadline_ns - now : 0);
}

template <class T>
void put_le(std::string* out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
template <class T>
T get_le(const char* p) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::string key_name(std::uint64_t key) { return "key-" + std::to_string(key); }

std::string make_payload(std::uint64_t seq, std::mt19937_64& rng) {
  const auto body = static_cast<std::uint32_t>(rng() % (payload_body_bytes_max + 1));
  std::string p;
  p.reserve(payload_overhead_bytes + body);
  put_le(&p, payload_magic);
  put_le(&p, seq);
  put_le(&p, body);
  for (std::uint32_t i = 0; i < body; ++i) p.push_back(static_cast<char>(rng()));
  put_le(&p, static_cast<std::uint64_t>(XXH3_64bits(p.data(), p.size())));
  return p;
}

bool check_payload(std::string_view p, std::uint64_t* seq) {
  if (p.size() < payload_overhead_bytes) return false;
  if (get_le<std::uint32_t>(p.data()) != payload_magic) return false;
  const auto body = get_le<std::uint32_t>(p.data() + 12);
  if (body > payload_body_bytes_max || p.size() != payload_overhead_bytes + body) return false;
  const std::size_t hashed = p.size() - 8;
  if (XXH3_64bits(p.data(), hashed) != get_le<std::uint64_t>(p.data() + hashed)) return false;
  *seq = get_le<std::uint64_t>(p.data() + 4);
  return true;
}

EngineOptions engine_options(const std::string& wal_dir, WalBackend backend, Durability durability) {
  EngineOptions o;
  o.durability = durability;
  o.wal_interval_ms = 50;
  o.shards = 2;
  o.wal_dir = wal_dir;
  o.wal_backend = backend;
  o.wal_segment_bytes = 1u << 20;          // many segment rolls
  o.wal_snapshot_log_bytes = 4u << 20;     // and snapshots now and then
  return o;
}

Status ensure_queues(Engine& engine, std::vector<QueueId>* ids) {
  ids->clear();
  for (int i = 0; i < 2; ++i) {
    Result<QueueId> q = engine.find_queue(queue_names[i]);
    if (!q.ok()) {
      QueueOptions qo;
      qo.attempts_max = attempts_max;
      qo.lease_ms_default = lease_ms;
      qo.dedup_window_ms = dedup_window_ms;
      qo.dedup_keys_max = 1u << 16;
      qo.priority_levels = 2;
      qo.durable_delivery = i == 1;
      q = engine.create_queue(queue_names[i], qo);
      if (!q.ok()) {
        return Status(q.code(), std::string("cannot create queue ") + queue_names[i]);
      }
    }
    ids->push_back(q.value());
  }
  for (QueueId id : *ids) {  // in queue order: a publish's ids come back in it
    if (Code c = engine.bind(topic_name, id); c != Code::ok) {
      return Status(c, std::string("cannot bind topic ") + topic_name);
    }
  }
  return Status::Ok();
}

Workload::Workload(Engine& engine, std::vector<QueueId> queues, EventSink& sink,
                   WorkloadOptions options)
    : engine_(engine), queues_(std::move(queues)), sink_(sink), options_(options) {}

Workload::~Workload() { stop(); }

void Workload::start() {
  for (std::uint32_t t = 0; t < options_.producers; ++t) threads_.emplace_back([this, t] { produce(t); });
  for (std::uint32_t t = 0; t < options_.consumers; ++t) {
    threads_.emplace_back([this, t] { consume(options_.producers + t); });
  }
  if (options_.snapshot_every_ms != 0) threads_.emplace_back([this] { snapshot_now_and_then(); });
}

void Workload::snapshot_now_and_then() {
  std::mt19937_64 rng(options_.seed * 1'000'003 + 999);
  const std::uint64_t every = options_.snapshot_every_ms;
  while (!stop_.load(std::memory_order_relaxed)) {
    const std::uint64_t wait_ms = every / 2 + rng() % (every + 1);
    for (std::uint64_t i = 0; i < wait_ms && !stop_.load(std::memory_order_relaxed); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (stop_.load(std::memory_order_relaxed)) break;
    // A failed snapshot leaves a longer log, nothing the model tracks.
    (void)engine_.snapshot();
  }
}

void Workload::stop() {
  stop_.store(true, std::memory_order_relaxed);
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void Workload::produce(std::uint32_t thread) {
  std::mt19937_64 rng(options_.seed * 1'000'003 + thread);
  std::uint64_t count = 0;
  std::uint32_t since_check = 32;  // check the backlog before the first enqueue
  while (!stop_.load(std::memory_order_relaxed)) {
    const auto q = static_cast<std::uint8_t>(rng() % 2);
    if (++since_check >= 32) {
      // Keep the backlog small: producers outrun consumers (a consumer's job
      // costs two or three commits), and a full queue would turn the run into
      // a stream of `full` answers and slow every check.
      Result<QueueCounts> c = engine_.counts(queues_[q]);
      if (c.ok() && c->ready + c->delayed + c->dead > options_.backlog_max) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;  // and check again
      }
      since_check = 0;
    }
    const std::uint64_t seq = options_.seq_base + next_seq_.fetch_add(1, std::memory_order_relaxed) + 1;
    const std::string payload = make_payload(seq, rng);
    // One in eight is a publish to both queues: one payload, one seq, a job
    // in each (all or none). Its keys are drawn from the enqueues' keys, so a
    // queue may hold one already while the other does not: each queue's
    // answer (new job or duplicate) is its own.
    const bool publish = rng() % 8 == 0;
    const bool keyed = rng() % 5 == 0;
    const std::uint64_t key = keyed ? rng() % options_.dedup_keys : 0;
    const std::string key_text = keyed ? key_name(key) : std::string();
    EnqueueRequest req{.payload = payload};
    req.priority = static_cast<std::uint8_t>(rng() % 2);
    req.dedup_key = key_text;
    // One enqueue event per job it may make (a publish: one per queue).
    Event events[2];
    const std::size_t n = publish ? 2 : 1;
    for (std::size_t i = 0; i < n; ++i) {
      Event& e = events[i];
      e.op = Op::enqueue;
      e.queue = publish ? static_cast<std::uint8_t>(i) : q;
      e.op_id = (std::uint64_t{thread} << 40) | ++count;
      e.seq = seq;
      e.aux = keyed ? key + 1 : 0;
      sink_.put(e);
    }
    Code code = Code::ok;
    Code codes[2] = {Code::ok, Code::ok};  // each job's own answer
    if (publish) {
      std::vector<Code> per_queue;
      Result<std::vector<JobId>> r = engine_.publish(topic_name, req, &per_queue);
      code = r.code();
      for (std::size_t i = 0; i < n; ++i) {
        const bool answered = r.has_value() && r->size() == n && per_queue.size() == n;
        events[i].job = answered ? r.value()[i] : 0;
        codes[i] = answered ? per_queue[i] : code;
      }
    } else {
      Result<JobId> r = engine_.enqueue(queues_[q], req);
      code = r.code();
      codes[0] = code;
      events[0].job = r.has_value() ? r.value() : 0;
    }
    for (std::size_t i = 0; i < n; ++i) {
      events[i].phase = Phase::done;
      events[i].code = static_cast<std::uint8_t>(codes[i]);
      sink_.put(events[i]);
    }
    if (code == Code::ok) ok_.fetch_add(1, std::memory_order_relaxed);
    if (code == Code::full || code == Code::dedup_full || code == Code::no_space || code == Code::wal_failed) {
      // Back-pressure (let consumers run), or a log that refuses everything
      // now: no point spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void Workload::consume(std::uint32_t thread) {
  std::mt19937_64 rng(options_.seed * 1'000'003 + thread);
  std::uint64_t count = 0;
  auto settle = [&](Op op, std::uint8_t q, const ReservedJob& job, auto&& call) {
    Event e;
    e.op = op;
    e.queue = q;
    e.op_id = (std::uint64_t{thread} << 40) | ++count;
    e.job = job.id;
    e.token = job.token;
    e.attempts = job.attempt;
    sink_.put(e);
    const Code c = call();
    e.phase = Phase::done;
    e.code = static_cast<std::uint8_t>(c);
    if (op == Op::nack) e.aux = job.attempt >= attempts_max ? 1 : 0;
    if (op == Op::extend) e.aux = deadline_wall(SystemClock::instance().now_ns() + lease_ms * 1'000'000);
    sink_.put(e);
    if (c == Code::ok) ok_.fetch_add(1, std::memory_order_relaxed);
    return c;
  };
  while (!stop_.load(std::memory_order_relaxed)) {
    const auto q = static_cast<std::uint8_t>(rng() % 2);
    if (rng() % 6 == 0) {  // redrive one dead letter (more often than jobs die: the set stays small)
      Result<std::vector<DeadLetter>> dead = engine_.list_dead(queues_[q], 0, 8);
      if (dead.ok() && !dead->empty()) {
        const JobId id = dead.value()[rng() % dead->size()].id;
        Event e;
        e.op = Op::redrive;
        e.queue = q;
        e.op_id = (std::uint64_t{thread} << 40) | ++count;
        e.job = id;
        sink_.put(e);
        Result<std::uint64_t> n = engine_.redrive_ids(queues_[q], {&id, 1});
        e.phase = Phase::done;
        e.code = static_cast<std::uint8_t>(n.code());
        e.aux = n.ok() ? n.value() : 0;
        sink_.put(e);
      }
    }
    Result<ReservedJob> r = engine_.reserve_wait(queues_[q], 20, lease_ms);
    if (!r.ok()) {
      if (r.code() != Code::timed_out && r.code() != Code::empty) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      continue;
    }
    const ReservedJob& job = r.value();
    Event e;
    e.op = Op::reserve;
    e.phase = Phase::done;
    e.queue = q;
    e.op_id = (std::uint64_t{thread} << 40) | ++count;
    e.job = job.id;
    e.token = job.token;
    e.attempts = job.attempt;
    e.aux = deadline_wall(job.lease_deadline_ns);
    if (!check_payload(job.payload.view(), &e.seq)) {
      Event v;
      v.op = Op::violation;
      v.job = job.id;
      sink_.put(v);
      continue;
    }
    sink_.put(e);
    const Lease lease = job.lease();
    const std::uint64_t pick = rng() % 100;
    if (pick < 55) {
      settle(Op::ack, q, job, [&] { return engine_.ack(queues_[q], lease); });
    } else if (pick < 70) {
      settle(Op::nack, q, job, [&] { return engine_.nack(queues_[q], lease, 0); });
    } else if (pick < 80) {
      settle(Op::fail, q, job, [&] { return engine_.fail(queues_[q], lease, "crashtest: fail"); });
    } else if (pick < 95) {
      if (settle(Op::extend, q, job, [&] { return engine_.extend(queues_[q], lease, lease_ms); }) ==
          Code::ok) {
        settle(Op::ack, q, job, [&] { return engine_.ack(queues_[q], lease); });
      }
    }
    // else: abandoned, as by a worker that died; the lease runs out.
  }
}

}  // namespace hotq::crashtest
