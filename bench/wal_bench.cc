// WAL benchmarks: the Log's group commit on a real disk, and recovery
// (issue 5). Numbers for wal::Log alone: the engine is not wired to it yet.
//
//   BM_DurableLifecycle/<backend>/<threads>
//       T synchronous clients (one thread each; T >> cores is what a broker
//       with many connections looks like). Each loops: append an enqueue
//       record, wait_durable, append an ack record, wait_durable. Items are
//       lifecycles (jobs). Counters: groups written and records per group
//       (Log::stats() over the timed run), p50/p99/p999 of the enqueue's
//       append -> durable latency in microseconds (every operation's latency
//       is kept, per thread, merged at the end), and roll_waits (appends
//       that had to wait for the Log's preparer thread to make a spare
//       segment; until 2026-11-23 the writer thread filled spares itself and
//       this counted rolls that zero-filled a segment on the commit path).
//   BM_AsyncPipelined/<backend>/<window>
//       One thread keeps `window` lifecycles in flight: it appends 32
//       enqueue + 32 ack records per append call and waits only for the LSN
//       of the batch `window` lifecycles back; the asynchronous API a broker
//       thread would use. Items are lifecycles; bytes are record bytes
//       (headers and padding included, group headers not). p50/p99/p999:
//       a batch's append -> durable time (durable = when the writer thread
//       reports the group, Log::set_on_durable).
//   BM_PacedLatency/<backend>/<jobs_per_s>
//       Open loop: the same batches on a fixed schedule at an offered rate
//       (500 k jobs/s is half the 1 M target), latency from each
//       batch's scheduled time to durable. Not asked for by name; the issue's
//       latency target is stated at that load, which closed loops cannot set.
//       The /seg1GiB variant uses 1 GiB segments so that no segment roll
//       falls within a run: group commit alone, without roll stalls. The
//       /reserved variant first reserve()s each batch's framed bytes and the
//       append consumes the claim: what admission-time space reservation
//       costs.
//   BM_Recovery/<warm|cold>
//       2 million enqueue-shaped records written by a Log (once, outside any
//       timing, shared by every repetition), then recover_log() over them,
//       timed alone (manual time), with an apply that counts records and sums
//       one byte of each body. "cold" first drops the page cache
//       (/proc/sys/vm/drop_caches when permitted, and always
//       POSIX_FADV_DONTNEED on the log's files); the label says which worked.
//
// Record shape: what a durable job lifecycle logs. An enqueue record with a
// 104-byte body (a 64-byte payload + 40 bytes of fields: 128 bytes with its
// record header) and an ack record with a 24-byte body (48 bytes): 176 bytes
// of records per lifecycle. (The 104 bytes are the brief's figure. The
// format's own enqueue body with a 64-byte payload, no dedup key, is 116
// bytes: it adds lease_ms and the empty key's length. That record spans 144
// bytes, a lifecycle 192: 9% more bytes than measured here.)
//
// Where: a fresh directory made with mkdtemp under $HOTQ_BENCH_DIR (default
// /var/tmp, not /tmp, which may be tmpfs), one subdirectory per run, all
// removed at exit. Its file system type is printed in the context and in
// every label; on tmpfs a warning says the figures are not a disk's.
//
// Each throughput benchmark runs once per repetition for run_seconds of wall
// time (Iterations(1), UseRealTime); opening the Log (which zero-fills a
// spare segment), one warm-up commit and waiting for the preparer thread to
// fill the next spare are outside the timed region. The CPU column is the main
// thread's alone (it sleeps): ignore it.
//
// Run: build/release/bench/wal_bench --benchmark_repetitions=3
//        --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "util/check.h"
#include "wal/format.h"
#include "wal/fs.h"
#include "wal/log_writer.h"
#include "wal/posix_fs.h"
#include "wal/recovery.h"

