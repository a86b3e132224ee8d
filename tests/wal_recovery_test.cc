// Recovery, one test per row of docs/wal-format.md "Recovery rules": torn
// tails cut at every point of the last group, damage before valid data
// refused with file and offset, missing segments refused, torn rolls undone.
// Runs on every file layer; the damage is made through the Fs itself.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "tests/wal_test_fs.h"
#include "tests/wal_test_util.h"
#include "wal/borrowed_fs.h"

namespace hotq::wal {
namespace {

using testing::AppendDurable;
using testing::BodyFor;
using testing::Layer;
using testing::OpenLog;
using testing::ReadFile;
using testing::RecoverAll;
using testing::TestFs;

void WriteAt(Fs& fs, const std::string& name, std::uint64_t offset, std::string_view bytes) {
  std::unique_ptr<File> f;
  ASSERT_EQ(fs.open(name, OpenMode::existing, &f), 0) << name;
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  ASSERT_EQ(f->write_sync(offset, {&iov, 1}), 0);
}

struct GroupAt {
  std::uint64_t offset;
  GroupHeader header;
};

// The groups of a segment, walked from its header to the zero sentinel.
std::vector<GroupAt> Groups(const std::string& seg) {
  std::vector<GroupAt> out;
  std::uint64_t off = segment_header_bytes;
  GroupHeader gh;
  while (off + group_header_bytes <= seg.size() && decode_group_header(seg.data() + off, &gh)) {
    out.push_back({off, gh});
    off += gh.group_bytes;
  }
  return out;
}

class WalRecovery : public testing::LayerTest {
 protected:
  // `groups` groups of 3 records each, all durable; returns the segments.
  std::vector<std::string> WriteGroups(std::uint64_t groups) {
    auto log = OpenLog(fs(), {});
    AppendDurable(*log, 1, groups * 3, 3);
    auto segs = log->segments();
    log->close();
    return segs;
  }
};

// The writer died while writing the last group: whatever prefix of it reached
// the disk, the group is cut (nothing of it applied), every group before it
// is kept, the cut is reported, and the next open is clean.
TEST_P(WalRecovery, TornLastGroupIsCutAtEveryCutPoint) {
  const auto segs = WriteGroups(10);
  ASSERT_EQ(segs.size(), 1u);
  const std::string name = segs.back();
  const std::string original = ReadFile(fs(), name);
  const auto groups = Groups(original);
  ASSERT_EQ(groups.size(), 10u);
  const GroupAt last = groups.back();
  const std::uint64_t step = GetParam() == Layer::mem ? 1 : 13;
  std::mt19937_64 rng(7);
  for (int garbage = 0; garbage < 2; ++garbage) {
    for (std::uint64_t cut = 1; cut < last.header.group_bytes; cut += step) {
      // The group's first `cut` bytes arrived; after them, zeros or (as in
      // a recycled segment) old bytes.
      std::string rest(last.header.group_bytes - cut, '\0');
      if (garbage) {
        for (char& c : rest) c = static_cast<char>(rng());
      }
      WriteAt(fs(), name, 0, original);
      if (original.compare(last.offset + cut, rest.size(), rest) == 0) continue;  // same bytes
      WriteAt(fs(), name, last.offset + cut, rest);
      const auto r = RecoverAll(fs());
      ASSERT_EQ(r.status, RecoveryStatus::ok) << "cut " << cut << ": " << r.error;
      ASSERT_EQ(r.records.size(), 27u) << "cut " << cut;
      EXPECT_EQ(r.records.back().body, BodyFor(27));
      EXPECT_TRUE(r.report.torn_tail) << "cut " << cut;
      EXPECT_EQ(r.report.torn_offset, last.offset);
      EXPECT_EQ(r.tail.next_lsn, 28u);
      EXPECT_EQ(r.tail.write_offset, last.offset);
      // Cut for good: the next open finds a clean end at the same place.
      const auto again = RecoverAll(fs());
      ASSERT_EQ(again.status, RecoveryStatus::ok) << again.error;
      EXPECT_EQ(again.records.size(), 27u);
      EXPECT_FALSE(again.report.torn_tail) << "cut " << cut;
    }
  }
  // The whole group arrived: nothing is cut.
  WriteAt(fs(), name, 0, original);
  const auto whole = RecoverAll(fs());
  EXPECT_EQ(whole.records.size(), 30u);
  EXPECT_FALSE(whole.report.torn_tail);
}

// Sectors of one write may land in any order: a hole inside the last group
// is still a torn write, not damage.
TEST_P(WalRecovery, HoleInsideTheLastGroupIsTorn) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 30, 3);
  std::vector<std::string> bodies;
  std::vector<Log::Record> recs;
  for (int i = 0; i < 40; ++i) bodies.push_back(std::string(100, static_cast<char>('A' + i % 26)));
  for (const auto& b : bodies) recs.push_back({RecordType::enqueue, b});
  std::uint64_t lsn = 0;
  ASSERT_EQ(log->append(recs, &lsn), AppendResult::ok);
  ASSERT_TRUE(log->wait_durable(lsn));
  const std::string name = log->segments().back();
  log->close();
  const auto groups = Groups(ReadFile(fs(), name));
  const GroupAt last = groups.back();
  ASSERT_GT(last.header.group_bytes, 2048u);
  WriteAt(fs(), name, last.offset + 1024, std::string(512, '\0'));
  const auto r = RecoverAll(fs());
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  EXPECT_EQ(r.records.size(), 30u);
  EXPECT_TRUE(r.report.torn_tail);
}

