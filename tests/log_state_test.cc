// LogState (engine/log_state.h): what each log record does to the model of
// queues, topics, jobs and dedup keys; which records it refuses (with a
// message, and — where the refusal comes before any change — changing
// nothing); and the snapshot round trip: write() through a SnapshotWriter on
// a MemFs, load_snapshot() into a fresh LogState, every field equal, dedup
// keys whose window has passed left out.
#include "engine/log_state.h"

#include <gtest/gtest.h>
#include <hotq/job.h>
#include <hotq/options.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine_impl.h"
#include "engine/job_table.h"
#include "wal/mem_fs.h"
#include "wal/records.h"
#include "wal/snapshot.h"

namespace hotq::engine {
namespace {

using wal::RecordType;

// ------------------------------------------------------------ ids

// A queue id: generation (odd while live) above the table index.
QueueId QueueIdOf(std::uint32_t index, std::uint32_t generation = 1) {
  return (generation << Queue::queue_index_bits) | index;
}
// A job id as the engine makes them: slot generation above the SlotRef.
JobId JobOf(std::uint32_t n) { return make_handle(n + 100, make_slot_ref(n % 4, n)); }
// The token of a delivery of `job` with `nonce`.
std::uint64_t TokenOf(JobId job, std::uint32_t nonce) { return make_handle(nonce, slot_of(job)); }

// ------------------------------------------------------------ record bodies

std::string CreateBody(QueueId id, std::string_view name, const QueueOptions& o = {}) {
  std::string b;
  wal::encode(wal::QueueCreateRec{id, name, o}, &b);
  return b;
}
std::string DropBody(QueueId id) {
  std::string b;
  wal::encode(wal::QueueDropRec{id}, &b);
  return b;
}
// As the log writes it: the head, then the payload.
std::string EnqueueBody(const wal::EnqueueRec& r) {
  std::string b;
  wal::encode_head(r, &b);
  b += r.payload;
  return b;
}
wal::EnqueueRec Enq(QueueId q, JobId job, std::string_view payload = "p") {
  wal::EnqueueRec r;
  r.queue_id = q;
  r.priority = 1;
  r.job = job;
  r.enqueued_ns = 1'000 + job % 1'000;
  r.attempts_max = 4;
  r.lease_ms = 2'500;
  r.payload = payload;
  return r;
}
std::string PublishBody(const wal::PublishRec& r) {
  std::string b;
  wal::encode_head(r, &b);
  b += r.payload;
  return b;
}
std::string ReserveBody(QueueId q, JobId job, std::uint32_t nonce, std::uint32_t attempt,
                        std::uint64_t deadline_ns) {
  std::string b;
  wal::encode(wal::ReserveRec{q, attempt, job, TokenOf(job, nonce), deadline_ns}, &b);
  return b;
}
std::string LeaseBody(RecordType type, QueueId q, JobId job, std::uint32_t nonce,
                      std::uint64_t deadline_ns = 0) {
  std::string b;
  wal::encode(type, wal::LeaseRec{q, job, TokenOf(job, nonce), deadline_ns}, &b);
  return b;
}
std::string NackBody(QueueId q, JobId job, std::uint32_t nonce, std::uint64_t run_at_ns,
                     std::string_view error = "nacked") {
  std::string b;
  wal::encode(wal::NackRec{q, job, TokenOf(job, nonce), run_at_ns, error}, &b);
  return b;
}
std::string DeadBody(QueueId q, JobId job, DeadReason reason, std::uint64_t dead_ns,
                     std::string_view error) {
  std::string b;
  wal::encode(wal::DeadRec{q, static_cast<std::uint8_t>(reason), job, dead_ns, error}, &b);
  return b;
}
std::string JobListBody(QueueId q, std::vector<JobId> jobs) {
  std::string b;
  wal::encode_job_list(q, jobs, &b);
  return b;
}
std::string CancelBody(QueueId q, JobId job) {
  std::string b;
  wal::encode(wal::CancelRec{q, job}, &b);
  return b;
}
std::string PauseBody(QueueId q, bool paused) {
  std::string b;
  wal::encode(wal::PauseRec{q, paused}, &b);
  return b;
}
std::string SetPriorityBody(QueueId q, JobId job, std::uint8_t priority) {
  std::string b;
  wal::encode(wal::SetPriorityRec{q, priority, job}, &b);
  return b;
}
std::string SetDelayBody(QueueId q, JobId job, std::uint64_t run_at_ns) {
  std::string b;
  wal::encode(wal::SetDelayRec{q, job, run_at_ns}, &b);
  return b;
}
std::string BindBody(QueueId q, bool bound, std::string_view topic) {
  std::string b;
  wal::encode(wal::BindRec{q, bound, topic}, &b);
  return b;
}

// ------------------------------------------------------------ the whole state as text

std::string Escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x",
                    static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += hex;
    }
  }
  return out;
}

std::string Describe(const QueueOptions& o) {
  std::ostringstream out;
  out << "capacity=" << o.capacity_jobs_max << " levels=" << o.priority_levels
      << " lease_ms=" << o.lease_ms_default << " attempts_max=" << o.attempts_max
      << " backoff=" << int{static_cast<std::uint8_t>(o.backoff.kind)} << "/" << o.backoff.base_ms
      << "/" << o.backoff.cap_ms << "/" << o.backoff.jitter_percent
      << " payload_max=" << o.payload_bytes_max << " expiry_counts=" << o.expiry_counts_as_attempt
      << " ordering=" << int{static_cast<std::uint8_t>(o.ordering)}
      << " leased_max=" << o.leased_max << " rate=" << o.rate_limit.tokens_per_interval << "/"
      << o.rate_limit.interval_ms << "/" << o.rate_limit.burst_tokens
      << " dedup=" << o.dedup_window_ms << "/" << o.dedup_keys_max
      << " durable_delivery=" << o.durable_delivery;
  return out.str();
}

// Every field of every queue, topic, job and dedup entry, and every
// non-zero generation, in a fixed order: two states are equal exactly when
// these are.
std::string Describe(const LogState& s) {
  std::ostringstream out;
  for (std::uint32_t index = 0; index < s.queue_generations.size(); ++index) {
    if (s.queue_generations[index] == 0) continue;
    out << "queue generation " << index << "=" << s.queue_generations[index] << "\n";
  }
  for (std::uint32_t shard = 0; shard < s.slot_generations.size(); ++shard) {
    s.slot_generations[shard].for_each([&](std::uint32_t index, std::uint32_t generation) {
      out << "slot generation " << shard << "/" << index << "=" << generation << "\n";
      return true;
    });
  }
  for (const auto& [index, q] : s.queues) {
    out << "queue " << index << " id=" << q.id << " name=" << q.name << " paused=" << q.paused
        << " " << Describe(q.options) << "\n";
    const std::map<std::string, LogState::DedupEntry> dedup(q.dedup.begin(), q.dedup.end());
    for (const auto& [key, e] : dedup) {
      out << "  dedup " << Escaped(key) << " job=" << e.job << " first=" << e.first_wall << "\n";
    }
  }
  for (const auto& [topic, ids] : s.topics) {
    out << "topic " << topic << ":";
    for (QueueId id : ids) out << " " << id;
    out << "\n";
  }
  std::map<JobId, LogState::Job> jobs;
  s.jobs.for_each([&](JobId id, const LogState::Job& j) { jobs.emplace(id, j); });
  for (const auto& [id, j] : jobs) {
    out << "job " << id << " queue=" << j.queue_index << " prio=" << int{j.priority}
        << " state=" << int{static_cast<std::uint8_t>(j.state)}
        << " reason=" << int{static_cast<std::uint8_t>(j.reason)} << " attempts=" << j.attempts
        << "/" << j.attempts_max << " lease_ms=" << j.lease_ms << " nonce=" << j.nonce
        << " enqueued=" << j.enqueued_wall << " at=" << j.at_wall << " order=" << j.order
        << " payload=" << Escaped(j.payload.view()) << " error=" << Escaped(j.error.view()) << "\n";
  }
  return out.str();
}

