// Tests for the test layers of the WAL's I/O seam (wal/fs.h):
//   MemFs (wal/mem_fs.h): open modes, bad names, write/read/size/truncate,
//     list/rename/remove, and what each PowerLoss leaves: unsynced bytes,
//     unsynced creations, renames and removals, torn sectors, dead handles.
//   FaultyFs (wal/faulty_fs.h): each fault fires on the right call with its
//     errno and never reports success; what it leaves on the wrapped MemFs
//     (checked with power_loss); skip, sticky, name filter, fired() counts.
// Deterministic: the torn model is seeded, the threads only check totals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/test_util.h"
#include "wal/faulty_fs.h"
#include "wal/mem_fs.h"

namespace hotq::wal {
namespace {

iovec iov_of(std::string_view s) { return iovec{const_cast<char*>(s.data()), s.size()}; }

int write_str(File& f, std::uint64_t offset, std::string_view s) {
  const iovec v = iov_of(s);
  return f.write(offset, std::span<const iovec>(&v, 1));
}

int write_sync_str(File& f, std::uint64_t offset, std::string_view s) {
  const iovec v = iov_of(s);
  return f.write_sync(offset, std::span<const iovec>(&v, 1));
}

// The whole file as read through `f` (checked to read cleanly).
std::string read_all(File& f) {
  std::uint64_t bytes = 0;
  EXPECT_EQ(f.size(&bytes), 0);
  std::string out(static_cast<std::size_t>(bytes), '\0');
  std::size_t got = 0;
  EXPECT_EQ(f.read(0, out.data(), out.size(), &got), 0);
  EXPECT_EQ(got, out.size());
  return out;
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
  ASSERT_EQ(write_sync_str(*f, 0, data), 0);
  ASSERT_EQ(fs.sync_dir(), 0);
}

std::vector<std::string> sorted_names(Fs& fs) {
  std::vector<std::string> names;
  EXPECT_EQ(fs.list(&names), 0);
  std::sort(names.begin(), names.end());
  return names;
}

// ------------------------------------------------------------------ MemFs

TEST(MemFs, PathIsMemPlusLabel) {
  MemFs fs("wal-a");
  EXPECT_EQ(fs.path(), "mem:wal-a");
}

TEST(MemFs, OpenModes) {
  MemFs fs;
  std::unique_ptr<File> f;
  EXPECT_EQ(fs.open("a", OpenMode::existing, &f), ENOENT);
  EXPECT_EQ(f, nullptr);
  EXPECT_FALSE(fs.exists("a"));
  ASSERT_EQ(fs.open("a", OpenMode::create_new, &f), 0);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(fs.exists("a"));
  std::uint64_t bytes = 99;
  EXPECT_EQ(f->size(&bytes), 0);
  EXPECT_EQ(bytes, 0u);  // created empty
  std::unique_ptr<File> g;
  EXPECT_EQ(fs.open("a", OpenMode::create_new, &g), EEXIST);
  ASSERT_EQ(fs.open("a", OpenMode::existing, &g), 0);
  // Two handles, one file.
  ASSERT_EQ(write_str(*f, 0, "shared"), 0);
  EXPECT_EQ(read_all(*g), "shared");
}

TEST(MemFs, BadNamesAreRefused) {
  MemFs fs;
  make_durable_file(fs, "ok", "x");
  std::unique_ptr<File> f;
  for (const std::string_view bad :
       {std::string_view{}, std::string_view{"."}, std::string_view{".."}, std::string_view{"a/b"},
        std::string_view{"/"}, std::string_view{"a\0b", 3}}) {
    EXPECT_EQ(fs.open(bad, OpenMode::create_new, &f), EINVAL) << bad;
    EXPECT_EQ(fs.open(bad, OpenMode::existing, &f), EINVAL) << bad;
    EXPECT_EQ(fs.rename("ok", bad), EINVAL) << bad;
    EXPECT_EQ(fs.rename(bad, "ok"), EINVAL) << bad;
    EXPECT_EQ(fs.remove(bad), EINVAL) << bad;
  }
  const std::string longest(mem_name_bytes_max, 'n');
  EXPECT_EQ(fs.open(longest, OpenMode::create_new, &f), 0);
  EXPECT_EQ(fs.open(longest + "n", OpenMode::create_new, &f), ENAMETOOLONG);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{longest, "ok"}));
  EXPECT_EQ(fs.contents("ok"), "x");
}

