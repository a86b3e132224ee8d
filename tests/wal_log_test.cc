// The log writer: group commit, segments, recycling, and failures, on every
// file layer (memory, pwritev, io_uring), with faults from FaultyFs and power
// cuts from MemFs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

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
  EXPECT_EQ(log->reserve(64), ReserveResult::failed);
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
// it has; the append that would need the next one is refused with no_space,
// the log is not failed, and once the disk has room again appends go on.
TEST_P(WalLog, NoSpaceForANewSegmentRefusesTheAppendAndTheLogGoesOn) {
  FaultyFs faulty(fs());
  LogOptions options;
  options.spare_segments = 1;
  auto log = OpenLog(faulty, {}, options);  // one spare made now
  faulty.arm(Fault::enospc_create, 0, "free-", /*sticky=*/true);
  std::uint64_t i = 1;
  std::uint64_t last = 0;
  AppendResult result = AppendResult::ok;
  // Fill the first segment and roll into the spare; the next roll has none.
  for (; i < 100'000; ++i) {
    const std::string body = BodyFor(i);
    Log::Record rec{RecordType::enqueue, body};
    result = log->append({&rec, 1}, &last);
    if (result != AppendResult::ok) break;
    ASSERT_TRUE(log->wait_durable(last));
  }
  EXPECT_EQ(result, AppendResult::no_space);
  EXPECT_FALSE(log->failed()) << log->failure();
  EXPECT_EQ(log->segments().size(), 1u);  // the spare made at open, filled up
  EXPECT_GE(log->stats().no_space, 1u);
  EXPECT_GE(faulty.fired(Fault::enospc_create), 1u);
  const std::uint64_t durable = log->durable_lsn();
  EXPECT_EQ(durable, i - 1);
  EXPECT_GT(durable, 100u);
  // The disk has room again: the refused record goes in after all.
  faulty.disarm_all();
  EXPECT_EQ(AppendDurable(*log, i, 20), i + 19);
  EXPECT_FALSE(log->failed());
  log->close();
  ExpectRecords(RecoverAll(fs()), 1, i + 19);
}

// An error other than ENOSPC while making a spare that an append needs fails
// the log, as a roll without a spare always did; the failure is reported to
// on_durable once, by the writer thread.
TEST_P(WalLog, EioMakingANeededSpareFailsTheLog) {
  FaultyFs faulty(fs());
  auto log = OpenLog(faulty, {});
  std::atomic<int> failed_reports{0};
  log->set_on_durable([&](std::uint64_t, bool failed) {
    if (failed) failed_reports.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count
  });
  faulty.arm(Fault::eio_write, 0, "free-", /*sticky=*/true);
  AppendResult result = AppendResult::ok;
  std::uint64_t i = 1;
  for (std::uint64_t last = 0; i < 100'000; ++i) {
    const std::string body = BodyFor(i);
    Log::Record rec{RecordType::enqueue, body};
    result = log->append({&rec, 1}, &last);
    if (result != AppendResult::ok) break;
    ASSERT_TRUE(log->wait_durable(last));
  }
  EXPECT_EQ(result, AppendResult::failed);
  EXPECT_TRUE(log->failed());
  const std::string failure = log->failure();
  EXPECT_NE(failure.find("no segment to continue the log"), std::string::npos) << failure;
  EXPECT_NE(failure.find("Input/output error"), std::string::npos) << failure;
  EXPECT_EQ(log->reserve(64), ReserveResult::failed);
  log->close();
  EXPECT_EQ(failed_reports.load(std::memory_order_relaxed), 1);
  faulty.disarm_all();
  ExpectRecords(RecoverAll(fs()), 1, i - 1);
}

// ---------------------------------------------------------------- reservations

// Records with bodies of chosen sizes, ready to append; `log` collects every
// body in LSN order as the batches are appended.
struct Batch {
  std::vector<std::string> bodies;
  std::vector<Log::Record> records;
  std::uint64_t framed = 0;

  // Record k of batch `id` has a body of about sizes[k] bytes.
  Batch(const std::string& id, const std::vector<std::size_t>& sizes) {
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      std::string body = id;
      body += '.';
      body += std::to_string(k);
      body += ':';
      body.append(sizes[k], static_cast<char>('a' + k % 26));
      bodies.push_back(std::move(body));
    }
    for (const std::string& b : bodies) records.push_back({RecordType::enqueue, b});
    framed = Log::framed_bytes(records);
  }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;
};

