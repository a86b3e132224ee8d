// wal/fs.h — the WAL's one I/O seam: a directory of files.
//
// Everything the WAL reads or writes goes through Fs and File, so tests swap
// in an in-memory layer (wal/mem_fs.h, which can lose what was not synced, as
// a power cut does) or a faulty one (wal/faulty_fs.h: short writes, EIO,
// ENOSPC, failed fsync), or wrap the real one in wal/lossy_fs.h to cut the
// power under a real directory. The real one is wal/posix_fs.h, with two back-ends
// for the writes that matter: io_uring (a write linked to an fdatasync) and
// pwritev + fdatasync.
//
// The WAL crosses this seam once per group of records, never per job.
//
// Results are errno values: 0 is success, anything else is the errno the
// operation failed with (EIO for a short write: the layer never retries and
// never reports a partial write as success). The caller decides what an
// error means; the WAL treats any write or sync error as fatal for the log.
//
// A write that fails may have written part of its bytes (the file may even
// have grown): nothing in that range may be trusted, which is what the
// WAL's checksums and recovery rules are for. Any number of iovecs may be
// passed; a layer splits them as its system calls require. On an error,
// *out and *got are left as they were (got: 0).
//
// Names are plain file names: not empty, not "." or "..", no '/' or NUL, at
// most 255 bytes; anything else is EINVAL (ENAMETOOLONG for length).
// list() returns every regular file, the posix layer's LOCK included: a
// reader ignores names it does not know.
//
// Thread safety: an Fs may be used from several threads at once, for
// different files, directory operations included; one File is used by one
// thread at a time (the WAL's writer thread, or recovery before the writer
// starts). The WAL guarantees both. Destroy Files before their Fs (the
// layers tolerate the opposite, but a posix File outliving its Fs no longer
// holds the directory lock).
#ifndef HOTQ_WAL_FS_H_
#define HOTQ_WAL_FS_H_

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotq::wal {

class File {
 public:
  virtual ~File() = default;

  // Writes every byte of `iov`, in order, starting at `offset`, and then
  // makes them durable (fdatasync). The file does not grow unless the write
  // passes its end (the WAL only overwrites preallocated segments). Returns 0
  // only when all bytes were written and the sync succeeded.
  virtual int write_sync(std::uint64_t offset, std::span<const iovec> iov) = 0;

  // The same without the sync (used to fill a new file before one sync).
  virtual int write(std::uint64_t offset, std::span<const iovec> iov) = 0;

  // fdatasync.
  virtual int sync() = 0;

  // Reads up to `n` bytes at `offset` into `buf`; *got is less than n only at
  // the end of the file.
  virtual int read(std::uint64_t offset, void* buf, std::size_t n, std::size_t* got) = 0;

  virtual int size(std::uint64_t* bytes) = 0;

  // Sets the length (shrinks or extends with zeros); not synced.
  virtual int truncate(std::uint64_t bytes) = 0;
};

enum class OpenMode : std::uint8_t {
  existing,    // the file must exist (ENOENT otherwise)
  create_new,  // the file must not exist (EEXIST otherwise); created empty, mode 0600
};

// One directory.
class Fs {
 public:
  virtual ~Fs() = default;

  virtual int open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) = 0;

  // Names of the regular files in the directory, in no particular order.
  virtual int list(std::vector<std::string>* names) = 0;

  // Atomic replace of `to` by `from` (rename(2)); durable after sync_dir().
  virtual int rename(std::string_view from, std::string_view to) = 0;

  // Durable after sync_dir().
  virtual int remove(std::string_view name) = 0;

  // fsync of the directory: makes creations, renames and removals durable.
  virtual int sync_dir() = 0;

  // For messages: the directory's path (or a name for an in-memory one).
  virtual const std::string& path() const = 0;
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_FS_H_