TEST(MemFs, WriteThenReadBack) {
  MemFs fs;
  auto f = open_or_die(fs, "a", OpenMode::create_new);
  // Several iovecs land back to back; an empty one is fine.
  const std::string_view parts[] = {"hello", "", ", ", "world"};
  std::vector<iovec> iov;
  for (std::string_view p : parts) iov.push_back(iov_of(p));
  ASSERT_EQ(f->write(0, iov), 0);
  EXPECT_EQ(read_all(*f), "hello, world");
  // Overwriting inside the file does not grow it.
  ASSERT_EQ(write_str(*f, 7, "WORLD"), 0);
  EXPECT_EQ(read_all(*f), "hello, WORLD");
  // Writing past the end leaves a gap of zeros.
  ASSERT_EQ(write_str(*f, 14, "!"), 0);
  EXPECT_EQ(read_all(*f), std::string("hello, WORLD\0\0!", 15));
  // An empty write past the end does not extend the file (as pwritev).
  ASSERT_EQ(f->write(100, std::span<const iovec>{}), 0);
  EXPECT_EQ(fs.contents("a").size(), 15u);
  EXPECT_EQ(fs.bytes_written(), 12u + 5u + 1u);
  EXPECT_EQ(fs.sync_count(), 0u);
  ASSERT_EQ(write_sync_str(*f, 0, "H"), 0);
  EXPECT_EQ(fs.sync_count(), 1u);
  EXPECT_EQ(fs.contents("a"), std::string("Hello, WORLD\0\0!", 15));
}

TEST(MemFs, WritePastTheSizeLimitIsEfbig) {
  MemFs fs;
  auto f = open_or_die(fs, "a", OpenMode::create_new);
  EXPECT_EQ(write_str(*f, mem_file_bytes_max, "x"), EFBIG);
  EXPECT_EQ(write_str(*f, ~std::uint64_t{0}, "x"), EFBIG);  // offset + size would wrap
  EXPECT_EQ(f->truncate(mem_file_bytes_max + 1), EFBIG);
  EXPECT_EQ(fs.contents("a"), "");
  EXPECT_EQ(fs.bytes_written(), 0u);
}

TEST(MemFs, ReadIsShortOnlyAtTheEnd) {
  MemFs fs;
  auto f = open_or_die(fs, "a", OpenMode::create_new);
  ASSERT_EQ(write_str(*f, 0, "0123456789"), 0);
  char buf[8] = {};
  std::size_t got = 99;
  ASSERT_EQ(f->read(2, buf, 4, &got), 0);
  EXPECT_EQ(got, 4u);
  EXPECT_EQ(std::string_view(buf, got), "2345");
  ASSERT_EQ(f->read(6, buf, 8, &got), 0);
  EXPECT_EQ(got, 4u);
  EXPECT_EQ(std::string_view(buf, got), "6789");
  ASSERT_EQ(f->read(10, buf, 8, &got), 0);
  EXPECT_EQ(got, 0u);
  ASSERT_EQ(f->read(1000, buf, 8, &got), 0);
  EXPECT_EQ(got, 0u);
  ASSERT_EQ(f->read(0, nullptr, 0, &got), 0);
  EXPECT_EQ(got, 0u);
}

TEST(MemFs, TruncateAndSize) {
  MemFs fs;
  auto f = open_or_die(fs, "a", OpenMode::create_new);
  ASSERT_EQ(write_str(*f, 0, "abcdef"), 0);
  ASSERT_EQ(f->truncate(3), 0);
  std::uint64_t bytes = 0;
  ASSERT_EQ(f->size(&bytes), 0);
  EXPECT_EQ(bytes, 3u);
  EXPECT_EQ(read_all(*f), "abc");
  ASSERT_EQ(f->truncate(6), 0);  // extends with zeros, not the old bytes
  EXPECT_EQ(read_all(*f), std::string("abc\0\0\0", 6));
  ASSERT_EQ(f->truncate(0), 0);
  ASSERT_EQ(f->size(&bytes), 0);
  EXPECT_EQ(bytes, 0u);
}

TEST(MemFs, ListRenameRemove) {
  MemFs fs;
  make_durable_file(fs, "a", "A");
  make_durable_file(fs, "b", "B");
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"a", "b"}));

  ASSERT_EQ(fs.rename("a", "c"), 0);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(fs.contents("c"), "A");
  // Rename onto an existing name replaces it.
  ASSERT_EQ(fs.rename("c", "b"), 0);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"b"}));
  EXPECT_EQ(fs.contents("b"), "A");
  // Renaming a file onto itself changes nothing.
  ASSERT_EQ(fs.rename("b", "b"), 0);
  EXPECT_EQ(fs.contents("b"), "A");

  EXPECT_EQ(fs.rename("missing", "x"), ENOENT);
  EXPECT_EQ(fs.remove("missing"), ENOENT);
  EXPECT_FALSE(fs.exists("x"));

  // A removed file stays usable through a handle already open, as in POSIX.
  auto f = open_or_die(fs, "b", OpenMode::existing);
  ASSERT_EQ(fs.remove("b"), 0);
  EXPECT_FALSE(fs.exists("b"));
  EXPECT_EQ(fs.remove("b"), ENOENT);
  ASSERT_EQ(write_str(*f, 1, "!"), 0);
  EXPECT_EQ(read_all(*f), "A!");
  EXPECT_TRUE(sorted_names(fs).empty());
  // The name is free again: a new, empty file.
  auto g = open_or_die(fs, "b", OpenMode::create_new);
  EXPECT_EQ(read_all(*g), "");
}