// Batch i of a mix: 1..4 records of 0..300 bytes, and every 7th batch one
// record of 9 KiB, so that rolls may waste much of a 64 KiB segment's end.
std::unique_ptr<Batch> MixedBatch(const std::string& prefix, std::uint64_t i) {
  std::vector<std::size_t> sizes;
  if (i % 7 == 3) {
    sizes.push_back(9 * 1024 + i % 13);
  } else {
    for (std::uint64_t k = 0; k <= i % 4; ++k) sizes.push_back((i * 37 + k * 101) % 300);
  }
  return std::make_unique<Batch>(prefix + std::to_string(i), sizes);
}

void ExpectBodies(const testing::Recovered& r, const std::vector<std::string>& bodies) {
  ASSERT_EQ(r.status, RecoveryStatus::ok) << r.error;
  ASSERT_EQ(r.records.size(), bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(r.records[i].lsn, i + 1);
    ASSERT_EQ(r.records[i].body, bodies[i]) << "lsn " << i + 1;
  }
}

// framed_bytes() is what an append alone in its group adds to stats().bytes.
TEST_P(WalLog, FramedBytesIsWhatAnAppendTakes) {
  auto log = OpenLog(fs(), {});
  EXPECT_EQ(Log::framed_bytes({}), 0u);
  const std::vector<std::vector<std::size_t>> shapes = {
      {0}, {1}, {7}, {8}, {100, 3}, {0, 0, 0, 0}, {5000, 17, 250}, {20 * 1024}};
  std::uint64_t last = 0;
  for (std::size_t s = 0; s < shapes.size(); ++s) {
    Batch b("shape" + std::to_string(s), shapes[s]);
    const std::uint64_t before = log->stats().bytes;
    ASSERT_EQ(log->append(b.records, &last), AppendResult::ok);
    ASSERT_TRUE(log->wait_durable(last));
    EXPECT_EQ(log->stats().bytes - before, b.framed) << "shape " << s;
  }
  // head + tail count as one body.
  const std::string head(13, 'h'), tail(30, 't');
  const Log::Record split{RecordType::ack, head, tail};
  const std::uint64_t before = log->stats().bytes;
  ASSERT_EQ(log->append({&split, 1}, &last), AppendResult::ok);
  ASSERT_TRUE(log->wait_durable(last));
  EXPECT_EQ(log->stats().bytes - before, Log::framed_bytes({&split, 1}));
  EXPECT_EQ(Log::framed_bytes({&split, 1}),
            group_header_bytes + record_span_bytes(head.size() + tail.size()));
}

// While the disk has room, reservations succeed (the preparer makes the
// spares they need) and the appends that consume them all go in.
TEST_P(WalLog, ReservationsSucceedWhileThereIsRoom) {
  auto log = OpenLog(fs(), {});
  constexpr std::uint64_t kBatches = 300;  // ~4 segments of 64 KiB
  std::vector<std::unique_ptr<Batch>> batches;
  std::uint64_t claimed = 0;
  for (std::uint64_t i = 0; i < kBatches; ++i) {
    batches.push_back(MixedBatch("r", i));
    ASSERT_EQ(log->reserve(batches.back()->framed), ReserveResult::ok) << "batch " << i;
    claimed += batches.back()->framed;
    ASSERT_EQ(log->stats().reserved_bytes, claimed);
  }
  EXPECT_GT(claimed, 3 * testing::kSmallSegment);
  EXPECT_EQ(log->stats().no_space, 0u);
  std::vector<std::string> bodies;
  std::uint64_t last = 0;
  for (const auto& b : batches) {
    ASSERT_EQ(log->append(b->records, &last, b->framed), AppendResult::ok);
    bodies.insert(bodies.end(), b->bodies.begin(), b->bodies.end());
    claimed -= b->framed;
    EXPECT_EQ(log->stats().reserved_bytes, claimed);
  }
  ASSERT_TRUE(log->wait_durable(last));
  EXPECT_EQ(log->stats().reserved_bytes, 0u);
  EXPECT_GE(log->segments().size(), 4u);
  log->close();
  EXPECT_EQ(log->reserve(64), ReserveResult::closed);
  ExpectBodies(RecoverAll(fs()), bodies);
}

