// wal/recovery.cc — see recovery.h; the decision table is in
// docs/wal-format.md "Recovery rules".
#include "wal/recovery.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "wal/group_check.h"

namespace hotq::wal {

const char* recovery_status_name(RecoveryStatus s) {
  switch (s) {
    case RecoveryStatus::ok: return "ok";
    case RecoveryStatus::io_error: return "io_error";
    case RecoveryStatus::corrupt: return "corrupt";
    case RecoveryStatus::apply_failed: return "apply_failed";
  }
  return "?";
}

namespace {

struct SegmentFile {
  std::string name;
  std::uint64_t first_lsn = 0;
};

std::string where(const Fs& fs, const std::string& name, std::uint64_t offset) {
  return fs.path() + "/" + name + " at offset " + std::to_string(offset);
}

}  // namespace

RecoveryStatus recover_log(Fs& fs, std::uint64_t covered_lsn, const ApplyFn& apply,
                           LogTail* tail, RecoveryReport* report, std::string* error) {
  *tail = LogTail{};
  *report = RecoveryReport{};
  auto io_fail = [&](int rc, const std::string& what) {
    *error = "wal recovery: " + what + ": " + std::strerror(rc);
    return RecoveryStatus::io_error;
  };

  std::vector<std::string> names;
  if (int rc = fs.list(&names); rc != 0) return io_fail(rc, "cannot list " + fs.path());
  std::vector<SegmentFile> segs;
  bool removed_tmp = false;
  for (const std::string& name : names) {
    std::uint64_t first = 0;
    if (parse_segment_name(name, &first)) {
      segs.push_back({name, first});
    } else if (name.starts_with("free-") && name.ends_with(".log")) {
      tail->free_segments.push_back(name);
    } else if (name.ends_with(".tmp")) {
      if (int rc = fs.remove(name); rc != 0) return io_fail(rc, "cannot remove " + name);
      report->notes.push_back("removed unfinished file " + name);
      removed_tmp = true;
    }
  }
  if (removed_tmp) {
    if (int rc = fs.sync_dir(); rc != 0) return io_fail(rc, "cannot fsync " + fs.path());
  }
  std::sort(segs.begin(), segs.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.first_lsn < b.first_lsn; });

  std::uint64_t expected = covered_lsn + 1;
  report->last_lsn = covered_lsn;
  tail->next_lsn = expected;
  if (segs.empty()) return RecoveryStatus::ok;

  // The first segment needed holds covered_lsn + 1; older ones are covered
  // by the snapshot (kept for the writer to recycle).
  std::size_t k = 0;
  while (k + 1 < segs.size() && segs[k + 1].first_lsn <= expected) ++k;
  if (segs[k].first_lsn > expected) {
    *error = "wal recovery: missing segment: the log resumes at LSN " +
             std::to_string(segs[k].first_lsn) + " (" + fs.path() + "/" + segs[k].name +
             ") but the snapshot covers only up to LSN " + std::to_string(covered_lsn);
    return RecoveryStatus::corrupt;
  }
  for (std::size_t i = 0; i < k; ++i) tail->segments.push_back(segs[i].name);
  expected = segs[k].first_lsn;  // records up to covered_lsn are read but skipped

