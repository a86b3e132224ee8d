// wal/faulty_fs.h — FaultyFs: wraps another Fs (wal/fs.h) and makes chosen
// calls fail, so tests can drive the WAL through every I/O error it must
// survive: short writes, EIO, ENOSPC, a failed fsync, a failed directory
// fsync. Wrapping a MemFs (wal/mem_fs.h) lets a test check afterwards, with
// power_loss(), what a failure left durable.
//
// Arming. A test arms a fault; the fault then fires on the (skip+1)-th
// matching call from then on and disarms (one-shot), or keeps firing on every
// matching call after that (sticky) until disarm_all() or a new arm() of the
// same fault, which replaces the old arming. A call matches a fault when it is
// of the fault's kind (below) and on a file whose name contains the fault's
// name filter (an empty filter matches every file). A File's name is the one
// it was opened under (a later rename does not change it).
//
//   fault          matching calls                  effect (never success)
//   short_write    File::write, write_sync         writes a prefix to the wrapped
//                                                  file: half the bytes rounded
//                                                  down to 512 (maybe none);
//                                                  no sync; returns EIO
//   eio_write      File::write, write_sync         writes nothing; EIO
//   enospc_write   File::write, write_sync         writes nothing; ENOSPC
//   eio_sync       File::sync; write_sync when no  sync: not performed (the data
//                  write fault failed it first     stays unsynced, as when the
//                                                  kernel drops dirty pages after
//                                                  a failed writeback); EIO.
//                                                  write_sync: the write goes
//                                                  through (wrapped write()), the
//                                                  sync is not done; EIO
//   eio_read       File::read                      reads nothing (*got = 0); EIO
//   eio_sync_dir   Fs::sync_dir                    not performed; EIO
//   enospc_create  Fs::open(create_new)            creates nothing; ENOSPC
//
// eio_sync_dir has no file name: arm it with an empty filter (checked).
// A write_sync is first a write call and then, only if no write fault failed
// it, a sync call: it counts toward the skip of write faults, and of eio_sync
// only when it gets that far. When several armed faults come due on one call,
// the first in the enum's order fires; the others stay due and fire on their
// next matching call. Calls that a fault fails count for the other faults'
// skips all the same (a fault counts calls, not successes).
//
// Every other call, and every call no fault fires on, goes to the wrapped Fs
// or File unchanged, and its result is returned unchanged.
//
// Thread safety: every method may be called from any thread (the armed state
// is under a Mutex; the fired counters are atomic); the wrapped Fs must allow
// the calls made through it, as wal/fs.h says. The wrapped Fs must outlive
// the FaultyFs, and the FaultyFs must outlive every File it opened.
#ifndef HOTQ_WAL_FAULTY_FS_H_
#define HOTQ_WAL_FAULTY_FS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/mutex.h"
#include "wal/fs.h"

namespace hotq::wal {

enum class Fault : std::uint8_t {
  short_write,
  eio_write,
  enospc_write,
  eio_sync,
  eio_read,
  eio_sync_dir,
  enospc_create,
};
inline constexpr std::size_t fault_kinds = 7;  // the number of Fault values

// short_write's prefix is rounded down to this: a disk writes whole sectors.
inline constexpr std::uint64_t short_write_align_bytes = 512;

class FaultyFs final : public Fs {
 public:
  explicit FaultyFs(Fs& base);
  ~FaultyFs() override = default;
  FaultyFs(const FaultyFs&) = delete;
  FaultyFs& operator=(const FaultyFs&) = delete;

  // Arms `fault` to fire on the (skip+1)-th matching call from now on, on
  // files whose name contains `name_filter` (empty: any); see above.
  void arm(Fault fault, std::uint64_t skip = 0, std::string_view name_filter = {},
           bool sticky = false) HOTQ_EXCLUDES(mu_);
  void disarm_all() HOTQ_EXCLUDES(mu_);
  // How many calls `fault` has failed since construction (disarm_all keeps it).
  std::uint64_t fired(Fault fault) const;

  int open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) override;
  int list(std::vector<std::string>* names) override;
  int rename(std::string_view from, std::string_view to) override;
  int remove(std::string_view name) override;
  int sync_dir() override;
  const std::string& path() const override;

 private:
  class FaultyFile;

  struct Arming {
    bool armed = false;
    bool sticky = false;
    std::uint64_t skip = 0;  // matching calls still to let through
    std::string name_filter;
  };

  // Counts one call on the file `name` against the armed faults among
  // `candidates` and returns the one that fails it, if any (see above).
  std::optional<Fault> decide(std::span<const Fault> candidates, std::string_view name)
      HOTQ_EXCLUDES(mu_);

  Fs& base_;
  engine::Mutex mu_;
  std::array<Arming, fault_kinds> armings_ HOTQ_GUARDED_BY(mu_);
  std::array<std::atomic<std::uint64_t>, fault_kinds> fired_{};
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_FAULTY_FS_H_
