// wal/borrowed_fs.h — BorrowedFs: lends an Fs (wal/fs.h) that outlives the
// engines or logs opened on it, for callers that take ownership of an Fs
// (EngineOpener::open): a test's or a tool's restart keeps the same MemFs,
// LossyFs or FaultyFs underneath. Every call goes to the borrowed Fs. A
// wrapper that changes a few calls derives from it and overrides those.
//
// Thread safety: that of the borrowed Fs. It must outlive the BorrowedFs.
#ifndef HOTQ_WAL_BORROWED_FS_H_
#define HOTQ_WAL_BORROWED_FS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wal/fs.h"

namespace hotq::wal {

class BorrowedFs : public Fs {
 public:
  explicit BorrowedFs(Fs& fs) : fs_(fs) {}
  int open(std::string_view n, OpenMode m, std::unique_ptr<File>* out) override { return fs_.open(n, m, out); }
  int list(std::vector<std::string>* names) override { return fs_.list(names); }
  int rename(std::string_view a, std::string_view b) override { return fs_.rename(a, b); }
  int remove(std::string_view n) override { return fs_.remove(n); }
  int sync_dir() override { return fs_.sync_dir(); }
  const std::string& path() const override { return fs_.path(); }

 protected:
  Fs& borrowed() { return fs_; }

 private:
  Fs& fs_;
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_BORROWED_FS_H_
