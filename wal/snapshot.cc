// wal/snapshot.cc — see snapshot.h and docs/wal-format.md "Snapshots".
#include "wal/snapshot.h"

#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

namespace hotq::wal {

namespace {

void encode_snapshot_header(std::uint64_t covered_lsn, std::uint64_t wall_ns,
                            char out[snapshot_header_bytes]) {
  std::memset(out, 0, snapshot_header_bytes);
  put_u32(out + 8, snapshot_magic);
  put_u16(out + 12, format_version);
  put_u64(out + 16, covered_lsn);
  put_u64(out + 24, wall_ns);
  put_u64(out, checksum(out + 8, snapshot_header_bytes - 8));
}

bool decode_snapshot_header(const char* in, std::uint64_t* covered_lsn, std::uint64_t* wall_ns) {
  if (get_u64(in) != checksum(in + 8, snapshot_header_bytes - 8)) return false;
  if (get_u32(in + 8) != snapshot_magic || get_u16(in + 12) != format_version ||
      get_u16(in + 14) != 0) {
    return false;
  }
  for (std::uint32_t i = 32; i < snapshot_header_bytes; ++i) {
    if (in[i] != 0) return false;
  }
  *covered_lsn = get_u64(in + 16);
  *wall_ns = get_u64(in + 24);
  return true;
}

// The chain of docs/wal-format.md: each record's bytes (padding included)
// hashed with the previous value as the seed.
std::uint64_t chain(std::uint64_t prev, const char* record, std::size_t bytes) {
  return XXH3_64bits_withSeed(record, bytes, prev);
}

}  // namespace

// ------------------------------------------------------------------ writer

SnapshotWriter::SnapshotWriter(Fs& fs, std::uint64_t covered_lsn)
    : fs_(fs), covered_lsn_(covered_lsn) {}

int SnapshotWriter::create(Fs& fs, std::uint64_t covered_lsn, std::uint64_t wall_ns,
                           std::unique_ptr<SnapshotWriter>* out) {
  std::unique_ptr<SnapshotWriter> w(new SnapshotWriter(fs, covered_lsn));
  const std::string final_name = snapshot_name(covered_lsn);
  w->tmp_name_ = final_name.substr(0, final_name.size() - 5) + ".tmp";
  int rc = fs.open(w->tmp_name_, OpenMode::create_new, &w->file_);
  if (rc == EEXIST) {  // left by a crash
    fs.remove(w->tmp_name_);
    rc = fs.open(w->tmp_name_, OpenMode::create_new, &w->file_);
  }
  if (rc != 0) return rc;
  w->buffer_.resize(snapshot_header_bytes);
  encode_snapshot_header(covered_lsn, wall_ns, w->buffer_.data());
  *out = std::move(w);
  return 0;
}

SnapshotWriter::~SnapshotWriter() {
  if (!finished_ && file_ != nullptr) {
    file_.reset();
    fs_.remove(tmp_name_);
  }
}

int SnapshotWriter::add(RecordType type, std::string_view head, std::string_view tail) {
  const std::size_t body = head.size() + tail.size();
  if (body > record_body_bytes_max) return EINVAL;
  const std::size_t at = buffer_.size();
  const std::size_t span = record_span_bytes(body);
  buffer_.resize(at + span);
  ++count_;
  encode_record(type, count_, head, tail, buffer_.data() + at);
  running_hash_ = chain(running_hash_, buffer_.data() + at, span);
  return buffer_.size() >= snapshot_write_bytes ? flush() : 0;
}

int SnapshotWriter::flush() {
  if (buffer_.empty()) return 0;
  iovec iov{buffer_.data(), buffer_.size()};
  const int rc = file_->write(offset_, {&iov, 1});
  if (rc != 0) return rc;
  offset_ += buffer_.size();
  buffer_.clear();
  return 0;
}

int SnapshotWriter::finish(std::string* error) {
  std::string end;
  BodyWriter(&end).u64(count_).u64(running_hash_);
  const std::size_t at = buffer_.size();
  buffer_.resize(at + record_span_bytes(end.size()));
  encode_record(RecordType::snapshot_end, count_ + 1, end, buffer_.data() + at);
  const std::string final_name = snapshot_name(covered_lsn_);
  auto failed = [&](int rc, const char* step) {
    *error = std::string("snapshot ") + fs_.path() + "/" + tmp_name_ + ": " + step + ": " +
             std::strerror(rc);
    return rc;
  };
  if (int rc = flush(); rc != 0) return failed(rc, "write");
  if (int rc = file_->sync(); rc != 0) return failed(rc, "fdatasync");
  file_.reset();
  if (int rc = fs_.rename(tmp_name_, final_name); rc != 0) return failed(rc, "rename");
  finished_ = true;
  if (int rc = fs_.sync_dir(); rc != 0) return failed(rc, "directory fsync");
  // Now current: older snapshots go (a failure here only leaves files).
  std::vector<std::string> names;
  if (fs_.list(&names) == 0) {
    bool removed = false;
    for (const std::string& name : names) {
      std::uint64_t lsn = 0;
      if (parse_snapshot_name(name, &lsn) && lsn < covered_lsn_) {
        removed |= fs_.remove(name) == 0;
      }
    }
    if (removed) fs_.sync_dir();
  }
  return 0;
}

// ------------------------------------------------------------------ reader

namespace {

// A snapshot file read front to back through a buffer of
// snapshot_read_bytes (grown only for a record larger than that), so that
// loading a snapshot of millions of jobs neither holds the whole file nor
// a list of all its records.
class SnapshotReader {
 public:
  SnapshotReader(File& f, std::uint64_t size, std::string& buf) : f_(f), size_(size), buf_(buf) {
    // A small file gets a small buffer (fill() grows it if the file lied).
    const auto step = static_cast<std::size_t>(std::min(size, snapshot_read_bytes));
    if (buf_.size() < step) buf_.resize(step);
  }

