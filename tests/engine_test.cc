// Unit tests of the engine's job lifecycle: one test (or more) per operation
// and per named result. Time-dependent rules run on a ManualClock; only the
// blocking calls' real-time timeouts use the system clock.
#include <hotq/clock.h>
#include <hotq/engine.h>

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace hotq {
namespace {

// prefix + number, without operator+ (g++ 12 reports a false -Wrestrict
// for "literal" + std::string at -O3).
std::string Numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

class EngineTest : public ::testing::Test {
 protected:
  void Open(std::uint32_t shards = 1) {
    EngineOptions o;
    o.clock = &clock_;
    o.shards = shards;
    ASSERT_TRUE(Engine::open(o, &engine_).ok());
  }
  QueueId Create(const QueueOptions& o = {}, std::string_view name = "q") {
    Result<QueueId> q = engine_->create_queue(name, o);
    EXPECT_TRUE(q.ok()) << code_name(q.code());
    return q.ok() ? q.value() : 0;
  }
  JobId Put(QueueId q, std::string_view payload, std::uint8_t priority = 0,
            std::uint64_t delay_ms = 0) {
    EnqueueRequest r;
    r.payload = payload;
    r.priority = priority;
    r.delay_ms = delay_ms;
    Result<JobId> id = engine_->enqueue(q, r);
    EXPECT_TRUE(id.ok()) << code_name(id.code());
    return id.ok() ? id.value() : 0;
  }
  ReservedJob Take(QueueId q, std::uint64_t lease_ms = 0) {
    Result<ReservedJob> j = engine_->reserve(q, lease_ms);
    EXPECT_TRUE(j.ok()) << code_name(j.code());
    return j.ok() ? std::move(j).value() : ReservedJob{};
  }
  QueueCounts Counts(QueueId q) {
    Result<QueueCounts> c = engine_->counts(q);
    EXPECT_TRUE(c.ok());
    return c.ok() ? c.value() : QueueCounts{};
  }

  ManualClock clock_;
  std::unique_ptr<Engine> engine_;
};

// ---------------------------------------------------------------- open

TEST(EngineOpen, RefusesBadOptionsWithAMessage) {
  std::unique_ptr<Engine> e;
  Status s = Engine::open({.shards = shards_max + 1}, &e);
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_NE(s.message().find("shards"), std::string_view::npos);
  EXPECT_EQ(e, nullptr);
  s = Engine::open({.timer_tick_ns = 10}, &e);
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_NE(s.message().find("timer_tick_ns"), std::string_view::npos);
  EXPECT_TRUE(Engine::open({.shards = 0}, &e).ok()) << "0 means one per hardware thread";
}

// ---------------------------------------------------------------- queues

TEST_F(EngineTest, CreateFindListDropQueues) {
  Open();
  QueueId a = Create({}, "alpha");
  QueueId b = Create({}, "beta");
  EXPECT_NE(a, b);
  EXPECT_EQ(engine_->create_queue("alpha", {}).code(), Code::already_exists);
  EXPECT_EQ(engine_->find_queue("beta").value(), b);
  EXPECT_EQ(engine_->find_queue("gamma").code(), Code::no_such_queue);
  std::vector<QueueInfo> all = engine_->list_queues();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");
  EXPECT_EQ(all[1].name, "beta");

  Put(a, "job");
  EXPECT_EQ(engine_->drop_queue(a), Code::ok);
  EXPECT_EQ(engine_->drop_queue(a), Code::no_such_queue);
  EXPECT_EQ(engine_->enqueue(a, {.payload = "x"}).code(), Code::no_such_queue);
  EXPECT_EQ(engine_->reserve(a).code(), Code::no_such_queue);
  EXPECT_EQ(engine_->find_queue("alpha").code(), Code::no_such_queue);
  // A new queue of the same name gets a new id; the old id stays dead.
  QueueId a2 = Create({}, "alpha");
  EXPECT_NE(a2, a);
  EXPECT_EQ(engine_->reserve(a).code(), Code::no_such_queue);
  EXPECT_EQ(engine_->reserve(a2).code(), Code::empty) << "the dropped queue's job is gone";
}

TEST_F(EngineTest, CreateQueueRefusesBadNamesAndOptions) {
  Open();
  EXPECT_EQ(engine_->create_queue("", {}).code(), Code::invalid_argument);
  EXPECT_EQ(engine_->create_queue("has space", {}).code(), Code::invalid_argument);
  EXPECT_EQ(engine_->create_queue(std::string(queue_name_bytes_max + 1, 'a'), {}).code(),
            Code::invalid_argument);
  EXPECT_TRUE(engine_->create_queue(std::string(queue_name_bytes_max, 'a'), {}).ok());
  QueueOptions o;
  o.priority_levels = priority_levels_max + 1;
  EXPECT_EQ(engine_->create_queue("p", o).code(), Code::invalid_argument);
  o = {};
  o.capacity_jobs_max = 0;
  EXPECT_EQ(engine_->create_queue("c", o).code(), Code::invalid_argument);
  o = {};
  o.attempts_max = 0;
  EXPECT_EQ(engine_->create_queue("a", o).code(), Code::invalid_argument);
  o = {};
  o.payload_bytes_max = payload_bytes_limit + 1;
  EXPECT_EQ(engine_->create_queue("s", o).code(), Code::invalid_argument);
  o = {};
  o.backoff.jitter_percent = 101;
  EXPECT_EQ(engine_->create_queue("j", o).code(), Code::invalid_argument);
}

TEST_F(EngineTest, QueuesMaxIsEnforced) {
  Open();
  QueueOptions tiny;
  tiny.capacity_jobs_max = 2;
  tiny.priority_levels = 1;
  for (std::uint32_t i = 0; i < queues_max; ++i) {
    ASSERT_TRUE(engine_->create_queue(Numbered("q", static_cast<int>(i)), tiny).ok()) << i;
  }
  EXPECT_EQ(engine_->create_queue("one-more", tiny).code(), Code::limit_exceeded);
  ASSERT_EQ(engine_->drop_queue(engine_->find_queue("q7").value()), Code::ok);
  EXPECT_TRUE(engine_->create_queue("one-more", tiny).ok()) << "a dropped slot is reused";
}

// ---------------------------------------------------------------- lifecycle

TEST_F(EngineTest, EnqueueReserveAck) {
  Open();
  QueueId q = Create();
  JobId id = Put(q, "hello");
  EXPECT_NE(id, 0u);
  ReservedJob job = Take(q);
  EXPECT_EQ(job.id, id);
  EXPECT_EQ(job.payload.view(), "hello");
  EXPECT_EQ(job.attempt, 1u);
  EXPECT_EQ(job.lease_deadline_ns, clock_.now_ns() + 30'000 * 1'000'000ull);
  EXPECT_EQ(Counts(q).leased, 1u);
  EXPECT_EQ(engine_->ack(q, job.lease()), Code::ok);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.enqueued, 1u);
  EXPECT_EQ(c.completed, 1u);
  EXPECT_EQ(c.leased + c.ready + c.delayed + c.dead, 0u);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
}

TEST_F(EngineTest, JobIdsAreUniqueAndNeverReused) {
  Open(2);
  QueueId q = Create();
  std::set<JobId> seen;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 20; ++i) {
      JobId id = Put(q, "x");
      EXPECT_NE(id, 0u);
      EXPECT_TRUE(seen.insert(id).second) << "id reused: " << id;
    }
    for (int i = 0; i < 20; ++i) EXPECT_EQ(engine_->ack(q, Take(q).lease()), Code::ok);
  }
}