// A flipped bit in an earlier group, with valid groups after it: damage, not
// a torn write. Refused, naming the file and the offset of the bad group.
TEST_P(WalRecovery, FlippedBitBeforeValidGroupsRefusesToOpen) {
  const auto segs = WriteGroups(10);
  const std::string name = segs.back();
  const std::string original = ReadFile(fs(), name);
  const auto groups = Groups(original);
  for (std::size_t g : {0u, 4u, 8u}) {
    for (std::uint64_t at : {std::uint64_t{3}, std::uint64_t{13}, std::uint64_t{groups[g].header.group_bytes} - 30}) {
      std::string bad = original;
      bad[groups[g].offset + at] = static_cast<char>(bad[groups[g].offset + at] ^ 0x04);
      WriteAt(fs(), name, 0, bad);
      const auto r = RecoverAll(fs());
      EXPECT_EQ(r.status, RecoveryStatus::corrupt) << "group " << g << " byte " << at;
      EXPECT_NE(r.error.find(name), std::string::npos) << r.error;
      EXPECT_NE(r.error.find("offset " + std::to_string(groups[g].offset)), std::string::npos)
          << r.error;
      EXPECT_TRUE(r.records.size() <= 3 * g) << "nothing of or after the bad group is applied";
    }
  }
  // Undamaged again: everything is there (refusing changed nothing).
  WriteAt(fs(), name, 0, original);
  EXPECT_EQ(RecoverAll(fs()).records.size(), 30u);
}

// Damage in a segment that is not the newest can never be a torn write.
TEST_P(WalRecovery, DamageInAnOlderSegmentRefusesToOpen) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 1500, 5);
  const auto segs = log->segments();
  log->close();
  ASSERT_GE(segs.size(), 3u);
  const std::string original = ReadFile(fs(), segs[0]);
  const auto groups = Groups(original);
  const GroupAt last = groups.back();  // the last group of an older segment
  std::string bad = original;
  bad[last.offset + group_header_bytes + 30] = static_cast<char>(bad[last.offset + group_header_bytes + 30] ^ 0x01);
  WriteAt(fs(), segs[0], 0, bad);
  const auto r = RecoverAll(fs());
  EXPECT_EQ(r.status, RecoveryStatus::corrupt);
  EXPECT_NE(r.error.find(segs[0]), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("offset " + std::to_string(last.offset)), std::string::npos) << r.error;
}

