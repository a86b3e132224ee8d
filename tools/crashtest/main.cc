// hotq-crashtest: crash, power-loss and disk-fault campaigns (issue 6).
//
//   hotq-crashtest kill  [--seed S] [--seconds T] [--rounds N] [--backend B] [--dir D]
//   hotq-crashtest power [--seed S] [--seconds T] [--rounds N] [--layer mem|pwritev|io_uring] [--torn]
//   hotq-crashtest fault [--seed S] [--seconds T] [--rounds N]
//
// kill:  a child process runs the workload on a real directory in sync mode
//        and reports every call over a pipe; the parent SIGKILLs it at a
//        random moment (sometimes while it is still recovering), reopens the
//        directory and checks it against the reported history; then the next
//        child goes on from there.
// power: in this process, the engine on a file layer that can lose power
//        (--layer mem: MemFs; pwritev or io_uring: LossyFs over the real
//        directory written through that back-end); the power is cut at a
//        random moment, what was not fdatasync'ed is lost (or torn with
//        --torn), and the directory is reopened and checked. On --layer mem
//        half of the rounds first kill the process (the page cache, with
//        what was written and not yet synced, survives), reopen and check,
//        and cut the power while that recovered engine runs — at once or
//        after more work — before reopening and checking again: what a
//        recovery read must be on disk before the engine answers from it.
// fault: in this process, the engine on FaultyFs over MemFs: one random I/O
//        fault (short write, EIO on write or fsync, ENOSPC, failed directory
//        fsync) armed per round; after the first wal_failed answer no later
//        call may be acknowledged; then a power cut and a reopen that must
//        hold exactly what was acknowledged.
//
// Every run prints its seed; the same command with --seed replays its
// choices (thread interleavings still vary). Exit status: 0 no violation,
// 1 a violation (the directory is kept and named), 2 bad usage or setup.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "engine/engine_impl.h"
#include "tools/crashtest/crashtest.h"
#include "wal/borrowed_fs.h"
#include "wal/faulty_fs.h"
#include "wal/lossy_fs.h"
#include "wal/mem_fs.h"
#include "wal/posix_fs.h"

namespace hotq::crashtest {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode;
  std::uint64_t seed = 0;
  bool seed_given = false;
  double seconds = 60;
  std::uint64_t rounds = 1'000'000'000;
  std::string backend = "automatic";  // kill: WalBackend; power: mem|pwritev|io_uring
  std::string dir;
  bool torn = false;
  std::uint64_t seq_base = 0;  // child
  // interval acknowledges before fdatasync: the power campaign must then
  // find losses (a check that the checker can fail; ctest expects it to).
  Durability durability = Durability::sync;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "hotq-crashtest: %s\n"
               "usage: hotq-crashtest kill  [--seed S] [--seconds T] [--rounds N] [--backend automatic|pwritev|io_uring] [--dir D]\n"
               "       hotq-crashtest power [--seed S] [--seconds T] [--rounds N] [--layer mem|pwritev|io_uring] [--torn]\n"
               "       hotq-crashtest fault [--seed S] [--seconds T] [--rounds N]\n",
               why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("no campaign named");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + k).c_str());
      return argv[++i];
    };
    if (k == "--seed") {
      a.seed = std::stoull(value());
      a.seed_given = true;
    } else if (k == "--seconds") {
      a.seconds = std::stod(value());
    } else if (k == "--rounds") {
      a.rounds = std::stoull(value());
    } else if (k == "--backend" || k == "--layer") {
      a.backend = value();
    } else if (k == "--dir") {
      a.dir = value();
    } else if (k == "--durability") {
      const std::string d = value();
      if (d == "sync") {
        a.durability = Durability::sync;
      } else if (d == "interval") {
        a.durability = Durability::interval;
      } else {
        usage("--durability takes sync or interval");
      }
    } else if (k == "--torn") {
      a.torn = true;
    } else if (k == "--seq-base") {
      a.seq_base = std::stoull(value());
    } else {
      usage(("unknown option " + k).c_str());
    }
  }
  if (!a.seed_given) a.seed = std::random_device{}() * 0x100000001ull + std::random_device{}();
  return a;
}

