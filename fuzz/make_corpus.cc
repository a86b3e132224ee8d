// fuzz/make_corpus.cc — writes the fuzzers' seed corpus from real files.
//
//   make_corpus <out_dir>   writes <out_dir>/{record,segment,snapshot}/
//
// A real durable engine (on a MemFs, with a manual clock) runs every kind of
// operation the log records: queue create/drop, enqueue (delayed, with dedup
// key, with priority), publish (with and without a dedup key), bind/unbind, reserve, extend, ack, nack,
// fail, lease expiry, redrive, cancel, purge, pause, set_priority,
// set_delay, delete_dead; and takes snapshots. What it wrote becomes:
//   segment/   the log's segments behind fuzz_segment.cc's 8-byte prefix:
//              whole, cut after the last group (the header's segment_bytes
//              rewritten to the shorter length: still a valid segment,
//              and a small input), split in two at a group boundary, and one
//              pair of segments a roll really made;
//   snapshot/  the snapshots behind fuzz_snapshot.cc's flag byte;
//   record/    every record of those segments and snapshots, alone; a group
//              and a segment header with what follows them; file names.
// It fails when a record type is missing from what the engine wrote, so the
// corpus cannot quietly lose a type when the engine changes. Nothing here is
// committed: the corpus is made fresh by fuzz/run.sh and the ctest fixture.
#include <hotq/clock.h>
#include <hotq/engine.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine_impl.h"
#include "wal/borrowed_fs.h"
#include "wal/format.h"
#include "wal/mem_fs.h"

namespace hotq::fuzz {
namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------ output

// Ends the tool at once. _Exit, not exit: an engine's threads may still run,
// and static destructors must not race them.
[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "make_corpus: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

class Corpus {
 public:
  explicit Corpus(fs::path out) : out_(std::move(out)) {
    for (const char* d : {"record", "segment", "snapshot"}) fs::create_directories(out_ / d);
  }
  void add(const char* dir, const std::string& name, std::string_view bytes) {
    std::ofstream f(out_ / dir / name, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) die(std::string("cannot write ") + dir + "/" + name);
    ++files_[dir];
    bytes_[dir] += bytes.size();
  }
  void summary() const {
    for (const auto& [dir, n] : files_) {
      std::printf("make_corpus: %s/%s: %zu files, %zu bytes\n", out_.c_str(), dir.c_str(), n,
                  bytes_.at(dir));
    }
  }

 private:
  fs::path out_;
  std::map<std::string, std::size_t> files_;
  std::map<std::string, std::size_t> bytes_;
};

void expect(bool ok, const char* what) {
  if (!ok) die(std::string("the engine did not do: ") + what);
}

// ------------------------------------------------------------ the engine

// The engine owns its Fs: it gets a BorrowedFs (wal/borrowed_fs.h) of the
// MemFs, so the files stay after it.
using wal::BorrowedFs;

std::unique_ptr<Engine> open_engine(wal::MemFs& mem, const ManualClock& clock) {
  EngineOptions o;
  o.clock = &clock;
  o.wall_clock = &clock;
  o.shards = 2;                                  // slot generations of two shards in snapshots
  o.wal_segment_bytes = wal::segment_bytes_min;  // small segments: small seeds, real rolls
  o.wal_snapshot_log_bytes = 0;                  // snapshots only when asked
  std::unique_ptr<Engine> e;
  const Status st = EngineOpener::open(o, std::make_unique<BorrowedFs>(mem), "mem", &e);
  if (!st.ok()) die("cannot open the engine: " + std::string(st.message()));
  return e;
}

// The files of a kind ("wal-" segments or "snap-" snapshots), oldest first.
std::vector<std::pair<std::string, std::string>> files(const wal::MemFs& mem, wal::Fs& as_fs,
                                                       std::string_view prefix) {
  std::vector<std::string> names;
  if (as_fs.list(&names) != 0) die("cannot list the MemFs");
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& n : names) {
    if (n.starts_with(prefix)) out.emplace_back(n, mem.contents(n));
  }
  return out;
}

// ------------------------------------------------------------ reading what was written

struct Group {
  std::size_t offset = 0;
  std::size_t bytes = 0;
  std::uint64_t first_lsn = 0;
  std::uint32_t records = 0;
};

std::vector<Group> groups_of(const std::string& seg) {
  std::vector<Group> out;
  std::size_t off = wal::segment_header_bytes;
  while (off + wal::group_header_bytes <= seg.size()) {
    wal::GroupHeader gh;
    if (!wal::decode_group_header(seg.data() + off, &gh)) break;
    out.push_back({off, gh.group_bytes, gh.first_lsn, gh.record_count});
    off += gh.group_bytes;
  }
  return out;
}

// A segment holding groups [from, to) of `seg`, cut after them (plus the
// zero sentinel) with its header saying so.
std::string rebuild_segment(const std::string& seg, const std::vector<Group>& groups,
                            std::size_t from, std::size_t to) {
  wal::SegmentHeader h;
  if (!wal::decode_segment_header(seg.data(), &h))
    die("a segment the engine wrote has a bad header");
  std::string out(wal::segment_header_bytes, '\0');
  for (std::size_t i = from; i < to; ++i) out.append(seg, groups[i].offset, groups[i].bytes);
  out.append(wal::sentinel_bytes, '\0');
  h.first_lsn = groups[from].first_lsn;
  h.segment_bytes = out.size();
  wal::encode_segment_header(h, out.data());
  return out;
}

std::string compact(const std::string& seg) {
  const std::vector<Group> g = groups_of(seg);
  if (g.empty()) die("a segment without groups");
  return rebuild_segment(seg, g, 0, g.size());
}

std::uint64_t last_lsn(const std::string& seg) {
  const std::vector<Group> g = groups_of(seg);
  return g.empty() ? 0 : g.back().first_lsn + g.back().records - 1;
}

// fuzz_segment.cc's prefix: flags, cut, through_lsn, covered_lsn.
std::string segment_input(std::uint8_t flags, std::uint32_t cut, std::uint64_t through_lsn,
                          std::uint64_t covered_lsn) {
  if (through_lsn > UINT16_MAX || covered_lsn > UINT8_MAX) die("an LSN too large for the prefix");
  std::string p;
  wal::BodyWriter(&p)
      .u8(flags)
      .u32(cut)
      .u16(static_cast<std::uint16_t>(through_lsn))
      .u8(static_cast<std::uint8_t>(covered_lsn));
  return p;
}
constexpr std::uint8_t flag_fix = 1;
constexpr std::uint8_t flag_two_segments = 2;

// Every record of a segment (in its groups) or a snapshot (after its header).
void add_records(Corpus& corpus, const std::string& origin, const std::string& file, bool snapshot,
                 std::set<std::uint16_t>* types) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // [at, end) holding records
  if (snapshot) {
    spans.emplace_back(wal::snapshot_header_bytes, file.size());
  } else {
    for (const Group& g : groups_of(file)) {
      spans.emplace_back(g.offset + wal::group_header_bytes, g.offset + g.bytes);
    }
  }
  for (auto [at, end] : spans) {
    while (at < end) {
      wal::RecordHeader h;
      std::string_view body;
      if (wal::decode_record(file.data() + at, end - at, &h, &body) != wal::RecordCheck::ok) {
        die("a record the engine wrote does not decode in " + origin);
      }
      const std::size_t span = wal::record_span_bytes(h.body_bytes);
      types->insert(h.type);
      char name[96];
      std::snprintf(name, sizeof name, "%s-%05llu-%s", origin.c_str(),
                    static_cast<unsigned long long>(h.lsn), wal::record_type_name(h.type));
      corpus.add("record", name, std::string_view(file).substr(at, span));
      at += span;
    }
  }
}

