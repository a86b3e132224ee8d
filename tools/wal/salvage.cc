// tools/wal/salvage.cc — copies the part of a WAL directory that recovery can
// use, up to the first damage, into a new directory (docs/hotq-wal.md,
// "salvage"). The source is only read, through ReadOnlyFs.
//
// What goes out: the snapshot recovery would use (byte for byte), the log
// segments recovery reads up to the cut whole, and the segment holding the
// cut up to its offset, the rest of it zeroed (the size stays: a segment's
// header names its size). A zeroed end is what a clean log ends with, so
// the engine opens the copy as a log that ends there. When what is left of
// the log ends below the snapshot's LSN (damage in records the snapshot
// covers), the log is left out altogether and the snapshot alone is the
// state: the engine starts a new segment after it.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <string>

#include "tools/wal/inspect.h"

namespace hotq::waltool {

namespace {

// realpath(3) of an existing path; empty on failure.
std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

std::string parent_of(const std::string& p) {
  std::string s = p;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const std::size_t slash = s.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : s.substr(0, slash);
}

bool inside(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         (dir == "/" || path[dir.size()] == '/'));
}

// 0 when `dir` is an empty directory; ENOTEMPTY / ENOTDIR / an errno.
int empty_dir(const std::string& dir) {
  std::unique_ptr<ReadOnlyFs> fs;
  if (int rc = ReadOnlyFs::open(dir, &fs); rc != 0) return rc;
  const int fd = ::openat(fs->dir_fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return errno;
  }
  int rc = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      rc = ENOTEMPTY;
      break;
    }
  }
  ::closedir(d);
  return rc;
}

int write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

// Creates dir/name (it must not exist) with `data`, fsynced.
int write_file(int dir_fd, const std::string& name, const std::string& data) {
  const int fd = ::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  int rc = write_all(fd, data.data(), data.size());
  if (rc == 0 && ::fsync(fd) != 0) rc = errno;
  if (::close(fd) != 0 && rc == 0) rc = errno;
  return rc;
}

int read_whole(wal::Fs& fs, const std::string& name, std::string* out) {
  std::unique_ptr<wal::File> f;
  if (int rc = fs.open(name, wal::OpenMode::existing, &f); rc != 0) return rc;
  std::uint64_t size = 0;
  if (int rc = f->size(&size); rc != 0) return rc;
  out->assign(size, '\0');
  std::size_t got = 0;
  if (int rc = f->read(0, out->data(), size, &got); rc != 0) return rc;
  out->resize(got);
  return 0;
}

}  // namespace

