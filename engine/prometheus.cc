// engine/prometheus.cc — the Prometheus text export (include/hotq/prometheus.h;
// every metric is listed in docs/metrics.md).
//
// Two steps: read every queue (one stats read each, histograms re-bucketed at
// once so only 29 counts per latency are kept), then write the page family by
// family — the format wants all samples of a family together, so the page
// cannot be written queue by queue.
//
// Histograms. The engine's histograms (engine/histogram.h) are log-linear:
// internal bucket i holds the values in [lower_i, upper_i] ns, with upper_i -
// lower_i < lower_i / 16. An exposition bucket le="B" must count only values
// <= B, so internal bucket i is counted in the first exposition bucket whose
// bound is >= upper_i (the overflow bucket, >= 2^48 ns, only in +Inf). Every
// value counted under le="B" is then <= B: a bound is never understated. The
// price: the internal bucket that straddles B (values within 1/16 below B
// and up to upper_i) is counted under the next bound. `_sum` is the exact sum;
// `_count` is the sum of the buckets, so it always equals the +Inf bucket
// (the snapshot's own count may differ while records are in flight).
//
// The histograms come from EngineOpener::stats_histograms (engine_impl.h):
// the public QueueStats carries only their percentiles.
#include <hotq/prometheus.h>
#include <hotq/version.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "engine/engine_impl.h"
#include "engine/histogram.h"
#include "util/check.h"

namespace hotq::engine {
namespace {

// ---------------------------------------------------------------- buckets

// The exposition buckets' upper bounds (ns): 1-2-5 steps from 1 us to
// 1000 s. Listed in docs/metrics.md; change both together.
constexpr std::size_t prometheus_bound_count = 28;
constexpr std::array<std::uint64_t, prometheus_bound_count> prometheus_bounds_ns = [] {
  std::array<std::uint64_t, prometheus_bound_count> b{};
  std::size_t n = 0;
  for (std::uint64_t decade = 1'000; decade < 1'000'000'000'000; decade *= 10) {
    b[n++] = decade;
    b[n++] = 2 * decade;
    b[n++] = 5 * decade;
  }
  b[n] = 1'000'000'000'000;
  return b;
}();
static_assert(prometheus_bounds_ns.front() == 1'000);
static_assert(prometheus_bounds_ns.back() == 1'000'000'000'000);
static_assert(std::is_sorted(prometheus_bounds_ns.begin(), prometheus_bounds_ns.end()));
// The top bound lies below the overflow bucket, whose values (>= 2^48 ns)
// therefore land in +Inf only, as they must (their upper edge is unbounded).
static_assert(prometheus_bounds_ns.back() < histogram_overflow_ns);

// A latency distribution in the exposition's buckets: per_bucket[j] counts the
// values counted under bound j and not under bound j - 1; the last entry is
// beyond the top bound (only in +Inf).
struct ExpositionHistogram {
  std::array<std::uint64_t, prometheus_bound_count + 1> per_bucket{};
  std::uint64_t sum_ns = 0;
};

ExpositionHistogram rebucket(const LatencyHistogram::Snapshot& s) {
  ExpositionHistogram out;
  out.sum_ns = s.sum_ns;
  // upper_i grows with i, so the target bound only moves forward.
  std::size_t j = 0;
  for (std::size_t i = 0; i < LatencyHistogram::bucket_count; ++i) {
    if (s.buckets[i] == 0) continue;
    const std::uint64_t upper = LatencyHistogram::bucket_upper_ns(i);
    while (j < prometheus_bound_count && prometheus_bounds_ns[j] < upper) ++j;
    out.per_bucket[j] += s.buckets[i];
  }
  return out;
}

// ---------------------------------------------------------------- reading the engine

struct QueueView {
  std::string label;  // queue="<escaped name>"
  std::uint64_t capacity_jobs = 0;
  QueueStats stats;
  ExpositionHistogram wait;
  ExpositionHistogram run;
};

// False when the queue is gone (dropped since it was listed) or the engine
// is closed: it is left out of the page.
bool read_queue(Engine& engine, QueueId id, QueueView* view) {
  // About 11 KB on the stack: the summed histograms, before re-bucketing.
  LatencyHistogram::Snapshot wait;
  LatencyHistogram::Snapshot run;
  Result<QueueStats> s = EngineOpener::stats_histograms(engine, id, &wait, &run);
  if (!s.ok()) return false;
  view->stats = s.value();
  view->wait = rebucket(wait);
  view->run = rebucket(run);
  return true;
}

// A durable engine's log (absent in memory).
struct WalView {
  WalStats stats;
  ExpositionHistogram commit;
};

bool read_wal(Engine& engine, WalView* view) {
  LatencyHistogram::Snapshot commit;  // about 6 KB on the stack
  view->stats = EngineOpener::wal_stats_histogram(engine, &commit);
  if (!view->stats.durable) return false;
  view->commit = rebucket(commit);
  return true;
}

// ---------------------------------------------------------------- writing

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  HOTQ_CHECK(r.ec == std::errc());
  out.append(buf, r.ptr);
}

// The shortest text that reads back as the same double, in %g style
// ("0.003", "0.0001", "1e-06"), as Prometheus's own clients write numbers.
void append_double(std::string& out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  HOTQ_CHECK(r.ec == std::errc());
  out.append(buf, r.ptr);
}

void append_seconds(std::string& out, std::uint64_t ns) {
  append_double(out, static_cast<double>(ns) / 1e9);
}

void append_escaped_label_value(std::string& out, std::string_view v) {
  for (const char c : v) {
    switch (c) {
      case '\\': out.append("\\\\"); break;
      case '"': out.append("\\\""); break;
      case '\n': out.append("\\n"); break;
      default: out.push_back(c);
    }
  }
}

// A page under construction: family() opens a family with its HELP and TYPE
// lines, sample() adds one line to it.
class Page {
 public:
  Page(std::string& out, std::string_view prefix) : out_(out), prefix_(prefix) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ");
    append_name(name, {});
    out_.push_back(' ');
    for (const char c : help) {  // HELP escapes backslash and line feed only
      if (c == '\\') {
        out_.append("\\\\");
      } else if (c == '\n') {
        out_.append("\\n");
      } else {
        out_.push_back(c);
      }
    }
    out_.append("\n# TYPE ");
    append_name(name, {});
    out_.push_back(' ');
    out_.append(type);
    out_.push_back('\n');
  }
  // name+suffix{labels,extra} — labels and extra are ready-escaped
  // `k="v"` lists, either may be empty. The value follows: call a value_*.
  void sample(std::string_view name, std::string_view suffix, std::string_view labels,
              std::string_view extra = {}) {
    append_name(name, suffix);
    if (!labels.empty() || !extra.empty()) {
      out_.push_back('{');
      out_.append(labels);
      if (!labels.empty() && !extra.empty()) out_.push_back(',');
      out_.append(extra);
      out_.push_back('}');
    }
    out_.push_back(' ');
  }
  void value_uint(std::uint64_t v) {
    append_uint(out_, v);
    out_.push_back('\n');
  }
  void value_seconds(std::uint64_t ns) {
    append_seconds(out_, ns);
    out_.push_back('\n');
  }

