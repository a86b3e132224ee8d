// Tests for LossyFs (wal/lossy_fs.h): power cuts on a real directory, through
// each posix back-end (pwritev, io_uring).
//   Data: unsynced writes lost, sync and write_sync kept, lengths restored
//     after an extension or a shrink, torn sectors each old or new (and the
//     same for the same seed), two handles on one file share its undo.
//   Names: creations, renames (also over an existing file) and removals
//     without sync_dir undone, with sync_dir kept; hidden names never shown.
//   The layer: dead handles and a down layer after the cut, reboot(), the
//     undo and journal limits, destruction without a cut.
//   Against the model: random operations give what MemFs gives.
//   Concurrency: a cut while two threads write and rename.
//   The WAL: a Log on LossyFs, cut, recovered from a fresh posix Fs.
// Deterministic: the torn model is seeded; threads are checked by what the
// acknowledged calls guarantee, whenever the cut lands.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/test_util.h"
#include "tests/wal_test_fs.h"
#include "tests/wal_test_util.h"
#include "wal/lossy_fs.h"
#include "wal/mem_fs.h"

namespace hotq::wal {
namespace {

using testing::AppendDurable;
using testing::BodyFor;
using testing::Layer;
using testing::OpenLog;
using testing::ReadFile;
using testing::RecoverAll;
using testing::TestFs;

constexpr std::size_t sector = lossy_sector_bytes;

iovec iov_of(std::string_view s) { return iovec{const_cast<char*>(s.data()), s.size()}; }

int write_str(File& f, std::uint64_t offset, std::string_view s) {
  const iovec v = iov_of(s);
  return f.write(offset, std::span<const iovec>(&v, 1));
}

int write_sync_str(File& f, std::uint64_t offset, std::string_view s) {
  const iovec v = iov_of(s);
  return f.write_sync(offset, std::span<const iovec>(&v, 1));
}

std::unique_ptr<File> open_or_die(Fs& fs, std::string_view name, OpenMode mode) {
  std::unique_ptr<File> f;
  const int err = fs.open(name, mode, &f);
  EXPECT_EQ(err, 0) << name;
  return f;
}

// Creates `name` holding `data`, synced and named durably.
void make_durable_file(Fs& fs, std::string_view name, std::string_view data) {
  auto f = open_or_die(fs, name, OpenMode::create_new);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(write_sync_str(*f, 0, data), 0);
  ASSERT_EQ(fs.sync_dir(), 0);
}

// The directory's names, sorted, without the posix layer's LOCK.
std::vector<std::string> sorted_names(Fs& fs) {
  std::vector<std::string> names;
  EXPECT_EQ(fs.list(&names), 0);
  std::erase(names, "LOCK");
  std::sort(names.begin(), names.end());
  return names;
}

bool any_hidden(const std::vector<std::string>& names) {
  return std::any_of(names.begin(), names.end(),
                     [](const std::string& n) { return n.starts_with(lossy_hidden_prefix); });
}

// ------------------------------------------------------------ the fixture

// A LossyFs over a fresh directory of the layer under test.
class LossyFsTest : public testing::LayerTest {
 protected:
  void SetUp() override {
    LayerTest::SetUp();
    if (IsSkipped()) return;
    lossy_ = std::make_unique<LossyFs>(fs());
  }

  LossyFs& lossy() { return *lossy_; }

  // The cut, then the next boot: the LossyFs and the posix Fs go, and a fresh
  // posix Fs opens the directory (fs() from here on).
  void CutAndReopen(PowerCut how = PowerCut::lose_unsynced, std::uint64_t seed = 0) {
    ASSERT_EQ(lossy_->power_cut(how, seed), 0);
    lossy_.reset();
    tfs_->reopen();
  }

  std::unique_ptr<LossyFs> lossy_;
};

// ---------------------------------------------------------------- data

TEST_P(LossyFsTest, PathIsTheWrappedOnes) { EXPECT_EQ(lossy().path(), fs().path()); }

TEST_P(LossyFsTest, UnsyncedWriteIsLost) {
  auto f = open_or_die(lossy(), "a", OpenMode::create_new);
  ASSERT_EQ(lossy().sync_dir(), 0);
  ASSERT_EQ(write_sync_str(*f, 0, "durable"), 0);
  ASSERT_EQ(write_str(*f, 0, "VOLATILE"), 0);  // overwrites and extends
  EXPECT_EQ(ReadFile(lossy(), "a"), "VOLATILE");
  EXPECT_EQ(lossy().undo_bytes(), 7u);  // the bytes it overwrote
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), "durable");
}