TEST(MemFs, PowerLossDropsUnsyncedBytesKeepsSyncedOnes) {
  MemFs fs;
  {
    auto f = open_or_die(fs, "a", OpenMode::create_new);
    ASSERT_EQ(fs.sync_dir(), 0);
    ASSERT_EQ(write_str(*f, 0, "synced"), 0);
    ASSERT_EQ(f->sync(), 0);
    ASSERT_EQ(write_str(*f, 0, "SY"), 0);         // overwrite, unsynced
    ASSERT_EQ(write_str(*f, 6, " and more"), 0);  // growth, unsynced
    EXPECT_EQ(fs.contents("a"), "SYnced and more");
    // write_sync makes a second file durable in one call.
    auto g = open_or_die(fs, "b", OpenMode::create_new);
    ASSERT_EQ(fs.sync_dir(), 0);
    ASSERT_EQ(write_sync_str(*g, 0, "both"), 0);
    ASSERT_EQ(write_str(*g, 4, "-lost"), 0);
    // A truncate is not durable until a sync either.
    ASSERT_EQ(write_sync_str(*f, 20, "x"), 0);  // everything in "a" so far is durable now
    ASSERT_EQ(f->truncate(2), 0);
  }
  EXPECT_EQ(fs.sync_count(), 3u);
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(fs.contents("a"), std::string("SYnced and more\0\0\0\0\0x", 21));
  EXPECT_EQ(fs.contents("b"), "both");
  // What survived is durable now: a second power loss changes nothing.
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(fs.contents("b"), "both");
}

TEST(MemFs, UnsyncedCreationVanishes) {
  MemFs fs;
  make_durable_file(fs, "old", "kept");
  {
    auto f = open_or_die(fs, "new", OpenMode::create_new);
    ASSERT_EQ(write_sync_str(*f, 0, "data synced, name not"), 0);
  }
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_FALSE(fs.exists("new"));
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"old"}));
  // An empty file whose name was synced survives, empty.
  { auto f = open_or_die(fs, "empty", OpenMode::create_new); }
  ASSERT_EQ(fs.sync_dir(), 0);
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_TRUE(fs.exists("empty"));
  EXPECT_EQ(fs.contents("empty"), "");
}

TEST(MemFs, RenameWithoutSyncDirIsUndone) {
  MemFs fs;
  make_durable_file(fs, "snap.tmp", "new state");
  make_durable_file(fs, "snap", "old state");
  ASSERT_EQ(fs.rename("snap.tmp", "snap"), 0);
  EXPECT_EQ(fs.contents("snap"), "new state");
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"snap", "snap.tmp"}));
  EXPECT_EQ(fs.contents("snap"), "old state");
  EXPECT_EQ(fs.contents("snap.tmp"), "new state");
}

TEST(MemFs, RenameWithSyncDirIsKept) {
  MemFs fs;
  make_durable_file(fs, "snap.tmp", "new state");
  make_durable_file(fs, "snap", "old state");
  ASSERT_EQ(fs.rename("snap.tmp", "snap"), 0);
  ASSERT_EQ(fs.sync_dir(), 0);
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"snap"}));
  EXPECT_EQ(fs.contents("snap"), "new state");
}

TEST(MemFs, RemoveWithoutSyncDirIsUndone) {
  MemFs fs;
  make_durable_file(fs, "a", "durable");
  {
    auto f = open_or_die(fs, "a", OpenMode::existing);
    ASSERT_EQ(write_str(*f, 0, "DURABLE but not synced"), 0);
  }
  ASSERT_EQ(fs.remove("a"), 0);
  EXPECT_FALSE(fs.exists("a"));
  fs.power_loss(PowerLoss::lose_unsynced);
  // Back, with its durable bytes only.
  EXPECT_TRUE(fs.exists("a"));
  EXPECT_EQ(fs.contents("a"), "durable");
}

TEST(MemFs, RemoveWithSyncDirIsKept) {
  MemFs fs;
  make_durable_file(fs, "a", "durable");
  make_durable_file(fs, "b", "other");
  ASSERT_EQ(fs.remove("a"), 0);
  ASSERT_EQ(fs.sync_dir(), 0);
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"b"}));
}