std::optional<WalBackend> backend_of(const std::string& name) {
  if (name == "automatic") return WalBackend::automatic;
  if (name == "pwritev") return WalBackend::pwritev;
  if (name == "io_uring") return WalBackend::io_uring;
  return std::nullopt;
}

using wal::BorrowedFs;

// A disk's pace over MemFs: a write lands in the "page cache" at once and its
// sync takes `sync_time`, so a kill (MemFs keep_all) often falls between a
// group's write and its fdatasync, as it does on a real disk, and leaves
// written, unsynced bytes for the next recovery to read.
class SlowSyncFs final : public BorrowedFs {
 public:
  SlowSyncFs(wal::Fs& fs, std::chrono::microseconds sync_time) : BorrowedFs(fs), sync_(sync_time) {}
  int open(std::string_view name, wal::OpenMode mode, std::unique_ptr<wal::File>* out) override {
    std::unique_ptr<wal::File> inner;
    if (const int rc = borrowed().open(name, mode, &inner); rc != 0) return rc;
    *out = std::make_unique<SlowSyncFile>(std::move(inner), sync_);
    return 0;
  }

 private:
  class SlowSyncFile final : public wal::ForwardingFile {
   public:
    SlowSyncFile(std::unique_ptr<wal::File> inner, std::chrono::microseconds sync)
        : ForwardingFile(std::move(inner)), sync_(sync) {}
    int write_sync(std::uint64_t offset, std::span<const iovec> iov) override {
      if (const int rc = inner().write(offset, iov); rc != 0) return rc;
      return sync();
    }
    int sync() override {
      std::this_thread::sleep_for(sync_);
      return inner().sync();
    }

   private:
    const std::chrono::microseconds sync_;
  };

  const std::chrono::microseconds sync_;
};

// The kill and power campaigns snapshot this often (WorkloadOptions): a
// few times in a round of 5-300 ms.
constexpr std::uint64_t snapshot_every_ms = 40;

struct Totals {
  std::uint64_t rounds = 0;
  std::uint64_t events = 0;
  std::uint64_t jobs_checked = 0;
  std::uint64_t leases_checked = 0;
  std::uint64_t dedup_checked = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t faults = 0;
  std::uint64_t kills = 0;  // power: rounds that killed the process before the cut
  std::uint64_t shared_snapshots = 0;  // recoveries from a snapshot with shared payloads
  std::uint64_t waiting = 0, leased = 0, dead = 0;  // after the last recovery
};

void progress(const char* what, const Totals& t, const Model& m) {
  std::fprintf(stderr,
               "\r%s %llu: %llu events, %zu jobs tracked, %llu checked, %llu leases, %llu dedup keys, "
               "%llu in flight; jobs now %llu waiting, %llu leased, %llu dead   ",
               what, static_cast<unsigned long long>(t.rounds), static_cast<unsigned long long>(t.events),
               m.jobs(), static_cast<unsigned long long>(t.jobs_checked),
               static_cast<unsigned long long>(t.leases_checked),
               static_cast<unsigned long long>(t.dedup_checked), static_cast<unsigned long long>(t.in_flight),
               static_cast<unsigned long long>(t.waiting), static_cast<unsigned long long>(t.leased),
               static_cast<unsigned long long>(t.dead));
}

// Prints a round's violations (and the replay line); true when there were any.
bool report(const Verdict& v, const Args& a, const std::string& where, Totals& t) {
  t.jobs_checked += v.jobs_checked;
  t.leases_checked += v.leases_checked;
  t.dedup_checked += v.dedup_checked;
  t.in_flight += v.in_flight;
  if (v.shared_snapshot) ++t.shared_snapshots;
  t.waiting = v.waiting;
  t.leased = v.leased;
  t.dead = v.dead;
  if (v.violations.empty()) return false;
  std::fprintf(stderr, "\n");
  for (const std::string& s : v.violations) std::fprintf(stderr, "VIOLATION (round %llu): %s\n",
                                                         static_cast<unsigned long long>(t.rounds), s.c_str());
  std::fprintf(stderr, "%s\nreplay: hotq-crashtest %s --seed %llu --rounds %llu%s%s\n", where.c_str(),
               a.mode.c_str(), static_cast<unsigned long long>(a.seed),
               static_cast<unsigned long long>(t.rounds), a.mode == "power" ? " --layer " : "",
               a.mode == "power" ? (a.backend + (a.torn ? " --torn" : "") +
                                    (a.durability == Durability::interval ? " --durability interval" : ""))
                                       .c_str()
                                 : "");
  return true;
}