TEST_P(LossyFsTest, SyncedWriteIsKept) {
  auto f = open_or_die(lossy(), "a", OpenMode::create_new);
  ASSERT_EQ(lossy().sync_dir(), 0);
  ASSERT_EQ(write_str(*f, 0, "synced"), 0);
  ASSERT_EQ(f->sync(), 0);
  EXPECT_EQ(lossy().undo_bytes(), 0u);
  ASSERT_EQ(write_str(*f, 6, " and lost"), 0);
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), "synced");
}

TEST_P(LossyFsTest, WriteSyncIsKeptWithWhatCameBefore) {
  auto f = open_or_die(lossy(), "a", OpenMode::create_new);
  ASSERT_EQ(lossy().sync_dir(), 0);
  ASSERT_EQ(write_sync_str(*f, 0, "xxxxx"), 0);
  ASSERT_EQ(write_str(*f, 0, "first"), 0);         // unsynced ...
  ASSERT_EQ(write_sync_str(*f, 5, "second"), 0);  // ... until this fdatasync
  EXPECT_EQ(lossy().undo_bytes(), 0u);
  ASSERT_EQ(write_str(*f, 0, "F"), 0);
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), "firstsecond");
}

TEST_P(LossyFsTest, ExtendThenCutRestoresTheLength) {
  const std::string durable(1000, 'a');
  make_durable_file(lossy(), "a", durable);
  auto f = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(write_str(*f, 3000, "tail"), 0);  // a gap of zeros, then bytes
  ASSERT_EQ(f->truncate(8000), 0);
  ASSERT_EQ(write_str(*f, 998, "overlapping the old end"), 0);
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), durable);
}

TEST_P(LossyFsTest, ShrinkThenCutRestoresTheBytes) {
  std::string durable;
  for (int i = 0; i < 3000; ++i) durable += static_cast<char>('a' + i % 26);
  make_durable_file(lossy(), "a", durable);
  auto f = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(f->truncate(10), 0);
  ASSERT_EQ(write_str(*f, 1500, "new bytes where old ones were cut off"), 0);
  ASSERT_EQ(f->truncate(700), 0);
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), durable);
}

TEST_P(LossyFsTest, TwoHandlesOnOneFileShareItsSync) {
  make_durable_file(lossy(), "a", "0123456789");
  auto f = open_or_die(lossy(), "a", OpenMode::existing);
  auto g = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(write_str(*f, 0, "AB"), 0);
  ASSERT_EQ(g->sync(), 0);  // fdatasync of the inode: f's write too
  ASSERT_EQ(write_str(*g, 8, "YZ"), 0);
  f.reset();  // closing one handle keeps the other's unsynced bytes undoable
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), "AB23456789");
}

// A torn cut's input: a durable file, then unsynced writes and truncates.
struct TornCase {
  struct Op {
    std::uint64_t offset;  // a truncate: the new length
    std::string data;
    bool truncate = false;
  };
  std::string durable;
  std::vector<Op> ops;

  // The file after the ops (what reads see before the cut).
  std::string current() const {
    std::string s = durable;
    for (const Op& op : ops) {
      const auto at = static_cast<std::size_t>(op.offset);
      if (op.truncate) {
        s.resize(at);
      } else {
        if (s.size() < at + op.data.size()) s.resize(at + op.data.size());
        s.replace(at, op.data.size(), op.data);
      }
    }
    return s;
  }
};

std::vector<TornCase> TornCases() {
  using Op = TornCase::Op;
  return {
      // 8 durable sectors of 'a'; sectors 1..4 rewritten, half of sector 6,
      // 2.5 sectors appended.
      {std::string(8 * sector, 'a'),
       {Op{sector, std::string(4 * sector, 'b')}, Op{6 * sector, std::string(sector / 2, 'c')},
        Op{8 * sector, std::string(2 * sector + sector / 2, 'd')}}},
      // The durable end inside a sector, a write across it.
      {std::string(1000, 'a'), {Op{900, std::string(200, 'b')}}},
      // A shrink, then a write past the shrunk end, inside the old length.
      {std::string(3 * sector + 100, 'a'),
       {Op{700, {}, true}, Op{1200, std::string(100, 'e')}}},
  };
}

