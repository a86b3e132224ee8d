// hotq-wal: inspects a hotq WAL directory without changing it (issue 8;
// docs/hotq-wal.md has every command, output format and exit status).
//
//   hotq-wal dump    [--json] [--snapshot] [--force] <dir>
//   hotq-wal verify  [--json] [--force] <dir>
//   hotq-wal stats   [--json] [--force] <dir>
//   hotq-wal jobs    [--json] [--state S] [--force] <dir> <queue>
//   hotq-wal salvage [--force] <dir> <outdir>
//
// The directory is opened O_RDONLY and every file in it too (tools/wal/
// inspect.h): no command writes to it, takes its lock, cuts a torn tail or
// removes a file. An engine that holds the directory is detected through
// /proc/locks; the tool then refuses (exit 6) unless --force is given.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "tools/wal/inspect.h"
#include "tools/wal/render.h"

namespace hotq::waltool {
namespace {

constexpr const char* kUsage =
    "usage: hotq-wal <command> [options] <dir> [args]\n"
    "\n"
    "  dump    [--json] [--snapshot] <dir>   every log record in LSN order (and the snapshot)\n"
    "  verify  [--json] <dir>                checksums, LSN continuity, snapshot/segment coverage\n"
    "  stats   [--json] <dir>                records per type, bytes, live jobs per queue and state\n"
    "  jobs    [--json] [--state S] <dir> <queue>\n"
    "                                        a queue's jobs (S: delayed, ready, leased or dead)\n"
    "  salvage <dir> <outdir>                copy what is valid up to the first damage into a\n"
    "                                        new directory\n"
    "\n"
    "options:\n"
    "  --json      one JSON object per line\n"
    "  --snapshot  dump: the snapshot's records too\n"
    "  --force     read a directory a running engine holds (its files may change meanwhile)\n"
    "  -h, --help  this text\n"
    "\n"
    "The directory is never modified. Exit status: 0 ok/clean, 1 corrupt, 2 usage, 3 torn tail\n"
    "(verify), 4 no such directory, 5 not a hotq WAL directory, 6 locked by a running engine,\n"
    "7 I/O error, 8 salvage output refused, 9 no such queue (docs/hotq-wal.md).\n";

struct Args {
  std::string command;
  std::vector<std::string> positional;
  bool json = false;
  bool snapshot = false;
  bool force = false;
  std::string state;  // jobs --state
};

int usage_error(const std::string& why) {
  std::fprintf(stderr, "hotq-wal: %s\n%s", why.c_str(), kUsage);
  return static_cast<int>(Exit::usage);
}

void out(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }
void line(const std::string& s) {
  out(s);
  std::fputc('\n', stdout);
}
void err(const std::string& s) { std::fprintf(stderr, "hotq-wal: %s\n", s.c_str()); }

// ------------------------------------------------------------------ opening

// Opens, recognises and lock-checks the directory; scans it with `hooks`.
// Exit::ok with *result filled, or the exit status (the message printed).
Exit open_and_scan(const Args& a, const std::string& dir, const ScanHooks& hooks,
                   std::unique_ptr<ReadOnlyFs>* fs, ScanResult* result) {
  if (int rc = ReadOnlyFs::open(dir, fs); rc != 0) {
    if (rc == ENOENT) {
      err(dir + ": no such directory");
      return Exit::missing;
    }
    if (rc == ENOTDIR) {
      err(dir + ": not a directory, so not a hotq WAL directory");
      return Exit::not_wal;
    }
    err("cannot open " + dir + ": " + std::strerror(rc));
    return Exit::io_error;
  }
  Listing listing;
  if (int rc = list_dir(**fs, &listing); rc != 0) {
    err("cannot list " + dir + ": " + std::strerror(rc));
    return Exit::io_error;
  }
  if (!listing.looks_like_wal()) {
    err(dir + " is not a hotq WAL directory: it holds no LOCK, wal-*.log, snap-*.snap, "
              "free-*.log or *.tmp file");
    return Exit::not_wal;
  }
  const LockProbe lock = probe_lock(**fs);
  if (lock.state == LockProbe::State::held) {
    const std::string who = "process " + std::to_string(lock.pid) + " holds " + dir + "/LOCK" +
                            (lock.detail.empty() ? "" : " (" + lock.detail + ")");
    if (!a.force) {
      err(dir + " is in use by a running engine: " + who +
          ". Its files change while it runs (a group being written reads as a torn tail). Stop "
          "the engine first, or pass --force to read them anyway.");
      return Exit::locked;
    }
    err("warning: " + dir + " is in use by a running engine (" + who +
        "): reading anyway (--force); what follows may be changing, and a torn tail may be a "
        "write in progress");
  } else if (lock.state == LockProbe::State::unknown) {
    err("warning: cannot tell whether an engine holds " + dir + " (" + lock.detail +
        "): reading anyway");
  }
  std::string error;
  if (scan(**fs, hooks, result, &error) != 0) {
    err(error);
    return Exit::io_error;
  }
  return Exit::ok;
}

// dump, stats and jobs: corrupt is 1; a torn tail is what any crash leaves
// and recovery repairs, so those commands say so and exit 0. verify has its
// own code for it.
int read_status(const ScanResult& r) {
  if (r.finding.condition == Condition::corrupt) {
    err("CORRUPT: " + r.finding.message);
    return static_cast<int>(Exit::corrupt);
  }
  if (r.finding.condition == Condition::torn) err("note: " + r.finding.message);
  return 0;
}

std::string finding_json(const ScanResult& r, const char* kind) {
  JsonLine j;
  j.str("kind", kind).str("condition", condition_name(r.finding.condition));
  if (r.finding.condition != Condition::clean) {
    j.str("file", r.finding.file).num("offset", r.finding.offset);
    if (r.finding.condition == Condition::torn) j.num("bytes", r.finding.bytes);
    j.str("message", r.finding.message);
  }
  return j.num("last_lsn", r.last_lsn).done();
}

std::string snapshot_line(const ScanResult& r) {
  if (r.snapshot.name.empty()) return "snapshot none";
  return "snapshot " + r.snapshot.name + ": covers LSN " + std::to_string(r.snapshot.covered_lsn) +
         ", " + std::to_string(r.snapshot.records) + " records, " +
         std::to_string(r.snapshot_file_bytes) + " bytes, taken " + format_time(r.snapshot.wall_ns);
}

std::string snapshot_json(const ScanResult& r) {
  JsonLine j;
  j.str("kind", "snapshot");
  if (r.snapshot.name.empty()) return j.flag("present", false).done();
  return j.flag("present", true)
      .str("file", r.snapshot.name)
      .num("covered_lsn", r.snapshot.covered_lsn)
      .num("records", r.snapshot.records)
      .num("bytes", r.snapshot_file_bytes)
      .num("wall_ns", r.snapshot.wall_ns)
      .done();
}

// ------------------------------------------------------------------ dump

int cmd_dump(const Args& a) {
  const std::string& dir = a.positional[0];
  std::vector<std::string> snapshot_lines;  // printed after the summary line
  ScanHooks hooks;
  if (a.snapshot) {
    hooks.snapshot_record = [&](const wal::LogRecord& rec) {
      const Fields f = describe(rec.type, rec.body, true);
      const char* type = wal::record_type_name(static_cast<std::uint16_t>(rec.type));
      if (a.json) {
        snapshot_lines.push_back(
            JsonLine().str("kind", "snapshot_record").num("index", rec.lsn).str("type", type).fields(f).done());
      } else {
        std::string s = "snapshot#" + std::to_string(rec.lsn) + " " + type;
        append_human(f, &s);
        snapshot_lines.push_back(std::move(s));
      }
    };
  }
  // Segments and records are printed as the scan reads them (a segment's
  // records are valid only during the callback).
  std::vector<std::string> pending;  // lines before the snapshot is known
  bool header_done = false;
  std::unique_ptr<ReadOnlyFs> fs;
  ScanResult r;
  hooks.segment = [&](const SegmentSummary& s) {
    if (a.json) {
      pending.push_back(JsonLine()
                            .str("kind", "segment")
                            .str("file", s.name)
                            .num("first_lsn", s.first_lsn)
                            .num("bytes", s.file_bytes)
                            .flag("read", s.read)
                            .flag("header_ok", s.read ? s.header_ok : true)
                            .done());
    } else {
      pending.push_back("segment " + s.name + ": first LSN " + std::to_string(s.first_lsn) + ", " +
                        std::to_string(s.file_bytes) + " bytes" +
                        (!s.read ? ", before the snapshot's LSN (not read)"
                                 : s.header_ok ? "" : ", BAD HEADER"));
    }
  };
  hooks.record = [&](const SegmentRecord& rec) {
    const Fields f = describe(rec.type, rec.body, false);
    const char* type = wal::record_type_name(static_cast<std::uint16_t>(rec.type));
    if (a.json) {
      pending.push_back(JsonLine()
                            .str("kind", "record")
                            .str("segment", *rec.segment)
                            .num("offset", rec.offset)
                            .num("group_offset", rec.group_offset)
                            .num("lsn", rec.lsn)
                            .str("type", type)
                            .num("bytes", rec.span_bytes)
                            .flag("covered", rec.covered)
                            .fields(f)
                            .done());
    } else {
      std::string s = *rec.segment + "@" + std::to_string(rec.offset) + " lsn=" + std::to_string(rec.lsn) +
                      " " + type + (rec.covered ? " (covered by the snapshot)" : "");
      append_human(f, &s);
      pending.push_back(std::move(s));
    }
    // Flushed in steps so a long log is not all held in memory.
    if (header_done && pending.size() >= 4096) {
      for (const std::string& l : pending) line(l);
      pending.clear();
    }
  };
  // The snapshot is loaded before any segment is read: its summary can be
  // printed at the first segment.
  auto wrapped_segment = hooks.segment;
  hooks.segment = [&](const SegmentSummary& s) {
    if (!header_done) {
      header_done = true;
      line(a.json ? snapshot_json(r) : snapshot_line(r));
      for (const std::string& l : snapshot_lines) line(l);
      snapshot_lines.clear();
    }
    wrapped_segment(s);
  };
  if (Exit e = open_and_scan(a, dir, hooks, &fs, &r); e != Exit::ok) return static_cast<int>(e);
  if (!header_done) {
    line(a.json ? snapshot_json(r) : snapshot_line(r));
    for (const std::string& l : snapshot_lines) line(l);
  }
  for (const std::string& l : pending) line(l);
  for (const std::string& n : r.notes) {
    line(a.json ? JsonLine().str("kind", "note").str("message", n).done() : "note: " + n);
  }
  if (a.json) {
    line(finding_json(r, "end"));
  } else if (r.finding.condition == Condition::clean) {
    line("end: clean, last LSN " + std::to_string(r.last_lsn));
  } else {
    line(std::string("end: ") + condition_name(r.finding.condition) + ": " + r.finding.message);
  }
  return read_status(r);
}

// ------------------------------------------------------------------ verify

int cmd_verify(const Args& a) {
  const std::string& dir = a.positional[0];
  std::unique_ptr<ReadOnlyFs> fs;
  ScanResult r;
  if (Exit e = open_and_scan(a, dir, ScanHooks{}, &fs, &r); e != Exit::ok) return static_cast<int>(e);
  std::uint64_t records = 0, read = 0;
  for (const auto& [type, t] : r.log_types) records += t.count;
  for (const SegmentSummary& s : r.segments) read += s.read ? 1 : 0;
  if (a.json) {
    JsonLine j;
    j.str("kind", "verify").str("dir", dir).str("condition", condition_name(r.finding.condition));
    if (r.finding.condition != Condition::clean) {
      j.str("file", r.finding.file).num("offset", r.finding.offset);
      if (r.finding.condition == Condition::torn) j.num("bytes", r.finding.bytes);
      j.str("message", r.finding.message);
    }
    j.str("snapshot", r.snapshot.name).num("covered_lsn", r.snapshot.covered_lsn);
    j.num("segments", r.segments.size()).num("segments_read", read);
    j.num("records", records).num("groups", r.log_groups).num("last_lsn", r.last_lsn);
    j.num("live_jobs", r.state.jobs.size()).num("queues", r.state.queues.size());
    std::string notes = "[";
    for (std::size_t i = 0; i < r.notes.size(); ++i) {
      if (i != 0) notes += ',';
      notes += json_string(r.notes[i]);
    }
    notes += ']';
    j.raw("notes", notes);
    line(j.done());
  } else {
    line("verify " + dir);
    line(r.snapshot.name.empty() ? std::string("  snapshot  none")
                                 : "  snapshot  " + r.snapshot.name + ": covers LSN " +
                                       std::to_string(r.snapshot.covered_lsn) + ", " +
                                       std::to_string(r.snapshot.records) + " records, checks ok");
    line("  segments  " + std::to_string(r.segments.size()) + " (" + std::to_string(read) + " read)");
    line("  log       " + std::to_string(records) + " records in " + std::to_string(r.log_groups) +
         " groups" +
         (r.first_lsn != 0 ? ", LSN " + std::to_string(r.first_lsn) + ".." + std::to_string(r.last_lsn)
                           : std::string()) +
         (r.finding.condition == Condition::clean ? ", checksums and LSNs ok" : ""));
    line("  replay    " + std::to_string(r.state.jobs.size()) + " live jobs in " +
         std::to_string(r.state.queues.size()) + " queue(s)" +
         (r.finding.condition == Condition::corrupt ? " (up to the damage)" : ""));
    for (const std::string& n : r.notes) line("  note      " + n);
    switch (r.finding.condition) {
      case Condition::clean:
        line("clean: last LSN " + std::to_string(r.last_lsn));
        break;
      case Condition::torn:
        line("TORN TAIL: " + r.finding.message);
        break;
      case Condition::corrupt:
        line("CORRUPT: " + r.finding.message);
        break;
    }
  }
  switch (r.finding.condition) {
    case Condition::clean: return static_cast<int>(Exit::ok);
    case Condition::torn: return static_cast<int>(Exit::torn);
    case Condition::corrupt: return static_cast<int>(Exit::corrupt);
  }
  return static_cast<int>(Exit::corrupt);
}

// ------------------------------------------------------------------ stats

struct StateCounts {
  std::uint64_t delayed = 0, ready = 0, leased = 0, dead = 0;
  std::uint64_t total() const { return delayed + ready + leased + dead; }
};

std::map<std::uint32_t, StateCounts> counts_by_queue(const engine::LogState& s) {
  std::map<std::uint32_t, StateCounts> c;
  for (const auto& [index, q] : s.queues) c[index];
  s.jobs.for_each([&](JobId, const engine::LogState::Job& j) {
    StateCounts& k = c[j.queue_index];
    switch (j.state) {
      case engine::RecordState::delayed: ++k.delayed; break;
      case engine::RecordState::ready: ++k.ready; break;
      case engine::RecordState::leased: ++k.leased; break;
      case engine::RecordState::dead: ++k.dead; break;
      case engine::RecordState::free: break;
    }
  });
  return c;
}

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

int cmd_stats(const Args& a) {
  const std::string& dir = a.positional[0];
  std::unique_ptr<ReadOnlyFs> fs;
  ScanResult r;
  if (Exit e = open_and_scan(a, dir, ScanHooks{}, &fs, &r); e != Exit::ok) return static_cast<int>(e);
  std::uint64_t seg_bytes = 0, records = 0, read = 0;
  for (const SegmentSummary& s : r.segments) {
    seg_bytes += s.file_bytes;
    read += s.read ? 1 : 0;
  }
  for (const auto& [type, t] : r.log_types) records += t.count;
  const auto counts = counts_by_queue(r.state);
  if (a.json) {
    JsonLine j;
    j.str("kind", "stats").str("dir", dir).str("condition", condition_name(r.finding.condition));
    j.str("snapshot", r.snapshot.name).num("covered_lsn", r.snapshot.covered_lsn);
    j.num("snapshot_records", r.snapshot.records).num("snapshot_bytes", r.snapshot_file_bytes);
    j.num("segments", r.segments.size()).num("segments_read", read).num("segment_bytes", seg_bytes);
    j.num("free_segments", r.listing.free.size());
    j.num("total_bytes", seg_bytes + r.snapshot_file_bytes);
    j.num("log_bytes", r.log_group_bytes).num("groups", r.log_groups).num("records", records);
    j.num("first_lsn", r.first_lsn).num("last_lsn", r.last_lsn);
    std::string types = "{";
    for (const auto& [type, t] : r.log_types) {
      if (types.size() > 1) types += ',';
      types += json_string(wal::record_type_name(type)) + ":" +
               JsonLine().num("count", t.count).num("bytes", t.bytes).done();
    }
    j.raw("types", types + "}");
    std::string snap_types = "{";
    for (const auto& [type, t] : r.snapshot_types) {
      if (snap_types.size() > 1) snap_types += ',';
      snap_types += json_string(wal::record_type_name(type)) + ":" +
                    JsonLine().num("count", t.count).num("bytes", t.bytes).done();
    }
    j.raw("snapshot_types", snap_types + "}");
    std::string queues = "[";
    for (const auto& [index, c] : counts) {
      const auto& q = r.state.queues.at(index);
      if (queues.size() > 1) queues += ',';
      queues += JsonLine()
                    .str("name", q.name)
                    .num("id", q.id)
                    .flag("paused", q.paused)
                    .num("delayed", c.delayed)
                    .num("ready", c.ready)
                    .num("leased", c.leased)
                    .num("dead", c.dead)
                    .num("total", c.total())
                    .done();
    }
    j.raw("queues", queues + "]");
    line(j.done());
    return read_status(r);
  }
  line("directory   " + dir);
  line(r.snapshot.name.empty() ? std::string("snapshot    none")
                               : "snapshot    " + r.snapshot.name + ": covers LSN " +
                                     std::to_string(r.snapshot.covered_lsn) + ", " +
                                     std::to_string(r.snapshot.records) + " records, " +
                                     std::to_string(r.snapshot_file_bytes) + " bytes");
  line("segments    " + std::to_string(r.segments.size()) + " (" + std::to_string(read) + " read), " +
       std::to_string(seg_bytes) + " bytes on disk; " + std::to_string(r.listing.free.size()) +
       " free for reuse");
  line("total       " + std::to_string(seg_bytes + r.snapshot_file_bytes) +
       " bytes (segments and snapshot)");
  line("log         " + std::to_string(records) + " records in " + std::to_string(r.log_groups) +
       " groups, " + std::to_string(r.log_group_bytes) + " bytes" +
       (r.first_lsn != 0 ? ", LSN " + std::to_string(r.first_lsn) + ".." + std::to_string(r.last_lsn)
                         : std::string()));
  line("condition   " + std::string(condition_name(r.finding.condition)));
  line("");
  line("records by type (log)");
  line("  " + pad("type", 16) + pad("count", 12) + "bytes");
  for (const auto& [type, t] : r.log_types) {
    line("  " + pad(wal::record_type_name(type), 16) + pad(std::to_string(t.count), 12) +
         std::to_string(t.bytes));
  }
  if (!r.snapshot_types.empty()) {
    line("records by type (snapshot)");
    for (const auto& [type, t] : r.snapshot_types) {
      line("  " + pad(wal::record_type_name(type), 16) + pad(std::to_string(t.count), 12) +
           std::to_string(t.bytes));
    }
  }
  line("");
  line("live jobs by queue and state (as recovery would rebuild them)");
  line("  " + pad("queue", 20) + pad("id", 12) + pad("paused", 8) + pad("delayed", 9) + pad("ready", 9) +
       pad("leased", 9) + pad("dead", 9) + "total");
  for (const auto& [index, c] : counts) {
    const auto& q = r.state.queues.at(index);
    line("  " + pad(q.name, 20) + pad(std::to_string(q.id), 12) + pad(q.paused ? "yes" : "no", 8) +
         pad(std::to_string(c.delayed), 9) + pad(std::to_string(c.ready), 9) +
         pad(std::to_string(c.leased), 9) + pad(std::to_string(c.dead), 9) + std::to_string(c.total()));
  }
  for (const std::string& n : r.notes) line("note: " + n);
  return read_status(r);
}

// ------------------------------------------------------------------ jobs

const char* state_word(engine::RecordState s) {
  switch (s) {
    case engine::RecordState::delayed: return "delayed";
    case engine::RecordState::ready: return "ready";
    case engine::RecordState::leased: return "leased";
    case engine::RecordState::dead: return "dead";
    case engine::RecordState::free: break;
  }
  return "free";
}

int cmd_jobs(const Args& a) {
  const std::string& dir = a.positional[0];
  const std::string& queue = a.positional[1];
  std::unique_ptr<ReadOnlyFs> fs;
  ScanResult r;
  if (Exit e = open_and_scan(a, dir, ScanHooks{}, &fs, &r); e != Exit::ok) return static_cast<int>(e);
  const engine::LogState::QueueState* q = nullptr;
  std::uint32_t index = 0;
  for (const auto& [i, qs] : r.state.queues) {
    if (qs.name == queue || std::to_string(qs.id) == queue) {
      q = &qs;
      index = i;
      break;
    }
  }
  if (q == nullptr) {
    const int status = read_status(r);
    std::string names;
    for (const auto& [i, qs] : r.state.queues) names += (names.empty() ? "" : ", ") + qs.name;
    err("no queue named " + queue + " in " + dir + " (queues: " + (names.empty() ? "none" : names) + ")");
    return status != 0 ? status : static_cast<int>(Exit::no_such_queue);
  }
  // Each state in the order it is served: ready by priority then ring
  // order, delayed and leased by when they fire, dead by id.
  std::vector<std::pair<JobId, const engine::LogState::Job*>> jobs;
  r.state.jobs.for_each([&](JobId id, const engine::LogState::Job& j) {
    if (j.queue_index != index) return;
    if (!a.state.empty() && a.state != state_word(j.state)) return;
    jobs.emplace_back(id, &j);
  });
  auto key = [](const std::pair<JobId, const engine::LogState::Job*>& p) {
    const engine::LogState::Job& j = *p.second;
    const std::uint64_t second = j.state == engine::RecordState::ready ? j.priority : 0;
    const std::uint64_t third = j.state == engine::RecordState::ready ? j.order
                                : j.state == engine::RecordState::dead ? 0
                                                                        : j.at_wall;
    return std::tuple(static_cast<int>(j.state), second, third, p.first);
  };
  std::sort(jobs.begin(), jobs.end(), [&](const auto& x, const auto& y) { return key(x) < key(y); });

  StateCounts c = counts_by_queue(r.state)[index];
  if (a.json) {
    line(JsonLine()
             .str("kind", "queue")
             .str("name", q->name)
             .num("id", q->id)
             .flag("paused", q->paused)
             .num("delayed", c.delayed)
             .num("ready", c.ready)
             .num("leased", c.leased)
             .num("dead", c.dead)
             .done());
  } else {
    line("queue " + q->name + " (id " + std::to_string(q->id) + (q->paused ? ", paused" : "") +
         "): " + std::to_string(c.delayed) + " delayed, " + std::to_string(c.ready) + " ready, " +
         std::to_string(c.leased) + " leased, " + std::to_string(c.dead) + " dead");
  }
  for (const auto& [id, jp] : jobs) {
    const engine::LogState::Job& j = *jp;
    Fields f;
    f.push_back(Field::number("job", id));
    f.push_back(Field::number("priority", j.priority));
    f.push_back(Field::number("attempts", j.attempts));
    f.push_back(Field::number("attempts_max", j.attempts_max));
    f.push_back(Field::when("enqueued", j.enqueued_wall));
    switch (j.state) {
      case engine::RecordState::delayed:
        f.push_back(Field::when("run_at", j.at_wall));
        break;
      case engine::RecordState::leased:
        f.push_back(Field::when("deadline", j.at_wall));
        break;
      case engine::RecordState::dead:
        f.push_back(Field::str("reason", dead_reason_name(j.reason)));
        f.push_back(Field::when("dead_at", j.at_wall));
        f.push_back(Field::str("error", j.error.view()));
        break;
      default:
        break;
    }
    f.push_back(Field::blob("payload", j.payload.view()));
    if (a.json) {
      line(JsonLine().str("kind", "job").str("queue", q->name).str("state", state_word(j.state)).fields(f).done());
    } else {
      std::string s = pad(state_word(j.state), 8);
      append_human(f, &s);
      line(s);
    }
  }
  return read_status(r);
}

// ------------------------------------------------------------------ salvage

int cmd_salvage(const Args& a) {
  const std::string& dir = a.positional[0];
  std::unique_ptr<ReadOnlyFs> fs;
  ScanResult r;
  if (Exit e = open_and_scan(a, dir, ScanHooks{}, &fs, &r); e != Exit::ok) return static_cast<int>(e);
  std::string report;
  const Exit e = salvage(*fs, r, a.positional[1], &report);
  if (e == Exit::ok) {
    out(report);
  } else {
    std::fputs(report.c_str(), stderr);
  }
  return static_cast<int>(e);
}

// ------------------------------------------------------------------ main

int run(int argc, char** argv) {
  Args a;
  if (argc < 2) return usage_error("no command");
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a.command.empty() && !arg.starts_with("-")) {
      a.command = arg;
    } else if (arg == "--json") {
      a.json = true;
    } else if (arg == "--snapshot") {
      a.snapshot = true;
    } else if (arg == "--force") {
      a.force = true;
    } else if (arg == "--state" || arg.starts_with("--state=")) {
      if (arg == "--state") {
        if (i + 1 >= argc) return usage_error("--state needs a value");
        a.state = argv[++i];
      } else {
        a.state = arg.substr(8);
      }
      if (a.state != "delayed" && a.state != "ready" && a.state != "leased" && a.state != "dead") {
        return usage_error("--state takes delayed, ready, leased or dead, not '" + a.state + "'");
      }
    } else if (arg == "--") {
      for (++i; i < argc; ++i) a.positional.emplace_back(argv[i]);
    } else if (arg.starts_with("-") && arg.size() > 1) {
      return usage_error("unknown option " + arg);
    } else {
      a.positional.push_back(arg);
    }
  }
  if (a.command.empty()) return usage_error("no command");
  struct Command {
    const char* name;
    std::size_t args;
    int (*fn)(const Args&);
    bool json, state, snapshot;
  };
  static const Command commands[] = {
      {"dump", 1, cmd_dump, true, false, true},       {"verify", 1, cmd_verify, true, false, false},
      {"stats", 1, cmd_stats, true, false, false},    {"jobs", 2, cmd_jobs, true, true, false},
      {"salvage", 2, cmd_salvage, false, false, false},
  };
  for (const Command& c : commands) {
    if (a.command != c.name) continue;
    if (a.positional.size() != c.args) {
      return usage_error(a.command + " takes " +
                         (c.args == 1 ? std::string("<dir>")
                                      : a.command == "jobs" ? "<dir> <queue>" : "<dir> <outdir>") +
                         (a.positional.empty() ? ", none given" : ""));
    }
    if (a.json && !c.json) return usage_error(a.command + " has no --json");
    if (!a.state.empty() && !c.state) return usage_error("--state is for jobs");
    if (a.snapshot && !c.snapshot) return usage_error("--snapshot is for dump");
    return c.fn(a);
  }
  return usage_error("unknown command '" + a.command + "'");
}

}  // namespace
}  // namespace hotq::waltool

int main(int argc, char** argv) {
  const int status = hotq::waltool::run(argc, argv);
  if (std::fflush(stdout) != 0 && status == 0) return static_cast<int>(hotq::waltool::Exit::io_error);
  return status;
}