 private:
  void append_name(std::string_view name, std::string_view suffix) {
    out_.append(prefix_);
    out_.append(name);
    out_.append(suffix);
  }
  std::string& out_;
  std::string_view prefix_;
};

// The le="..." label of each bound, and of +Inf, made once.
const std::array<std::string, prometheus_bound_count + 1>& le_labels() {
  static const std::array<std::string, prometheus_bound_count + 1> labels = [] {
    std::array<std::string, prometheus_bound_count + 1> l;
    for (std::size_t j = 0; j < prometheus_bound_count; ++j) {
      l[j] = "le=\"";
      append_seconds(l[j], prometheus_bounds_ns[j]);
      l[j].push_back('"');
    }
    l[prometheus_bound_count] = "le=\"+Inf\"";
    return l;
  }();
  return labels;
}

void append_histogram_samples(Page& page, std::string_view name, std::string_view labels,
                              const ExpositionHistogram& h) {
  const auto& le = le_labels();
  std::uint64_t cumulative = 0;
  for (std::size_t j = 0; j <= prometheus_bound_count; ++j) {
    cumulative += h.per_bucket[j];
    page.sample(name, "_bucket", labels, le[j]);
    page.value_uint(cumulative);
  }
  page.sample(name, "_sum", labels);
  page.value_seconds(h.sum_ns);
  page.sample(name, "_count", labels);
  page.value_uint(cumulative);
}

}  // namespace

// Test seam (tests/prometheus/prometheus_test.cc declares it): one
// snapshot's histogram samples exactly as the page renders a queue's,
// without HELP and TYPE lines, so the re-bucketing is testable on any
// values, without an engine.
std::string prometheus_histogram_samples(std::string_view name, std::string_view queue,
                                         const LatencyHistogram::Snapshot& s) {
  std::string out;
  std::string labels = "queue=\"";
  append_escaped_label_value(labels, queue);
  labels.push_back('"');
  Page page(out, {});
  append_histogram_samples(page, name, labels, rebucket(s));
  return out;
}

