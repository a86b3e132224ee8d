// Unit tests of the queue operations (pause, purge, cancel, inspect,
// re-prioritise, re-delay), the ordering options and the reserve caps
// (leased_max, rate limit). Time runs on a ManualClock except where a test
// needs a real blocking call.
#include <hotq/clock.h>
#include <hotq/engine.h>

#include <gtest/gtest.h>

#include <set>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hotq {
namespace {

class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Engine::open({.clock = &clock_, .shards = 2}, &engine_).ok());
  }
  QueueId Create(QueueOptions o = {}) {
    Result<QueueId> q = engine_->create_queue("ops", o);
    EXPECT_TRUE(q.ok()) << code_name(q.code());
    return q.ok() ? q.value() : 0;
  }
  JobId Put(QueueId q, std::string_view payload, std::uint8_t prio = 0, std::uint64_t delay = 0) {
    Result<JobId> id = engine_->enqueue(q, {.payload = payload, .priority = prio, .delay_ms = delay});
    EXPECT_TRUE(id.ok()) << code_name(id.code());
    return id.ok() ? id.value() : 0;
  }
  QueueCounts Counts(QueueId q) { return engine_->counts(q).value(); }
  // Queues "a" and "b" (with these options), bound to topic in that order.
  std::pair<QueueId, QueueId> BoundPair(std::string_view topic, const QueueOptions& a_options = {},
                                        const QueueOptions& b_options = {}) {
    const QueueId a = engine_->create_queue(std::string(topic) + ".a", a_options).value();
    const QueueId b = engine_->create_queue(std::string(topic) + ".b", b_options).value();
    EXPECT_EQ(engine_->bind(topic, a), Code::ok);
    EXPECT_EQ(engine_->bind(topic, b), Code::ok);
    return {a, b};
  }

  ManualClock clock_;
  std::unique_ptr<Engine> engine_;
};

// ---------------------------------------------------------------- pause

TEST_F(OpsTest, PauseStopsReservesButNotEnqueues) {
  QueueId q = Create();
  Put(q, "a");
  EXPECT_EQ(engine_->pause(q), Code::ok);
  EXPECT_EQ(engine_->pause(q), Code::ok) << "idempotent";
  EXPECT_EQ(engine_->reserve(q).code(), Code::paused);
  ReservedJob out[2];
  EXPECT_EQ(engine_->reserve_batch(q, out).code, Code::paused);
  Put(q, "b");
  EXPECT_EQ(Counts(q).ready, 2u);
  EXPECT_EQ(engine_->resume(q), Code::ok);
  // Both are handed out again (in either order: the two enqueues may have
  // run on different cores, and sharded queues order per shard only).
  std::set<std::string> got;
  for (int i = 0; i < 2; ++i) got.insert(engine_->reserve(q)->payload.str());
  EXPECT_EQ(got, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(engine_->pause(9999), Code::no_such_queue);
}

TEST(OpsBlocking, ResumeWakesABlockedReserve) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 1}, &e).ok());
  QueueId q = e->create_queue("q").value();
  ASSERT_TRUE(e->enqueue(q, {.payload = "x"}).ok());
  ASSERT_EQ(e->pause(q), Code::ok);
  std::thread consumer([&] {
    Result<ReservedJob> j = e->reserve_wait(q, 60'000);
    EXPECT_TRUE(j.ok()) << code_name(j.code());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let it park; not required
  ASSERT_EQ(e->resume(q), Code::ok);
  consumer.join();
}

TEST(OpsBlocking, PausedReserveWaitTimesOut) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 1}, &e).ok());
  QueueId q = e->create_queue("q").value();
  ASSERT_TRUE(e->enqueue(q, {.payload = "x"}).ok());
  ASSERT_EQ(e->pause(q), Code::ok);
  EXPECT_EQ(e->reserve_wait(q, 20).code(), Code::timed_out);
}

// ---------------------------------------------------------------- purge

TEST_F(OpsTest, PurgeRemovesReadyAndDelayedOnly) {
  QueueOptions o;
  o.capacity_jobs_max = 6;
  QueueId q = Create(o);
  Put(q, "r1");
  Put(q, "r2");
  Put(q, "d1", 0, 100);
  Put(q, "leased");
  Put(q, "dead");
  // Take the two we keep: "leased" and "dead" are the 4th and 5th in FIFO
  // order only per shard, so reserve everything ready and put back the rest.
  std::vector<ReservedJob> all;
  for (;;) {
    Result<ReservedJob> j = engine_->reserve(q);
    if (!j.ok()) break;
    all.push_back(std::move(j).value());
  }
  ASSERT_EQ(all.size(), 4u);
  for (auto& j : all) {
    if (j.payload.view() == "dead") {
      ASSERT_EQ(engine_->fail(q, j.lease(), "x"), Code::ok);
    } else if (j.payload.view() != "leased") {
      ASSERT_EQ(engine_->nack(q, j.lease(), 0), Code::ok);
    }
  }
  Put(q, "r3");
  EXPECT_EQ(Counts(q).ready, 3u);
  EXPECT_EQ(engine_->purge(q).value(), 4u);  // r1, r2, r3, d1
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.ready, 0u);
  EXPECT_EQ(c.delayed, 0u);
  EXPECT_EQ(c.leased, 1u);
  EXPECT_EQ(c.dead, 1u);
  EXPECT_EQ(c.purged, 4u);
  clock_.advance_ms(1000);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty) << "the purged delayed job never fires";
  // The capacity came back: 2 held, 4 free.
  for (int i = 0; i < 4; ++i) Put(q, "again");
  EXPECT_EQ(engine_->enqueue(q, {.payload = "over"}).code(), Code::full);
}