// THE GUARANTEE (log_writer.h): the disk can hold two segments and no more.
// Reservations are granted until the room runs out, then refused with
// no_space (the log is not failed). Every reserved append then succeeds and
// becomes durable, in whatever order the claims are consumed and across the
// roll into the last spare, with large records making the roll waste much.
TEST_P(WalLog, ReservedAppendsAllSucceedWhenNoSegmentCanBeMade) {
  FaultyFs faulty(fs());
  LogOptions options;
  options.spare_segments = 2;
  // One spare made at open, one by the preparer; every later one: ENOSPC.
  faulty.arm(Fault::enospc_create, 2, "free-", /*sticky=*/true);
  auto log = OpenLog(faulty, {}, options);
  std::vector<std::unique_ptr<Batch>> batches;
  std::uint64_t claimed = 0;
  ReserveResult result = ReserveResult::ok;
  for (std::uint64_t i = 0; i < 10'000; ++i) {
    auto b = MixedBatch("g", i);
    result = log->reserve(b->framed);
    if (result != ReserveResult::ok) break;
    claimed += b->framed;
    batches.push_back(std::move(b));
  }
  ASSERT_EQ(result, ReserveResult::no_space);
  EXPECT_FALSE(log->failed()) << log->failure();
  EXPECT_EQ(log->stats().reserved_bytes, claimed);
  EXPECT_EQ(log->stats().no_space, 1u);
  EXPECT_GT(claimed, testing::kSmallSegment);  // the claims span a roll
  // Consumed in a shuffled order: the layout differs from the claims' order.
  std::mt19937_64 rng(42);
  std::shuffle(batches.begin(), batches.end(), rng);
  std::vector<std::string> bodies;
  std::uint64_t last = 0;
  for (const auto& b : batches) {
    ASSERT_EQ(log->append(b->records, &last, b->framed), AppendResult::ok);
    bodies.insert(bodies.end(), b->bodies.begin(), b->bodies.end());
  }
  ASSERT_TRUE(log->wait_durable(last));
  EXPECT_EQ(log->stats().reserved_bytes, 0u);
  EXPECT_EQ(log->segments().size(), 2u);
  // What is left unclaimed takes unreserved appends until it, too, runs out.
  AppendResult appended = AppendResult::ok;
  for (std::uint64_t i = 0; i < 10'000 && appended == AppendResult::ok; ++i) {
    const auto b = MixedBatch("u", i);
    appended = log->append(b->records, &last);
    if (appended == AppendResult::ok) {
      bodies.insert(bodies.end(), b->bodies.begin(), b->bodies.end());
    }
  }
  EXPECT_EQ(appended, AppendResult::no_space);
  ASSERT_TRUE(log->wait_durable(last));
  EXPECT_FALSE(log->failed()) << log->failure();
  log->close();
  faulty.disarm_all();

  // The log recovers after the episode and goes on where it stopped.
  auto r = RecoverAll(fs());
  ExpectBodies(r, bodies);
  auto again = OpenLog(fs(), r.tail);
  const auto more = MixedBatch("m", 1);
  ASSERT_EQ(again->reserve(more->framed), ReserveResult::ok);
  ASSERT_EQ(again->append(more->records, &last, more->framed), AppendResult::ok);
  ASSERT_TRUE(again->wait_durable(last));
  bodies.insert(bodies.end(), more->bodies.begin(), more->bodies.end());
  again->close();
  ExpectBodies(RecoverAll(fs()), bodies);
}