std::uint64_t uniform(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
  return lo + rng() % (hi - lo + 1);
}

std::string make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string t = std::string(base != nullptr && *base != 0 ? base : "/var/tmp") + "/hotq-crashtest-XXXXXX";
  if (mkdtemp(t.data()) == nullptr) {
    std::perror("hotq-crashtest: mkdtemp");
    std::exit(2);
  }
  return t;
}

// ------------------------------------------------------------------ kill

class PipeSink final : public EventSink {
 public:
  explicit PipeSink(int fd) : fd_(fd) {}
  void put(const Event& e) override {
    // One write below PIPE_BUF: atomic, so threads' events never interleave.
    if (::write(fd_, &e, sizeof e) != static_cast<ssize_t>(sizeof e)) _exit(4);
  }

 private:
  int fd_;
};

int run_child(const Args& a) {
  const std::optional<WalBackend> backend = backend_of(a.backend);
  if (!backend) usage("bad --backend");
  std::unique_ptr<Engine> engine;
  Status st = Engine::open(engine_options(a.dir, *backend, Durability::sync), &engine);
  if (!st.ok()) {
    std::fprintf(stderr, "hotq-crashtest child: open %s: %s\n", a.dir.c_str(), st.to_string().c_str());
    return 3;
  }
  std::vector<QueueId> queues;
  if (Status q = ensure_queues(*engine, &queues); !q.ok()) {
    std::fprintf(stderr, "hotq-crashtest child: %s\n", q.to_string().c_str());
    return 3;
  }
  PipeSink sink(3);
  Event ready;
  ready.op = Op::ready;
  ready.phase = Phase::done;
  sink.put(ready);
  WorkloadOptions wo;
  wo.seed = a.seed;
  wo.seq_base = a.seq_base;
  wo.snapshot_every_ms = snapshot_every_ms;
  Workload w(*engine, queues, sink, wo);
  w.start();
  for (;;) pause();  // until SIGKILL
}

