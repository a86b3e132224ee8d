// Tests for wal/posix_fs.h: the wal/fs.h contract on a real directory, run
// for both back-ends (pwritev and io_uring). Each test gets a fresh directory
// under $TMPDIR (or /tmp), removed afterwards.
//
// io_uring must work where these tests run: if the kernel refuses it, the
// io_uring instantiation fails, unless HOTQ_ALLOW_NO_IO_URING=1 turns that
// into a skip (for machines known to lack it).
//
// Real errors, not simulated ones: RLIMIT_FSIZE (set in a forked child, with
// SIGXFSZ ignored) makes writes at or past the limit fail with EFBIG, which
// checks that nothing claims success and that an io_uring chain that failed
// leaves the ring usable. A forked child also checks the directory lock
// across processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "wal/posix_fs.h"

namespace hotq::wal {

// gtest prints the parameter by name (found by ADL, so outside the anonymous
// namespace).
void PrintTo(Backend b, std::ostream* os) { *os << backend_name(b); }

namespace {

// getenv: the tests never set the environment, so reading it is safe.
bool io_uring_may_be_missing() {
  const char* v = std::getenv("HOTQ_ALLOW_NO_IO_URING");  // NOLINT(concurrency-mt-unsafe)
  return v != nullptr && std::string_view(v) == "1";
}

std::string make_temp_root() {
  const char* tmp = std::getenv("TMPDIR");  // NOLINT(concurrency-mt-unsafe)
  std::string path =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hotq_posix_fs_test.XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) return "";
  return path;
}

// Deterministic, position-dependent bytes: a misplaced chunk shows.
std::vector<char> pattern(std::size_t n, unsigned seed) {
  std::vector<char> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = static_cast<char>((i * 131 + std::size_t{seed} * 7 + (i >> 8)) & 0xff);
  }
  return v;
}

// Cuts `data` into iovecs of lengths 0, 1, ..., 40, 0, 1, ... (zero-length
// ones included on purpose).
std::vector<iovec> cut(std::vector<char>& data) {
  std::vector<iovec> iov;
  std::size_t at = 0;
  for (std::size_t len = 0; at < data.size(); len = (len + 1) % 41) {
    const std::size_t take = std::min(len, data.size() - at);
    iov.push_back(iovec{data.data() + at, take});
    at += take;
  }
  return iov;
}

// Cuts `data` into equal iovecs of `len` bytes (the last may be shorter).
std::vector<iovec> cut_even(std::vector<char>& data, std::size_t len) {
  std::vector<iovec> iov;
  for (std::size_t at = 0; at < data.size(); at += len) {
    iov.push_back(iovec{data.data() + at, std::min(len, data.size() - at)});
  }
  return iov;
}

std::vector<char> read_back(File& f, std::uint64_t offset, std::size_t n, int* err) {
  std::vector<char> out(n);
  std::size_t got = 0;
  *err = f.read(offset, out.data(), n, &got);
  out.resize(got);
  return out;
}

std::uint64_t size_of(File& f) {
  std::uint64_t bytes = ~std::uint64_t{0};
  EXPECT_EQ(f.size(&bytes), 0);
  return bytes;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return ~0u;
  return static_cast<unsigned>(st.st_mode & 07777);
}