// ---------------------------------------------------------------- cancel

TEST_F(OpsTest, CancelledReadyJobIsNeverDelivered) {
  QueueId q = Create();
  JobId a = Put(q, "a");
  Put(q, "b");
  EXPECT_EQ(engine_->cancel(q, a), Code::ok);
  EXPECT_EQ(engine_->cancel(q, a), Code::no_such_job);
  EXPECT_EQ(engine_->inspect(q, a).code(), Code::no_such_job);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.ready, 1u);
  EXPECT_EQ(c.cancelled, 1u);
  EXPECT_EQ(engine_->reserve(q)->payload.view(), "b");
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
}

// Cancelled (and moved) ready jobs leave outdated handles in the rings; a
// reserve passes all of them to the ready job behind, however many: it
// never says empty (or times out) while a job is ready.
TEST_F(OpsTest, AReserveReachesAReadyJobBehindManyCancelledOnes) {
  QueueOptions fifo;
  fifo.ordering = Ordering::fifo;  // one ring per level: the order is known
  QueueId q = Create(fifo);
  std::vector<JobId> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(Put(q, std::to_string(i)));
  for (int i = 0; i < 9; ++i) ASSERT_EQ(engine_->cancel(q, ids[i]), Code::ok);
  EXPECT_EQ(Counts(q).ready, 3u);
  Result<ReservedJob> j = engine_->reserve(q);
  ASSERT_TRUE(j.ok()) << code_name(j.code());
  EXPECT_EQ(j->id, ids[9]);
  // The same behind moved jobs (a move leaves its old place behind), for a
  // blocking reserve and for a batch. Level 0 becomes [10 old, 11 old,
  // 10]; level 1 [10 old, 11 old]; level 2 [11 old, 11].
  ASSERT_EQ(engine_->set_priority(q, ids[11], 2), Code::ok);
  ASSERT_EQ(engine_->set_priority(q, ids[10], 1), Code::ok);
  ASSERT_EQ(engine_->set_priority(q, ids[10], 0), Code::ok);
  j = engine_->reserve_wait(q, 0);
  ASSERT_TRUE(j.ok()) << code_name(j.code());
  EXPECT_EQ(j->id, ids[10]);
  ASSERT_EQ(engine_->set_priority(q, ids[11], 1), Code::ok);
  ASSERT_EQ(engine_->set_priority(q, ids[11], 2), Code::ok);
  ReservedJob out[1];
  BatchResult r = engine_->reserve_batch(q, out);
  ASSERT_EQ(r.count, 1u) << code_name(r.code);
  EXPECT_EQ(out[0].id, ids[11]);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.ready, 0u);
  EXPECT_EQ(c.leased, 3u);
}

TEST_F(OpsTest, CancelledDelayedJobNeverFires) {
  QueueId q = Create();
  JobId d = Put(q, "d", 0, 50);
  EXPECT_EQ(engine_->cancel(q, d), Code::ok);
  EXPECT_EQ(Counts(q).delayed, 0u);
  clock_.advance_ms(100);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
}

TEST_F(OpsTest, CancelRefusesLeasedDeadUnknownAndOtherQueuesJobs) {
  QueueId q = Create();
  QueueId other = engine_->create_queue("other").value();
  JobId a = Put(q, "a");
  ReservedJob j = engine_->reserve(q).value();
  EXPECT_EQ(engine_->cancel(q, a), Code::no_such_job) << "leased";
  ASSERT_EQ(engine_->fail(q, j.lease(), "x"), Code::ok);
  EXPECT_EQ(engine_->cancel(q, a), Code::no_such_job) << "dead";
  EXPECT_EQ(engine_->cancel(q, 0), Code::no_such_job);
  EXPECT_EQ(engine_->cancel(q, 0xffffffffffffffffull), Code::no_such_job);
  JobId b = Put(q, "b");
  EXPECT_EQ(engine_->cancel(other, b), Code::no_such_job) << "wrong queue";
  EXPECT_EQ(engine_->cancel(q, b), Code::ok);
}

TEST_F(OpsTest, ACancelledReadyJobHoldsCapacityUntilPassed) {
  QueueOptions o;
  o.capacity_jobs_max = 1;
  QueueId q = Create(o);
  JobId a = Put(q, "a");
  ASSERT_EQ(engine_->cancel(q, a), Code::ok);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "b"}).code(), Code::full);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty) << "passes the cancelled place";
  EXPECT_TRUE(engine_->enqueue(q, {.payload = "b"}).ok());
  EXPECT_EQ(engine_->reserve(q)->payload.view(), "b");
}

TEST_F(OpsTest, JobIdsStayUniqueWhenSlotsAreReused) {
  QueueId q = Create();
  JobId first = Put(q, "x");
  ASSERT_EQ(engine_->cancel(q, first), Code::ok);
  ASSERT_EQ(engine_->reserve(q).code(), Code::empty);  // pass the cancelled place
  JobId second = Put(q, "y");  // very likely the same slot
  EXPECT_NE(first, second);
  EXPECT_EQ(engine_->inspect(q, first).code(), Code::no_such_job);
  EXPECT_EQ(engine_->inspect(q, second)->payload.view(), "y");
}

// ---------------------------------------------------------------- inspect

