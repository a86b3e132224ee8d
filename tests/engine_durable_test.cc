// A durable engine: every state logged so far survives a close and reopen
// (and a power cut, for what was acknowledged), leases keep their tokens,
// failures of the log are named and final. On the in-memory layer (with a
// manual clock as the wall clock, so times are exact) and on the real
// directory through both back-ends.
#include <gtest/gtest.h>

#include <hotq/engine.h>

#include <filesystem>

#include "engine/engine_impl.h"
#include "tests/wal_test_fs.h"
#include "wal/faulty_fs.h"
#include "wal/mem_fs.h"

namespace hotq {
namespace {

// Lends an Fs that outlives the engines opened on it (a restart).
class BorrowedFs final : public wal::Fs {
 public:
  explicit BorrowedFs(wal::Fs& fs) : fs_(fs) {}
  int open(std::string_view n, wal::OpenMode m, std::unique_ptr<wal::File>* out) override {
    return fs_.open(n, m, out);
  }
  int list(std::vector<std::string>* names) override { return fs_.list(names); }
  int rename(std::string_view a, std::string_view b) override { return fs_.rename(a, b); }
  int remove(std::string_view n) override { return fs_.remove(n); }
  int sync_dir() override { return fs_.sync_dir(); }
  const std::string& path() const override { return fs_.path(); }

