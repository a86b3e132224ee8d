// hotq-bench: runs one named scenario of the engine and prints its setup and
// a table of medians and spreads; --json writes the same as JSON.
// docs/performance.md has the figures and the commands that produced them.
//
//   hotq-bench                      the default: lifecycle, in memory, 3 x 2 s
//   hotq-bench --list               the scenarios
//   hotq-bench leases --jobs 2000000 --repeat 5 --json out.json
//
// Exit: 0 done, 1 a repetition failed (its error is printed), 2 usage.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/bench.h"

#ifndef HOTQ_BENCH_BUILD_TYPE
#define HOTQ_BENCH_BUILD_TYPE "unknown"
#endif

namespace hotq::bench {
namespace {

int usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "hotq-bench: %s\n", why);
  std::fprintf(stderr,
               "usage: hotq-bench [scenario] [options]       (scenario: see --list; default lifecycle)\n"
               "  --durability memory|interval|sync   the engine's mode (default: the scenario's)\n"
               "  --backend automatic|pwritev|io_uring   how the log is written\n"
               "  --payload BYTES    payload size (default 64)\n"
               "  --threads N        worker threads (default: the scenario's)\n"
               "  --batch N          jobs per call, 1..1024; 1 uses the single-job calls (default 64)\n"
               "  --async [--window W]   lifecycle: *_async calls, wait every W batches (default 16)\n"
               "  --jobs N           jobs (delayed, leases, memory, recovery's live jobs)\n"
               "  --records N        recovery: completed lifecycles in the log besides the live jobs\n"
               "  --seconds S        length of a timed run\n"
               "  --rate R           enqueue-latency: offered jobs/s\n"
               "  --lease-ms L       leases: the lease that runs out\n"
               "  --resident A,B,..  backlog: resident jobs (default 1000,10000000)\n"
               "  --snapshot         recovery: take a snapshot before reopening\n"
               "  --keyed            lifecycle: every enqueue carries a fresh dedup key (window 1 s)\n"
               "  --shards N         engine shards (default: one per hardware thread)\n"
               "  --repeat N         repetitions (default 3); the table gives median and spread\n"
               "  --quick            tiny sizes, to check a scenario works (what ctest runs)\n"
               "  --dir D            parent directory of the log (default $HOTQ_BENCH_DIR or /var/tmp)\n"
               "  --json PATH        also write the results as JSON ('-': stdout)\n"
               "  --no-progress      no progress line on stderr\n"
               "  --list             list the scenarios\n");
  return 2;
}

bool parse_u64(const char* s, std::uint64_t* out) {
  if (s == nullptr || *s == 0) return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != 0 || s[0] == '-') return false;
  *out = v;
  return true;
}

bool parse_args(int argc, char** argv, Options* o, bool* list) {
  int i = 1;
  if (i < argc && argv[i][0] != '-') o->scenario = argv[i++];
  for (; i < argc; ++i) {
    const std::string k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    std::uint64_t n = 0;
    auto number = [&](std::uint64_t lo, std::uint64_t hi) {
      if (!parse_u64(v, &n) || n < lo || n > hi) return false;
      ++i;
      return true;
    };
    if (k == "--list") {
      *list = true;
    } else if (k == "--quick") {
      o->quick = true;
    } else if (k == "--async") {
      o->async = true;
    } else if (k == "--snapshot") {
      o->snapshot = true;
    } else if (k == "--keyed") {
      o->keyed = true;
    } else if (k == "--no-progress") {
      o->progress = false;
    } else if (k == "--durability" && v != nullptr) {
      const std::string m = argv[++i];
      if (m == "memory") o->mode = Mode::memory;
      else if (m == "interval") o->mode = Mode::interval;
      else if (m == "sync") o->mode = Mode::sync;
      else return false;
      o->mode_given = true;
    } else if (k == "--backend" && v != nullptr) {
      const std::string b = argv[++i];
      if (b == "automatic") o->backend = WalBackend::automatic;
      else if (b == "pwritev") o->backend = WalBackend::pwritev;
      else if (b == "io_uring") o->backend = WalBackend::io_uring;
      else return false;
    } else if (k == "--payload") {
      if (!number(0, payload_bytes_max_default)) return false;
      o->payload_bytes = static_cast<std::uint32_t>(n);
    } else if (k == "--threads") {
      if (!number(1, 256)) return false;
      o->threads = static_cast<std::uint32_t>(n);
    } else if (k == "--batch") {
      if (!number(1, batch_jobs_max)) return false;
      o->batch = static_cast<std::uint32_t>(n);
    } else if (k == "--window") {
      if (!number(1, 1u << 20)) return false;
      o->window = static_cast<std::uint32_t>(n);
    } else if (k == "--jobs") {
      if (!number(1, capacity_jobs_limit / 2)) return false;
      o->jobs = n;
    } else if (k == "--records") {
      if (!number(0, 1ull << 32)) return false;
      o->records = n;
    } else if (k == "--seconds") {
      if (v == nullptr) return false;
      char* end = nullptr;
      o->seconds = std::strtod(argv[++i], &end);
      if (*end != 0 || !(o->seconds > 0) || o->seconds > 86400) return false;
    } else if (k == "--rate") {
      if (!number(1, 100'000'000)) return false;
      o->rate = n;
    } else if (k == "--lease-ms") {
      if (!number(1, lease_ms_max)) return false;
      o->lease_ms = n;
    } else if (k == "--resident" && v != nullptr) {
      std::stringstream ss(argv[++i]);
      std::string part;
      while (std::getline(ss, part, ',')) {
        if (!parse_u64(part.c_str(), &n) || n > capacity_jobs_limit / 2) return false;
        o->resident.push_back(n);
      }
      if (o->resident.empty()) return false;
    } else if (k == "--shards") {
      if (!number(1, shards_max)) return false;
      o->shards = static_cast<std::uint32_t>(n);
    } else if (k == "--repeat") {
      if (!number(1, 1000)) return false;
      o->repeat = static_cast<std::uint32_t>(n);
    } else if (k == "--dir" && v != nullptr) {
      o->dir = argv[++i];
    } else if (k == "--json" && v != nullptr) {
      o->json_path = argv[++i];
    } else {
      return false;
    }
  }
  return true;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  return s.substr(b);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) return trim(line.substr(colon + 1));
    }
  }
  return "unknown";
}