TEST_F(EngineTest, EmptyPayloadAndPayloadAtTheLimit) {
  Open();
  QueueOptions o;
  o.payload_bytes_max = 100;
  QueueId q = Create(o);
  Put(q, "");
  std::string max(100, 'm');
  Put(q, max);
  EXPECT_EQ(Take(q).payload.size(), 0u);
  EXPECT_EQ(Take(q).payload.view(), max);
}

TEST_F(EngineTest, TooLargePayloadIsRefusedAndChangesNothing) {
  Open();
  QueueOptions o;
  o.payload_bytes_max = 100;
  QueueId q = Create(o);
  std::string big(101, 'x');
  EXPECT_EQ(engine_->enqueue(q, {.payload = big}).code(), Code::too_large);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.enqueued, 0u);
  EXPECT_EQ(c.ready, 0u);
}

TEST_F(EngineTest, InvalidEnqueueArgumentsAreRefused) {
  Open();
  QueueOptions o;
  o.priority_levels = 2;
  QueueId q = Create(o);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "x", .priority = 2}).code(), Code::invalid_argument);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "x", .delay_ms = delay_ms_max + 1}).code(),
            Code::invalid_argument);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "x", .attempts_max = attempts_limit + 1}).code(),
            Code::invalid_argument);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "x", .lease_ms = lease_ms_max + 1}).code(),
            Code::invalid_argument);
  EXPECT_EQ(Counts(q).enqueued, 0u);
}

