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
// Segments. A segment is zero-filled once and recycled after a snapshot
// covers it. A second thread, the preparer, makes spare segments (creates
// free-<n>.tmp, zero-fills it in steps each fdatasynced on its own — so a
// commit sharing the disk with the fill waits behind one step, not a whole
// segment — renames it free-<n>.log and fsyncs the directory) and keeps
// `spare_segments` of them ready, recycled ones counted. The writer never
// fills: it only writes groups, and at a roll takes a ready spare (rename to
// wal-<lsn>.log, open; the directory fsync goes with the first group).
//
// Placement and room. Every append is placed when it is admitted, under the
// append lock: whether it joins the pending group, starts a group in the
// current segment, or starts one in the next segment (a roll; the group does
// not fit the rest of this one, which is wasted). A pending group grows only
// while it still fits its segment, so the writer's layout is the one planned
// at admission. An append that needs a roll is admitted only with a ready
// spare set aside for it, so the writer never waits for one; if none is
// ready the append waits for the preparer (counted in stats().roll_waits).
// The log's room is the rest of the current segment plus its ready spares.
//
// Reservations (a full disk is found at admission, not after the fact).
// reserve(n) claims n bytes of room for later appends; framed_bytes() says
// what an append takes. If the room is short it asks the preparer for more
// spares and waits; no_space only when making a spare failed with ENOSPC or
// EDQUOT (or more than spare_segments_max spares would be needed). The log
// is never failed for it. An append passes `reserved_bytes`, the claims it
// consumes; what it needs beyond them must fit the unclaimed room, or the
// append is refused with AppendResult::no_space (nothing appended, the log
// not failed).
//
// THE GUARANTEE: once reserve(n) returned ok, appends that consume those n
// bytes never fail for lack of space — provided no such append is larger
// than the largest single reserve() whose bytes it consumes (true whenever
// one reserve() covers one or more whole appends: the normal use; an append
// built from several smaller claims is checked against the room like any
// other). They can still fail because the log failed (an I/O error).
// Why it holds: claims C are admitted only while
//     C + min(C, s * (m - 1)) <= rest of current segment + s * U
// where s = ready spares not set aside, U = a fresh segment's room, m = the
// largest claim (capped at the largest group). Each roll wastes less than
// the append that caused it (< m, and the roll-causing appends sum to at
// most C), so the claims fit in the worst layout; every admission keeps the
// inequality true (appends of claimed bytes provably, all else by checking).
//
// Failure. A failed write or sync is never retried and never reported as
// success: the log enters the failed state for good, every waiter and every
// later append is told (failed()), and the message says which file, offset
// and errno. Durable LSNs before the failure stay durable. A spare that
// cannot be made is not a failure by itself (the preparer tries again when a
// roll used a spare, when recycle() ran, or when an append or reservation
// asks); but when an admission needs a spare and making it failed with an
// error other than ENOSPC/EDQUOT, the log fails ("no segment to continue
// the log"), as a roll without a spare always did.
//
// Thread safety.
//   Callers: append(), reserve(), unreserve(), wait_durable(), durable_lsn(),
//     last_lsn(), failed(), failure(), stats(), segments() from any thread at
//     once; recycle() from one thread at a time; set_on_durable() before the
//     first append; close() once, after every other call has returned.
//   Writer thread: the only user of the current segment's File (current_,
//     current_name_, offset_, header_pending_: no lock) and the only caller
//     of on_durable_ (also for the failure, once, when it stops).
//   Preparer thread: the only user of the File of the spare it is making (a
//     local). open() uses the same code before either thread starts.
//   Fs: the two threads and recycle() work on different files at once (the
//     writer on the current segment and the spare it renames; the preparer
//     on its free-<n>.tmp; recycle() on segments no longer current), which
//     wal/fs.h allows; directory operations may run concurrently.
//   mu_ guards the pending group and LSNs, closing_ and the failure, and all
//     of the room: the plan (where the next group goes), the claims, the
//     ready spares and the requests to and results from the preparer.
//   seg_mu_ guards the list of current segments and the free-<n> serial.
//   mu_ and seg_mu_ are never held together.
//   Atomics: see each one's comment for its memory order.
#ifndef HOTQ_WAL_LOG_WRITER_H_
#define HOTQ_WAL_LOG_WRITER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/histogram.h"
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
  std::uint32_t spare_segments = 1;  // zero-filled segments kept ready by the preparer
  // The most spares made ready at once: reservations make the preparer go
  // beyond spare_segments up to this (a claim that would need more is
  // refused with no_space). 1..spare_segments_limit, >= spare_segments.
  std::uint32_t spare_segments_max = 64;
  // 0: a group is written as soon as records wait (sync mode). Otherwise the
  // writer writes what waits every interval_ns (interval mode).
  std::uint64_t interval_ns = 0;
  // Appenders wait while this many bytes wait to be written (back-pressure).
  std::uint64_t pending_bytes_max = 16ull << 20;
  std::int64_t wall_minus_clock_ns = 0;  // written in each segment header
};
inline constexpr std::uint32_t spare_segments_limit = 4096;