namespace hotq::wal {
namespace {

// ------------------------------------------------------------ setup

constexpr std::size_t payload_bytes = 64;
constexpr std::size_t enqueue_body_bytes = 104;  // payload + 40 bytes of fields
constexpr std::size_t ack_body_bytes = 24;       // docs/wal-format.md: queue, job, token
constexpr std::uint64_t bench_segment_bytes = 64ull << 20;
constexpr double run_seconds = 2.0;  // wall time of one throughput run
constexpr std::size_t pipeline_batch_jobs = 32;  // 32 enqueue + 32 ack records per append
constexpr std::uint64_t recovery_records = 2'000'000;
constexpr std::size_t latency_reserve = 1u << 16;  // per thread; grows if needed
constexpr int spare_wait_ms_max = 30'000;          // for the preparer to fill a spare segment
constexpr std::size_t durable_events_reserve = 1u << 18;  // groups per run, about

static_assert(bench_segment_bytes % segment_align_bytes == 0);
static_assert(bench_segment_bytes >= segment_bytes_min && bench_segment_bytes <= segment_bytes_max);

std::uint64_t NowNs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// An enqueue-shaped body: queue u32, priority u8, 3 zeros, job u64,
// enqueued_ns u64, run_at_ns u64, attempts_max u32, payload string (u32 + 64).
std::string EnqueueBody() {
  std::string body;
  BodyWriter(&body).u32(1).u8(0).zeros(3).u64(0).u64(NowNs()).u64(0).u32(3).str(
      std::string(payload_bytes, 'p'));
  HOTQ_CHECK(body.size() == enqueue_body_bytes);
  return body;
}
// queue u32, 4 zeros, job u64, token u64.
std::string AckBody() {
  std::string body;
  BodyWriter(&body).u32(1).zeros(4).u64(0).u64(0);
  HOTQ_CHECK(body.size() == ack_body_bytes);
  return body;
}
constexpr std::size_t job_field_at = 8;  // both bodies have the job at offset 8
void SetJob(std::string* body, std::uint64_t job) { put_u64(body->data() + job_field_at, job); }

// The directory every run goes under, and what it is on.
struct BenchRoot {
  std::string path;
  std::string fs_type;  // from /proc/mounts ("ext4", ...), or the statfs magic
  bool tmpfs = false;
  std::string drop_caches;  // what the first cold run got: "drop_caches" or why not
};
BenchRoot& Root() {
  static BenchRoot root;
  return root;
}

// The type of the mount holding `dir` (longest mount point that prefixes it).
std::string MountFsType(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string line, best_type;
  std::size_t best_len = 0;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string dev, mnt, type;
    if (!(fields >> dev >> mnt >> type)) continue;
    const bool prefix = dir == mnt || mnt == "/" ||
                        (dir.starts_with(mnt) && dir.size() > mnt.size() && dir[mnt.size()] == '/');
    if (prefix && mnt.size() >= best_len) {
      best_len = mnt.size();
      best_type = type;
    }
  }
  return best_type;
}

bool MakeRoot(std::string* error) {
  BenchRoot& root = Root();
  const char* env = std::getenv("HOTQ_BENCH_DIR");
  const std::string parent = env != nullptr && *env != '\0' ? env : "/var/tmp";
  std::string tmpl = parent + "/hotq-wal-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    *error = "mkdtemp in " + parent + ": " + std::strerror(errno);
    return false;
  }
  std::error_code ec;
  root.path = std::filesystem::canonical(tmpl, ec).string();
  if (ec) root.path = tmpl;
  struct statfs sf {};
  if (statfs(root.path.c_str(), &sf) != 0) {
    *error = "statfs " + root.path + ": " + std::strerror(errno);
    return false;
  }
  root.tmpfs = sf.f_type == TMPFS_MAGIC;
  root.fs_type = MountFsType(root.path);
  if (root.fs_type.empty()) {
    char magic[32];
    std::snprintf(magic, sizeof magic, "magic 0x%lx", static_cast<unsigned long>(sf.f_type));
    root.fs_type = magic;
  }
  return true;
}

std::string NewRunDir() {
  static std::atomic<int> serial{0};
  // relaxed: a counter for unique names; runs start from one thread.
  return Root().path + "/run-" + std::to_string(serial.fetch_add(1, std::memory_order_relaxed));
}