TEST_F(OpsTest, InspectShowsEveryState) {
  QueueOptions o;
  o.attempts_max = 3;
  QueueId q = Create(o);
  const std::uint64_t t0 = clock_.now_ns();
  JobId d = Put(q, "d", 0, 40);
  JobInfo info = engine_->inspect(q, d).value();
  EXPECT_EQ(info.state, JobState::delayed);
  EXPECT_EQ(info.state_ns, t0 + 40'000'000);
  EXPECT_EQ(info.enqueued_ns, t0);
  EXPECT_EQ(info.payload.view(), "d");

  clock_.advance_ms(40);
  EXPECT_EQ(Counts(q).ready, 1u);
  info = engine_->inspect(q, d).value();
  EXPECT_EQ(info.state, JobState::ready);
  EXPECT_EQ(info.state_ns, t0 + 40'000'000);
  EXPECT_EQ(info.attempts, 0u);
  EXPECT_EQ(info.attempts_max, 3u);

  ReservedJob j = engine_->reserve(q, 100).value();
  info = engine_->inspect(q, d).value();
  EXPECT_EQ(info.state, JobState::leased);
  EXPECT_EQ(info.state_ns, j.lease_deadline_ns);
  EXPECT_EQ(info.attempts, 1u);

  ASSERT_EQ(engine_->fail(q, j.lease(), "broken input"), Code::ok);
  info = engine_->inspect(q, d).value();
  EXPECT_EQ(info.state, JobState::dead);
  EXPECT_EQ(info.dead_reason, DeadReason::failed);
  EXPECT_EQ(info.error, "broken input");
  EXPECT_EQ(info.state_ns, clock_.now_ns());

  ASSERT_EQ(engine_->purge_dead(q).value(), 1u);
  EXPECT_EQ(engine_->inspect(q, d).code(), Code::no_such_job);
}

// ---------------------------------------------------------------- re-prioritise, re-delay

TEST_F(OpsTest, SetPriorityMovesAReadyJob) {
  QueueOptions o;
  o.priority_levels = 3;
  QueueId q = Create(o);
  Put(q, "first", 1);
  JobId late = Put(q, "urgent-now", 2);
  EXPECT_EQ(engine_->set_priority(q, late, 0), Code::ok);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.ready, 2u);
  EXPECT_EQ(c.ready_by_priority[0], 1u);
  EXPECT_EQ(c.ready_by_priority[2], 0u);
  EXPECT_EQ(engine_->reserve(q)->payload.view(), "urgent-now");
  EXPECT_EQ(engine_->reserve(q)->payload.view(), "first");
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty) << "the old place was passed over";
  EXPECT_EQ(engine_->set_priority(q, late, 3), Code::invalid_argument);
  EXPECT_EQ(engine_->set_priority(q, late, 1), Code::no_such_job) << "leased now";
}

TEST_F(OpsTest, SetPriorityOfADelayedJob) {
  QueueOptions o;
  o.priority_levels = 2;
  QueueId q = Create(o);
  JobId d = Put(q, "d", 1, 10);
  Put(q, "r", 1);
  EXPECT_EQ(engine_->set_priority(q, d, 0), Code::ok);
  clock_.advance_ms(10);
  EXPECT_EQ(engine_->reserve(q)->payload.view(), "d");
}

TEST_F(OpsTest, SetDelayMovesBetweenReadyAndDelayed) {
  QueueId q = Create();
  JobId a = Put(q, "a");
  EXPECT_EQ(engine_->set_delay(q, a, 30), Code::ok);
  EXPECT_EQ(Counts(q).delayed, 1u);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  clock_.advance_ms(29);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  EXPECT_EQ(engine_->set_delay(q, a, 0), Code::ok) << "ready now";
  ReservedJob j = engine_->reserve(q).value();
  EXPECT_EQ(j.id, a);
  EXPECT_EQ(engine_->set_delay(q, a, 5), Code::no_such_job) << "leased";
  EXPECT_EQ(engine_->set_delay(q, a, delay_ms_max + 1), Code::invalid_argument);
}

TEST_F(OpsTest, MovingAReadyJobNeedsAUnitOfCapacity) {
  QueueOptions o;
  o.capacity_jobs_max = 1;
  o.priority_levels = 2;
  QueueId q = Create(o);
  JobId a = Put(q, "a", 1);
  EXPECT_EQ(engine_->set_priority(q, a, 0), Code::full);
  EXPECT_EQ(engine_->inspect(q, a)->priority, 1u) << "a refused move changes nothing";
}

// ---------------------------------------------------------------- ordering

TEST(OpsOrdering, StrictFifoGivesOneTotalOrderAcrossProducers) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 2}, &e).ok());
  QueueOptions o;
  o.ordering = Ordering::fifo;
  o.capacity_jobs_max = 1 << 16;
  QueueId q = e->create_queue("fifo", o).value();
  // The producers take a ticket and enqueue under one mutex, so the order of
  // the enqueue calls is the ticket order; the queue must hand jobs out in it.
  std::mutex mu;
  std::uint64_t ticket = 0;
  constexpr int per_producer = 5000;
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < per_producer; ++i) {
        std::lock_guard<std::mutex> lock(mu);
        std::string payload = std::to_string(ticket++);
        ASSERT_TRUE(e->enqueue(q, {.payload = payload}).ok());
      }
    });
  }
  std::uint64_t expected = 0;
  while (expected < 3 * per_producer) {
    Result<ReservedJob> j = e->reserve(q);
    if (!j.ok()) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ(j->payload.str(), std::to_string(expected));
    ++expected;
    ASSERT_EQ(e->ack(q, j->lease()), Code::ok);
  }
  for (auto& t : producers) t.join();
}