struct LogStats {
  std::uint64_t groups = 0;
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;          // group bytes written, headers included
  std::uint64_t segments_started = 0;
  std::uint64_t segments_filled = 0;  // zero-filled from scratch (by the preparer)
  // Appends and reservations that had to wait for the preparer to make a
  // spare segment (a roll itself never waits: its spare is set aside when
  // the append is admitted).
  std::uint64_t roll_waits = 0;
  std::uint64_t reserved_bytes = 0;  // claims outstanding (reserve() not yet consumed)
  std::uint64_t no_space = 0;        // appends and reservations refused with no_space
};

enum class AppendResult : std::uint8_t {
  ok,
  failed,     // the log failed earlier: nothing appended
  too_large,  // the records cannot fit one group in one segment
  closed,
  no_space,   // no room beyond the claims and no spare can be made: nothing
              // appended, the log goes on
};

enum class ReserveResult : std::uint8_t {
  ok,
  no_space,  // making a spare failed (ENOSPC/EDQUOT) and the room is short;
             // nothing claimed, the log goes on
  failed,    // the log failed: nothing claimed
  closed,
};

class Log {
 public:
  struct Record {
    RecordType type;
    std::string_view head;       // the body is head followed by tail
    std::string_view tail = {};  // (so a payload need not be copied first)
  };

  // Starts the writer and the preparer after `tail`. Makes one spare segment
  // first if spare_segments > 0 and there is none. Returns 0 or an errno,
  // with *error saying what failed.
  static int open(Fs& fs, const LogOptions& options, const LogTail& tail,
                  std::unique_ptr<Log>* out, std::string* error);
  ~Log();  // close()

  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // The most bytes an append of `records` takes in the log: its own group
  // header plus each record's header and body padded to 8 (0 for none). An
  // append that joins other records' group takes less (no header of its own).
  static std::uint64_t framed_bytes(std::span<const Record> records);

  // Claims `bytes` of room for later appends (see THE GUARANTEE above). May
  // wait for the preparer to make spares; every wait ends (a spare, an error
  // making one, close, failure).
  ReserveResult reserve(std::uint64_t bytes);
  // Gives back `bytes` of claims no append will consume. Giving back more
  // than is claimed is a programmer error (checked).
  void unreserve(std::uint64_t bytes);

  // Appends `records` as consecutive LSNs in one group (all or nothing on
  // disk). *last_lsn gets the last one. If it returns ok it consumed
  // min(reserved_bytes, framed_bytes(records)) of claims (passing more than
  // is claimed is checked); what it takes beyond them had to fit unclaimed
  // room. Any other result consumes nothing: unreserve() what will not be
  // used. May wait for back-pressure or for a spare.
  AppendResult append(std::span<const Record> records, std::uint64_t* last_lsn,
                      std::uint64_t reserved_bytes = 0);

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