std::string Label(Backend backend, const std::string& extra = {},
                  std::uint64_t segment_bytes = bench_segment_bytes) {
  std::string s = std::string(backend_name(backend)) + " fs=" + Root().fs_type +
                  (Root().tmpfs ? "(NOT A DISK)" : "") + " segment_bytes=" +
                  std::to_string(segment_bytes) + " payload=" + std::to_string(payload_bytes) +
                  "B enqueue_body=" + std::to_string(enqueue_body_bytes) +
                  "B ack_body=" + std::to_string(ack_body_bytes) + "B";
  if (!extra.empty()) s += " " + extra;
  return s;
}

// A Log on a fresh directory; the directory goes when this does.
class Wal {
 public:
  ~Wal() {
    log_.reset();  // close(): writes what is pending, stops the writer
    fs_.reset();   // releases the directory lock
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  // Returns false with *error set (the kernel refused io_uring, ...).
  // `on_durable`, if set, is handed to Log::set_on_durable before any append.
  bool open(Backend backend, std::string* error,
            std::function<void(std::uint64_t, bool)> on_durable = {},
            std::uint64_t segment_bytes = bench_segment_bytes) {
    dir_ = NewRunDir();
    PosixFsOptions fo;
    fo.backend = backend;
    std::string message;
    int rc = open_posix_fs(dir_, fo, &fs_, nullptr, &message);
    if (rc != 0) {
      *error = std::string(backend_name(backend)) + ": " + message;
      return false;
    }
    LogOptions lo;
    lo.segment_bytes = segment_bytes;
    rc = Log::open(*fs_, lo, LogTail{}, &log_, error);
    if (rc != 0) return false;
    if (on_durable) log_->set_on_durable(std::move(on_durable));
    const std::uint64_t filled = log_->stats().segments_filled;
    // Warm-up: the first group rolls into the spare and fsyncs the
    // directory; keep that out of the timed run.
    const std::string body = AckBody();
    const Log::Record r{RecordType::ack, body};
    std::uint64_t lsn = 0;
    if (log_->append({&r, 1}, &lsn) != AppendResult::ok || !log_->wait_durable(lsn)) {
      *error = "warm-up commit failed: " + log_->failure();
      return false;
    }
    // The roll used the spare; the preparer thread now zero-fills the next
    // one. Start timing once it is ready, as a log that has been open a
    // while would be: rolls during the run still count.
    for (int waited_ms = 0; log_->stats().segments_filled <= filled; waited_ms += 10) {
      if (waited_ms >= spare_wait_ms_max) {
        *error = "the preparer did not make a spare segment within " +
                 std::to_string(spare_wait_ms_max) + " ms";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  Log& log() { return *log_; }
  // Stops the writer (joined: its on_durable calls are over); stats() stays.
  void close() { log_->close(); }

 private:
  std::string dir_;
  std::unique_ptr<Fs> fs_;
  std::unique_ptr<Log> log_;
};

// The first error any client thread saw (empty: none).
class FirstError {
 public:
  void set(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.empty()) error_ = std::move(e);
  }
  std::string get() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  std::mutex mu_;
  std::string error_;
};

void ReportLogCounters(benchmark::State& state, const LogStats& before, const LogStats& after) {
  const double groups = static_cast<double>(after.groups - before.groups);
  const double records = static_cast<double>(after.records - before.records);
  state.counters["groups"] = groups;
  state.counters["groups_per_s"] = benchmark::Counter(groups, benchmark::Counter::kIsRate);
  state.counters["recs_per_group"] = groups > 0 ? records / groups : 0;
  state.counters["roll_waits"] = static_cast<double>(after.roll_waits - before.roll_waits);
}

double PercentileUs(const std::vector<std::uint64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto i = std::min(sorted.size() - 1,
                          static_cast<std::size_t>(q * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[i]) / 1e3;
}

// When each group became durable, as the writer thread reports it
// (Log::set_on_durable, called right after it wakes the waiters). record()
// runs on the writer thread only; read the events after Log::close().
class DurableTimes {
 public:
  DurableTimes() { events_.reserve(durable_events_reserve); }
  void record(std::uint64_t lsn, bool failed) {
    if (!failed) events_.push_back({lsn, NowNs()});
  }
  std::function<void(std::uint64_t, bool)> callback() {
    return [this](std::uint64_t lsn, bool failed) { record(lsn, failed); };
  }
  // For batches in LSN order (last LSN, start ns), the ns from start to the
  // first durable event covering the batch, sorted. Batches never covered
  // (impossible once every batch was waited for) are left out.
  std::vector<std::uint64_t> latencies(const std::vector<std::uint64_t>& last_lsn,
                                       const std::vector<std::uint64_t>& start_ns) const {
    std::vector<std::uint64_t> out;
    out.reserve(last_lsn.size());
    std::size_t e = 0;
    for (std::size_t b = 0; b < last_lsn.size(); ++b) {
      while (e < events_.size() && events_[e].lsn < last_lsn[b]) ++e;
      if (e == events_.size()) break;
      out.push_back(events_[e].ns > start_ns[b] ? events_[e].ns - start_ns[b] : 0);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct Event {
    std::uint64_t lsn;
    std::uint64_t ns;
  };
  std::vector<Event> events_;
};

void ReportLatency(benchmark::State& state, const std::vector<std::uint64_t>& sorted_ns) {
  state.counters["p50_us"] = PercentileUs(sorted_ns, 0.50);
  state.counters["p99_us"] = PercentileUs(sorted_ns, 0.99);
  state.counters["p999_us"] = PercentileUs(sorted_ns, 0.999);
}

// One batch of a single-thread appender: 32 enqueue records of new jobs and
// 32 ack records of older ones, 64 records per append call.
class Batch {
 public:
  Batch() {
    bodies_.reserve(2 * pipeline_batch_jobs);
    for (std::size_t i = 0; i < pipeline_batch_jobs; ++i) bodies_.push_back(EnqueueBody());
    for (std::size_t i = 0; i < pipeline_batch_jobs; ++i) bodies_.push_back(AckBody());
    records_.reserve(bodies_.size());
    for (std::size_t i = 0; i < bodies_.size(); ++i) {
      records_.push_back(
          {i < pipeline_batch_jobs ? RecordType::enqueue : RecordType::ack, bodies_[i]});
      record_bytes_ += record_span_bytes(bodies_[i].size());
    }
  }
  // Appends the next batch (first reserving its room if `reserve`); false
  // if the log refused it.
  bool append(Log& log, std::uint64_t* last_lsn, bool reserve = false) {
    for (std::size_t i = 0; i < pipeline_batch_jobs; ++i) {
      SetJob(&bodies_[i], job_ + i);
      SetJob(&bodies_[pipeline_batch_jobs + i], job_ + i - std::min<std::uint64_t>(job_, 4096));
    }
    job_ += pipeline_batch_jobs;
    std::uint64_t reserved = 0;
    if (reserve) {
      reserved = Log::framed_bytes(records_);
      if (log.reserve(reserved) != ReserveResult::ok) return false;
    }
    return log.append(records_, last_lsn, reserved) == AppendResult::ok;
  }
  std::uint64_t record_bytes() const { return record_bytes_; }

 private:
  std::vector<std::string> bodies_;
  std::vector<Log::Record> records_;  // views of bodies_
  std::uint64_t record_bytes_ = 0;
  std::uint64_t job_ = 0;
};

// ------------------------------------------------------------ durable lifecycle

// One synchronous client until `stop`: lifecycles done, enqueue latencies kept.
void LifecycleClient(Log& log, std::uint64_t client, const std::atomic<bool>& stop,
                     std::vector<std::uint64_t>* latency_ns, std::uint64_t* lifecycles,
                     FirstError* error) {
  std::string enqueue = EnqueueBody();
  std::string ack = AckBody();
  const Log::Record enqueue_rec{RecordType::enqueue, enqueue};
  const Log::Record ack_rec{RecordType::ack, ack};
  std::uint64_t job = client << 40;
  std::uint64_t done = 0;
  // relaxed: a stop flag; nothing is published through it.
  while (!stop.load(std::memory_order_relaxed)) {
    SetJob(&enqueue, job);
    SetJob(&ack, job);
    ++job;
    std::uint64_t lsn = 0;
    const std::uint64_t t0 = NowNs();
    if (log.append({&enqueue_rec, 1}, &lsn) != AppendResult::ok || !log.wait_durable(lsn)) {
      error->set("enqueue append/wait failed: " + log.failure());
      break;
    }
    latency_ns->push_back(NowNs() - t0);
    if (log.append({&ack_rec, 1}, &lsn) != AppendResult::ok || !log.wait_durable(lsn)) {
      error->set("ack append/wait failed: " + log.failure());
      break;
    }
    ++done;
  }
  *lifecycles = done;
}

void BM_DurableLifecycle(benchmark::State& state, Backend backend, int threads) {
  Wal wal;
  std::string error;
  if (!wal.open(backend, &error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  const auto n = static_cast<std::size_t>(threads);
  std::vector<std::vector<std::uint64_t>> latency(n);
  for (auto& v : latency) v.reserve(latency_reserve);
  std::vector<std::uint64_t> done(n, 0);
  FirstError first_error;
  const LogStats before = wal.log().stats();
  for (auto _ : state) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    clients.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      clients.emplace_back(LifecycleClient, std::ref(wal.log()), i, std::cref(stop), &latency[i],
                           &done[i], &first_error);
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(run_seconds));
    stop.store(true, std::memory_order_relaxed);  // relaxed: see LifecycleClient
    for (std::thread& t : clients) t.join();
  }
  const LogStats after = wal.log().stats();
  if (std::string e = first_error.get(); !e.empty()) {
    state.SkipWithError(e.c_str());
    return;
  }
  std::vector<std::uint64_t> all;
  std::uint64_t lifecycles = 0;
  for (std::size_t i = 0; i < n; ++i) {
    all.insert(all.end(), latency[i].begin(), latency[i].end());
    lifecycles += done[i];
  }
  std::sort(all.begin(), all.end());
  state.SetItemsProcessed(static_cast<std::int64_t>(lifecycles));
  ReportLogCounters(state, before, after);
  state.counters["p50_us"] = PercentileUs(all, 0.50);
  state.counters["p99_us"] = PercentileUs(all, 0.99);
  state.counters["p999_us"] = PercentileUs(all, 0.999);
  state.SetLabel(Label(backend, "threads=" + std::to_string(threads)));
}

// ------------------------------------------------------------ async pipelined

void BM_AsyncPipelined(benchmark::State& state, Backend backend, int window_jobs) {
  Wal wal;
  DurableTimes durable;
  std::string error;
  if (!wal.open(backend, &error, durable.callback())) {
    state.SkipWithError(error.c_str());
    return;
  }
  Log& log = wal.log();
  Batch batch;
  std::vector<std::uint64_t> batch_lsn, batch_start_ns;  // every batch, for latency
  batch_lsn.reserve(1u << 20);
  batch_start_ns.reserve(1u << 20);
  std::uint64_t lifecycles = 0;
  const LogStats before = log.stats();
  for (auto _ : state) {
    std::deque<std::uint64_t> in_flight;  // last LSN of each batch not yet waited for
    const std::uint64_t end_ns = NowNs() + static_cast<std::uint64_t>(run_seconds * 1e9);
    std::uint64_t lsn = 0;
    for (std::uint64_t now = NowNs(); now < end_ns; now = NowNs()) {
      if (!batch.append(log, &lsn)) {
        state.SkipWithError(("append failed: " + log.failure()).c_str());
        return;
      }
      batch_lsn.push_back(lsn);
      batch_start_ns.push_back(now);
      in_flight.push_back(lsn);
      while (in_flight.size() * pipeline_batch_jobs > static_cast<std::size_t>(window_jobs)) {
        if (!log.wait_durable(in_flight.front())) {
          state.SkipWithError(("wait_durable failed: " + log.failure()).c_str());
          return;
        }
        in_flight.pop_front();
      }
      lifecycles += pipeline_batch_jobs;
    }
    if (!log.wait_durable(lsn)) {  // every lifecycle counted is durable
      state.SkipWithError(("wait_durable failed: " + log.failure()).c_str());
      return;
    }
  }
  wal.close();
  const LogStats after = log.stats();
  state.SetItemsProcessed(static_cast<std::int64_t>(lifecycles));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(lifecycles / pipeline_batch_jobs * batch.record_bytes()));
  ReportLogCounters(state, before, after);
  state.counters["group_kib"] =
      after.groups > before.groups
          ? static_cast<double>(after.bytes - before.bytes) /
                static_cast<double>(after.groups - before.groups) / 1024.0
          : 0;
  ReportLatency(state, durable.latencies(batch_lsn, batch_start_ns));
  state.SetLabel(Label(backend, "window=" + std::to_string(window_jobs) + " jobs, " +
                                    std::to_string(2 * pipeline_batch_jobs) + " records/append"));
}

// ------------------------------------------------------------ paced (open loop)

// One thread appends a batch (32 lifecycles, 64 records) every
// 32 / jobs_per_s seconds on a fixed schedule, whatever the log does, and
// never waits for durability in between (the Log's back-pressure aside).
// Latency runs from a batch's *scheduled* time to the durable event covering
// it, so a late appender counts against the log (no coordinated omission).
// The latency target is stated at half the 1 M jobs/s target.
void BM_PacedLatency(benchmark::State& state, Backend backend, int jobs_per_s,
                     std::uint64_t segment_bytes, bool reserve = false) {
  Wal wal;
  DurableTimes durable;
  std::string error;
  if (!wal.open(backend, &error, durable.callback(), segment_bytes)) {
    state.SkipWithError(error.c_str());
    return;
  }
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // sleep_until to the µs, not 50 µs late
  Log& log = wal.log();
  Batch batch;
  const std::uint64_t interval_ns =
      pipeline_batch_jobs * 1'000'000'000ull / static_cast<std::uint64_t>(jobs_per_s);
  std::vector<std::uint64_t> batch_lsn, batch_due_ns;
  batch_lsn.reserve(1u << 20);
  batch_due_ns.reserve(1u << 20);
  std::uint64_t lifecycles = 0, behind_max_ns = 0;
  const LogStats before = log.stats();
  for (auto _ : state) {
    const std::uint64_t start_ns = NowNs();
    const std::uint64_t end_ns = start_ns + static_cast<std::uint64_t>(run_seconds * 1e9);
    std::uint64_t due = start_ns, lsn = 0;
    while (due < end_ns) {
      const std::uint64_t now = NowNs();
      if (now < due) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
        continue;
      }
      behind_max_ns = std::max(behind_max_ns, now - due);
      if (!batch.append(log, &lsn, reserve)) {
        state.SkipWithError(("append failed: " + log.failure()).c_str());
        return;
      }
      batch_lsn.push_back(lsn);
      batch_due_ns.push_back(due);
      lifecycles += pipeline_batch_jobs;
      due += interval_ns;
    }
    if (!log.wait_durable(lsn)) {
      state.SkipWithError(("wait_durable failed: " + log.failure()).c_str());
      return;
    }
  }
  wal.close();
  const LogStats after = log.stats();
  state.SetItemsProcessed(static_cast<std::int64_t>(lifecycles));
  ReportLogCounters(state, before, after);
  ReportLatency(state, durable.latencies(batch_lsn, batch_due_ns));
  state.counters["behind_max_us"] = static_cast<double>(behind_max_ns) / 1e3;
  state.SetLabel(Label(backend,
                       "offered=" + std::to_string(jobs_per_s) + " jobs/s, " +
                           std::to_string(2 * pipeline_batch_jobs) + " records/append" +
                           (reserve ? ", each reserved first" : ""),
                       segment_bytes));
}

// ------------------------------------------------------------ recovery

// The log recovery reads: written once, on first use, kept until exit.
struct RecoveryLog {
  std::string dir;
  std::uint64_t records = 0;
  std::uint64_t group_bytes = 0;  // what the Log wrote, group headers included
  std::string error;
};

const RecoveryLog& PreparedRecoveryLog() {
  static const RecoveryLog prepared = [] {
    RecoveryLog r;
    r.dir = Root().path + "/recovery";
    std::unique_ptr<Fs> fs;
    std::string message;
    PosixFsOptions fo;
    fo.backend = Backend::pwritev;
    if (open_posix_fs(r.dir, fo, &fs, nullptr, &message) != 0) {
      r.error = message;
      return r;
    }
    LogOptions lo;
    lo.segment_bytes = bench_segment_bytes;
    std::unique_ptr<Log> log;
    if (Log::open(*fs, lo, LogTail{}, &log, &r.error) != 0) return r;
    std::vector<std::string> bodies(64, EnqueueBody());
    std::vector<Log::Record> batch;
    for (const std::string& b : bodies) batch.push_back({RecordType::enqueue, b});
    std::uint64_t lsn = 0;
    for (std::uint64_t job = 0; job < recovery_records; job += batch.size()) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(batch.size(), recovery_records - job));
      for (std::size_t i = 0; i < n; ++i) SetJob(&bodies[i], job + i);
      if (log->append({batch.data(), n}, &lsn) != AppendResult::ok) {
        r.error = "append failed: " + log->failure();
        return r;
      }
    }
    if (!log->wait_durable(lsn)) {
      r.error = "wait_durable failed: " + log->failure();
      return r;
    }
    r.records = lsn;
    r.group_bytes = log->stats().bytes;
    log->close();
    return r;
  }();
  return prepared;
}

// Drops the page cache: the whole of it when permitted, and the log's own
// files always (POSIX_FADV_DONTNEED drops clean pages of a file; the log was
// synced). Returns what was done, for the label.
std::string DropCaches(const std::string& dir) {
  ::sync();
  std::string how;
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd >= 0 && ::write(fd, "3\n", 2) == 2) {
    how = "drop_caches";
  } else {
    how = std::string("drop_caches refused (") + std::strerror(errno) + ")";
  }
  if (fd >= 0) ::close(fd);
  if (Root().drop_caches.empty()) Root().drop_caches = how;
  int dropped = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const int f = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    if (posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED) == 0) ++dropped;
    ::close(f);
  }
  return how + " + fadvise DONTNEED on " + std::to_string(dropped) + " files";
}