// Runs `fn` in a forked child and returns the ints it reports (through a
// pipe), so a limit or lock set there cannot leak into this process. The
// child must not use gtest assertions; an empty result means it died.
std::vector<int> in_child(const std::function<std::vector<int>()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid < 0) return {};
  if (pid == 0) {
    ::close(fds[0]);
    const std::vector<int> results = fn();
    const std::size_t bytes = results.size() * sizeof(int);
    const bool ok = ::write(fds[1], results.data(), bytes) == static_cast<ssize_t>(bytes);
    ::_exit(ok ? 0 : 1);
  }
  ::close(fds[1]);
  std::vector<int> results;
  int v;
  // A short read only at the end (the child writes once, well under PIPE_BUF
  // for the few ints reported here).
  while (::read(fds[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) results.push_back(v);
  ::close(fds[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return {};
  }
  return results;
}

class PosixFsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    root_ = make_temp_root();
    ASSERT_FALSE(root_.empty()) << "mkdtemp: " << std::generic_category().message(errno);
    dir_ = root_ + "/wal";
    std::string message;
    const int err = open_fs(dir_, &fs_, PosixFsOptions{GetParam()}, &message);
    if (err != 0 && GetParam() == Backend::io_uring) {
      if (io_uring_may_be_missing()) GTEST_SKIP() << "io_uring unavailable: " << message;
      FAIL() << "io_uring is refused on this machine (" << message
             << "); set HOTQ_ALLOW_NO_IO_URING=1 to skip the io_uring tests here";
    }
    ASSERT_EQ(err, 0) << message;
  }

  void TearDown() override {
    fs_.reset();
    if (!root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }

  // open_posix_fs that also checks the back-end it reports.
  static int open_fs(const std::string& dir, std::unique_ptr<Fs>* out, const PosixFsOptions& o,
                     std::string* message = nullptr) {
    Backend chosen = Backend::automatic;
    std::string m;
    const int err = open_posix_fs(dir, o, out, &chosen, &m);
    if (message != nullptr) *message = m;
    if (err == 0 && o.backend != Backend::automatic) {
      EXPECT_EQ(chosen, o.backend) << m;
    }
    return err;
  }

  std::unique_ptr<File> create(std::string_view name) {
    std::unique_ptr<File> f;
    EXPECT_EQ(fs_->open(name, OpenMode::create_new, &f), 0) << name;
    return f;
  }

  std::vector<std::string> sorted_list() {
    std::vector<std::string> names;
    EXPECT_EQ(fs_->list(&names), 0);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string root_;
  std::string dir_;
  std::unique_ptr<Fs> fs_;
};

// ---------------------------------------------------------------- opening

TEST_P(PosixFsTest, CreatesDirectory0700WithLockFile0600) {
  EXPECT_EQ(mode_of(dir_), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/LOCK"), 0600u);
  EXPECT_EQ(fs_->path(), dir_);
}

TEST_P(PosixFsTest, ExistingDirectoryIsUsedAsItIs) {
  const std::string dir = root_ + "/existing";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0750), 0);
  const int fd = ::open((dir + "/old.log").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "abc", 3), 3);
  ::close(fd);

  std::unique_ptr<Fs> fs;
  ASSERT_EQ(open_fs(dir, &fs, PosixFsOptions{GetParam()}), 0);
  EXPECT_EQ(mode_of(dir), 0750u);
  std::vector<std::string> names;
  ASSERT_EQ(fs->list(&names), 0);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"LOCK", "old.log"}));
  std::unique_ptr<File> f;
  ASSERT_EQ(fs->open("old.log", OpenMode::existing, &f), 0);
  int err = 0;
  const std::vector<char> got = read_back(*f, 0, 10, &err);
  EXPECT_EQ(err, 0);
  EXPECT_EQ(std::string(got.begin(), got.end()), "abc");
}

TEST_P(PosixFsTest, OnlyTheLastComponentIsCreated) {
  std::unique_ptr<Fs> fs;
  std::string message;
  EXPECT_EQ(open_fs(root_ + "/missing/wal", &fs, PosixFsOptions{GetParam()}, &message), ENOENT);
  EXPECT_EQ(fs, nullptr);
  EXPECT_FALSE(message.empty());

  const std::string file = root_ + "/plain";
  const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_EQ(open_fs(file, &fs, PosixFsOptions{GetParam()}), ENOTDIR);
  EXPECT_EQ(fs, nullptr);
}