// The file of the torn test: 8 durable sectors of 'a', then unsynced: sectors
// 1..4 rewritten with 'b', sector 6 half rewritten with 'c', and 2.5 sectors
// of 'd' appended. Sectors 0, 5 and 7 do not change.
constexpr std::size_t sector = mem_sector_bytes;
const std::string torn_durable(8 * sector, 'a');
std::string torn_current() {
  std::string s = torn_durable;
  s.replace(1 * sector, 4 * sector, 4 * sector, 'b');
  s.replace(6 * sector, sector / 2, sector / 2, 'c');
  s.append(5 * sector / 2, 'd');
  return s;
}

std::string torn_after(std::uint64_t seed) {
  MemFs fs;
  make_durable_file(fs, "seg", torn_durable);
  {
    auto f = open_or_die(fs, "seg", OpenMode::existing);
    const std::string current = torn_current();
    EXPECT_EQ(write_str(*f, 0, current), 0);
    // An unrelated synced file is never torn.
    auto g = open_or_die(fs, "synced", OpenMode::create_new);
    EXPECT_EQ(write_sync_str(*g, 0, current), 0);
    EXPECT_EQ(fs.sync_dir(), 0);
  }
  fs.power_loss(PowerLoss::torn, seed);
  EXPECT_EQ(fs.contents("synced"), torn_current());
  return fs.contents("seg");
}

// Sector `i` of `s` at length `len`: bytes past the end of `s` are zeros.
std::string sector_at(const std::string& s, std::size_t i, std::size_t len) {
  std::string out = i * sector < s.size() ? s.substr(i * sector, sector) : std::string();
  out.resize(std::min(sector, len - i * sector), '\0');
  return out;
}

TEST(MemFs, TornPowerLossMixesWholeSectorsOfOldAndNew) {
  const std::string current = torn_current();
  constexpr std::size_t sectors_max = 11;  // 10.5 sectors, rounded up
  std::vector<int> took_current(sectors_max, 0), took_durable(sectors_max, 0);
  int long_files = 0, short_files = 0;
  constexpr std::uint64_t seeds = 64;
  for (std::uint64_t seed = 0; seed < seeds; ++seed) {
    const std::string got = torn_after(seed);
    ASSERT_TRUE(got.size() == torn_durable.size() || got.size() == current.size()) << seed;
    (got.size() == current.size() ? long_files : short_files)++;
    for (std::size_t i = 0; i * sector < got.size(); ++i) {
      const std::string g = sector_at(got, i, got.size());
      const std::string c = sector_at(current, i, got.size());
      const std::string d = sector_at(torn_durable, i, got.size());
      ASSERT_TRUE(g == c || g == d) << "seed " << seed << " sector " << i;
      if (c == d) continue;
      (g == c ? took_current : took_durable)[i]++;
    }
  }
  EXPECT_GT(long_files, 0);
  EXPECT_GT(short_files, 0);
  for (std::size_t i = 0; i < sectors_max; ++i) {
    const bool changed = i != 0 && i != 5 && i != 7;
    if (!changed) {
      EXPECT_EQ(took_current[i] + took_durable[i], 0) << i;
      continue;
    }
    EXPECT_GT(took_current[i], 0) << i;
    // An appended sector's old version is zeros, which a long file may also keep.
    if (i < 8) {
      EXPECT_GT(took_durable[i], 0) << i;
    }
  }
  // The same seed tears the same way.
  EXPECT_EQ(torn_after(7), torn_after(7));
}

TEST(MemFs, OldHandlesReturnEioAfterPowerLoss) {
  for (const PowerLoss how : {PowerLoss::lose_unsynced, PowerLoss::torn, PowerLoss::keep_all}) {
    MemFs fs;
    make_durable_file(fs, "a", "abc");
    auto f = open_or_die(fs, "a", OpenMode::existing);
    fs.power_loss(how);
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
    EXPECT_EQ(fs.contents("a"), "abc");
    EXPECT_EQ(fs.sync_count(), 1u);
    // A new handle works.
    auto g = open_or_die(fs, "a", OpenMode::existing);
    EXPECT_EQ(read_all(*g), "abc");
  }
}

