// wal/lossy_fs.h — LossyFs: wraps the Fs of a real directory (wal/posix_fs.h,
// either back-end) and can cut its power, as LazyFS does: what was not synced
// is dropped, or torn. MemFs (wal/mem_fs.h) models the same power cut in
// memory; LossyFs makes it happen to real files written by the real
// io_uring and pwritev paths.
//
// The model (MemFs's, on disk). Every call goes through to the wrapped Fs;
// beside it LossyFs keeps what it needs to go back to what a disk would
// still hold after a power cut:
//
//   per file    an undo list: before a write or truncate changes the file,
//               the bytes it will overwrite or cut off, and the length before
//               it. A successful sync() or write_sync() makes the file's data
//               durable: the list is dropped (for write_sync, this write's
//               entry too). A file is one inode: Files opened on the same
//               name share one list, and a rename keeps it.
//   namespace   a journal of the directory operations since the last
//               successful sync_dir(): create_new (undone by removing the
//               file), rename (undone by renaming back; a file it replaced is
//               first moved aside under a hidden name, and moved back), and
//               remove (done as a move to a hidden name; undone by moving it
//               back). sync_dir() makes the journal durable: it is dropped and
//               the hidden files are really removed.
//
// A file's sync never makes its name durable, and sync_dir never makes data
// durable (as MemFs: stricter than ext4 or xfs). What the directory holds
// when the LossyFs is made counts as durable.
//
// power_cut() crashes the machine: it waits for the calls in flight (each
// completes before the cut; any call made after it starts is refused), then
// gives every file the durable namespace still names what PowerCut says,
// undoes the journal newest first, fsyncs what it changed (so the directory
// now holds, durably, what the crash left), and leaves the layer *down*:
// every call on it and on every File returns EIO. A test then either
// destroys the LossyFs and the wrapped Fs and opens the directory again with
// a fresh posix Fs (a new process on the rebooted machine), or calls
// reboot(): the LossyFs takes new calls again, on what the cut left, while
// every File opened before the cut keeps answering EIO.
//
// Not modelled: the kernel's own writeback. A real machine may have written
// some dirty pages before the cut; here everything unsynced is lost
// (lose_unsynced) or torn sector by sector (torn) — the strict choice. Nor
// is a cut *inside* a call: each call is atomic with respect to the cut, so a
// write_sync in flight either is durable or never happened (a WAL that only
// uses write_sync has no unsynced bytes at a cut; its preallocation writes
// do). Metadata other than names and lengths (mtime, mode) is not restored.
// Since remove() is a move, it also "removes" a directory, which the posix
// layer would refuse (the WAL never does).
//
// Names. Names starting with lossy_hidden_prefix are the layer's own: open,
// rename and remove refuse them (EINVAL) and list() leaves them out. Other
// names are checked by the wrapped Fs. Everything must go through the
// LossyFs while it lives: a change made through the wrapped Fs directly is
// not undone and may confuse the undo.
//
// Limits and errors (errno values, as wal/fs.h): a write or truncate that
// would take a file past lossy_file_bytes_max is EFBIG (nothing done); one
// that would hold more than undo_bytes_max bytes of undo across all files is
// ENOBUFS (nothing done; a sync frees the file's bytes); a directory
// operation beyond journal_entries_max since the last sync_dir is ENOBUFS
// (nothing done). Errors of the wrapped Fs are returned as they are; a write
// that fails keeps its undo entry (a cut restores the bytes it may have half
// written). Anything after power_cut() and before reboot() is EIO.
//
// Thread safety: every method of LossyFs and of its Files may be called from
// any thread at any time (stricter than wal/fs.h asks). Calls on Files of one
// file run one at a time (a per-file lock, held across the I/O so that saving
// the old bytes and writing the new ones are one step); opens and directory
// operations run one at a time (the namespace lock); calls on different
// files run in parallel. power_cut() waits for the calls in flight and holds
// every lock while it rolls back, so no call sees a half-undone directory.
// reboot() must not be called while threads of the crashed "machine" may
// still make Fs calls (stop them first: their Files stay dead, but their
// opens would succeed on the rebooted layer). The wrapped Fs must outlive
// the LossyFs. Destroy Files before their LossyFs; a File that outlives it
// answers EIO and keeps its inner File open until it is destroyed (the
// wrapped layer's rule for Files outliving their Fs applies).
#ifndef HOTQ_WAL_LOSSY_FS_H_
#define HOTQ_WAL_LOSSY_FS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wal/fs.h"

