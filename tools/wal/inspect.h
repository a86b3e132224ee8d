// tools/wal/inspect.h — reading a hotq WAL directory without changing it
// (hotq-wal, docs/hotq-wal.md).
//
// The engine's own recovery (wal/recovery.cc) repairs as it reads: it cuts a
// torn tail, recycles a torn roll and removes unfinished files. This reader
// follows the same decision table (docs/wal-format.md, "Recovery rules") but
// only reports what recovery would do. Every byte is read through
// ReadOnlyFs, whose files are opened O_RDONLY and whose every mutation fails
// with EROFS, so no code path here can write to the directory; the snapshot
// is loaded by the WAL's own wal::load_snapshot through it, and the records
// are decoded by wal/format.h and wal/records.h and replayed into the
// engine's own engine::LogState (pure memory).
//
// Thread safety: none; one thread uses a ReadOnlyFs and a scan.
#ifndef HOTQ_TOOLS_WAL_INSPECT_H_
#define HOTQ_TOOLS_WAL_INSPECT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/log_state.h"
#include "wal/format.h"
#include "wal/fs.h"
#include "wal/recovery.h"
#include "wal/snapshot.h"

namespace hotq::waltool {

// Exit statuses of hotq-wal (docs/hotq-wal.md, "Exit status").
enum class Exit : int {
  ok = 0,              // clean (verify), or the command did what it was asked
  corrupt = 1,         // damage recovery would refuse to open with
  usage = 2,           // bad command line
  torn = 3,            // verify: a torn tail (or torn roll) recovery would cut
  missing = 4,         // no such directory
  not_wal = 5,         // not a directory, or one holding no hotq file
  locked = 6,          // an engine holds the directory (refused without --force)
  io_error = 7,        // a file could not be read (permission, EIO)
  output_refused = 8,  // salvage: the output exists and is not empty, or cannot be made
  no_such_queue = 9,   // jobs: the queue is not in the directory's state
};

// ------------------------------------------------------------ read-only access

// wal::Fs over a directory opened O_RDONLY | O_DIRECTORY. open() accepts
// OpenMode::existing only and opens O_RDONLY (O_NOATIME where allowed);
// every write, sync, truncate, rename, remove and directory sync fails with
// EROFS. list() returns the regular files, as the posix layer's does.
class ReadOnlyFs final : public wal::Fs {
 public:
  // 0, or the errno of open(2) (ENOENT missing, ENOTDIR not a directory...).
  static int open(const std::string& dir, std::unique_ptr<ReadOnlyFs>* out);
  ~ReadOnlyFs() override;
  ReadOnlyFs(const ReadOnlyFs&) = delete;
  ReadOnlyFs& operator=(const ReadOnlyFs&) = delete;

  int open(std::string_view name, wal::OpenMode mode, std::unique_ptr<wal::File>* out) override;
  int list(std::vector<std::string>* names) override;
  int rename(std::string_view, std::string_view) override;
  int remove(std::string_view) override;
  int sync_dir() override;
  const std::string& path() const override { return path_; }
  int dir_fd() const { return fd_; }