// One torn cut of `c` on a fresh directory; what the next boot reads.
std::string TornRun(Layer layer, const TornCase& c, std::uint64_t seed) {
  TestFs disk(layer);
  {
    LossyFs lossy(disk.fs());
    auto f = open_or_die(lossy, "t", OpenMode::create_new);
    EXPECT_EQ(lossy.sync_dir(), 0);
    EXPECT_EQ(write_sync_str(*f, 0, c.durable), 0);
    for (const TornCase::Op& op : c.ops) {
      EXPECT_EQ(op.truncate ? f->truncate(op.offset) : write_str(*f, op.offset, op.data), 0);
    }
    EXPECT_EQ(ReadFile(lossy, "t"), c.current());
    EXPECT_EQ(lossy.power_cut(PowerCut::torn, seed), 0);
  }
  disk.reopen();
  return ReadFile(disk.fs(), "t");
}

// Sector `s` of `v`, zeros past its end, `n` bytes.
std::string sector_of(const std::string& v, std::size_t s, std::size_t n) {
  std::string out(n, '\0');
  if (s * sector < v.size()) v.copy(out.data(), n, s * sector);
  return out;
}

TEST_P(LossyFsTest, TornCutKeepsEachSectorOldOrNew) {
  const std::vector<TornCase> cases = TornCases();
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const TornCase& c = cases[k];
    const std::string current = c.current();
    std::set<std::string> outcomes;
    int old_sectors = 0, new_sectors = 0;
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
      const std::string got = TornRun(GetParam(), c, seed);
      ASSERT_TRUE(got.size() == c.durable.size() || got.size() == current.size())
          << "case " << k << " seed " << seed << ": " << got.size() << " bytes";
      for (std::size_t s = 0; s * sector < got.size(); ++s) {
        const std::size_t n = std::min(sector, got.size() - s * sector);
        const std::string have = got.substr(s * sector, n);
        const std::string was = sector_of(c.durable, s, n);
        const std::string is = sector_of(current, s, n);
        ASSERT_TRUE(have == was || have == is) << "case " << k << " seed " << seed << " sector " << s;
        if (was != is) (have == was ? old_sectors : new_sectors) += 1;
      }
      outcomes.insert(got);
    }
    EXPECT_GT(old_sectors, 0) << "case " << k;
    EXPECT_GT(new_sectors, 0) << "case " << k;
    EXPECT_GT(outcomes.size(), 2u) << "case " << k;  // the seeds do tear differently
  }
}

TEST_P(LossyFsTest, TornCutIsTheSameForTheSameSeed) {
  const TornCase c = TornCases()[0];
  EXPECT_EQ(TornRun(GetParam(), c, 7), TornRun(GetParam(), c, 7));
  EXPECT_EQ(TornRun(GetParam(), c, 8), TornRun(GetParam(), c, 8));
}

// ---------------------------------------------------------------- names

TEST_P(LossyFsTest, CreateWithoutSyncDirVanishes) {
  make_durable_file(lossy(), "old", "kept");
  auto f = open_or_die(lossy(), "new", OpenMode::create_new);
  ASSERT_EQ(write_sync_str(*f, 0, "data synced, name not"), 0);
  EXPECT_EQ(sorted_names(lossy()), (std::vector<std::string>{"new", "old"}));
  CutAndReopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"old"}));
  EXPECT_EQ(ReadFile(fs(), "old"), "kept");
}

TEST_P(LossyFsTest, SyncDirDoesNotMakeDataDurable) {
  auto f = open_or_die(lossy(), "a", OpenMode::create_new);
  ASSERT_EQ(lossy().sync_dir(), 0);
  ASSERT_EQ(write_str(*f, 0, "unsynced"), 0);
  ASSERT_EQ(lossy().sync_dir(), 0);
  CutAndReopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"a"}));
  EXPECT_EQ(ReadFile(fs(), "a"), "");
}

TEST_P(LossyFsTest, RenameWithoutSyncDirIsUndone) {
  make_durable_file(lossy(), "snap.tmp", "new state");
  make_durable_file(lossy(), "snap", "old state");
  make_durable_file(lossy(), "x", "moved");
  ASSERT_EQ(lossy().rename("snap.tmp", "snap"), 0);  // replaces an existing file
  ASSERT_EQ(lossy().rename("x", "y"), 0);            // to a free name
  EXPECT_EQ(sorted_names(lossy()), (std::vector<std::string>{"snap", "y"}));
  EXPECT_EQ(ReadFile(lossy(), "snap"), "new state");
  EXPECT_TRUE(any_hidden(sorted_names(fs())));  // the replaced file, aside on disk
  EXPECT_EQ(lossy().journal_entries(), 2u);
  CutAndReopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"snap", "snap.tmp", "x"}));
  EXPECT_EQ(ReadFile(fs(), "snap"), "old state");
  EXPECT_EQ(ReadFile(fs(), "snap.tmp"), "new state");
  EXPECT_EQ(ReadFile(fs(), "x"), "moved");
}