 private:
  wal::Fs& fs_;
};

class DurableEngine : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> Open(wal::Fs& fs) {
    EngineOptions o;
    o.clock = &clock_;
    o.wall_clock = &clock_;
    o.shards = 1;  // one ring per level: the order of ready jobs is exact
    o.wal_segment_bytes = 64 << 10;
    std::unique_ptr<Engine> e;
    Status st = EngineOpener::open(o, std::make_unique<BorrowedFs>(fs), "mem", &e);
    EXPECT_TRUE(st.ok()) << st.message();
    return e;
  }
  QueueId MakeQueue(Engine& e) {
    QueueOptions qo;
    qo.attempts_max = 3;
    qo.lease_ms_default = 30'000;
    return e.create_queue("jobs", qo).value();
  }
  ManualClock clock_{5'000'000'000};
  wal::MemFs fs_;
};

TEST_F(DurableEngine, EveryStateSurvivesReopen) {
  JobId ready = 0, delayed = 0, leased = 0, dead = 0, urgent = 0;
  Lease lease;
  {
    auto e = Open(fs_);
    QueueId q = MakeQueue(*e);
    leased = e->enqueue(q, {.payload = "leased"}).value();
    lease = e->reserve(q).value().lease();
    dead = e->enqueue(q, {.payload = "dead"}).value();
    ASSERT_EQ(e->fail(q, e->reserve(q).value().lease(), "boom"), Code::ok);
    ready = e->enqueue(q, {.payload = "ready", .priority = 1}).value();
    urgent = e->enqueue(q, {.payload = "urgent", .priority = 0}).value();
    delayed = e->enqueue(q, {.payload = "later", .delay_ms = 10'000}).value();
    // A finished job leaves nothing behind.
    ASSERT_TRUE(e->enqueue(q, {.payload = "done"}).ok());
  }
  // "done" is ready too: complete it after reopen to see it was kept.
  auto e = Open(fs_);
  EXPECT_NE(e->open_report().find("replayed"), std::string::npos) << e->open_report();
  QueueId q = e->find_queue("jobs").value();
  QueueCounts c = e->counts(q).value();
  EXPECT_EQ(c.ready, 3u);
  EXPECT_EQ(c.delayed, 1u);
  EXPECT_EQ(c.leased, 1u);
  EXPECT_EQ(c.dead, 1u);
  EXPECT_EQ(e->inspect(q, delayed).value().state, JobState::delayed);
  EXPECT_EQ(e->inspect(q, leased).value().state, JobState::leased);
  EXPECT_EQ(e->inspect(q, dead).value().state, JobState::dead);
  // The worker holding the lease from before the restart acks with its token.
  EXPECT_EQ(e->ack(q, lease), Code::ok);
  EXPECT_EQ(e->ack(q, lease), Code::stale_lease);
  // Ready jobs come back in priority order, then in the order they were made.
  EXPECT_EQ(e->reserve(q).value().id, urgent);
  ReservedJob next = e->reserve(q).value();
  EXPECT_EQ(next.payload.view(), "done");
  EXPECT_EQ(e->reserve(q).value().id, ready);
  // The dead letter keeps its reason and error.
  auto dl = e->list_dead(q).value();
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].id, dead);
  EXPECT_EQ(dl[0].error, "boom");
  EXPECT_EQ(dl[0].payload.view(), "dead");
  // The delay still runs from its original time.
  EXPECT_EQ(e->reserve(q).code(), Code::empty);
  clock_.advance_ms(10'001);
  ReservedJob later = e->reserve(q).value();
  EXPECT_EQ(later.id, delayed);
  EXPECT_EQ(later.payload.view(), "later");
}

TEST_F(DurableEngine, LeaseThatRanOutWhileDownIsRedeliveredWithItsAttempts) {
  JobId id = 0;
  {
    auto e = Open(fs_);
    QueueId q = MakeQueue(*e);
    id = e->enqueue(q, {.payload = "p"}).value();
    ASSERT_EQ(e->reserve(q, 1'000).value().attempt, 1u);
  }
  clock_.advance_ms(2'000);
  auto e = Open(fs_);
  QueueId q = e->find_queue("jobs").value();
  ReservedJob again = e->reserve(q).value();
  EXPECT_EQ(again.id, id);
  EXPECT_EQ(again.attempt, 2u) << "attempt counts survive the restart";
}

TEST_F(DurableEngine, NackRetryAndDeadLetterSurvive) {
  JobId id = 0;
  {
    auto e = Open(fs_);
    QueueId q = MakeQueue(*e);
    id = e->enqueue(q, {.payload = "p"}).value();
    ASSERT_EQ(e->nack(q, e->reserve(q).value().lease(), 0, "try 1"), Code::ok);
    ASSERT_EQ(e->nack(q, e->reserve(q).value().lease(), 5'000, "try 2"), Code::ok);
  }
  {
    auto e = Open(fs_);
    QueueId q = e->find_queue("jobs").value();
    EXPECT_EQ(e->inspect(q, id).value().state, JobState::delayed);
    clock_.advance_ms(5'001);
    ReservedJob j = e->reserve(q).value();
    EXPECT_EQ(j.attempt, 3u);
    ASSERT_EQ(e->nack(q, j.lease(), 0, "try 3"), Code::ok);  // the last attempt
  }
  auto e = Open(fs_);
  QueueId q = e->find_queue("jobs").value();
  auto dl = e->list_dead(q).value();
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].reason, DeadReason::attempts_nacked);
  EXPECT_EQ(dl[0].error, "try 3");
}

TEST_F(DurableEngine, DedupKeysSurvive) {
  JobId first = 0;
  {
    auto e = Open(fs_);
    QueueId q = MakeQueue(*e);
    first = e->enqueue(q, {.payload = "p", .dedup_key = "order-17"}).value();
  }
  auto e = Open(fs_);
  QueueId q = e->find_queue("jobs").value();
  Result<JobId> again = e->enqueue(q, {.payload = "p", .dedup_key = "order-17"});
  EXPECT_EQ(again.code(), Code::duplicate);
  EXPECT_EQ(again.value(), first);
}

// Everything an enqueue or ack returned ok for is on disk: a power cut
// right after loses none of it.
TEST_F(DurableEngine, AcknowledgedOperationsSurviveAPowerCut) {
  std::vector<JobId> kept;
  {
    auto e = Open(fs_);
    QueueId q = MakeQueue(*e);
    for (int i = 0; i < 200; ++i) {
      std::string p = "job";
      p += std::to_string(i);
      kept.push_back(e->enqueue(q, {.payload = p}).value());
    }
    for (int i = 0; i < 50; ++i) ASSERT_EQ(e->ack(q, e->reserve(q).value().lease()), Code::ok);
    fs_.power_loss(wal::PowerLoss::lose_unsynced);
  }
  auto e = Open(fs_);
  QueueId q = e->find_queue("jobs").value();
  EXPECT_EQ(e->counts(q).value().ready, 150u);
  EXPECT_EQ(e->reserve(q).value().id, kept[50]);
}

// A failed fdatasync: the operation is not reported done, every later write
// is refused with wal_failed, and the engine stays readable.
TEST_F(DurableEngine, FailedFsyncFailsTheOperationAndEveryLaterWrite) {
  wal::FaultyFs faulty(fs_);
  auto e = Open(faulty);
  QueueId q = MakeQueue(*e);
  JobId kept = e->enqueue(q, {.payload = "before"}).value();
  faulty.arm(wal::Fault::eio_sync, 0, "wal-");
  EXPECT_EQ(e->enqueue(q, {.payload = "lost"}).code(), Code::wal_failed);
  EXPECT_EQ(e->enqueue(q, {.payload = "later"}).code(), Code::wal_failed);
  ReservedJob j = e->reserve(q).value();  // reads and reserves still work
  EXPECT_EQ(e->ack(q, j.lease()), Code::wal_failed);
  EXPECT_TRUE(e->inspect(q, kept).ok());
  EXPECT_EQ(faulty.fired(wal::Fault::eio_sync), 1u) << "never retried";
}

TEST_F(DurableEngine, OperationsNotYetLoggedAreRefusedNotLost) {
  auto e = Open(fs_);
  QueueId q = MakeQueue(*e);
  JobId id = e->enqueue(q, {.payload = "p"}).value();
  EXPECT_EQ(e->cancel(q, id), Code::not_supported);
  EXPECT_EQ(e->pause(q), Code::not_supported);
  EXPECT_EQ(e->purge(q).code(), Code::not_supported);
  EXPECT_EQ(e->bind("t", q), Code::not_supported);
  EXPECT_EQ(e->set_priority(q, id, 1), Code::not_supported);
  EXPECT_EQ(e->drop_queue(q), Code::not_supported);
}

// The real directory, through each back-end: reopen, and the lock.
class DurableEngineOnDisk : public ::testing::TestWithParam<wal::testing::Layer> {};

TEST_P(DurableEngineOnDisk, ReopenKeepsJobsAndLocksTheDirectory) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/hotq-engine-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  EngineOptions o;
  o.shards = 2;
  o.wal_dir = dir + "/wal";
  o.wal_segment_bytes = 64 << 10;
  o.wal_backend = GetParam() == wal::testing::Layer::io_uring ? WalBackend::io_uring
                                                               : WalBackend::pwritev;
  JobId id = 0;
  Lease lease;
  {
    std::unique_ptr<Engine> e;
    Status st = Engine::open(o, &e);
    if (!st.ok() && GetParam() == wal::testing::Layer::io_uring &&
        std::getenv("HOTQ_ALLOW_NO_IO_URING") != nullptr) {
      GTEST_SKIP() << st.message();
    }
    ASSERT_TRUE(st.ok()) << st.message();
    std::unique_ptr<Engine> second;
    EXPECT_EQ(Engine::open(o, &second).code(), Code::locked);
    QueueId q = e->create_queue("q").value();
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(e->enqueue(q, {.payload = std::string(64, 'x')}).ok());
    id = e->enqueue(q, {.payload = "last"}).value();
    lease = e->reserve(q).value().lease();
  }
  std::unique_ptr<Engine> e;
  Status st = Engine::open(o, &e);
  ASSERT_TRUE(st.ok()) << st.message();
  QueueId q = e->find_queue("q").value();
  EXPECT_EQ(e->counts(q).value().ready, 1000u);
  EXPECT_EQ(e->counts(q).value().leased, 1u);
  EXPECT_EQ(e->inspect(q, id).value().state, JobState::ready);
  EXPECT_EQ(e->ack(q, lease), Code::ok);
  e.reset();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableEngineOnDisk,
                         ::testing::Values(wal::testing::Layer::pwritev,
                                           wal::testing::Layer::io_uring),
                         wal::testing::LayerName);

}  // namespace
}  // namespace hotq