// ------------------------------------------------------------ the fixture

class LogStateTest : public ::testing::Test {
 protected:
  // Applies a record at the next LSN; false with the refusal in error_.
  bool Apply(RecordType type, const std::string& body) {
    error_.clear();
    return s_.apply(wal::LogRecord{type, ++lsn_, body}, &error_);
  }
  void Ok(RecordType type, const std::string& body) {
    ASSERT_TRUE(Apply(type, body))
        << wal::record_type_name(static_cast<std::uint16_t>(type)) << ": " << error_;
  }
  // Refused with a message, and nothing changed.
  void Refused(RecordType type, const std::string& body) {
    const std::string before = Describe(s_);
    EXPECT_FALSE(Apply(type, body)) << wal::record_type_name(static_cast<std::uint16_t>(type));
    EXPECT_FALSE(error_.empty());
    EXPECT_EQ(Describe(s_), before) << "refused (" << error_ << ") but changed the state";
  }
  const LogState::Job& JobAt(JobId id) {
    static const LogState::Job none;
    const LogState::Job* j = s_.jobs.find(id);
    EXPECT_NE(j, nullptr) << "job " << id;
    return j == nullptr ? none : *j;
  }

  LogState s_;
  std::uint64_t lsn_ = 0;
  std::string error_;
};

constexpr std::uint32_t kA = 1;  // queue indexes
constexpr std::uint32_t kB = 2;

// ------------------------------------------------------------ queues

TEST_F(LogStateTest, QueueCreateRecordsIdNameAndOptions) {
  QueueOptions o;
  o.priority_levels = 5;
  o.durable_delivery = true;
  o.ordering = Ordering::fifo;
  Ok(RecordType::queue_create, CreateBody(QueueIdOf(kA, 3), "orders", o));
  ASSERT_EQ(s_.queues.count(kA), 1u);
  const LogState::QueueState& q = s_.queues.at(kA);
  EXPECT_EQ(q.id, QueueIdOf(kA, 3));
  EXPECT_EQ(q.name, "orders");
  EXPECT_EQ(Describe(q.options), Describe(o));
  EXPECT_FALSE(q.paused);
  EXPECT_TRUE(q.dedup.empty());
}

TEST_F(LogStateTest, QueueCreateRefusals) {
  Ok(RecordType::queue_create, CreateBody(QueueIdOf(kA), "orders"));
  Refused(RecordType::queue_create, CreateBody(QueueIdOf(kB), "orders"));    // name is live
  Refused(RecordType::queue_create, CreateBody(QueueIdOf(kA, 3), "other"));  // slot is live
  Refused(RecordType::queue_create, CreateBody(QueueIdOf(kB, 2), "other"));  // even: dropped
  Refused(RecordType::queue_create, CreateBody(QueueIdOf(kB), "bad name"));  // space
  Refused(RecordType::queue_create, CreateBody(QueueIdOf(kB), ""));
  QueueOptions bad;
  bad.priority_levels = priority_levels_max + 1;
  Refused(RecordType::queue_create, CreateBody(QueueIdOf(kB), "other", bad));
  Refused(RecordType::queue_create, "short");
}

// A drop takes the queue's jobs, dedup keys and topic bindings with it; the
// name and the slot are free again, and the old id is dead for good.
TEST_F(LogStateTest, QueueDropRemovesItsJobsAndBindings) {
  const QueueId a = QueueIdOf(kA), b = QueueIdOf(kB);
  Ok(RecordType::queue_create, CreateBody(a, "a"));
  Ok(RecordType::queue_create, CreateBody(b, "b"));
  wal::EnqueueRec keyed = Enq(a, JobOf(1));
  keyed.dedup_key = "k";
  Ok(RecordType::enqueue, EnqueueBody(keyed));
  Ok(RecordType::enqueue, EnqueueBody(Enq(a, JobOf(2))));
  Ok(RecordType::enqueue, EnqueueBody(Enq(b, JobOf(3))));
  Ok(RecordType::bind, BindBody(a, true, "both"));
  Ok(RecordType::bind, BindBody(b, true, "both"));
  Ok(RecordType::bind, BindBody(a, true, "only-a"));

  Ok(RecordType::queue_drop, DropBody(a));
  EXPECT_EQ(s_.queues.count(kA), 0u);
  EXPECT_EQ(s_.jobs.count(JobOf(1)), 0u);
  EXPECT_EQ(s_.jobs.count(JobOf(2)), 0u);
  EXPECT_EQ(s_.jobs.count(JobOf(3)), 1u) << "another queue's job stays";
  ASSERT_EQ(s_.topics.count("both"), 1u);
  EXPECT_EQ(s_.topics.at("both"), std::vector<QueueId>{b});
  EXPECT_EQ(s_.topics.count("only-a"), 0u) << "a topic left with no queue goes";

  Refused(RecordType::queue_drop, DropBody(a));
  Refused(RecordType::enqueue, EnqueueBody(Enq(a, JobOf(4))));
  const QueueId a2 = QueueIdOf(kA, 3);
  Ok(RecordType::queue_create, CreateBody(a2, "a"));
  EXPECT_TRUE(s_.queues.at(kA).dedup.empty()) << "the old queue's keys are gone";
  Refused(RecordType::enqueue, EnqueueBody(Enq(a, JobOf(4))));  // the old generation
  Ok(RecordType::enqueue, EnqueueBody(Enq(a2, JobOf(4))));
}

TEST_F(LogStateTest, PauseAndResume) {
  Ok(RecordType::queue_create, CreateBody(QueueIdOf(kA), "a"));
  Ok(RecordType::pause, PauseBody(QueueIdOf(kA), true));
  EXPECT_TRUE(s_.queues.at(kA).paused);
  Ok(RecordType::pause, PauseBody(QueueIdOf(kA), false));
  EXPECT_FALSE(s_.queues.at(kA).paused);
  Refused(RecordType::pause, PauseBody(QueueIdOf(kB), true));
  Refused(RecordType::pause, PauseBody(QueueIdOf(kA, 3), true));  // another generation
}

// ------------------------------------------------------------ enqueue, publish

TEST_F(LogStateTest, EnqueueReadyAndDelayed) {
  const QueueId q = QueueIdOf(kA);
  Ok(RecordType::queue_create, CreateBody(q, "a"));
  wal::EnqueueRec ready = Enq(q, JobOf(1), std::string_view("pay\0load", 8));
  ready.priority = 2;
  Ok(RecordType::enqueue, EnqueueBody(ready));
  const std::uint64_t ready_lsn = lsn_;
  wal::EnqueueRec delayed = Enq(q, JobOf(2));
  delayed.run_at_ns = 5'000'000;
  Ok(RecordType::enqueue, EnqueueBody(delayed));

  const LogState::Job& r = JobAt(JobOf(1));
  EXPECT_EQ(r.state, RecordState::ready);
  EXPECT_EQ(r.queue_index, kA);
  EXPECT_EQ(r.priority, 2);
  EXPECT_EQ(r.attempts, 0);
  EXPECT_EQ(r.attempts_max, ready.attempts_max);
  EXPECT_EQ(r.lease_ms, ready.lease_ms);
  EXPECT_EQ(r.enqueued_wall, ready.enqueued_ns);
  EXPECT_EQ(r.at_wall, 0u);
  EXPECT_EQ(r.order, ready_lsn);
  EXPECT_EQ(r.payload.view(), std::string_view("pay\0load", 8));
  const LogState::Job& d = JobAt(JobOf(2));
  EXPECT_EQ(d.state, RecordState::delayed);
  EXPECT_EQ(d.at_wall, 5'000'000u);
  EXPECT_TRUE(s_.queues.at(kA).dedup.empty());
}