// Claims hold room against unreserved appends, which get no_space without
// failing the log; unreserve() gives the room back.
TEST_P(WalLog, ClaimsHoldRoomAndUnreserveGivesItBack) {
  FaultyFs faulty(fs());
  LogOptions options;
  options.spare_segments = 1;
  faulty.arm(Fault::enospc_create, 1, "free-", /*sticky=*/true);  // the spare at open only
  auto log = OpenLog(faulty, {}, options);
  AppendDurable(*log, 1, 20);  // rolled into the one spare; no further spare can be made
  std::vector<std::string> bodies;
  for (std::uint64_t i = 1; i <= 20; ++i) bodies.push_back(BodyFor(i));
  // Claim the rest of the segment, 300-byte batches at a time.
  const Batch unit("unit", {300});
  std::uint64_t claims = 0;
  while (log->reserve(unit.framed) == ReserveResult::ok) ++claims;
  ASSERT_GT(claims, 100u);
  EXPECT_EQ(log->stats().reserved_bytes, claims * unit.framed);
  EXPECT_FALSE(log->failed());
  // The same bytes unreserved: refused, the log goes on.
  const Batch other("other", {300});
  std::uint64_t last = 0;
  EXPECT_EQ(log->append(other.records, &last), AppendResult::no_space);
  EXPECT_FALSE(log->failed()) << log->failure();
  const std::uint64_t refusals = log->stats().no_space;
  EXPECT_EQ(refusals, 2u);  // the last reserve and this append
  // One claim given back: now it fits.
  log->unreserve(unit.framed);
  --claims;
  EXPECT_EQ(log->stats().reserved_bytes, claims * unit.framed);
  ASSERT_EQ(log->append(other.records, &last), AppendResult::ok);
  bodies.push_back(other.bodies[0]);
  // Every remaining claim is still honoured, consumed by appends of one
  // claim each (the same shape as reserved).
  for (std::uint64_t c = 0; c < claims; ++c) {
    const Batch b("claim" + std::to_string(c), {300});
    ASSERT_EQ(b.framed, unit.framed);
    ASSERT_EQ(log->append(b.records, &last, b.framed), AppendResult::ok) << "claim " << c;
    bodies.push_back(b.bodies[0]);
  }
  ASSERT_TRUE(log->wait_durable(last));
  EXPECT_EQ(log->stats().reserved_bytes, 0u);
  EXPECT_EQ(log->stats().no_space, refusals);
  EXPECT_FALSE(log->failed());
  log->close();
  faulty.disarm_all();
  ExpectBodies(RecoverAll(fs()), bodies);
}

// Many threads reserve and then append what they reserved, while the disk
// fills up: each reservation granted is honoured (its append succeeds and is
// durable), the refused ones are no_space, nothing is lost or duplicated.
TEST_P(WalLog, ConcurrentReservationsAreAllHonouredOnAFullDisk) {
  FaultyFs faulty(fs());
  LogOptions options;
  options.spare_segments = 1;
  faulty.arm(Fault::enospc_create, 3, "free-", /*sticky=*/true);  // three segments in all
  auto log = OpenLog(faulty, {}, options);
  constexpr int kThreads = 4;
  constexpr int kClaimsAtOnce = 3;
  std::vector<std::map<std::uint64_t, std::string>> written(kThreads);  // lsn -> body
  std::vector<int> refused(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t round = 0; round < 10'000; ++round) {
        // Reserve a few batches, then append them in reverse order.
        std::vector<std::unique_ptr<Batch>> mine;
        for (int c = 0; c < kClaimsAtOnce; ++c) {
          std::string id = "t";  // (+= rather than +: g++ 12's false -Wrestrict)
          id += std::to_string(t);
          id += '-';
          id += std::to_string(round);
          id += '-';
          auto b = MixedBatch(id, static_cast<std::uint64_t>(c + t) + round);
          const ReserveResult rr = log->reserve(b->framed);
          if (rr != ReserveResult::ok) {
            EXPECT_EQ(rr, ReserveResult::no_space);
            ++refused[t];
            break;
          }
          mine.push_back(std::move(b));
        }
        for (auto it = mine.rbegin(); it != mine.rend(); ++it) {
          std::uint64_t last = 0;
          ASSERT_EQ(log->append((*it)->records, &last, (*it)->framed), AppendResult::ok);
          ASSERT_TRUE(log->wait_durable(last));
          for (std::size_t k = 0; k < (*it)->bodies.size(); ++k) {
            written[t][last + 1 - (*it)->bodies.size() + k] = (*it)->bodies[k];
          }
        }
        if (refused[t] != 0) return;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(log->failed()) << log->failure();
  EXPECT_EQ(log->stats().reserved_bytes, 0u);
  EXPECT_EQ(log->stats().no_space, static_cast<std::uint64_t>(kThreads));
  log->close();
  faulty.disarm_all();
  std::map<std::uint64_t, std::string> all;
  for (const auto& w : written) all.insert(w.begin(), w.end());
  std::vector<std::string> bodies;
  for (const auto& [lsn, body] : all) {
    ASSERT_EQ(lsn, bodies.size() + 1) << "a gap in the acknowledged LSNs";
    bodies.push_back(body);
  }
  EXPECT_GT(bodies.size(), 100u);
  ExpectBodies(RecoverAll(fs()), bodies);
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