  // Makes at least `n` bytes from the current offset available at data()
  // (fewer only at the end of the file). 0 or an errno.
  int fill(std::uint64_t n) {
    if (end_ - begin_ >= n) return 0;
    const std::size_t have = end_ - begin_;
    if (begin_ != 0 && have != 0) std::memmove(buf_.data(), buf_.data() + begin_, have);
    begin_ = 0;
    end_ = have;
    if (n > buf_.size()) buf_.resize(static_cast<std::size_t>(n));
    while (end_ < n && read_at_ < size_) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size() - end_, size_ - read_at_));
      std::size_t got = 0;
      if (int rc = f_.read(read_at_, buf_.data() + end_, want, &got); rc != 0) return rc;
      if (got == 0) {
        size_ = read_at_;  // shorter than it said: its end is here
        break;
      }
      end_ += got;
      read_at_ += got;
    }
    return 0;
  }
  const char* data() const { return buf_.data() + begin_; }
  std::size_t available() const { return end_ - begin_; }
  // The file offset of data().
  std::uint64_t offset() const { return read_at_ - (end_ - begin_); }
  bool at_end() const { return read_at_ >= size_; }
  void consume(std::size_t n) { begin_ += n; }

 private:
  File& f_;
  std::uint64_t size_;
  std::string& buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes in buf_
  std::uint64_t read_at_ = 0;        // next file offset to read
};

enum class Walk : std::uint8_t { ok, damaged, io_error, stopped };

// Walks the snapshot in `f` (`size` bytes) and checks all of it: the header,
// every record (checksum, sequence), the end record's count and hash, and
// nothing after it. Each record before the end record goes to `each` (if
// set; a view valid during the call only); false from it stops the walk.
// *why says what is damaged; *io_errno the failed read.
Walk walk_snapshot(File& f, std::uint64_t size, std::string& buf,
                   const std::function<bool(const LogRecord&)>& each, std::uint64_t* covered_lsn,
                   std::uint64_t* wall_ns, std::uint64_t* records, std::string* why,
                   int* io_errno) {
  SnapshotReader in(f, size, buf);
  if ((*io_errno = in.fill(snapshot_header_bytes)) != 0) return Walk::io_error;
  if (in.available() < snapshot_header_bytes ||
      !decode_snapshot_header(in.data(), covered_lsn, wall_ns)) {
    *why = "bad header";
    return Walk::damaged;
  }
  in.consume(snapshot_header_bytes);
  std::uint64_t hash = 0;
  for (std::uint64_t n = 1;; ++n) {
    RecordHeader h;
    std::string_view body;
    RecordCheck c = RecordCheck::truncated;
    // Read until the record is whole or the file ends: first its header,
    // then the span its header gives (decode_record refuses a length above
    // record_body_bytes_max before saying truncated, so this is bounded).
    for (std::uint64_t want = record_header_bytes;;) {
      if ((*io_errno = in.fill(want)) != 0) return Walk::io_error;
      c = decode_record(in.data(), in.available(), &h, &body);
      if (c != RecordCheck::truncated || in.at_end()) break;
      want = in.available() < record_header_bytes
                 ? record_header_bytes
                 : record_span_bytes(get_u32(in.data() + 8));  // the header's body_bytes
    }
    if (c != RecordCheck::ok) {
      *why = std::string("record at offset ") + std::to_string(in.offset()) + ": " +
             record_check_name(c);
      return Walk::damaged;
    }
    if (h.lsn != n) {
      *why = "record at offset " + std::to_string(in.offset()) + " out of sequence";
      return Walk::damaged;
    }
    const std::uint64_t span = record_span_bytes(h.body_bytes);
    if (h.type == static_cast<std::uint16_t>(RecordType::snapshot_end)) {
      BodyReader r(body);
      const std::uint64_t count = r.u64();
      const std::uint64_t want = r.u64();
      if (!r.done() || count != n - 1 || want != hash) {
        *why = "end record does not match the records (count or hash)";
        return Walk::damaged;
      }
      in.consume(static_cast<std::size_t>(span));
      if ((*io_errno = in.fill(1)) != 0) return Walk::io_error;
      if (in.available() != 0) {
        *why = "bytes after the end record";
        return Walk::damaged;
      }
      *records = n - 1;
      return Walk::ok;
    }
    hash = chain(hash, in.data(), static_cast<std::size_t>(span));
    if (each && !each({static_cast<RecordType>(h.type), h.lsn, body})) return Walk::stopped;
    in.consume(static_cast<std::size_t>(span));
  }
}

}  // namespace

