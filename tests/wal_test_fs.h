// The file layers every WAL suite runs on: in memory, and the real
// directory through each back-end (both must run in CI: io_uring refused is a
// failure unless HOTQ_ALLOW_NO_IO_URING=1 says this machine cannot have it).
#ifndef HOTQ_TESTS_WAL_TEST_FS_H_
#define HOTQ_TESTS_WAL_TEST_FS_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "wal/mem_fs.h"
#include "wal/posix_fs.h"

namespace hotq::wal::testing {

enum class Layer { mem, pwritev, io_uring };

inline const char* LayerName(const ::testing::TestParamInfo<Layer>& info) {
  switch (info.param) {
    case Layer::mem: return "mem";
    case Layer::pwritev: return "pwritev";
    case Layer::io_uring: return "io_uring";
  }
  return "?";
}

// Owns one Fs of the chosen layer (and its temporary directory).
class TestFs {
 public:
  explicit TestFs(Layer layer) : layer_(layer) { reopen(); }
  ~TestFs() {
    fs_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Fs& fs() { return *fs_; }
  MemFs* mem() { return dynamic_cast<MemFs*>(fs_.get()); }
  bool skipped() const { return !skip_reason_.empty(); }
  const std::string& skip_reason() const { return skip_reason_; }

  // Drops the Fs (releasing the directory lock) and opens the same directory
  // again: what a restarted process sees (MemFs: the same object).
  void reopen() {
    if (layer_ == Layer::mem) {
      if (!fs_) fs_ = std::make_unique<MemFs>("test");
      return;
    }
    if (dir_.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/hotq-wal-XXXXXX";
      if (mkdtemp(templ.data()) == nullptr) {
        ADD_FAILURE() << "mkdtemp failed";
        return;
      }
      dir_ = templ;
    }
    fs_.reset();
    PosixFsOptions options;
    options.backend = layer_ == Layer::io_uring ? Backend::io_uring : Backend::pwritev;
    std::string message;
    const int rc = open_posix_fs(dir_ + "/wal", options, &fs_, nullptr, &message);
    if (rc != 0 && layer_ == Layer::io_uring) {
      const char* allow = std::getenv("HOTQ_ALLOW_NO_IO_URING");
      if (allow != nullptr && std::string(allow) == "1") {
        skip_reason_ = "io_uring refused here: " + message;
        return;
      }
    }
    ASSERT_EQ(rc, 0) << message;
  }

 private:
  Layer layer_;
  std::string dir_;
  std::unique_ptr<Fs> fs_;
  std::string skip_reason_;
};

// A suite that runs on every layer: fs() is a fresh one per test.
class LayerTest : public ::testing::TestWithParam<Layer> {
 protected:
  void SetUp() override {
    tfs_ = std::make_unique<TestFs>(GetParam());
    if (tfs_->skipped()) GTEST_SKIP() << tfs_->skip_reason();
  }
  Fs& fs() { return tfs_->fs(); }
  std::unique_ptr<TestFs> tfs_;
};

// The whole file, through the layer.
inline std::string ReadFile(Fs& fs, const std::string& name) {
  std::unique_ptr<File> f;
  EXPECT_EQ(fs.open(name, OpenMode::existing, &f), 0) << name;
  if (f == nullptr) return {};
  std::uint64_t size = 0;
  EXPECT_EQ(f->size(&size), 0);
  std::string out(size, '\0');
  std::size_t got = 0;
  EXPECT_EQ(f->read(0, out.data(), size, &got), 0);
  out.resize(got);
  return out;
}

}  // namespace hotq::wal::testing

#endif  // HOTQ_TESTS_WAL_TEST_FS_H_