  // acquire: pairs with the release in set_failure_locked(), so failure() is set.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string failure() const;
  LogStats stats() const;
  // Adds each group's commit time so far to *s: the writer's write+fdatasync
  // call (io_uring: the linked pair) from its start to its return, whether
  // it succeeded or not. The directory fsync of a segment's first group is
  // not in it.
  void commit_latency(engine::LatencyHistogram::Snapshot* s) const { commit_ns_.add_to(*s); }

  // Segments wholly covered by a snapshot (every record <= covered_lsn)
  // become free for reuse. Returns 0 or an errno (not a log failure: the
  // files simply stay).
  int recycle(std::uint64_t covered_lsn);
  // Names of the current segments, oldest first.
  std::vector<std::string> segments() const;
  // How many there are (without copying their names).
  std::size_t segment_count() const;

  // Writes what is pending, stops the writer and the preparer (a spare being
  // made is abandoned and removed). Idempotent.
  void close();

 private:
  // Where an append of some framed size goes if admitted now.
  struct Placement {
    enum class Kind : std::uint8_t { join, fresh_group, roll, wait_writer };
    Kind kind = Kind::wait_writer;
    std::uint64_t plan_end = 0;  // the plan's next offset afterwards
  };
  // What an admission waiting for room learned.
  enum class RoomWait : std::uint8_t { retry, no_space, failed };
  struct RoomAsk {
    std::uint64_t seq = 0;  // our last request to the preparer (0: none)
    bool counted = false;   // in stat_roll_waits_ already
  };

  Log(Fs& fs, const LogOptions& options, const LogTail& tail);
  void run();
  void write_loop();
  bool write_group(std::string& group, std::uint64_t first_lsn, std::uint32_t count, bool rolls);
  bool roll(std::uint64_t first_lsn);
  void run_preparer();
  bool spare_wanted_locked() HOTQ_REQUIRES(mu_);
  int make_spare(std::string* ready_name, bool* cancelled);
  bool stop_requested() const;

  std::uint64_t group_bytes_limit() const;
  std::uint64_t fresh_segment_room() const;
  std::uint64_t tail_room(std::uint64_t plan_end) const;
  std::uint64_t current_tail_room_locked() const HOTQ_REQUIRES(mu_);
  std::uint64_t spares_free_locked() const HOTQ_REQUIRES(mu_);
  Placement place_locked(std::uint64_t framed) const HOTQ_REQUIRES(mu_);
  bool claims_fit(std::uint64_t claimed, std::uint64_t claim_max, std::uint64_t tail_room,
                  std::uint64_t spares) const;
  std::uint64_t spares_short(std::uint64_t claimed, std::uint64_t claim_max,
                             std::uint64_t tail_room, std::uint64_t spares,
                             std::uint64_t spares_needed) const;
  RoomWait wait_for_room_locked(std::uint64_t extra_spares, RoomAsk* ask) HOTQ_REQUIRES(mu_);
  void drop_claims_locked(std::uint64_t bytes) HOTQ_REQUIRES(mu_);

  void fail(std::string message) HOTQ_EXCLUDES(mu_);
  void set_failure_locked(std::string message) HOTQ_REQUIRES(mu_);
  void notify_all_waiters();

  Fs& fs_;
  const LogOptions options_;
  const std::string zeros_;  // one fill step of zeros; read-only (the preparer, open())
  std::thread writer_;
  std::thread preparer_;

