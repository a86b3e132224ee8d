// record_bench — WAL record encoding and decoding with XXH3 (issue 7), and the
// log bytes one job lifecycle really costs.
//
// What is measured.
//   <kind>/encode  The engine's own path for one record: the typed body is
//                  encoded into a reused std::string (the engine's
//                  thread-local RecordBatch), then wal::encode_record frames
//                  it (24-byte header, the payload appended as the tail,
//                  zero padding to 8 bytes, XXH3-64 over header and body)
//                  into a buffer — what Log::append does into its pending
//                  group, under the log's lock.
//   <kind>/decode  wal::decode_record (length check, XXH3 verify, padding
//                  and type checks) then the typed decode of the body:
//                  what recovery does per record.
//   <kind>/xxh3    Reference floor: XXH3_64bits alone over exactly the bytes
//                  the record's checksum covers (header bytes 8..24 + body).
//   <kind>/memcpy  Reference: a plain memcpy of the record's framed bytes.
//   Kinds: enqueue_p64 and enqueue_p1024 (an enqueue record with a 64-byte
//   and a 1 KiB payload, no dedup key), reserve, ack.
//   items/s is records per second; bytes/s counts the bytes each row
//   touches (framed record bytes, except xxh3: the checksummed bytes).
//   Counters: record_bytes (framed, header and padding included),
//   body_bytes, checksummed_bytes. All in one thread; the buffers stay in L1,
//   so these are CPU costs, not memory bandwidth.
//
//   LifecycleLogBytes/format  The bytes of one job lifecycle as the engine
//       logs it (engine/engine.cc, engine/durable.cc): an enqueue record
//       (100-byte payload), a reserve record and an ack record, each encoded
//       here with the real encoders. The reserve IS logged in every durable
//       queue: durable_delivery only decides whether the reserve call waits
//       for its record (engine.cc, reserve_some / reserve). Group headers
//       (32 bytes) are counted apart: how many a lifecycle pays depends on
//       how appends share group commits.
//   LifecycleLogBytes/engine_batch<N>  The same, measured: a durable engine
//       on an in-memory directory (wal::MemFs, sync mode, 1 MiB segments,
//       no snapshots, 2 shards) runs kJobsPerRun lifecycles with single
//       calls (N=1) or enqueue_batch / reserve_batch / ack_batch of N, then
//       the segments it wrote are parsed group by group. Counters per
//       lifecycle: record bytes, group-header bytes, groups, and segment
//       overhead: the 64-byte segment headers and the unused tail each roll
//       leaves (less than the group that did not fit, so it grows with the
//       batch and shrinks with the segment: with the default 64 MiB
//       segments it is ~64x smaller than measured here). The trailing 32-byte
//       zero sentinel written with every group is overwritten by the next
//       group, so it costs write bandwidth (32 bytes per group), not log
//       space: reported as sentinel_write_bytes_per_job. Its time is that of
//       an in-memory file system: ignore it.
//
// Run: build/release/bench/record_bench --benchmark_min_time=0.5
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <hotq/engine.h>
#include <xxhash.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine_impl.h"
#include "wal/borrowed_fs.h"
#include "wal/format.h"
#include "wal/mem_fs.h"
#include "wal/records.h"

namespace hotq {
namespace {

using wal::RecordType;

// Field values of a plausible job (wall-clock ns around 2026).
constexpr std::uint32_t kQueueId = 0x0001'0001;
constexpr std::uint64_t kJob = 0x0000'0007'0000'1234;
constexpr std::uint64_t kToken = 0x0000'0009'0000'1234;
constexpr std::uint64_t kWallNs = 1'796'000'000'000'000'000;
constexpr std::uint64_t kLeaseMs = 30'000;

// ------------------------------------------------------------ record kinds

enum class Kind { enqueue_p64, enqueue_p1024, reserve, ack };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::enqueue_p64:
      return "enqueue_p64";
    case Kind::enqueue_p1024:
      return "enqueue_p1024";
    case Kind::reserve:
      return "reserve";
    case Kind::ack:
      return "ack";
  }
  return "?";
}