TEST_P(PosixFsTest, SecondOpenIsLockedOutUntilTheFirstIsDestroyed) {
  std::unique_ptr<Fs> second;
  std::string message;
  const int err = open_fs(dir_, &second, PosixFsOptions{GetParam()}, &message);
  EXPECT_TRUE(err == EWOULDBLOCK || err == EAGAIN) << err;
  EXPECT_EQ(second, nullptr);
  EXPECT_NE(message.find("LOCK"), std::string::npos) << message;

  // Another process is locked out the same way.
  const Backend backend = GetParam();
  const std::string dir = dir_;
  const std::vector<int> child = in_child([&] {
    std::unique_ptr<Fs> fs;
    return std::vector<int>{open_posix_fs(dir, PosixFsOptions{backend}, &fs, nullptr, nullptr)};
  });
  ASSERT_EQ(child.size(), 1u);
  EXPECT_TRUE(child[0] == EWOULDBLOCK || child[0] == EAGAIN) << child[0];

  fs_.reset();
  EXPECT_EQ(open_fs(dir_, &second, PosixFsOptions{GetParam()}), 0);
  EXPECT_NE(second, nullptr);
}

TEST_P(PosixFsTest, OptionsOutOfRangeAreEinval) {
  const std::string dir = root_ + "/other";
  std::unique_ptr<Fs> fs;
  PosixFsOptions o{GetParam()};
  o.io_uring_entries = io_uring_entries_min - 1;
  EXPECT_EQ(open_fs(dir, &fs, o), EINVAL);
  o.io_uring_entries = io_uring_entries_max + 1;
  EXPECT_EQ(open_fs(dir, &fs, o), EINVAL);
  o.io_uring_entries = io_uring_entries_default;
  o.io_uring_write_bytes = 0;
  EXPECT_EQ(open_fs(dir, &fs, o), EINVAL);
  o.io_uring_write_bytes = io_uring_write_bytes_max + 1;
  EXPECT_EQ(open_fs(dir, &fs, o), EINVAL);
  EXPECT_EQ(fs, nullptr);
}

// ---------------------------------------------------------------- files

TEST_P(PosixFsTest, OpenModes) {
  std::unique_ptr<File> f;
  EXPECT_EQ(fs_->open("a.log", OpenMode::existing, &f), ENOENT);
  EXPECT_EQ(f, nullptr);
  ASSERT_EQ(fs_->open("a.log", OpenMode::create_new, &f), 0);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(size_of(*f), 0u);
  EXPECT_EQ(mode_of(dir_ + "/a.log"), 0600u);

  std::unique_ptr<File> again;
  EXPECT_EQ(fs_->open("a.log", OpenMode::create_new, &again), EEXIST);
  EXPECT_EQ(again, nullptr);
  ASSERT_EQ(fs_->open("a.log", OpenMode::existing, &again), 0);
  EXPECT_NE(again, nullptr);
}

TEST_P(PosixFsTest, InvalidNamesAreEinval) {
  const std::string_view bad[] = {
      "", ".", "..", "a/b", "/etc/passwd", "../x", std::string_view("a\0b", 3)};
  ASSERT_NE(create("good"), nullptr);
  for (const std::string_view name : bad) {
    std::unique_ptr<File> f;
    EXPECT_EQ(fs_->open(name, OpenMode::create_new, &f), EINVAL) << name;
    EXPECT_EQ(fs_->open(name, OpenMode::existing, &f), EINVAL) << name;
    EXPECT_EQ(f, nullptr);
    EXPECT_EQ(fs_->rename("good", name), EINVAL) << name;
    EXPECT_EQ(fs_->rename(name, "good"), EINVAL) << name;
    EXPECT_EQ(fs_->remove(name), EINVAL) << name;
  }
  EXPECT_EQ(sorted_list(), (std::vector<std::string>{"LOCK", "good"}));
}

TEST_P(PosixFsTest, WriteSyncOfManyIovecsReadsBackExactly) {
  // More than IOV_MAX iovecs, of lengths 0..40, at an unaligned offset.
  std::vector<char> data = pattern(60'000, 1);
  const std::vector<iovec> iov = cut(data);
  ASSERT_GT(iov.size(), std::size_t{IOV_MAX} * 2);
  const std::uint64_t offset = 4096 + 13;
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->write_sync(offset, iov), 0);

  EXPECT_EQ(size_of(*f), offset + data.size());
  int err = -1;
  EXPECT_EQ(read_back(*f, offset, data.size(), &err), data);
  EXPECT_EQ(err, 0);
  // The hole before the offset reads as zeros.
  EXPECT_EQ(read_back(*f, 0, offset, &err), std::vector<char>(offset, 0));
}