TEST_F(EngineTest, UnknownQueueIsNamed) {
  Open();
  EXPECT_EQ(engine_->enqueue(12345, {.payload = "x"}).code(), Code::no_such_queue);
  EXPECT_EQ(engine_->reserve(0).code(), Code::no_such_queue);
  EXPECT_EQ(engine_->ack(999, Lease{1, 1}), Code::no_such_queue);
  EXPECT_EQ(engine_->counts(7).code(), Code::no_such_queue);
  EXPECT_EQ(engine_->list_dead(7).code(), Code::no_such_queue);
}

// ---------------------------------------------------------------- back-pressure

TEST_F(EngineTest, FullQueueRefusesAtOnceAndCountsIt) {
  Open();
  QueueOptions o;
  o.capacity_jobs_max = 2;
  QueueId q = Create(o);
  Put(q, "1");
  Put(q, "2");
  EXPECT_EQ(engine_->enqueue(q, {.payload = "3"}).code(), Code::full);
  EXPECT_EQ(Counts(q).rejected_full, 1u);
  // Leased and dead jobs still count against the capacity.
  ReservedJob a = Take(q);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "3"}).code(), Code::full);
  ASSERT_EQ(engine_->fail(q, a.lease(), "boom"), Code::ok);
  EXPECT_EQ(engine_->enqueue(q, {.payload = "3"}).code(), Code::full);
  ASSERT_EQ(engine_->purge_dead(q).value(), 1u);
  EXPECT_TRUE(engine_->enqueue(q, {.payload = "3"}).ok());
}

TEST(EngineBlocking, EnqueueWaitTimesOutWhenFull) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 1}, &e).ok());
  QueueOptions o;
  o.capacity_jobs_max = 1;
  QueueId q = e->create_queue("q", o).value();
  ASSERT_TRUE(e->enqueue(q, {.payload = "1"}).ok());
  EXPECT_EQ(e->enqueue_wait(q, {.payload = "2"}, 20).code(), Code::timed_out);
}