// One record of a kind: its payload (enqueue only), a reused body buffer
// and an output buffer of exactly its framed size.
class Sample {
 public:
  explicit Sample(Kind kind) : kind_(kind) {
    if (kind == Kind::enqueue_p64) payload_.assign(64, 'p');
    if (kind == Kind::enqueue_p1024) payload_.assign(1024, 'p');
    encode(1);
    framed_.resize(record_bytes());
    encode_into(framed_.data(), 1);
  }

  RecordType type() const {
    switch (kind_) {
      case Kind::enqueue_p64:
      case Kind::enqueue_p1024:
        return RecordType::enqueue;
      case Kind::reserve:
        return RecordType::reserve;
      case Kind::ack:
        return RecordType::ack;
    }
    return RecordType::ack;
  }
  std::size_t body_bytes() const { return body_.size() + tail().size(); }
  std::size_t record_bytes() const { return wal::record_span_bytes(body_bytes()); }
  // The checksum covers the header after its checksum field, and the body.
  std::size_t checksummed_bytes() const { return wal::record_header_bytes - 8 + body_bytes(); }
  const std::string& framed() const { return framed_; }

  // The body of record `seq` (its job id and LSN vary, as in a log).
  void encode(std::uint64_t seq) {
    body_.clear();
    switch (kind_) {
      case Kind::enqueue_p64:
      case Kind::enqueue_p1024:
        wal::encode_head(
            wal::EnqueueRec{kQueueId, 0, kJob + seq, kWallNs + seq, 0, 5, kLeaseMs, {}, payload_},
            &body_);
        break;
      case Kind::reserve:
        wal::encode(wal::ReserveRec{kQueueId, 1, kJob + seq, kToken + seq, kWallNs + seq}, &body_);
        break;
      case Kind::ack:
        wal::encode(RecordType::ack, wal::LeaseRec{kQueueId, kJob + seq, kToken + seq, 0}, &body_);
        break;
    }
  }
  // Body of record `seq`, then framed with LSN `seq` into out.
  void encode_into(char* out, std::uint64_t seq) {
    encode(seq);
    wal::encode_record(type(), seq, body_, tail(), out);
  }

  // decode_record + the typed decode: false on any failure.
  bool decode(const char* in, std::size_t avail) const {
    wal::RecordHeader h;
    std::string_view body;
    if (wal::decode_record(in, avail, &h, &body) != wal::RecordCheck::ok) return false;
    switch (kind_) {
      case Kind::enqueue_p64:
      case Kind::enqueue_p1024: {
        wal::EnqueueRec r;
        const bool ok = wal::decode(body, &r);
        benchmark::DoNotOptimize(r);
        return ok && r.payload.size() == payload_.size();
      }
      case Kind::reserve: {
        wal::ReserveRec r;
        const bool ok = wal::decode(body, &r);
        benchmark::DoNotOptimize(r);
        return ok;
      }
      case Kind::ack: {
        wal::LeaseRec r;
        const bool ok = wal::decode(RecordType::ack, body, &r);
        benchmark::DoNotOptimize(r);
        return ok;
      }
    }
    return false;
  }

 private:
  std::string_view tail() const { return payload_; }  // empty but for enqueue

  Kind kind_;
  std::string payload_;
  std::string body_;
  std::string framed_;
};

void set_counters(benchmark::State& state, const Sample& s, std::size_t bytes_per_item) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes_per_item));
  state.counters["record_bytes"] = static_cast<double>(s.record_bytes());
  state.counters["body_bytes"] = static_cast<double>(s.body_bytes());
  state.counters["checksummed_bytes"] = static_cast<double>(s.checksummed_bytes());
}

void BM_Encode(benchmark::State& state, Kind kind) {
  Sample s(kind);
  std::vector<char> out(s.record_bytes());
  std::uint64_t seq = 1;
  for (auto _ : state) {
    s.encode_into(out.data(), ++seq);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, s, s.record_bytes());
}