TEST_P(LossyFsTest, RenameOfAnOpenFileUndoesItsDataToo) {
  make_durable_file(lossy(), "a", "durable a");
  make_durable_file(lossy(), "b", "durable b");
  auto fa = open_or_die(lossy(), "a", OpenMode::existing);
  auto fb = open_or_die(lossy(), "b", OpenMode::existing);
  ASSERT_EQ(write_str(*fb, 0, "UNSYNCED B"), 0);
  ASSERT_EQ(lossy().rename("a", "b"), 0);    // b's file goes aside, still open
  ASSERT_EQ(write_str(*fa, 0, "UNSYNCED A"), 0);  // a's file, now named b
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), "durable a");
  EXPECT_EQ(ReadFile(fs(), "b"), "durable b");
}

TEST_P(LossyFsTest, RenameWithSyncDirIsKept) {
  make_durable_file(lossy(), "snap.tmp", "new state");
  make_durable_file(lossy(), "snap", "old state");
  ASSERT_EQ(lossy().rename("snap.tmp", "snap"), 0);
  ASSERT_EQ(lossy().sync_dir(), 0);
  EXPECT_EQ(lossy().journal_entries(), 0u);
  EXPECT_FALSE(any_hidden(sorted_names(fs())));  // the replaced file is gone for good
  CutAndReopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"snap"}));
  EXPECT_EQ(ReadFile(fs(), "snap"), "new state");
}

TEST_P(LossyFsTest, FailedRenameChangesNothing) {
  make_durable_file(lossy(), "to", "still here");
  EXPECT_EQ(lossy().rename("missing", "to"), ENOENT);
  EXPECT_EQ(lossy().rename("missing", "free"), ENOENT);
  EXPECT_EQ(lossy().rename("to", "to"), 0);
  EXPECT_EQ(lossy().rename("missing", "missing"), ENOENT);
  EXPECT_EQ(sorted_names(lossy()), (std::vector<std::string>{"to"}));
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"to"}));
  EXPECT_EQ(ReadFile(lossy(), "to"), "still here");
  EXPECT_EQ(lossy().journal_entries(), 0u);
}

TEST_P(LossyFsTest, RemoveWithoutSyncDirComesBackWithItsDurableContent) {
  make_durable_file(lossy(), "a", "durable");
  auto f = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(write_str(*f, 0, "DURABLE but not synced"), 0);
  ASSERT_EQ(lossy().remove("a"), 0);
  EXPECT_TRUE(sorted_names(lossy()).empty());
  std::unique_ptr<File> g;
  EXPECT_EQ(lossy().open("a", OpenMode::existing, &g), ENOENT);
  EXPECT_EQ(lossy().remove("a"), ENOENT);
  ASSERT_EQ(write_str(*f, 1, "!"), 0);  // still usable through the open handle
  CutAndReopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"a"}));
  EXPECT_EQ(ReadFile(fs(), "a"), "durable");
}

TEST_P(LossyFsTest, RemoveThenCreateAgainIsUndoneInOrder) {
  make_durable_file(lossy(), "a", "the old a");
  ASSERT_EQ(lossy().remove("a"), 0);
  auto f = open_or_die(lossy(), "a", OpenMode::create_new);
  ASSERT_EQ(write_sync_str(*f, 0, "a new a"), 0);
  EXPECT_EQ(ReadFile(lossy(), "a"), "a new a");
  CutAndReopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"a"}));
  EXPECT_EQ(ReadFile(fs(), "a"), "the old a");
}

TEST_P(LossyFsTest, RemoveWithSyncDirIsKept) {
  make_durable_file(lossy(), "a", "durable");
  make_durable_file(lossy(), "b", "other");
  auto f = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(lossy().remove("a"), 0);
  ASSERT_EQ(lossy().sync_dir(), 0);
  // Writes to a durably removed file are not saved: nothing of it survives.
  ASSERT_EQ(write_str(*f, 0, "into the void"), 0);
  EXPECT_EQ(lossy().undo_bytes(), 0u);
  CutAndReopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"b"}));
}