  std::string seg;
  std::vector<GroupRecord> records;
  std::uint64_t end_offset = 0;  // where the previous segment's log ended
  for (std::size_t i = k; i < segs.size(); ++i) {
    const SegmentFile& sf = segs[i];
    const bool newest = i + 1 == segs.size();
    if (sf.first_lsn != expected) {
      *error = "wal recovery: LSN gap: " + fs.path() + "/" + segs[i - 1].name + " ends before LSN " +
               std::to_string(expected) + " but the next segment is " + sf.name +
               " (a segment is missing)";
      return RecoveryStatus::corrupt;
    }
    std::unique_ptr<File> file;
    if (int rc = fs.open(sf.name, OpenMode::existing, &file); rc != 0) {
      return io_fail(rc, "cannot open " + sf.name);
    }
    if (int rc = read_all(*file, &seg); rc != 0) return io_fail(rc, "cannot read " + sf.name);
    ++report->segments_read;

    SegmentHeader sh;
    if (seg.size() < segment_header_bytes || !decode_segment_header(seg.data(), &sh) ||
        sh.first_lsn != sf.first_lsn || sh.segment_bytes != seg.size()) {
      if (!newest) {
        *error = "wal recovery: bad segment header in " + where(fs, sf.name, 0);
        return RecoveryStatus::corrupt;
      }
      // Torn roll: renamed for reuse, its header never written — unless a
      // group of its own follows, which makes it a damaged header instead.
      // (The first group went out in the same write as the header, so it
      // alone may be intact from the torn write; a group after it may not.)
      std::uint64_t later_at = 0, later_lsn = 0;
      bool damaged = later_group(seg, segment_header_bytes - record_align_bytes, expected,
                                 &later_at, &later_lsn);
      if (damaged && later_at == segment_header_bytes) {
        GroupHeader first;
        decode_group_header(seg.data() + later_at, &first);
        damaged = later_group(seg, later_at + first.group_bytes - record_align_bytes,
                              later_lsn + first.record_count, &later_at, &later_lsn);
      }
      if (damaged) {
        *error = "wal recovery: bad segment header in " + where(fs, sf.name, 0) +
                 " although a valid group (LSN " + std::to_string(later_lsn) + ") is at offset " +
                 std::to_string(later_at);
        return RecoveryStatus::corrupt;
      }
      file.reset();
      const std::string back = "free-r" + std::to_string(sf.first_lsn) + ".log";
      if (int rc = fs.rename(sf.name, back); rc != 0) return io_fail(rc, "cannot rename " + sf.name);
      if (int rc = fs.sync_dir(); rc != 0) return io_fail(rc, "cannot fsync " + fs.path());
      tail->free_segments.push_back(back);
      report->notes.push_back("segment " + sf.name +
                              " was being started when the writer stopped: recycled");
      tail->write_offset = end_offset;
      break;
    }

    std::uint64_t off = segment_header_bytes;
    for (;;) {
      if (off + sentinel_bytes <= seg.size() && all_zero(seg.data() + off, sentinel_bytes)) break;
      std::uint64_t bytes = 0;
      std::string why;
      bool unknown_type = false;
      if (check_group(seg, off, expected, &records, &bytes, &why, &unknown_type)) {
        for (const GroupRecord& g : records) {
          const LogRecord r{static_cast<RecordType>(g.header.type), g.header.lsn, g.body};
          if (r.lsn <= covered_lsn) continue;
          std::string apply_error;
          if (!apply(r, &apply_error)) {
            *error = "wal recovery: record LSN " + std::to_string(r.lsn) + " (" +
                     record_type_name(static_cast<std::uint16_t>(r.type)) + ") in " +
                     where(fs, sf.name, off) + ": " + apply_error;
            return RecoveryStatus::apply_failed;
          }
          ++report->records_applied;
        }
        expected += records.size();
        off += bytes;
        continue;
      }
      if (unknown_type) {
        *error = "wal recovery: " + where(fs, sf.name, off) + ": " + why +
                 " (written by a newer version of hotq?)";
        return RecoveryStatus::corrupt;
      }
      if (!newest) {
        *error = "wal recovery: corrupt group in " + where(fs, sf.name, off) + ": " + why +
                 " (not the newest segment, so not a torn write)";
        return RecoveryStatus::corrupt;
      }
      std::uint64_t later_at = 0, later_lsn = 0;
      if (later_group(seg, off, expected, &later_at, &later_lsn)) {
        *error = "wal recovery: corrupt group in " + where(fs, sf.name, off) + ": " + why +
                 "; a valid group (LSN " + std::to_string(later_lsn) + ") follows at offset " +
                 std::to_string(later_at) + ", so this is damage, not a torn write";
        return RecoveryStatus::corrupt;
      }
      // Torn tail: zero from here to the end so no remnant is read again.
      const std::uint64_t n = seg.size() - off;
      std::string zeros(std::min<std::uint64_t>(n, 1u << 20), '\0');
      for (std::uint64_t at = off; at < seg.size(); at += zeros.size()) {
        iovec iov{zeros.data(), std::min<std::uint64_t>(zeros.size(), seg.size() - at)};
        if (int rc = file->write(at, {&iov, 1}); rc != 0) {
          return io_fail(rc, "cannot cut the torn tail of " + sf.name);
        }
      }
      if (int rc = file->sync(); rc != 0) return io_fail(rc, "cannot sync " + sf.name);
      report->torn_tail = true;
      report->torn_segment = sf.name;
      report->torn_offset = off;
      report->torn_bytes = n;
      report->notes.push_back("torn tail in " + where(fs, sf.name, off) + " (" + why +
                              "): cut, " + std::to_string(n) + " bytes zeroed");
      break;
    }
    // What was read may be only in the page cache (a process crash keeps
    // writes whose fdatasync never ran): it is reported durable from here
    // on, so it must be on disk before the log reopens.
    if (!report->torn_tail || report->torn_segment != sf.name) {
      if (int rc = file->sync(); rc != 0) return io_fail(rc, "cannot sync " + sf.name);
    }
    tail->segments.push_back(sf.name);
    end_offset = off;
    tail->write_offset = off;
  }
  if (expected <= covered_lsn) {
    // The log ends before the snapshot's LSN: its newest segment(s) are
    // gone (a log never recycles its newest segment). Going on would restart
    // the writer below the snapshot, and the next open would skip as covered
    // every record written meanwhile.
    *error = "wal recovery: the log ends at LSN " + std::to_string(expected - 1) + " (" + fs.path() +
             "/" + segs.back().name + ") but the snapshot covers up to LSN " +
             std::to_string(covered_lsn) + " (a newer segment is missing)";
    return RecoveryStatus::corrupt;
  }
  tail->next_lsn = expected;
  report->last_lsn = std::max(covered_lsn, expected - 1);
  return RecoveryStatus::ok;
}

