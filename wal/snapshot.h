// wal/snapshot.h — snapshot files (docs/wal-format.md, "Snapshots").
//
// A snapshot is the state after every record up to its covered LSN, written
// as a stream of records to snap-<lsn>.tmp, fsynced, renamed to
// snap-<lsn>.snap and the directory fsynced; only then are older snapshots
// removed and the log segments it covers recycled (Log::recycle).
//
// Thread safety: a SnapshotWriter is used by one thread. load_snapshot runs
// alone at open.
#ifndef HOTQ_WAL_SNAPSHOT_H_
#define HOTQ_WAL_SNAPSHOT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wal/format.h"
#include "wal/fs.h"
#include "wal/recovery.h"

namespace hotq::wal {

// Records are buffered and written in steps of this many bytes.
inline constexpr std::uint64_t snapshot_write_bytes = 1ull << 20;
// And read back in steps of this many (a larger record grows the buffer to
// fit it, up to record_body_bytes_max and its header).
inline constexpr std::uint64_t snapshot_read_bytes = 8ull << 20;

class SnapshotWriter {
 public:
  // Starts snap-<covered_lsn>.tmp. Returns 0 or an errno.
  static int create(Fs& fs, std::uint64_t covered_lsn, std::uint64_t wall_ns,
                    std::unique_ptr<SnapshotWriter>* out);
  ~SnapshotWriter();  // abandons an unfinished snapshot (removes the .tmp)

  // Adds one record (body = head then tail). Returns 0 or an errno.
  int add(RecordType type, std::string_view head, std::string_view tail = {});
  // Ends, syncs, renames, syncs the directory, removes older snapshots.
  // Returns 0 or an errno; *error says which step failed.
  int finish(std::string* error);

  std::uint64_t records() const { return count_; }
  std::uint64_t bytes() const { return offset_ + buffer_.size(); }

 private:
  SnapshotWriter(Fs& fs, std::uint64_t covered_lsn);
  int flush();

  Fs& fs_;
  const std::uint64_t covered_lsn_;
  std::string tmp_name_;
  std::unique_ptr<File> file_;
  std::string buffer_;
  std::uint64_t offset_ = 0;  // bytes written to the file
  std::uint64_t count_ = 0;
  std::uint64_t running_hash_ = 0;  // hash of the record checksums, in order
  bool finished_ = false;
};

struct SnapshotInfo {
  std::string name;             // empty: no snapshot
  std::uint64_t covered_lsn = 0;
  std::uint64_t wall_ns = 0;
  std::uint64_t records = 0;
};

// Finds the newest snapshot that passes every check and applies its records
// (all checked before the first is applied: the file is read twice, in
// steps of snapshot_read_bytes). A newer one that fails is reported in
// *notes and skipped. No snapshot at all is ok (covered_lsn 0).
RecoveryStatus load_snapshot(Fs& fs, const ApplyFn& apply, SnapshotInfo* info,
                             std::vector<std::string>* notes, std::string* error);

}  // namespace hotq::wal

#endif  // HOTQ_WAL_SNAPSHOT_H_