// ------------------------------------------------------------ the runs

struct Written {
  std::vector<std::pair<std::string, std::string>> segments;
  std::vector<std::pair<std::string, std::string>> snapshots;
};

// Every record type, in one segment; two snapshots.
Written run_every_operation() {
  wal::MemFs mem("every");
  BorrowedFs as_fs(mem);
  ManualClock clock(1'700'000'000'000'000'000ull);
  Written w;
  auto e = open_engine(mem, clock);

  // Lease operations take whatever orders hands out; the operations on
  // named waiting jobs use `side`, which nothing reserves from.
  QueueOptions orders_opts;
  orders_opts.attempts_max = 2;
  orders_opts.lease_ms_default = 1'000;
  orders_opts.priority_levels = 3;
  QueueOptions mail_opts;
  mail_opts.ordering = Ordering::fifo;
  mail_opts.backoff = Backoff{Backoff::Kind::fixed, 10, 100, 10};
  mail_opts.rate_limit = RateLimit{100, 1'000, 10};
  mail_opts.expiry_counts_as_attempt = false;
  mail_opts.dedup_keys_max = 0;
  mail_opts.leased_max = 5;
  const QueueId orders = e->create_queue("orders", orders_opts).value();
  const QueueId mail = e->create_queue("mail", mail_opts).value();
  const QueueId side = e->create_queue("side").value();
  const QueueId tmp = e->create_queue("tmp").value();
  expect(e->bind("events", orders) == Code::ok && e->bind("events", mail) == Code::ok, "bind");
  expect(e->publish("events", {.payload = "fan-out", .priority = 1}).ok(), "publish");
  {
    // A keyed publish (publish_keyed), on queues of its own.
    const QueueId once_a = e->create_queue("once_a").value();
    const QueueId once_b = e->create_queue("once_b").value();
    expect(e->bind("once", once_a) == Code::ok && e->bind("once", once_b) == Code::ok, "bind (once)");
    expect(e->publish("once", {.payload = "fan-out once", .dedup_key = "pub-1"}).ok(), "publish (key)");
    expect(e->publish("once", {.payload = "fan-out once", .dedup_key = "pub-1"}).code() == Code::duplicate,
           "publish (duplicate)");
  }

  const std::string big(300, 'x');
  expect(e->enqueue(orders, {.payload = "a"}).ok(), "enqueue");
  expect(e->enqueue(orders, {.payload = big, .priority = 2}).ok(), "enqueue (priority)");
  expect(e->enqueue(orders, {.payload = "custom", .attempts_max = 4, .lease_ms = 5'000}).ok(),
         "enqueue (attempts, lease)");
  expect(e->enqueue(mail, {.payload = "hello"}).ok(), "enqueue (mail)");

  // Leases: extend + ack, nack with and without delay, fail, expiry.
  Lease l = e->reserve(orders).value().lease();
  expect(e->extend(orders, l, 2'000) == Code::ok, "extend");
  expect(e->ack(orders, l) == Code::ok, "ack");
  expect(e->nack(orders, e->reserve(orders).value().lease(), 500, "later please") == Code::ok,
         "nack (delay)");
  expect(e->nack(orders, e->reserve(orders).value().lease()) == Code::ok, "nack");
  expect(e->fail(orders, e->reserve(orders).value().lease(), "boom") == Code::ok, "fail");
  (void)e->reserve(mail, 100).value();
  clock.advance_ms(200);
  expect(e->run_timers() > 0, "lease expiry");

  // Waiting jobs: delay, dedup key, priority, cancel.
  const JobId later = e->enqueue(side, {.payload = "later", .delay_ms = 60'000}).value();
  const JobId keyed = e->enqueue(side, {.payload = "once", .dedup_key = "key-1"}).value();
  expect(e->enqueue(side, {.payload = "once", .dedup_key = "key-1"}).code() == Code::duplicate,
         "dedup");
  expect(e->set_priority(side, keyed, 2) == Code::ok, "set_priority");
  expect(e->set_delay(side, later, 1'000) == Code::ok, "set_delay");
  const JobId doomed = e->enqueue(side, {.payload = "cancel me"}).value();
  expect(e->cancel(side, doomed) == Code::ok, "cancel");
  expect(e->pause(mail) == Code::ok && e->resume(mail) == Code::ok, "pause");
  for (int i = 0; i < 3; ++i) expect(e->enqueue(tmp, {.payload = "t"}).ok(), "enqueue (tmp)");

  expect(e->snapshot().ok(), "snapshot");
  w.snapshots = files(mem, as_fs, "snap-");

  // Dead letters: redrive, redrive_ids, delete_dead, purge_dead.
  for (int i = 0; i < 4; ++i) {
    expect(e->enqueue(orders, {.payload = "dies"}).ok(), "enqueue");
    expect(e->fail(orders, e->reserve(orders).value().lease(), "fatal") == Code::ok, "fail");
  }
  expect(e->redrive(orders, 1).value() == 1, "redrive");
  const std::vector<DeadLetter> dead = e->list_dead(orders).value();
  expect(dead.size() >= 3, "list_dead");
  expect(e->redrive_ids(orders, std::span<const JobId>(&dead[0].id, 1)).value() == 1,
         "redrive_ids");
  expect(e->delete_dead(orders, std::span<const JobId>(&dead[1].id, 1)).value() == 1,
         "delete_dead");
  expect(e->purge_dead(orders).value() >= 1, "purge_dead");
  expect(e->purge(tmp).value() == 3, "purge");
  expect(e->unbind("events", mail) == Code::ok, "unbind");
  expect(e->drop_queue(tmp) == Code::ok, "drop_queue");
  expect(e->enqueue(side, {.payload = "after", .dedup_key = "key-2"}).ok(), "enqueue");

  expect(e->snapshot().ok(), "second snapshot");
  for (auto& s : files(mem, as_fs, "snap-")) w.snapshots.push_back(std::move(s));
  e->close();
  w.segments = files(mem, as_fs, "wal-");
  return w;
}

// Enough payload to make the log roll into a second segment; a snapshot
// after most jobs were acked.
Written run_roll() {
  wal::MemFs mem("roll");
  BorrowedFs as_fs(mem);
  ManualClock clock(1'700'000'000'000'000'000ull);
  Written w;
  auto e = open_engine(mem, clock);
  const QueueId q = e->create_queue("bulk").value();
  const std::string payload(3 << 10, 'p');
  for (int i = 0; i < 24; ++i) expect(e->enqueue(q, {.payload = payload}).ok(), "enqueue");
  for (int i = 0; i < 21; ++i) expect(e->ack(q, e->reserve(q).value().lease()) == Code::ok, "ack");
  w.segments = files(mem, as_fs, "wal-");  // before the snapshot recycles the first
  if (w.segments.size() < 2) die("the log did not roll into a second segment");
  expect(e->snapshot().ok(), "snapshot");
  w.snapshots = files(mem, as_fs, "snap-");
  e->close();
  return w;
}

void add_segments(Corpus& c, const Written& every, const Written& roll) {
  // One segment: whole, fixed-checksum mode, and after a snapshot of half.
  const std::string& a = every.segments.front().second;
  if (every.segments.size() != 1) die("expected one segment from the first run");
  const std::uint64_t a_last = last_lsn(a);
  const std::string a_small = compact(a);
  c.add("segment", "every-whole", segment_input(0, 0, a_last, 0) + a);
  c.add("segment", "every", segment_input(0, 0, a_last, 0) + a_small);
  c.add("segment", "every-fix", segment_input(flag_fix, 0, a_last, 0) + a_small);
  c.add("segment", "every-covered", segment_input(0, 0, a_last, a_last / 2) + a_small);
  // Split in two at the middle group.
  const std::vector<Group> g = groups_of(a);
  const std::string first = rebuild_segment(a, g, 0, g.size() / 2);
  const std::string second = rebuild_segment(a, g, g.size() / 2, g.size());
  const auto cut = static_cast<std::uint32_t>(first.size());
  c.add("segment", "every-split",
        segment_input(flag_two_segments, cut, a_last, 0) + first + second);
  c.add("segment", "every-split-fix",
        segment_input(flag_two_segments | flag_fix, cut, a_last, 0) + first + second);

  // The pair a roll made: the first as written (full length), the second cut.
  const std::string& r1 = roll.segments[0].second;
  const std::string& r2 = roll.segments[1].second;
  const std::uint64_t r_last = last_lsn(r2);
  const std::string r2_small = compact(r2);
  c.add("segment", "roll-pair",
        segment_input(flag_two_segments, static_cast<std::uint32_t>(r1.size()), r_last, 0) + r1 +
            r2_small);
  const std::string r1_small = compact(r1);
  c.add("segment", "roll-pair-small",
        segment_input(flag_two_segments, static_cast<std::uint32_t>(r1_small.size()), r_last, 0) +
            r1_small + r2_small);
  // The newest alone, as after a snapshot that covered the first.
  c.add("segment", "roll-newest", segment_input(0, 0, r_last, last_lsn(r1)) + r2_small);
}

void add_records_and_snapshots(Corpus& c, const Written& every, const Written& roll) {
  std::set<std::uint16_t> types;
  int n = 0;
  for (const Written* w : {&every, &roll}) {
    const std::string run = w == &every ? "every" : "roll";
    for (const auto& [name, bytes] : w->segments) {
      add_records(c, run + "-log" + std::to_string(n++), bytes, false, &types);
    }
    for (const auto& [name, bytes] : w->snapshots) {
      const std::string origin = run + "-snap" + std::to_string(n++);
      add_records(c, origin, bytes, true, &types);
      c.add("snapshot", origin, std::string(1, '\0') + bytes);
      c.add("snapshot", origin + "-fix", std::string(1, '\1') + bytes);
    }
  }
  for (std::uint16_t t = 1; t <= 37; ++t) {
    if (wal::record_type_known(t) && types.count(t) == 0) {
      die(std::string("no record of type ") + wal::record_type_name(t) + " was written");
    }
  }
  // The header decoders and the name parsers, which fuzz_record also runs.
  const std::string& a = every.segments.front().second;
  const std::vector<Group> g = groups_of(a);
  c.add("record", "segment-header", std::string_view(a).substr(0, g[1].offset));
  c.add("record", "group-header", std::string_view(a).substr(g[0].offset, g[0].bytes));
  c.add("record", "name-segment", every.segments.front().first);
  c.add("record", "name-snapshot", every.snapshots.front().first);
}

}  // namespace
}  // namespace hotq::fuzz

int main(int argc, char** argv) {
  namespace fz = hotq::fuzz;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out_dir>\n", argv[0]);
    return 2;
  }
  fz::Corpus corpus(argv[1]);
  const fz::Written every = fz::run_every_operation();
  const fz::Written roll = fz::run_roll();
  fz::add_segments(corpus, every, roll);
  fz::add_records_and_snapshots(corpus, every, roll);
  corpus.summary();
  return 0;
}