// ---------------------------------------------------------------- caps

TEST_F(OpsTest, LeasedMaxCapsJobsLeasedAtOnce) {
  QueueOptions o;
  o.leased_max = 2;
  QueueId q = Create(o);
  for (int i = 0; i < 5; ++i) Put(q, "x");
  ReservedJob out[5];
  BatchResult r = engine_->reserve_batch(q, out);
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(engine_->reserve(q).code(), Code::leased_full);
  ASSERT_EQ(engine_->ack(q, out[0].lease()), Code::ok);
  ReservedJob third = engine_->reserve(q, 10).value();
  EXPECT_EQ(engine_->reserve(q).code(), Code::leased_full);
  clock_.advance_ms(10);  // the third lease expires: a place frees up
  EXPECT_TRUE(engine_->reserve(q).ok());
  ASSERT_EQ(engine_->nack(q, out[1].lease(), 0), Code::ok);
  EXPECT_TRUE(engine_->reserve(q).ok());
  (void)third;
}

// With both caps, a partial grant of rate tokens gives the rest of the
// leased share back at once (it used to stay taken: leased_max shrank).
TEST_F(OpsTest, LeasedMaxWithARateLimitKeepsItsShareExact) {
  QueueOptions o;
  o.leased_max = 4;
  o.rate_limit = {.tokens_per_interval = 2, .interval_ms = 1000, .burst_tokens = 2};
  QueueId q = Create(o);
  for (int i = 0; i < 8; ++i) Put(q, "x");
  ReservedJob out[4];
  ASSERT_EQ(engine_->reserve_batch(q, out).count, 2u) << "two tokens for four places";
  clock_.advance_ms(1000);  // two more tokens; two of four places are taken
  EXPECT_TRUE(engine_->reserve(q).ok());
  EXPECT_TRUE(engine_->reserve(q).ok());
  clock_.advance_ms(1000);
  EXPECT_EQ(engine_->reserve(q).code(), Code::leased_full) << "four leased: the cap, not less";
  ASSERT_EQ(engine_->ack(q, out[0].lease()), Code::ok);
  EXPECT_TRUE(engine_->reserve(q).ok());
}

TEST_F(OpsTest, RateLimitOnTheVirtualClock) {
  QueueOptions o;
  o.rate_limit = {.tokens_per_interval = 10, .interval_ms = 1000, .burst_tokens = 4};
  QueueId q = Create(o);
  for (int i = 0; i < 20; ++i) Put(q, "x");
  ReservedJob out[8];
  EXPECT_EQ(engine_->reserve_batch(q, out).count, 4u) << "the burst";
  EXPECT_EQ(engine_->reserve(q).code(), Code::rate_limited);
  clock_.advance_ms(99);
  EXPECT_EQ(engine_->reserve(q).code(), Code::rate_limited);
  clock_.advance_ms(1);  // one token per 100 ms
  EXPECT_TRUE(engine_->reserve(q).ok());
  EXPECT_EQ(engine_->reserve(q).code(), Code::rate_limited);
  clock_.advance_ms(1000);
  EXPECT_EQ(engine_->reserve_batch(q, out).count, 4u) << "refilled to the burst, no more";
  EXPECT_GE(Counts(q).rate_limited, 3u);
}

TEST_F(OpsTest, RateLimitTokensAreNotSpentOnAnEmptyQueue) {
  QueueOptions o;
  o.rate_limit = {.tokens_per_interval = 2, .interval_ms = 1000, .burst_tokens = 2};
  QueueId q = Create(o);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  Put(q, "a");
  Put(q, "b");
  EXPECT_TRUE(engine_->reserve(q).ok());
  EXPECT_TRUE(engine_->reserve(q).ok());
}

TEST(OpsBlocking, RateLimitedReserveWaitGetsTheNextToken) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 1}, &e).ok());
  QueueOptions o;
  o.rate_limit = {.tokens_per_interval = 1, .interval_ms = 30, .burst_tokens = 1};
  QueueId q = e->create_queue("q", o).value();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(e->enqueue(q, {.payload = "x"}).ok());
  ASSERT_TRUE(e->reserve(q).ok());
  EXPECT_EQ(e->reserve(q).code(), Code::rate_limited);
  // Sleeps until the next token (no spinning), then gets the second job.
  Result<ReservedJob> j = e->reserve_wait(q, 60'000);
  EXPECT_TRUE(j.ok()) << code_name(j.code());
}

