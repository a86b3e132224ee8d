// wal/posix_fs.cc — see wal/posix_fs.h for the contract.
#include "wal/posix_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "engine/mutex.h"
#include "util/check.h"

namespace hotq::wal {
namespace {

using engine::Mutex;
using engine::MutexLock;

// iovecs per pwritev / IORING_OP_WRITEV: the kernel refuses more (EINVAL).
constexpr std::size_t iov_per_call_max = IOV_MAX;
static_assert(iov_per_call_max >= 16, "IOV_MAX is at least _XOPEN_IOV_MAX");

constexpr std::uint64_t off_max = static_cast<std::uint64_t>(std::numeric_limits<off_t>::max());
static_assert(io_uring_write_bytes_max <= std::uint64_t{INT32_MAX}, "a CQE result is an int32");
static_assert(io_uring_entries_min <= io_uring_entries_default &&
              io_uring_entries_default <= io_uring_entries_max);

std::string errno_text(int err) { return std::generic_category().message(err); }

// An owned file descriptor; closed on destruction. close() errors are ignored:
// durability comes from the syncs, never from close.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A plain file name inside the directory: not empty, not "." or "..", no '/'
// (no escaping the directory) and no NUL (the kernel would see a shorter name).
bool valid_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

// The byte count of `iov`, with offset + count within off_t: 0 or EINVAL.
int checked_total(std::uint64_t offset, std::span<const iovec> iov, std::uint64_t* total) {
  if (offset > off_max) return EINVAL;
  std::uint64_t sum = 0;
  for (const iovec& v : iov) {
    if (v.iov_len > off_max - offset - sum) return EINVAL;
    sum += v.iov_len;
  }
  *total = sum;
  return 0;
}

// Where a write stands inside an iovec array: iov[index], byte `within`.
struct IovCursor {
  std::size_t index = 0;
  std::size_t within = 0;

