// Recovery, one test per row of docs/wal-format.md "Recovery rules": torn
// tails cut at every point of the last group, damage before valid data
// refused with file and offset, missing segments refused, torn rolls undone.
// Runs on every file layer; the damage is made through the Fs itself.
#include <gtest/gtest.h>

#include <random>

#include "tests/wal_test_fs.h"
#include "tests/wal_test_util.h"

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

INSTANTIATE_TEST_SUITE_P(Layers, WalRecovery,
                         ::testing::Values(Layer::mem, Layer::pwritev, Layer::io_uring),
                         testing::LayerName);

}  // namespace
}  // namespace hotq::wal