Exit salvage(ReadOnlyFs& fs, const ScanResult& scanned, const std::string& out_dir,
             std::string* report) {
  auto refuse = [&](Exit code, const std::string& why) {
    *report += "hotq-wal salvage: " + why + "\n";
    return code;
  };
  if (!scanned.snapshot_usable) {
    return refuse(Exit::corrupt, "nothing salvaged: " + scanned.finding.message +
                                     "; without that snapshot the log after it has no state to "
                                     "apply to");
  }
  // The output: new (or empty), and never inside the source.
  const std::string source = real_path(fs.path());
  struct stat st {};
  const bool exists = ::stat(out_dir.c_str(), &st) == 0;
  const std::string out_real = real_path(exists ? out_dir : parent_of(out_dir));
  if (out_real.empty()) {
    return refuse(Exit::output_refused,
                  "cannot use " + out_dir + ": " + (exists ? out_dir : parent_of(out_dir)) + ": " +
                      std::strerror(errno));
  }
  if (!source.empty() && inside(out_real, source)) {
    return refuse(Exit::output_refused, out_dir + " is inside the source directory " + fs.path() +
                                            ": the source is never written");
  }
  if (exists) {
    if (!S_ISDIR(st.st_mode)) return refuse(Exit::output_refused, out_dir + " exists and is not a directory");
    if (int rc = empty_dir(out_dir); rc != 0) {
      return refuse(Exit::output_refused,
                    out_dir + (rc == ENOTEMPTY ? std::string(" exists and is not empty: salvage writes only "
                                                             "into a new or empty directory")
                                               : ": " + std::string(std::strerror(rc))));
    }
  } else if (::mkdir(out_dir.c_str(), 0700) != 0) {
    return refuse(Exit::output_refused, "cannot create " + out_dir + ": " + std::strerror(errno));
  }
  const int out_fd = ::open(out_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (out_fd < 0) return refuse(Exit::output_refused, "cannot open " + out_dir + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{out_fd};

  // What to keep (inspect.h, Cut).
  const Cut& cut = scanned.cut;
  const std::uint64_t covered = scanned.snapshot.covered_lsn;
  const std::vector<NamedLsn>& segs = scanned.listing.segments;
  std::size_t whole_end = std::min(cut.cut_segment, segs.size());
  bool partial = cut.cut_segment < segs.size() && cut.cut_offset > wal::segment_header_bytes;
  std::size_t first = std::min(cut.first_kept, whole_end);
  const bool log_dropped = cut.kept_last_lsn < covered;
  if (log_dropped) {
    first = whole_end = 0;
    partial = false;
  }

  std::string data;
  std::size_t files = 0;
  auto copy = [&](const std::string& name, std::uint64_t keep_bytes) -> Exit {
    if (int rc = read_whole(fs, name, &data); rc != 0) {
      return refuse(Exit::io_error, "cannot read " + fs.path() + "/" + name + ": " + std::strerror(rc));
    }
    if (keep_bytes < data.size()) std::memset(data.data() + keep_bytes, 0, data.size() - keep_bytes);
    if (int rc = write_file(out_fd, name, data); rc != 0) {
      return refuse(Exit::io_error, "cannot write " + out_dir + "/" + name + ": " + std::strerror(rc));
    }
    ++files;
    return Exit::ok;
  };
  if (!scanned.snapshot.name.empty()) {
    if (Exit e = copy(scanned.snapshot.name, UINT64_MAX); e != Exit::ok) return e;
  }
  for (std::size_t i = first; i < whole_end; ++i) {
    if (Exit e = copy(segs[i].name, UINT64_MAX); e != Exit::ok) return e;
  }
  if (partial) {
    if (Exit e = copy(segs[cut.cut_segment].name, cut.cut_offset); e != Exit::ok) return e;
  }
  if (::fsync(out_fd) != 0) return refuse(Exit::io_error, "cannot fsync " + out_dir + ": " + std::strerror(errno));

  // What went out, what was left, and a check of the copy by the same scan.
  *report += "salvaged " + fs.path() + " into " + out_dir + ": " + std::to_string(files) + " file(s)\n";
  if (!scanned.snapshot.name.empty()) {
    *report += "  snapshot " + scanned.snapshot.name + " (covers LSN " + std::to_string(covered) + ")\n";
  }
  const std::uint64_t last = log_dropped ? covered : std::max(covered, cut.kept_last_lsn);
  *report += "  log through LSN " + std::to_string(last) + "\n";
  if (scanned.finding.condition != Condition::clean) {
    *report += "  left out: everything from " +
               (scanned.finding.file.empty() ? std::string("the damage")
                                             : scanned.finding.file + " offset " +
                                                   std::to_string(scanned.finding.offset)) +
               " on (" + scanned.finding.message + ")\n";
  }
  if (log_dropped) {
    *report += "  the log left before the damage ends below the snapshot's LSN: the snapshot alone "
               "is the state\n";
  }
  std::unique_ptr<ReadOnlyFs> check_fs;
  ScanResult check;
  std::string error;
  if (int rc = ReadOnlyFs::open(out_dir, &check_fs); rc != 0) {
    return refuse(Exit::io_error, "cannot reopen " + out_dir + ": " + std::strerror(rc));
  }
  if (int rc = scan(*check_fs, ScanHooks{}, &check, &error); rc != 0) return refuse(Exit::io_error, error);
  if (check.finding.condition != Condition::clean) {
    return refuse(Exit::corrupt, "the copy does not verify (a bug in hotq-wal): " + check.finding.message);
  }
  *report += "  the copy verifies clean: last LSN " + std::to_string(check.last_lsn) + ", " +
             std::to_string(check.state.jobs.size()) + " live job(s) in " +
             std::to_string(check.state.queues.size()) + " queue(s)\n";
  return Exit::ok;
}

}  // namespace hotq::waltool
