// Snapshot files: round trip, the newest valid one wins, a damaged or
// unfinished one is never applied, older ones go once a newer is durable.
#include "wal/snapshot.h"

#include <gtest/gtest.h>

#include "tests/wal_test_fs.h"
#include "tests/wal_test_util.h"
#include "wal/faulty_fs.h"

namespace hotq::wal {
namespace {

using testing::BodyFor;
using testing::Layer;
using testing::TestFs;

struct Loaded {
  RecoveryStatus status;
  std::string error;
  SnapshotInfo info;
  std::vector<std::string> notes;
  std::vector<std::string> bodies;
};

Loaded Load(Fs& fs) {
  Loaded l;
  l.status = load_snapshot(
      fs,
      [&](const LogRecord& r, std::string*) {
        l.bodies.emplace_back(r.body);
        return true;
      },
      &l.info, &l.notes, &l.error);
  return l;
}

void Write(Fs& fs, std::uint64_t lsn, std::uint64_t records) {
  std::unique_ptr<SnapshotWriter> w;
  ASSERT_EQ(SnapshotWriter::create(fs, lsn, 1234, &w), 0);
  for (std::uint64_t i = 0; i < records; ++i) {
    ASSERT_EQ(w->add(RecordType::snap_job, BodyFor(lsn * 1000 + i)), 0);
  }
  std::string error;
  ASSERT_EQ(w->finish(&error), 0) << error;
}

using WalSnapshot = testing::LayerTest;

TEST_P(WalSnapshot, NoSnapshotIsCoveredLsnZero) {
  const auto l = Load(fs());
  EXPECT_EQ(l.status, RecoveryStatus::ok);
  EXPECT_TRUE(l.info.name.empty());
  EXPECT_EQ(l.info.covered_lsn, 0u);
}

TEST_P(WalSnapshot, RoundTripAcrossWriteSteps) {
  Write(fs(), 500, 30'000);  // ~2.5 MB: several write steps
  const auto l = Load(fs());
  ASSERT_EQ(l.status, RecoveryStatus::ok) << l.error;
  EXPECT_EQ(l.info.covered_lsn, 500u);
  EXPECT_EQ(l.info.wall_ns, 1234u);
  ASSERT_EQ(l.bodies.size(), 30'000u);
  EXPECT_EQ(l.bodies[0], BodyFor(500'000));
  EXPECT_EQ(l.bodies[29'999], BodyFor(500'000 + 29'999));
}

TEST_P(WalSnapshot, NewerReplacesOlder) {
  Write(fs(), 10, 5);
  Write(fs(), 20, 7);
  std::vector<std::string> names;
  ASSERT_EQ(fs().list(&names), 0);
  EXPECT_EQ(std::count(names.begin(), names.end(), snapshot_name(10)), 0);
  const auto l = Load(fs());
  EXPECT_EQ(l.info.covered_lsn, 20u);
  EXPECT_EQ(l.bodies.size(), 7u);
}

// A snapshot is read back in steps of snapshot_read_bytes: records that
// straddle a step, and one record larger than a whole step, come back whole
// and in order; damage far past the first step still keeps every record of
// the snapshot from being applied.
TEST_P(WalSnapshot, ReadInStepsWithARecordLargerThanAStep) {
  std::vector<std::string> bodies;
  const std::size_t small = 4'000;  // ~16 MB of them: two steps and more
  for (std::size_t i = 0; i < small; ++i) {
    bodies.push_back(std::string(4'000 + i % 97, static_cast<char>('a' + i % 26)));
    if (i == small / 2) bodies.push_back(std::string(snapshot_read_bytes + 12'345, 'L'));
  }
  {
    std::unique_ptr<SnapshotWriter> w;
    ASSERT_EQ(SnapshotWriter::create(fs(), 30, 1234, &w), 0);
    for (const std::string& b : bodies) ASSERT_EQ(w->add(RecordType::snap_job, b), 0);
    std::string error;
    ASSERT_EQ(w->finish(&error), 0) << error;
  }
  const std::string file = testing::ReadFile(fs(), snapshot_name(30));
  ASSERT_GT(file.size(), 2 * snapshot_read_bytes);  // three steps at least
  auto l = Load(fs());
  ASSERT_EQ(l.status, RecoveryStatus::ok) << l.error;
  EXPECT_EQ(l.info.records, bodies.size());
  ASSERT_EQ(l.bodies.size(), bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_EQ(l.bodies[i], bodies[i]) << "record " << i;
  }
  // One flipped byte near the end, steps after the first record was read.
  std::string bad = file;
  bad[bad.size() - 100] = static_cast<char>(bad[bad.size() - 100] ^ 0x01);
  std::unique_ptr<File> f;
  ASSERT_EQ(fs().open(snapshot_name(30), OpenMode::existing, &f), 0);
  iovec iov{bad.data(), bad.size()};
  ASSERT_EQ(f->write_sync(0, {&iov, 1}), 0);
  l = Load(fs());
  ASSERT_EQ(l.status, RecoveryStatus::ok) << l.error;
  EXPECT_EQ(l.info.covered_lsn, 0u) << "the damaged snapshot is skipped";
  EXPECT_TRUE(l.bodies.empty()) << "nothing of it is applied";
  ASSERT_EQ(l.notes.size(), 1u);
  EXPECT_NE(l.notes[0].find(snapshot_name(30)), std::string::npos) << l.notes[0];
}

// Damage anywhere (header, a record, the end record) or a cut file: the
// snapshot is skipped whole, reported, and the older valid one is used.
TEST_P(WalSnapshot, DamagedNewestFallsBackToOlderWhole) {
  Write(fs(), 10, 5);
  // Keep the older one from being removed: write the newer by hand under
  // a different covered LSN first, then damage it.
  std::string older = testing::ReadFile(fs(), snapshot_name(10));
  Write(fs(), 20, 50);
  std::string newer = testing::ReadFile(fs(), snapshot_name(20));
  for (std::size_t at : {std::size_t{20}, std::size_t{200}, newer.size() - 10, newer.size() + 1}) {
    // Restore the older snapshot, then a damaged (or cut) newer one.
    std::unique_ptr<File> f;
    if (fs().open(snapshot_name(10), OpenMode::create_new, &f) == 0) {
      iovec iov{older.data(), older.size()};
      ASSERT_EQ(f->write_sync(0, {&iov, 1}), 0);
    }
    std::string bad = newer;
    if (at < bad.size()) {
      bad[at] = static_cast<char>(bad[at] ^ 0x20);
    } else {
      bad.resize(bad.size() - 40);  // cut short
    }
    ASSERT_EQ(fs().open(snapshot_name(20), OpenMode::existing, &f), 0);
    ASSERT_EQ(f->truncate(0), 0);
    iovec iov{bad.data(), bad.size()};
    ASSERT_EQ(f->write_sync(0, {&iov, 1}), 0);
    const auto l = Load(fs());
    ASSERT_EQ(l.status, RecoveryStatus::ok) << l.error;
    EXPECT_EQ(l.info.covered_lsn, 10u) << "damage at " << at;
    EXPECT_EQ(l.bodies.size(), 5u) << "nothing of the damaged snapshot is applied";
    ASSERT_FALSE(l.notes.empty());
    EXPECT_NE(l.notes[0].find(snapshot_name(20)), std::string::npos);
  }
}

// A failed write or fsync never leaves a snapshot that looks current.
TEST_P(WalSnapshot, FailedSyncLeavesNoSnapshot) {
  for (Fault fault : {Fault::eio_sync, Fault::eio_write, Fault::enospc_write}) {
    FaultyFs faulty(fs());
    faulty.arm(fault, 0, "snap-");
    std::unique_ptr<SnapshotWriter> w;
    ASSERT_EQ(SnapshotWriter::create(faulty, 99, 0, &w), 0);
    ASSERT_EQ(w->add(RecordType::snap_job, "x"), 0);
    std::string error;
    EXPECT_NE(w->finish(&error), 0);
    EXPECT_FALSE(error.empty());
    w.reset();  // abandoned: the .tmp goes
    std::vector<std::string> names;
    ASSERT_EQ(fs().list(&names), 0);
    for (const auto& n : names) EXPECT_EQ(n.find("snap-"), std::string::npos) << n;
    EXPECT_TRUE(Load(fs()).info.name.empty());
  }
}

// Power cut before the directory fsync: the rename may be lost, never half done.
TEST(WalSnapshotPower, PowerCutKeepsOldOrNew) {
  MemFs fs;
  Write(fs, 10, 3);
  std::unique_ptr<SnapshotWriter> w;
  ASSERT_EQ(SnapshotWriter::create(fs, 20, 0, &w), 0);
  ASSERT_EQ(w->add(RecordType::snap_job, "new"), 0);
  w.reset();  // never finished
  fs.power_loss(PowerLoss::torn, 3);
  const auto l = Load(fs);
  ASSERT_EQ(l.status, RecoveryStatus::ok) << l.error;
  EXPECT_EQ(l.info.covered_lsn, 10u);
}

INSTANTIATE_TEST_SUITE_P(Layers, WalSnapshot,
                         ::testing::Values(Layer::mem, Layer::pwritev, Layer::io_uring),
                         testing::LayerName);

}  // namespace
}  // namespace hotq::wal