TEST(OpsBlocking, LeasedFullReserveWaitIsWokenByAnAck) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 2}, &e).ok());
  QueueOptions o;
  o.leased_max = 1;
  QueueId q = e->create_queue("q", o).value();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(e->enqueue(q, {.payload = "x"}).ok());
  ReservedJob first = e->reserve(q).value();
  EXPECT_EQ(e->reserve(q).code(), Code::leased_full);
  std::thread waiter([&] {
    Result<ReservedJob> j = e->reserve_wait(q, 60'000);
    EXPECT_TRUE(j.ok()) << code_name(j.code());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let it park; not required
  ASSERT_EQ(e->ack(q, first.lease()), Code::ok);
  waiter.join();
}

TEST_F(OpsTest, BadCapOptionsAreRefused) {
  QueueOptions o;
  o.rate_limit = {.tokens_per_interval = 1, .interval_ms = 0};
  EXPECT_EQ(engine_->create_queue("a", o).code(), Code::invalid_argument);
  o = {};
  o.leased_max = capacity_jobs_limit + 1;
  EXPECT_EQ(engine_->create_queue("b", o).code(), Code::invalid_argument);
  o = {};
  o.ordering = static_cast<Ordering>(7);
  EXPECT_EQ(engine_->create_queue("c", o).code(), Code::invalid_argument);
}

// ---------------------------------------------------------------- topics

TEST_F(OpsTest, PublishFansOutToEveryBoundQueue) {
  QueueId a = engine_->create_queue("a").value();
  QueueId b = engine_->create_queue("b").value();
  EXPECT_EQ(engine_->bind("orders", a), Code::ok);
  EXPECT_EQ(engine_->bind("orders", b), Code::ok);
  EXPECT_EQ(engine_->bind("orders", b), Code::ok) << "idempotent";
  EXPECT_EQ(engine_->bindings("orders"), (std::vector<QueueId>{a, b}));
  Result<std::vector<JobId>> ids = engine_->publish("orders", {.payload = "o-1"});
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 2u);
  ReservedJob ja = engine_->reserve(a).value();
  ReservedJob jb = engine_->reserve(b).value();
  EXPECT_EQ(ja.id, ids.value()[0]);
  EXPECT_EQ(jb.id, ids.value()[1]);
  EXPECT_EQ(ja.payload.view(), "o-1");
  EXPECT_EQ(ja.payload.data(), jb.payload.data()) << "one copy of the payload, shared";
  // Each job lives its own life: acking one leaves the other (and the bytes).
  ASSERT_EQ(engine_->ack(a, ja.lease()), Code::ok);
  ja = ReservedJob{};
  EXPECT_EQ(jb.payload.view(), "o-1");
  ASSERT_EQ(engine_->nack(b, jb.lease(), 0), Code::ok);
  EXPECT_EQ(engine_->reserve(b)->payload.view(), "o-1");
}

TEST_F(OpsTest, PublishIsAllOrNoneWhenOneQueueIsFull) {
  QueueOptions small;
  small.capacity_jobs_max = 1;
  const auto [a, b] = BoundPair("t", {}, small);
  ASSERT_TRUE(engine_->publish("t", {.payload = "1"}).ok());
  EXPECT_EQ(engine_->publish("t", {.payload = "2"}).code(), Code::full);
  EXPECT_EQ(Counts(a).ready, 1u) << "nothing reached a either";
  EXPECT_EQ(Counts(b).ready, 1u);
  EXPECT_EQ(Counts(b).rejected_full, 1u);
  ReservedJob jb = engine_->reserve(b).value();
  ASSERT_EQ(engine_->ack(b, jb.lease()), Code::ok);
  EXPECT_TRUE(engine_->publish("t", {.payload = "3"}).ok());
  EXPECT_EQ(Counts(a).ready, 2u);
}

TEST_F(OpsTest, PublishRefusesWhatOneQueueRefuses) {
  QueueOptions tiny;
  tiny.payload_bytes_max = 2;
  const auto [a, b] = BoundPair("t", {}, tiny);
  EXPECT_EQ(engine_->publish("t", {.payload = "toolong"}).code(), Code::too_large);
  EXPECT_EQ(Counts(a).ready, 0u);
  EXPECT_EQ(engine_->publish("nobody", {.payload = "x"}).code(), Code::no_such_queue);
  EXPECT_TRUE(engine_->publish("t", {.payload = "ok", .delay_ms = 5}).ok());
  EXPECT_EQ(Counts(a).delayed, 1u);
  EXPECT_EQ(Counts(b).delayed, 1u);
}

// A dedup key on a publish is claimed in each bound queue's window (the
// same keys as its enqueues'): a retry makes no second job anywhere, and a
// queue bound since the first publish gets its job.
TEST_F(OpsTest, AKeyedPublishEnqueuesOncePerQueue) {
  QueueOptions o;
  o.dedup_window_ms = 10'000;
  const auto [a, b] = BoundPair("t", o, o);
  Result<std::vector<JobId>> first = engine_->publish("t", {.payload = "m1", .dedup_key = "k"});
  ASSERT_TRUE(first.ok()) << code_name(first.code());
  ASSERT_EQ(first->size(), 2u);
  std::vector<Code> again_codes;
  Result<std::vector<JobId>> again = engine_->publish("t", {.payload = "m1", .dedup_key = "k"}, &again_codes);
  EXPECT_EQ(again.code(), Code::duplicate);
  EXPECT_EQ(again_codes, (std::vector<Code>{Code::duplicate, Code::duplicate}));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again.value(), first.value()) << "each queue answers with the job holding the key";
  EXPECT_EQ(Counts(a).ready, 1u);
  EXPECT_EQ(Counts(b).ready, 1u);
  EXPECT_EQ(Counts(a).dedup_hits, 1u);
  // The queues' own enqueues share the keys.
  Result<JobId> direct = engine_->enqueue(a, {.payload = "m1", .dedup_key = "k"});
  EXPECT_EQ(direct.code(), Code::duplicate);
  EXPECT_EQ(direct.value(), first.value()[0]);
  // A queue bound later gets the message; the others answer duplicate.
  QueueId c = engine_->create_queue("c", o).value();
  ASSERT_EQ(engine_->bind("t", c), Code::ok);
  std::vector<Code> codes{Code::internal};
  Result<std::vector<JobId>> third = engine_->publish("t", {.payload = "m1", .dedup_key = "k"}, &codes);
  ASSERT_TRUE(third.ok()) << "a new job somewhere: ok";
  ASSERT_EQ(third->size(), 3u);
  EXPECT_EQ(codes, (std::vector<Code>{Code::duplicate, Code::duplicate, Code::ok})) << "which queues got a job";
  EXPECT_EQ(third.value()[0], first.value()[0]);
  EXPECT_EQ(third.value()[1], first.value()[1]);
  EXPECT_EQ(engine_->reserve(c)->id, third.value()[2]);
  EXPECT_EQ(Counts(a).ready, 1u);
  // Past the window the key is free again, in every queue.
  clock_.advance_ms(10'001);
  Result<std::vector<JobId>> later = engine_->publish("t", {.payload = "m2", .dedup_key = "k"});
  ASSERT_TRUE(later.ok());
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NE(later.value()[i], third.value()[i]) << i;
  EXPECT_EQ(Counts(a).ready, 2u);
}

TEST_F(OpsTest, AKeyedPublishIsRefusedWhereAQueueHasNoDedup) {
  QueueOptions none;
  none.dedup_keys_max = 0;
  const auto [a, b] = BoundPair("t", {}, none);
  EXPECT_EQ(engine_->publish("t", {.payload = "x", .dedup_key = "k"}).code(), Code::invalid_argument);
  EXPECT_EQ(Counts(a).ready, 0u);
  EXPECT_EQ(engine_->enqueue(a, {.payload = "x", .dedup_key = "k"}).code(), Code::ok)
      << "the refused publish claimed nothing";
}

// All or none holds with keys: a full queue refuses the publish, and keys
// claimed in the other queues go back; a full queue that holds the key is
// a duplicate there, not full; a queue out of dedup room refuses it all.
TEST_F(OpsTest, AKeyedPublishIsAllOrNone) {
  QueueOptions one;
  one.capacity_jobs_max = 1;
  QueueOptions few_keys;
  few_keys.dedup_keys_max = 2;
  const auto [a, b] = BoundPair("t", {}, one);
  const std::vector<JobId> k1 = engine_->publish("t", {.payload = "1", .dedup_key = "k1"}).value();
  Result<std::vector<JobId>> dup = engine_->publish("t", {.payload = "1", .dedup_key = "k1"});
  EXPECT_EQ(dup.code(), Code::duplicate) << "b is full, but it holds the key";
  EXPECT_EQ(dup.value(), k1);
  std::vector<Code> refused_codes{Code::ok};
  EXPECT_EQ(engine_->publish("t", {.payload = "2", .dedup_key = "k2"}, &refused_codes).code(), Code::full);
  EXPECT_TRUE(refused_codes.empty()) << "no codes for a refused publish";
  EXPECT_EQ(Counts(a).ready, 1u) << "nothing reached a";
  // k2 was not kept by a's refused part: once b has room it is a new job
  // in both.
  ASSERT_EQ(engine_->ack(b, engine_->reserve(b)->lease()), Code::ok);
  Result<std::vector<JobId>> k2 = engine_->publish("t", {.payload = "2", .dedup_key = "k2"});
  ASSERT_TRUE(k2.ok()) << code_name(k2.code());
  EXPECT_EQ(Counts(a).ready, 2u);
  // dedup_full in one queue: nothing anywhere, the key free in the other.
  const auto [c, d] = BoundPair("u", {}, few_keys);
  ASSERT_TRUE(engine_->enqueue(d, {.payload = "x", .dedup_key = "d1"}).ok());
  ASSERT_TRUE(engine_->enqueue(d, {.payload = "x", .dedup_key = "d2"}).ok());
  EXPECT_EQ(engine_->publish("u", {.payload = "y", .dedup_key = "u1"}).code(), Code::dedup_full);
  EXPECT_EQ(Counts(c).ready, 0u);
  EXPECT_EQ(Counts(d).ready, 2u);
  EXPECT_EQ(engine_->enqueue(c, {.payload = "y", .dedup_key = "u1"}).code(), Code::ok)
      << "c's claim of u1 went back with the refused publish";
}

TEST_F(OpsTest, DroppingAQueueUnbindsIt) {
  const auto [a, b] = BoundPair("t");
  ASSERT_EQ(engine_->drop_queue(a), Code::ok);
  EXPECT_EQ(engine_->bindings("t"), (std::vector<QueueId>{b}));
  EXPECT_TRUE(engine_->publish("t", {.payload = "x"}).ok());
  EXPECT_EQ(engine_->unbind("t", b), Code::ok);
  EXPECT_TRUE(engine_->bindings("t").empty());
  EXPECT_EQ(engine_->bind("t", a), Code::no_such_queue) << "a's id is dead";
  EXPECT_EQ(engine_->bind("bad name", b), Code::invalid_argument);
}

// A queue made again in a dropped queue's slot starts with clean stats:
// counters, gauges and both latency histograms.
TEST_F(OpsTest, RecreatedQueueStartsWithCleanStats) {
  QueueId a = engine_->create_queue("a").value();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(engine_->enqueue(a, {.payload = "x"}).ok());
    Result<ReservedJob> job = engine_->reserve(a);
    ASSERT_TRUE(job.ok());
    ASSERT_EQ(engine_->ack(a, job->lease()), Code::ok);
  }
  ASSERT_TRUE(engine_->enqueue(a, {.payload = "left"}).ok());
  ASSERT_TRUE(engine_->reserve(a).ok());  // leased when dropped
  ASSERT_EQ(engine_->drop_queue(a), Code::ok);
  QueueId again = engine_->create_queue("a").value();
  Result<QueueStats> st = engine_->stats(again);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->counts.completed, 0u);
  EXPECT_EQ(st->counts.enqueued, 0u);
  EXPECT_EQ(st->counts.leased, 0u);
  EXPECT_EQ(st->counts.ready, 0u);
  EXPECT_EQ(st->wait.count, 0u);
  EXPECT_EQ(st->run.count, 0u);
}