TEST(MemFs, KeepAllKeepsEverythingButMakesNothingDurable) {
  MemFs fs;
  make_durable_file(fs, "a", "durable");
  make_durable_file(fs, "r", "removed");
  {
    auto f = open_or_die(fs, "a", OpenMode::existing);
    ASSERT_EQ(write_str(*f, 0, "DURABLE+cache"), 0);
    auto g = open_or_die(fs, "new", OpenMode::create_new);
    ASSERT_EQ(write_str(*g, 0, "unsynced"), 0);
    ASSERT_EQ(fs.rename("a", "b"), 0);
    ASSERT_EQ(fs.remove("r"), 0);
  }
  fs.power_loss(PowerLoss::keep_all);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"b", "new"}));
  EXPECT_EQ(fs.contents("b"), "DURABLE+cache");
  EXPECT_EQ(fs.contents("new"), "unsynced");
  // The disk still holds only what was synced before.
  fs.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(sorted_names(fs), (std::vector<std::string>{"a", "r"}));
  EXPECT_EQ(fs.contents("a"), "durable");
  EXPECT_EQ(fs.contents("r"), "removed");
}

TEST(MemFs, FileOutlivingItsFsReturnsEio) {
  std::unique_ptr<File> f;
  {
    MemFs fs;
    f = open_or_die(fs, "a", OpenMode::create_new);
    ASSERT_EQ(write_str(*f, 0, "x"), 0);
  }
  EXPECT_EQ(write_str(*f, 0, "y"), EIO);
  EXPECT_EQ(f->sync(), EIO);
}

TEST(MemFs, ThreadsOnDifferentFilesConserveEveryByte) {
  MemFs fs;
  constexpr int threads = 2;
  const std::string names[threads] = {"f0", "f1"};
  constexpr int writes = testing_util::kSanitized ? 200 : 2'000;
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&fs, &names, t] {
      auto f = open_or_die(fs, names[t], OpenMode::create_new);
      for (int i = 0; i < writes; ++i) {
        const char c = static_cast<char>('a' + i % 26);
        ASSERT_EQ(write_str(*f, static_cast<std::uint64_t>(i), std::string_view(&c, 1)), 0);
        if (i % 100 == 0) {
          ASSERT_EQ(f->sync(), 0);
        }
      }
      ASSERT_EQ(f->sync(), 0);
    });
  }
  // The directory is used concurrently too.
  for (int i = 0; i < writes / 10; ++i) {
    (void)fs.sync_dir();
    (void)sorted_names(fs);
  }
  for (std::thread& th : pool) th.join();
  ASSERT_EQ(fs.sync_dir(), 0);
  fs.power_loss(PowerLoss::lose_unsynced);
  for (int t = 0; t < threads; ++t) {
    const std::string got = fs.contents(names[t]);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(writes));
    for (int i = 0; i < writes; ++i)
      ASSERT_EQ(got[static_cast<std::size_t>(i)], static_cast<char>('a' + i % 26));
  }
  EXPECT_EQ(fs.bytes_written(), static_cast<std::uint64_t>(threads * writes));
}

// ---------------------------------------------------------------- FaultyFs

// A MemFs with a FaultyFs over it and one durable, empty file "seg".
struct Faulty {
  MemFs mem{"faulty"};
  FaultyFs fs{mem};
  std::unique_ptr<File> seg;

  Faulty() {
    seg = open_or_die(fs, "seg", OpenMode::create_new);
    EXPECT_EQ(fs.sync_dir(), 0);
  }
};

TEST(FaultyFs, PassesEverythingThroughWhenNothingIsArmed) {
  Faulty t;
  EXPECT_EQ(t.fs.path(), "mem:faulty");
  ASSERT_EQ(write_str(*t.seg, 0, "hello"), 0);
  ASSERT_EQ(t.seg->sync(), 0);
  ASSERT_EQ(write_sync_str(*t.seg, 5, "!"), 0);
  EXPECT_EQ(read_all(*t.seg), "hello!");
  ASSERT_EQ(t.seg->truncate(4), 0);
  std::unique_ptr<File> f;
  EXPECT_EQ(t.fs.open("seg", OpenMode::create_new, &f), EEXIST);
  EXPECT_EQ(t.fs.open("nope", OpenMode::existing, &f), ENOENT);
  ASSERT_EQ(t.fs.rename("seg", "seg2"), 0);
  EXPECT_EQ(t.fs.remove("seg"), ENOENT);
  EXPECT_EQ(sorted_names(t.fs), (std::vector<std::string>{"seg2"}));
  ASSERT_EQ(t.fs.sync_dir(), 0);
  EXPECT_EQ(t.mem.sync_count(), 2u);
  for (std::size_t k = 0; k < fault_kinds; ++k) EXPECT_EQ(t.fs.fired(static_cast<Fault>(k)), 0u);
  t.mem.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(t.mem.contents("seg2"), "hello!");
}