  void advance(std::span<const iovec> iov, std::uint64_t bytes) {
    while (bytes > 0) {
      HOTQ_CHECK(index < iov.size());
      const std::uint64_t left = iov[index].iov_len - within;
      if (bytes < left) {
        within += static_cast<std::size_t>(bytes);
        return;
      }
      bytes -= left;
      ++index;
      within = 0;
    }
  }
};

// Writes all `total` bytes of `iov` at `offset` with pwrite/pwritev. Partial
// progress is continued; a failure (other than EINTR) is returned at once.
int pwritev_all(int fd, std::uint64_t offset, std::span<const iovec> iov, std::uint64_t total) {
  IovCursor at;
  std::uint64_t done = 0;
  while (done < total) {
    // Start each call at an iovec with bytes, so that 0 means no progress.
    while (at.within == 0 && iov[at.index].iov_len == 0) ++at.index;
    const off_t pos = static_cast<off_t>(offset + done);
    ssize_t n;
    if (at.within > 0) {
      // Resume inside a partly written iovec without copying the array.
      const iovec& v = iov[at.index];
      n = ::pwrite(fd, static_cast<const char*>(v.iov_base) + at.within, v.iov_len - at.within,
                   pos);
    } else {
      const std::size_t count = std::min(iov.size() - at.index, iov_per_call_max);
      n = ::pwritev(fd, &iov[at.index], static_cast<int>(count), pos);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // no progress: it would loop forever
    at.advance(iov, static_cast<std::uint64_t>(n));
    done += static_cast<std::uint64_t>(n);
  }
  return 0;
}

// fdatasync, never retried (see the header).
int datasync(int fd) { return ::fdatasync(fd) == 0 ? 0 : errno; }

// One io_uring, shared by an Fs and its Files; see the header for the chains.
class Ring {
 public:
  Ring(unsigned entries, std::uint64_t write_bytes_max)
      : entries_(entries), write_bytes_max_(write_bytes_max) {}
  ~Ring() {
    if (initialized_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Sets the ring up and checks that it can do our work: 0, or the errno
  // that refused it (the caller then drops the Ring).
  int init(std::string* why) HOTQ_EXCLUDES(mu_);

  // All `total` bytes of `iov` at `offset`, then fdatasync, as linked SQEs.
  int write_sync(int fd, std::uint64_t offset, std::span<const iovec> iov, std::uint64_t total)
      HOTQ_EXCLUDES(mu_);

 private:
  // One planned IORING_OP_WRITEV: a slice of the caller's array, or one
  // piece of an iovec too large for one write (kept in pieces_).
  struct Write {
    const iovec* iov;
    unsigned count;
    std::uint64_t bytes;
  };

  Write next_write(std::span<const iovec> iov, IovCursor* at, std::size_t slot) HOTQ_REQUIRES(mu_);
  int run_chain(int fd, std::uint64_t offset, std::span<const iovec> iov, IovCursor* at,
                std::uint64_t* done, std::uint64_t total) HOTQ_REQUIRES(mu_);
  int submit_and_reap(unsigned sqes) HOTQ_REQUIRES(mu_);

  static constexpr std::int32_t result_none = std::numeric_limits<std::int32_t>::min();

  const unsigned entries_;
  const std::uint64_t write_bytes_max_;  // per IORING_OP_WRITEV
  Mutex mu_;
  io_uring ring_ HOTQ_GUARDED_BY(mu_){};
  bool initialized_ = false;  // set once by init(), before any sharing
  // Set when io_uring_submit failed: SQEs may be stuck in the ring, so it is
  // never entered again and every later write_sync returns EIO.
  int broken_ HOTQ_GUARDED_BY(mu_) = 0;
  // Per SQE of the chain in flight (index == user_data), sized entries_.
  std::vector<iovec> pieces_ HOTQ_GUARDED_BY(mu_);
  std::vector<std::uint64_t> expected_ HOTQ_GUARDED_BY(mu_);
  std::vector<std::int32_t> results_ HOTQ_GUARDED_BY(mu_);
};

int Ring::init(std::string* why) {
  MutexLock lock(mu_);
  const int r = io_uring_queue_init(entries_, &ring_, 0);
  if (r < 0) {
    *why = "io_uring_queue_init";
    return -r;
  }
  initialized_ = true;
  pieces_.resize(entries_);
  expected_.resize(entries_);
  results_.resize(entries_);
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) {
    *why = "IORING_REGISTER_PROBE failed (kernel older than 5.6, or filtered)";
    return EOPNOTSUPP;
  }
  const bool ops = io_uring_opcode_supported(probe, IORING_OP_WRITEV) != 0 &&
                   io_uring_opcode_supported(probe, IORING_OP_FSYNC) != 0;
  io_uring_free_probe(probe);
  if (!ops) {
    *why = "io_uring lacks IORING_OP_WRITEV or IORING_OP_FSYNC";
    return EOPNOTSUPP;
  }
  // A NOP round trip: some sandboxes allow io_uring_setup but not _enter.
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  HOTQ_CHECK(sqe != nullptr);
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, 0);
  const int err = submit_and_reap(1);
  if (err != 0 || results_[0] != 0) {
    *why = "io_uring NOP";
    return err != 0 ? err : EIO;
  }
  return 0;
}

// Submits the `sqes` prepared SQEs (user_data 0..sqes-1) and reaps exactly as
// many CQEs into results_. Returns 0 or the errno of io_uring_submit (the
// ring is then broken_); CQE results are the caller's to judge.
int Ring::submit_and_reap(unsigned sqes) {
  HOTQ_CHECK(sqes <= results_.size());
  for (unsigned i = 0; i < sqes; ++i) results_[i] = result_none;
  unsigned submitted = 0;
  int err = 0;
  while (submitted < sqes) {
    const int r = io_uring_submit(&ring_);
    if (r == -EINTR) continue;
    if (r <= 0) {
      err = r < 0 ? -r : EIO;
      broken_ = err;
      break;
    }
    submitted += static_cast<unsigned>(r);
  }
  // Reap every CQE of what the kernel took, failure or not: it may still be
  // reading the caller's buffers, and the next call needs an empty ring.
  for (unsigned i = 0; i < submitted; ++i) {
    io_uring_cqe* cqe = nullptr;
    int r;
    do {
      r = io_uring_wait_cqe(&ring_, &cqe);
    } while (r == -EINTR || r == -EAGAIN);
    // Returning with SQEs in flight would let the kernel use memory the
    // caller is about to reuse: a wait that cannot finish is fatal.
    HOTQ_CHECK(r == 0 && cqe != nullptr);
    const std::uint64_t slot = io_uring_cqe_get_data64(cqe);
    HOTQ_CHECK(slot < sqes && results_[slot] == result_none);
    results_[slot] = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
  }
  return err;
}

Ring::Write Ring::next_write(std::span<const iovec> iov, IovCursor* at, std::size_t slot) {
  const iovec& v = iov[at->index];
  if (at->within > 0 || v.iov_len > write_bytes_max_) {
    // A piece of one large iovec.
    const std::size_t len =
        static_cast<std::size_t>(std::min<std::uint64_t>(v.iov_len - at->within, write_bytes_max_));
    pieces_[slot] = iovec{static_cast<char*>(v.iov_base) + at->within, len};
    at->advance(iov, len);
    return Write{&pieces_[slot], 1, len};
  }
  // A slice of whole iovecs: at most IOV_MAX of them and the byte cap.
  const std::size_t first = at->index;
  std::uint64_t bytes = 0;
  std::size_t i = first;
  while (i < iov.size() && i - first < iov_per_call_max &&
         iov[i].iov_len <= write_bytes_max_ - bytes) {
    bytes += iov[i].iov_len;
    ++i;
  }
  at->index = i;
  return Write{&iov[first], static_cast<unsigned>(i - first), bytes};
}

// One submission: as many linked writes as fit (entries_ - 1), then the
// fsync if the data is all in. Advances *at and *done past what was written.
int Ring::run_chain(int fd, std::uint64_t offset, std::span<const iovec> iov, IovCursor* at,
                    std::uint64_t* done, std::uint64_t total) {
  unsigned sqes = 0;
  io_uring_sqe* last = nullptr;
  std::uint64_t queued = *done;
  while (queued < total && sqes < entries_ - 1) {
    const Write w = next_write(iov, at, sqes);
    if (w.bytes == 0) continue;  // only zero-length iovecs: nothing to send
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    HOTQ_CHECK(sqe != nullptr);  // the ring is empty between calls
    io_uring_prep_writev(sqe, fd, w.iov, w.count, offset + queued);
    io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
    io_uring_sqe_set_data64(sqe, sqes);
    expected_[sqes] = w.bytes;
    queued += w.bytes;
    last = sqe;
    ++sqes;
  }
  const bool with_sync = queued == total;
  if (with_sync) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    HOTQ_CHECK(sqe != nullptr);
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, sqes);
    ++sqes;
  } else {
    HOTQ_CHECK(last != nullptr);  // the loop stopped on a full chain, not on no data
    last->flags &= static_cast<std::uint8_t>(~IOSQE_IO_LINK);  // the chain ends here
  }
  const int err = submit_and_reap(sqes);
  if (err != 0) return err;
  // Judge in chain order: the first failure is the cause, and everything
  // linked after it comes back -ECANCELED.
  const unsigned writes = with_sync ? sqes - 1 : sqes;
  for (unsigned i = 0; i < writes; ++i) {
    if (results_[i] < 0) return -results_[i];
    // Short: the kernel did not finish it, so neither can we (no retry).
    if (static_cast<std::uint64_t>(results_[i]) != expected_[i]) return EIO;
  }
  *done = queued;
  if (with_sync && results_[writes] < 0) return -results_[writes];
  return 0;
}

int Ring::write_sync(int fd, std::uint64_t offset, std::span<const iovec> iov,
                     std::uint64_t total) {
  MutexLock lock(mu_);
  if (broken_ != 0) return EIO;
  IovCursor at;
  std::uint64_t done = 0;
  // Each chain writes at least one byte or ends with the fsync.
  for (;;) {
    const int err = run_chain(fd, offset, iov, &at, &done, total);
    if (err != 0) return err;
    if (done == total) return 0;
  }
}

class PosixFile final : public File {
 public:
  PosixFile(UniqueFd fd, std::shared_ptr<Ring> ring) : fd_(std::move(fd)), ring_(std::move(ring)) {}