RecoveryStatus read_log(Fs& fs, const std::vector<std::string>& segments, std::uint64_t after_lsn,
                        std::uint64_t through_lsn, const ApplyFn& apply,
                        std::uint64_t* records_applied, std::string* error) {
  *records_applied = 0;
  std::vector<SegmentFile> segs;
  for (const std::string& name : segments) {
    std::uint64_t first = 0;
    if (!parse_segment_name(name, &first)) {
      *error = "wal read: not a segment name: " + name;
      return RecoveryStatus::corrupt;
    }
    segs.push_back({name, first});
  }
  std::uint64_t expected = after_lsn + 1;
  if (expected > through_lsn) return RecoveryStatus::ok;
  // The first segment needed holds after_lsn + 1.
  std::size_t k = 0;
  while (k + 1 < segs.size() && segs[k + 1].first_lsn <= expected) ++k;
  if (segs.empty() || segs[k].first_lsn > expected) {
    *error = "wal read: no segment holds LSN " + std::to_string(expected) + " in " + fs.path();
    return RecoveryStatus::corrupt;
  }
  expected = segs[k].first_lsn;
  std::string seg;
  std::vector<GroupRecord> records;
  for (std::size_t i = k; i < segs.size() && expected <= through_lsn; ++i) {
    const SegmentFile& sf = segs[i];
    if (sf.first_lsn != expected) {
      *error = "wal read: LSN gap before " + fs.path() + "/" + sf.name + " (expected LSN " +
               std::to_string(expected) + ")";
      return RecoveryStatus::corrupt;
    }
    std::unique_ptr<File> file;
    if (int rc = fs.open(sf.name, OpenMode::existing, &file); rc != 0) {
      *error = "wal read: cannot open " + sf.name + ": " + std::strerror(rc);
      // A segment the log names but the directory lacks is a missing segment.
      if (rc == ENOENT) *error += " (a segment is missing)";
      return rc == ENOENT ? RecoveryStatus::corrupt : RecoveryStatus::io_error;
    }
    if (int rc = read_all(*file, &seg); rc != 0) {
      *error = "wal read: cannot read " + sf.name + ": " + std::strerror(rc);
      return RecoveryStatus::io_error;
    }
    SegmentHeader sh;
    if (seg.size() < segment_header_bytes || !decode_segment_header(seg.data(), &sh) ||
        sh.first_lsn != sf.first_lsn) {
      *error = "wal read: bad segment header in " + where(fs, sf.name, 0);
      return RecoveryStatus::corrupt;
    }
    std::uint64_t off = segment_header_bytes;
    while (expected <= through_lsn) {
      if (off + sentinel_bytes <= seg.size() && all_zero(seg.data() + off, sentinel_bytes)) break;
      std::uint64_t bytes = 0;
      std::string why;
      bool unknown_type = false;
      if (!check_group(seg, off, expected, &records, &bytes, &why, &unknown_type)) {
        *error = "wal read: bad group in " + where(fs, sf.name, off) + " before durable LSN " +
                 std::to_string(through_lsn) + ": " + why;
        return RecoveryStatus::corrupt;
      }
      for (const GroupRecord& g : records) {
        const LogRecord r{static_cast<RecordType>(g.header.type), g.header.lsn, g.body};
        if (r.lsn <= after_lsn || r.lsn > through_lsn) continue;
        std::string apply_error;
        if (!apply(r, &apply_error)) {
          *error = "wal read: record LSN " + std::to_string(r.lsn) + " (" +
                   record_type_name(static_cast<std::uint16_t>(r.type)) + ") in " +
                   where(fs, sf.name, off) + ": " + apply_error;
          return RecoveryStatus::apply_failed;
        }
        ++*records_applied;
      }
      expected += records.size();
      off += bytes;
    }
  }
  if (expected <= through_lsn) {
    *error = "wal read: the log in " + fs.path() + " ends at LSN " + std::to_string(expected - 1) +
             ", before durable LSN " + std::to_string(through_lsn);
    return RecoveryStatus::corrupt;
  }
  return RecoveryStatus::ok;
}

}  // namespace hotq::wal
