// A randomized model test: a seeded sequence of operations runs against the
// engine and against a simple single-threaded reference model; their states
// are compared after every step. A failure prints the seed and the step.
//
// The engine runs with one shard, so ready jobs of one priority leave in
// FIFO order. Jobs made ready by timers in the same poll with the same due
// time may leave in any order among themselves (the model allows it).
#include <hotq/clock.h>
#include <hotq/engine.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace hotq {
namespace {

constexpr std::uint64_t ms = 1'000'000;

struct ModelJob {
  JobId id = 0;
  std::string payload;
  std::uint8_t priority = 0;
  JobState state = JobState::ready;
  std::uint32_t attempts = 0;
  std::uint64_t due_ns = 0;  // delayed: when ready; leased: lease deadline
  std::uint64_t token = 0;
};

struct ReadyEntry {
  JobId id;
  std::uint64_t group;  // entries with equal group may leave in any order
};

class Model {
 public:
  Model(const QueueOptions& o) : o_(o), ready_(o.priority_levels) {}

  std::size_t size() const { return jobs_.size(); }
  bool full() const { return jobs_.size() >= o_.capacity_jobs_max; }

  void enqueue(JobId id, std::string payload, std::uint8_t prio, std::uint64_t delay_ms,
               std::uint64_t now) {
    ModelJob j;
    j.id = id;
    j.payload = std::move(payload);
    j.priority = prio;
    ++counts_.enqueued;
    if (delay_ms == 0) {
      j.state = JobState::ready;
      ready_[prio].push_back({id, next_group_++});
    } else {
      j.state = JobState::delayed;
      j.due_ns = now + delay_ms * ms;
    }
    jobs_.emplace(id, std::move(j));
  }

  // Fires every due timer, in due order, as the engine's poll does.
  void poll(std::uint64_t now) {
    std::vector<std::pair<std::uint64_t, JobId>> due;
    for (auto& [id, j] : jobs_) {
      if ((j.state == JobState::delayed || j.state == JobState::leased) && j.due_ns <= now) {
        due.emplace_back(j.due_ns, id);
      }
    }
    std::sort(due.begin(), due.end());
    std::uint64_t last_due = UINT64_MAX;
    std::uint64_t group = 0;
    for (auto [when, id] : due) {
      if (when != last_due) {
        group = next_group_++;
        last_due = when;
      }
      ModelJob& j = jobs_.at(id);
      if (j.state == JobState::leased) {
        ++counts_.expired;
        if (!o_.expiry_counts_as_attempt) {
          --j.attempts;
        } else if (j.attempts >= o_.attempts_max) {
          to_dead(j, DeadReason::attempts_expired);
          continue;
        }
      }
      j.state = JobState::ready;
      ready_[j.priority].push_back({id, group});
    }
  }

  // Checks that the engine may hand out `id` now; leases it in the model.
  ::testing::AssertionResult reserve(const ReservedJob& got, std::uint64_t lease_ms,
                                     std::uint64_t now) {
    for (auto& level : ready_) {
      if (level.empty()) continue;
      std::uint64_t group = level.front().group;
      for (auto it = level.begin(); it != level.end() && it->group == group; ++it) {
        if (it->id != got.id) continue;
        level.erase(it);
        ModelJob& j = jobs_.at(got.id);
        ++j.attempts;
        j.state = JobState::leased;
        j.due_ns = now + lease_ms * ms;
        j.token = got.token;
        if (got.attempt != j.attempts) {
          return ::testing::AssertionFailure() << "attempt " << got.attempt << " want " << j.attempts;
        }
        if (got.payload.view() != j.payload) return ::testing::AssertionFailure() << "payload";
        return ::testing::AssertionSuccess();
      }
      return ::testing::AssertionFailure() << "job " << got.id << " is not next to leave";
    }
    return ::testing::AssertionFailure() << "model has nothing ready";
  }
  bool any_ready() const {
    return std::any_of(ready_.begin(), ready_.end(), [](const auto& l) { return !l.empty(); });
  }