std::string kernel() {
  struct utsname u {};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("g++ ") + __VERSION__;
#else
  return "unknown";
#endif
}

// The environment and the resolved settings, as ordered key/value pairs.
Params setup_of(const Options& o, const Params& scenario_params) {
  Params p;
  p.emplace_back("scenario", o.scenario);
  p.emplace_back("cpu", cpu_model());
  p.emplace_back("cores", std::to_string(std::thread::hardware_concurrency()));
  p.emplace_back("kernel", kernel());
  p.emplace_back("compiler", compiler());
  std::string build = HOTQ_BENCH_BUILD_TYPE;
#ifndef NDEBUG
  build += " (assertions on: not for figures)";
#endif
  p.emplace_back("build", build);
  for (const auto& kv : scenario_params) p.push_back(kv);
  p.emplace_back("repeat", std::to_string(o.repeat));
  return p;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// One metric across the repetitions.
struct Row {
  std::string name, unit;
  std::vector<double> values;
  double median() const {
    std::vector<double> v = values;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
  double min() const { return *std::min_element(values.begin(), values.end()); }
  double max() const { return *std::max_element(values.begin(), values.end()); }
};

std::vector<Row> rows_of(const std::vector<RunResult>& runs) {
  std::vector<Row> rows;
  for (const RunResult& r : runs) {
    for (const Metric& m : r.metrics) {
      auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& x) { return x.name == m.name; });
      if (it == rows.end()) {
        rows.push_back({m.name, m.unit, {}});
        it = rows.end() - 1;
      }
      it->values.push_back(m.value);
    }
  }
  return rows;
}

void print_table(FILE* out, const std::vector<Row>& rows, std::uint32_t repeats) {
  std::size_t w = 6;
  for (const Row& r : rows) w = std::max(w, r.name.size());
  std::fprintf(out, "\n%-*s  %16s  %16s  %16s  %7s  %s\n", static_cast<int>(w), "metric", "median", "min",
              "max", "spread", "unit");
  for (const Row& r : rows) {
    const double med = r.median();
    std::string spread = "-";
    if (r.values.size() > 1 && med != 0) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * (r.max() - r.min()) / std::fabs(med));
      spread = buf;
    }
    std::fprintf(out, "%-*s  %16s  %16s  %16s  %7s  %s\n", static_cast<int>(w), r.name.c_str(),
                format_count(med).c_str(), format_count(r.min()).c_str(),
                format_count(r.max()).c_str(), spread.c_str(), r.unit.c_str());
  }
  std::fprintf(out, "(%u repetition%s; spread = (max - min) / median)\n", repeats, repeats == 1 ? "" : "s");
}

bool write_json(const std::string& path, const Params& setup, const std::vector<RunResult>& runs,
                const std::vector<Row>& rows) {
  std::ostringstream j;
  j << "{\n  \"tool\": \"hotq-bench\",\n  \"setup\": {";
  for (std::size_t i = 0; i < setup.size(); ++i) {
    j << (i == 0 ? "\n" : ",\n") << "    \"" << json_escape(setup[i].first) << "\": \""
      << json_escape(setup[i].second) << "\"";
  }
  j << "\n  },\n  \"facts\": {";
  bool first = true;
  for (const RunResult& r : runs) {
    for (const auto& [k, v] : r.facts) {
      j << (first ? "\n" : ",\n") << "    \"" << json_escape(k) << "\": \"" << json_escape(v) << "\"";
      first = false;
    }
    if (!first) break;  // the first repetition's facts (they repeat)
  }
  j << "\n  },\n  \"metrics\": [";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    j << (i == 0 ? "\n" : ",\n") << "    {\"name\": \"" << json_escape(r.name) << "\", \"unit\": \""
      << json_escape(r.unit) << "\", \"median\": " << json_number(r.median())
      << ", \"min\": " << json_number(r.min()) << ", \"max\": " << json_number(r.max())
      << ", \"values\": [";
    for (std::size_t k = 0; k < r.values.size(); ++k) {
      j << (k == 0 ? "" : ", ") << json_number(r.values[k]);
    }
    j << "]}";
  }
  j << "\n  ]\n}\n";
  if (path == "-") {
    std::fputs(j.str().c_str(), stdout);
    return true;
  }
  std::ofstream out(path, std::ios::trunc);
  out << j.str();
  out.close();
  return static_cast<bool>(out);
}