TEST_F(LogStateTest, EnqueueWithADedupKeyRemembersItsFirstTime) {
  const QueueId q = QueueIdOf(kA);
  Ok(RecordType::queue_create, CreateBody(q, "a"));
  wal::EnqueueRec r = Enq(q, JobOf(1));
  r.dedup_key = "order-17";
  r.enqueued_ns = 777;
  Ok(RecordType::enqueue, EnqueueBody(r));
  const auto& dedup = s_.queues.at(kA).dedup;
  ASSERT_EQ(dedup.count("order-17"), 1u);
  EXPECT_EQ(dedup.at("order-17").job, JobOf(1));
  EXPECT_EQ(dedup.at("order-17").first_wall, 777u);
  // The key outlives its job.
  Ok(RecordType::cancel, CancelBody(q, JobOf(1)));
  EXPECT_EQ(s_.queues.at(kA).dedup.count("order-17"), 1u);
}

TEST_F(LogStateTest, EnqueueRefusals) {
  const QueueId q = QueueIdOf(kA);
  Refused(RecordType::enqueue, EnqueueBody(Enq(q, JobOf(1))));  // no such queue
  QueueOptions o;
  o.priority_levels = 2;
  Ok(RecordType::queue_create, CreateBody(q, "a", o));
  Ok(RecordType::enqueue, EnqueueBody(Enq(q, JobOf(1))));
  Refused(RecordType::enqueue, EnqueueBody(Enq(q, JobOf(1))));  // a live id
  // Another generation in the slot of a live job: a slot holds one job, as
  // in the engine's slab (the next generation comes only after it is gone).
  Refused(RecordType::enqueue, EnqueueBody(Enq(q, JobOf(1) + (JobId{1} << 32))));
  wal::EnqueueRec high = Enq(q, JobOf(2));
  high.priority = 2;
  Refused(RecordType::enqueue, EnqueueBody(high));  // the queue has levels 0..1
  Refused(RecordType::enqueue, "not a body");
}

TEST_F(LogStateTest, EnqueueWithAKeyIntoAQueueWithoutDedupIsRefused) {
  QueueOptions o;
  o.dedup_keys_max = 0;
  Ok(RecordType::queue_create, CreateBody(QueueIdOf(kA), "a", o));
  wal::EnqueueRec r = Enq(QueueIdOf(kA), JobOf(1));
  r.dedup_key = "k";
  EXPECT_FALSE(Apply(RecordType::enqueue, EnqueueBody(r)));
  EXPECT_FALSE(error_.empty());
}