TEST(EngineBlocking, EnqueueWaitProceedsWhenRoomAppears) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 2}, &e).ok());
  QueueOptions o;
  o.capacity_jobs_max = 1;
  QueueId q = e->create_queue("q", o).value();
  ASSERT_TRUE(e->enqueue(q, {.payload = "1"}).ok());
  std::thread consumer([&] {
    Result<ReservedJob> j = e->reserve_wait(q, 60'000);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(e->ack(q, j->lease()), Code::ok);
  });
  Result<JobId> second = e->enqueue_wait(q, {.payload = "2"}, 60'000);
  consumer.join();
  EXPECT_TRUE(second.ok()) << code_name(second.code());
}

TEST_F(EngineTest, BatchEnqueueStopsAtCapacityWithAPrefix) {
  Open();
  QueueOptions o;
  o.capacity_jobs_max = 3;
  QueueId q = Create(o);
  std::vector<EnqueueRequest> reqs(5, EnqueueRequest{.payload = "p"});
  std::vector<JobId> ids(5, 0);
  BatchResult r = engine_->enqueue_batch(q, reqs, ids);
  EXPECT_EQ(r.code, Code::full);
  EXPECT_EQ(r.count, 3u);
  EXPECT_NE(ids[2], 0u);
  EXPECT_EQ(ids[3], 0u);
  EXPECT_EQ(Counts(q).ready, 3u);
  EXPECT_EQ(Counts(q).rejected_full, 2u);
}

TEST_F(EngineTest, BatchEnqueueWithAnInvalidRequestEnqueuesNothing) {
  Open();
  QueueOptions o;
  o.payload_bytes_max = 4;
  QueueId q = Create(o);
  std::vector<EnqueueRequest> reqs = {{.payload = "ok"}, {.payload = "too long"}, {.payload = "ok"}};
  std::vector<JobId> ids(3, 0);
  BatchResult r = engine_->enqueue_batch(q, reqs, ids);
  EXPECT_EQ(r.code, Code::too_large);
  EXPECT_EQ(r.count, 0u);
  EXPECT_EQ(Counts(q).ready, 0u);
  std::vector<EnqueueRequest> too_many(batch_jobs_max + 1, EnqueueRequest{.payload = "x"});
  std::vector<JobId> many_ids(too_many.size());
  EXPECT_EQ(engine_->enqueue_batch(q, too_many, many_ids).code, Code::invalid_argument);
}

// ---------------------------------------------------------------- reserve

TEST_F(EngineTest, ReserveOnEmptyQueueIsEmpty) {
  Open();
  QueueId q = Create();
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  ReservedJob out[4];
  BatchResult r = engine_->reserve_batch(q, out);
  EXPECT_EQ(r.code, Code::empty);
  EXPECT_EQ(r.count, 0u);
}

TEST(EngineBlocking, ReserveWaitTimesOut) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 1}, &e).ok());
  QueueId q = e->create_queue("q").value();
  EXPECT_EQ(e->reserve_wait(q, 20).code(), Code::timed_out);
}

TEST(EngineBlocking, ReserveWaitIsWokenByAnEnqueue) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 2}, &e).ok());
  QueueId q = e->create_queue("q").value();
  std::atomic<bool> started{false};
  std::thread consumer([&] {
    started = true;
    Result<ReservedJob> j = e->reserve_wait(q, 60'000);
    ASSERT_TRUE(j.ok()) << code_name(j.code());
    EXPECT_EQ(j->payload.view(), "wake");
  });
  while (!started) std::this_thread::yield();
  ASSERT_TRUE(e->enqueue(q, {.payload = "wake"}).ok());
  consumer.join();
}