TEST_P(WalRecovery, MissingMiddleSegmentRefusesToOpen) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 1500, 5);
  const auto segs = log->segments();
  log->close();
  ASSERT_GE(segs.size(), 3u);
  ASSERT_EQ(fs().remove(segs[1]), 0);
  const auto r = RecoverAll(fs());
  EXPECT_EQ(r.status, RecoveryStatus::corrupt);
  EXPECT_NE(r.error.find("missing"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(segs[2]), std::string::npos) << r.error;
  EXPECT_TRUE(r.records.empty() || r.records.back().lsn < 1500);
}

// The log after a snapshot must start at or before the snapshot's LSN + 1.
TEST_P(WalRecovery, LogStartingAfterTheSnapshotRefusesToOpen) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 1500, 5);
  const auto segs = log->segments();
  log->close();
  ASSERT_EQ(fs().remove(segs[0]), 0);
  std::uint64_t second_first = 0;
  ASSERT_TRUE(parse_segment_name(segs[1], &second_first));
  const auto refused = RecoverAll(fs(), second_first - 2);
  EXPECT_EQ(refused.status, RecoveryStatus::corrupt);
  EXPECT_NE(refused.error.find("missing segment"), std::string::npos) << refused.error;
  // With a snapshot that covers the removed segment, it opens.
  const auto ok = RecoverAll(fs(), second_first - 1);
  ASSERT_EQ(ok.status, RecoveryStatus::ok) << ok.error;
  EXPECT_EQ(ok.records.front().lsn, second_first);
  EXPECT_EQ(ok.records.back().lsn, 1500u);
}

// The log must reach the snapshot's LSN: a log that ends before it lost its
// newest segment(s). Opening anyway would restart the writer below the
// snapshot, and the next open would skip (as covered) every record written
// meanwhile. Found by fuzz_segment.
TEST_P(WalRecovery, LogEndingBeforeTheSnapshotRefusesToOpen) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 1500, 5);
  const auto segs = log->segments();
  log->close();
  ASSERT_GE(segs.size(), 3u);
  ASSERT_EQ(fs().remove(segs.back()), 0);  // the newest segment is gone
  std::uint64_t newest_first = 0;
  ASSERT_TRUE(parse_segment_name(segs.back(), &newest_first));
  const auto refused = RecoverAll(fs(), newest_first + 10);  // a snapshot past what is left
  EXPECT_EQ(refused.status, RecoveryStatus::corrupt);
  EXPECT_NE(refused.error.find("ends at LSN " + std::to_string(newest_first - 1)), std::string::npos)
      << refused.error;
  EXPECT_NE(refused.error.find("missing"), std::string::npos) << refused.error;
  // A snapshot the remaining log reaches opens, and goes on after the log.
  const auto ok = RecoverAll(fs(), newest_first - 1);
  EXPECT_EQ(ok.status, RecoveryStatus::ok) << ok.error;
  EXPECT_EQ(ok.tail.next_lsn, newest_first);
}

TEST_P(WalRecovery, RecordsUpToTheSnapshotAreSkipped) {
  WriteGroups(10);
  const auto r = RecoverAll(fs(), 10);
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  ASSERT_EQ(r.records.size(), 20u);
  EXPECT_EQ(r.records.front().lsn, 11u);
  EXPECT_EQ(r.records.front().body, BodyFor(11));
}

// The writer died after renaming a spare into the next segment's name but
// before its header was written: the file goes back to the free list and
// the log goes on from the previous segment.
TEST_P(WalRecovery, TornRollIsUndone) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 1500, 5);
  auto segs = log->segments();
  log->close();
  ASSERT_GE(segs.size(), 2u);
  const std::string newest = segs.back();
  std::uint64_t first = 0;
  ASSERT_TRUE(parse_segment_name(newest, &first));
  // Its header and first group never arrived: zeros there, old bytes later.
  WriteAt(fs(), newest, 0, std::string(4096, '\0'));
  const auto r = RecoverAll(fs());
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  EXPECT_EQ(r.records.size(), first - 1);
  EXPECT_EQ(r.tail.segments.size(), segs.size() - 1);
  ASSERT_FALSE(r.report.notes.empty());
  EXPECT_NE(r.report.notes.back().find(newest), std::string::npos);
  // The writer goes on from there, and everything reads back.
  auto again = OpenLog(fs(), r.tail);
  AppendDurable(*again, first, 300, 4);
  again->close();
  const auto r2 = RecoverAll(fs());
  ASSERT_EQ(r2.status, RecoveryStatus::ok) << r2.error;
  EXPECT_EQ(r2.records.size(), first - 1 + 300);
  EXPECT_EQ(r2.records.back().body, BodyFor(first + 299));
}