  int write_sync(std::uint64_t offset, std::span<const iovec> iov) override {
    std::uint64_t total = 0;
    if (const int err = checked_total(offset, iov, &total); err != 0) return err;
    if (ring_ != nullptr) return ring_->write_sync(fd_.get(), offset, iov, total);
    if (const int err = pwritev_all(fd_.get(), offset, iov, total); err != 0) return err;
    return datasync(fd_.get());
  }

  int write(std::uint64_t offset, std::span<const iovec> iov) override {
    std::uint64_t total = 0;
    if (const int err = checked_total(offset, iov, &total); err != 0) return err;
    return pwritev_all(fd_.get(), offset, iov, total);
  }

  int sync() override { return datasync(fd_.get()); }

  int read(std::uint64_t offset, void* buf, std::size_t n, std::size_t* got) override {
    *got = 0;
    if (offset > off_max) return EINVAL;
    // Nothing lies past off_t's range: reading there is reading at the end.
    if (n > off_max - offset) n = static_cast<std::size_t>(off_max - offset);
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_.get(), static_cast<char*>(buf) + done, n - done,
                                static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        *got = done;
        return errno;
      }
      if (r == 0) break;  // end of file
      done += static_cast<std::size_t>(r);
    }
    *got = done;
    return 0;
  }

  int size(std::uint64_t* bytes) override {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return errno;
    *bytes = static_cast<std::uint64_t>(st.st_size);
    return 0;
  }

  int truncate(std::uint64_t bytes) override {
    if (bytes > off_max) return EINVAL;
    while (::ftruncate(fd_.get(), static_cast<off_t>(bytes)) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }

 private:
  UniqueFd fd_;
  std::shared_ptr<Ring> ring_;  // null: the pwritev back-end
};

