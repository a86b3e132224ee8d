// tools/wal/inspect.cc — see inspect.h. The scan follows wal/recovery.cc's
// recover_log row by row (docs/wal-format.md, "Recovery rules"); where that
// repairs, this one reports.
#include "tools/wal/inspect.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "wal/group_check.h"

namespace hotq::waltool {

// ------------------------------------------------------------------ ReadOnlyFs

namespace {

bool valid_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.size() <= 255 &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

class ReadOnlyFile final : public wal::File {
 public:
  explicit ReadOnlyFile(int fd) : fd_(fd) {}
  ~ReadOnlyFile() override { ::close(fd_); }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  int write_sync(std::uint64_t, std::span<const iovec>) override { return EROFS; }
  int write(std::uint64_t, std::span<const iovec>) override { return EROFS; }
  int sync() override { return EROFS; }
  int truncate(std::uint64_t) override { return EROFS; }

  int read(std::uint64_t offset, void* buf, std::size_t n, std::size_t* got) override {
    std::size_t done = 0;
    char* p = static_cast<char*>(buf);
    while (done < n) {
      const ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (r == 0) break;  // end of file
      done += static_cast<std::size_t>(r);
    }
    *got = done;
    return 0;
  }

  int size(std::uint64_t* bytes) override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno;
    *bytes = static_cast<std::uint64_t>(st.st_size);
    return 0;
  }

 private:
  int fd_;
};

}  // namespace

int ReadOnlyFs::open(const std::string& dir, std::unique_ptr<ReadOnlyFs>* out) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  std::string path = dir;  // for messages: "<dir>/<file>" without a doubled slash
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  out->reset(new ReadOnlyFs(std::move(path), fd));
  return 0;
}

ReadOnlyFs::~ReadOnlyFs() { ::close(fd_); }