TEST(FaultyFs, ShortWriteLeavesASectorAlignedPrefixAndFails) {
  Faulty t;
  const std::string data(3000, 'x');  // half is 1500: 1024 reach the file
  t.fs.arm(Fault::short_write);
  EXPECT_EQ(write_str(*t.seg, 0, data), EIO);
  EXPECT_EQ(t.mem.contents("seg"), std::string(1024, 'x'));
  EXPECT_EQ(t.fs.fired(Fault::short_write), 1u);
  // One-shot: the retry goes through whole.
  EXPECT_EQ(write_str(*t.seg, 0, data), 0);
  EXPECT_EQ(t.mem.contents("seg"), data);
}

TEST(FaultyFs, ShortWriteSplitsAcrossIovecs) {
  Faulty t;
  const std::string a(700, 'a'), b(700, 'b'), c(700, 'c');  // 2100: half 1050, prefix 1024
  const iovec iov[] = {iov_of(a), iov_of(b), iov_of(c)};
  t.fs.arm(Fault::short_write);
  EXPECT_EQ(t.seg->write(10, iov), EIO);
  EXPECT_EQ(t.mem.contents("seg"), std::string(10, '\0') + a + std::string(324, 'b'));
}

TEST(FaultyFs, ShortWriteOfLessThanTwoSectorsWritesNothing) {
  Faulty t;
  t.fs.arm(Fault::short_write);
  EXPECT_EQ(write_str(*t.seg, 0, std::string(1023, 'x')), EIO);
  EXPECT_EQ(t.mem.contents("seg"), "");
  EXPECT_EQ(t.mem.bytes_written(), 0u);
}

TEST(FaultyFs, ShortWriteSyncDoesNotSync) {
  Faulty t;
  t.fs.arm(Fault::short_write);
  EXPECT_EQ(write_sync_str(*t.seg, 0, std::string(2048, 'x')), EIO);
  EXPECT_EQ(t.mem.contents("seg"), std::string(1024, 'x'));
  EXPECT_EQ(t.mem.sync_count(), 0u);
  t.mem.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(t.mem.contents("seg"), "");
}

TEST(FaultyFs, EioWriteWritesNothing) {
  Faulty t;
  t.fs.arm(Fault::eio_write);
  EXPECT_EQ(write_str(*t.seg, 0, std::string(4096, 'x')), EIO);
  EXPECT_EQ(t.mem.contents("seg"), "");
  t.fs.arm(Fault::eio_write);
  EXPECT_EQ(write_sync_str(*t.seg, 0, std::string(4096, 'x')), EIO);
  EXPECT_EQ(t.mem.contents("seg"), "");
  EXPECT_EQ(t.mem.bytes_written(), 0u);
  EXPECT_EQ(t.mem.sync_count(), 0u);
  EXPECT_EQ(t.fs.fired(Fault::eio_write), 2u);
}

TEST(FaultyFs, EnospcWriteWritesNothing) {
  Faulty t;
  t.fs.arm(Fault::enospc_write);
  EXPECT_EQ(write_str(*t.seg, 0, std::string(4096, 'x')), ENOSPC);
  t.fs.arm(Fault::enospc_write);
  EXPECT_EQ(write_sync_str(*t.seg, 0, std::string(4096, 'x')), ENOSPC);
  EXPECT_EQ(t.mem.contents("seg"), "");
  EXPECT_EQ(t.mem.sync_count(), 0u);
  EXPECT_EQ(t.fs.fired(Fault::enospc_write), 2u);
}

TEST(FaultyFs, EioSyncLeavesTheDataUnsynced) {
  Faulty t;
  ASSERT_EQ(write_sync_str(*t.seg, 0, "durable"), 0);
  ASSERT_EQ(write_str(*t.seg, 0, "VOLATILE"), 0);
  t.fs.arm(Fault::eio_sync);
  EXPECT_EQ(t.seg->sync(), EIO);
  EXPECT_EQ(t.mem.sync_count(), 1u);  // only the first write_sync
  EXPECT_EQ(t.mem.contents("seg"), "VOLATILE");
  t.mem.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(t.mem.contents("seg"), "durable");
  EXPECT_EQ(t.fs.fired(Fault::eio_sync), 1u);
}

TEST(FaultyFs, EioSyncOnWriteSyncWritesButDoesNotSync) {
  Faulty t;
  t.fs.arm(Fault::eio_sync);
  EXPECT_EQ(write_sync_str(*t.seg, 0, "written"), EIO);
  EXPECT_EQ(t.mem.contents("seg"), "written");  // the write went through
  EXPECT_EQ(t.mem.sync_count(), 0u);
  t.mem.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(t.mem.contents("seg"), "");
}