TEST_P(LossyFsTest, ReservedNamesAreRefusedAndHidden) {
  make_durable_file(lossy(), "a", "x");
  const std::string hidden = std::string(lossy_hidden_prefix) + "0";
  std::unique_ptr<File> f;
  EXPECT_EQ(lossy().open(hidden, OpenMode::create_new, &f), EINVAL);
  EXPECT_EQ(lossy().open(hidden, OpenMode::existing, &f), EINVAL);
  EXPECT_EQ(lossy().rename("a", hidden), EINVAL);
  EXPECT_EQ(lossy().rename(hidden, "a"), EINVAL);
  EXPECT_EQ(lossy().remove(hidden), EINVAL);
  // Other bad names are the wrapped layer's to refuse.
  EXPECT_EQ(lossy().open("a/b", OpenMode::create_new, &f), EINVAL);
  EXPECT_EQ(lossy().rename("a", "a/b"), EINVAL);
  EXPECT_EQ(lossy().remove(""), EINVAL);
  ASSERT_EQ(lossy().remove("a"), 0);
  EXPECT_TRUE(sorted_names(lossy()).empty());
  EXPECT_TRUE(any_hidden(sorted_names(fs())));
}

// ---------------------------------------------------------------- the layer

TEST_P(LossyFsTest, FilesOpenedBeforeTheCutReturnEio) {
  make_durable_file(lossy(), "a", "durable");
  auto f = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(write_str(*f, 0, "lost"), 0);
  ASSERT_EQ(lossy().power_cut(PowerCut::lose_unsynced, 0), 0);
  EXPECT_TRUE(lossy().is_down());
  char buf[4];
  std::size_t got = 99;
  std::uint64_t bytes = 0;
  EXPECT_EQ(write_str(*f, 0, "x"), EIO);
  EXPECT_EQ(write_sync_str(*f, 0, "x"), EIO);
  EXPECT_EQ(f->sync(), EIO);
  EXPECT_EQ(f->read(0, buf, sizeof buf, &got), EIO);
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(f->size(&bytes), EIO);
  EXPECT_EQ(f->truncate(0), EIO);
  // The layer itself is down until reboot().
  std::unique_ptr<File> g;
  std::vector<std::string> names;
  EXPECT_EQ(lossy().open("a", OpenMode::existing, &g), EIO);
  EXPECT_EQ(lossy().open("b", OpenMode::create_new, &g), EIO);
  EXPECT_EQ(lossy().list(&names), EIO);
  EXPECT_EQ(lossy().rename("a", "b"), EIO);
  EXPECT_EQ(lossy().remove("a"), EIO);
  EXPECT_EQ(lossy().sync_dir(), EIO);
  EXPECT_EQ(lossy().power_cut(PowerCut::torn, 1), 0);  // down already: nothing to do

  lossy().reboot();
  EXPECT_FALSE(lossy().is_down());
  EXPECT_EQ(write_str(*f, 0, "x"), EIO);  // dead for good
  EXPECT_EQ(ReadFile(lossy(), "a"), "durable");
  g = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(write_str(*g, 0, "again lost"), 0);
  // What the first cut left is durable: a second cut takes only what came after.
  ASSERT_EQ(lossy().power_cut(PowerCut::lose_unsynced, 0), 0);
  lossy().reboot();
  EXPECT_EQ(ReadFile(lossy(), "a"), "durable");
  EXPECT_EQ(g->sync(), EIO);
}

TEST_P(LossyFsTest, FileOutlivingItsLossyFsReturnsEio) {
  auto f = open_or_die(lossy(), "a", OpenMode::create_new);
  ASSERT_EQ(write_str(*f, 0, "x"), 0);
  lossy_.reset();
  EXPECT_EQ(write_str(*f, 0, "y"), EIO);
  EXPECT_EQ(f->sync(), EIO);
}

TEST_P(LossyFsTest, DestroyedWithoutACutEverythingHappened) {
  make_durable_file(lossy(), "a", "a");
  make_durable_file(lossy(), "b", "b");
  make_durable_file(lossy(), "c", "c");
  ASSERT_EQ(lossy().remove("a"), 0);
  ASSERT_EQ(lossy().rename("c", "b"), 0);
  lossy_.reset();  // the process ends; the machine does not
  tfs_->reopen();
  EXPECT_EQ(sorted_names(fs()), (std::vector<std::string>{"b"}));  // no hidden leftovers
  EXPECT_EQ(ReadFile(fs(), "b"), "c");
}