TEST_F(OpsTest, TopicLimitsAreEnforced) {
  QueueOptions tiny;
  tiny.capacity_jobs_max = 2;
  tiny.priority_levels = 1;
  std::vector<QueueId> qs;
  for (std::uint32_t i = 0; i <= topic_queues_max; ++i) {
    std::string name = "q";
    name += std::to_string(i);
    qs.push_back(engine_->create_queue(name, tiny).value());
  }
  for (std::uint32_t i = 0; i < topic_queues_max; ++i) ASSERT_EQ(engine_->bind("t", qs[i]), Code::ok);
  EXPECT_EQ(engine_->bind("t", qs.back()), Code::limit_exceeded);
  for (std::uint32_t i = 1; i < topics_max; ++i) {
    std::string name = "t";
    name += std::to_string(i);
    ASSERT_EQ(engine_->bind(name, qs[0]), Code::ok) << i;
  }
  EXPECT_EQ(engine_->bind("one-too-many", qs[0]), Code::limit_exceeded);
}

// ---------------------------------------------------------------- stats

TEST_F(OpsTest, StatsMatchWhatTheTestDid) {
  QueueOptions o;
  o.priority_levels = 2;
  QueueId q = Create(o);
  // Three jobs wait 10, 20 and 30 ms before their first reserve; c runs
  // 5 ms, b 80 ms and a 550 ms before its ack.
  const std::uint64_t ms = 1'000'000;
  Put(q, "a");
  clock_.advance_ms(10);
  ReservedJob a = engine_->reserve(q).value();
  Put(q, "b", 1);
  clock_.advance_ms(20);
  ReservedJob b = engine_->reserve(q).value();
  Put(q, "c");
  clock_.advance_ms(30);
  ReservedJob c = engine_->reserve(q).value();
  clock_.advance_ms(5);
  ASSERT_EQ(engine_->ack(q, c.lease()), Code::ok);  // reserved at 60, acked at 65
  clock_.advance_ms(45);
  ASSERT_EQ(engine_->ack(q, b.lease()), Code::ok);  // reserved at 30, acked at 110
  clock_.advance_ms(450);
  ASSERT_EQ(engine_->ack(q, a.lease()), Code::ok);  // reserved at 10, acked at 560
  Put(q, "waiting", 1);
  clock_.advance_ms(7);
  QueueStats st = engine_->stats(q).value();
  EXPECT_EQ(st.counts.completed, 3u);
  EXPECT_EQ(st.counts.ready_by_priority[1], 1u);
  EXPECT_EQ(st.oldest_ready_age_ns, 7 * ms);
  EXPECT_EQ(st.wait.count, 3u);
  EXPECT_EQ(st.wait.max_ns, 30 * ms);
  // Percentiles are bucket upper bounds within 1/16 above the true value.
  EXPECT_GE(st.wait.p50_ns, 20 * ms);
  EXPECT_LE(st.wait.p50_ns, 20 * ms + 20 * ms / 16);
  EXPECT_EQ(st.run.count, 3u);
  EXPECT_EQ(st.run.max_ns, 550 * ms);
  EXPECT_GE(st.run.p50_ns, 80 * ms);
  EXPECT_LE(st.run.p50_ns, 80 * ms + 80 * ms / 16);
  EXPECT_EQ(st.run.p999_ns, st.run.max_ns);
  // Engine-wide stats include this queue.
  QueueStats all = engine_->engine_stats();
  EXPECT_EQ(all.counts.completed, 3u);
  EXPECT_EQ(all.wait.count, 3u);
  EXPECT_EQ(all.oldest_ready_age_ns, 7 * ms);
}