int run_kill(const Args& a, const char* self) {
  const std::optional<WalBackend> backend = backend_of(a.backend);
  if (!backend) usage("bad --backend");
  const bool own_dir = a.dir.empty();
  const std::string dir = (own_dir ? make_temp_dir() : a.dir) + "/wal";
  std::mt19937_64 rng(a.seed);
  std::printf("hotq-crashtest kill: seed %llu, backend %s, dir %s\n", static_cast<unsigned long long>(a.seed),
              a.backend.c_str(), dir.c_str());
  std::fflush(stdout);
  Model model;
  Totals t;
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(a.seconds));
  std::uint64_t early_kills = 0;
  while (t.rounds < a.rounds && Clock::now() < end) {
    ++t.rounds;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      std::perror("hotq-crashtest: pipe2");
      return 2;
    }
    const std::string seed = std::to_string(rng());
    const std::string base = std::to_string(model.seq_high());
    const pid_t pid = fork();
    if (pid < 0) {
      std::perror("hotq-crashtest: fork");
      return 2;
    }
    if (pid == 0) {
      dup2(fds[1], 3);  // the child's event pipe (dup2 clears close-on-exec)
      execl(self, self, "child", "--dir", dir.c_str(), "--seed", seed.c_str(), "--seq-base", base.c_str(),
            "--backend", a.backend.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    // When to kill: 1 in 8 soon after the start (the child may be
    // recovering), the others some time after it said it was ready.
    const bool early = rng() % 8 == 0;
    Clock::time_point kill_at = Clock::now() + std::chrono::milliseconds(early ? uniform(rng, 0, 30) : 30'000);
    const auto after_ready = std::chrono::milliseconds(uniform(rng, 10, 400));
    std::vector<Event> events;
    std::string partial;
    bool killed = false, eof = false, seen_ready = false;
    while (!eof) {
      const auto now = Clock::now();
      if (!killed && now >= kill_at) {
        if (!early && !seen_ready) {
          std::fprintf(stderr, "\nhotq-crashtest: the child did not start within 30 s\n");
          kill(pid, SIGKILL);
          return 2;
        }
        kill(pid, SIGKILL);
        killed = true;
        early_kills += early ? 1 : 0;
      }
      pollfd p{fds[0], POLLIN, 0};
      const int wait_ms = killed ? 1000
                                 : static_cast<int>(std::max<std::int64_t>(
                                       0, std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - now).count()));
      if (poll(&p, 1, wait_ms) < 0 && errno != EINTR) {
        std::perror("hotq-crashtest: poll");
        return 2;
      }
      char buf[sizeof(Event) * 256];
      const ssize_t n = read(fds[0], buf, sizeof buf);
      if (n == 0) {
        eof = true;
      } else if (n > 0) {
        partial.append(buf, static_cast<std::size_t>(n));
        std::size_t at = 0;
        for (; at + sizeof(Event) <= partial.size(); at += sizeof(Event)) {
          Event e;
          std::memcpy(&e, partial.data() + at, sizeof e);
          if (e.op == Op::ready && !seen_ready) {
            seen_ready = true;
            if (!early) kill_at = Clock::now() + after_ready;
          }
          events.push_back(e);
        }
        partial.erase(0, at);
      } else if (errno != EINTR && errno != EAGAIN) {
        std::perror("hotq-crashtest: read");
        return 2;
      }
    }
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      std::fprintf(stderr, "\nhotq-crashtest: the child ended by itself (status %d) in round %llu; dir %s\n",
                   status, static_cast<unsigned long long>(t.rounds), dir.c_str());
      return 1;
    }
    t.events += events.size();
    for (const Event& e : events) model.apply(e);
    model.crashed();
    std::unique_ptr<Engine> engine;
    Status st = Engine::open(engine_options(dir, *backend, Durability::sync), &engine);
    Verdict v;
    std::vector<QueueId> queues;
    if (!st.ok()) {
      v.violations.push_back("reopen after the kill failed: " + st.to_string());
    } else if (Status q = ensure_queues(*engine, &queues); !q.ok()) {
      v.violations.push_back("queues after the kill: " + q.to_string());
    } else {
      v = model.verify(*engine, queues, rng);
      if (!v.violations.empty()) v.violations.push_back("the reopen's report:\n" + engine->open_report());
    }
    engine.reset();
    if (report(v, a, "directory kept: " + dir, t)) return 1;
    progress("kill", t, model);
  }
  std::fprintf(stderr, "\n");
  std::printf(
      "hotq-crashtest kill: %llu kills survived (%llu during startup), %llu events, %llu job checks, %llu "
      "durable leases re-acked, %llu dedup keys re-checked, %llu operations in flight at a kill; seed %llu\n",
      static_cast<unsigned long long>(t.rounds), static_cast<unsigned long long>(early_kills),
      static_cast<unsigned long long>(t.events), static_cast<unsigned long long>(t.jobs_checked),
      static_cast<unsigned long long>(t.leases_checked), static_cast<unsigned long long>(t.dedup_checked),
      static_cast<unsigned long long>(t.in_flight), static_cast<unsigned long long>(a.seed));
  if (own_dir) std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
  return 0;
}

// ------------------------------------------------------------------ in-process rounds

// The workload on an open engine for `ms`, then `crash` (called while the
// workload runs), then the workload stopped and the engine dropped. The
// events go to the model.
template <class Crash>
void load_then_crash(std::unique_ptr<Engine>& engine, const std::vector<QueueId>& queues, Model& model,
                     std::mt19937_64& rng, Totals& t, std::uint64_t ms, Crash&& crash) {
  MemorySink sink;
  WorkloadOptions wo;
  wo.seed = rng();
  wo.seq_base = model.seq_high();
  wo.snapshot_every_ms = snapshot_every_ms;
  Workload w(*engine, queues, sink, wo);
  w.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  crash();
  w.stop();
  engine.reset();
  std::vector<Event> events = sink.take();
  t.events += events.size();
  for (const Event& e : events) model.apply(e);
  model.crashed();
}