TEST_P(LossyFsTest, UndoBytesAreBounded) {
  lossy_.reset();
  LossyFsOptions options;
  options.undo_bytes_max = 4096;
  lossy_ = std::make_unique<LossyFs>(fs(), options);
  make_durable_file(lossy(), "a", std::string(8192, 'a'));
  auto f = open_or_die(lossy(), "a", OpenMode::existing);
  ASSERT_EQ(write_str(*f, 0, std::string(4096, 'b')), 0);
  EXPECT_EQ(lossy().undo_bytes(), 4096u);
  EXPECT_EQ(write_str(*f, 4096, "c"), ENOBUFS);  // refused, nothing written
  EXPECT_EQ(ReadFile(lossy(), "a"), std::string(4096, 'b') + std::string(4096, 'a'));
  EXPECT_EQ(write_str(*f, 8192, std::string(4096, 'd')), 0);  // growth saves nothing
  ASSERT_EQ(f->sync(), 0);
  EXPECT_EQ(lossy().undo_bytes(), 0u);
  EXPECT_EQ(write_str(*f, 4096, "c"), 0);
  EXPECT_EQ(f->truncate(lossy_file_bytes_max + 1), EFBIG);
  EXPECT_EQ(write_str(*f, lossy_file_bytes_max, "x"), EFBIG);
  EXPECT_EQ(write_str(*f, ~std::uint64_t{0}, "x"), EFBIG);
  CutAndReopen();
  EXPECT_EQ(ReadFile(fs(), "a"), std::string(4096, 'b') + std::string(4096, 'a') +
                                     std::string(4096, 'd'));
}

TEST_P(LossyFsTest, JournalIsBounded) {
  lossy_.reset();
  LossyFsOptions options;
  options.journal_entries_max = 2;
  lossy_ = std::make_unique<LossyFs>(fs(), options);
  { auto f = open_or_die(lossy(), "a", OpenMode::create_new); }
  ASSERT_EQ(lossy().rename("a", "b"), 0);
  EXPECT_EQ(lossy().remove("b"), ENOBUFS);
  std::unique_ptr<File> f;
  EXPECT_EQ(lossy().open("c", OpenMode::create_new, &f), ENOBUFS);
  EXPECT_EQ(sorted_names(lossy()), (std::vector<std::string>{"b"}));
  ASSERT_EQ(lossy().sync_dir(), 0);
  EXPECT_EQ(lossy().remove("b"), 0);
}

// ---------------------------------------------------------------- the model

