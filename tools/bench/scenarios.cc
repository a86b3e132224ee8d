// tools/bench/scenarios.cc — hotq-bench's scenarios. Each one opens a fresh
// engine per repetition (a fresh log directory when durable) through the
// public API only, and says in its comment what it measures and how.
#include <malloc.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/bench.h"

namespace hotq::bench {

using Histogram = engine::LatencyHistogram;

void RunResult::add_latency(const std::string& prefix, const Histogram::Snapshot& s) {
  static constexpr struct {
    const char* name;
    double q;
  } points[] = {{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p99.9", 0.999}};
  for (const auto& p : points) add(prefix + p.name, static_cast<double>(s.percentile(p.q)) / 1e3, "us");
  add(prefix + "max", static_cast<double>(s.max_ns) / 1e3, "us");
}

void RunResult::add_summary(const std::string& prefix, const LatencySummary& s) {
  add(prefix + "p50", static_cast<double>(s.p50_ns) / 1e3, "us");
  add(prefix + "p99", static_cast<double>(s.p99_ns) / 1e3, "us");
  add(prefix + "p99.9", static_cast<double>(s.p999_ns) / 1e3, "us");
  add(prefix + "max", static_cast<double>(s.max_ns) / 1e3, "us");
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::memory:
      return "memory";
    case Mode::interval:
      return "interval";
    case Mode::sync:
      return "sync";
  }
  return "?";
}

const char* backend_name(WalBackend b) {
  switch (b) {
    case WalBackend::automatic:
      return "automatic";
    case WalBackend::io_uring:
      return "io_uring";
    case WalBackend::pwritev:
      return "pwritev";
  }
  return "?";
}

std::string format_count(double v) {
  char buf[64];
  if (std::fabs(v) < 1000 && v != std::floor(v)) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string digits = buf, out;
  const std::size_t sign = digits[0] == '-' ? 1 : 0;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > sign && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

TempDir::TempDir(const Options& options) {
  std::string base = options.dir;
  if (base.empty()) {
    const char* env = std::getenv("HOTQ_BENCH_DIR");
    base = env != nullptr && *env != 0 ? env : "/var/tmp";
  }
  path_ = base + "/hotq-bench-XXXXXX";
  if (mkdtemp(path_.data()) == nullptr) {
    std::fprintf(stderr, "hotq-bench: cannot make a directory in %s: %s\n", base.c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

EngineOptions engine_options(const Options& options, const std::string& wal_dir) {
  EngineOptions e;
  e.shards = options.shards;
  if (options.mode == Mode::memory) return e;
  e.wal_dir = wal_dir + "/wal";
  e.durability = options.mode == Mode::sync ? Durability::sync : Durability::interval;
  e.wal_backend = options.backend;
  return e;
}

std::string backend_fact(const Engine& engine) {
  const std::string& r = engine.open_report();
  return r.substr(0, r.find('\n'));
}

namespace {

// ------------------------------------------------------------------ shared

// A fresh engine and one queue, for one repetition.
struct Bed {
  std::unique_ptr<TempDir> dir;
  EngineOptions options;
  std::unique_ptr<Engine> engine;
  QueueId queue = 0;
};

// --keyed: the bench queue's dedup window.
constexpr std::uint64_t keyed_window_ms = 1'000;

// capacity: jobs the queue must hold at once (its back-pressure bound).
bool open_bed(const Options& o, std::uint64_t capacity, Bed* b, RunResult* r,
              std::uint64_t snapshot_log_bytes = 256ull << 20) {
  if (o.mode != Mode::memory) b->dir = std::make_unique<TempDir>(o);
  b->options = engine_options(o, b->dir ? b->dir->path() : "");
  b->options.wal_snapshot_log_bytes = snapshot_log_bytes;
  Status st = Engine::open(b->options, &b->engine);
  if (!st.ok()) {
    r->error = "open: " + st.to_string();
    return false;
  }
  QueueOptions qo;
  qo.capacity_jobs_max = std::clamp<std::uint64_t>(capacity, 1u << 16, capacity_jobs_limit);
  qo.priority_levels = 1;
  qo.payload_bytes_max = std::max<std::uint32_t>(o.payload_bytes, 8);
  qo.attempts_max = 100;
  qo.lease_ms_default = 60'000;
  if (o.keyed) {
    // Every key is new: a short window keeps the table at ~1 s of enqueues.
    qo.dedup_window_ms = keyed_window_ms;
    qo.dedup_keys_max = 1u << 24;
  }
  Result<QueueId> q = b->engine->create_queue("bench", qo);
  if (!q.ok()) {
    r->error = std::string("create_queue: ") + code_name(q.code());
    return false;
  }
  b->queue = q.value();
  if (o.mode != Mode::memory) r->facts.emplace_back("wal", backend_fact(*b->engine));
  return true;
}

// A batch of requests over one buffer of payloads: payload i is
// bytes [i*size, (i+1)*size) of the buffer, so a scenario can stamp a value
// (an index, a due time) into its first 8 bytes.
struct Requests {
  Requests(std::size_t n, std::uint32_t payload_bytes)
      : size(payload_bytes), bytes(n * payload_bytes, 'x'), reqs(n), ids(n), codes(n) {
    for (std::size_t i = 0; i < n; ++i) reqs[i].payload = std::string_view(bytes).substr(i * size, size);
  }
  void stamp(std::size_t i, std::uint64_t v) { std::memcpy(bytes.data() + i * size, &v, sizeof v); }
  std::uint32_t size;
  std::string bytes;
  std::vector<EnqueueRequest> reqs;
  std::vector<JobId> ids;
  std::vector<Code> codes;
};

std::uint64_t read_stamp(const Payload& p) {
  std::uint64_t v = 0;
  if (p.size() >= sizeof v) std::memcpy(&v, p.view().data(), sizeof v);
  return v;
}

// Enqueues `jobs` ready jobs in batches; false on any refusal.
bool fill(Engine& e, QueueId q, std::uint64_t jobs, std::uint32_t payload_bytes, Progress& progress,
          RunResult* r) {
  Requests rq(batch_jobs_max, payload_bytes);
  Ticket t;
  const bool durable = !e.open_report().empty();
  for (std::uint64_t done = 0; done < jobs;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(batch_jobs_max, jobs - done));
    for (std::size_t i = 0; i < n; ++i) rq.stamp(i, done + i);
    BatchResult b = e.enqueue_batch_async(q, {rq.reqs.data(), n}, {rq.ids.data(), n},
                                          {rq.codes.data(), n}, &t);
    if (b.count != n) {
      r->error = std::string("enqueue while filling: ") + code_name(b.code);
      return false;
    }
    done += n;
    progress.add(n);
  }
  if (durable && e.wait_durable(t) != Code::ok) {
    r->error = "the log failed while filling";
    return false;
  }
  return true;
}

// The first code other than ok in codes[0, n), by name.
const char* first_error(const std::vector<Code>& codes, std::uint32_t n) {
  for (std::uint32_t i = 0; i < n; ++i) {
    if (codes[i] != Code::ok) return code_name(codes[i]);
  }
  return "?";
}

double seconds_since(std::uint64_t start_ns) {
  return static_cast<double>(now_ns() - start_ns) / 1e9;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

// ------------------------------------------------------------------ lifecycle

// The lifecycle loop: each of `threads` threads, on one shared queue, does
// enqueue (batch jobs) -> reserve (up to batch) -> ack, until told to stop;
// a job counts once acknowledged (with --async, once its ack is durable).
// Sync mode, without --async, waits for the fdatasync in every enqueue and
// every ack call. Latencies: one enqueue call, and one reserve + ack pair.
struct LoopResult {
  std::uint64_t jobs = 0;
  double seconds = 0;
  Histogram::Snapshot enqueue, settle;
  std::string error;
};

LoopResult lifecycle_loop(const Options& o, Engine& e, QueueId q, std::uint32_t threads,
                          double seconds, Progress& progress) {
  struct alignas(64) PerThread {
    std::uint64_t jobs = 0;
    Histogram enqueue, settle;
    std::string error;
  };
  std::vector<std::unique_ptr<PerThread>> per(threads);
  for (auto& p : per) p = std::make_unique<PerThread>();
  std::atomic<bool> stop{false};  // relaxed: only ends the loops; join() orders the rest
  std::atomic<std::uint32_t> next_thread{0};  // relaxed: distinct numbers are all it gives
  const std::uint32_t batch = o.batch;
  const bool durable = o.mode != Mode::memory;
  auto work = [&](PerThread& me) {
    Requests rq(batch, o.payload_bytes);
    std::vector<ReservedJob> jobs(batch);
    std::vector<Lease> leases(batch);
    Ticket t;
    std::uint64_t batches = 0;
    // --keyed: "<thread>-<n>", each key used once.
    const std::string key_prefix = std::to_string(next_thread.fetch_add(1, std::memory_order_relaxed)) + "-";
    std::vector<std::string> keys(o.keyed ? batch : 0);
    std::uint64_t keys_made = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      for (std::uint32_t i = 0; i < keys.size(); ++i) {
        keys[i] = key_prefix;
        keys[i] += std::to_string(++keys_made);
        rq.reqs[i].dedup_key = keys[i];
      }
      const std::uint64_t t0 = now_ns();
      // Why the enqueue stopped short: the batch result's code (codes[]
      // holds only the outcomes of the requests done).
      BatchResult en;
      if (o.async) {
        en = e.enqueue_batch_async(q, rq.reqs, rq.ids, rq.codes, &t);
      } else if (batch == 1) {
        Result<JobId> id = e.enqueue(q, rq.reqs[0]);
        en = id.ok() ? BatchResult{Code::ok, 1} : BatchResult{id.code(), 0};
      } else {
        en = e.enqueue_batch(q, rq.reqs, rq.ids, rq.codes);
      }
      const std::uint32_t enqueued = en.count;
      const std::uint64_t t1 = now_ns();
      if (enqueued != batch && en.code != Code::full) {
        me.error = std::string("enqueue: ") + code_name(en.code);
        return;
      }
      std::uint32_t got = 0;
      if (batch == 1 && !o.async) {
        Result<ReservedJob> j = e.reserve(q);
        if (j.ok()) {
          got = 1;
          const Code c = e.ack(q, j->lease());
          if (c != Code::ok) {
            me.error = std::string("ack: ") + code_name(c);
            return;
          }
        }
      } else {
        BatchResult res = e.reserve_batch(q, jobs);
        got = res.count;
        for (std::uint32_t i = 0; i < got; ++i) leases[i] = jobs[i].lease();
        const std::uint32_t acked =
            o.async ? e.ack_batch_async(q, {leases.data(), got}, {rq.codes.data(), got}, &t)
                    : e.ack_batch(q, {leases.data(), got}, {rq.codes.data(), got});
        if (acked != got) {
          me.error = std::string("ack: ") + first_error(rq.codes, got);
          return;
        }
      }
      const std::uint64_t t2 = now_ns();
      if (!o.async) {
        me.enqueue.record(t1 - t0);
        me.settle.record(t2 - t1);
      }
      me.jobs += got;
      progress.add(got);
      if (o.async && durable && ++batches % o.window == 0 && e.wait_durable(t) != Code::ok) {
        me.error = "the log failed";
        return;
      }
    }
    if (o.async && durable && e.wait_durable(t) != Code::ok) me.error = "the log failed";
  };
  const std::uint64_t start = now_ns();
  std::vector<std::thread> pool;
  for (std::uint32_t i = 0; i < threads; ++i) pool.emplace_back(work, std::ref(*per[i]));
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& th : pool) th.join();
  LoopResult out;
  out.seconds = seconds_since(start);  // after the last wait_durable: durable jobs only
  for (auto& p : per) {
    out.jobs += p->jobs;
    p->enqueue.add_to(out.enqueue);
    p->settle.add_to(out.settle);
    if (out.error.empty()) out.error = p->error;
  }
  return out;
}

Params lifecycle_resolve(Options& o) {
  if (o.threads == 0) o.threads = 2;
  if (o.seconds == 0) o.seconds = o.quick ? 0.2 : 2;
  return {{"durability", mode_name(o.mode)},
          {"wal backend (asked)", o.mode == Mode::memory ? "-" : backend_name(o.backend)},
          {"payload", std::to_string(o.payload_bytes) + " B"},
          {"threads", std::to_string(o.threads) + " (each: enqueue, reserve, ack on one queue)"},
          {"batch", std::to_string(o.batch) + (o.batch == 1 ? " (single-job calls)" : " jobs per call")},
          {"async", o.async ? "yes, wait_durable every " + std::to_string(o.window) + " batches" : "no"},
          {"dedup keys", o.keyed ? "a fresh one on every enqueue (window " + std::to_string(keyed_window_ms) + " ms)" : "none"},
          {"seconds", format_count(o.seconds)},
          {"shards", o.shards == 0 ? "one per hardware thread" : std::to_string(o.shards)}};
}

RunResult lifecycle_run(const Options& o, Progress& progress) {
  RunResult r;
  Bed b;
  std::uint64_t capacity = static_cast<std::uint64_t>(o.threads) * o.batch * (o.async ? o.window + 2 : 2);
  if (!open_bed(o, capacity, &b, &r)) return r;
  progress.set_phase("lifecycles");
  LoopResult l = lifecycle_loop(o, *b.engine, b.queue, o.threads, o.seconds, progress);
  if (!l.error.empty()) {
    r.error = l.error;
    return r;
  }
  r.add("jobs_per_s", static_cast<double>(l.jobs) / l.seconds, "jobs/s");
  if (!o.async) {
    r.add_latency("enqueue_call_", l.enqueue);
    r.add_latency("reserve_ack_", l.settle);
  }
  if (o.mode != Mode::memory) {
    const WalStats w = b.engine->wal_stats();
    r.add("wal_groups_per_s", static_cast<double>(w.groups) / l.seconds, "groups/s");
    r.add("wal_records_per_group", w.groups == 0 ? 0 : static_cast<double>(w.records) / static_cast<double>(w.groups), "records");
    r.add_summary("wal_commit_", w.commit);
  }
  return r;
}

// ------------------------------------------------------------------ enqueue-latency

// Sync enqueue latency at a fixed offered rate, without coordinated
// omission: job i is due at start + i / rate whatever happened before, and
// its latency is from that due time to the moment its enqueue was reported
// durable (on_durable's callback). A producer that falls behind therefore
// shows up as latency, not as a lower rate. The producer wakes at most every
// 50 us (the pacing window) and enqueues every job due by then in one async
// batch; a consumer thread reserves and acknowledges (async) so the queue
// stays short and the log carries whole lifecycles.
//
// Beside it, to tell where the time goes: call_durable_*, from each batch's
// enqueue call to its callback (the engine's part: the wait for the group in
// flight, its own write + fdatasync, the completion thread's wake-up), and
// wal_commit_*, each group's write + fdatasync as the log timed it
// (Engine::wal_stats()): the disk's own latency under this load; and
// enqueue_call_*, how long the producer's own calls (enqueue_batch_async +
// on_durable) took: time the producer spent inside the engine, not asleep.
constexpr std::uint64_t pacing_window_ns = 50'000;

Params latency_resolve(Options& o) {
  if (!o.mode_given) o.mode = Mode::sync;
  if (o.rate == 0) o.rate = o.quick ? 2'000 : 200'000;
  if (o.seconds == 0) o.seconds = o.quick ? 0.3 : 5;
  return {{"durability", mode_name(o.mode)},
          {"wal backend (asked)", o.mode == Mode::memory ? "-" : backend_name(o.backend)},
          {"payload", std::to_string(o.payload_bytes) + " B"},
          {"offered rate", format_count(static_cast<double>(o.rate)) + " jobs/s, paced every " +
                               std::to_string(pacing_window_ns / 1000) + " us"},
          {"threads", "1 producer (async batches), 1 consumer (reserve + async ack)"},
          {"seconds", format_count(o.seconds)},
          {"latency", "from each job's scheduled time to its durable callback"}};
}

RunResult latency_run(const Options& o, Progress& progress) {
  RunResult r;
  Bed b;
  const std::uint64_t total = static_cast<std::uint64_t>(o.seconds * static_cast<double>(o.rate));
  if (!open_bed(o, std::max<std::uint64_t>(o.rate, 1u << 16), &b, &r)) return r;
  Engine& e = *b.engine;
  const QueueId q = b.queue;
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // sleep to the microsecond, not 50 us late
  Histogram latency;
  Histogram call_latency;                  // from the batch's enqueue call
  Histogram call_time;                     // the producer's enqueue + on_durable calls themselves
  std::atomic<std::uint64_t> recorded{0};  // release by the callback, acquire by the waiter below
  std::atomic<std::uint64_t> failed{0};    // relaxed: read after recorded's acquire
  std::atomic<bool> producing{true};       // relaxed: ends the consumer's loop; join() orders
  std::string consumer_error;
  std::thread consumer([&] {
    std::vector<ReservedJob> jobs(batch_jobs_max);
    std::vector<Lease> leases(batch_jobs_max);
    std::vector<Code> codes(batch_jobs_max);
    Ticket t;
    std::uint64_t acked = 0;
    while (producing.load(std::memory_order_relaxed) || acked < total) {
      BatchResult res = e.reserve_batch_wait(q, jobs, 20);
      for (std::uint32_t i = 0; i < res.count; ++i) leases[i] = jobs[i].lease();
      if (e.ack_batch_async(q, {leases.data(), res.count}, {codes.data(), res.count}, &t) != res.count) {
        consumer_error = "ack failed";
        return;
      }
      acked += res.count;
      if (res.count == 0 && !producing.load(std::memory_order_relaxed)) break;
    }
    (void)e.wait_durable(t);
  });
  progress.set_phase("enqueues");
  Requests rq(batch_jobs_max, o.payload_bytes);
  const std::uint64_t start = now_ns() + 1'000'000;
  const double ns_per_job = 1e9 / static_cast<double>(o.rate);
  auto due_of = [&](std::uint64_t i) { return start + static_cast<std::uint64_t>(static_cast<double>(i) * ns_per_job); };
  std::uint64_t sent = 0, behind_max = 0;
  Ticket t;
  while (sent < total) {
    const std::uint64_t now = now_ns();
    std::uint64_t due_count = 0;
    if (now >= start) {
      due_count = std::min<std::uint64_t>(total, static_cast<std::uint64_t>(static_cast<double>(now - start) / ns_per_job) + 1);
    }
    if (due_count > sent) behind_max = std::max(behind_max, now - due_of(sent));
    while (sent < due_count) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(batch_jobs_max, due_count - sent));
      const std::uint64_t called = now_ns();
      BatchResult res = e.enqueue_batch_async(q, {rq.reqs.data(), n}, {rq.ids.data(), n},
                                              {rq.codes.data(), n}, &t);
      if (res.count != n) {
        r.error = std::string("enqueue: ") + code_name(res.code) +
                  (res.code == Code::full ? " (the offered rate is above what the consumer drains)" : "");
        break;
      }
      const std::uint64_t first = sent;
      e.on_durable(t, [&, first, n, called](Code c) {
        const std::uint64_t done = now_ns();
        for (std::uint64_t i = first; i < first + n; ++i) latency.record(done - std::min(done, due_of(i)));
        call_latency.record(done - called);
        if (c != Code::ok) failed.fetch_add(n, std::memory_order_relaxed);
        recorded.fetch_add(n, std::memory_order_release);
      });
      call_time.record(now_ns() - called);
      sent += n;
      progress.add(n);
    }
    if (!r.error.empty()) break;
    const std::uint64_t next = std::max(due_of(sent), now_ns() + pacing_window_ns);
    std::this_thread::sleep_for(std::chrono::nanoseconds(next - now_ns()));
  }
  const double send_seconds = seconds_since(start);
  // Every callback has run before the histogram and the counters go away
  // (they run by the time the last ticket is durable or the log failed).
  if (sent != 0 && e.wait_durable(t) != Code::ok && r.error.empty()) r.error = "the log failed";
  while (recorded.load(std::memory_order_acquire) < sent) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  producing.store(false, std::memory_order_relaxed);
  consumer.join();
  if (!r.error.empty()) return r;
  if (!consumer_error.empty()) r.error = consumer_error;
  if (failed.load(std::memory_order_relaxed) != 0) r.error = "durable callbacks reported failures";
  Histogram::Snapshot s;
  latency.add_to(s);
  r.add("offered_jobs_per_s", static_cast<double>(o.rate), "jobs/s");
  r.add("achieved_jobs_per_s", static_cast<double>(sent) / send_seconds, "jobs/s");
  r.add("producer_behind_max", static_cast<double>(behind_max) / 1e3, "us");
  r.add_latency("enqueue_durable_", s);
  Histogram::Snapshot calls;
  call_latency.add_to(calls);
  r.add_latency("call_durable_", calls);
  Histogram::Snapshot call_times;
  call_time.add_to(call_times);
  r.add_latency("enqueue_call_", call_times);
  if (o.mode != Mode::memory) {
    const WalStats w = e.wal_stats();
    r.add("wal_groups_per_s", static_cast<double>(w.groups) / send_seconds, "groups/s");
    r.add_summary("wal_commit_", w.commit);
  }
  return r;
}

// ------------------------------------------------------------------ delayed

// Delayed jobs: `jobs` of them are enqueued (batches of --batch) with delays
// that put their due times uniformly at random in a --seconds window that
// starts after the insertion is over (the window's start is estimated at
// 1 s per million jobs, at least 1 s); then --threads consumers reserve and
// acknowledge them as they fall due. Reports the insertion rate, the firing
// rate (jobs / (last reserve - first due time)) and lateness: the reserve's
// return minus the due time, taken as the enqueue call's start plus the
// delay (the engine's own due time is no earlier, so lateness is never
// understated). A job handed out before that is counted as early. The
// firing rate can only reach the offered one (due_jobs_per_s = jobs / the
// window): a small window against many jobs measures what the engine can do.
Params delayed_resolve(Options& o) {
  if (o.jobs == 0) o.jobs = o.quick ? 20'000 : 10'000'000;
  if (o.threads == 0) o.threads = 1;
  if (o.seconds == 0) o.seconds = o.quick ? 0.2 : 1;
  return {{"durability", mode_name(o.mode)},
          {"payload", std::to_string(std::max<std::uint32_t>(o.payload_bytes, 8)) + " B"},
          {"jobs", format_count(static_cast<double>(o.jobs))},
          {"due window", format_count(o.seconds) + " s, uniform, after the insertion"},
          {"batch", std::to_string(o.batch)},
          {"consumers", std::to_string(o.threads)}};
}

RunResult delayed_run(const Options& o, Progress& progress) {
  RunResult r;
  Bed b;
  if (!open_bed(o, o.jobs, &b, &r)) return r;
  Engine& e = *b.engine;
  const QueueId q = b.queue;
  const std::uint64_t lead_ns = std::max<std::uint64_t>(1'000'000'000, o.jobs * 1'000);  // 1 s per million
  const auto window_ns = static_cast<std::uint64_t>(o.seconds * 1e9);
  const std::uint64_t insert_start = now_ns();
  const std::uint64_t window_start = insert_start + lead_ns;
  std::mt19937_64 rng(42);
  Requests rq(o.batch, std::max<std::uint32_t>(o.payload_bytes, 8));
  progress.set_phase("inserting");
  Ticket t;
  for (std::uint64_t done = 0; done < o.jobs;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(o.batch, o.jobs - done));
    const std::uint64_t call = now_ns();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t target = window_start + rng() % window_ns;
      const std::uint64_t delay_ms = (target - std::min(target, call) + 999'999) / 1'000'000;
      rq.reqs[i].delay_ms = delay_ms;
      rq.stamp(i, call + delay_ms * 1'000'000);  // no later than the engine's due time
    }
    BatchResult res = e.enqueue_batch_async(q, {rq.reqs.data(), n}, {rq.ids.data(), n},
                                            {rq.codes.data(), n}, &t);
    if (res.count != n) {
      r.error = std::string("enqueue: ") + code_name(res.code);
      return r;
    }
    done += n;
    progress.add(n);
  }
  if (o.mode != Mode::memory && e.wait_durable(t) != Code::ok) {
    r.error = "the log failed";
    return r;
  }
  const double insert_seconds = seconds_since(insert_start);
  if (now_ns() > window_start) {
    r.facts.emplace_back("note", "the insertion ran past the first due time: early lateness is the insertion's");
  }
  progress.set_phase("firing");
  struct alignas(64) PerThread {
    Histogram lateness;
    std::uint64_t first_due = UINT64_MAX, last_reserve = 0, early = 0;
    std::string error;
  };
  std::vector<std::unique_ptr<PerThread>> per(o.threads);
  std::atomic<std::uint64_t> received{0};  // relaxed: a count to stop at; join() orders the rest
  auto consume = [&](PerThread& me) {
    std::vector<ReservedJob> jobs(o.batch);
    std::vector<Lease> leases(o.batch);
    std::vector<Code> codes(o.batch);
    while (received.load(std::memory_order_relaxed) < o.jobs) {
      BatchResult res = e.reserve_batch_wait(q, jobs, 10);
      const std::uint64_t now = now_ns();
      for (std::uint32_t i = 0; i < res.count; ++i) {
        const std::uint64_t due = read_stamp(jobs[i].payload);
        if (now < due) ++me.early;
        me.lateness.record(now - std::min(now, due));
        me.first_due = std::min(me.first_due, due);
        leases[i] = jobs[i].lease();
      }
      if (res.count != 0) me.last_reserve = now;
      if (e.ack_batch(q, {leases.data(), res.count}, {codes.data(), res.count}) != res.count) {
        me.error = "ack failed";
        return;
      }
      received.fetch_add(res.count, std::memory_order_relaxed);
      progress.add(res.count);
    }
  };
  std::vector<std::thread> pool;
  for (std::uint32_t i = 0; i < o.threads; ++i) {
    per[i] = std::make_unique<PerThread>();
    pool.emplace_back(consume, std::ref(*per[i]));
  }
  for (std::thread& th : pool) th.join();
  Histogram::Snapshot s;
  std::uint64_t first_due = UINT64_MAX, last = 0, early = 0;
  for (auto& p : per) {
    p->lateness.add_to(s);
    first_due = std::min(first_due, p->first_due);
    last = std::max(last, p->last_reserve);
    early += p->early;
    if (r.error.empty()) r.error = p->error;
  }
  if (early != 0) r.error = std::to_string(early) + " jobs were handed out before their due time";
  r.add("insert_jobs_per_s", static_cast<double>(o.jobs) / insert_seconds, "jobs/s");
  r.add("due_jobs_per_s", static_cast<double>(o.jobs) / o.seconds, "jobs/s");  // the offered firing rate
  r.add("fire_jobs_per_s", static_cast<double>(o.jobs) / (static_cast<double>(last - std::min(last, first_due)) / 1e9), "jobs/s");
  r.add_latency("lateness_", s);
  return r;
}

// ------------------------------------------------------------------ leases

// Mass lease expiry: `jobs` jobs are enqueued and all reserved with a lease
// of --lease-ms that nobody settles; the same loop keeps reserving, and
// every job that comes back (attempt 2) is acknowledged. Reports the reserve
// rate of the first pass, the redelivery rate (jobs / (last redelivery -
// first lease deadline)) and lateness: redelivery minus the lease deadline
// the first reserve reported. A redelivery before that deadline fails the run.
Params leases_resolve(Options& o) {
  if (o.jobs == 0) o.jobs = o.quick ? 10'000 : 1'000'000;
  if (o.lease_ms == 0) o.lease_ms = o.quick ? 100 : 1'000;
  return {{"durability", mode_name(o.mode)},
          {"payload", std::to_string(std::max<std::uint32_t>(o.payload_bytes, 8)) + " B"},
          {"jobs", format_count(static_cast<double>(o.jobs))},
          {"lease", std::to_string(o.lease_ms) + " ms"},
          {"batch", std::to_string(o.batch)},
          {"threads", "1 (reserves, then takes the redeliveries and acknowledges them)"}};
}

RunResult leases_run(const Options& o, Progress& progress) {
  RunResult r;
  Bed b;
  if (!open_bed(o, o.jobs, &b, &r)) return r;
  Engine& e = *b.engine;
  const QueueId q = b.queue;
  progress.set_phase("enqueueing");
  if (!fill(e, q, o.jobs, std::max<std::uint32_t>(o.payload_bytes, 8), progress, &r)) return r;
  std::vector<std::uint64_t> deadline(o.jobs, 0);
  std::vector<ReservedJob> jobs(o.batch);
  std::vector<Lease> leases(o.batch);
  std::vector<Code> codes(o.batch);
  Histogram lateness;
  std::uint64_t first_pass = 0, redelivered = 0, first_deadline = UINT64_MAX, last = 0;
  double reserve_seconds = 0;
  progress.set_phase("reserving");
  const std::uint64_t start = now_ns();
  while (redelivered < o.jobs) {
    BatchResult res = e.reserve_batch_wait(q, jobs, 10, o.lease_ms);
    const std::uint64_t now = now_ns();
    std::uint32_t settle = 0;
    for (std::uint32_t i = 0; i < res.count; ++i) {
      const std::uint64_t idx = read_stamp(jobs[i].payload);
      if (idx >= o.jobs) {
        r.error = "a job with a payload this run did not write";
        return r;
      }
      if (jobs[i].attempt == 1) {
        deadline[idx] = jobs[i].lease_deadline_ns;
        first_deadline = std::min(first_deadline, deadline[idx]);
        if (++first_pass == o.jobs) {
          reserve_seconds = seconds_since(start);
          progress.set_phase("waiting for expiry");
        }
      } else {
        if (deadline[idx] == 0 || now < deadline[idx]) {
          r.error = "a job came back before its lease ran out";
          return r;
        }
        lateness.record(now - deadline[idx]);
        leases[settle++] = jobs[i].lease();
        ++redelivered;
        last = now;
      }
    }
    if (e.ack_batch(q, {leases.data(), settle}, {codes.data(), settle}) != settle) {
      r.error = "ack failed";
      return r;
    }
    progress.add(res.count);
  }
  Histogram::Snapshot s;
  lateness.add_to(s);
  r.add("reserve_jobs_per_s", static_cast<double>(o.jobs) / reserve_seconds, "jobs/s");
  r.add("redeliver_jobs_per_s", static_cast<double>(o.jobs) / (static_cast<double>(last - first_deadline) / 1e9), "jobs/s");
  r.add_latency("lateness_", s);
  return r;
}

// ------------------------------------------------------------------ backlog

// The lifecycle loop (as in `lifecycle`) over a queue that already holds
// R ready jobs, for each R of --resident: the queue stays at about R, so
// every reserve takes a job enqueued R jobs earlier (cold in the caches at
// 10 million). Reports the fill rate and the lifecycle rate per R.
Params backlog_resolve(Options& o) {
  if (o.resident.empty()) {
    o.resident = o.quick ? std::vector<std::uint64_t>{1'000, 20'000}
                         : std::vector<std::uint64_t>{1'000, 10'000'000};
  }
  if (o.threads == 0) o.threads = 2;
  if (o.seconds == 0) o.seconds = o.quick ? 0.2 : 2;
  std::string res;
  for (std::uint64_t v : o.resident) res += (res.empty() ? "" : ", ") + format_count(static_cast<double>(v));
  return {{"durability", mode_name(o.mode)},
          {"payload", std::to_string(o.payload_bytes) + " B"},
          {"resident jobs", res},
          {"threads", std::to_string(o.threads) + " (each: enqueue, reserve, ack on one queue)"},
          {"batch", std::to_string(o.batch)},
          {"seconds", format_count(o.seconds) + " per resident count"}};
}

RunResult backlog_run(const Options& o, Progress& progress) {
  RunResult r;
  for (const std::uint64_t resident : o.resident) {
    Bed b;
    const std::uint64_t capacity = resident + 2ull * o.threads * o.batch;
    if (!open_bed(o, capacity, &b, &r)) return r;
    progress.set_phase("filling");
    const std::uint64_t start = now_ns();
    if (!fill(*b.engine, b.queue, resident, o.payload_bytes, progress, &r)) return r;
    const double fill_seconds = seconds_since(start);
    progress.set_phase("lifecycles");
    LoopResult l = lifecycle_loop(o, *b.engine, b.queue, o.threads, o.seconds, progress);
    if (!l.error.empty()) {
      r.error = l.error;
      return r;
    }
    const std::string p = "resident_" + std::to_string(resident) + ".";
    r.add(p + "fill_jobs_per_s", static_cast<double>(resident) / fill_seconds, "jobs/s");
    r.add(p + "jobs_per_s", static_cast<double>(l.jobs) / l.seconds, "jobs/s");
  }
  return r;
}

// ------------------------------------------------------------------ recovery

// Time to reopen a log: --records completed lifecycles (enqueue, reserve,
// ack: three records each) followed by --jobs live ready jobs, written
// through async batches and closed cleanly; then Engine::open is timed and
// the live jobs are counted. Snapshots by size are off, so the whole log is
// replayed, unless --snapshot takes one before the close. The page cache is
// warm (the files were just written).
Params recovery_resolve(Options& o) {
  if (!o.mode_given) o.mode = Mode::sync;
  if (o.jobs == 0) o.jobs = o.quick ? 10'000 : 1'000'000;
  if (o.records == 0) o.records = o.quick ? 10'000 : 1'000'000;
  return {{"durability", mode_name(o.mode)},
          {"wal backend (asked)", backend_name(o.backend)},
          {"payload", std::to_string(o.payload_bytes) + " B"},
          {"log", format_count(static_cast<double>(o.records)) + " completed lifecycles, then " +
                      format_count(static_cast<double>(o.jobs)) + " live jobs"},
          {"snapshot before reopen", yes_no(o.snapshot)},
          {"page cache", "warm"}};
}

RunResult recovery_run(const Options& o, Progress& progress) {
  RunResult r;
  if (o.mode == Mode::memory) {
    r.error = "recovery needs a log: --durability sync or interval";
    return r;
  }
  Bed b;
  if (!open_bed(o, o.jobs + batch_jobs_max, &b, &r, /*snapshot_log_bytes=*/0)) return r;
  Engine& e = *b.engine;
  const QueueId q = b.queue;
  progress.set_phase("writing lifecycles");
  {
    Requests rq(batch_jobs_max, o.payload_bytes);
    std::vector<ReservedJob> jobs(batch_jobs_max);
    std::vector<Lease> leases(batch_jobs_max);
    Ticket t;
    for (std::uint64_t done = 0; done < o.records;) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(batch_jobs_max, o.records - done));
      if (e.enqueue_batch_async(q, {rq.reqs.data(), n}, {rq.ids.data(), n}, {rq.codes.data(), n}, &t).count != n) {
        r.error = "enqueue failed";
        return r;
      }
      BatchResult res = e.reserve_batch(q, {jobs.data(), n});
      for (std::uint32_t i = 0; i < res.count; ++i) leases[i] = jobs[i].lease();
      if (e.ack_batch_async(q, {leases.data(), res.count}, {rq.codes.data(), res.count}, &t) != res.count) {
        r.error = "ack failed";
        return r;
      }
      done += res.count;
      progress.add(res.count);
    }
    if (e.wait_durable(t) != Code::ok) {
      r.error = "the log failed";
      return r;
    }
  }
  progress.set_phase("writing live jobs");
  if (!fill(e, q, o.jobs, o.payload_bytes, progress, &r)) return r;
  if (o.snapshot) {
    Status st = e.snapshot();
    if (!st.ok()) {
      r.error = "snapshot: " + st.to_string();
      return r;
    }
  }
  b.engine.reset();
  progress.set_phase("reopening");
  const std::uint64_t start = now_ns();
  Status st = Engine::open(b.options, &b.engine);
  const double open_seconds = seconds_since(start);
  if (!st.ok()) {
    r.error = "reopen: " + st.to_string();
    return r;
  }
  Result<QueueCounts> c = b.engine->counts(q);
  if (!c.ok() || c->ready != o.jobs) {
    r.error = "live jobs missing after the reopen";
    return r;
  }
  // "replayed N log records from ..." (engine/durable.cc, open_wal).
  const std::string& report = b.engine->open_report();
  std::uint64_t replayed = 0;
  const std::size_t at = report.find("replayed ");
  if (at != std::string::npos) replayed = std::strtoull(report.c_str() + at + 9, nullptr, 10);
  std::string line = report;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  for (char& ch : line) ch = ch == '\n' ? ';' : ch;
  r.facts.emplace_back("open report", line);
  r.add("open_s", open_seconds, "s");
  r.add("live_jobs_per_s", static_cast<double>(o.jobs) / open_seconds, "jobs/s");
  r.add("records_replayed", static_cast<double>(replayed), "records");
  r.add("records_per_s", static_cast<double>(replayed) / open_seconds, "records/s");
  return r;
}

// ------------------------------------------------------------------ memory

// Bytes per job: the process's resident memory (/proc/self/statm: the
// slabs, the rings' touched pages, the heap) and the heap in use (mallinfo2)
// before and after enqueuing `jobs` ready jobs, then after reserving them
// all (a lease adds a timer). Per job, and beyond the payload.
std::uint64_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

std::uint64_t heap_bytes() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

Params memory_resolve(Options& o) {
  if (o.jobs == 0) o.jobs = o.quick ? 20'000 : 1'000'000;
  return {{"durability", mode_name(o.mode)},
          {"payload", std::to_string(o.payload_bytes) + " B"},
          {"jobs", format_count(static_cast<double>(o.jobs))},
          {"measured", "resident set (/proc/self/statm) and heap in use (mallinfo2)"}};
}

RunResult memory_run(const Options& o, Progress& progress) {
  RunResult r;
  Bed b;
  if (!open_bed(o, o.jobs, &b, &r)) return r;
  Engine& e = *b.engine;
  const auto n = static_cast<double>(o.jobs);
  // Give back what an earlier repetition freed, or its pages would be reused
  // without showing in the resident set.
  malloc_trim(0);
  const std::uint64_t rss0 = rss_bytes(), heap0 = heap_bytes();
  progress.set_phase("enqueueing");
  if (!fill(e, b.queue, o.jobs, o.payload_bytes, progress, &r)) return r;
  const std::uint64_t rss1 = rss_bytes(), heap1 = heap_bytes();
  progress.set_phase("reserving");
  std::vector<ReservedJob> jobs(batch_jobs_max);
  for (std::uint64_t got = 0; got < o.jobs;) {
    BatchResult res = e.reserve_batch(b.queue, jobs);
    if (res.count == 0) {
      r.error = "the queue ran empty before every job was reserved";
      return r;
    }
    got += res.count;
    progress.add(res.count);
  }
  jobs.clear();  // the reserved jobs' payload references: the engine keeps its own
  const std::uint64_t rss2 = rss_bytes(), heap2 = heap_bytes();
  auto per = [n](std::uint64_t a, std::uint64_t b2) { return (static_cast<double>(b2) - static_cast<double>(a)) / n; };
  r.add("ready.rss_per_job", per(rss0, rss1), "B");
  r.add("ready.heap_per_job", per(heap0, heap1), "B");
  r.add("ready.rss_beyond_payload", per(rss0, rss1) - o.payload_bytes, "B");
  r.add("leased.rss_per_job", per(rss0, rss2), "B");
  r.add("leased.heap_per_job", per(heap0, heap2), "B");
  r.add("leased.rss_beyond_payload", per(rss0, rss2) - o.payload_bytes, "B");
  return r;
}

}  // namespace

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = {
      {"lifecycle", "enqueue + reserve + ack throughput (memory, interval or sync)", lifecycle_resolve,
       lifecycle_run},
      {"enqueue-latency", "durable enqueue latency at a fixed offered rate (no coordinated omission)",
       latency_resolve, latency_run},
      {"delayed", "many delayed jobs: insertion rate, firing rate, lateness", delayed_resolve, delayed_run},
      {"leases", "mass lease expiry and redelivery: rate and lateness", leases_resolve, leases_run},
      {"backlog", "lifecycle throughput with many jobs resident vs few", backlog_resolve, backlog_run},
      {"recovery", "time to reopen N live jobs and M log records", recovery_resolve, recovery_run},
      {"memory", "bytes per job, ready and leased", memory_resolve, memory_run},
  };
  return all;
}

}  // namespace hotq::bench
