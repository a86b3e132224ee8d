// hotq/prometheus.h — an engine's stats in the Prometheus text exposition
// format (version 0.0.4), for a broker's /metrics endpoint.
//
//   std::string page = hotq::prometheus_text(*engine);
//   // serve with Content-Type: text/plain; version=0.0.4; charset=utf-8
//
// Every metric (name, type, unit, labels, meaning) is listed in
// docs/metrics.md. In short, with the default prefix "hotq_":
//
//   hotq_build_info{version}                  gauge, always 1
//   hotq_queues                               gauge, queues in the engine
//   hotq_queue_capacity_jobs{queue}           gauge, QueueOptions::capacity_jobs_max
//   hotq_jobs{queue,state}                    gauge, jobs by state (ready, delayed, leased, dead)
//   hotq_jobs_enqueued_total{queue} ...       counters, one per QueueCounts counter
//   hotq_oldest_ready_age_seconds{queue}      gauge
//   hotq_job_wait_seconds{queue}              histogram, enqueue to first reserve
//   hotq_job_run_seconds{queue}               histogram, reserve to ack
//   hotq_wal_*                                durable engines only: the log's
//                                             LSNs, groups, bytes, segments,
//                                             snapshots, failure, and
//                                             hotq_wal_commit_seconds (histogram)
//
// Latencies. The engine keeps log-linear histograms (1/16 relative error);
// the export re-buckets them onto fixed `le` bounds (1-2-5 steps from 1
// microsecond to 1000 seconds, docs/metrics.md) as real histograms
// (`_bucket`, `_sum`, `_count`). A bound is never understated: a value
// counted under le="B" is at most B; a value within 1/16 below a bound may
// be counted under the next bound up.
//
// Counters are cumulative since the engine was opened (a reopened durable
// engine starts them again at 0; so does a queue dropped and created again
// under the same name): Prometheus's rate() treats both as counter resets.
//
// Thread safety: callable from any thread at once, like Engine::stats(),
// while other threads use the engine. Each queue is read on its own, so the
// page is not one consistent cut across queues; within a queue it is what
// Engine::stats() returns. Due timers are fired first (as stats() does).
//
// Cost: one Engine::stats()-like read per queue (its per-shard counters and
// histograms summed, each ring head looked at) plus about 5 KB of text per
// queue; no lock is held across queues. About 13 ms for 1000 queues on a
// 2-shard engine. Meant for a
// scrape every few seconds, not for the hot path.
#ifndef HOTQ_PROMETHEUS_H_
#define HOTQ_PROMETHEUS_H_

#include <hotq/engine.h>
#include <hotq/export.h>
#include <hotq/status.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace hotq {

// Longest metric name prefix accepted.
inline constexpr std::uint32_t prometheus_prefix_bytes_max = 64;

struct PrometheusOptions {
  // Put in front of every metric name. Empty, or 1..prometheus_prefix_bytes_max
  // bytes of [a-zA-Z0-9_:] not starting with a digit, so that every name
  // matches the format's [a-zA-Z_:][a-zA-Z0-9_:]*.
  std::string prefix = "hotq_";
};

// The whole page with the default options. Ends with a newline. Never fails
// (an engine that is closed or has no queues still has hotq_build_info and
// hotq_queues).
HOTQ_API std::string prometheus_text(Engine& engine);

// Appends the page to *out (which may already hold the broker's own
// families: their names must not collide with these). invalid_argument,
// naming the option, when the prefix is not valid; *out is then unchanged.
HOTQ_API Status prometheus_text(Engine& engine, const PrometheusOptions& options,
                                std::string* out);

// A label value escaped for the text format: backslash as \\, double quote
// as \", line feed as \n; every other byte as is (the format is UTF-8). Queue
// names ([A-Za-z0-9._:-]) never need it; it is public for brokers adding
// their own labels.
HOTQ_API std::string prometheus_escape_label_value(std::string_view value);

}  // namespace hotq

#endif  // HOTQ_PROMETHEUS_H_
