// wal/snapshot.cc — see snapshot.h and docs/wal-format.md "Snapshots".
#include "wal/snapshot.h"

#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

// Checks a whole snapshot file; on success fills *records (views into data).
bool check_snapshot(const std::string& data, std::uint64_t* covered_lsn, std::uint64_t* wall_ns,
                    std::vector<LogRecord>* records, std::string* why) {
  records->clear();
  if (data.size() < snapshot_header_bytes || !decode_snapshot_header(data.data(), covered_lsn, wall_ns)) {
    *why = "bad header";
    return false;
  }
  std::uint64_t at = snapshot_header_bytes;
  std::uint64_t hash = 0;
  for (std::uint64_t n = 1;; ++n) {
    RecordHeader h;
    std::string_view body;
    const RecordCheck c = decode_record(data.data() + at, data.size() - at, &h, &body);
    if (c != RecordCheck::ok) {
      *why = std::string("record at offset ") + std::to_string(at) + ": " + record_check_name(c);
      return false;
    }
    if (h.lsn != n) {
      *why = "record at offset " + std::to_string(at) + " out of sequence";
      return false;
    }
    const std::uint64_t span = record_span_bytes(h.body_bytes);
    if (h.type == static_cast<std::uint16_t>(RecordType::snapshot_end)) {
      BodyReader r(body);
      const std::uint64_t count = r.u64();
      const std::uint64_t want = r.u64();
      if (!r.done() || count != n - 1 || want != hash) {
        *why = "end record does not match the records (count or hash)";
        return false;
      }
      if (at + span != data.size()) {
        *why = "bytes after the end record";
        return false;
      }
      return true;
    }
    hash = chain(hash, data.data() + at, span);
    records->push_back({static_cast<RecordType>(h.type), h.lsn, body});
    at += span;
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
  std::string data;
  std::vector<LogRecord> records;
  for (const auto& [lsn, name] : snaps) {
    std::unique_ptr<File> f;
    std::uint64_t size = 0;
    std::size_t got = 0;
    int rc = fs.open(name, OpenMode::existing, &f);
    if (rc == 0) rc = f->size(&size);
    if (rc == 0) {
      data.resize(size);
      rc = f->read(0, data.data(), size, &got);
      data.resize(got);
    }
    if (rc != 0) {
      *error = "snapshot: cannot read " + fs.path() + "/" + name + ": " + std::strerror(rc);
      return RecoveryStatus::io_error;
    }
    std::uint64_t covered = 0, wall = 0;
    std::string why;
    if (!check_snapshot(data, &covered, &wall, &records, &why) || covered != lsn) {
      if (why.empty()) why = "header LSN differs from the name";
      notes->push_back("snapshot " + name + " skipped: " + why);
      continue;
    }
    for (const LogRecord& r : records) {
      std::string apply_error;
      if (!apply(r, &apply_error)) {
        *error = "snapshot " + fs.path() + "/" + name + " record " + std::to_string(r.lsn) + " (" +
                 record_type_name(static_cast<std::uint16_t>(r.type)) + "): " + apply_error;
        return RecoveryStatus::apply_failed;
      }
    }
    info->name = name;
    info->covered_lsn = covered;
    info->wall_ns = wall;
    info->records = records.size();
    return RecoveryStatus::ok;
  }
  return RecoveryStatus::ok;
}

}  // namespace hotq::wal
