// wal/log_writer.h — the log's writer: group commit of records from many
// threads into preallocated segments (docs/wal-format.md).
//
// How it works. Appenders encode their records into one shared pending group
// under a short lock and get consecutive LSNs; one writer thread takes the
// whole pending group, frames it (group header, zero sentinel after it) and
// crosses the I/O seam once: one write + fdatasync (io_uring: linked). Only
// then does durable_lsn() move past those LSNs. While it writes, appenders
// fill the next group: that is the group commit, with no timer in the path
// in `sync` mode. In interval mode the writer wakes every `interval_ns`
// instead of on each append.
//
// Failure. A failed write or sync is never retried and never reported as
// success: the log enters the failed state for good, every waiter and every
// later append is told (failed()), and the message says which file, offset
// and errno. Durable LSNs before the failure stay durable.
//
// Segments. A segment is zero-filled once (in 1 MiB steps between groups, so
// a commit waits at most for one step) and recycled after a snapshot covers
// it; `spare_segments` are kept ready so a roll never waits for a fill.
//
// Thread safety: append(), wait_durable(), durable_lsn(), failed(),
// failure(), stats() may be called from any thread at once. recycle() and
// close() from any one thread; close() once, after every append has returned.
// The writer thread is the only user of the Fs's files once open() returns.
#ifndef HOTQ_WAL_LOG_WRITER_H_
#define HOTQ_WAL_LOG_WRITER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/mutex.h"
#include "wal/format.h"
#include "wal/fs.h"

namespace hotq::wal {

// Where the log goes on after recovery (wal/recovery.h fills it in).
struct LogTail {
  std::uint64_t next_lsn = 1;
  std::vector<std::string> segments;       // current wal-*.log, oldest first
  std::uint64_t write_offset = 0;          // where the newest one's next group goes;
                                           // 0: start a new segment for it
  std::vector<std::string> free_segments;  // free-*.log ready for reuse
};

struct LogOptions {
  std::uint64_t segment_bytes = segment_bytes_default;  // segment_bytes_min..max, 4 KiB multiple
  std::uint32_t spare_segments = 1;                     // zero-filled segments kept ready
  // 0: a group is written as soon as records wait (sync mode). Otherwise the
  // writer writes what waits every interval_ns (interval mode).
  std::uint64_t interval_ns = 0;
  // Appenders wait while this many bytes wait to be written (back-pressure).
  std::uint64_t pending_bytes_max = 16ull << 20;
  std::int64_t wall_minus_clock_ns = 0;  // written in each segment header
};

struct LogStats {
  std::uint64_t groups = 0;
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;          // group bytes written, headers included
  std::uint64_t segments_started = 0;
  std::uint64_t segments_filled = 0;  // zero-filled from scratch
  std::uint64_t roll_waits = 0;       // rolls that had to fill a segment first
};

enum class AppendResult : std::uint8_t {
  ok,
  failed,     // the log failed earlier: nothing appended
  too_large,  // the records cannot fit one group in one segment
  closed,
};

class Log {
 public:
  struct Record {
    RecordType type;
    std::string_view head;       // the body is head followed by tail
    std::string_view tail = {};  // (so a payload need not be copied first)
  };

  // Starts the writer after `tail`. Makes sure a spare segment exists first.
  // Returns 0 or an errno, with *error saying what failed.
  static int open(Fs& fs, const LogOptions& options, const LogTail& tail,
                  std::unique_ptr<Log>* out, std::string* error);
  ~Log();  // close()

  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends `records` as consecutive LSNs in one group (all or nothing on
  // disk). *last_lsn gets the last one. May wait for back-pressure.
  AppendResult append(std::span<const Record> records, std::uint64_t* last_lsn);

  // Waits until `lsn` is durable (true) or the log failed first (false).
  bool wait_durable(std::uint64_t lsn);

  // Every LSN up to this is durable. acquire: pairs with the writer's release
  // after the fdatasync that made it so.
  std::uint64_t durable_lsn() const { return durable_lsn_.load(std::memory_order_acquire); }
  // The last LSN handed out (durable or not).
  std::uint64_t last_lsn() const;

  // Called by the writer thread after each group is durable (or the log
  // failed: then with failed = true, once). Must not call into the Log.
  // Set before the first append.
  void set_on_durable(std::function<void(std::uint64_t durable_lsn, bool failed)> fn);

  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string failure() const;
  LogStats stats() const;

  // Segments wholly covered by a snapshot (every record <= covered_lsn)
  // become free for reuse. Returns 0 or an errno (not a log failure: the
  // files simply stay).
  int recycle(std::uint64_t covered_lsn);
  // Names of the current segments, oldest first.
  std::vector<std::string> segments() const;

  // Writes what is pending, stops the writer. Idempotent.
  void close();

 private:
  Log(Fs& fs, const LogOptions& options, const LogTail& tail);
  struct Segment;
  struct Spare;
  void run();
  bool write_group(std::string& group, std::uint64_t first_lsn, std::uint32_t count);
  bool roll(std::uint64_t first_lsn);
  int fill_step();
  bool fill_wanted();
  void fail(std::string message);
  std::uint64_t group_bytes_limit() const;

  Fs& fs_;
  const LogOptions options_;
  std::thread writer_;

  mutable engine::Mutex mu_;
  engine::CondVar appended_;  // writer waits for records
  engine::CondVar drained_;   // appenders wait for room
  engine::CondVar durable_cv_;
  std::string pending_ HOTQ_GUARDED_BY(mu_);  // group header space + records
  std::uint64_t pending_first_lsn_ HOTQ_GUARDED_BY(mu_) = 0;
  std::uint32_t pending_count_ HOTQ_GUARDED_BY(mu_) = 0;
  std::uint64_t next_lsn_ HOTQ_GUARDED_BY(mu_);
  bool closing_ HOTQ_GUARDED_BY(mu_) = false;
  std::string failure_ HOTQ_GUARDED_BY(mu_);
  std::function<void(std::uint64_t, bool)> on_durable_;

  std::atomic<std::uint64_t> durable_lsn_{0};
  std::atomic<bool> failed_{false};
  std::atomic<bool> stopped_{false};  // the writer thread has been joined

  // Writer-thread state (also touched by open() before the thread starts,
  // and by recycle()/segments() under seg_mu_).
  mutable engine::Mutex seg_mu_;
  std::vector<std::string> segments_ HOTQ_GUARDED_BY(seg_mu_);  // current, oldest first
  std::vector<std::uint64_t> segment_first_lsn_ HOTQ_GUARDED_BY(seg_mu_);
  std::vector<std::string> free_ HOTQ_GUARDED_BY(seg_mu_);     // ready for reuse
  std::uint64_t free_serial_ HOTQ_GUARDED_BY(seg_mu_) = 0;
  std::unique_ptr<File> current_;  // writer thread only
  std::string current_name_;
  std::uint64_t offset_ = 0;
  bool header_pending_ = false;    // current_ was just rolled into
  int fill_errno_ = 0;             // last failure to make a spare (not fatal)
  std::unique_ptr<File> filling_;  // a spare being zero-filled
  std::string filling_name_;
  std::uint64_t filled_bytes_ = 0;
  std::string zeros_;

  std::atomic<std::uint64_t> stat_groups_{0}, stat_records_{0}, stat_bytes_{0},
      stat_started_{0}, stat_filled_{0}, stat_roll_waits_{0};
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_LOG_WRITER_H_