  // Expected result of settling this lease.
  Code settle_code(const Lease& l) const {
    auto it = jobs_.find(l.job);
    if (it == jobs_.end() || it->second.state != JobState::leased || it->second.token != l.token) {
      return Code::stale_lease;
    }
    return Code::ok;
  }
  void ack(JobId id) {
    jobs_.erase(id);
    ++counts_.completed;
  }
  void nack(JobId id, std::uint64_t delay_ms, std::uint64_t now) {
    ModelJob& j = jobs_.at(id);
    if (j.attempts >= o_.attempts_max) {
      to_dead(j, DeadReason::attempts_nacked);
      return;
    }
    ++counts_.retried;
    if (delay_ms == 0) {
      j.state = JobState::ready;
      ready_[j.priority].push_back({id, next_group_++});
    } else {
      j.state = JobState::delayed;
      j.due_ns = now + delay_ms * ms;
    }
  }
  void fail(JobId id) {
    ++counts_.failed;
    to_dead(jobs_.at(id), DeadReason::failed);
  }
  void extend(JobId id, std::uint64_t lease_ms, std::uint64_t now) {
    jobs_.at(id).due_ns = now + lease_ms * ms;
  }
  std::uint64_t redrive(std::uint64_t max_jobs) {
    std::uint64_t n = 0;
    for (auto& [id, j] : jobs_) {  // std::map: id order, as the engine
      if (n == max_jobs) break;
      if (j.state != JobState::dead) continue;
      j.state = JobState::ready;
      j.attempts = 0;
      ready_[j.priority].push_back({id, next_group_++});
      ++n;
    }
    counts_.redriven += n;
    return n;
  }
  std::uint64_t purge_dead() {
    std::uint64_t n = 0;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (it->second.state == JobState::dead) {
        it = jobs_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  QueueCounts counts() const {
    QueueCounts c = counts_;
    for (const auto& [id, j] : jobs_) {
      switch (j.state) {
        case JobState::delayed: ++c.delayed; break;
        case JobState::ready:
          ++c.ready;
          ++c.ready_by_priority[j.priority];
          break;
        case JobState::leased: ++c.leased; break;
        case JobState::dead: ++c.dead; break;
      }
    }
    return c;
  }
  std::vector<JobId> dead_ids() const {
    std::vector<JobId> out;
    for (const auto& [id, j] : jobs_) {
      if (j.state == JobState::dead) out.push_back(id);
    }
    return out;
  }
  const ModelJob* find(JobId id) const {
    auto it = jobs_.find(id);
    return it == jobs_.end() ? nullptr : &it->second;
  }
  std::map<JobId, ModelJob>& jobs() { return jobs_; }
  void count_rejected_full() { ++counts_.rejected_full; }

  // Queue operations. A moved or cancelled ready job's old place in the ring
  // is invisible (the engine passes over it), so it is simply dropped here;
  // the model runs these with a capacity that is never reached.
  void drop_ready_entry(const ModelJob& j) {
    auto& level = ready_[j.priority];
    for (auto it = level.begin(); it != level.end(); ++it) {
      if (it->id == j.id) {
        level.erase(it);
        return;
      }
    }
  }
  Code cancel(JobId id) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return Code::no_such_job;
    ModelJob& j = it->second;
    if (j.state == JobState::ready) {
      drop_ready_entry(j);
    } else if (j.state != JobState::delayed) {
      return Code::no_such_job;
    }
    jobs_.erase(it);
    ++counts_.cancelled;
    return Code::ok;
  }
  Code set_priority(JobId id, std::uint8_t prio) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return Code::no_such_job;
    ModelJob& j = it->second;
    if (j.state == JobState::delayed) {
      j.priority = prio;
      return Code::ok;
    }
    if (j.state != JobState::ready) return Code::no_such_job;
    if (prio == j.priority) return Code::ok;
    drop_ready_entry(j);
    j.priority = prio;
    ready_[prio].push_back({id, next_group_++});
    return Code::ok;
  }
  Code set_delay(JobId id, std::uint64_t delay_ms, std::uint64_t now) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return Code::no_such_job;
    ModelJob& j = it->second;
    if (j.state == JobState::delayed) {
      if (delay_ms == 0) {
        j.state = JobState::ready;
        ready_[j.priority].push_back({id, next_group_++});
      } else {
        j.due_ns = now + delay_ms * ms;
      }
      return Code::ok;
    }
    if (j.state != JobState::ready) return Code::no_such_job;
    if (delay_ms == 0) return Code::ok;
    drop_ready_entry(j);
    j.state = JobState::delayed;
    j.due_ns = now + delay_ms * ms;
    return Code::ok;
  }
  std::uint64_t purge() {
    std::uint64_t n = 0;
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (it->second.state == JobState::ready || it->second.state == JobState::delayed) {
        it = jobs_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    for (auto& level : ready_) level.clear();
    counts_.purged += n;
    return n;
  }
  std::vector<JobId> ids() const {
    std::vector<JobId> out;
    for (const auto& [id, j] : jobs_) out.push_back(id);
    return out;
  }

 private:
  void to_dead(ModelJob& j, DeadReason) {
    j.state = JobState::dead;
    ++counts_.dead_lettered;
  }

  QueueOptions o_;
  std::map<JobId, ModelJob> jobs_;
  std::vector<std::deque<ReadyEntry>> ready_;
  QueueCounts counts_;
  std::uint64_t next_group_ = 1;
};

void ExpectSameCounts(const QueueCounts& e, const QueueCounts& m, std::uint64_t seed, int step) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " step " << step);
  EXPECT_EQ(e.delayed, m.delayed);
  EXPECT_EQ(e.ready, m.ready);
  EXPECT_EQ(e.leased, m.leased);
  EXPECT_EQ(e.dead, m.dead);
  EXPECT_EQ(e.enqueued, m.enqueued);
  EXPECT_EQ(e.completed, m.completed);
  EXPECT_EQ(e.retried, m.retried);
  EXPECT_EQ(e.failed, m.failed);
  EXPECT_EQ(e.expired, m.expired);
  EXPECT_EQ(e.dead_lettered, m.dead_lettered);
  EXPECT_EQ(e.redriven, m.redriven);
  EXPECT_EQ(e.rejected_full, m.rejected_full);
  EXPECT_EQ(e.cancelled, m.cancelled);
  EXPECT_EQ(e.purged, m.purged);
  for (std::uint32_t p = 0; p < priority_levels_max; ++p) {
    EXPECT_EQ(e.ready_by_priority[p], m.ready_by_priority[p]) << "priority " << p;
  }
}