namespace {

bool valid_prefix(std::string_view p) {
  if (p.size() > prometheus_prefix_bytes_max) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// The cumulative counters of QueueCounts, in page order.
struct CounterFamily {
  std::string_view name;
  std::uint64_t QueueCounts::*field;
  std::string_view help;
};
constexpr CounterFamily counter_families[] = {
    {"jobs_enqueued_total", &QueueCounts::enqueued,
     "Jobs taken in by enqueue or publish (duplicates and refusals not counted)."},
    {"jobs_completed_total", &QueueCounts::completed, "Jobs acked."},
    {"jobs_retried_total", &QueueCounts::retried, "Deliveries nacked with attempts left."},
    {"jobs_failed_total", &QueueCounts::failed, "Jobs dead-lettered by fail()."},
    {"leases_expired_total", &QueueCounts::expired,
     "Leases that ran out before being settled (worker died or stalled)."},
    {"jobs_dead_lettered_total", &QueueCounts::dead_lettered,
     "Jobs that entered the dead-letter set, for any reason."},
    {"jobs_redriven_total", &QueueCounts::redriven, "Dead jobs made ready again by redrive."},
    {"enqueues_rejected_full_total", &QueueCounts::rejected_full,
     "Enqueues refused because the queue held capacity_jobs_max jobs."},
    {"reserves_rate_limited_total", &QueueCounts::rate_limited,
     "Reserves refused or cut short by the queue's rate limit."},
    {"enqueues_deduplicated_total", &QueueCounts::dedup_hits,
     "Enqueues answered as duplicates of a dedup key inside its window."},
    {"jobs_cancelled_total", &QueueCounts::cancelled, "Waiting jobs removed by cancel()."},
    {"jobs_purged_total", &QueueCounts::purged, "Waiting jobs removed by purge()."},
};

// The log's families, each one sample without labels.
struct WalFamily {
  std::string_view name;
  std::string_view type;
  std::uint64_t WalStats::*field;
  std::string_view help;
};
constexpr WalFamily wal_families[] = {
    {"wal_durable_lsn", "gauge", &WalStats::durable_lsn,
     "Every log record up to this LSN is on disk (fdatasync'ed)."},
    {"wal_last_lsn", "gauge", &WalStats::last_lsn,
     "The newest log record handed out, durable or not."},
    {"wal_groups_total", "counter", &WalStats::groups,
     "Group commits: one write and one fdatasync each."},
    {"wal_records_total", "counter", &WalStats::records, "Log records written in groups."},
    {"wal_bytes_total", "counter", &WalStats::bytes,
     "Bytes written in groups, headers included."},
    {"wal_segments", "gauge", &WalStats::segments,
     "Segment files holding the log after the newest snapshot."},
    {"wal_segments_filled_total", "counter", &WalStats::segments_filled,
     "Segments made from scratch (zero-filled) rather than recycled."},
    {"wal_roll_waits_total", "counter", &WalStats::roll_waits,
     "Writes that waited for a segment to be made ready."},
    {"wal_no_space_total", "counter", &WalStats::no_space,
     "Writes and reservations refused for lack of disk space."},
    {"wal_snapshot_lsn", "gauge", &WalStats::snapshot_lsn,
     "The newest snapshot covers the log up to this LSN (0: none)."},
    {"wal_snapshots_total", "counter", &WalStats::snapshots, "Snapshots written."},
    {"wal_snapshot_failures_total", "counter", &WalStats::snapshot_failures,
     "Snapshots that failed (the log stays longer; the next one tries again)."},
};

void write_wal(Page& page, const WalView& wal) {
  page.family("wal_failed", "gauge",
              "1 when the log failed (an I/O error): writes are refused until reopen.");
  page.sample("wal_failed", {}, {});
  page.value_uint(wal.stats.failed ? 1 : 0);
  for (const WalFamily& f : wal_families) {
    page.family(f.name, f.type, f.help);
    page.sample(f.name, {}, {});
    page.value_uint(wal.stats.*f.field);
  }
  page.family("wal_commit_seconds", "histogram",
              "Each group's write and fdatasync (io_uring: the linked pair), as the log's "
              "writer thread timed it.");
  append_histogram_samples(page, "wal_commit_seconds", {}, wal.commit);
}

void write_page(Page& page, const std::vector<QueueView>& queues) {
  {
    std::string version_label = "version=\"";
    append_escaped_label_value(version_label, version());
    version_label.push_back('"');
    page.family("build_info", "gauge", "The hotq library's version; always 1.");
    page.sample("build_info", {}, version_label);
    page.value_uint(1);
  }
  page.family("queues", "gauge", "Queues in the engine.");
  page.sample("queues", {}, {});
  page.value_uint(queues.size());

  page.family("queue_capacity_jobs", "gauge",
              "The queue's capacity_jobs_max: jobs it may hold in all states together.");
  for (const QueueView& q : queues) {
    page.sample("queue_capacity_jobs", {}, q.label);
    page.value_uint(q.capacity_jobs);
  }

  page.family("jobs", "gauge", "Jobs of the queue by state (ready, delayed, leased, dead).");
  struct State {
    std::string_view label;
    std::uint64_t QueueCounts::*field;
  };
  static constexpr State states[] = {{"state=\"ready\"", &QueueCounts::ready},
                                     {"state=\"delayed\"", &QueueCounts::delayed},
                                     {"state=\"leased\"", &QueueCounts::leased},
                                     {"state=\"dead\"", &QueueCounts::dead}};
  for (const QueueView& q : queues) {
    for (const State& s : states) {
      page.sample("jobs", {}, q.label, s.label);
      page.value_uint(q.stats.counts.*s.field);
    }
  }

  for (const CounterFamily& c : counter_families) {
    page.family(c.name, "counter", c.help);
    for (const QueueView& q : queues) {
      page.sample(c.name, {}, q.label);
      page.value_uint(q.stats.counts.*c.field);
    }
  }

  page.family("oldest_ready_age_seconds", "gauge",
              "How long the oldest ready job has been ready (0 when none is).");
  for (const QueueView& q : queues) {
    page.sample("oldest_ready_age_seconds", {}, q.label);
    page.value_seconds(q.stats.oldest_ready_age_ns);
  }

  constexpr std::string_view wait_help =
      "Time from enqueue to a job's first reserve (a redriven job starts again).";
  constexpr std::string_view run_help = "Time from reserve to ack.";
  page.family("job_wait_seconds", "histogram", wait_help);
  for (const QueueView& q : queues) {
    append_histogram_samples(page, "job_wait_seconds", q.label, q.wait);
  }
  page.family("job_run_seconds", "histogram", run_help);
  for (const QueueView& q : queues) {
    append_histogram_samples(page, "job_run_seconds", q.label, q.run);
  }
}

}  // namespace
}  // namespace hotq::engine