TEST(FaultyFs, EioReadReadsNothing) {
  Faulty t;
  ASSERT_EQ(write_str(*t.seg, 0, "data"), 0);
  t.fs.arm(Fault::eio_read);
  char buf[4] = {};
  std::size_t got = 99;
  EXPECT_EQ(t.seg->read(0, buf, sizeof buf, &got), EIO);
  EXPECT_EQ(got, 0u);
  ASSERT_EQ(t.seg->read(0, buf, sizeof buf, &got), 0);
  EXPECT_EQ(std::string_view(buf, got), "data");
  EXPECT_EQ(t.fs.fired(Fault::eio_read), 1u);
}

TEST(FaultyFs, EioSyncDirLeavesTheNamespaceUnsynced) {
  Faulty t;
  ASSERT_EQ(t.fs.rename("seg", "wal-1.log"), 0);
  t.fs.arm(Fault::eio_sync_dir);
  EXPECT_EQ(t.fs.sync_dir(), EIO);
  t.mem.power_loss(PowerLoss::lose_unsynced);
  EXPECT_EQ(sorted_names(t.mem), (std::vector<std::string>{"seg"}));
  EXPECT_EQ(t.fs.fired(Fault::eio_sync_dir), 1u);
}

TEST(FaultyFs, EnospcCreateCreatesNothing) {
  Faulty t;
  t.fs.arm(Fault::enospc_create);
  std::unique_ptr<File> f;
  // Opening an existing file is not a creation: not a matching call.
  EXPECT_EQ(t.fs.open("seg", OpenMode::existing, &f), 0);
  f.reset();
  EXPECT_EQ(t.fs.open("new", OpenMode::create_new, &f), ENOSPC);
  EXPECT_EQ(f, nullptr);
  EXPECT_FALSE(t.mem.exists("new"));
  EXPECT_EQ(t.fs.open("new", OpenMode::create_new, &f), 0);
  EXPECT_TRUE(t.mem.exists("new"));
  EXPECT_EQ(t.fs.fired(Fault::enospc_create), 1u);
}

TEST(FaultyFs, SkipCountsMatchingCallsOnly) {
  Faulty t;
  t.fs.arm(Fault::eio_write, 2);
  char buf[1];
  std::size_t got = 0;
  EXPECT_EQ(t.seg->sync(), 0);                   // not a write: not counted
  EXPECT_EQ(t.seg->read(0, buf, 1, &got), 0);    // nor this
  EXPECT_EQ(write_str(*t.seg, 0, "1"), 0);       // 1st write
  EXPECT_EQ(write_sync_str(*t.seg, 1, "2"), 0);  // 2nd (write_sync is a write)
  EXPECT_EQ(write_str(*t.seg, 2, "3"), EIO);     // 3rd: fires
  EXPECT_EQ(write_str(*t.seg, 2, "4"), 0);       // one-shot: disarmed
  EXPECT_EQ(t.mem.contents("seg"), "124");
  EXPECT_EQ(t.fs.fired(Fault::eio_write), 1u);
}

TEST(FaultyFs, WriteSyncCountsAsASyncOnlyWhenItsWriteSucceeds) {
  Faulty t;
  t.fs.arm(Fault::eio_sync, 1);
  t.fs.arm(Fault::eio_write);
  EXPECT_EQ(write_sync_str(*t.seg, 0, "a"), EIO);  // the write fault fails it first
  EXPECT_EQ(t.fs.fired(Fault::eio_write), 1u);
  EXPECT_EQ(write_sync_str(*t.seg, 0, "b"), 0);  // 1st sync call: skipped
  EXPECT_EQ(t.seg->sync(), EIO);                 // 2nd: fires
  EXPECT_EQ(t.fs.fired(Fault::eio_sync), 1u);
  EXPECT_EQ(t.mem.sync_count(), 1u);
}

TEST(FaultyFs, StickyFiresUntilDisarmed) {
  Faulty t;
  t.fs.arm(Fault::eio_sync, 1, {}, /*sticky=*/true);
  EXPECT_EQ(t.seg->sync(), 0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.seg->sync(), EIO);
  EXPECT_EQ(t.fs.fired(Fault::eio_sync), 5u);
  t.fs.disarm_all();
  EXPECT_EQ(t.seg->sync(), 0);
  EXPECT_EQ(t.fs.fired(Fault::eio_sync), 5u);  // disarm_all keeps the counts
}

TEST(FaultyFs, RearmingReplacesTheOldArming) {
  Faulty t;
  t.fs.arm(Fault::eio_read, 0, {}, /*sticky=*/true);
  t.fs.arm(Fault::eio_read, 1);
  char buf[1];
  std::size_t got = 0;
  EXPECT_EQ(t.seg->read(0, buf, 1, &got), 0);
  EXPECT_EQ(t.seg->read(0, buf, 1, &got), EIO);
  EXPECT_EQ(t.seg->read(0, buf, 1, &got), 0);
}