TEST_P(PosixFsTest, OverwriteInsidePreallocatedFileKeepsItsSize) {
  constexpr std::uint64_t file_bytes = 1 << 20;
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->truncate(file_bytes), 0);
  ASSERT_EQ(f->sync(), 0);

  std::vector<char> first = pattern(5'000, 2);
  std::vector<char> second = pattern(3'000, 3);
  ASSERT_EQ(f->write_sync(64, cut(first)), 0);
  ASSERT_EQ(f->write_sync(64 + 1'000, cut(second)), 0);  // overwrites part of the first
  EXPECT_EQ(size_of(*f), file_bytes);

  std::vector<char> expect(file_bytes, 0);
  std::copy(first.begin(), first.end(), expect.begin() + 64);
  std::copy(second.begin(), second.end(), expect.begin() + 64 + 1'000);
  int err = -1;
  EXPECT_EQ(read_back(*f, 0, file_bytes, &err), expect);
  EXPECT_EQ(err, 0);
}

TEST_P(PosixFsTest, WriteThenSync) {
  std::vector<char> data = pattern(10'000, 4);
  std::unique_ptr<File> f = create("tmp");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->write(100, cut(data)), 0);  // > IOV_MAX iovecs through write() too
  ASSERT_EQ(f->sync(), 0);
  int err = -1;
  EXPECT_EQ(read_back(*f, 100, data.size(), &err), data);
  EXPECT_EQ(err, 0);
}

TEST_P(PosixFsTest, EmptyWriteSyncOnlySyncs) {
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->write_sync(0, {}), 0);
  const iovec empties[3] = {{nullptr, 0}, {nullptr, 0}, {nullptr, 0}};
  EXPECT_EQ(f->write_sync(4096, empties), 0);
  EXPECT_EQ(f->write(4096, empties), 0);
  EXPECT_EQ(size_of(*f), 0u);
}

// More than IOV_MAX zero-length iovecs before the data: a call given only
// empty iovecs writes 0 bytes, which must not read as "no progress".
TEST_P(PosixFsTest, RunsOfEmptyIovecsAreSkipped) {
  std::vector<char> data = pattern(100, 17);
  std::vector<iovec> iov(2'500, iovec{nullptr, 0});
  iov.push_back(iovec{data.data(), 60});
  iov.insert(iov.end(), 1'500, iovec{nullptr, 0});
  iov.push_back(iovec{data.data() + 60, 40});
  iov.insert(iov.end(), 1'100, iovec{nullptr, 0});
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->write_sync(10, iov), 0);
  ASSERT_EQ(f->write(200, iov), 0);
  ASSERT_EQ(f->sync(), 0);
  int err = -1;
  EXPECT_EQ(read_back(*f, 10, 100, &err), data);
  EXPECT_EQ(read_back(*f, 200, 1'000, &err), data);
  EXPECT_EQ(size_of(*f), 300u);
}

TEST_P(PosixFsTest, ReadAtTheEndIsShort) {
  std::vector<char> data = pattern(100, 5);
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->write_sync(0, cut(data)), 0);
  int err = -1;
  EXPECT_EQ(read_back(*f, 90, 20, &err), std::vector<char>(data.begin() + 90, data.end()));
  EXPECT_EQ(err, 0);
  EXPECT_TRUE(read_back(*f, 100, 5, &err).empty());
  EXPECT_EQ(err, 0);
  EXPECT_TRUE(read_back(*f, 1'000, 5, &err).empty());
  EXPECT_EQ(err, 0);
  std::size_t got = 1;
  char c;
  EXPECT_EQ(f->read(0, &c, 0, &got), 0);
  EXPECT_EQ(got, 0u);
}

TEST_P(PosixFsTest, TruncateShrinksAndExtendsWithZeros) {
  std::vector<char> data = pattern(1'000, 6);
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->write_sync(0, cut(data)), 0);
  ASSERT_EQ(f->truncate(300), 0);
  EXPECT_EQ(size_of(*f), 300u);
  ASSERT_EQ(f->truncate(800), 0);
  EXPECT_EQ(size_of(*f), 800u);
  std::vector<char> expect(data.begin(), data.begin() + 300);
  expect.resize(800, 0);
  int err = -1;
  EXPECT_EQ(read_back(*f, 0, 2'000, &err), expect);
  EXPECT_EQ(err, 0);
}

TEST_P(PosixFsTest, OffsetsBeyondOffTAreEinval) {
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  char byte = 'x';
  const iovec one[1] = {{&byte, 1}};
  constexpr std::uint64_t off_max = std::numeric_limits<off_t>::max();
  EXPECT_EQ(f->write_sync(~std::uint64_t{0}, one), EINVAL);
  EXPECT_EQ(f->write_sync(off_max, one), EINVAL);
  EXPECT_EQ(f->write(off_max, one), EINVAL);
  std::size_t got = 7;
  EXPECT_EQ(f->read(~std::uint64_t{0}, &byte, 1, &got), EINVAL);
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(f->truncate(~std::uint64_t{0}), EINVAL);
  EXPECT_EQ(size_of(*f), 0u);
}

// ---------------------------------------------------------------- directory

TEST_P(PosixFsTest, ListsRegularFilesOnlyLockIncluded) {
  ASSERT_NE(create("wal-1.log"), nullptr);
  ASSERT_NE(create("snap-1.snap"), nullptr);
  ASSERT_EQ(::mkdir((dir_ + "/subdir").c_str(), 0700), 0);
  ASSERT_EQ(::symlink("wal-1.log", (dir_ + "/link").c_str()), 0);
  EXPECT_EQ(sorted_list(), (std::vector<std::string>{"LOCK", "snap-1.snap", "wal-1.log"}));
}

TEST_P(PosixFsTest, RenameReplacesAndRemoveDeletes) {
  std::vector<char> a = pattern(10, 7);
  std::vector<char> b = pattern(20, 8);
  std::unique_ptr<File> fa = create("a.tmp");
  ASSERT_NE(fa, nullptr);
  std::unique_ptr<File> fb = create("b.snap");
  ASSERT_NE(fb, nullptr);
  ASSERT_EQ(fa->write_sync(0, cut(a)), 0);
  ASSERT_EQ(fb->write_sync(0, cut(b)), 0);
  fa.reset();
  fb.reset();

  EXPECT_EQ(fs_->rename("a.tmp", "b.snap"), 0);
  EXPECT_EQ(fs_->sync_dir(), 0);
  EXPECT_EQ(sorted_list(), (std::vector<std::string>{"LOCK", "b.snap"}));
  std::unique_ptr<File> f;
  ASSERT_EQ(fs_->open("b.snap", OpenMode::existing, &f), 0);
  int err = -1;
  EXPECT_EQ(read_back(*f, 0, 100, &err), a);

  EXPECT_EQ(fs_->rename("a.tmp", "c"), ENOENT);
  EXPECT_EQ(fs_->remove("b.snap"), 0);
  EXPECT_EQ(fs_->remove("b.snap"), ENOENT);
  EXPECT_EQ(fs_->sync_dir(), 0);
  EXPECT_EQ(sorted_list(), (std::vector<std::string>{"LOCK"}));
  // An open File still works on the unlinked inode.
  EXPECT_EQ(f->write_sync(0, cut(b)), 0);
}

// ---------------------------------------------------------------- io_uring chains

// A ring of 2 entries (one write + the fsync per submission) and 4 KiB per
// write: iovecs bigger than a write go in pieces, and one write_sync takes
// many chains. The pwritev back-end ignores both options.
TEST_P(PosixFsTest, SmallRingSplitsIntoPiecesAndChains) {
  PosixFsOptions o{GetParam()};
  o.io_uring_entries = io_uring_entries_min;
  o.io_uring_write_bytes = 4096;
  std::unique_ptr<Fs> fs;
  ASSERT_EQ(open_fs(root_ + "/small", &fs, o), 0);
  std::unique_ptr<File> f;
  ASSERT_EQ(fs->open("seg", OpenMode::create_new, &f), 0);

  std::vector<char> big = pattern(50'000, 9);  // iovecs of 10'000 > 4096
  ASSERT_EQ(f->write_sync(7, cut_even(big, 10'000)), 0);
  std::vector<char> many = pattern(30'000, 10);  // 3'000 iovecs > IOV_MAX
  ASSERT_EQ(f->write_sync(7 + big.size(), cut_even(many, 10)), 0);
  std::vector<char> mixed = pattern(70'000, 11);  // 0..40-byte iovecs
  ASSERT_EQ(f->write_sync(7 + big.size() + many.size(), cut(mixed)), 0);

  std::vector<char> expect(7, 0);
  expect.insert(expect.end(), big.begin(), big.end());
  expect.insert(expect.end(), many.begin(), many.end());
  expect.insert(expect.end(), mixed.begin(), mixed.end());
  int err = -1;
  EXPECT_EQ(read_back(*f, 0, expect.size() + 10, &err), expect);
  EXPECT_EQ(err, 0);
}

// Two threads, two Files of one Fs: the shared ring is serialized (run this
// under TSan too). Every byte must land where its thread put it.
TEST_P(PosixFsTest, FilesOfOneFsWriteFromTwoThreads) {
  constexpr int writes = 40;
  constexpr std::size_t bytes_per_write = 3'000;
  std::unique_ptr<File> files[2] = {create("one"), create("two")};
  ASSERT_NE(files[0], nullptr);
  ASSERT_NE(files[1], nullptr);
  std::vector<char> data[2] = {pattern(writes * bytes_per_write, 12),
                               pattern(writes * bytes_per_write, 13)};
  int errors[2] = {0, 0};
  auto writer = [&](int t) {
    for (int i = 0; i < writes; ++i) {
      const std::size_t at = static_cast<std::size_t>(i) * bytes_per_write;
      std::vector<char> chunk(data[t].begin() + static_cast<std::ptrdiff_t>(at),
                              data[t].begin() + static_cast<std::ptrdiff_t>(at + bytes_per_write));
      if (files[t]->write_sync(at, cut(chunk)) != 0) ++errors[t];
    }
  };
  std::thread a(writer, 0);
  std::thread b(writer, 1);
  a.join();
  b.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(errors[t], 0);
    int err = -1;
    EXPECT_EQ(read_back(*files[t], 0, data[t].size(), &err), data[t]);
  }
}

TEST_P(PosixFsTest, FileMayOutliveItsFs) {
  std::unique_ptr<File> f = create("seg");
  ASSERT_NE(f, nullptr);
  fs_.reset();  // releases the lock; the File keeps the ring
  std::vector<char> data = pattern(2'000, 14);
  EXPECT_EQ(f->write_sync(0, cut(data)), 0);
  int err = -1;
  EXPECT_EQ(read_back(*f, 0, data.size(), &err), data);
  EXPECT_EQ(open_fs(dir_, &fs_, PosixFsOptions{GetParam()}), 0);
}

// ---------------------------------------------------------------- real errors

// RLIMIT_FSIZE in a child: writes at or past the limit fail with EFBIG (the
// kernel's real error path), and no call reports success. Afterwards a write
// below the limit succeeds: a failed io_uring chain leaves the ring clean.
TEST_P(PosixFsTest, WritesPastRlimitFsizeFailWithEfbig) {
  constexpr std::uint64_t limit_bytes = std::uint64_t{64} * 1024;
  const Backend backend = GetParam();
  const std::string dir = root_ + "/limited";
  enum Step {
    open_err,
    create_err,
    at_limit,
    at_limit_nosync,
    straddle,
    straddle_chain,
    after_ok,
    size_ok,
    steps
  };
  const std::vector<int> r = in_child([&] {
    std::vector<int> out(steps, -1);
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{limit_bytes, limit_bytes};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) return out;
    PosixFsOptions o{backend};
    o.io_uring_entries = 4;  // a long write takes several chains
    std::unique_ptr<Fs> fs;
    out[open_err] = open_posix_fs(dir, o, &fs, nullptr, nullptr);
    if (out[open_err] != 0) return out;
    std::unique_ptr<File> f;
    out[create_err] = fs->open("seg", OpenMode::create_new, &f);
    if (out[create_err] != 0) return out;

    std::vector<char> page = pattern(4096, 15);
    const iovec one[1] = {{page.data(), page.size()}};
    out[at_limit] = f->write_sync(limit_bytes, one);
    out[at_limit_nosync] = f->write(limit_bytes, one);
    out[straddle] = f->write_sync(limit_bytes - 100, one);
    // 3'000 iovecs of 33 bytes from 0: the limit falls inside the 2nd write
    // of the chain (io_uring) or a later pwritev (pwritev).
    std::vector<char> long_data = pattern(std::size_t{3'000} * 33, 16);
    out[straddle_chain] = f->write_sync(0, cut_even(long_data, 33));

    out[after_ok] = f->write_sync(0, one);
    std::vector<char> back(page.size());
    std::size_t got = 0;
    if (out[after_ok] == 0 &&
        (f->read(0, back.data(), back.size(), &got) != 0 || got != back.size() || back != page)) {
      out[after_ok] = -2;
    }
    std::uint64_t size = 0;
    out[size_ok] = f->size(&size) == 0 && size <= limit_bytes ? 1 : 0;
    return out;
  });
  ASSERT_EQ(r.size(), std::size_t{steps}) << "the child died";
  ASSERT_EQ(r[open_err], 0);
  ASSERT_EQ(r[create_err], 0);
  EXPECT_EQ(r[at_limit], EFBIG);
  EXPECT_EQ(r[at_limit_nosync], EFBIG);
  // pwritev continues after the partial write and then meets EFBIG; an
  // io_uring write comes back short, which is EIO (no retry). Either way a
  // failure, never 0.
  const bool uring = backend == Backend::io_uring;
  for (const Step step : {straddle, straddle_chain}) {
    if (uring) {
      EXPECT_TRUE(r[step] == EIO || r[step] == EFBIG) << "step " << step << ": " << r[step];
    } else {
      EXPECT_EQ(r[step], EFBIG) << "step " << step;
    }
  }
  EXPECT_EQ(r[after_ok], 0);
  EXPECT_EQ(r[size_ok], 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, PosixFsTest,
                         ::testing::Values(Backend::pwritev, Backend::io_uring),
                         [](const ::testing::TestParamInfo<Backend>& p) {
                           return std::string(backend_name(p.param));
                         });

// ---------------------------------------------------------------- automatic

TEST(PosixFsAutomatic, ReportsTheBackendItChose) {
  const std::string root = make_temp_root();
  ASSERT_FALSE(root.empty());
  std::unique_ptr<Fs> fs;
  Backend chosen = Backend::automatic;
  std::string message;
  ASSERT_EQ(open_posix_fs(root + "/wal", PosixFsOptions{}, &fs, &chosen, &message), 0) << message;
  EXPECT_NE(chosen, Backend::automatic);
  EXPECT_NE(message.find(backend_name(chosen)), std::string::npos) << message;
  if (!io_uring_may_be_missing()) {
    EXPECT_EQ(chosen, Backend::io_uring) << message;
  }
  fs.reset();
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

TEST(PosixFsAutomatic, BackendNames) {
  EXPECT_STREQ(backend_name(Backend::automatic), "automatic");
  EXPECT_STREQ(backend_name(Backend::io_uring), "io_uring");
  EXPECT_STREQ(backend_name(Backend::pwritev), "pwritev");
}

}  // namespace
}  // namespace hotq::wal