// Prints "\r<scenario> <phase> rep i/n  t s  done  rate" to stderr every
// half second once a repetition has run for a second (a terminal gets one
// line redrawn; a pipe or file gets a line every 5 s).
class ProgressLine {
 public:
  ProgressLine(const Options& o, Progress& p) : options_(o), progress_(p) {
    if (!o.progress) return;
    tty_ = isatty(STDERR_FILENO) != 0;
    thread_ = std::thread([this] { loop(); });
  }
  ~ProgressLine() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void start_rep(std::uint32_t rep) {
    std::lock_guard<std::mutex> l(mu_);
    rep_ = rep;
    start_ns_ = now_ns();
  }
  void end_rep() {
    std::lock_guard<std::mutex> l(mu_);
    if (printed_ && tty_) std::fprintf(stderr, "\r\033[K");
    printed_ = false;
    start_ns_ = 0;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(mu_);
    std::uint64_t last_print = 0;
    while (!stop_) {
      cv_.wait_for(l, std::chrono::milliseconds(500));
      if (stop_ || start_ns_ == 0) continue;
      const std::uint64_t now = now_ns();
      const double t = static_cast<double>(now - start_ns_) / 1e9;
      if (t < 1.0) continue;
      if (!tty_ && now - last_print < 5'000'000'000ull) continue;
      last_print = now;
      const std::uint64_t done = progress_.done.load(std::memory_order_relaxed);
      std::fprintf(stderr, "%s%s %s: repetition %u/%u, %.1f s, %s done%s", tty_ ? "\r\033[K" : "",
                   options_.scenario.c_str(), progress_.phase.load(std::memory_order_relaxed), rep_,
                   options_.repeat, t, format_count(static_cast<double>(done)).c_str(),
                   tty_ ? "" : "\n");
      std::fflush(stderr);
      printed_ = true;
    }
  }

  const Options& options_;
  Progress& progress_;
  bool tty_ = false;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool printed_ = false;
  std::uint32_t rep_ = 0;
  std::uint64_t start_ns_ = 0;
};

int run(int argc, char** argv) {
  Options o;
  bool list = false;
  if (!parse_args(argc, argv, &o, &list)) return usage("bad arguments");
  if (list) {
    for (const Scenario& s : scenarios()) std::printf("%-16s %s\n", s.name, s.summary);
    return 0;
  }
  const Scenario* sc = nullptr;
  for (const Scenario& s : scenarios()) {
    if (o.scenario == s.name) sc = &s;
  }
  if (sc == nullptr) return usage(("unknown scenario '" + o.scenario + "' (see --list)").c_str());
  // The human-readable output goes to stderr when the JSON takes stdout.
  FILE* out = o.json_path == "-" ? stderr : stdout;
  const Params params = sc->resolve(o);
  const Params setup = setup_of(o, params);
  std::size_t w = 0;
  for (const auto& kv : setup) w = std::max(w, kv.first.size());
  std::fprintf(out, "hotq-bench %s: %s\n", sc->name, sc->summary);
  for (const auto& [k, v] : setup) std::fprintf(out, "  %-*s  %s\n", static_cast<int>(w), k.c_str(), v.c_str());
  std::fflush(out);

  std::vector<RunResult> runs;
  Progress progress;
  {
    ProgressLine line(o, progress);
    for (std::uint32_t rep = 1; rep <= o.repeat; ++rep) {
      line.start_rep(rep);
      RunResult r = sc->run(o, progress);
      line.end_rep();
      if (!r.error.empty()) {
        std::fprintf(stderr, "hotq-bench %s: repetition %u failed: %s\n", sc->name, rep, r.error.c_str());
        return 1;
      }
      if (rep == 1) {
        for (const auto& [k, v] : r.facts) std::fprintf(out, "  %-*s  %s\n", static_cast<int>(w), k.c_str(), v.c_str());
      }
      runs.push_back(std::move(r));
    }
  }
  const std::vector<Row> rows = rows_of(runs);
  print_table(out, rows, o.repeat);
  if (!o.json_path.empty() && !write_json(o.json_path, setup, runs, rows)) {
    std::fprintf(stderr, "hotq-bench: cannot write %s: %s\n", o.json_path.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hotq::bench

int main(int argc, char** argv) { return hotq::bench::run(argc, argv); }
