// The log writer: group commit, segments, recycling, and failures, on every
// file layer (memory, pwritev, io_uring), with faults from FaultyFs and power
// cuts from MemFs.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "tests/test_util.h"
#include "tests/wal_test_fs.h"
#include "tests/wal_test_util.h"
#include "wal/faulty_fs.h"

namespace hotq::wal {
namespace {

using testing::AppendDurable;
using testing::BodyFor;
using testing::Layer;
using testing::OpenLog;
using testing::RecoverAll;
using testing::TestFs;

using WalLog = testing::LayerTest;

void ExpectRecords(const testing::Recovered& r, std::uint64_t first, std::uint64_t n) {
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  ASSERT_EQ(r.records.size(), n);
  for (std::uint64_t i = 0; i < n; ++i) {
    EXPECT_EQ(r.records[i].lsn, first + i);
    EXPECT_EQ(r.records[i].body, BodyFor(first + i)) << "lsn " << first + i;
  }
}

TEST_P(WalLog, DurableRecordsReadBackInOrder) {
  auto log = OpenLog(fs(), {});
  EXPECT_EQ(AppendDurable(*log, 1, 50, 3), 50u);
  EXPECT_EQ(log->durable_lsn(), 50u);
  log->close();
  const auto r = RecoverAll(fs());
  ExpectRecords(r, 1, 50);
  EXPECT_FALSE(r.report.torn_tail);
  EXPECT_EQ(r.tail.next_lsn, 51u);
}

TEST_P(WalLog, RollsAcrossSegmentsAndReopensWhereItStopped) {
  auto log = OpenLog(fs(), {});
  AppendDurable(*log, 1, 2000, 7);  // ~200 KB: several 64 KiB segments
  EXPECT_GE(log->segments().size(), 3u);
  EXPECT_GE(log->stats().segments_started, 3u);
  log.reset();
  tfs_->reopen();
  auto r = RecoverAll(fs());
  ExpectRecords(r, 1, 2000);
  EXPECT_EQ(r.tail.segments.size(), r.report.segments_read);

  auto again = OpenLog(fs(), r.tail);
  AppendDurable(*again, 2001, 500, 5);
  again.reset();
  tfs_->reopen();
  ExpectRecords(RecoverAll(fs()), 1, 2500);
}

TEST_P(WalLog, ManyThreadsGetConsecutiveLsnsAndAllAreDurable) {
  auto log = OpenLog(fs(), {});
  constexpr int kThreads = 4;
  constexpr int kPerThread = testing_util::kSanitized ? 200 : 1000;
  std::vector<std::vector<std::uint64_t>> lsns(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string body = "t";  // (+= rather than +: g++ 12's false -Wrestrict)
        body += std::to_string(t);
        body += '-';
        body += std::to_string(i);
        Log::Record rec{RecordType::ack, body};
        std::uint64_t lsn = 0;
        ASSERT_EQ(log->append({&rec, 1}, &lsn), AppendResult::ok);
        ASSERT_TRUE(log->wait_durable(lsn));
        lsns[t].push_back(lsn);
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto stats = log->stats();
  log->close();
  std::set<std::uint64_t> all;
  for (const auto& v : lsns) all.insert(v.begin(), v.end());
  ASSERT_EQ(all.size(), std::size_t{kThreads} * kPerThread);
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), std::uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(stats.records, all.size());
  EXPECT_LE(stats.groups, stats.records);

  const auto r = RecoverAll(fs());
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  ASSERT_EQ(r.records.size(), all.size());
  // Each thread's records appear in the order it appended them.
  std::vector<int> next(kThreads, 0);
  for (const auto& rec : r.records) {
    const auto dash = rec.body.find('-');
    const int t = std::stoi(rec.body.substr(1, dash - 1));
    EXPECT_EQ(std::stoi(rec.body.substr(dash + 1)), next[t]++);
  }
}

TEST_P(WalLog, RecycledSegmentsAreReusedAndTheirStaleBytesNeverRead) {
  LogOptions options;
  options.spare_segments = 1;
  auto log = OpenLog(fs(), {}, options);
  AppendDurable(*log, 1, 1500, 4);
  const auto before = log->segments();
  ASSERT_GE(before.size(), 3u);
  // A snapshot covering everything so far frees all but the newest segment.
  ASSERT_EQ(log->recycle(log->durable_lsn()), 0);
  EXPECT_EQ(log->segments().size(), 1u);
  const auto filled = log->stats().segments_filled;
  const auto started = log->stats().segments_started;
  // Writing on reuses recycled files (full of old groups): more segments
  // are started than filled.
  AppendDurable(*log, 1501, 1500, 3);
  EXPECT_GT(log->stats().segments_started - started, log->stats().segments_filled - filled);
  log.reset();
  tfs_->reopen();
  // The log is read from the first segment still current: the records after
  // the recycle point are all there, nothing stale is read.
  const auto r = RecoverAll(fs(), 1500);
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  ASSERT_EQ(r.records.size(), 1500u);
  EXPECT_EQ(r.records.front().lsn, 1501u);
  EXPECT_EQ(r.records.back().body, BodyFor(3000));
  EXPECT_FALSE(r.report.torn_tail);
}

TEST_P(WalLog, TooLargeIsRefusedAndLogGoesOn) {
  auto log = OpenLog(fs(), {});
  const std::string big(testing::kSmallSegment, 'x');
  Log::Record rec{RecordType::enqueue, big};
  std::uint64_t lsn = 0;
  EXPECT_EQ(log->append({&rec, 1}, &lsn), AppendResult::too_large);
  EXPECT_FALSE(log->failed());
  EXPECT_EQ(AppendDurable(*log, 1, 3), 3u);
}

// Interval mode: appends return at once and a timer writes; close() writes
// what is left, so every record is there afterwards.
TEST_P(WalLog, IntervalModeWritesOnItsOwnAndOnClose) {
  LogOptions options;
  options.interval_ns = 2'000'000;
  auto log = OpenLog(fs(), {}, options);
  std::uint64_t lsn = 0;
  for (std::uint64_t i = 1; i <= 100; ++i) {
    const std::string body = BodyFor(i);
    Log::Record rec{RecordType::enqueue, body};
    ASSERT_EQ(log->append({&rec, 1}, &lsn), AppendResult::ok);
  }
  EXPECT_TRUE(log->wait_durable(50));  // the timer, not another append, gets it there
  log->close();
  EXPECT_EQ(log->durable_lsn(), 100u);
  ExpectRecords(RecoverAll(fs()), 1, 100);
}

// ---------------------------------------------------------------- failures

// Every write or sync error fails the log for good: the group is not
// reported durable, waiters hear of it, later appends are refused, and the
// failed operation is not retried.
void CheckFailureIsFinal(Fs& base, Fault fault, const char* text) {
  FaultyFs faulty(base);
  auto log = OpenLog(faulty, {});
  AppendDurable(*log, 1, 10);
  faulty.arm(fault, 0, "wal-");
  std::string body = BodyFor(11);
  Log::Record rec{RecordType::enqueue, body};
  std::uint64_t lsn = 0;
  ASSERT_EQ(log->append({&rec, 1}, &lsn), AppendResult::ok);
  EXPECT_FALSE(log->wait_durable(lsn));
  EXPECT_TRUE(log->failed());
  EXPECT_EQ(log->durable_lsn(), 10u);
  EXPECT_EQ(faulty.fired(fault), 1u);
  const std::string failure = log->failure();
  EXPECT_NE(failure.find("wal-00000000000000000001.log"), std::string::npos) << failure;
  EXPECT_NE(failure.find(text), std::string::npos) << failure;
  EXPECT_EQ(log->append({&rec, 1}, &lsn), AppendResult::failed);
  log->close();
  faulty.disarm_all();
  // What was durable is all there; the failed group may or may not be (it
  // was never reported durable), nothing else is.
  const auto r = RecoverAll(base);
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  ASSERT_GE(r.records.size(), 10u);
  ASSERT_LE(r.records.size(), 11u);
  for (std::uint64_t i = 0; i < 10; ++i) EXPECT_EQ(r.records[i].body, BodyFor(i + 1));
}

TEST_P(WalLog, EioOnWriteFailsTheLog) { CheckFailureIsFinal(fs(), Fault::eio_write, "Input/output error"); }
TEST_P(WalLog, ShortWriteFailsTheLog) { CheckFailureIsFinal(fs(), Fault::short_write, "Input/output error"); }
TEST_P(WalLog, EnospcOnWriteFailsTheLog) {
  CheckFailureIsFinal(fs(), Fault::enospc_write, "No space left on device");
}
TEST_P(WalLog, EioOnFsyncFailsTheLogAndIsNotRetried) {
  CheckFailureIsFinal(fs(), Fault::eio_sync, "Input/output error");
}

// No spare segment can be made (disk full): the log goes on in the segment
// it has, and fails with ENOSPC only when it must roll.
TEST_P(WalLog, NoSpaceForANewSegmentFailsOnlyAtTheRoll) {
  FaultyFs faulty(fs());
  LogOptions options;
  options.spare_segments = 1;
  auto log = OpenLog(faulty, {}, options);  // one spare made now
  faulty.arm(Fault::enospc_create, 0, "free-", /*sticky=*/true);
  std::uint64_t i = 1;
  std::uint64_t last = 0;
  // Fill the first segment and roll into the spare; the next roll has none.
  for (; i < 100'000; ++i) {
    const std::string body = BodyFor(i);
    Log::Record rec{RecordType::enqueue, body};
    if (log->append({&rec, 1}, &last) != AppendResult::ok) break;
    if (!log->wait_durable(last)) break;
  }
  EXPECT_TRUE(log->failed());
  EXPECT_NE(log->failure().find("No space left on device"), std::string::npos) << log->failure();
  EXPECT_EQ(log->segments().size(), 1u);  // the spare made at open, filled up
  const std::uint64_t durable = log->durable_lsn();
  EXPECT_GT(durable, 100u);
  log->close();
  faulty.disarm_all();
  const auto r = RecoverAll(fs());
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  EXPECT_EQ(r.records.size(), durable);
}

INSTANTIATE_TEST_SUITE_P(Layers, WalLog,
                         ::testing::Values(Layer::mem, Layer::pwritev, Layer::io_uring),
                         testing::LayerName);

// ---------------------------------------------------------------- power cuts

class WalPowerLoss : public ::testing::TestWithParam<PowerLoss> {};

// Whatever a power cut leaves, every record reported durable comes back and
// nothing comes back that was never appended.
TEST_P(WalPowerLoss, DurableRecordsSurvive) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    MemFs fs;
    auto log = OpenLog(fs, {});
    AppendDurable(*log, 1, 300 + seed * 7, 3);
    const std::uint64_t durable = log->durable_lsn();
    // More records that are not waited for: maybe written, maybe not.
    for (std::uint64_t i = durable + 1; i <= durable + 40; ++i) {
      const std::string body = BodyFor(i);
      Log::Record rec{RecordType::enqueue, body};
      std::uint64_t lsn = 0;
      ASSERT_EQ(log->append({&rec, 1}, &lsn), AppendResult::ok);
    }
    fs.power_loss(GetParam(), seed);  // the writer's files are dead from here
    log.reset();
    const auto r = RecoverAll(fs);
    ASSERT_EQ(r.status, RecoveryStatus::ok) << "seed " << seed << ": " << r.error;
    ASSERT_GE(r.records.size(), durable) << "seed " << seed;
    ASSERT_LE(r.records.size(), durable + 40);
    for (std::size_t i = 0; i < r.records.size(); ++i) {
      ASSERT_EQ(r.records[i].body, BodyFor(i + 1)) << "seed " << seed;
    }
    // And the log goes on from there, readable again.
    auto again = OpenLog(fs, r.tail);
    const std::uint64_t next = r.records.size() + 1;
    AppendDurable(*again, next, 20);
    again->close();
    const auto r2 = RecoverAll(fs);
    ASSERT_EQ(r2.status, RecoveryStatus::ok) << r2.error;
    EXPECT_EQ(r2.records.size(), next + 19);
    EXPECT_FALSE(r2.report.torn_tail);
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, WalPowerLoss,
                         ::testing::Values(PowerLoss::lose_unsynced, PowerLoss::torn,
                                           PowerLoss::keep_all),
                         [](const auto& p) {
                           switch (p.param) {
                             case PowerLoss::lose_unsynced: return "lose_unsynced";
                             case PowerLoss::torn: return "torn";
                             case PowerLoss::keep_all: return "keep_all";
                           }
                           return "?";
                         });

}  // namespace
}  // namespace hotq::wal