int ReadOnlyFs::open(std::string_view name, wal::OpenMode mode, std::unique_ptr<wal::File>* out) {
  if (mode != wal::OpenMode::existing) return EROFS;
  if (!valid_name(name)) return name.size() > 255 ? ENAMETOOLONG : EINVAL;
  const std::string n(name);
  // O_NOATIME: not even the access time changes where we may ask for it
  // (the owner's files); elsewhere EPERM, and a plain open.
  int fd = ::openat(fd_, n.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = ::openat(fd_, n.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno;
  *out = std::make_unique<ReadOnlyFile>(fd);
  return 0;
}

int ReadOnlyFs::list(std::vector<std::string>* names) {
  names->clear();
  const int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    struct stat st {};
    if (::fstatat(fd_, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
      names->emplace_back(e->d_name);
    }
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  return err;
}

int ReadOnlyFs::rename(std::string_view, std::string_view) { return EROFS; }
int ReadOnlyFs::remove(std::string_view) { return EROFS; }
int ReadOnlyFs::sync_dir() { return EROFS; }

// ------------------------------------------------------------------ lock

LockProbe probe_lock(const ReadOnlyFs& fs) {
  LockProbe p;
  struct stat st {};
  if (::fstatat(fs.dir_fd(), "LOCK", &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) {
      p.state = LockProbe::State::unknown;
      p.detail = std::string("cannot stat LOCK: ") + std::strerror(errno);
    }
    return p;  // no LOCK file: no engine has it open
  }
  std::ifstream locks("/proc/locks");
  if (!locks) {
    p.state = LockProbe::State::unknown;
    p.detail = "cannot read /proc/locks";
    return p;
  }
  // "1: FLOCK  ADVISORY  WRITE 4242 fe:00:10953230 0 EOF" (a waiter's line
  // has "->" after the number). Device numbers are hex, the inode decimal.
  char dev[32];
  std::snprintf(dev, sizeof dev, "%02x:%02x:", major(st.st_dev), minor(st.st_dev));
  const std::string inode = std::to_string(st.st_ino);
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream in(line);
    std::string number, kind, advisory, mode, pid, where;
    in >> number >> kind;
    if (kind == "->") continue;  // waiting, not holding
    in >> advisory >> mode >> pid >> where;
    if (kind != "FLOCK") continue;
    const std::size_t colon = where.rfind(':');
    if (colon == std::string::npos || where.substr(colon + 1) != inode) continue;
    // The inode matches. The device must too, except where a layered file
    // system (overlayfs) shows stat another device than /proc/locks: an
    // inode match alone is then taken as held (a false "held" only makes the
    // tool refuse without --force; a missed lock would be worse).
    p.state = LockProbe::State::held;
    p.pid = std::strtol(pid.c_str(), nullptr, 10);
    if (where.compare(0, colon + 1, dev) == 0) {
      p.detail.clear();
      return p;
    }
    p.detail = "the flock listed is on inode " + inode + " of device " + where.substr(0, colon);
  }
  return p;
}

// ------------------------------------------------------------------ listing

int list_dir(wal::Fs& fs, Listing* out) {
  *out = Listing{};
  std::vector<std::string> names;
  if (int rc = fs.list(&names); rc != 0) return rc;
  for (const std::string& name : names) {
    std::uint64_t lsn = 0;
    if (wal::parse_segment_name(name, &lsn)) {
      out->segments.push_back({name, lsn});
    } else if (wal::parse_snapshot_name(name, &lsn)) {
      out->snapshots.push_back({name, lsn});
    } else if (name.starts_with("free-") && name.ends_with(".log")) {
      out->free.push_back(name);
    } else if (name.ends_with(".tmp")) {
      out->tmp.push_back(name);
    } else if (name == "LOCK") {
      out->lock_file = true;
    } else {
      out->other.push_back(name);
    }
  }
  auto by_lsn = [](const NamedLsn& a, const NamedLsn& b) { return a.lsn < b.lsn; };
  std::sort(out->segments.begin(), out->segments.end(), by_lsn);
  std::sort(out->snapshots.begin(), out->snapshots.end(), by_lsn);
  std::sort(out->free.begin(), out->free.end());
  std::sort(out->tmp.begin(), out->tmp.end());
  std::sort(out->other.begin(), out->other.end());
  return 0;
}

const char* condition_name(Condition c) {
  switch (c) {
    case Condition::clean: return "clean";
    case Condition::torn: return "torn";
    case Condition::corrupt: return "corrupt";
  }
  return "?";
}

// ------------------------------------------------------------------ scan

namespace {

// A record of a checked group (wal/group_check.h, shared with recovery).
using RawRecord = wal::GroupRecord;
using wal::all_zero;
using wal::check_group;
using wal::later_group;

int read_file(wal::Fs& fs, const std::string& name, std::string* out) {
  std::unique_ptr<wal::File> f;
  if (int rc = fs.open(name, wal::OpenMode::existing, &f); rc != 0) return rc;
  return wal::read_all(*f, out);
}

class Scanner {
 public:
  Scanner(ReadOnlyFs& fs, const ScanHooks* hooks, const Cut* stop, ScanResult* r)
      : fs_(fs), hooks_(hooks), stop_(stop), r_(r) {}

  int run(std::string* io_error) {
    if (int rc = list_dir(fs_, &r_->listing); rc != 0) {
      *io_error = "cannot list " + fs_.path() + ": " + std::strerror(rc);
      return rc;
    }
    note_files();
    if (!load_snapshot(io_error)) return EIO;
    if (!r_->snapshot_usable) return 0;  // recovery stops there; nothing more to replay
    return scan_log(io_error);
  }

 private:
  std::string where(const std::string& name) const { return fs_.path() + "/" + name; }

  void find(Condition c, const std::string& file, std::uint64_t offset, std::uint64_t bytes,
            std::string message) {
    // The worst finding counts, the first of them: a torn tail followed by
    // a log that ends below the snapshot is refused, not cut.
    const Condition now = r_->finding.condition;
    if (now == Condition::corrupt || (now == Condition::torn && c != Condition::corrupt)) return;
    r_->finding = Finding{c, file, offset, bytes, std::move(message)};
  }

  void note_files() {
    const Listing& l = r_->listing;
    for (const std::string& n : l.tmp) {
      r_->notes.push_back("unfinished file " + n + ": recovery would remove it");
    }
    if (!l.free.empty()) {
      r_->notes.push_back(std::to_string(l.free.size()) +
                          " recycled segment(s) (free-*.log) kept for reuse, not read");
    }
    for (const std::string& n : l.other) {
      r_->notes.push_back("file " + n + " is not a hotq file: ignored");
    }
  }

  bool load_snapshot(std::string* io_error) {
    std::string error;
    const wal::RecoveryStatus st = wal::load_snapshot(
        fs_,
        [&](const wal::LogRecord& rec, std::string* e) {
          if (hooks_ != nullptr && hooks_->snapshot_record) hooks_->snapshot_record(rec);
          TypeCount& t = r_->snapshot_types[static_cast<std::uint16_t>(rec.type)];
          ++t.count;
          t.bytes += wal::record_span_bytes(rec.body.size());
          return r_->state.apply_snapshot(rec, e);
        },
        &r_->snapshot, &r_->snapshot_notes, &error);
    r_->state.end_snapshot();
    if (st == wal::RecoveryStatus::io_error) {
      *io_error = error;
      return false;
    }
    for (const std::string& n : r_->snapshot_notes) r_->notes.push_back(n + " (recovery skips it)");
    if (st != wal::RecoveryStatus::ok) {
      // Intact but not replayable: recovery refuses to open (apply_failed).
      r_->snapshot_usable = false;
      find(Condition::corrupt, "", 0, 0, error + " (recovery refuses to open)");
      return true;
    }
    if (!r_->snapshot.name.empty()) {
      struct stat st_file {};
      if (::fstatat(fs_.dir_fd(), r_->snapshot.name.c_str(), &st_file, AT_SYMLINK_NOFOLLOW) == 0) {
        r_->snapshot_file_bytes = static_cast<std::uint64_t>(st_file.st_size);
      }
    }
    return true;
  }

  bool stop_before(std::size_t seg, std::uint64_t offset) const {
    return stop_ != nullptr &&
           (seg > stop_->cut_segment || (seg == stop_->cut_segment && offset >= stop_->cut_offset));
  }

  int scan_log(std::string* io_error) {
    const std::vector<NamedLsn>& segs = r_->listing.segments;
    for (const NamedLsn& s : segs) {
      SegmentSummary sum;
      sum.name = s.name;
      sum.first_lsn = s.lsn;
      struct stat st {};
      if (::fstatat(fs_.dir_fd(), s.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        sum.file_bytes = static_cast<std::uint64_t>(st.st_size);
      }
      r_->segments.push_back(sum);
    }
    const std::uint64_t covered = r_->snapshot.covered_lsn;
    std::uint64_t expected = covered + 1;
    r_->last_lsn = covered;
    r_->cut = Cut{0, segs.size(), 0, covered};
    if (segs.empty()) return 0;

    // The first segment needed holds covered + 1; older ones are covered.
    std::size_t k = 0;
    while (k + 1 < segs.size() && segs[k + 1].lsn <= expected) ++k;
    r_->cut.first_kept = k;
    if (k > 0) {
      r_->notes.push_back(std::to_string(k) +
                          " segment(s) before the snapshot's LSN: covered, not read");
    }
    if (hooks_ != nullptr && hooks_->segment) {
      for (std::size_t i = 0; i < k; ++i) hooks_->segment(r_->segments[i]);
    }
    if (segs[k].lsn > expected) {
      find(Condition::corrupt, segs[k].name, 0, 0,
           where(segs[k].name) + ": missing segment: the log resumes at LSN " +
               std::to_string(segs[k].lsn) + " but " +
               (covered == 0 ? std::string("there is no snapshot")
                             : "the snapshot covers only up to LSN " + std::to_string(covered)) +
               " (recovery refuses to open)");
      r_->cut.cut_segment = k;
      r_->cut.kept_last_lsn = covered;
      return 0;
    }
    expected = segs[k].lsn;  // records up to `covered` are read but skipped

    std::string seg;
    std::vector<RawRecord> records;
    for (std::size_t i = k; i < segs.size(); ++i) {
      const NamedLsn& sf = segs[i];
      SegmentSummary& sum = r_->segments[i];
      const bool newest = i + 1 == segs.size();
      if (stop_before(i, wal::segment_header_bytes)) break;
      if (sf.lsn != expected) {
        find(Condition::corrupt, sf.name, 0, 0,
             where(sf.name) + ": LSN gap: " + segs[i - 1].name + " ends before LSN " +
                 std::to_string(expected) + " but the next segment is " + sf.name +
                 " (a segment is missing; recovery refuses to open)");
        r_->cut.cut_segment = i;
        r_->cut.kept_last_lsn = expected - 1;
        return 0;
      }
      if (int rc = read_file(fs_, sf.name, &seg); rc != 0) {
        *io_error = "cannot read " + where(sf.name) + ": " + std::strerror(rc);
        return rc;
      }
      sum.read = true;
      sum.file_bytes = seg.size();
      wal::SegmentHeader sh;
      sum.header_ok = seg.size() >= wal::segment_header_bytes &&
                      wal::decode_segment_header(seg.data(), &sh) && sh.first_lsn == sf.lsn &&
                      sh.segment_bytes == seg.size();
      if (sum.header_ok) sum.wall_minus_clock_ns = sh.wall_minus_clock_ns;
      if (hooks_ != nullptr && hooks_->segment) hooks_->segment(sum);
      if (!sum.header_ok) {
        bad_header(seg, i, newest, expected);
        return 0;
      }
      std::uint64_t off = wal::segment_header_bytes;
      bool stopped = false;
      for (;;) {
        if (stop_before(i, off)) {
          stopped = true;
          break;
        }
        if (off + wal::sentinel_bytes <= seg.size() && all_zero(seg.data() + off, wal::sentinel_bytes)) {
          break;  // the end of the log in this segment
        }
        std::uint64_t bytes = 0;
        std::string why;
        bool unknown_type = false;
        if (check_group(seg, off, expected, &records, &bytes, &why, &unknown_type)) {
          if (!take_group(sf.name, i, off, bytes, records, covered)) return 0;
          expected += records.size();
          off += bytes;
          sum.end_offset = off;
          continue;
        }
        bad_group(seg, i, off, newest, expected, why, unknown_type);
        sum.end_offset = off;
        return finish_log(expected, covered);
      }
      sum.end_offset = off;
      if (stopped) break;
    }
    return finish_log(expected, covered);
  }

  // A segment whose header is bad (recovery.cc's torn-roll rows).
  void bad_header(const std::string& seg, std::size_t i, bool newest, std::uint64_t expected) {
    const std::string& name = r_->listing.segments[i].name;
    r_->cut.cut_segment = i;
    r_->cut.cut_offset = 0;
    r_->cut.kept_last_lsn = expected - 1;
    if (!newest) {
      find(Condition::corrupt, name, 0, 0,
           where(name) + " at offset 0: bad segment header (not the newest segment; recovery "
               "refuses to open)");
      return;
    }
    std::uint64_t later_at = 0, later_lsn = 0;
    bool damaged = later_group(seg, wal::segment_header_bytes - wal::record_align_bytes, expected,
                               &later_at, &later_lsn);
    if (damaged && later_at == wal::segment_header_bytes) {
      // The first group went out in the same write as the header: it alone
      // may be intact from the torn write.
      wal::GroupHeader first;
      wal::decode_group_header(seg.data() + later_at, &first);
      damaged = later_group(seg, later_at + first.group_bytes - wal::record_align_bytes,
                            later_lsn + first.record_count, &later_at, &later_lsn);
    }
    if (damaged) {
      find(Condition::corrupt, name, 0, 0,
           where(name) + " at offset 0: bad segment header although a valid group (LSN " +
               std::to_string(later_lsn) + ") is at offset " + std::to_string(later_at) +
               " (recovery refuses to open)");
      return;
    }
    find(Condition::torn, name, 0, seg.size(),
         where(name) +
             ": torn roll: the segment was being started when the writer stopped (no valid "
             "header); recovery recycles it (renames it free-r" + std::to_string(r_->listing.segments[i].lsn) + ".log)");
    finish_log(expected, r_->snapshot.covered_lsn);
  }

  void bad_group(const std::string& seg, std::size_t i, std::uint64_t off, bool newest,
                 std::uint64_t expected, const std::string& why, bool unknown_type) {
    const std::string& name = r_->listing.segments[i].name;
    r_->cut.cut_segment = i;
    r_->cut.cut_offset = off;
    r_->cut.kept_last_lsn = expected - 1;
    const std::string at = where(name) + " at offset " + std::to_string(off);
    if (unknown_type) {
      find(Condition::corrupt, name, off, 0,
           at + ": " + why + " (an unknown record type: written by a newer version of hotq?)");
      return;
    }
    if (!newest) {
      find(Condition::corrupt, name, off, 0,
           at + ": corrupt group: " + why +
               " (not the newest segment, so not a torn write; recovery refuses to open)");
      return;
    }
    std::uint64_t later_at = 0, later_lsn = 0;
    if (later_group(seg, off, expected, &later_at, &later_lsn)) {
      find(Condition::corrupt, name, off, 0,
           at + ": corrupt group: " + why + "; a valid group (LSN " +
               std::to_string(later_lsn) + ") follows at offset " + std::to_string(later_at) +
               ", so this is damage, not a torn write (recovery refuses to open)");
      return;
    }
    const std::uint64_t n = seg.size() - off;
    find(Condition::torn, name, off, n,
         at + ": torn tail: " + why + "; recovery would cut it, zeroing " + std::to_string(n) +
             " bytes");
  }

  // Hands a valid group's records to the hooks, counts and replays them.
  // False when a record does not fit the state (the scan stops there).
  bool take_group(const std::string& name, std::size_t i, std::uint64_t off, std::uint64_t bytes,
                  const std::vector<RawRecord>& records, std::uint64_t covered) {
    SegmentSummary& sum = r_->segments[i];
    ++sum.groups;
    ++r_->log_groups;
    r_->log_group_bytes += bytes;
    for (const RawRecord& raw : records) {
      SegmentRecord rec;
      rec.segment = &sum.name;
      rec.group_offset = off;
      rec.offset = raw.offset;
      rec.span_bytes = raw.span;
      rec.type = static_cast<wal::RecordType>(raw.header.type);
      rec.lsn = raw.header.lsn;
      rec.body = raw.body;
      rec.covered = rec.lsn <= covered;
      if (hooks_ != nullptr && hooks_->record) hooks_->record(rec);
      TypeCount& t = r_->log_types[raw.header.type];
      ++t.count;
      t.bytes += raw.span;
      ++sum.records;
      sum.last_lsn = rec.lsn;
      if (r_->first_lsn == 0) r_->first_lsn = rec.lsn;
      if (rec.covered) continue;
      std::string error;
      if (!r_->state.apply(wal::LogRecord{rec.type, rec.lsn, rec.body}, &error)) {
        r_->replay_failed = true;
        r_->cut.cut_segment = i;
        r_->cut.cut_offset = off;
        r_->cut.kept_last_lsn = records.front().header.lsn - 1;
        find(Condition::corrupt, name, off, 0,
             where(name) + " at offset " + std::to_string(off) + ": record LSN " +
                 std::to_string(rec.lsn) + " (" + wal::record_type_name(raw.header.type) +
                 ") at offset " + std::to_string(raw.offset) +
                 " is intact but does not fit the state: " + error + " (recovery refuses to open)");
        return false;
      }
      r_->last_lsn = std::max(r_->last_lsn, rec.lsn);
    }
    return true;
  }

  int finish_log(std::uint64_t expected, std::uint64_t covered) {
    r_->last_lsn = std::max(covered, expected - 1);
    if (r_->finding.condition == Condition::clean) r_->cut.kept_last_lsn = expected - 1;
    if (expected <= covered && !r_->listing.segments.empty()) {
      find(Condition::corrupt, r_->listing.segments.back().name, 0, 0,
           where(r_->listing.segments.back().name) + ": the log ends at LSN " +
               std::to_string(expected - 1) + " but the snapshot covers up to LSN " +
               std::to_string(covered) + " (a newer segment is missing; recovery refuses to open)");
    }
    return 0;
  }

  ReadOnlyFs& fs_;
  const ScanHooks* hooks_;
  const Cut* stop_;
  ScanResult* r_;
};

}  // namespace

int scan(ReadOnlyFs& fs, const ScanHooks& hooks, ScanResult* result, std::string* io_error) {
  *result = ScanResult{};
  if (int rc = Scanner(fs, &hooks, nullptr, result).run(io_error); rc != 0) return rc;
  if (!result->replay_failed) return 0;
  // The state stopped in the middle of a group: build it again from the
  // start, up to the group that did not fit (LogState::apply cannot undo).
  ScanResult again;
  const Cut stop = result->cut;
  if (int rc = Scanner(fs, nullptr, &stop, &again).run(io_error); rc != 0) return rc;
  result->state = std::move(again.state);
  return 0;
}

}  // namespace hotq::waltool