void BM_Decode(benchmark::State& state, Kind kind) {
  Sample s(kind);
  const std::string& in = s.framed();
  for (auto _ : state) {
    const char* p = in.data();
    benchmark::DoNotOptimize(p);  // the record is "new" each time
    if (!s.decode(p, in.size())) {
      state.SkipWithError("decode failed");
      break;
    }
  }
  set_counters(state, s, s.record_bytes());
}

void BM_Xxh3(benchmark::State& state, Kind kind) {
  Sample s(kind);
  const std::string& in = s.framed();
  const std::size_t n = s.checksummed_bytes();
  for (auto _ : state) {
    const char* p = in.data() + 8;
    benchmark::DoNotOptimize(p);  // XXH3_64bits is declared pure: not hoisted
    std::uint64_t h = XXH3_64bits(p, n);
    benchmark::DoNotOptimize(h);
  }
  set_counters(state, s, n);
}

void BM_Memcpy(benchmark::State& state, Kind kind) {
  Sample s(kind);
  const std::string& in = s.framed();
  std::vector<char> out(in.size());
  for (auto _ : state) {
    const char* p = in.data();
    benchmark::DoNotOptimize(p);
    std::memcpy(out.data(), p, in.size());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, s, in.size());
}

// ------------------------------------------------------------ lifecycle bytes

constexpr std::size_t kLifecyclePayloadBytes = 100;
constexpr double kTargetOverPayloadBytes = 96;  // "payload + 96 bytes" per lifecycle

// The framed size of a record with this body, from the real encoders.
template <class Encode>
std::size_t framed_record_bytes(Encode&& encode_body, std::size_t tail_bytes) {
  std::string body;
  encode_body(&body);
  return wal::record_span_bytes(body.size() + tail_bytes);
}

void BM_LifecycleLogBytesFormat(benchmark::State& state) {
  const std::string payload(kLifecyclePayloadBytes, 'p');
  std::size_t enqueue = 0, reserve = 0, ack = 0;
  for (auto _ : state) {
    enqueue = framed_record_bytes(
        [&](std::string* b) {
          wal::encode_head(wal::EnqueueRec{kQueueId, 0, kJob, kWallNs, 0, 5, kLeaseMs, {}, payload},
                           b);
        },
        payload.size());
    reserve = framed_record_bytes(
        [](std::string* b) {
          wal::encode(wal::ReserveRec{kQueueId, 1, kJob, kToken, kWallNs}, b);
        },
        0);
    ack = framed_record_bytes(
        [](std::string* b) {
          wal::encode(RecordType::ack, wal::LeaseRec{kQueueId, kJob, kToken, 0}, b);
        },
        0);
    benchmark::DoNotOptimize(enqueue);
  }
  const auto records = static_cast<double>(enqueue + reserve + ack);
  state.counters["enqueue_record"] = static_cast<double>(enqueue);
  state.counters["reserve_record"] = static_cast<double>(reserve);
  state.counters["ack_record"] = static_cast<double>(ack);
  state.counters["records_per_job"] = records;
  state.counters["records_over_payload"] = records - kLifecyclePayloadBytes;
  state.counters["target_over_payload"] = kTargetOverPayloadBytes;
  state.counters["group_header"] = wal::group_header_bytes;
  // Worst case: each of the three records alone in its group.
  state.counters["own_groups_over_payload"] =
      records + 3.0 * wal::group_header_bytes - kLifecyclePayloadBytes;
}

// The segments of a log in a MemFs, parsed: what the engine really wrote.
struct LogTally {
  std::uint64_t segments = 0;
  std::uint64_t segment_header_bytes = 0;
  std::uint64_t roll_waste_bytes = 0;  // unused tails of every segment but the newest
  std::uint64_t groups = 0;
  std::uint64_t group_header_bytes = 0;
  std::uint64_t record_bytes[64] = {};  // by type (types are < 64)
  std::uint64_t records[64] = {};
  bool ok = true;
};