TEST(EngineBlocking, CloseWakesBlockedCallersWithClosed) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 1}, &e).ok());
  QueueId q = e->create_queue("q").value();
  std::thread consumer([&] { EXPECT_EQ(e->reserve_wait(q, 60'000).code(), Code::closed); });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let it park; not required
  e->close();
  consumer.join();
  EXPECT_EQ(e->enqueue(q, {.payload = "x"}).code(), Code::closed);
  EXPECT_EQ(e->create_queue("other").code(), Code::closed);
}

TEST(EngineBlocking, DropWakesBlockedCallersWithNoSuchQueue) {
  std::unique_ptr<Engine> e;
  ASSERT_TRUE(Engine::open({.shards = 1}, &e).ok());
  QueueId q = e->create_queue("q").value();
  std::thread consumer([&] { EXPECT_EQ(e->reserve_wait(q, 60'000).code(), Code::no_such_queue); });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // let it park; not required
  EXPECT_EQ(e->drop_queue(q), Code::ok);
  consumer.join();
}

TEST_F(EngineTest, StrictPriorityPrecedence) {
  Open(2);
  QueueOptions o;
  o.priority_levels = 3;
  QueueId q = Create(o);
  Put(q, "low", 2);
  Put(q, "mid", 1);
  Put(q, "high", 0);
  Put(q, "low2", 2);
  Put(q, "high2", 0);
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) got.push_back(Take(q).payload.str());
  EXPECT_EQ(got[0].substr(0, 4), "high");
  EXPECT_EQ(got[1].substr(0, 4), "high");
  EXPECT_EQ(got[2], "mid");
  EXPECT_EQ(got[3].substr(0, 3), "low");
  EXPECT_EQ(got[4].substr(0, 3), "low");
}

TEST_F(EngineTest, FifoWithinAPriorityOnOneShard) {
  Open(1);
  QueueId q = Create();
  for (int i = 0; i < 100; ++i) Put(q, std::to_string(i));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Take(q).payload.str(), std::to_string(i));
}

TEST_F(EngineTest, ReserveBatchTakesMostUrgentFirst) {
  Open();
  QueueOptions o;
  o.priority_levels = 2;
  QueueId q = Create(o);
  for (int i = 0; i < 3; ++i) Put(q, "low", 1);
  for (int i = 0; i < 3; ++i) Put(q, "high", 0);
  ReservedJob out[4];
  BatchResult r = engine_->reserve_batch(q, out);
  ASSERT_EQ(r.code, Code::ok);
  ASSERT_EQ(r.count, 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i].payload.view(), "high");
  EXPECT_EQ(out[3].payload.view(), "low");
  std::set<std::uint64_t> tokens;
  for (const auto& j : out) tokens.insert(j.token);
  EXPECT_EQ(tokens.size(), 4u) << "every delivery has its own token";
}

// ---------------------------------------------------------------- delays

TEST_F(EngineTest, DelayedJobIsNeverEarly) {
  Open();
  QueueId q = Create();
  Put(q, "later", 0, 100);
  EXPECT_EQ(Counts(q).delayed, 1u);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  clock_.advance_ns(100 * 1'000'000ull - 1);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty) << "one ns early";
  clock_.advance_ns(1);
  ReservedJob j = Take(q);
  EXPECT_EQ(j.payload.view(), "later");
  EXPECT_EQ(Counts(q).delayed, 0u);
}

TEST_F(EngineTest, DelayedJobsBecomeReadyInDueOrder) {
  Open();
  QueueId q = Create();
  Put(q, "c", 0, 300);
  Put(q, "a", 0, 100);
  Put(q, "b", 0, 200);
  clock_.advance_ms(1000);
  EXPECT_EQ(Take(q).payload.view(), "a");
  EXPECT_EQ(Take(q).payload.view(), "b");
  EXPECT_EQ(Take(q).payload.view(), "c");
}

// ---------------------------------------------------------------- leases

TEST_F(EngineTest, ExpiredLeaseIsRedeliveredAndOldTokenRefused) {
  Open();
  QueueId q = Create();
  Put(q, "work");
  ReservedJob first = Take(q, 1000);
  clock_.advance_ms(999);
  EXPECT_EQ(engine_->run_timers(), 0u);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  clock_.advance_ms(1);
  ReservedJob second = Take(q, 1000);
  EXPECT_EQ(second.id, first.id);
  EXPECT_NE(second.token, first.token);
  EXPECT_EQ(second.attempt, 2u);
  EXPECT_EQ(engine_->ack(q, first.lease()), Code::stale_lease);
  EXPECT_EQ(engine_->nack(q, first.lease()), Code::stale_lease);
  EXPECT_EQ(engine_->fail(q, first.lease(), "x"), Code::stale_lease);
  EXPECT_EQ(engine_->extend(q, first.lease(), 10), Code::stale_lease);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.expired, 1u);
  EXPECT_EQ(c.failed, 0u) << "a dead worker is not a failed job";
  EXPECT_EQ(c.leased, 1u);
  EXPECT_EQ(engine_->ack(q, second.lease()), Code::ok);
  EXPECT_EQ(Counts(q).completed, 1u);
}

TEST_F(EngineTest, ExpiryOnTheLastAttemptDeadLettersAsExpired) {
  Open();
  QueueOptions o;
  o.attempts_max = 2;
  QueueId q = Create(o);
  JobId id = Put(q, "crashes its worker");
  Take(q, 10);
  clock_.advance_ms(10);
  Take(q, 10);
  clock_.advance_ms(10);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.expired, 2u);
  EXPECT_EQ(c.dead, 1u);
  EXPECT_EQ(c.dead_lettered, 1u);
  auto dead = engine_->list_dead(q).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].id, id);
  EXPECT_EQ(dead[0].reason, DeadReason::attempts_expired);
  EXPECT_EQ(dead[0].attempts, 2u);
}

