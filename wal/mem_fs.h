// wal/mem_fs.h — MemFs: an in-memory directory (wal/fs.h) that can lose power.
//
// The WAL's tests run on it instead of a disk. Beside what the live system
// sees it keeps what a disk would still hold after a power cut, so a test can
// crash the "machine" at any point and check what recovery finds:
//
//   per file    the current bytes (what reads see) and the durable bytes
//               (what the file's last successful sync or write_sync made
//               durable, length included);
//   namespace   the live one (name -> file, changed at once by open
//               create_new, rename and remove) and the durable one (name ->
//               file, a copy of the live one taken by sync_dir).
//
// power_loss() crashes and reboots. Every file named in the durable namespace
// gets what a crash may leave of it (see PowerLoss), the live namespace
// becomes the durable one, and so: a file created but never covered by a
// sync_dir disappears, a rename not followed by sync_dir is undone, a removed
// file comes back with its durable bytes. Files opened before the crash are
// dead afterwards: every call on them returns EIO.
//
// The model is deliberately stricter than ext4 or xfs: a file's sync never
// makes its name durable (POSIX asks for the directory's fsync; ext4 happens
// to commit a new name with the file), and sync_dir never makes data durable.
// A test that passes here does not lean on a file system's kindness.
//
// Like POSIX: rename replaces `to` atomically; a removed or replaced file
// stays readable and writable through Files already open on it (until a
// power_loss); names are flat (no subdirectories).
//
// Errors (errno values, as wal/fs.h): ENOENT and EEXIST for the open modes
// and for rename/remove of a missing name; EINVAL for a bad name (empty, ".",
// "..", or containing '/' or '\0'); ENAMETOOLONG above mem_name_bytes_max; EFBIG
// for a write or truncate past mem_file_bytes_max; EIO for any call on a File
// opened before the last power_loss or after its MemFs was destroyed.
//
// Thread safety: every method of MemFs and of its Files may be called from
// any thread at any time (one mutex guards the whole fs; stricter than
// wal/fs.h asks). A File may outlive its MemFs: it shares the fs state and
// answers EIO once the MemFs is gone.
#ifndef HOTQ_WAL_MEM_FS_H_
#define HOTQ_WAL_MEM_FS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wal/fs.h"

namespace hotq::wal {

// A file larger than this is refused (EFBIG): a bad offset must fail, not
// allocate the machine's memory. Four default segments (64 MiB) fit easily.
inline constexpr std::uint64_t mem_file_bytes_max = std::uint64_t{1} << 30;
// NAME_MAX of Linux file systems; a longer name is ENAMETOOLONG, as there.
inline constexpr std::size_t mem_name_bytes_max = 255;
// The unit a disk persists atomically (or not at all) in PowerLoss::torn.
inline constexpr std::size_t mem_sector_bytes = 512;

enum class PowerLoss : std::uint8_t {
  // Every file is exactly its durable bytes: the page cache is lost.
  lose_unsynced,
  // Every file whose current bytes differ from its durable ones gets, for
  // each 512-byte sector where the two differ, independently the current or
  // the durable sector, and as length independently the current or the
  // durable length (bytes past a version's length count as zeros). This is a
  // disk that persisted some of the unsynced writes, in any order.
  torn,
  // Nothing lost, namespace unchanged: a process crash without a power cut
  // (the page cache survives). Nothing becomes durable either.
  keep_all,
};

class MemFs final : public Fs {
 public:
  // path() is "mem:" + label.
  explicit MemFs(std::string_view label = "fs");
  ~MemFs() override;
  MemFs(const MemFs&) = delete;
  MemFs& operator=(const MemFs&) = delete;

  int open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) override;
  int list(std::vector<std::string>* names) override;
  int rename(std::string_view from, std::string_view to) override;
  int remove(std::string_view name) override;
  int sync_dir() override;
  const std::string& path() const override { return path_; }

  // Crash and reboot (see the file comment and PowerLoss). `seed` drives
  // PowerLoss::torn's choices: the same state and seed give the same result.
  // Afterwards every file's durable bytes are its (new) current bytes: what
  // the crash left is what is on the disk.
  void power_loss(PowerLoss how, std::uint64_t seed = 0);

  // For tests. contents() is the current bytes of the live file `name`, or
  // "" when there is none (tell the two apart with exists()).
  bool exists(std::string_view name) const;
  std::string contents(std::string_view name) const;
  // Successful File::sync and File::write_sync calls, since construction.
  std::uint64_t sync_count() const;
  // Bytes accepted by successful File::write and write_sync calls.
  std::uint64_t bytes_written() const;

 private:
  struct State;
  class MemFile;

  const std::string path_;
  const std::shared_ptr<State> state_;  // shared with every open MemFile
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_MEM_FS_H_