// The directory as one in-process engine — one "process" — sees it. Its
// end(crash) waits for the calls in flight, runs `crash` (a power cut, or a
// kill: MemFs::power_loss), and from then on refuses every call with EIO:
// nothing a dead process does reaches the disk. The engine keeps running
// until the round drops it; without this its threads (the log's roll, a
// snapshot's rename, directory fsync and removal of the older snapshot, a
// recycle) would go on changing the namespace the next "process" recovers
// from — MemFs kills the Files opened before a power loss, not the calls on
// the directory. (LossyFs goes down by itself at its cut.)
class ProcessFs final : public wal::BorrowedFs {
 public:
  explicit ProcessFs(wal::Fs& fs) : BorrowedFs(fs) {}
  template <class Crash>
  void end(Crash&& crash) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    down_ = true;
    crash();
  }
  int open(std::string_view n, wal::OpenMode m, std::unique_ptr<wal::File>* out) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return down_ ? EIO : borrowed().open(n, m, out);
  }
  int list(std::vector<std::string>* names) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return down_ ? EIO : borrowed().list(names);
  }
  int rename(std::string_view a, std::string_view b) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return down_ ? EIO : borrowed().rename(a, b);
  }
  int remove(std::string_view n) override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return down_ ? EIO : borrowed().remove(n);
  }
  int sync_dir() override {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return down_ ? EIO : borrowed().sync_dir();
  }

 private:
  std::shared_mutex mu_;
  bool down_ = false;  // guarded by mu_
};

std::unique_ptr<Engine> open_on(ProcessFs& process, Durability durability, Status* st) {
  wal::Fs& lent = process;  // as an Fs: BorrowedFs(ProcessFs&) would not compile (no copy)
  std::unique_ptr<Engine> engine;
  *st = EngineOpener::open(engine_options(lent.path(), WalBackend::automatic, durability),
                           std::make_unique<BorrowedFs>(lent), "crashtest", &engine);
  return engine;
}

// One in-process round: the engine opened on `fs`, then load_then_crash for
// 5-300 ms; the crash ends the engine's process.
template <class Crash>
Status run_round(wal::Fs& fs, Durability durability, Model& model, std::mt19937_64& rng, Totals& t,
                 Crash&& crash) {
  ProcessFs process(fs);
  Status st;
  std::unique_ptr<Engine> engine = open_on(process, durability, &st);
  if (!st.ok()) return st;
  std::vector<QueueId> queues;
  if (Status q = ensure_queues(*engine, &queues); !q.ok()) return q;
  load_then_crash(engine, queues, model, rng, t, uniform(rng, 5, 300), [&] { process.end(crash); });
  return Status::Ok();
}

// What runs on a reopened engine once its check passed, before it is dropped
// (it may drop it itself, and end its process).
using AfterCheck = std::function<void(std::unique_ptr<Engine>& engine, const std::vector<QueueId>& queues,
                                      ProcessFs& process)>;

// Whether the newest valid snapshot of fs (the one recovery starts from)
// has jobs that share a payload.
bool snapshot_shares_payloads(wal::Fs& fs) {
  bool shared = false;
  wal::SnapshotInfo info;
  std::vector<std::string> notes;
  std::string error;
  (void)wal::load_snapshot(
      fs,
      [&](const wal::LogRecord& r, std::string*) {
        shared = shared || r.type == wal::RecordType::snap_job_shared;
        return true;
      },
      &info, &notes, &error);
  return shared;
}

Verdict reopen_and_verify(wal::Fs& fs, Model& model, std::mt19937_64& rng,
                          Durability durability = Durability::sync, const AfterCheck& after = {}) {
  const bool shared_snapshot = snapshot_shares_payloads(fs);
  Verdict v;
  ProcessFs process(fs);
  Status st;
  std::unique_ptr<Engine> engine = open_on(process, durability, &st);
  std::vector<QueueId> queues;
  if (!st.ok()) {
    v.violations.push_back("reopen failed: " + st.to_string());
  } else if (Status q = ensure_queues(*engine, &queues); !q.ok()) {
    v.violations.push_back("queues after reopen: " + q.to_string());
  } else {
    v = model.verify(*engine, queues, rng);
    if (!v.violations.empty()) v.violations.push_back("the reopen's report:\n" + engine->open_report());
    if (std::getenv("HOTQ_CRASHTEST_VERBOSE") != nullptr) {
      std::vector<std::string> names;
      fs.list(&names);
      std::string all;
      for (const std::string& n : names) all += n + " ";
      std::fprintf(stderr, "\n[files: %s]\n%s", all.c_str(), engine->open_report().c_str());
    }
    if (v.violations.empty() && after) after(engine, queues, process);
  }
  v.shared_snapshot = shared_snapshot;
  return v;
}

