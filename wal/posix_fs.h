// wal/posix_fs.h — the real file layer behind the WAL's I/O seam (wal/fs.h):
// one directory on a POSIX file system, held exclusively by one Fs.
//
// Opening. open_posix_fs(dir) creates `dir` if it is missing (only the last
// component, mode 0700; an existing directory is used as it is, mode and all),
// fsyncs the parent directory (at every open: an earlier opener may have
// crashed between its mkdir and that fsync) so that the directory's own entry
// is durable before anything in it is acknowledged, and takes flock(LOCK_EX | LOCK_NB)
// on the file "LOCK" in it (created empty, mode 0600). The lock is held until
// the Fs is destroyed. flock belongs to the open file description, so a second
// open_posix_fs on the same directory fails with EWOULDBLOCK (== EAGAIN on
// Linux) whether it comes from this process or another one; a child made by
// fork() shares the holder's description (the LOCK fd is O_CLOEXEC, so exec
// drops it).
//
// Back-ends, for write_sync() — the one call on the commit path:
//   io_uring  one IORING_OP_WRITEV per chunk of at most IOV_MAX iovecs and
//             io_uring_write_bytes bytes (an iovec larger than that goes in
//             pieces), all linked (IOSQE_IO_LINK) to a final IORING_OP_FSYNC
//             with IORING_FSYNC_DATASYNC, submitted with one io_uring_submit.
//             A write that fails or comes back short breaks the chain: the
//             fsync is cancelled and the write's error (a short write is EIO)
//             is the result. When a call needs more writes than the ring has
//             entries (more than (entries - 1) * IOV_MAX iovecs), the writes
//             go out in several chains, each reaped before the next is
//             submitted, and only the last ends in the fsync; the result is
//             the same (0 only if every byte was written and the sync
//             succeeded), only the single submission is lost. Every CQE of a
//             chain is reaped before the call returns, so the ring is empty
//             between calls, whatever failed. If io_uring_submit itself
//             fails, its errno is returned and the ring is never entered
//             again (SQEs may be left in it): every later write_sync of that
//             Fs returns EIO. The WAL treats the first error as fatal anyway.
//   pwritev   a pwritev loop (at most IOV_MAX iovecs per call) then fdatasync.
//             A pwritev that writes fewer bytes than asked is continued from
//             where it stopped (ordinary POSIX partial progress); one that
//             fails returns its errno at once (EINTR alone is retried), and so
//             does fdatasync (never retried: after a failed sync the state of
//             the page cache is unknown).
// Everything else — write() without sync, sync(), read(), size(), truncate()
// and the directory operations — is a plain system call in both back-ends.
// Backend::automatic picks io_uring when the kernel lets us set up a ring
// that supports IORING_OP_WRITEV and IORING_OP_FSYNC and completes a NOP, and
// pwritev otherwise; *message says which and why.
//
// Files are opened O_RDWR | O_CLOEXEC (create_new adds O_CREAT | O_EXCL, mode
// 0600). Names are plain file names: not empty, not "." or "..", no '/' and no
// NUL byte; anything else is EINVAL. list() returns every regular file of the
// directory, "LOCK" included (the caller ignores names it does not know);
// directories, symlinks and other non-regular entries are left out.
//
// Thread safety (wal/fs.h's contract, and what this layer adds to it): an Fs
// may be used from several threads at once for different files; one File is
// used by one thread at a time. Fs's own calls (open, list, rename, remove,
// sync_dir, path) are system calls on the directory fd and may run
// concurrently with each other and with any File. The io_uring back-end has
// one ring per Fs, shared by its Files and guarded by a Mutex held for a
// whole write_sync (submit and reap), so write_syncs of different Files of one
// Fs run one after another; nothing else takes that lock. A File keeps the
// ring alive (shared ownership), so a File may outlive its Fs without touching
// freed memory — but the directory lock goes with the Fs, so the caller should
// close its Files first.
//
// Errors are errno values as in wal/fs.h; nothing throws. Bad offsets (an
// offset + length beyond what off_t can hold) are EINVAL.
#ifndef HOTQ_WAL_POSIX_FS_H_
#define HOTQ_WAL_POSIX_FS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "wal/fs.h"

namespace hotq::wal {

enum class Backend : std::uint8_t { automatic, io_uring, pwritev };

// "automatic", "io_uring" or "pwritev".
const char* backend_name(Backend b);

// Ring size: the number of linked SQEs one write_sync can submit at once.
inline constexpr unsigned io_uring_entries_default = 64;
inline constexpr unsigned io_uring_entries_min = 2;  // one write + the fsync
inline constexpr unsigned io_uring_entries_max = 4096;
// Bytes per IORING_OP_WRITEV: a CQE's result is 32 bits and the kernel caps
// one write at MAX_RW_COUNT (2 GiB - 4 KiB), which would read as a short
// write, so bigger writes are split into linked pieces of at most this size.
inline constexpr std::uint64_t io_uring_write_bytes_max = std::uint64_t{1} << 30;

struct PosixFsOptions {
  Backend backend = Backend::automatic;
  // Ring entries (io_uring only), in [io_uring_entries_min,
  // io_uring_entries_max]; tests use a small ring to force several chains.
  unsigned io_uring_entries = io_uring_entries_default;
  // Bytes per IORING_OP_WRITEV (io_uring only), in [1,
  // io_uring_write_bytes_max]; tests lower it to exercise the splitting.
  std::uint64_t io_uring_write_bytes = io_uring_write_bytes_max;
};

// Opens (creating if needed) the directory `dir` and locks it; see the top of
// this file. Returns 0 and sets *out and *chosen (the back-end in use), or
// returns an errno and leaves *out and *chosen alone:
//   EWOULDBLOCK  another Fs, in this process or another, holds the directory;
//   an explicit Backend::io_uring that the kernel refuses: the kernel's errno
//                (EPERM, ENOSYS, ENOMEM, ...; EOPNOTSUPP when the ring lacks
//                IORING_OP_WRITEV or IORING_OP_FSYNC);
//   EINVAL       io_uring_entries or io_uring_write_bytes out of range;
//   otherwise    the errno of mkdir/open/fsync/flock (ENOENT: a missing
//                parent; ENOTDIR: `dir` is not a directory; EACCES ...).
// *message (always set, success or not) is one sentence for the log, e.g.
// "io_uring refused (Operation not permitted, io_uring_queue_init): using
// pwritev+fdatasync".
// `out` must not be null; `chosen` and `message` may be.
int open_posix_fs(const std::string& dir, const PosixFsOptions& options, std::unique_ptr<Fs>* out,
                  Backend* chosen, std::string* message);

}  // namespace hotq::wal

#endif  // HOTQ_WAL_POSIX_FS_H_