namespace hotq {

std::string prometheus_escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  engine::append_escaped_label_value(out, value);
  return out;
}

Status prometheus_text(Engine& engine, const PrometheusOptions& options, std::string* out) {
  HOTQ_CHECK(out != nullptr);
  if (!engine::valid_prefix(options.prefix)) {
    return Status(Code::invalid_argument,
                  "PrometheusOptions::prefix must be empty or at most 64 bytes of "
                  "[a-zA-Z0-9_:] not starting with a digit");
  }
  std::vector<QueueInfo> infos = engine.list_queues();
  // By name, so a page's order does not depend on queue ids or hash order.
  std::sort(infos.begin(), infos.end(),
            [](const QueueInfo& a, const QueueInfo& b) { return a.name < b.name; });
  std::vector<engine::QueueView> queues;
  queues.reserve(infos.size());
  for (const QueueInfo& info : infos) {
    engine::QueueView view;
    if (!engine::read_queue(engine, info.id, &view)) continue;
    view.label = "queue=\"";
    engine::append_escaped_label_value(view.label, info.name);
    view.label.push_back('"');
    view.capacity_jobs = info.options.capacity_jobs_max;
    queues.push_back(std::move(view));
  }
  // About 5 KB per queue with histograms; a guess, only to avoid regrowth.
  out->reserve(out->size() + 2048 + queues.size() * 5120);
  engine::WalView wal;
  const bool durable = engine::read_wal(engine, &wal);
  engine::Page page(*out, options.prefix);
  engine::write_page(page, queues);
  if (durable) engine::write_wal(page, wal);
  return Status::Ok();
}

std::string prometheus_text(Engine& engine) {
  std::string out;
  const Status s = prometheus_text(engine, PrometheusOptions{}, &out);
  HOTQ_CHECK(s.ok());  // the default prefix is valid
  return out;
}

}  // namespace hotq