class PosixFs final : public Fs {
 public:
  PosixFs(std::string path, UniqueFd dir, UniqueFd lock, std::shared_ptr<Ring> ring)
      : path_(std::move(path)),
        dir_(std::move(dir)),
        lock_(std::move(lock)),
        ring_(std::move(ring)) {}

  int open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) override {
    if (!valid_name(name)) return EINVAL;
    const std::string n(name);
    int flags = O_RDWR | O_CLOEXEC;
    if (mode == OpenMode::create_new) flags |= O_CREAT | O_EXCL;
    int fd;
    do {
      fd = ::openat(dir_.get(), n.c_str(), flags, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    *out = std::make_unique<PosixFile>(UniqueFd(fd), ring_);
    return 0;
  }

  int list(std::vector<std::string>* names) override {
    // A fresh description of the directory, so concurrent lists do not share
    // a read position; fdopendir owns it from here.
    const int fd = ::openat(dir_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      const int err = errno;
      ::close(fd);
      return err;
    }
    std::vector<std::string> found;
    int err = 0;
    for (;;) {
      errno = 0;
      // readdir is safe here: this DIR belongs to this call alone.
      const dirent* e = ::readdir(d);  // NOLINT(concurrency-mt-unsafe)
      if (e == nullptr) {
        err = errno;
        break;
      }
      const std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      bool regular = e->d_type == DT_REG;
      if (e->d_type == DT_UNKNOWN) {  // some file systems do not fill d_type
        struct stat st {};
        if (::fstatat(dir_.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) continue;  // removed meanwhile
          err = errno;
          break;
        }
        regular = S_ISREG(st.st_mode);
      }
      if (regular) found.emplace_back(name);
    }
    ::closedir(d);
    if (err != 0) return err;
    *names = std::move(found);
    return 0;
  }

  int rename(std::string_view from, std::string_view to) override {
    if (!valid_name(from) || !valid_name(to)) return EINVAL;
    const std::string f(from);
    const std::string t(to);
    return ::renameat(dir_.get(), f.c_str(), dir_.get(), t.c_str()) == 0 ? 0 : errno;
  }

  int remove(std::string_view name) override {
    if (!valid_name(name)) return EINVAL;
    const std::string n(name);
    return ::unlinkat(dir_.get(), n.c_str(), 0) == 0 ? 0 : errno;
  }

  int sync_dir() override { return ::fsync(dir_.get()) == 0 ? 0 : errno; }

  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  const UniqueFd dir_;
  const UniqueFd lock_;               // holds the flock for the Fs's life
  const std::shared_ptr<Ring> ring_;  // null: the pwritev back-end
};

// The directory that holds `dir`'s entry: "a/b/" -> "a", "b" -> ".", "/b" -> "/".
std::string parent_of(const std::string& dir) {
  std::size_t end = dir.size();
  while (end > 1 && dir[end - 1] == '/') --end;
  const std::size_t slash = dir.rfind('/', end - 1);
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return dir.substr(0, slash);
}

int fsync_path(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno;
  return ::fsync(fd.get()) == 0 ? 0 : errno;
}

// mkdir (last component only) and open; then fsync the parent so the
// directory's entry is durable — also when it already existed, since a
// crashed earlier opener may have created it without that sync.
int open_dir(const std::string& dir, UniqueFd* out, std::string* message) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    *message = "cannot create directory " + dir + " (" + errno_text(err) + ")";
    return err;
  }
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    *message = "cannot open directory " + dir + " (" + errno_text(err) + ")";
    return err;
  }
  if (const int err = fsync_path(parent_of(dir)); err != 0) {
    *message = "cannot fsync the parent of " + dir + " (" + errno_text(err) + ")";
    return err;
  }
  *out = std::move(fd);
  return 0;
}