 private:
  ReadOnlyFs(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// Whether an engine holds the directory. The engine takes
// flock(LOCK_EX | LOCK_NB) on <dir>/LOCK (wal/posix_fs.cc); taking any lock
// on it here, even a shared one for an instant, could make an engine's open
// fail with `locked`, so the lock is looked up in /proc/locks (device and
// inode of LOCK) instead: no lock is taken, nothing is written.
struct LockProbe {
  enum class State : std::uint8_t { free, held, unknown };
  State state = State::free;
  long pid = 0;         // held: the holder /proc/locks names
  std::string detail;   // unknown: why
};
LockProbe probe_lock(const ReadOnlyFs& fs);

// ------------------------------------------------------------ the directory

struct NamedLsn {
  std::string name;
  std::uint64_t lsn = 0;  // a segment's first LSN, a snapshot's covered LSN
};

struct Listing {
  std::vector<NamedLsn> segments;   // wal-*.log, by first LSN
  std::vector<NamedLsn> snapshots;  // snap-*.snap, by covered LSN
  std::vector<std::string> free;    // free-*.log (recycled, kept for reuse)
  std::vector<std::string> tmp;     // *.tmp (unfinished: recovery removes them)
  std::vector<std::string> other;   // names the engine ignores
  bool lock_file = false;
  // Whether anything here is a hotq file (an empty directory is not a WAL
  // directory for this tool, although an engine would start one in it).
  bool looks_like_wal() const {
    return lock_file || !segments.empty() || !snapshots.empty() || !free.empty() || !tmp.empty();
  }
};
int list_dir(wal::Fs& fs, Listing* out);  // 0 or an errno

// ------------------------------------------------------------ the scan

enum class Condition : std::uint8_t {
  clean,    // recovery opens it as it is
  torn,     // recovery cuts a torn tail or recycles a torn roll, then opens
  corrupt,  // recovery refuses to open it
};
const char* condition_name(Condition c);

// The first finding that is not clean: what recovery would do about it.
struct Finding {
  Condition condition = Condition::clean;
  std::string file;          // the file named (empty: none)
  std::uint64_t offset = 0;  // in `file`
  std::uint64_t bytes = 0;   // torn: the bytes recovery would zero
  std::string message;       // one sentence
};

// One record read from a log segment.
struct SegmentRecord {
  const std::string* segment = nullptr;  // its file name
  std::uint64_t group_offset = 0;        // where its group starts
  std::uint64_t offset = 0;              // where it starts
  std::uint64_t span_bytes = 0;          // header, body and padding
  wal::RecordType type{};
  std::uint64_t lsn = 0;
  std::string_view body;                 // valid during the callback only
  bool covered = false;                  // LSN <= the snapshot's: recovery skips it
};

struct SegmentSummary {
  std::string name;
  std::uint64_t first_lsn = 0;
  std::uint64_t file_bytes = 0;
  std::int64_t wall_minus_clock_ns = 0;
  bool read = false;        // false: before the snapshot's LSN, recovery never reads it
  bool header_ok = false;
  std::uint64_t groups = 0;
  std::uint64_t records = 0;
  std::uint64_t last_lsn = 0;    // of its last valid record (0: none)
  std::uint64_t end_offset = 0;  // where its valid groups end
};

struct TypeCount {
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;  // framed: header, body and padding
};

// Where a salvage cuts: segments [first_kept, cut_segment) whole, then
// cut_segment's first cut_offset bytes (the rest zeroed), nothing after.
// cut_offset 0: cut_segment is not kept at all.
struct Cut {
  std::size_t first_kept = 0;
  std::size_t cut_segment = 0;  // == segments.size(): every segment from first_kept
  std::uint64_t cut_offset = 0;
  std::uint64_t kept_last_lsn = 0;  // the last LSN before the cut
};

struct ScanResult {
  Listing listing;
  // The snapshot recovery would use (name empty: none), and the newer ones
  // it would skip (one line each).
  wal::SnapshotInfo snapshot;
  std::uint64_t snapshot_file_bytes = 0;
  std::vector<std::string> snapshot_notes;
  std::map<std::uint16_t, TypeCount> snapshot_types;
  bool snapshot_usable = true;  // false: it failed to load or replay (finding says why)

  std::vector<SegmentSummary> segments;  // all wal-*.log, by first LSN
  std::map<std::uint16_t, TypeCount> log_types;
  std::uint64_t log_groups = 0;
  std::uint64_t log_group_bytes = 0;  // group bytes read, headers included
  std::uint64_t first_lsn = 0;        // first record read (0: none)
  std::uint64_t last_lsn = 0;         // last valid LSN (or the snapshot's)

  Finding finding;                    // the first not-clean finding (clean: none)
  std::vector<std::string> notes;     // what else recovery would do or ignore
  Cut cut;
  bool replay_failed = false;         // an intact record did not fit the state
  engine::LogState state;             // after the snapshot and the log up to the cut
};

struct ScanHooks {
  // Each record of the snapshot in use, in order (index = its LSN within the file).
  std::function<void(const wal::LogRecord&)> snapshot_record;
  // Each segment recovery reads, before its records.
  std::function<void(const SegmentSummary&)> segment;
  // Each record of a valid group, in LSN order (covered ones included).
  std::function<void(const SegmentRecord&)> record;
};

// Scans `fs` as recovery would, without changing anything. Returns 0 or the
// errno of a failed read (*io_error then says which file). Damage is not an
// error: it is result->finding. The state replayed is the one recovery
// would build (up to the first damage, for a corrupt directory); when an
// intact record does not fit it (replay_failed), the state is the one before
// that record's group.
int scan(ReadOnlyFs& fs, const ScanHooks& hooks, ScanResult* result, std::string* io_error);

// ------------------------------------------------------------ salvage

// Copies what recovery could use up to the first damage into `out_dir`
// (created, 0700; it must not exist or be empty, and must not be inside the
// source). Writes a report to `report`. Returns the exit status.
Exit salvage(ReadOnlyFs& fs, const ScanResult& scanned, const std::string& out_dir,
             std::string* report);

}  // namespace hotq::waltool

#endif  // HOTQ_TOOLS_WAL_INSPECT_H_