namespace hotq::wal {

// The unit a disk persists atomically (or not at all) in PowerCut::torn; the
// same as MemFs's.
inline constexpr std::size_t lossy_sector_bytes = 512;
// A write or truncate past this is refused (EFBIG): the cut visits every
// sector a change touched, so a wild offset must fail, not take an hour. Two
// of the largest WAL segments (1 GiB) fit.
inline constexpr std::uint64_t lossy_file_bytes_max = std::uint64_t{2} << 30;
// Undo bytes held at once, across all files: the WAL keeps at most one group
// (<= its segment) unsynced at a time, so this is plenty.
inline constexpr std::uint64_t lossy_undo_bytes_max_default = std::uint64_t{256} << 20;
// Directory operations between two sync_dir calls.
inline constexpr std::uint32_t lossy_journal_entries_max_default = 4096;
// Names the layer keeps for itself (removed and replaced files).
inline constexpr std::string_view lossy_hidden_prefix = ".lossy-";

enum class PowerCut : std::uint8_t {
  // Every file is exactly its durable bytes and length: the page cache is lost.
  lose_unsynced,
  // Every file changed since its last sync gets, for each 512-byte sector a
  // change touched, independently the current or the durable sector, and as
  // length independently the current or the durable one (bytes past a
  // version's length count as zeros): a disk that persisted some of the
  // unsynced writes, in any order. As MemFs's PowerLoss::torn, except that a
  // sector is drawn for even when its two versions are equal.
  torn,
};

struct LossyFsOptions {
  std::uint64_t undo_bytes_max = lossy_undo_bytes_max_default;
  std::uint32_t journal_entries_max = lossy_journal_entries_max_default;
};

class LossyFs final : public Fs {
 public:
  // Wraps `inner` (not owned; must outlive this).
  explicit LossyFs(Fs& inner, const LossyFsOptions& options = {});
  // Without a power_cut: the process ends, the machine does not. Waits for the
  // calls in flight, then really removes the hidden files (the removals and
  // replacements happened; not synced). Files still open answer EIO.
  ~LossyFs() override;
  LossyFs(const LossyFs&) = delete;
  LossyFs& operator=(const LossyFs&) = delete;

  int open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) override;
  int list(std::vector<std::string>* names) override;
  int rename(std::string_view from, std::string_view to) override;
  int remove(std::string_view name) override;
  int sync_dir() override;
  // The wrapped Fs's path.
  const std::string& path() const override;

  // Cuts the power (see the file comment and PowerCut); the layer is down
  // afterwards. `seed` drives PowerCut::torn's choices: the same state and
  // seed give the same bytes. Returns 0, or the first errno the wrapped Fs
  // gave while rolling back (the directory may then hold a state no disk
  // could: fail the test). On a layer already down: 0, nothing done.
  [[nodiscard]] int power_cut(PowerCut how, std::uint64_t seed = 0);
  // The machine is back: the layer takes new calls again; what the cut left
  // is the new durable state. Files opened before the cut stay dead.
  void reboot();
  bool is_down() const;

  // For tests: undo bytes held now (all files), and directory operations
  // not yet made durable by a sync_dir.
  std::uint64_t undo_bytes() const;
  std::size_t journal_entries() const;

 private:
  struct State;
  class LossyFile;

  const std::shared_ptr<State> state_;  // shared with every open LossyFile
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_LOSSY_FS_H_
