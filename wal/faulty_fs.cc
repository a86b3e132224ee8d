// wal/faulty_fs.cc — FaultyFs: see wal/faulty_fs.h for what each fault does.
//
// A call first asks decide() (under the mutex) whether a fault fails it, then
// does its I/O on the wrapped Fs without the mutex held, so calls on
// different files never wait for each other's I/O.
#include "wal/faulty_fs.h"

#include <cerrno>
#include <utility>

#include "util/check.h"

namespace hotq::wal {
namespace {

using engine::MutexLock;

constexpr std::size_t index_of(Fault fault) { return static_cast<std::size_t>(fault); }
static_assert(index_of(Fault::enospc_create) + 1 == fault_kinds);

// The faults each kind of call can meet, in the order they take precedence
// (the enum's order).
constexpr Fault write_faults[] = {Fault::short_write, Fault::eio_write, Fault::enospc_write};
constexpr Fault sync_faults[] = {Fault::eio_sync};
constexpr Fault read_faults[] = {Fault::eio_read};
constexpr Fault sync_dir_faults[] = {Fault::eio_sync_dir};
constexpr Fault create_faults[] = {Fault::enospc_create};

// The first `bytes` of `iov` (bytes <= the total of iov).
std::vector<iovec> prefix_of(std::span<const iovec> iov, std::uint64_t bytes) {
  std::vector<iovec> out;
  for (const iovec& v : iov) {
    if (bytes == 0) break;
    const std::size_t n = bytes < v.iov_len ? static_cast<std::size_t>(bytes) : v.iov_len;
    out.push_back(iovec{v.iov_base, n});
    bytes -= n;
  }
  HOTQ_CHECK(bytes == 0);
  return out;
}

}  // namespace

class FaultyFs::FaultyFile final : public File {
 public:
  FaultyFile(FaultyFs& fs, std::string name, std::unique_ptr<File> base)
      : fs_(fs), name_(std::move(name)), base_(std::move(base)) {}

  int write_sync(std::uint64_t offset, std::span<const iovec> iov) override {
    if (const auto fault = fs_.decide(write_faults, name_)) return fail_write(*fault, offset, iov);
    if (fs_.decide(sync_faults, name_)) {
      // The data reaches the file (the page cache), the fsync fails.
      const int err = base_->write(offset, iov);
      return err != 0 ? err : EIO;
    }
    return base_->write_sync(offset, iov);
  }

  int write(std::uint64_t offset, std::span<const iovec> iov) override {
    if (const auto fault = fs_.decide(write_faults, name_)) return fail_write(*fault, offset, iov);
    return base_->write(offset, iov);
  }

  int sync() override {
    if (fs_.decide(sync_faults, name_)) return EIO;  // not synced: the data stays volatile
    return base_->sync();
  }

  int read(std::uint64_t offset, void* buf, std::size_t n, std::size_t* got) override {
    if (fs_.decide(read_faults, name_)) {
      HOTQ_CHECK(got != nullptr);
      *got = 0;
      return EIO;
    }
    return base_->read(offset, buf, n, got);
  }

  int size(std::uint64_t* bytes) override { return base_->size(bytes); }
  int truncate(std::uint64_t bytes) override { return base_->truncate(bytes); }

 private:
  // What a write fault does; never returns 0.
  int fail_write(Fault fault, std::uint64_t offset, std::span<const iovec> iov) {
    switch (fault) {
      case Fault::short_write: {
        std::uint64_t total = 0;
        for (const iovec& v : iov) total += v.iov_len;
        const std::uint64_t prefix = total / 2 / short_write_align_bytes * short_write_align_bytes;
        if (prefix == 0) return EIO;
        const std::vector<iovec> part = prefix_of(iov, prefix);
        const int err = base_->write(offset, part);
        return err != 0 ? err : EIO;
      }
      case Fault::eio_write:
        return EIO;
      case Fault::enospc_write:
        return ENOSPC;
      default:
        HOTQ_CHECK(false && "not a write fault");
        return EIO;
    }
  }

  FaultyFs& fs_;
  const std::string name_;
  const std::unique_ptr<File> base_;
};

FaultyFs::FaultyFs(Fs& base) : base_(base) {}

void FaultyFs::arm(Fault fault, std::uint64_t skip, std::string_view name_filter, bool sticky) {
  HOTQ_CHECK(index_of(fault) < fault_kinds);
  HOTQ_CHECK(fault != Fault::eio_sync_dir || name_filter.empty());
  MutexLock lock(mu_);
  armings_[index_of(fault)] = Arming{true, sticky, skip, std::string(name_filter)};
}

void FaultyFs::disarm_all() {
  MutexLock lock(mu_);
  for (Arming& a : armings_) a = Arming{};
}

std::uint64_t FaultyFs::fired(Fault fault) const {
  HOTQ_CHECK(index_of(fault) < fault_kinds);
  // relaxed: a statistic; a test reads it after the calls it counts returned
  // on its own thread, or after joining the threads that made them.
  return fired_[index_of(fault)].load(std::memory_order_relaxed);
}

std::optional<Fault> FaultyFs::decide(std::span<const Fault> candidates, std::string_view name) {
  std::optional<Fault> fire;
  {
    MutexLock lock(mu_);
    for (const Fault fault : candidates) {
      Arming& a = armings_[index_of(fault)];
      if (!a.armed || name.find(a.name_filter) == std::string_view::npos) continue;
      if (a.skip > 0) {
        --a.skip;
        continue;
      }
      if (fire) continue;  // due too, but this call fails already: stays due
      fire = fault;
      a.armed = a.sticky;
    }
  }
  // relaxed: a statistic (see fired()).
  if (fire) fired_[index_of(*fire)].fetch_add(1, std::memory_order_relaxed);
  return fire;
}

int FaultyFs::open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) {
  HOTQ_CHECK(out != nullptr);
  if (mode == OpenMode::create_new && decide(create_faults, name)) return ENOSPC;
  std::unique_ptr<File> file;
  if (const int err = base_.open(name, mode, &file); err != 0) return err;
  *out = std::make_unique<FaultyFile>(*this, std::string(name), std::move(file));
  return 0;
}

int FaultyFs::list(std::vector<std::string>* names) { return base_.list(names); }

int FaultyFs::rename(std::string_view from, std::string_view to) { return base_.rename(from, to); }

int FaultyFs::remove(std::string_view name) { return base_.remove(name); }

int FaultyFs::sync_dir() {
  if (decide(sync_dir_faults, {})) return EIO;  // not performed
  return base_.sync_dir();
}

const std::string& FaultyFs::path() const { return base_.path(); }

}  // namespace hotq::wal