LogTally tally_log(wal::MemFs& fs) {
  LogTally t;
  std::vector<std::string> names;
  if (fs.list(&names) != 0) return t.ok = false, t;
  std::vector<std::pair<std::uint64_t, std::string>> segments;
  for (const std::string& n : names) {
    std::uint64_t first = 0;
    if (wal::parse_segment_name(n, &first)) segments.emplace_back(first, n);
  }
  std::sort(segments.begin(), segments.end());
  for (std::size_t si = 0; si < segments.size(); ++si) {
    const std::string bytes = fs.contents(segments[si].second);
    wal::SegmentHeader sh;
    if (bytes.size() < wal::segment_header_bytes ||
        !wal::decode_segment_header(bytes.data(), &sh)) {
      t.ok = false;
      return t;
    }
    ++t.segments;
    std::size_t at = wal::segment_header_bytes;
    while (at + wal::group_header_bytes <= bytes.size() &&
           wal::looks_like_group_header(bytes.data() + at)) {
      wal::GroupHeader gh;
      if (!wal::decode_group_header(bytes.data() + at, &gh) || at + gh.group_bytes > bytes.size()) {
        t.ok = false;
        return t;
      }
      ++t.groups;
      t.group_header_bytes += wal::group_header_bytes;
      std::size_t r = at + wal::group_header_bytes;
      for (std::uint32_t i = 0; i < gh.record_count; ++i) {
        wal::RecordHeader h;
        std::string_view body;
        if (wal::decode_record(bytes.data() + r, at + gh.group_bytes - r, &h, &body) !=
                wal::RecordCheck::ok ||
            h.type >= 64) {
          t.ok = false;
          return t;
        }
        const std::uint64_t span = wal::record_span_bytes(h.body_bytes);
        t.record_bytes[h.type] += span;
        ++t.records[h.type];
        r += span;
      }
      at += gh.group_bytes;
    }
    t.segment_header_bytes += wal::segment_header_bytes;
    if (si + 1 < segments.size()) t.roll_waste_bytes += sh.segment_bytes - at;
  }
  return t;
}

constexpr std::size_t kJobsPerRun = 20'480;  // a multiple of every batch size below
constexpr std::uint64_t kSegmentBytes = 1u << 20;