// The middle of a kill-then-power round: the directory a killed process left
// (unsynced writes still in the page cache) is reopened and checked; then,
// while that engine still runs — no clean close that could flush what
// recovery read — `cut` takes the power, at once or after 1-100 ms of more
// load (half the time each). The caller reopens and checks again.
template <class Cut>
Verdict verify_then_cut(wal::Fs& fs, Durability durability, Model& model, std::mt19937_64& rng, Totals& t,
                        Cut&& cut) {
  Verdict v = reopen_and_verify(
      fs, model, rng, durability,
      [&](std::unique_ptr<Engine>& engine, const std::vector<QueueId>& queues, ProcessFs& process) {
        auto end = [&] { process.end(cut); };
        if (rng() % 2 == 0) {
          end();
          engine.reset();  // what it does now reaches nothing
        } else {
          load_then_crash(engine, queues, model, rng, t, uniform(rng, 1, 100), end);
        }
      });
  if (!v.violations.empty()) v.violations.push_back("(found by the check after the kill, before the power cut)");
  return v;
}

void power_summary(const Totals& t, const Args& a) {
  std::fprintf(stderr, "\n");
  std::printf("hotq-crashtest power: %llu power cuts survived (%llu after a kill and a recovery), %llu events, "
              "%llu job checks, %llu leases, %llu dedup keys, %llu in flight, %llu recoveries from a snapshot "
              "with shared payloads; seed %llu\n",
              static_cast<unsigned long long>(t.rounds), static_cast<unsigned long long>(t.kills),
              static_cast<unsigned long long>(t.events),
              static_cast<unsigned long long>(t.jobs_checked), static_cast<unsigned long long>(t.leases_checked),
              static_cast<unsigned long long>(t.dedup_checked), static_cast<unsigned long long>(t.in_flight),
              static_cast<unsigned long long>(t.shared_snapshots), static_cast<unsigned long long>(a.seed));
}

// The power campaign on a real directory: LossyFs over the posix layer
// with the chosen back-end drops what was not synced at the cut.
int run_power_posix(const Args& a) {
  wal::PosixFsOptions po;
  po.backend = a.backend == "io_uring" ? wal::Backend::io_uring : wal::Backend::pwritev;
  const bool own_dir = a.dir.empty();
  const std::string dir = (own_dir ? make_temp_dir() : a.dir) + "/wal";
  auto open_dir = [&](std::unique_ptr<wal::Fs>* fs) {
    std::string message;
    const int rc = wal::open_posix_fs(dir, po, fs, nullptr, &message);
    if (rc != 0) {
      std::fprintf(stderr, "hotq-crashtest: cannot open %s with %s: %s\n", dir.c_str(), a.backend.c_str(),
                   message.c_str());
      const char* allow = std::getenv("HOTQ_ALLOW_NO_IO_URING");
      if (a.backend == "io_uring" && allow != nullptr && std::string(allow) == "1") {
        std::fprintf(stderr, "hotq-crashtest: SKIPPED (io_uring refused here; HOTQ_ALLOW_NO_IO_URING=1)\n");
        std::exit(77);  // ctest: SKIP_RETURN_CODE
      }
      std::exit(2);
    }
  };
  std::mt19937_64 rng(a.seed);
  std::printf("hotq-crashtest power: seed %llu, layer %s (LossyFs over the real directory %s)%s\n",
              static_cast<unsigned long long>(a.seed), a.backend.c_str(), dir.c_str(),
              a.torn ? ", torn writes" : "");
  std::fflush(stdout);
  Model model;
  Totals t;
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(a.seconds));
  while (t.rounds < a.rounds && Clock::now() < end) {
    ++t.rounds;
    const std::uint64_t cut_seed = rng();
    const bool torn = a.torn && rng() % 2 == 0;
    Verdict v;
    {
      std::unique_ptr<wal::Fs> inner;
      open_dir(&inner);
      wal::LossyFs lossy(*inner);
      int cut_rc = 0;
      Status st = run_round(lossy, a.durability, model, rng, t, [&] {
        cut_rc = lossy.power_cut(torn ? wal::PowerCut::torn : wal::PowerCut::lose_unsynced, cut_seed);
      });
      if (!st.ok()) v.violations.push_back("open before the cut failed: " + st.to_string());
      if (cut_rc != 0) v.violations.push_back(std::string("the power cut could not roll back: ") + std::strerror(cut_rc));
    }
    if (v.violations.empty()) {
      std::unique_ptr<wal::Fs> fs;
      open_dir(&fs);
      v = reopen_and_verify(*fs, model, rng, a.durability);
    }
    if (report(v, a, "directory kept: " + dir, t)) return 1;
    progress("power cut", t, model);
  }
  power_summary(t, a);
  if (own_dir) std::filesystem::remove_all(std::filesystem::path(dir).parent_path());
  return 0;
}