// A damaged header on a segment whose later groups are intact is damage.
TEST_P(WalRecovery, DamagedSegmentHeaderWithGroupsAfterRefuses) {
  const auto segs = WriteGroups(10);
  WriteAt(fs(), segs.back(), 20, "\x01");
  const auto r = RecoverAll(fs());
  EXPECT_EQ(r.status, RecoveryStatus::corrupt);
  EXPECT_NE(r.error.find("segment header"), std::string::npos) << r.error;
}

// An intact record of a type this version does not know is refused, never
// cut as if torn (it would be a newer writer's acknowledged data).
TEST_P(WalRecovery, UnknownRecordTypeRefusesEvenAtTheEnd) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 6, 3);
  const std::string name = log->segments().back();
  log->close();
  const auto r0 = RecoverAll(fs());
  std::string group(group_header_bytes + record_span_bytes(4) + sentinel_bytes, '\0');
  encode_group_header({.group_bytes = static_cast<std::uint32_t>(group_header_bytes +
                                                                 record_span_bytes(4)),
                       .first_lsn = 7,
                       .record_count = 1},
                      group.data());
  encode_record(static_cast<RecordType>(200), 7, "abcd", group.data() + group_header_bytes);
  WriteAt(fs(), name, r0.tail.write_offset, group);
  const auto r = RecoverAll(fs());
  EXPECT_EQ(r.status, RecoveryStatus::corrupt);
  EXPECT_NE(r.error.find("newer version"), std::string::npos) << r.error;
}

TEST_P(WalRecovery, UnfinishedFilesAreRemoved) {
  WriteGroups(2);
  std::unique_ptr<File> f;
  ASSERT_EQ(fs().open("free-77.tmp", OpenMode::create_new, &f), 0);
  f.reset();
  const auto r = RecoverAll(fs());
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  EXPECT_EQ(r.records.size(), 6u);
  std::vector<std::string> names;
  ASSERT_EQ(fs().list(&names), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), "free-77.tmp"), 0);
}

TEST_P(WalRecovery, EmptyDirectoryIsAnEmptyLog) {
  const auto r = RecoverAll(fs());
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.tail.next_lsn, 1u);
  EXPECT_TRUE(r.tail.segments.empty());
}

// ------------------------------------------------------------ read_log
// The read-only reading of a live log's segments (background snapshots).

// Passes reads through and refuses (and counts) every call that could change
// the directory or a file: read_log must never make one.
class ReadOnlyFs final : public Fs {
 public:
  explicit ReadOnlyFs(Fs& base) : base_(base) {}
  int open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) override {
    if (mode != OpenMode::existing) return refuse();
    std::unique_ptr<File> f;
    if (int rc = base_.open(name, mode, &f); rc != 0) return rc;
    *out = std::make_unique<ReadOnlyFile>(std::move(f), this);
    return 0;
  }
  int list(std::vector<std::string>* names) override { return base_.list(names); }
  int rename(std::string_view, std::string_view) override { return refuse(); }
  int remove(std::string_view) override { return refuse(); }
  int sync_dir() override { return refuse(); }
  const std::string& path() const override { return base_.path(); }
  int refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  class ReadOnlyFile final : public ForwardingFile {
   public:
    ReadOnlyFile(std::unique_ptr<File> f, ReadOnlyFs* fs) : ForwardingFile(std::move(f)), fs_(fs) {}
    int write_sync(std::uint64_t, std::span<const iovec>) override { return fs_->refuse(); }
    int write(std::uint64_t, std::span<const iovec>) override { return fs_->refuse(); }
    int sync() override { return fs_->refuse(); }
    int truncate(std::uint64_t) override { return fs_->refuse(); }

   private:
    ReadOnlyFs* fs_;
  };
  int refuse() {
    refused_.fetch_add(1, std::memory_order_relaxed);  // counted only
    return EROFS;
  }
  Fs& base_;
  std::atomic<int> refused_{0};
};