// Random operations on MemFs and on LossyFs side by side: the same results,
// and after a lose_unsynced cut the same files with the same bytes.
TEST_P(LossyFsTest, MatchesMemFsOnRandomOperations) {
  constexpr int seeds = testing_util::kSanitized ? 3 : 10;
  constexpr int ops = 150;
  const std::string names[] = {"a", "b", "c", "d"};
  for (int seed = 1; seed <= seeds; ++seed) {
    TestFs disk(GetParam());
    MemFs mem;
    auto lossy = std::make_unique<LossyFs>(disk.fs());
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
    auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    struct Pair {
      std::unique_ptr<File> mem, lossy;
    };
    std::vector<Pair> files;
    for (int op = 0; op < ops; ++op) {
      const std::string& name = names[pick(4)];
      const std::string& other = names[pick(4)];
      const std::string data(1 + pick(1500), static_cast<char>('a' + pick(26)));
      const std::uint64_t offset = pick(3000);
      const std::size_t kind = pick(files.empty() ? 5 : 11);
      int m = 0, l = 0;
      const auto where = [&] { return "seed " + std::to_string(seed) + " op " + std::to_string(op); };
      if (kind <= 1) {
        const OpenMode mode = kind == 0 ? OpenMode::create_new : OpenMode::existing;
        Pair p;
        m = mem.open(name, mode, &p.mem);
        l = lossy->open(name, mode, &p.lossy);
        if (m == 0 && l == 0 && files.size() < 6) files.push_back(std::move(p));
      } else if (kind == 2) {
        m = mem.rename(name, other);
        l = lossy->rename(name, other);
      } else if (kind == 3) {
        m = mem.remove(name);
        l = lossy->remove(name);
      } else if (kind == 4) {
        m = mem.sync_dir();
        l = lossy->sync_dir();
      } else {
        const std::size_t i = pick(files.size());
        Pair& p = files[i];
        if (kind <= 6) {
          m = write_str(*p.mem, offset, data);
          l = write_str(*p.lossy, offset, data);
        } else if (kind == 7) {
          m = write_sync_str(*p.mem, offset, data);
          l = write_sync_str(*p.lossy, offset, data);
        } else if (kind == 8) {
          m = p.mem->sync();
          l = p.lossy->sync();
        } else if (kind == 9) {
          m = p.mem->truncate(offset);
          l = p.lossy->truncate(offset);
        } else {
          files.erase(files.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      ASSERT_EQ(m, l) << where();
    }
    mem.power_loss(PowerLoss::lose_unsynced);
    ASSERT_EQ(lossy->power_cut(PowerCut::lose_unsynced, 0), 0);
    files.clear();
    lossy.reset();
    disk.reopen();
    std::vector<std::string> expected;
    ASSERT_EQ(mem.list(&expected), 0);
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(sorted_names(disk.fs()), expected) << "seed " << seed;
    for (const std::string& n : expected) {
      ASSERT_EQ(ReadFile(disk.fs(), n), mem.contents(n)) << "seed " << seed << " file " << n;
    }
  }
}

// ---------------------------------------------------------------- threads

// Block i of the writer's file: its number, then a byte that depends on it.
std::string block_for(std::uint64_t i) {
  std::string b(sector, static_cast<char>('A' + i % 26));
  std::memcpy(b.data(), &i, sizeof i);
  return b;
}

// The namer's i-th file ("n<i>"; += rather than +: g++ 12's false -Wrestrict).
std::string file_name(std::int64_t i) {
  std::string name = "n";
  name += std::to_string(i);
  return name;
}

// Marks a thread's end on its progress counter, however it ends, so that a
// waiter never waits for a thread that stopped early.
constexpr std::uint64_t thread_ended = std::uint64_t{1} << 40;
struct EndMark {
  std::atomic<std::uint64_t>& counter;
  ~EndMark() {
    counter.fetch_add(thread_ended);
    counter.notify_all();
  }
};

// Waits (no sleeping) until `counter` reaches `target`.
void wait_for(const std::atomic<std::uint64_t>& counter, std::uint64_t target) {
  for (std::uint64_t seen = counter.load(); seen < target; seen = counter.load()) {
    counter.wait(seen);
  }
}

// Two threads keep working while the power is cut: one writes blocks (two
// write_syncs, then a plain write), one makes files the way snapshots are
// made (create .tmp, write_sync, rename, sync_dir). Whenever the cut lands,
// what the next boot finds must be what the acknowledged calls promise.
TEST_P(LossyFsTest, CutWhileOtherThreadsKeepWriting) {
  for (const PowerCut how : {PowerCut::lose_unsynced, PowerCut::torn}) {
    TestFs disk(GetParam());
    auto lossy = std::make_unique<LossyFs>(disk.fs());
    auto blocks = open_or_die(*lossy, "blocks", OpenMode::create_new);
    ASSERT_EQ(lossy->sync_dir(), 0);
    constexpr std::uint64_t blocks_max = 4000;
    constexpr std::uint64_t files_max = 1000;
    std::atomic<std::uint64_t> writes{0}, files{0};
    std::int64_t last_written = -1, last_synced = -1, last_file = -1;  // joined before read

    std::thread writer([&] {
      const EndMark end{writes};
      for (std::uint64_t i = 0; i < blocks_max; ++i) {
        const bool synced = i % 3 != 2;
        const std::string b = block_for(i);
        const int rc = synced ? write_sync_str(*blocks, i * sector, b)
                              : write_str(*blocks, i * sector, b);
        if (rc != 0) {
          EXPECT_EQ(rc, EIO);
          return;
        }
        last_written = static_cast<std::int64_t>(i);
        if (synced) last_synced = static_cast<std::int64_t>(i);
        writes.fetch_add(1);
        writes.notify_all();
      }
    });
    std::thread namer([&] {
      const EndMark end{files};
      for (std::uint64_t i = 0; i < files_max; ++i) {
        const std::string name = file_name(static_cast<std::int64_t>(i));
        std::unique_ptr<File> f;
        int rc = lossy->open(name + ".tmp", OpenMode::create_new, &f);
        if (rc == 0) rc = write_sync_str(*f, 0, block_for(i));
        if (rc == 0) rc = lossy->rename(name + ".tmp", name);
        if (rc == 0) rc = lossy->sync_dir();
        if (rc != 0) {
          EXPECT_EQ(rc, EIO);
          return;
        }
        last_file = static_cast<std::int64_t>(i);
        files.fetch_add(1);
        files.notify_all();
      }
    });
    wait_for(writes, 30);
    wait_for(files, 3);
    ASSERT_EQ(lossy->power_cut(how, 42), 0);
    writer.join();
    namer.join();
    blocks.reset();
    lossy.reset();
    disk.reopen();

    // The namer: exactly the files whose sync_dir returned, nothing half made.
    std::vector<std::string> expected = {"blocks"};
    for (std::int64_t i = 0; i <= last_file; ++i) expected.push_back(file_name(i));
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(sorted_names(disk.fs()), expected);
    for (std::int64_t i = 0; i <= last_file; ++i) {
      ASSERT_EQ(ReadFile(disk.fs(), file_name(i)),
                block_for(static_cast<std::uint64_t>(i)));
    }
    // The writer: every block up to the last write_sync; after it, each
    // sector new or never written (lose_unsynced: never written).
    const std::string got = ReadFile(disk.fs(), "blocks");
    const auto durable_bytes = static_cast<std::size_t>(last_synced + 1) * sector;
    const auto current_bytes = static_cast<std::size_t>(last_written + 1) * sector;
    if (how == PowerCut::lose_unsynced) {
      ASSERT_EQ(got.size(), durable_bytes);
    } else {
      ASSERT_TRUE(got.size() == durable_bytes || got.size() == current_bytes) << got.size();
    }
    for (std::size_t s = 0; s * sector < got.size(); ++s) {
      const std::string have = got.substr(s * sector, sector);
      if (s * sector < durable_bytes || have != std::string(sector, '\0')) {
        ASSERT_EQ(have, block_for(s)) << "block " << s;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, LossyFsTest, ::testing::Values(Layer::pwritev, Layer::io_uring),
                         testing::LayerName);

// ---------------------------------------------------------------- the WAL

class LossyWal : public ::testing::TestWithParam<Layer> {};

// A Log on LossyFs: durable appends, then more not waited for, then the cut
// (the Log's writer and preparer still running), then a new boot: recovery
// on a fresh posix Fs finds every record reported durable, nothing corrupt
// (a torn tail at most), and the log goes on from there.
void CrashAndRecover(Layer layer, PowerCut how, std::uint64_t seed) {
  TestFs disk(layer);
  ASSERT_FALSE(disk.skipped());
  auto lossy = std::make_unique<LossyFs>(disk.fs());
  auto log = OpenLog(*lossy, {});
  ASSERT_NE(log, nullptr);
  const std::uint64_t first = AppendDurable(*log, 1, 1200 + seed * 37, 8) + 1;  // 64 KiB segments
  // More records, not waited for one by one: the cut comes while the writer
  // is still at them.
  constexpr std::uint64_t unwaited = 300;
  for (std::uint64_t i = first; i < first + unwaited; ++i) {
    const std::string body = BodyFor(i);
    Log::Record rec{RecordType::enqueue, body};
    std::uint64_t lsn = 0;
    ASSERT_EQ(log->append({&rec, 1}, &lsn), AppendResult::ok);
  }
  ASSERT_TRUE(log->wait_durable(first + seed * 7));
  const std::uint64_t durable = log->durable_lsn();  // all of these must survive
  ASSERT_EQ(lossy->power_cut(how, seed), 0);
  log.reset();  // its threads meet EIO from here on and stop
  lossy.reset();
  disk.reopen();

  const auto r = RecoverAll(disk.fs());
  ASSERT_EQ(r.status, RecoveryStatus::ok) << "seed " << seed << ": " << r.error;
  ASSERT_GE(r.records.size(), durable) << "seed " << seed;
  ASSERT_LT(r.records.size(), first + unwaited) << "seed " << seed;
  for (std::size_t i = 0; i < r.records.size(); ++i) {
    ASSERT_EQ(r.records[i].lsn, i + 1) << "seed " << seed;
    ASSERT_EQ(r.records[i].body, BodyFor(i + 1)) << "seed " << seed;
  }
  auto again = OpenLog(disk.fs(), r.tail);
  ASSERT_NE(again, nullptr);
  const std::uint64_t next = r.records.size() + 1;
  AppendDurable(*again, next, 20);
  again->close();
  const auto r2 = RecoverAll(disk.fs());
  ASSERT_EQ(r2.status, RecoveryStatus::ok) << r2.error;
  EXPECT_EQ(r2.records.size(), next + 19);
  EXPECT_FALSE(r2.report.torn_tail);
}

bool IoUringSkipped(Layer layer) {
  if (layer != Layer::io_uring) return false;
  TestFs probe(layer);
  return probe.skipped();
}

TEST_P(LossyWal, DurableRecordsSurviveLosingTheUnsynced) {
  if (IoUringSkipped(GetParam())) GTEST_SKIP() << "io_uring refused here";
  constexpr std::uint64_t seeds = testing_util::kSanitized ? 2 : 4;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    CrashAndRecover(GetParam(), PowerCut::lose_unsynced, seed);
  }
}

TEST_P(LossyWal, DurableRecordsSurviveATornCut) {
  if (IoUringSkipped(GetParam())) GTEST_SKIP() << "io_uring refused here";
  constexpr std::uint64_t seeds = testing_util::kSanitized ? 2 : 4;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    CrashAndRecover(GetParam(), PowerCut::torn, seed);
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, LossyWal, ::testing::Values(Layer::pwritev, Layer::io_uring),
                         testing::LayerName);

}  // namespace
}  // namespace hotq::wal