// Lifecycles through a durable engine on a MemFs, in batches of `n` (1:
// single calls), then the log parsed.
void BM_LifecycleLogBytesEngine(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::string payload(kLifecyclePayloadBytes, 'p');
  LogTally t;
  for (auto _ : state) {
    wal::MemFs fs("record_bench");
    {
      EngineOptions o;
      o.shards = 2;
      // 1 MiB: MemFs copies a file's image on each sync, so a 64 MiB segment
      // makes every commit cost ~64 MiB of copying (a 196 s run).
      o.wal_segment_bytes = kSegmentBytes;
      o.wal_snapshot_log_bytes = 0;  // no snapshots: every segment stays
      o.wal_snapshot_interval_ms = 0;
      std::unique_ptr<Engine> e;
      if (!EngineOpener::open(o, std::make_unique<wal::BorrowedFs>(fs), "mem", &e).ok()) {
        state.SkipWithError("cannot open the durable engine");
        return;
      }
      QueueOptions qo;
      qo.priority_levels = 1;
      const QueueId q = e->create_queue("bench", qo).value();
      std::vector<EnqueueRequest> reqs(n, EnqueueRequest{.payload = payload});
      std::vector<JobId> ids(n);
      std::vector<ReservedJob> jobs(n);
      std::vector<Lease> leases(n);
      std::vector<Code> codes(n);
      for (std::size_t done = 0; done < kJobsPerRun; done += n) {
        if (n == 1) {
          const bool ok = e->enqueue(q, reqs[0]).ok();
          Result<ReservedJob> job = e->reserve(q);
          if (!ok || !job.ok() || e->ack(q, job->lease()) != Code::ok) {
            state.SkipWithError("lifecycle failed");
            return;
          }
          continue;
        }
        const BatchResult en = e->enqueue_batch(q, reqs, ids);
        const BatchResult re = e->reserve_batch(q, jobs);
        for (std::uint32_t i = 0; i < re.count; ++i) leases[i] = jobs[i].lease();
        const std::uint32_t acked = e->ack_batch(q, {leases.data(), re.count}, codes);
        if (en.count != n || re.count != n || acked != n) {
          state.SkipWithError("batch came back short");
          return;
        }
      }
    }  // closed: every group is on the MemFs
    t = tally_log(fs);
  }
  if (!t.ok) {
    state.SkipWithError("the log did not parse");
    return;
  }
  const auto enq = static_cast<std::size_t>(RecordType::enqueue);
  const auto res = static_cast<std::size_t>(RecordType::reserve);
  const auto ack = static_cast<std::size_t>(RecordType::ack);
  if (t.records[enq] != kJobsPerRun || t.records[res] != kJobsPerRun ||
      t.records[ack] != kJobsPerRun) {
    state.SkipWithError("the log does not hold one enqueue, reserve and ack per job");
    return;
  }
  const auto jobs = static_cast<double>(kJobsPerRun);
  const auto lifecycle_records =
      static_cast<double>(t.record_bytes[enq] + t.record_bytes[res] + t.record_bytes[ack]);
  std::uint64_t all_records = 0;
  for (std::uint64_t b : t.record_bytes) all_records += b;
  // Not the lifecycle's: the queue_create record, once per log.
  const double other_records = static_cast<double>(all_records) - lifecycle_records;
  const auto group_headers = static_cast<double>(t.group_header_bytes);
  const auto segment_overhead = static_cast<double>(t.segment_header_bytes + t.roll_waste_bytes);
  state.counters["records_per_job"] = lifecycle_records / jobs;
  state.counters["records_over_payload"] = lifecycle_records / jobs - kLifecyclePayloadBytes;
  state.counters["group_headers_per_job"] = group_headers / jobs;
  state.counters["groups_per_job"] = static_cast<double>(t.groups) / jobs;
  state.counters["records_per_group"] =
      static_cast<double>(t.records[enq] + t.records[res] + t.records[ack]) /
      static_cast<double>(t.groups);
  state.counters["segment_overhead_per_job"] = segment_overhead / jobs;
  state.counters["log_over_payload"] =
      (lifecycle_records + group_headers + segment_overhead + other_records) / jobs -
      kLifecyclePayloadBytes;
  state.counters["sentinel_write_bytes_per_job"] =
      static_cast<double>(t.groups * wal::sentinel_bytes) / jobs;
  state.counters["segments"] = static_cast<double>(t.segments);
  // No items/s: the time is an in-memory file system's, not a disk's.
}

// ------------------------------------------------------------ registration

const bool registered = [] {
  for (Kind k : {Kind::enqueue_p64, Kind::enqueue_p1024, Kind::reserve, Kind::ack}) {
    const std::string base = kind_name(k);
    benchmark::RegisterBenchmark((base + "/encode").c_str(), BM_Encode, k);
    benchmark::RegisterBenchmark((base + "/decode").c_str(), BM_Decode, k);
    benchmark::RegisterBenchmark((base + "/xxh3").c_str(), BM_Xxh3, k);
    benchmark::RegisterBenchmark((base + "/memcpy").c_str(), BM_Memcpy, k);
  }
  benchmark::RegisterBenchmark("LifecycleLogBytes/format", BM_LifecycleLogBytesFormat)
      ->Iterations(1);
  benchmark::RegisterBenchmark("LifecycleLogBytes/engine_batch", BM_LifecycleLogBytesEngine)
      ->Arg(1)
      ->Arg(32)
      ->Arg(256)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
}  // namespace hotq