TEST(FaultyFs, NameFilterPicksTheFiles) {
  Faulty t;
  auto snap = open_or_die(t.fs, "snap-7.tmp", OpenMode::create_new);
  auto wal = open_or_die(t.fs, "wal-1.log", OpenMode::create_new);
  t.fs.arm(Fault::eio_write, 1, ".tmp");
  EXPECT_EQ(write_str(*wal, 0, "w"), 0);   // no match: does not count toward the skip
  EXPECT_EQ(write_str(*snap, 0, "s"), 0);  // 1st matching call: skipped
  EXPECT_EQ(write_str(*wal, 0, "w"), 0);
  EXPECT_EQ(write_str(*snap, 0, "s"), EIO);
  EXPECT_EQ(t.fs.fired(Fault::eio_write), 1u);
  // The name is the one the file was opened under.
  ASSERT_EQ(t.fs.rename("snap-7.tmp", "snap-7.snap"), 0);
  t.fs.arm(Fault::eio_write, 0, ".snap");
  EXPECT_EQ(write_str(*snap, 0, "s"), 0);
  auto renamed = open_or_die(t.fs, "snap-7.snap", OpenMode::existing);
  EXPECT_EQ(write_str(*renamed, 0, "s"), EIO);
  // The filter applies to creations too.
  t.fs.arm(Fault::enospc_create, 0, "wal-");
  std::unique_ptr<File> f;
  EXPECT_EQ(t.fs.open("snap-8.tmp", OpenMode::create_new, &f), 0);
  EXPECT_EQ(t.fs.open("wal-2.log", OpenMode::create_new, &f), ENOSPC);
}

TEST(FaultyFs, FaultsDueOnTheSameCallFireOneAtATime) {
  Faulty t;
  t.fs.arm(Fault::enospc_write);
  t.fs.arm(Fault::short_write);
  t.fs.arm(Fault::eio_write);
  const std::string data(2048, 'x');
  EXPECT_EQ(write_str(*t.seg, 0, data), EIO);  // short_write, first in the enum
  EXPECT_EQ(t.mem.contents("seg"), std::string(1024, 'x'));
  EXPECT_EQ(write_str(*t.seg, 0, data), EIO);  // then eio_write
  EXPECT_EQ(write_str(*t.seg, 0, data), ENOSPC);
  EXPECT_EQ(write_str(*t.seg, 0, data), 0);
  EXPECT_EQ(t.fs.fired(Fault::short_write), 1u);
  EXPECT_EQ(t.fs.fired(Fault::eio_write), 1u);
  EXPECT_EQ(t.fs.fired(Fault::enospc_write), 1u);
}

TEST(FaultyFs, DeadHandlesStayDeadThroughTheWrapper) {
  Faulty t;
  t.mem.power_loss(PowerLoss::keep_all);
  EXPECT_EQ(write_str(*t.seg, 0, "x"), EIO);
  EXPECT_EQ(t.seg->sync(), EIO);
}

TEST(FaultyFs, ConcurrentFilesWithAStickyFaultOnOne) {
  Faulty t;
  auto good = open_or_die(t.fs, "good", OpenMode::create_new);
  constexpr int writes = testing_util::kSanitized ? 200 : 2'000;
  t.fs.arm(Fault::eio_write, 0, "seg", /*sticky=*/true);
  int failed = 0, succeeded = 0;
  std::thread a([&] {
    for (int i = 0; i < writes; ++i) failed += write_str(*t.seg, 0, "x") == EIO ? 1 : 0;
  });
  std::thread b([&] {
    for (int i = 0; i < writes; ++i) succeeded += write_str(*good, 0, "y") == 0 ? 1 : 0;
  });
  a.join();
  b.join();
  EXPECT_EQ(failed, writes);
  EXPECT_EQ(succeeded, writes);
  EXPECT_EQ(t.fs.fired(Fault::eio_write), static_cast<std::uint64_t>(writes));
  EXPECT_EQ(t.mem.contents("seg"), "");
}

}  // namespace
}  // namespace hotq::wal

namespace hotq::wal {
namespace {

// Opening into a handle that holds a File already destroys the old File
// without deadlocking on the fs's lock (it was once destroyed under it).
TEST(MemFs, OpenIntoAHandleThatHoldsAFile) {
  MemFs fs;
  std::unique_ptr<File> f;
  ASSERT_EQ(fs.open("a", OpenMode::create_new, &f), 0);
  ASSERT_EQ(fs.open("b", OpenMode::create_new, &f), 0);
  ASSERT_EQ(fs.open("a", OpenMode::existing, &f), 0);
  std::uint64_t size = 1;
  EXPECT_EQ(f->size(&size), 0);
  EXPECT_EQ(size, 0u);
}

}  // namespace
}  // namespace hotq::wal