int lock_dir(int dir_fd, const std::string& dir, UniqueFd* out, std::string* message) {
  UniqueFd fd(::openat(dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    const int err = errno;
    *message = "cannot open " + dir + "/LOCK (" + errno_text(err) + ")";
    return err;
  }
  int r;
  do {
    r = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int err = errno;
    *message = err == EWOULDBLOCK ? dir + " is in use: another process or Fs holds " + dir + "/LOCK"
                                  : "cannot lock " + dir + "/LOCK (" + errno_text(err) + ")";
    return err;
  }
  *out = std::move(fd);
  return 0;
}

// Picks the back-end; a null *ring means pwritev.
int choose_backend(const PosixFsOptions& options, std::shared_ptr<Ring>* ring, Backend* chosen,
                   std::string* message) {
  const std::string plain = "pwritev+fdatasync";
  if (options.backend == Backend::pwritev) {
    *chosen = Backend::pwritev;
    *message = "using " + plain + " (as configured)";
    return 0;
  }
  auto r = std::make_shared<Ring>(options.io_uring_entries, options.io_uring_write_bytes);
  std::string why;
  const int err = r->init(&why);
  if (err == 0) {
    *ring = std::move(r);
    *chosen = Backend::io_uring;
    *message = "using io_uring (" + std::to_string(options.io_uring_entries) +
               " entries): writev linked to fdatasync in one submission";
    return 0;
  }
  const std::string refused = "io_uring refused (" + errno_text(err) + ", " + why + ")";
  if (options.backend == Backend::io_uring) {
    *message = refused + ": io_uring was required";
    return err;
  }
  *chosen = Backend::pwritev;
  *message = refused + ": using " + plain;
  return 0;
}

}  // namespace

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::automatic:
      return "automatic";
    case Backend::io_uring:
      return "io_uring";
    case Backend::pwritev:
      return "pwritev";
  }
  return "unknown";
}

int open_posix_fs(const std::string& dir, const PosixFsOptions& options, std::unique_ptr<Fs>* out,
                  Backend* chosen, std::string* message) {
  HOTQ_CHECK(out != nullptr);
  std::string scratch;
  std::string* msg = message != nullptr ? message : &scratch;
  msg->clear();
  if (options.io_uring_entries < io_uring_entries_min ||
      options.io_uring_entries > io_uring_entries_max || options.io_uring_write_bytes == 0 ||
      options.io_uring_write_bytes > io_uring_write_bytes_max) {
    *msg = "io_uring_entries must be in [" + std::to_string(io_uring_entries_min) + ", " +
           std::to_string(io_uring_entries_max) + "] and io_uring_write_bytes in [1, " +
           std::to_string(io_uring_write_bytes_max) + "]";
    return EINVAL;
  }
  UniqueFd dir_fd;
  if (const int err = open_dir(dir, &dir_fd, msg); err != 0) return err;
  UniqueFd lock_fd;
  if (const int err = lock_dir(dir_fd.get(), dir, &lock_fd, msg); err != 0) return err;
  std::shared_ptr<Ring> ring;
  Backend used = Backend::pwritev;
  if (const int err = choose_backend(options, &ring, &used, msg); err != 0) return err;
  *out = std::make_unique<PosixFs>(dir, std::move(dir_fd), std::move(lock_fd), std::move(ring));
  if (chosen != nullptr) *chosen = used;
  return 0;
}

}  // namespace hotq::wal