TEST_F(EngineTest, ExpiryThatDoesNotCountKeepsTheAttemptNumber) {
  Open();
  QueueOptions o;
  o.attempts_max = 1;
  o.expiry_counts_as_attempt = false;
  QueueId q = Create(o);
  Put(q, "x");
  for (int i = 0; i < 5; ++i) {
    ReservedJob j = Take(q, 10);
    EXPECT_EQ(j.attempt, 1u);
    clock_.advance_ms(10);
  }
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.expired, 5u);
  EXPECT_EQ(c.dead, 0u);
  EXPECT_EQ(c.ready, 1u);
}

TEST_F(EngineTest, ExtendMovesTheDeadline) {
  Open();
  QueueId q = Create();
  Put(q, "long job");
  ReservedJob j = Take(q, 100);
  clock_.advance_ms(90);
  EXPECT_EQ(engine_->extend(q, j.lease(), 100), Code::ok);
  clock_.advance_ms(50);  // past the first deadline
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  EXPECT_EQ(Counts(q).expired, 0u);
  clock_.advance_ms(50);  // at the new deadline
  EXPECT_EQ(engine_->run_timers(), 1u);
  EXPECT_EQ(engine_->ack(q, j.lease()), Code::stale_lease);
  EXPECT_EQ(engine_->extend(q, j.lease(), 100), Code::stale_lease);
}

TEST_F(EngineTest, ExtendRefusesAZeroOrTooLongLease) {
  Open();
  QueueId q = Create();
  Put(q, "x");
  ReservedJob j = Take(q);
  EXPECT_EQ(engine_->extend(q, j.lease(), 0), Code::invalid_argument);
  EXPECT_EQ(engine_->extend(q, j.lease(), lease_ms_max + 1), Code::invalid_argument);
  EXPECT_EQ(engine_->ack(q, j.lease()), Code::ok) << "the refused extend changed nothing";
}

TEST_F(EngineTest, PerJobLeaseAndAttemptOverrides) {
  Open();
  QueueId q = Create();
  ASSERT_TRUE(engine_->enqueue(q, {.payload = "x", .attempts_max = 1, .lease_ms = 50}).ok());
  ReservedJob j = Take(q);
  EXPECT_EQ(j.lease_deadline_ns, clock_.now_ns() + 50'000'000ull);
  EXPECT_EQ(engine_->nack(q, j.lease(), 0), Code::ok);
  EXPECT_EQ(Counts(q).dead, 1u) << "attempts_max 1: the first nack dead-letters";
}

