// wal/borrowed_fs.h — BorrowedFs: lends an Fs (wal/fs.h) that outlives the
// engines or logs opened on it, for callers that take ownership of an Fs
// (EngineOpener::open): a test's or a tool's restart keeps the same MemFs,
// LossyFs or FaultyFs underneath. Every call goes to the borrowed Fs. A
// wrapper that changes a few calls derives from it and overrides those.
// ForwardingFile is the same for a File: it owns the File it wraps and
// passes every call on; a wrapper's File overrides the calls it changes.
//
// Thread safety: that of the borrowed Fs (or wrapped File). The borrowed Fs
// must outlive the BorrowedFs.
#ifndef HOTQ_WAL_BORROWED_FS_H_
#define HOTQ_WAL_BORROWED_FS_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "wal/fs.h"

namespace hotq::wal {

class BorrowedFs : public Fs {
 public:
  explicit BorrowedFs(Fs& fs) : fs_(fs) {}
  // Not copyable: BorrowedFs(wrapper), for a wrapper derived from
  // BorrowedFs, would pick the copy and lend the wrapper's own borrowed Fs,
  // silently bypassing the wrapper. Lend a wrapper as an Fs&.
  BorrowedFs(const BorrowedFs&) = delete;
  BorrowedFs& operator=(const BorrowedFs&) = delete;
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

class ForwardingFile : public File {
 public:
  explicit ForwardingFile(std::unique_ptr<File> inner) : inner_(std::move(inner)) {}
  int write_sync(std::uint64_t offset, std::span<const iovec> iov) override {
    return inner_->write_sync(offset, iov);
  }
  int write(std::uint64_t offset, std::span<const iovec> iov) override { return inner_->write(offset, iov); }
  int sync() override { return inner_->sync(); }
  int read(std::uint64_t offset, void* buf, std::size_t n, std::size_t* got) override {
    return inner_->read(offset, buf, n, got);
  }
  int size(std::uint64_t* bytes) override { return inner_->size(bytes); }
  int truncate(std::uint64_t bytes) override { return inner_->truncate(bytes); }

 protected:
  File& inner() { return *inner_; }

 private:
  std::unique_ptr<File> inner_;
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_BORROWED_FS_H_