TEST_F(OpsTest, ALeaseWithoutReserveTimeSettlesButIsNotMeasured) {
  QueueId q = Create();
  Put(q, "a");
  ReservedJob j = engine_->reserve(q).value();
  EXPECT_EQ(engine_->ack(q, Lease{j.id, j.token}), Code::ok);
  EXPECT_EQ(engine_->stats(q)->run.count, 0u);
}

TEST_F(OpsTest, OldestReadyAgeSkipsACancelledHead) {
  QueueId q = Create();
  JobId a = Put(q, "a");
  clock_.advance_ms(10);
  Put(q, "b");
  clock_.advance_ms(5);
  EXPECT_EQ(engine_->stats(q)->oldest_ready_age_ns, 15'000'000u);
  ASSERT_EQ(engine_->cancel(q, a), Code::ok);
  EXPECT_EQ(engine_->stats(q)->oldest_ready_age_ns, 0u)
      << "the cancelled head is skipped (b behind it is not looked at)";
  EXPECT_EQ(engine_->reserve(q)->payload.view(), "b");
  EXPECT_EQ(engine_->stats(q)->oldest_ready_age_ns, 0u);
}

// ---------------------------------------------------------------- dedup

TEST_F(OpsTest, DuplicateInsideTheWindowReturnsTheFirstId) {
  QueueOptions o;
  o.dedup_window_ms = 1000;
  QueueId q = Create(o);
  Result<JobId> first = engine_->enqueue(q, {.payload = "a", .dedup_key = "order-17"});
  ASSERT_TRUE(first.ok());
  Result<JobId> again = engine_->enqueue(q, {.payload = "b", .dedup_key = "order-17"});
  EXPECT_EQ(again.code(), Code::duplicate);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again.value(), first.value());
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.ready, 1u) << "the duplicate enqueued nothing";
  EXPECT_EQ(c.enqueued, 1u);
  EXPECT_EQ(c.dedup_hits, 1u);
  // Also after the first job completed (SQS FIFO semantics).
  ReservedJob j = engine_->reserve(q).value();
  ASSERT_EQ(engine_->ack(q, j.lease()), Code::ok);
  clock_.advance_ms(999);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "c", .dedup_key = "order-17"}).code(),
            Code::duplicate);
  // At the end of the window the key is new again.
  clock_.advance_ms(1);
  Result<JobId> later = engine_->enqueue(q, {.payload = "d", .dedup_key = "order-17"});
  ASSERT_TRUE(later.ok());
  EXPECT_NE(later.value(), first.value());
}