struct ReadBack {
  RecoveryStatus status = RecoveryStatus::ok;
  std::string error;
  std::uint64_t applied = 0;
  std::vector<testing::Replayed> records;
};

// read_log with an apply that keeps every record (and refuses LSN refuse_lsn).
ReadBack ReadLog(Fs& fs, const std::vector<std::string>& segments, std::uint64_t after,
                 std::uint64_t through, std::uint64_t refuse_lsn = 0) {
  ReadBack r;
  r.status = read_log(
      fs, segments, after, through,
      [&](const LogRecord& rec, std::string* error) {
        if (rec.lsn == refuse_lsn) {
          *error = "refused by the test";
          return false;
        }
        r.records.push_back({rec.type, rec.lsn, std::string(rec.body)});
        return true;
      },
      &r.applied, &r.error);
  return r;
}

// Exactly the records after..through, each once, in LSN order, with the
// bodies AppendDurable/the appender gave them (BodyFor(lsn)).
void ExpectRange(const ReadBack& r, std::uint64_t after, std::uint64_t through) {
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  ASSERT_EQ(r.records.size(), through - after);
  EXPECT_EQ(r.applied, through - after);
  for (std::uint64_t i = 0; i < r.records.size(); ++i) {
    const std::uint64_t lsn = after + 1 + i;
    ASSERT_EQ(r.records[i].lsn, lsn);
    ASSERT_EQ(r.records[i].body, BodyFor(lsn)) << "LSN " << lsn;
    ASSERT_EQ(r.records[i].type, RecordType::enqueue);
  }
}

// Every file of the directory and its bytes.
std::map<std::string, std::string> Files(Fs& fs) {
  std::vector<std::string> names;
  EXPECT_EQ(fs.list(&names), 0);
  std::map<std::string, std::string> out;
  for (const std::string& n : names) {
    if (n != "LOCK") out[n] = ReadFile(fs, n);
  }
  return out;
}

// While a thread keeps appending (it stops only when the reads are done),
// reads of the durable range hand exactly that range, across segments, and
// never call anything that writes.
TEST_P(WalRecovery, ReadLogWhileTheLogAppendsHandsExactlyTheDurableRange) {
  auto log = OpenLog(fs(), {});
  std::atomic<bool> stop{false};
  std::thread appender([&] {
    // LSNs from 1 in order: one appender, so record i has LSN i.
    constexpr std::uint64_t kPerGroup = 5;
    constexpr std::uint64_t kRecordsMax = 1'000'000;  // a bound, should the reads never end
    std::vector<std::string> bodies(kPerGroup);
    std::vector<Log::Record> recs(kPerGroup);
    for (std::uint64_t next = 1; next < kRecordsMax && !stop.load(std::memory_order_relaxed);
         next += kPerGroup) {
      for (std::uint64_t j = 0; j < kPerGroup; ++j) {
        bodies[j] = BodyFor(next + j);
        recs[j] = {RecordType::enqueue, bodies[j]};
      }
      std::uint64_t last = 0;
      if (log->append(recs, &last) != AppendResult::ok) {
        ADD_FAILURE() << "append failed: " << log->failure();
        log->close();  // the only appender: wakes the main thread's wait
        return;
      }
      EXPECT_EQ(last, next + kPerGroup - 1);
    }
  });
  // Stops and joins the appender however the test ends (an ASSERT returns).
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Joiner() {
      stop.store(true, std::memory_order_relaxed);
      thread.join();
    }
  } joiner{stop, appender};
  ASSERT_TRUE(log->wait_durable(4000));
  ReadOnlyFs ro(fs());
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::uint64_t through = log->durable_lsn();  // first: the segments cover it
    const auto segs = log->segments();
    ASSERT_GE(segs.size(), 3u);
    std::uint64_t second_first = 0;
    ASSERT_TRUE(parse_segment_name(segs[1], &second_first));
    for (std::uint64_t after :
         {std::uint64_t{0}, std::uint64_t{1}, second_first - 1, second_first + 2, through - 1}) {
      ExpectRange(ReadLog(ro, segs, after, through), after, through);
    }
    ExpectRange(ReadLog(ro, segs, 17, 1200), 17, 1200);  // a through short of durable
  }
  EXPECT_EQ(ro.refused(), 0) << "read_log tried to change a file or the directory";
}