  mutable engine::Mutex mu_;
  engine::CondVar appended_;  // writer waits for records
  engine::CondVar drained_;   // appenders wait for the writer to take the pending group
  engine::CondVar durable_cv_;
  engine::CondVar room_cv_;  // admissions wait for the preparer (or recycle, unreserve)
  engine::CondVar prep_cv_;  // the preparer waits for work
  std::string pending_ HOTQ_GUARDED_BY(mu_);  // group header space + records
  std::uint64_t pending_first_lsn_ HOTQ_GUARDED_BY(mu_) = 0;
  std::uint32_t pending_count_ HOTQ_GUARDED_BY(mu_) = 0;
  bool pending_rolls_ HOTQ_GUARDED_BY(mu_) = false;  // the pending group starts a segment
  std::uint64_t next_lsn_ HOTQ_GUARDED_BY(mu_);
  bool closing_ HOTQ_GUARDED_BY(mu_) = false;
  std::string failure_ HOTQ_GUARDED_BY(mu_);
  std::function<void(std::uint64_t, bool)> on_durable_;  // set before the first append

  // The plan: the layout every admitted group will have. plan_end_ is the
  // offset after the last admitted group in the newest (planned) segment.
  bool plan_in_segment_ HOTQ_GUARDED_BY(mu_) = false;
  std::uint64_t plan_end_ HOTQ_GUARDED_BY(mu_) = 0;
  std::uint64_t claimed_ HOTQ_GUARDED_BY(mu_) = 0;    // outstanding claims, bytes
  std::uint64_t claim_max_ HOTQ_GUARDED_BY(mu_) = 0;  // largest reserve() since claimed_ was 0
  // Ready spares (free-<n>.log), oldest first; the first spares_promised_ of
  // them are set aside for planned rolls the writer has not made yet.
  std::deque<std::string> spares_ HOTQ_GUARDED_BY(mu_);
  std::uint64_t spares_promised_ HOTQ_GUARDED_BY(mu_) = 0;
  // Preparer requests and results.
  std::uint64_t spares_wanted_ HOTQ_GUARDED_BY(mu_) = 0;  // free spares asked for (0: none)
  std::uint64_t prep_ask_seq_ HOTQ_GUARDED_BY(mu_) = 0;   // requests so far
  std::uint64_t prep_failed_seq_ HOTQ_GUARDED_BY(mu_) = 0;  // prep_ask_seq_ when the last
                                                            // failed attempt began
  int prep_errno_ HOTQ_GUARDED_BY(mu_) = 0;  // of the last attempt (0: it succeeded)
  bool prep_retry_ HOTQ_GUARDED_BY(mu_) = false;  // try again after an error

  // 0 before the first group; then the newest durable LSN. Stored with
  // release by the writer under mu_, loaded with acquire (durable_lsn()).
  std::atomic<std::uint64_t> durable_lsn_{0};
  std::atomic<bool> failed_{false};   // release when set (failure_ is written first)
  std::atomic<bool> stopped_{false};  // both threads joined; release/acquire in close()
  // Set by close() for the preparer to abandon a fill between steps.
  // relaxed: a hint only; the preparer rechecks closing_ under mu_.
  std::atomic<bool> stop_prep_{false};

  mutable engine::Mutex seg_mu_;
  std::vector<std::string> segments_ HOTQ_GUARDED_BY(seg_mu_);  // current, oldest first
  std::vector<std::uint64_t> segment_first_lsn_ HOTQ_GUARDED_BY(seg_mu_);
  std::uint64_t free_serial_ HOTQ_GUARDED_BY(seg_mu_) = 0;

  // Writer thread only (open() sets them before it starts).
  std::unique_ptr<File> current_;
  std::string current_name_;
  std::uint64_t offset_ = 0;
  bool header_pending_ = false;  // current_ was just rolled into

  engine::LatencyHistogram commit_ns_;  // writer thread records; anyone reads

  // relaxed: statistics, each counter on its own (stat_reserved_ is written
  // under mu_ and only mirrors claimed_ for stats()).
  std::atomic<std::uint64_t> stat_groups_{0}, stat_records_{0}, stat_bytes_{0},
      stat_started_{0}, stat_filled_{0}, stat_roll_waits_{0}, stat_reserved_{0},
      stat_no_space_{0};
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_LOG_WRITER_H_