TEST_F(EngineTest, StaleTokensChangeNothing) {
  Open();
  QueueId q = Create();
  QueueId other = Create({}, "other");
  Put(q, "x");
  ReservedJob j = Take(q);
  EXPECT_EQ(engine_->ack(other, j.lease()), Code::stale_lease) << "wrong queue";
  EXPECT_EQ(engine_->ack(q, Lease{j.id + 1, j.token}), Code::stale_lease) << "wrong job";
  EXPECT_EQ(engine_->ack(q, Lease{j.id, j.token ^ (1ull << 32)}), Code::stale_lease);
  EXPECT_EQ(engine_->ack(q, Lease{j.id, 0xffffffffffffffffull}), Code::stale_lease);
  EXPECT_EQ(engine_->ack(q, Lease{j.id, 0x00000001'03ffffffull}), Code::stale_lease);
  EXPECT_EQ(Counts(q).leased, 1u);
  EXPECT_EQ(engine_->ack(q, j.lease()), Code::ok);
  EXPECT_EQ(engine_->ack(q, j.lease()), Code::stale_lease) << "already acked";
  // The slot is reused by a new job: the old token still fails.
  Put(q, "y");
  ReservedJob k = Take(q);
  EXPECT_EQ(engine_->ack(q, j.lease()), Code::stale_lease);
  EXPECT_EQ(engine_->ack(q, k.lease()), Code::ok);
}

// ---------------------------------------------------------------- nack, backoff

TEST_F(EngineTest, NackWithExplicitDelay) {
  Open();
  QueueId q = Create();
  Put(q, "x");
  ReservedJob j = Take(q);
  EXPECT_EQ(engine_->nack(q, j.lease(), 0), Code::ok);
  ReservedJob again = Take(q);
  EXPECT_EQ(again.attempt, 2u);
  EXPECT_EQ(engine_->nack(q, again.lease(), 40), Code::ok);
  EXPECT_EQ(Counts(q).delayed, 1u);
  clock_.advance_ms(39);
  EXPECT_EQ(engine_->reserve(q).code(), Code::empty);
  clock_.advance_ms(1);
  EXPECT_EQ(Take(q).attempt, 3u);
  EXPECT_EQ(Counts(q).retried, 2u);
}

TEST_F(EngineTest, ExponentialBackoffDoublesUpToTheCap) {
  Open();
  QueueOptions o;
  o.attempts_max = 10;
  o.backoff = {.kind = Backoff::Kind::exponential, .base_ms = 100, .cap_ms = 350};
  QueueId q = Create(o);
  Put(q, "x");
  const std::uint64_t expected[] = {100, 200, 350, 350};
  for (std::uint64_t wait_ms : expected) {
    ReservedJob j = Take(q);
    ASSERT_EQ(engine_->nack(q, j.lease()), Code::ok);
    clock_.advance_ms(wait_ms - 1);
    EXPECT_EQ(engine_->reserve(q).code(), Code::empty) << "early at " << wait_ms;
    clock_.advance_ms(1);
    EXPECT_EQ(Counts(q).ready, 1u) << "not ready after " << wait_ms;
  }
}

TEST_F(EngineTest, FixedBackoffWithJitterStaysInRange) {
  Open();
  QueueOptions o;
  o.attempts_max = attempts_limit;
  o.backoff = {.kind = Backoff::Kind::fixed, .base_ms = 100, .cap_ms = 1000, .jitter_percent = 50};
  QueueId q = Create(o);
  Put(q, "x");
  std::set<std::uint64_t> waits;
  for (int i = 0; i < 40; ++i) {
    ReservedJob j = Take(q);
    ASSERT_EQ(engine_->nack(q, j.lease()), Code::ok);
    std::uint64_t waited = 0;
    while (engine_->counts(q).value().ready == 0) {
      clock_.advance_ms(1);
      ++waited;
      ASSERT_LE(waited, 100u);
    }
    EXPECT_GE(waited, 50u);
    waits.insert(waited);
  }
  EXPECT_GT(waits.size(), 5u) << "jitter spreads the waits";
}

TEST_F(EngineTest, NackOnTheLastAttemptDeadLettersWithTheError) {
  Open();
  QueueOptions o;
  o.attempts_max = 2;
  QueueId q = Create(o);
  Put(q, "x");
  ASSERT_EQ(engine_->nack(q, Take(q).lease(), 0, "first"), Code::ok);
  ASSERT_EQ(engine_->nack(q, Take(q).lease(), 0, "second"), Code::ok);
  auto dead = engine_->list_dead(q).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].reason, DeadReason::attempts_nacked);
  EXPECT_EQ(dead[0].error, "second");
  EXPECT_EQ(dead[0].attempts, 2u);
  EXPECT_EQ(dead[0].payload.view(), "x");
}

TEST_F(EngineTest, FailDeadLettersAtOnceAndCutsLongErrors) {
  Open();
  QueueId q = Create();
  Put(q, "x");
  std::string long_error(error_text_bytes_max + 10, 'e');
  ASSERT_EQ(engine_->fail(q, Take(q).lease(), long_error), Code::ok);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.failed, 1u);
  EXPECT_EQ(c.dead, 1u);
  EXPECT_EQ(c.expired, 0u);
  auto dead = engine_->list_dead(q).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].reason, DeadReason::failed);
  EXPECT_EQ(dead[0].error.size(), error_text_bytes_max);
  EXPECT_EQ(dead[0].dead_ns, clock_.now_ns());
}

// ---------------------------------------------------------------- batches