int run_power(const Args& a) {
  if (a.backend == "pwritev" || a.backend == "io_uring") return run_power_posix(a);
  if (a.backend != "mem") usage("power: --layer takes mem, pwritev or io_uring");
  std::mt19937_64 rng(a.seed);
  std::printf("hotq-crashtest power: seed %llu, layer %s%s\n", static_cast<unsigned long long>(a.seed),
              a.backend.c_str(), a.torn ? ", torn writes" : "");
  std::fflush(stdout);
  wal::MemFs fs("crashtest");
  Model model;
  Totals t;
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(a.seconds));
  while (t.rounds < a.rounds && Clock::now() < end) {
    ++t.rounds;
    const std::uint64_t cut_seed = rng();
    const bool kill_first = rng() % 2 == 0;
    auto cut = [&] {
      fs.power_loss(a.torn && rng() % 2 == 0 ? wal::PowerLoss::torn : wal::PowerLoss::lose_unsynced, cut_seed);
    };
    // A killed process runs at a disk's pace, so that the kill finds groups
    // written and not yet synced.
    SlowSyncFs disk_paced(fs, std::chrono::microseconds(150));
    wal::Fs& layer = kill_first ? static_cast<wal::Fs&>(disk_paced) : fs;
    Status st = run_round(layer, a.durability, model, rng, t, [&] {
      if (kill_first) {
        fs.power_loss(wal::PowerLoss::keep_all);  // the process dies, the machine does not
      } else {
        cut();
      }
    });
    const std::string where = "layer " + a.backend + (kill_first ? ", killed and recovered before the cut" : "");
    Verdict v;
    if (!st.ok()) {
      v.violations.push_back("open before the cut failed: " + st.to_string());
    } else if (kill_first) {
      ++t.kills;
      // report() also adds the check after the kill to the totals.
      if (report(verify_then_cut(fs, a.durability, model, rng, t, cut), a, where, t)) return 1;
      v = reopen_and_verify(fs, model, rng, a.durability);
    } else {
      v = reopen_and_verify(fs, model, rng, a.durability);
    }
    if (report(v, a, where, t)) return 1;
    progress("power cut", t, model);
  }
  power_summary(t, a);
  return 0;
}

const char* fault_name(wal::Fault f) {
  switch (f) {
    case wal::Fault::short_write: return "short_write";
    case wal::Fault::eio_write: return "eio_write";
    case wal::Fault::enospc_write: return "enospc_write";
    case wal::Fault::eio_sync: return "eio_sync";
    case wal::Fault::eio_read: return "eio_read";
    case wal::Fault::eio_sync_dir: return "eio_sync_dir";
    case wal::Fault::enospc_create: return "enospc_create";
  }
  return "?";
}

bool writes_to_log(Op op) {
  return op == Op::enqueue || op == Op::ack || op == Op::nack || op == Op::fail || op == Op::extend ||
         op == Op::redrive;
}