void BM_Recovery(benchmark::State& state, bool cold) {
  const RecoveryLog& prepared = PreparedRecoveryLog();
  if (!prepared.error.empty()) {
    state.SkipWithError(("writing the log failed: " + prepared.error).c_str());
    return;
  }
  std::string cache = "warm cache";
  std::uint64_t segments = 0;
  for (auto _ : state) {
    if (cold) cache = "cold: " + DropCaches(prepared.dir);
    std::unique_ptr<Fs> fs;
    std::string message;
    PosixFsOptions fo;
    fo.backend = Backend::pwritev;
    if (open_posix_fs(prepared.dir, fo, &fs, nullptr, &message) != 0) {
      state.SkipWithError(message.c_str());
      return;
    }
    std::uint64_t applied = 0, sum = 0;
    const ApplyFn apply = [&](const LogRecord& r, std::string*) {
      ++applied;
      sum += static_cast<std::uint8_t>(r.body[job_field_at]);
      return true;
    };
    LogTail tail;
    RecoveryReport report;
    std::string error;
    const auto t0 = std::chrono::steady_clock::now();
    const RecoveryStatus st = recover_log(*fs, 0, apply, &tail, &report, &error);
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    benchmark::DoNotOptimize(sum);
    if (st != RecoveryStatus::ok || applied != prepared.records) {
      state.SkipWithError(("recovery: " + std::string(recovery_status_name(st)) + " " + error +
                           " applied " + std::to_string(applied))
                              .c_str());
      return;
    }
    segments = report.segments_read;
  }
  const auto records = static_cast<std::int64_t>(prepared.records);
  state.SetItemsProcessed(records * static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(prepared.group_bytes) *
                          static_cast<std::int64_t>(state.iterations()));
  state.counters["segments_read"] = static_cast<double>(segments);
  state.SetLabel(Label(Backend::pwritev, std::to_string(prepared.records) + " records, " + cache) +
                 " (log written with pwritev; recovery only reads)");
}