TEST_F(LogStateTest, PublishMakesOneJobPerTarget) {
  const QueueId a = QueueIdOf(kA), b = QueueIdOf(kB, 5);
  Ok(RecordType::queue_create, CreateBody(a, "a"));
  Ok(RecordType::queue_create, CreateBody(b, "b"));
  wal::PublishRec p;
  p.topic = "t";
  p.priority = 1;
  p.enqueued_ns = 4'000;
  p.run_at_ns = 0;
  p.lease_ms = 9'000;
  p.targets = {{a, 3, JobOf(1)}, {b, 7, JobOf(2)}};
  p.payload = "shared";
  Ok(RecordType::publish, PublishBody(p));
  ASSERT_EQ(s_.jobs.size(), 2u);
  for (const wal::PublishTarget& t : p.targets) {
    const LogState::Job& j = JobAt(t.job);
    EXPECT_EQ(j.queue_index, t.queue_id & (queues_max - 1));
    EXPECT_EQ(j.attempts_max, t.attempts_max);
    EXPECT_EQ(j.state, RecordState::ready);
    EXPECT_EQ(j.priority, 1);
    EXPECT_EQ(j.enqueued_wall, 4'000u);
    EXPECT_EQ(j.lease_ms, 9'000u);
    EXPECT_EQ(j.order, lsn_);
    EXPECT_EQ(j.payload.view(), "shared");
  }
  // One copy of the bytes for every queue's job, as before the restart.
  EXPECT_EQ(JobAt(p.targets[0].job).payload.view().data(), JobAt(p.targets[1].job).payload.view().data());
  // Delayed, the same way.
  p.run_at_ns = 8'000;
  p.targets = {{a, 3, JobOf(3)}};
  Ok(RecordType::publish, PublishBody(p));
  EXPECT_EQ(JobAt(JobOf(3)).state, RecordState::delayed);
  EXPECT_EQ(JobAt(JobOf(3)).at_wall, 8'000u);
  // Into a queue that is not live.
  p.targets = {{QueueIdOf(3), 3, JobOf(4)}};
  Refused(RecordType::publish, PublishBody(p));
  // Two targets naming one slot, or a slot that holds a live job: refused
  // whole, before either job is added (all or none).
  p.targets = {{a, 3, JobOf(5)}, {b, 3, JobOf(5) + (JobId{1} << 32)}};
  Refused(RecordType::publish, PublishBody(p));
  p.targets = {{a, 3, JobOf(6)}, {b, 3, JobOf(3) + (JobId{1} << 32)}};
  Refused(RecordType::publish, PublishBody(p));
}

// ------------------------------------------------------------ leases

class LeaseTest : public LogStateTest {
 protected:
  void SetUp() override {
    QueueOptions o;
    o.expiry_counts_as_attempt = true;
    Ok(RecordType::queue_create, CreateBody(counted_, "counted", o));
    o.expiry_counts_as_attempt = false;
    Ok(RecordType::queue_create, CreateBody(free_, "free", o));
  }
  // A job in `q`, reserved with `nonce` for its `attempt`-th delivery.
  void Leased(QueueId q, JobId job, std::uint32_t nonce, std::uint32_t attempt = 1) {
    Ok(RecordType::enqueue, EnqueueBody(Enq(q, job)));
    Ok(RecordType::reserve, ReserveBody(q, job, nonce, attempt, 60'000));
  }
  const QueueId counted_ = QueueIdOf(kA);
  const QueueId free_ = QueueIdOf(kB);
};

TEST_F(LeaseTest, ReserveLeasesWithTheTokensNonce) {
  Ok(RecordType::enqueue, EnqueueBody(Enq(counted_, JobOf(1))));
  const std::uint64_t order = lsn_;
  Ok(RecordType::reserve, ReserveBody(counted_, JobOf(1), 0x8000'0011u, 3, 60'000));
  const LogState::Job& j = JobAt(JobOf(1));
  EXPECT_EQ(j.state, RecordState::leased);
  EXPECT_EQ(j.nonce, 0x8000'0011u);
  EXPECT_EQ(j.nonce, nonce_of(TokenOf(JobOf(1), 0x8000'0011u)));
  EXPECT_EQ(j.attempts, 3);
  EXPECT_EQ(j.at_wall, 60'000u);
  EXPECT_EQ(j.order, order) << "order is the ready order; a lease keeps it";
  Refused(RecordType::reserve, ReserveBody(counted_, JobOf(1), 12, 4, 1));  // leased already
  Refused(RecordType::reserve, ReserveBody(counted_, JobOf(9), 12, 1, 1));  // unknown
  Refused(RecordType::reserve, ReserveBody(free_, JobOf(1), 12, 1, 1));     // other queue
}

// A delayed job's move to ready is not logged: it may be reserved.
TEST_F(LeaseTest, DelayedJobMayBeReserved) {
  wal::EnqueueRec r = Enq(counted_, JobOf(1));
  r.run_at_ns = 5;
  Ok(RecordType::enqueue, EnqueueBody(r));
  Ok(RecordType::reserve, ReserveBody(counted_, JobOf(1), 7, 1, 60'000));
  EXPECT_EQ(JobAt(JobOf(1)).state, RecordState::leased);
}

TEST_F(LeaseTest, ExtendMovesTheDeadline) {
  Leased(counted_, JobOf(1), 7);
  Ok(RecordType::extend, LeaseBody(RecordType::extend, counted_, JobOf(1), 7, 90'000));
  EXPECT_EQ(JobAt(JobOf(1)).at_wall, 90'000u);
  EXPECT_EQ(JobAt(JobOf(1)).state, RecordState::leased);
}

TEST_F(LeaseTest, AckRemovesTheJob) {
  Leased(counted_, JobOf(1), 7);
  Ok(RecordType::ack, LeaseBody(RecordType::ack, counted_, JobOf(1), 7));
  EXPECT_EQ(s_.jobs.count(JobOf(1)), 0u);
  Refused(RecordType::ack, LeaseBody(RecordType::ack, counted_, JobOf(1), 7));  // gone
}

// Only the token of the current delivery settles a lease.
TEST_F(LeaseTest, WrongTokenIsRefusedForEveryLeaseRecord) {
  Leased(counted_, JobOf(1), 7);
  for (RecordType type : {RecordType::extend, RecordType::ack, RecordType::expire}) {
    SCOPED_TRACE(wal::record_type_name(static_cast<std::uint16_t>(type)));
    Refused(type, LeaseBody(type, counted_, JobOf(1), 6, 1));  // an earlier delivery's
    Refused(type, LeaseBody(type, counted_, JobOf(1), 8, 1));
    Refused(type, LeaseBody(type, counted_, JobOf(2), 7, 1));  // unknown job
    Refused(type, LeaseBody(type, free_, JobOf(1), 7, 1));     // the job of another queue
  }
  Refused(RecordType::nack, NackBody(counted_, JobOf(1), 6, 0));
  Refused(RecordType::nack, NackBody(counted_, JobOf(2), 7, 0));
  EXPECT_EQ(JobAt(JobOf(1)).state, RecordState::leased);
}

TEST_F(LeaseTest, LeaseRecordsForAJobNotLeasedAreRefused) {
  Ok(RecordType::enqueue, EnqueueBody(Enq(counted_, JobOf(1))));
  for (RecordType type : {RecordType::extend, RecordType::ack, RecordType::expire}) {
    Refused(type, LeaseBody(type, counted_, JobOf(1), 0, 1));
  }
  Refused(RecordType::nack, NackBody(counted_, JobOf(1), 0, 0));
}

// An expiry that counts keeps the attempt; one that does not gives it back.
TEST_F(LeaseTest, ExpireMakesTheJobReadyAndGivesTheAttemptBackWhenItDoesNotCount) {
  Leased(counted_, JobOf(1), 7, 2);
  Ok(RecordType::expire, LeaseBody(RecordType::expire, counted_, JobOf(1), 7));
  EXPECT_EQ(JobAt(JobOf(1)).state, RecordState::ready);
  EXPECT_EQ(JobAt(JobOf(1)).attempts, 2);
  EXPECT_EQ(JobAt(JobOf(1)).order, lsn_);

  Leased(free_, JobOf(2), 7, 2);
  Ok(RecordType::expire, LeaseBody(RecordType::expire, free_, JobOf(2), 7));
  EXPECT_EQ(JobAt(JobOf(2)).state, RecordState::ready);
  EXPECT_EQ(JobAt(JobOf(2)).attempts, 1);
  EXPECT_EQ(JobAt(JobOf(2)).order, lsn_);
  // The old token is spent.
  Refused(RecordType::ack, LeaseBody(RecordType::ack, free_, JobOf(2), 7));
}

TEST_F(LeaseTest, NackIsReadyNowOrDelayed) {
  Leased(counted_, JobOf(1), 7, 1);
  Ok(RecordType::nack, NackBody(counted_, JobOf(1), 7, 0));
  EXPECT_EQ(JobAt(JobOf(1)).state, RecordState::ready);
  EXPECT_EQ(JobAt(JobOf(1)).at_wall, 0u);
  EXPECT_EQ(JobAt(JobOf(1)).order, lsn_);
  EXPECT_EQ(JobAt(JobOf(1)).attempts, 1) << "the reserve counted the attempt";

  Ok(RecordType::reserve, ReserveBody(counted_, JobOf(1), 8, 2, 60'000));
  Ok(RecordType::nack, NackBody(counted_, JobOf(1), 8, 123'456));
  EXPECT_EQ(JobAt(JobOf(1)).state, RecordState::delayed);
  EXPECT_EQ(JobAt(JobOf(1)).at_wall, 123'456u);
  EXPECT_EQ(JobAt(JobOf(1)).attempts, 2);
}

TEST_F(LeaseTest, DeadRecordsReasonTimeAndError) {
  Leased(counted_, JobOf(1), 7, 4);
  Ok(RecordType::dead, DeadBody(counted_, JobOf(1), DeadReason::attempts_nacked, 5'555, "boom"));
  const LogState::Job& j = JobAt(JobOf(1));
  EXPECT_EQ(j.state, RecordState::dead);
  EXPECT_EQ(j.reason, DeadReason::attempts_nacked);
  EXPECT_EQ(j.at_wall, 5'555u);
  EXPECT_EQ(j.error.view(), "boom");
  EXPECT_EQ(j.attempts, 4);
  Refused(RecordType::dead, DeadBody(counted_, JobOf(1), DeadReason::failed, 6'000, "again"));
  Refused(RecordType::dead, DeadBody(counted_, JobOf(2), DeadReason::failed, 6'000, "unknown"));
  // After an expiry on the last attempt the job is ready, then dead.
  Leased(counted_, JobOf(3), 7, 5);
  Ok(RecordType::expire, LeaseBody(RecordType::expire, counted_, JobOf(3), 7));
  Ok(RecordType::dead, DeadBody(counted_, JobOf(3), DeadReason::attempts_expired, 1, ""));
  EXPECT_EQ(JobAt(JobOf(3)).reason, DeadReason::attempts_expired);
}

// ------------------------------------------------------------ job lists, cancel

class JobListTest : public LogStateTest {
 protected:
  // JobOf(1) ready, 2 delayed, 3 leased (nonce 7), 4 dead.
  void SetUp() override {
    Ok(RecordType::queue_create, CreateBody(q_, "a"));
    Ok(RecordType::queue_create, CreateBody(other_, "b"));
    Ok(RecordType::enqueue, EnqueueBody(Enq(q_, JobOf(1))));
    wal::EnqueueRec delayed = Enq(q_, JobOf(2));
    delayed.run_at_ns = 99;
    Ok(RecordType::enqueue, EnqueueBody(delayed));
    Ok(RecordType::enqueue, EnqueueBody(Enq(q_, JobOf(3))));
    Ok(RecordType::reserve, ReserveBody(q_, JobOf(3), 7, 1, 60'000));
    Ok(RecordType::enqueue, EnqueueBody(Enq(q_, JobOf(4))));
    Ok(RecordType::reserve, ReserveBody(q_, JobOf(4), 7, 3, 60'000));
    Ok(RecordType::dead, DeadBody(q_, JobOf(4), DeadReason::attempts_expired, 50, "bad"));
  }
  const QueueId q_ = QueueIdOf(kA);
  const QueueId other_ = QueueIdOf(kB);
};

TEST_F(JobListTest, RedriveMakesDeadJobsReadyWithAttemptsReset) {
  Ok(RecordType::redrive, JobListBody(q_, {JobOf(4)}));
  const LogState::Job& j = JobAt(JobOf(4));
  EXPECT_EQ(j.state, RecordState::ready);
  EXPECT_EQ(j.attempts, 0);
  EXPECT_EQ(j.order, lsn_);
  // Nothing of its death stays: a snapshot keeps reason and error of dead
  // jobs only, so anything else would differ after a snapshot.
  EXPECT_EQ(j.error.view(), "");
  EXPECT_EQ(j.reason, LogState::Job().reason);
  for (JobId waiting_or_leased : {JobOf(1), JobOf(2), JobOf(3)}) {
    Refused(RecordType::redrive, JobListBody(q_, {waiting_or_leased}));
  }
  Refused(RecordType::redrive, JobListBody(q_, {JobOf(9)}));
  Refused(RecordType::redrive, JobListBody(QueueIdOf(3), {JobOf(4)}));  // no such queue
}

TEST_F(JobListTest, PurgeTakesWaitingJobsOnly) {
  Refused(RecordType::purge, JobListBody(q_, {JobOf(3)}));  // leased
  Refused(RecordType::purge, JobListBody(q_, {JobOf(4)}));  // dead
  Refused(RecordType::purge, JobListBody(other_, {JobOf(1)}));
  Ok(RecordType::purge, JobListBody(q_, {JobOf(1), JobOf(2)}));
  EXPECT_EQ(s_.jobs.count(JobOf(1)), 0u);
  EXPECT_EQ(s_.jobs.count(JobOf(2)), 0u);
  EXPECT_EQ(s_.jobs.size(), 2u);
}

TEST_F(JobListTest, DeleteDeadTakesDeadJobsOnly) {
  for (JobId live : {JobOf(1), JobOf(2), JobOf(3)}) {
    Refused(RecordType::delete_dead, JobListBody(q_, {live}));
  }
  Refused(RecordType::delete_dead, JobListBody(other_, {JobOf(4)}));
  Ok(RecordType::delete_dead, JobListBody(q_, {JobOf(4)}));
  EXPECT_EQ(s_.jobs.count(JobOf(4)), 0u);
  EXPECT_EQ(s_.jobs.size(), 3u);
}

TEST_F(JobListTest, CancelTakesWaitingJobsOnly) {
  Refused(RecordType::cancel, CancelBody(q_, JobOf(3)));
  Refused(RecordType::cancel, CancelBody(q_, JobOf(4)));
  Refused(RecordType::cancel, CancelBody(q_, JobOf(9)));
  Refused(RecordType::cancel, CancelBody(other_, JobOf(1)));
  Ok(RecordType::cancel, CancelBody(q_, JobOf(1)));
  Ok(RecordType::cancel, CancelBody(q_, JobOf(2)));
  EXPECT_EQ(s_.jobs.size(), 2u);
}

TEST_F(JobListTest, SetPriorityOfWaitingJobs) {
  for (JobId waiting : {JobOf(1), JobOf(2)}) {
    Ok(RecordType::set_priority, SetPriorityBody(q_, waiting, 2));
    EXPECT_EQ(JobAt(waiting).priority, 2);
    EXPECT_EQ(JobAt(waiting).order, lsn_) << "to the end of its new level";
  }
  Refused(RecordType::set_priority, SetPriorityBody(q_, JobOf(1), 3));  // levels 0..2
  Refused(RecordType::set_priority, SetPriorityBody(q_, JobOf(3), 0));  // leased
  Refused(RecordType::set_priority, SetPriorityBody(q_, JobOf(4), 0));  // dead
}

TEST_F(JobListTest, SetDelayMovesBetweenReadyAndDelayed) {
  Ok(RecordType::set_delay, SetDelayBody(q_, JobOf(1), 4'444));
  EXPECT_EQ(JobAt(JobOf(1)).state, RecordState::delayed);
  EXPECT_EQ(JobAt(JobOf(1)).at_wall, 4'444u);
  Ok(RecordType::set_delay, SetDelayBody(q_, JobOf(2), 0));
  EXPECT_EQ(JobAt(JobOf(2)).state, RecordState::ready);
  EXPECT_EQ(JobAt(JobOf(2)).at_wall, 0u);
  EXPECT_EQ(JobAt(JobOf(2)).order, lsn_);
  Refused(RecordType::set_delay, SetDelayBody(q_, JobOf(3), 1));
  Refused(RecordType::set_delay, SetDelayBody(q_, JobOf(4), 1));
}

// ------------------------------------------------------------ topics

TEST_F(LogStateTest, BindAndUnbindAreIdempotent) {
  const QueueId a = QueueIdOf(kA), b = QueueIdOf(kB);
  Ok(RecordType::queue_create, CreateBody(a, "a"));
  Ok(RecordType::queue_create, CreateBody(b, "b"));
  Ok(RecordType::bind, BindBody(a, true, "t"));
  Ok(RecordType::bind, BindBody(a, true, "t"));
  Ok(RecordType::bind, BindBody(b, true, "t"));
  EXPECT_EQ(s_.topics.at("t"), (std::vector<QueueId>{a, b}));
  Ok(RecordType::bind, BindBody(a, false, "t"));
  Ok(RecordType::bind, BindBody(a, false, "t"));
  EXPECT_EQ(s_.topics.at("t"), std::vector<QueueId>{b});
  Ok(RecordType::bind, BindBody(b, false, "t"));
  EXPECT_EQ(s_.topics.count("t"), 0u);
  Ok(RecordType::bind, BindBody(b, false, "never"));
  EXPECT_TRUE(s_.topics.empty());
  Refused(RecordType::bind, BindBody(QueueIdOf(3), true, "t"));
  Refused(RecordType::bind, BindBody(a, true, ""));
  Refused(RecordType::bind, BindBody(a, true, "no spaces"));
}

// ------------------------------------------------------------ record types

TEST_F(LogStateTest, SnapshotOnlyTypesDoNotBelongInALog) {
  Ok(RecordType::queue_create, CreateBody(QueueIdOf(kA), "a"));
  for (RecordType type : {RecordType::snap_job, RecordType::snap_dedup_key,
                          RecordType::snapshot_end, static_cast<RecordType>(200)}) {
    Refused(type, "");
  }
  std::string job;
  wal::encode_head(wal::SnapJobRec{QueueIdOf(kA), 2, 0, 0, JobOf(1), 0, 0, 1, 1, 0, 0, 0, "", ""},
                   &job);
  Refused(RecordType::snap_job, job);
  EXPECT_NE(error_.find("snap_job"), std::string::npos) << error_;
}

TEST_F(LogStateTest, LogOnlyTypesDoNotBelongInASnapshot) {
  std::string snap_queue;
  wal::encode_snapshot_queue(wal::QueueCreateRec{QueueIdOf(kA), "a", {}}, false, &snap_queue);
  ASSERT_TRUE(s_.apply_snapshot({RecordType::queue_create, 1, snap_queue}, &error_)) << error_;
  const std::string before = Describe(s_);
  const std::vector<std::pair<RecordType, std::string>> log_only = {
      {RecordType::enqueue, EnqueueBody(Enq(QueueIdOf(kA), JobOf(1)))},
      {RecordType::reserve, ReserveBody(QueueIdOf(kA), JobOf(1), 1, 1, 1)},
      {RecordType::ack, LeaseBody(RecordType::ack, QueueIdOf(kA), JobOf(1), 1)},
      {RecordType::queue_drop, DropBody(QueueIdOf(kA))},
      {RecordType::pause, PauseBody(QueueIdOf(kA), true)},
      {RecordType::snapshot_end, std::string(16, '\0')},
  };
  for (const auto& [type, body] : log_only) {
    error_.clear();
    EXPECT_FALSE(s_.apply_snapshot({type, 2, body}, &error_))
        << wal::record_type_name(static_cast<std::uint16_t>(type));
    EXPECT_FALSE(error_.empty());
  }
  // A log queue_create (no paused byte) is not a snapshot queue either.
  error_.clear();
  EXPECT_FALSE(
      s_.apply_snapshot({RecordType::queue_create, 3, CreateBody(QueueIdOf(kB), "b")}, &error_));
  EXPECT_FALSE(error_.empty());
  // A job or key of a queue the snapshot does not hold.
  std::string job;
  wal::encode_head(wal::SnapJobRec{QueueIdOf(kB), 2, 0, 0, JobOf(1), 0, 0, 1, 1, 0, 0, 0, "", ""},
                   &job);
  error_.clear();
  EXPECT_FALSE(s_.apply_snapshot({RecordType::snap_job, 4, job}, &error_));
  EXPECT_FALSE(error_.empty());
  std::string key;
  wal::encode(wal::SnapDedupRec{QueueIdOf(kB), JobOf(1), 1, "k"}, &key);
  error_.clear();
  EXPECT_FALSE(s_.apply_snapshot({RecordType::snap_dedup_key, 5, key}, &error_));
  EXPECT_FALSE(error_.empty());
  EXPECT_EQ(Describe(s_), before);
}

// ------------------------------------------------------------ snapshot round trip

// What load_snapshot hands to a fresh LogState.
struct Loaded {
  wal::RecoveryStatus status = wal::RecoveryStatus::ok;
  std::string error;
  wal::SnapshotInfo info;
  LogState state;
};

Loaded WriteAndLoad(const LogState& s, std::uint64_t covered_lsn, std::uint64_t wall_now_ns) {
  Loaded l;
  wal::MemFs fs;
  std::unique_ptr<wal::SnapshotWriter> w;
  EXPECT_EQ(wal::SnapshotWriter::create(fs, covered_lsn, wall_now_ns, &w), 0);
  if (w == nullptr) return l;
  EXPECT_EQ(s.write(*w, wall_now_ns), 0);
  EXPECT_EQ(w->finish(&l.error), 0) << l.error;
  std::vector<std::string> notes;
  l.status = wal::load_snapshot(
      fs, [&](const wal::LogRecord& r, std::string* e) { return l.state.apply_snapshot(r, e); },
      &l.info, &notes, &l.error);
  return l;
}

// Every state a job can be in, a paused queue, bindings in order, dedup
// keys on both sides of the window: after write and load, every field of
// every queue, topic, job and key is the same, bar the keys the window let go.
TEST_F(LogStateTest, SnapshotRoundTripKeepsEveryField) {
  constexpr std::uint64_t kNow = 10'000'000'000'000ull;  // wall ns at the write
  constexpr std::uint64_t kSecond = 1'000'000'000ull;
  const QueueId a = QueueIdOf(kA), b = QueueIdOf(kB, 5), c = QueueIdOf(7, 3);
  QueueOptions oa;
  oa.expiry_counts_as_attempt = false;
  oa.dedup_window_ms = 1'000;
  oa.priority_levels = 4;
  oa.backoff.kind = Backoff::Kind::fixed;
  QueueOptions ob;
  ob.durable_delivery = true;
  ob.ordering = Ordering::fifo;
  ob.dedup_window_ms = 60'000;
  ob.leased_max = 17;
  ob.rate_limit.tokens_per_interval = 5;
  QueueOptions oc;
  oc.dedup_keys_max = 0;
  Ok(RecordType::queue_create, CreateBody(a, "alpha", oa));
  Ok(RecordType::queue_create, CreateBody(b, "beta", ob));
  Ok(RecordType::queue_create, CreateBody(c, "gamma", oc));
  Ok(RecordType::pause, PauseBody(a, true));
  Ok(RecordType::bind, BindBody(b, true, "t"));
  Ok(RecordType::bind, BindBody(a, true, "t"));
  Ok(RecordType::bind, BindBody(c, true, "u"));

  // Dedup keys of queue a (window 1 s) around the write's time, of b (60 s).
  auto keyed = [&](QueueId q, std::uint32_t n, std::string_view key, std::uint64_t first_ns) {
    wal::EnqueueRec r = Enq(q, JobOf(n), "k");
    r.dedup_key = key;
    r.enqueued_ns = first_ns;
    Ok(RecordType::enqueue, EnqueueBody(r));
  };
  keyed(a, 20, "a-long-gone", kNow - 5 * kSecond);
  keyed(a, 21, "a-just-gone", kNow - kSecond);  // the window ends at kNow, exclusive
  keyed(a, 22, "a-last-ns", kNow - kSecond + 1);
  keyed(a, 23, std::string_view("a-\0-fresh", 9), kNow);
  keyed(b, 24, "b-kept", kNow - 5 * kSecond);
  Ok(RecordType::cancel, CancelBody(a, JobOf(22)));  // a key outlives its job

  // Jobs in every state.
  wal::EnqueueRec ready = Enq(a, JobOf(1), std::string_view("\0binary\xff", 8));
  ready.priority = 3;
  ready.attempts_max = 9;
  ready.lease_ms = 123;
  Ok(RecordType::enqueue, EnqueueBody(ready));
  wal::EnqueueRec delayed = Enq(b, JobOf(2), "later");
  delayed.run_at_ns = kNow + 7;
  Ok(RecordType::enqueue, EnqueueBody(delayed));
  Ok(RecordType::enqueue, EnqueueBody(Enq(a, JobOf(3), "leased")));
  Ok(RecordType::reserve, ReserveBody(a, JobOf(3), 0x8000'0001u, 2, kNow + 30 * kSecond));
  const struct {
    std::uint32_t n;
    DeadReason reason;
  } deaths[] = {{4, DeadReason::failed},
                {5, DeadReason::attempts_nacked},
                {6, DeadReason::attempts_expired},
                {7, DeadReason::attempts_expired}};
  for (const auto& d : deaths) {
    Ok(RecordType::enqueue, EnqueueBody(Enq(b, JobOf(d.n), "dies")));
    Ok(RecordType::reserve, ReserveBody(b, JobOf(d.n), d.n, 4, kNow));
    std::string error = "error of ";
    error += std::to_string(d.n);
    Ok(RecordType::dead, DeadBody(b, JobOf(d.n), d.reason, kNow - d.n, error));
  }
  Ok(RecordType::redrive, JobListBody(b, {JobOf(7)}));  // dead, then ready again
  Ok(RecordType::enqueue, EnqueueBody(Enq(a, JobOf(8), "expired")));
  Ok(RecordType::reserve, ReserveBody(a, JobOf(8), 5, 1, kNow - 1));
  Ok(RecordType::expire, LeaseBody(RecordType::expire, a, JobOf(8), 5));
  Ok(RecordType::enqueue, EnqueueBody(Enq(c, JobOf(9), "nacked")));
  Ok(RecordType::reserve, ReserveBody(c, JobOf(9), 6, 1, kNow));
  Ok(RecordType::nack, NackBody(c, JobOf(9), 6, kNow + kSecond));
  wal::PublishRec p;
  p.topic = "t";
  p.priority = 1;
  p.enqueued_ns = kNow - 3;
  p.lease_ms = 777;
  p.targets = {{b, 2, JobOf(10)}, {a, 3, JobOf(11)}};
  p.payload = "fan-out";
  Ok(RecordType::publish, PublishBody(p));
  Ok(RecordType::set_priority, SetPriorityBody(b, JobOf(10), 2));

  // What the snapshot must hold: all of it but the keys the window let go.
  LogState want = s_;
  want.queues.at(kA).dedup.erase("a-long-gone");
  want.queues.at(kA).dedup.erase("a-just-gone");
  ASSERT_EQ(want.queues.at(kA).dedup.size(), 2u);

  const Loaded l = WriteAndLoad(s_, lsn_, kNow);
  ASSERT_EQ(l.status, wal::RecoveryStatus::ok) << l.error;
  EXPECT_EQ(l.info.covered_lsn, lsn_);
  EXPECT_EQ(l.info.wall_ns, kNow);
  EXPECT_EQ(Describe(l.state), Describe(want));
  // The same, spelled out for the parts that matter most.
  EXPECT_EQ(l.state.jobs.size(), 15u);
  EXPECT_TRUE(l.state.queues.at(kA).paused);
  EXPECT_EQ(l.state.queues.at(kB).id, b);
  EXPECT_EQ(l.state.topics.at("t"), (std::vector<QueueId>{b, a}));
  EXPECT_EQ(l.state.queues.at(kA).dedup.count("a-last-ns"), 1u);
  EXPECT_EQ(l.state.queues.at(kA).dedup.count("a-just-gone"), 0u);
  EXPECT_EQ(l.state.queues.at(kB).dedup.count("b-kept"), 1u);
}

// A snapshot of a snapshot is the same snapshot; and what loads from one
// goes on taking log records like the state it was written from.
TEST_F(LogStateTest, LoadedStateTakesTheLogThatFollows) {
  const QueueId a = QueueIdOf(kA);
  Ok(RecordType::queue_create, CreateBody(a, "a"));
  Ok(RecordType::enqueue, EnqueueBody(Enq(a, JobOf(1))));
  Ok(RecordType::reserve, ReserveBody(a, JobOf(1), 41, 1, 99));
  Loaded l = WriteAndLoad(s_, lsn_, 1);
  ASSERT_EQ(l.status, wal::RecoveryStatus::ok) << l.error;
  EXPECT_EQ(Describe(WriteAndLoad(l.state, lsn_, 1).state), Describe(l.state));
  // The lease taken before the snapshot is acked after it.
  std::string error;
  EXPECT_TRUE(l.state.apply(
      {RecordType::ack, lsn_ + 1, LeaseBody(RecordType::ack, a, JobOf(1), 41)}, &error))
      << error;
  EXPECT_TRUE(l.state.jobs.empty());
}

// What a snapshot holds, by record type, and the state it loads into.
struct Counted {
  wal::RecoveryStatus status = wal::RecoveryStatus::ok;
  std::string error;
  std::map<RecordType, int> types;
  LogState state;
};

Counted WriteAndCount(const LogState& s, std::uint64_t covered_lsn) {
  Counted c;
  wal::MemFs fs;
  std::unique_ptr<wal::SnapshotWriter> w;
  EXPECT_EQ(wal::SnapshotWriter::create(fs, covered_lsn, 1, &w), 0);
  if (w == nullptr) return c;
  EXPECT_EQ(s.write(*w, 1), 0);
  EXPECT_EQ(w->finish(&c.error), 0) << c.error;
  wal::SnapshotInfo info;
  std::vector<std::string> notes;
  c.status = wal::load_snapshot(
      fs,
      [&](const wal::LogRecord& r, std::string* e) {
        ++c.types[r.type];
        return c.state.apply_snapshot(r, e);
      },
      &info, &notes, &c.error);
  c.state.end_snapshot();
  return c;
}

// A publish's jobs share one copy of its payload. A snapshot writes that
// copy once (snap_payload) and each job names it (snap_job_shared), and the
// state it loads into shares it again, so that memory and snapshot size
// after a restart are what they were before, and stay so through later
// snapshots. A payload left to one job goes back to a plain snap_job.
TEST_F(LogStateTest, APublishsPayloadIsWrittenOnceAndStaysShared) {
  const QueueId a = QueueIdOf(kA), b = QueueIdOf(kB), c = QueueIdOf(7);
  Ok(RecordType::queue_create, CreateBody(a, "a"));
  Ok(RecordType::queue_create, CreateBody(b, "b"));
  Ok(RecordType::queue_create, CreateBody(c, "c"));
  const std::string payload(1000, 'P');
  wal::PublishRec p;
  p.topic = "t";
  p.enqueued_ns = 5;
  p.targets = {{a, 2, JobOf(1)}, {b, 2, JobOf(2)}, {c, 2, JobOf(3)}};
  p.payload = payload;
  Ok(RecordType::publish, PublishBody(p));
  Ok(RecordType::enqueue, EnqueueBody(Enq(a, JobOf(4), payload)));  // same bytes, not shared

  auto identities = [&payload](LogState& st) {
    std::vector<const void*> ids;
    for (std::uint32_t n = 1; n <= 4; ++n) {
      LoggedJob* j = st.jobs.find(JobOf(n));
      if (j == nullptr) {
        ids.push_back(nullptr);
        continue;
      }
      EXPECT_EQ(j->payload.view(), payload) << "job " << n;
      ids.push_back(j->payload.identity());
    }
    return ids;
  };
  Counted first = WriteAndCount(s_, lsn_);
  ASSERT_EQ(first.status, wal::RecoveryStatus::ok) << first.error;
  EXPECT_EQ(first.types[RecordType::snap_payload], 1);
  EXPECT_EQ(first.types[RecordType::snap_job_shared], 3);
  EXPECT_EQ(first.types[RecordType::snap_job], 1);
  EXPECT_EQ(Describe(first.state), Describe(s_));
  std::vector<const void*> ids = identities(first.state);
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[0], ids[2]);
  EXPECT_NE(ids[0], ids[3]);

  // A snapshot of the loaded state: still one copy.
  Counted second = WriteAndCount(first.state, lsn_);
  ASSERT_EQ(second.status, wal::RecoveryStatus::ok) << second.error;
  EXPECT_EQ(second.types[RecordType::snap_payload], 1);
  EXPECT_EQ(second.types[RecordType::snap_job_shared], 3);
  ids = identities(second.state);
  EXPECT_EQ(ids[0], ids[2]);

  // Two of the three cancelled: the last one's bytes are its own again.
  std::string error;
  ASSERT_TRUE(second.state.apply({RecordType::cancel, lsn_ + 1, CancelBody(a, JobOf(1))}, &error))
      << error;
  ASSERT_TRUE(second.state.apply({RecordType::cancel, lsn_ + 2, CancelBody(b, JobOf(2))}, &error))
      << error;
  Counted third = WriteAndCount(second.state, lsn_ + 2);
  ASSERT_EQ(third.status, wal::RecoveryStatus::ok) << third.error;
  EXPECT_EQ(third.types.count(RecordType::snap_payload), 0u);
  EXPECT_EQ(third.types.count(RecordType::snap_job_shared), 0u);
  EXPECT_EQ(third.types[RecordType::snap_job], 2);
  EXPECT_EQ(Describe(third.state), Describe(second.state));
}

TEST_F(LogStateTest, ASharedJobNeedsItsPayloadWrittenBeforeIt) {
  std::string snap_queue;
  wal::encode_snapshot_queue(wal::QueueCreateRec{QueueIdOf(kA), "a", {}}, false, &snap_queue);
  ASSERT_TRUE(s_.apply_snapshot({RecordType::queue_create, 1, snap_queue}, &error_)) << error_;
  auto shared_job = [](JobId job, std::uint64_t ref) {
    wal::SnapJobRec r{QueueIdOf(kA), 2, 0, 0, job, 0, 0, 1, 1, 0, 0, 0, "", "", ref};
    std::string body;
    wal::encode_shared(r, &body);
    return body;
  };
  auto payload = [](std::uint64_t ref, std::string_view bytes) {
    std::string body;
    wal::encode_head(wal::SnapPayloadRec{ref, bytes}, &body);
    body += bytes;
    return body;
  };
  EXPECT_FALSE(s_.apply_snapshot({RecordType::snap_job_shared, 2, shared_job(JobOf(1), 1)}, &error_));
  EXPECT_NE(error_.find("payload ref"), std::string::npos) << error_;
  ASSERT_TRUE(s_.apply_snapshot({RecordType::snap_payload, 3, payload(1, "bytes")}, &error_)) << error_;
  error_.clear();
  EXPECT_FALSE(s_.apply_snapshot({RecordType::snap_payload, 4, payload(1, "other")}, &error_));
  EXPECT_NE(error_.find("twice"), std::string::npos) << error_;
  EXPECT_FALSE(s_.apply_snapshot({RecordType::snap_job_shared, 5, shared_job(JobOf(1), 2)}, &error_));
  ASSERT_TRUE(s_.apply_snapshot({RecordType::snap_job_shared, 6, shared_job(JobOf(1), 1)}, &error_))
      << error_;
  ASSERT_TRUE(s_.apply_snapshot({RecordType::snap_job_shared, 7, shared_job(JobOf(2), 1)}, &error_))
      << error_;
  ASSERT_NE(s_.jobs.find(JobOf(2)), nullptr);
  EXPECT_EQ(s_.jobs.find(JobOf(1))->payload.view(), "bytes");
  EXPECT_EQ(s_.jobs.find(JobOf(1))->payload.identity(), s_.jobs.find(JobOf(2))->payload.identity());
  // Neither shape belongs in a log.
  Refused(RecordType::snap_payload, payload(9, "x"));
  Refused(RecordType::snap_job_shared, shared_job(JobOf(3), 1));
}

// ------------------------------------------------------------ generations

std::string GenerationsBody(wal::SnapGenerationsRec::Kind kind, std::uint32_t shard,
                            std::uint32_t first_index, std::vector<std::uint32_t> generations) {
  std::string b;
  wal::encode(wal::SnapGenerationsRec{kind, shard, first_index, std::move(generations)}, &b);
  return b;
}

std::size_t GenerationBytes(const LogState& s) {
  std::size_t bytes = 0;
  for (const GenerationTable& t : s.slot_generations) bytes += t.bytes();
  return bytes;
}

// The snap_generations records a state writes, as "kind shard first+count".
std::vector<std::string> WrittenGenerations(const LogState& s) {
  wal::MemFs fs;
  std::unique_ptr<wal::SnapshotWriter> w;
  EXPECT_EQ(wal::SnapshotWriter::create(fs, 1, 1, &w), 0);
  if (w == nullptr) return {};
  EXPECT_EQ(s.write(*w, 1), 0);
  std::string error;
  EXPECT_EQ(w->finish(&error), 0) << error;
  std::vector<std::string> runs;
  wal::SnapshotInfo info;
  std::vector<std::string> notes;
  const wal::RecoveryStatus st = wal::load_snapshot(
      fs,
      [&](const wal::LogRecord& r, std::string*) {
        wal::SnapGenerationsRec g;
        if (r.type != RecordType::snap_generations || !wal::decode(r.body, &g)) return true;
        runs.push_back(std::to_string(static_cast<int>(g.kind)) + " " + std::to_string(g.shard) +
                       " " + std::to_string(g.first_index) + "+" +
                       std::to_string(g.generations.size()));
        return true;
      },
      &info, &notes, &error);
  EXPECT_EQ(st, wal::RecoveryStatus::ok) << error;
  return runs;
}

TEST(GenerationTable, NoteKeepsTheLargestAndGetReadsIt) {
  GenerationTable t;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.get(5), 0u);
  t.note(5, 0);  // says nothing: no chunk
  EXPECT_TRUE(t.empty());
  t.note(5, 9);
  t.note(5, 3);
  EXPECT_EQ(t.get(5), 9u);
  EXPECT_EQ(t.get(4), 0u);
  EXPECT_EQ(t.get(shard_jobs_max - 1), 0u);
  t.note(shard_jobs_max - 1, 1);
  EXPECT_EQ(t.get(shard_jobs_max - 1), 1u);
  EXPECT_EQ(t.chunk_count(), 2u);
  EXPECT_EQ(t.bytes(), 2 * GenerationTable::chunk_bytes);
}

TEST(GenerationTable, ForEachVisitsNonZeroEntriesInIndexOrderAndStops) {
  GenerationTable t;
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> want = {
      {0, 4},
      {GenerationTable::chunk_slots - 1, 5},
      {GenerationTable::chunk_slots, 6},
      {1'000'000, 7},
      {shard_jobs_max - 1, 8}};
  for (auto it = want.rbegin(); it != want.rend(); ++it) t.note(it->first, it->second);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> seen;
  EXPECT_TRUE(t.for_each([&](std::uint32_t index, std::uint32_t generation) {
    seen.emplace_back(index, generation);
    return true;
  }));
  EXPECT_EQ(seen, want);
  std::size_t calls = 0;
  EXPECT_FALSE(t.for_each([&](std::uint32_t, std::uint32_t) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2u);
}

// Issue 6 (found by fuzz_snapshot): a job id in the last slot of a shard
// once made replay allocate and zero 256 MiB for that shard's table. Now a
// job in the last slot of several shards, from log records and from a
// snapshot's snap_generations record, costs a chunk each; the generations
// are right and outlive the jobs, and a snapshot keeps them in a record each.
TEST_F(LogStateTest, HighSlotIndexesCostAChunkNotTheWholeShard) {
  constexpr std::uint32_t kLast = shard_jobs_max - 1;
  const QueueId a = QueueIdOf(kA);
  Ok(RecordType::queue_create, CreateBody(a, "a"));
  const std::uint32_t shards[] = {0, 17, shards_max - 1};
  for (std::uint32_t shard : shards) {
    const JobId job = make_handle(7 + shard, make_slot_ref(shard, kLast));
    Ok(RecordType::enqueue, EnqueueBody(Enq(a, job)));
    Ok(RecordType::cancel, CancelBody(a, job));  // gone: its slot's generation stays
  }
  ASSERT_TRUE(
      s_.apply_snapshot({RecordType::snap_generations, 1,
                         GenerationsBody(wal::SnapGenerationsRec::Kind::slots, 40, kLast, {99})},
                        &error_))
      << error_;

  EXPECT_LT(GenerationBytes(s_), std::size_t{1} << 20);
  EXPECT_EQ(GenerationBytes(s_), 4 * GenerationTable::chunk_bytes);
  ASSERT_EQ(s_.slot_generations.size(), shards_max);
  for (std::uint32_t shard : shards) {
    EXPECT_EQ(s_.slot_generations[shard].get(kLast), 7 + shard) << "shard " << shard;
    EXPECT_EQ(s_.slot_generations[shard].get(0), 0u);
  }
  EXPECT_EQ(s_.slot_generations[40].get(kLast), 99u);
  EXPECT_TRUE(s_.slot_generations[1].empty());

  const Loaded l = WriteAndLoad(s_, lsn_, 1);
  ASSERT_EQ(l.status, wal::RecoveryStatus::ok) << l.error;
  EXPECT_EQ(Describe(l.state), Describe(s_));
  EXPECT_EQ(GenerationBytes(l.state), GenerationBytes(s_));
  // Queue index 1's generation, a record per shard, the queue.
  EXPECT_EQ(l.info.records, 1u + 4u + 1u);
}

// Generations are written as runs of the slots used: a short gap is written
// as zeros, a long one starts a new record, and a run is cut at
// snap_generations_max; what loads is what was written.
TEST_F(LogStateTest, GenerationsAreWrittenAsRunsOfTheSlotsUsed) {
  using Kind = wal::SnapGenerationsRec::Kind;
  auto snap = [&](Kind kind, std::uint32_t shard, std::uint32_t first,
                  std::vector<std::uint32_t> generations) {
    ASSERT_TRUE(s_.apply_snapshot({RecordType::snap_generations, 1,
                                   GenerationsBody(kind, shard, first, std::move(generations))},
                                  &error_))
        << error_;
  };
  snap(Kind::queues, 0, 3, {1, 0, 0, 5});  // zeros inside a run say nothing
  snap(Kind::queues, 0, 4000, {7});
  snap(Kind::slots, 2, 0, {1, 2, 3});
  snap(Kind::slots, 2, 13, {4});  // after a gap of 10: bridged
  snap(Kind::slots, 2, 25, {5});  // after a gap of 11: a new record
  snap(Kind::slots, 2, 1'000'000, {6});
  snap(Kind::slots, 5, 0, std::vector<std::uint32_t>(wal::snap_generations_max, 3));
  snap(Kind::slots, 5, wal::snap_generations_max, {3});  // one run, too long for a record
  const std::vector<std::string> want = {"2 0 3+4",       "2 0 4000+1",  "1 2 0+14",   "1 2 25+1",
                                         "1 2 1000000+1", "1 5 0+65536", "1 5 65536+1"};
  EXPECT_EQ(WrittenGenerations(s_), want);
  const Loaded l = WriteAndLoad(s_, 1, 1);
  ASSERT_EQ(l.status, wal::RecoveryStatus::ok) << l.error;
  EXPECT_EQ(Describe(l.state), Describe(s_));
}

// A snap_generations record claims no more than the chunks of the non-zero
// entries it holds: a full record of zeros, none.
TEST_F(LogStateTest, GenerationRecordsOfZerosClaimNothing) {
  ASSERT_TRUE(
      s_.apply_snapshot({RecordType::snap_generations, 1,
                         GenerationsBody(wal::SnapGenerationsRec::Kind::slots, 3,
                                         shard_jobs_max - wal::snap_generations_max,
                                         std::vector<std::uint32_t>(wal::snap_generations_max, 0))},
                        &error_))
      << error_;
  EXPECT_EQ(GenerationBytes(s_), 0u);
}

TEST_F(LogStateTest, EmptyStateRoundTrips) {
  const Loaded l = WriteAndLoad(s_, 5, 1);
  ASSERT_EQ(l.status, wal::RecoveryStatus::ok) << l.error;
  EXPECT_EQ(l.info.records, 0u);
  EXPECT_EQ(Describe(l.state), "");
}

}  // namespace
}  // namespace hotq::engine