TEST_F(OpsTest, DuplicatesTakeNoCapacity) {
  QueueOptions o;
  o.capacity_jobs_max = 1;
  QueueId q = Create(o);
  ASSERT_TRUE(engine_->enqueue(q, {.payload = "a", .dedup_key = "k"}).ok());
  EXPECT_EQ(engine_->enqueue(q, {.payload = "a", .dedup_key = "k"}).code(), Code::duplicate);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "b", .dedup_key = "other"}).code(), Code::full);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "a", .dedup_key = "k"}).code(), Code::duplicate)
      << "a duplicate of a held job is answered even when the queue is full";
}

TEST_F(OpsTest, DedupCapIsANamedRefusalNotSilentLoss) {
  QueueOptions o;
  o.dedup_window_ms = 100;
  o.dedup_keys_max = 2;
  QueueId q = Create(o);
  ASSERT_TRUE(engine_->enqueue(q, {.payload = "1", .dedup_key = "k1"}).ok());
  ASSERT_TRUE(engine_->enqueue(q, {.payload = "2", .dedup_key = "k2"}).ok());
  EXPECT_EQ(engine_->enqueue(q, {.payload = "3", .dedup_key = "k3"}).code(), Code::dedup_full);
  EXPECT_EQ(Counts(q).ready, 2u) << "refused, nothing enqueued";
  EXPECT_EQ(engine_->enqueue(q, {.payload = "1", .dedup_key = "k1"}).code(), Code::duplicate)
      << "known keys still deduplicate at the cap";
  EXPECT_TRUE(engine_->enqueue(q, {.payload = "x"}).ok()) << "jobs without a key are unaffected";
  clock_.advance_ms(100);  // k1 and k2 expire: room again
  EXPECT_TRUE(engine_->enqueue(q, {.payload = "3", .dedup_key = "k3"}).ok());
}

TEST_F(OpsTest, DedupInsideOneBatch) {
  QueueId q = Create();
  std::vector<EnqueueRequest> reqs = {{.payload = "a", .dedup_key = "k1"},
                                      {.payload = "b", .dedup_key = "k2"},
                                      {.payload = "c", .dedup_key = "k1"},
                                      {.payload = "d"}};
  std::vector<JobId> ids(4);
  std::vector<Code> codes(4);
  BatchResult r = engine_->enqueue_batch(q, reqs, ids, codes);
  EXPECT_EQ(r.code, Code::ok);
  EXPECT_EQ(r.count, 4u);
  EXPECT_EQ(codes[0], Code::ok);
  EXPECT_EQ(codes[1], Code::ok);
  EXPECT_EQ(codes[2], Code::duplicate);
  EXPECT_EQ(codes[3], Code::ok);
  EXPECT_EQ(ids[2], ids[0]);
  EXPECT_EQ(Counts(q).ready, 3u);
}

TEST_F(OpsTest, DedupFullStopsABatchWithAPrefix) {
  QueueOptions o;
  o.dedup_keys_max = 1;
  QueueId q = Create(o);
  std::vector<EnqueueRequest> reqs = {{.payload = "a", .dedup_key = "k1"},
                                      {.payload = "b"},
                                      {.payload = "c", .dedup_key = "k2"},
                                      {.payload = "d"}};
  std::vector<JobId> ids(4);
  BatchResult r = engine_->enqueue_batch(q, reqs, ids);
  EXPECT_EQ(r.code, Code::dedup_full);
  EXPECT_EQ(r.count, 2u);
  EXPECT_EQ(Counts(q).ready, 2u);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "e"}).code(), Code::ok) << "capacity was given back";
}

TEST_F(OpsTest, BadDedupKeysAndOptionsAreRefused) {
  QueueOptions off;
  off.dedup_keys_max = 0;
  QueueId q = engine_->create_queue("nodedup", off).value();
  EXPECT_EQ(engine_->enqueue(q, {.payload = "a", .dedup_key = "k"}).code(), Code::invalid_argument);
  QueueId d = Create();
  std::string long_key(dedup_key_bytes_max + 1, 'k');
  EXPECT_EQ(engine_->enqueue(d, {.payload = "a", .dedup_key = long_key}).code(),
            Code::invalid_argument);
  long_key.pop_back();
  EXPECT_TRUE(engine_->enqueue(d, {.payload = "a", .dedup_key = long_key}).ok());
  QueueOptions o;
  o.dedup_window_ms = dedup_window_ms_max + 1;
  EXPECT_EQ(engine_->create_queue("w", o).code(), Code::invalid_argument);
  o = {};
  o.dedup_keys_max = dedup_keys_limit + 1;
  EXPECT_EQ(engine_->create_queue("k", o).code(), Code::invalid_argument);
}

}  // namespace
}  // namespace hotq