// On a closed log the bytes before and after a read (and a refused read)
// are the same, file by file.
TEST_P(WalRecovery, ReadLogChangesNoFile) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 1500, 5);
  const auto segs = log->segments();
  log->close();
  const auto before = Files(fs());
  ExpectRange(ReadLog(fs(), segs, 0, 1500), 0, 1500);
  EXPECT_EQ(ReadLog(fs(), segs, 0, 1501).status, RecoveryStatus::corrupt);  // past the end
  EXPECT_EQ(Files(fs()) == before, true) << "a file changed";
}

TEST_P(WalRecovery, ReadLogOfAnEmptyRangeHandsNothing) {
  const auto segs = WriteGroups(4);
  for (std::uint64_t at : {0u, 5u, 12u}) {
    const auto r = ReadLog(fs(), segs, at, at);
    EXPECT_EQ(r.status, RecoveryStatus::ok) << r.error;
    EXPECT_TRUE(r.records.empty());
    EXPECT_EQ(r.applied, 0u);
  }
  // Nothing is read at all, so not even the segments are needed.
  EXPECT_EQ(ReadLog(fs(), {}, 7, 7).status, RecoveryStatus::ok);
}

// Damage before `through` is corrupt, naming the file; nothing is repaired
// (the damaged bytes are still there after). Damage after `through` is never
// looked at.
TEST_P(WalRecovery, ReadLogFlippedBitBeforeThroughIsCorrupt) {
  const auto segs = WriteGroups(10);
  const std::string name = segs.back();
  const std::string original = ReadFile(fs(), name);
  const auto groups = Groups(original);
  ASSERT_EQ(groups.size(), 10u);
  for (std::size_t g : {0u, 4u, 9u}) {
    std::string bad = original;
    const std::uint64_t at = groups[g].offset + group_header_bytes + 30;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    WriteAt(fs(), name, 0, bad);
    const auto r = ReadLog(fs(), segs, 0, 30);
    EXPECT_EQ(r.status, RecoveryStatus::corrupt) << "group " << g;
    EXPECT_NE(r.error.find(name), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("offset " + std::to_string(groups[g].offset)), std::string::npos)
        << r.error;
    EXPECT_LE(r.records.size(), 3 * g) << "nothing of or after the bad group";
    EXPECT_EQ(ReadFile(fs(), name), bad) << "read_log repaired or cut something";
    if (g == 9) {  // LSNs 28..30: a read through 27 never looks at it
      ExpectRange(ReadLog(fs(), segs, 0, 27), 0, 27);
      ExpectRange(ReadLog(fs(), segs, 20, 27), 20, 27);
    }
  }
  WriteAt(fs(), name, 0, original);
  ExpectRange(ReadLog(fs(), segs, 0, 30), 0, 30);
}

TEST_P(WalRecovery, ReadLogDamagedSegmentHeaderIsCorrupt) {
  const auto segs = WriteGroups(10);
  WriteAt(fs(), segs.back(), 20, "\x01");
  const auto r = ReadLog(fs(), segs, 0, 30);
  EXPECT_EQ(r.status, RecoveryStatus::corrupt);
  EXPECT_NE(r.error.find(segs.back()), std::string::npos) << r.error;
  EXPECT_TRUE(r.records.empty());
}