int run_fault(const Args& a) {
  std::mt19937_64 rng(a.seed);
  std::printf("hotq-crashtest fault: seed %llu\n", static_cast<unsigned long long>(a.seed));
  std::fflush(stdout);
  wal::MemFs base("crashtest");
  Model model;
  Totals t;
  const wal::Fault kinds[] = {wal::Fault::short_write, wal::Fault::eio_write,    wal::Fault::enospc_write,
                              wal::Fault::eio_sync,    wal::Fault::eio_sync_dir, wal::Fault::enospc_create};
  std::uint64_t failed_rounds = 0;
  const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(a.seconds));
  while (t.rounds < a.rounds && Clock::now() < end) {
    ++t.rounds;
    wal::FaultyFs faulty(base);
    const wal::Fault kind = kinds[rng() % std::size(kinds)];
    const std::uint64_t skip = rng() % 200;
    const bool sticky = rng() % 2 == 0;
    faulty.arm(kind, skip, {}, sticky);
    // The events, in the order they were put: the rule below reads it.
    std::unique_ptr<Engine> engine;
    Status st = EngineOpener::open(engine_options(base.path(), WalBackend::automatic, Durability::sync),
                                   std::make_unique<BorrowedFs>(faulty), "crashtest", &engine);
    Verdict v;
    std::vector<Event> events;
    if (st.ok()) {
      std::vector<QueueId> queues;
      if (Status q = ensure_queues(*engine, &queues); q.ok()) {
        MemorySink sink;
        WorkloadOptions wo;
        wo.seed = rng();
        wo.seq_base = model.seq_high();
        Workload w(*engine, queues, sink, wo);
        w.start();
        std::this_thread::sleep_for(std::chrono::milliseconds(uniform(rng, 20, 300)));
        w.stop();
        events = sink.take();
      }
    }
    engine.reset();
    t.faults += faulty.fired(kind);
    // After the first wal_failed answer, no call that started later is
    // acknowledged.
    std::size_t first_failed = events.size();
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].phase == Phase::done && static_cast<Code>(events[i].code) == Code::wal_failed) {
        first_failed = i;
        break;
      }
    }
    if (first_failed < events.size()) ++failed_rounds;
    std::unordered_map<std::uint64_t, bool> started_after;
    for (std::size_t i = first_failed + 1; i < events.size(); ++i) {
      const Event& e = events[i];
      if (e.phase == Phase::intent && writes_to_log(e.op)) started_after[e.op_id] = true;
      if (e.phase == Phase::done && started_after.count(e.op_id) != 0 && static_cast<Code>(e.code) == Code::ok) {
        v.violations.push_back(std::string("after a wal_failed answer, a later ") +
                               (e.op == Op::enqueue ? "enqueue" : "settle") + " of job " +
                               std::to_string(e.job) + " was acknowledged ok");
      }
    }
    t.events += events.size();
    for (const Event& e : events) model.apply(e);
    model.crashed();
    base.power_loss(wal::PowerLoss::lose_unsynced);
    if (v.violations.empty()) {
      if (!st.ok() && st.code() != Code::io_error && st.code() != Code::no_space &&
          st.code() != Code::wal_failed) {
        v.violations.push_back("open under a fault failed unexpectedly: " + st.to_string());
      } else {
        v = reopen_and_verify(base, model, rng);
      }
    }
    if (report(v, a,
               std::string("fault ") + fault_name(kind) + ", skip " + std::to_string(skip) +
                   (sticky ? ", sticky" : "") + "; fired " + std::to_string(faulty.fired(kind)) +
                   " times; open before: " + st.to_string(),
               t)) {
      return 1;
    }
    progress("fault round", t, model);
  }
  std::fprintf(stderr, "\n");
  std::printf("hotq-crashtest fault: %llu rounds, %llu injected faults fired, %llu rounds with a failed log, "
              "%llu events, %llu job checks; seed %llu\n",
              static_cast<unsigned long long>(t.rounds), static_cast<unsigned long long>(t.faults),
              static_cast<unsigned long long>(failed_rounds), static_cast<unsigned long long>(t.events),
              static_cast<unsigned long long>(t.jobs_checked), static_cast<unsigned long long>(a.seed));
  return 0;
}

}  // namespace
}  // namespace hotq::crashtest

int main(int argc, char** argv) {
  using namespace hotq::crashtest;
  const Args a = parse(argc, argv);
  if (a.mode == "child") return run_child(a);
  if (a.mode == "kill") return run_kill(a, "/proc/self/exe");
  if (a.mode == "power") return run_power(a);
  if (a.mode == "fault") return run_fault(a);
  usage(("unknown campaign " + a.mode).c_str());
}