void RunModel(std::uint64_t seed, int steps, bool expiry_counts, bool with_ops = false) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t n) { return n == 0 ? 0 : rng() % n; };
  ManualClock clock;
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::open({.clock = &clock, .shards = 1}, &engine).ok());
  QueueOptions o;
  // With the queue operations, a capacity that is never reached (a moved or
  // cancelled ready job holds a unit of it until its old place is passed,
  // which the model does not track).
  o.capacity_jobs_max = with_ops ? 1u << 16 : 24;
  o.priority_levels = 3;
  o.attempts_max = 3;
  o.backoff = {.kind = Backoff::Kind::fixed, .base_ms = 5, .cap_ms = 5};
  o.expiry_counts_as_attempt = expiry_counts;
  QueueId q = engine->create_queue("model", o).value();
  Model model(o);
  std::vector<Lease> old_leases;  // every lease ever handed out
  std::vector<JobId> all_ids;      // every job ever enqueued
  bool paused = false;

  for (int step = 0; step < steps; ++step) {
    const std::uint64_t now = clock.now_ns();
    const std::uint64_t op = pick(100);
    if (op < 30) {  // enqueue
      auto prio = static_cast<std::uint8_t>(pick(3));
      std::uint64_t delay = pick(4) == 0 ? 1 + pick(30) : 0;
      std::string payload = std::to_string(rng());
      Result<JobId> id = engine->enqueue(q, {.payload = payload, .priority = prio, .delay_ms = delay});
      if (model.full()) {
        ASSERT_EQ(id.code(), Code::full) << "seed " << seed << " step " << step;
        model.count_rejected_full();
      } else {
        ASSERT_TRUE(id.ok()) << "seed " << seed << " step " << step;
        ASSERT_EQ(model.find(id.value()), nullptr) << "id reused";
        model.enqueue(id.value(), payload, prio, delay, now);
        all_ids.push_back(id.value());
      }
    } else if (op < 55) {  // reserve
      std::uint64_t lease = 1 + pick(40);
      model.poll(now);
      Result<ReservedJob> j = engine->reserve(q, lease);
      if (paused) {
        ASSERT_EQ(j.code(), Code::paused) << "seed " << seed << " step " << step;
      } else if (!model.any_ready()) {
        ASSERT_EQ(j.code(), Code::empty) << "seed " << seed << " step " << step;
      } else {
        ASSERT_TRUE(j.ok()) << "seed " << seed << " step " << step;
        ASSERT_TRUE(model.reserve(j.value(), lease, now)) << "seed " << seed << " step " << step;
        old_leases.push_back(j->lease());
      }
    } else if (op < 80 && !old_leases.empty()) {  // settle a lease, often a stale one
      Lease l = old_leases[pick(old_leases.size())];
      if (pick(2) == 0) l = old_leases.back();
      Code want = model.settle_code(l);
      const std::uint64_t how = pick(10);
      Code got;
      if (how < 5) {
        got = engine->ack(q, l);
        if (got == Code::ok) model.ack(l.job);
      } else if (how < 8) {
        const bool explicit_delay = pick(2) == 0;
        const std::uint64_t delay = explicit_delay ? pick(10) : 5;  // 5: the queue's backoff
        got = explicit_delay ? engine->nack(q, l, delay) : engine->nack(q, l);
        if (got == Code::ok) model.nack(l.job, delay, now);
      } else if (how < 9) {
        got = engine->fail(q, l, "model");
        if (got == Code::ok) model.fail(l.job);
      } else {
        std::uint64_t lease = 1 + pick(40);
        got = engine->extend(q, l, lease);
        if (got == Code::ok) model.extend(l.job, lease, now);
      }
      ASSERT_EQ(got, want) << "seed " << seed << " step " << step;
    } else if (op < 92) {  // time passes
      clock.advance_ms(pick(12));
    } else if (op < 96) {
      std::uint64_t n = 1 + pick(3);
      ASSERT_EQ(engine->redrive(q, n).value(), model.redrive(n)) << "seed " << seed;
    } else if (op < 97) {
      ASSERT_EQ(engine->purge_dead(q).value(), model.purge_dead()) << "seed " << seed;
    } else if (with_ops && !all_ids.empty()) {  // 97..99: the queue operations
      const JobId id = all_ids[pick(all_ids.size())];
      const std::uint64_t which = pick(12);
      Code got = Code::ok;
      Code want = Code::ok;
      if (which < 3) {
        got = engine->cancel(q, id);
        want = model.cancel(id);
      } else if (which < 6) {
        const auto prio = static_cast<std::uint8_t>(pick(3));
        got = engine->set_priority(q, id, prio);
        want = model.set_priority(id, prio);
      } else if (which < 9) {
        const std::uint64_t delay = pick(3) == 0 ? 0 : 1 + pick(20);
        got = engine->set_delay(q, id, delay);
        want = model.set_delay(id, delay, now);
      } else if (which < 10) {
        ASSERT_EQ(engine->purge(q).value(), model.purge()) << "seed " << seed << " step " << step;
      } else {
        paused = !paused;
        got = paused ? engine->pause(q) : engine->resume(q);
      }
      ASSERT_EQ(got, want) << "seed " << seed << " step " << step;
      Result<JobInfo> info = engine->inspect(q, id);
      const ModelJob* mj = model.find(id);
      ASSERT_EQ(info.ok(), mj != nullptr) << "seed " << seed << " step " << step;
      if (mj != nullptr) {
        EXPECT_EQ(info->state, mj->state) << "seed " << seed << " step " << step;
        EXPECT_EQ(info->priority, mj->priority);
        EXPECT_EQ(info->attempts, mj->attempts);
        EXPECT_EQ(info->payload.view(), mj->payload);
      }
    }
    // Compare after every step (counts() fires due timers: so does the model).
    model.poll(clock.now_ns());
    ExpectSameCounts(engine->counts(q).value(), model.counts(), seed, step);
    std::vector<JobId> dead;
    std::vector<DeadLetter> listed = engine->list_dead(q, 0, batch_jobs_max).value();
    for (const auto& d : listed) dead.push_back(d.id);
    ASSERT_EQ(dead, model.dead_ids()) << "seed " << seed << " step " << step;
    if (::testing::Test::HasFailure()) return;
  }
}

std::uint64_t BaseSeed() {
  const char* env = std::getenv("HOTQ_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 0) : 20261123;
}

TEST(EngineModel, RandomOperationsMatchTheModel) {
  for (std::uint64_t i = 0; i < 12; ++i) {
    RunModel(BaseSeed() + i, 3000, /*expiry_counts=*/true);
    if (HasFailure()) return;
  }
}

TEST(EngineModel, QueueOperationsMatchTheModel) {
  for (std::uint64_t i = 0; i < 12; ++i) {
    RunModel(BaseSeed() + 2000 + i, 3000, /*expiry_counts=*/true, /*with_ops=*/true);
    if (HasFailure()) return;
  }
}

TEST(EngineModel, RandomOperationsMatchTheModelWhenExpiryIsFree) {
  for (std::uint64_t i = 0; i < 6; ++i) {
    RunModel(BaseSeed() + 1000 + i, 3000, /*expiry_counts=*/false);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace hotq