TEST_P(WalRecovery, ReadLogMissingSegmentIsCorrupt) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 1500, 5);
  const auto segs = log->segments();
  log->close();
  ASSERT_GE(segs.size(), 3u);
  std::uint64_t second_first = 0, third_first = 0;
  ASSERT_TRUE(parse_segment_name(segs[1], &second_first));
  ASSERT_TRUE(parse_segment_name(segs[2], &third_first));
  // Left out of the list: a gap in the middle, or no segment with the first LSN.
  auto gap = segs;
  gap.erase(gap.begin() + 1);
  const auto r1 = ReadLog(fs(), gap, 0, 1500);
  EXPECT_EQ(r1.status, RecoveryStatus::corrupt);
  EXPECT_NE(r1.error.find(segs[2]), std::string::npos) << r1.error;
  EXPECT_LT(r1.records.size(), second_first);
  auto late = segs;
  late.erase(late.begin());
  EXPECT_EQ(ReadLog(fs(), late, 0, 1500).status, RecoveryStatus::corrupt);
  EXPECT_EQ(ReadLog(fs(), {}, 0, 1500).status, RecoveryStatus::corrupt);
  // Listed but gone from the directory.
  ASSERT_EQ(fs().remove(segs[1]), 0);
  const auto r2 = ReadLog(fs(), segs, 0, 1500);
  EXPECT_EQ(r2.status, RecoveryStatus::corrupt) << r2.error;
  EXPECT_NE(r2.error.find(segs[1]), std::string::npos) << r2.error;
  // A range that starts after the missing one does not need it.
  ExpectRange(ReadLog(fs(), segs, third_first - 1, 1500), third_first - 1, 1500);
}

TEST_P(WalRecovery, ReadLogStopsWhereApplyRefuses) {
  const auto segs = WriteGroups(10);
  const auto r = ReadLog(fs(), segs, 3, 30, 17);
  EXPECT_EQ(r.status, RecoveryStatus::apply_failed);
  EXPECT_NE(r.error.find("refused by the test"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("LSN 17"), std::string::npos) << r.error;
  EXPECT_EQ(r.applied, 13u);
  ASSERT_EQ(r.records.size(), 13u);
  EXPECT_EQ(r.records.back().lsn, 16u);
}

// A process crash keeps writes whose fdatasync never ran (the page cache
// survives). Recovery reads them, and the log reopened on its tail reports
// them durable, so recovery puts every segment it read on disk first: a
// power cut after the reopen loses nothing it read. The crashed directory is
// built as a copy of a real log written to a fresh MemFs without a sync.
TEST(WalRecoverySync, WhatRecoveryReadsIsOnDiskBeforeTheLogReopens) {
  MemFs written("written");
  std::vector<std::string> segs;
  {
    auto log = OpenLog(written, {});
    AppendDurable(*log, 1, 3000, 30);
    segs = log->segments();
    log->close();
  }
  ASSERT_GE(segs.size(), 2u);
  MemFs crashed("crashed");
  std::vector<std::string> names;
  ASSERT_EQ(written.list(&names), 0);
  for (const std::string& name : names) {
    std::unique_ptr<File> f;
    ASSERT_EQ(crashed.open(name, OpenMode::create_new, &f), 0);
    std::string bytes = written.contents(name);
    iovec iov{bytes.data(), bytes.size()};
    ASSERT_EQ(f->write(0, {&iov, 1}), 0);  // no sync: only in the "page cache"
  }
  ASSERT_EQ(crashed.sync_dir(), 0);  // the names are durable, the bytes not
  testing::Recovered first = RecoverAll(crashed);
  ASSERT_EQ(first.status, RecoveryStatus::ok) << first.error;
  ASSERT_EQ(first.records.size(), 3000u);
  crashed.power_loss(PowerLoss::lose_unsynced);
  testing::Recovered after = RecoverAll(crashed);
  ASSERT_EQ(after.status, RecoveryStatus::ok) << after.error;
  EXPECT_EQ(after.records.size(), 3000u) << "records recovery read and reported were lost in a power cut";
  EXPECT_EQ(after.tail.next_lsn, first.tail.next_lsn);
}

INSTANTIATE_TEST_SUITE_P(Layers, WalRecovery,
                         ::testing::Values(Layer::mem, Layer::pwritev, Layer::io_uring),
                         testing::LayerName);

}  // namespace
}  // namespace hotq::wal