// ------------------------------------------------------------ registration

void RegisterAll() {
  for (const Backend b : {Backend::io_uring, Backend::pwritev}) {
    const std::string name = backend_name(b);
    for (const int t : {1, 2, 4, 8, 16, 64}) {
      benchmark::RegisterBenchmark(
          ("BM_DurableLifecycle/" + name + "/" + std::to_string(t)).c_str(),
          [b, t](benchmark::State& s) { BM_DurableLifecycle(s, b, t); })
          ->Iterations(1)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const Backend b : {Backend::io_uring, Backend::pwritev}) {
    const std::string name = backend_name(b);
    for (const int w : {64, 1024, 8192}) {
      benchmark::RegisterBenchmark(
          ("BM_AsyncPipelined/" + name + "/" + std::to_string(w)).c_str(),
          [b, w](benchmark::State& s) { BM_AsyncPipelined(s, b, w); })
          ->Iterations(1)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const Backend b : {Backend::io_uring, Backend::pwritev}) {
    const std::string name = backend_name(b);
    for (const int rate : {250'000, 500'000}) {
      benchmark::RegisterBenchmark(
          ("BM_PacedLatency/" + name + "/" + std::to_string(rate)).c_str(),
          [b, rate](benchmark::State& s) { BM_PacedLatency(s, b, rate, bench_segment_bytes); })
          ->Iterations(1)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    // The same at 500 k/s with every batch reserve()d before its append.
    // (Before /seg1GiB: removing that case's 2 GiB directory seems to
    // disturb the disk for a while after, ext4 being mounted with discard.)
    benchmark::RegisterBenchmark(
        ("BM_PacedLatency/" + name + "/500000/reserved").c_str(),
        [b](benchmark::State& s) {
          BM_PacedLatency(s, b, 500'000, bench_segment_bytes, /*reserve=*/true);
        })
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    // The same at 500 k/s with 1 GiB segments: no segment roll within a run,
    // so the latency of group commit alone, without the roll stalls.
    benchmark::RegisterBenchmark(
        ("BM_PacedLatency/" + name + "/500000/seg1GiB").c_str(),
        [b](benchmark::State& s) { BM_PacedLatency(s, b, 500'000, segment_bytes_max); })
        ->Iterations(1)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (const bool cold : {false, true}) {
    benchmark::RegisterBenchmark(cold ? "BM_Recovery/cold" : "BM_Recovery/warm",
                                 [cold](benchmark::State& s) { BM_Recovery(s, cold); })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace hotq::wal

// Our own main (benchmark_main's is then not linked): the directory is made
// before the run, named in the context, and removed afterwards.
int main(int argc, char** argv) {
  using hotq::wal::Root;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string error;
  if (!hotq::wal::MakeRoot(&error)) {
    std::fprintf(stderr, "wal_bench: %s\n", error.c_str());
    return 1;
  }
  if (Root().tmpfs) {
    std::fprintf(stderr, "wal_bench: WARNING: %s is on tmpfs: these are not disk figures\n",
                 Root().path.c_str());
  }
  benchmark::AddCustomContext("wal_dir", Root().path);
  benchmark::AddCustomContext("wal_fs", Root().fs_type);
  hotq::wal::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(Root().path, ec);
  if (!Root().drop_caches.empty()) {
    std::fprintf(stderr, "wal_bench: page cache drop: %s\n", Root().drop_caches.c_str());
  }
  return 0;
}