RecoveryStatus load_snapshot(Fs& fs, const ApplyFn& apply, SnapshotInfo* info,
                             std::vector<std::string>* notes, std::string* error) {
  *info = SnapshotInfo{};
  std::vector<std::string> names;
  if (int rc = fs.list(&names); rc != 0) {
    *error = "snapshot: cannot list " + fs.path() + ": " + std::strerror(rc);
    return RecoveryStatus::io_error;
  }
  std::vector<std::pair<std::uint64_t, std::string>> snaps;
  for (const std::string& name : names) {
    std::uint64_t lsn = 0;
    if (parse_snapshot_name(name, &lsn)) snaps.emplace_back(lsn, name);
  }
  std::sort(snaps.rbegin(), snaps.rend());  // newest first
  std::string buf;
  for (const auto& [lsn, name] : snaps) {
    const std::string path = fs.path() + "/" + name;
    std::unique_ptr<File> f;
    std::uint64_t size = 0;
    int rc = fs.open(name, OpenMode::existing, &f);
    if (rc == 0) rc = f->size(&size);
    if (rc != 0) {
      *error = "snapshot: cannot read " + path + ": " + std::strerror(rc);
      return RecoveryStatus::io_error;
    }
    // Two passes: the whole file is checked before its first record is
    // applied, so a damaged snapshot is skipped with nothing of it applied.
    std::uint64_t covered = 0, wall = 0, records = 0;
    std::string why;
    Walk w = walk_snapshot(*f, size, buf, {}, &covered, &wall, &records, &why, &rc);
    if (w == Walk::io_error) {
      *error = "snapshot: cannot read " + path + ": " + std::strerror(rc);
      return RecoveryStatus::io_error;
    }
    if (w != Walk::ok || covered != lsn) {
      if (why.empty()) why = "header LSN differs from the name";
      notes->push_back("snapshot " + name + " skipped: " + why);
      continue;
    }
    std::string apply_error;
    std::uint64_t failed_lsn = 0;
    RecordType failed_type = RecordType::snapshot_end;
    auto each = [&](const LogRecord& r) {
      if (apply(r, &apply_error)) return true;
      failed_lsn = r.lsn;
      failed_type = r.type;
      return false;
    };
    w = walk_snapshot(*f, size, buf, each, &covered, &wall, &records, &why, &rc);
    switch (w) {
      case Walk::ok:
        break;
      case Walk::stopped:
        *error = "snapshot " + path + " record " + std::to_string(failed_lsn) + " (" +
                 record_type_name(static_cast<std::uint16_t>(failed_type)) + "): " + apply_error;
        return RecoveryStatus::apply_failed;
      case Walk::io_error:
        *error = "snapshot: cannot read " + path + ": " + std::strerror(rc);
        return RecoveryStatus::io_error;
      case Walk::damaged:
        // It was whole a moment ago, and the directory is ours: the disk
        // returned different bytes the second time.
        *error = "snapshot " + path + " changed while it was read: " + why;
        return RecoveryStatus::corrupt;
    }
    info->name = name;
    info->covered_lsn = covered;
    info->wall_ns = wall;
    info->records = records;
    return RecoveryStatus::ok;
  }
  return RecoveryStatus::ok;
}

}  // namespace hotq::wal