TEST_F(EngineTest, AckBatchReportsEachLease) {
  Open();
  QueueId q = Create();
  for (int i = 0; i < 3; ++i) Put(q, "x");
  ReservedJob jobs[3];
  ASSERT_EQ(engine_->reserve_batch(q, jobs).count, 3u);
  ASSERT_EQ(engine_->ack(q, jobs[1].lease()), Code::ok);
  Lease leases[3] = {jobs[0].lease(), jobs[1].lease(), jobs[2].lease()};
  Code results[3];
  EXPECT_EQ(engine_->ack_batch(q, leases, results), 2u);
  EXPECT_EQ(results[0], Code::ok);
  EXPECT_EQ(results[1], Code::stale_lease);
  EXPECT_EQ(results[2], Code::ok);
  EXPECT_EQ(Counts(q).completed, 3u);
}

// ---------------------------------------------------------------- dead letters

TEST_F(EngineTest, DeadLettersListWithACursorRedriveDeletePurge) {
  Open();
  QueueId q = Create();
  std::vector<JobId> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(Put(q, Numbered("job", i)));
  for (int i = 0; i < 7; ++i) ASSERT_EQ(engine_->fail(q, Take(q).lease(), "bad"), Code::ok);
  // Page through with a cursor.
  std::vector<JobId> listed;
  JobId cursor = 0;
  for (;;) {
    auto page = engine_->list_dead(q, cursor, 3).value();
    if (page.empty()) break;
    EXPECT_LE(page.size(), 3u);
    for (const auto& d : page) listed.push_back(d.id);
    cursor = page.back().id;
  }
  EXPECT_EQ(listed, ids);
  EXPECT_EQ(engine_->list_dead(q, 0, 0).code(), Code::invalid_argument);

  // Redrive two by id, then the oldest two, delete one, purge the rest.
  JobId want[] = {ids[5], ids[6], 999999};
  EXPECT_EQ(engine_->redrive_ids(q, want).value(), 2u);
  EXPECT_EQ(engine_->redrive(q, 2).value(), 2u);
  JobId del[] = {ids[2]};
  EXPECT_EQ(engine_->delete_dead(q, del).value(), 1u);
  EXPECT_EQ(engine_->delete_dead(q, del).value(), 0u);
  EXPECT_EQ(engine_->purge_dead(q).value(), 2u);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.dead, 0u);
  EXPECT_EQ(c.ready, 4u);
  EXPECT_EQ(c.redriven, 4u);
  std::set<JobId> back;
  for (int i = 0; i < 4; ++i) {
    ReservedJob j = Take(q);
    EXPECT_EQ(j.attempt, 1u) << "redrive resets attempts";
    back.insert(j.id);
  }
  EXPECT_EQ(back, (std::set<JobId>{ids[0], ids[1], ids[5], ids[6]}));
}

// ---------------------------------------------------------------- payload lifetime

TEST_F(EngineTest, PayloadOutlivesItsLeaseAckAndQueue) {
  // Under ASan this proves a slow consumer never reads freed memory.
  Open();
  QueueId q = Create();
  Put(q, std::string(4096, 'p'));
  ReservedJob slow = Take(q, 10);
  clock_.advance_ms(10);
  ReservedJob fast = Take(q);
  ASSERT_EQ(engine_->ack(q, fast.lease()), Code::ok);
  Put(q, std::string(4096, 'z'));  // likely reuses the slot
  ASSERT_EQ(engine_->drop_queue(q), Code::ok);
  Payload copy = slow.payload;
  fast = ReservedJob{};
  EXPECT_EQ(slow.payload.view(), std::string(4096, 'p'));
  EXPECT_EQ(copy.view(), std::string(4096, 'p'));
}

TEST_F(EngineTest, CountsMatchTheStates) {
  Open(2);
  QueueId q = Create();
  for (int i = 0; i < 5; ++i) Put(q, "r");
  for (int i = 0; i < 2; ++i) Put(q, "d", 0, 1000);
  ReservedJob a = Take(q);
  ReservedJob b = Take(q);
  ASSERT_EQ(engine_->fail(q, b.lease(), "x"), Code::ok);
  QueueCounts c = Counts(q);
  EXPECT_EQ(c.ready, 3u);
  EXPECT_EQ(c.delayed, 2u);
  EXPECT_EQ(c.leased, 1u);
  EXPECT_EQ(c.dead, 1u);
  EXPECT_EQ(c.enqueued, 7u);
  (void)a;
}

}  // namespace
}  // namespace hotq
