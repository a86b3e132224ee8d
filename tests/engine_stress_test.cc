// Conservation under concurrency (run under ThreadSanitizer in CI): producers
// and consumers on every shard with random acks, nacks, fails, abandoned
// leases (expiries) and a redriver. At the end every job enqueued is
// accounted for exactly once: acked exactly once, or dead — with the payload
// it was enqueued with.
#include <hotq/clock.h>
#include <hotq/engine.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace hotq {
namespace {

constexpr int jobs_per_producer = testing_util::kSanitized ? 10'000 : 30'000;

std::uint64_t Seed() {
  const char* env = std::getenv("HOTQ_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 0) : 7;
}

struct Ledger {
  std::mutex mu;
  std::map<JobId, std::string> enqueued;
  std::map<JobId, std::string> acked;
  std::set<JobId> cancelled;
  std::uint64_t duplicates = 0;
  std::uint64_t double_acks = 0;
  std::uint64_t payload_mismatches = 0;
  std::vector<JobId> recent;  // for the chaos thread to pick from
};

// With ops, producers also send dedup keys (some repeated) and a chaos thread
// cancels, re-prioritises, re-delays, pauses and resumes.
void Stress(std::uint32_t shards, int producers, int consumers, bool batch, bool ops = false) {
  const std::uint64_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  ManualClock clock;
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::open({.clock = &clock, .shards = shards}, &engine).ok());
  QueueOptions o;
  o.capacity_jobs_max = 512;  // small: producers meet back-pressure
  o.priority_levels = 3;
  o.attempts_max = 3;
  o.backoff = {.kind = Backoff::Kind::exponential, .base_ms = 1, .cap_ms = 4, .jitter_percent = 50};
  QueueId q = engine->create_queue("stress", o).value();
  Ledger ledger;
  std::atomic<int> producers_left{producers};
  std::atomic<bool> stop_helpers{false};

  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937_64 rng(seed * 1000 + static_cast<std::uint64_t>(p));
      std::map<JobId, std::string> mine;
      std::uint64_t dups = 0;
      int made = 0;
      while (made < jobs_per_producer) {
        const int n = batch ? 1 + static_cast<int>(rng() % 32) : 1;
        std::vector<std::string> payloads;
        std::vector<EnqueueRequest> reqs;
        for (int i = 0; i < n && made + i < jobs_per_producer; ++i) {
          payloads.push_back(std::to_string(p) + ":" + std::to_string(made + i) + ":" +
                             std::to_string(rng()));
        }
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < payloads.size(); ++i) {
          std::string key;
          if (ops && rng() % 4 == 0) {
            // Mostly a fresh key; sometimes one this producer used already.
            const int k = rng() % 4 == 0 && made > 0 ? static_cast<int>(rng() % made)
                                                       : made + static_cast<int>(i);
            key = std::to_string(p) + "/" + std::to_string(k);
          }
          keys.push_back(std::move(key));
        }
        for (std::size_t i = 0; i < payloads.size(); ++i) {
          reqs.push_back({.payload = payloads[i],
                          .priority = static_cast<std::uint8_t>(rng() % 3),
                          .delay_ms = rng() % 8 == 0 ? rng() % 3 : 0,
                          .dedup_key = keys[i]});
        }
        std::vector<JobId> ids(reqs.size());
        std::vector<Code> codes(reqs.size());
        BatchResult r = engine->enqueue_batch(q, reqs, ids, codes);
        ASSERT_TRUE(r.code == Code::ok || r.code == Code::full) << code_name(r.code);
        std::vector<JobId> fresh;
        for (std::uint32_t i = 0; i < r.count; ++i) {
          if (codes[i] == Code::duplicate) {
            ++dups;
            continue;
          }
          ASSERT_EQ(codes[i], Code::ok);
          ASSERT_TRUE(mine.emplace(ids[i], payloads[i]).second) << "id reused";
          fresh.push_back(ids[i]);
        }
        if (ops && !fresh.empty()) {
          std::lock_guard<std::mutex> lock(ledger.mu);
          ledger.recent.insert(ledger.recent.end(), fresh.begin(), fresh.end());
          if (ledger.recent.size() > 4096) {
            ledger.recent.erase(ledger.recent.begin(), ledger.recent.begin() + 2048);
          }
        }
        made += static_cast<int>(r.count);
        if (r.count == 0) std::this_thread::yield();
      }
      std::lock_guard<std::mutex> lock(ledger.mu);
      ledger.enqueued.merge(mine);
      ledger.duplicates += dups;
      producers_left.fetch_sub(1);
    });
  }
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937_64 rng(seed * 2000 + static_cast<std::uint64_t>(c));
      std::vector<std::pair<JobId, std::string>> mine;
      std::vector<ReservedJob> jobs(batch ? 16 : 1);
      while (!stop_helpers.load()) {
        BatchResult r = engine->reserve_batch(q, jobs, 1 + rng() % 4);
        if (r.count == 0) {
          std::this_thread::yield();
          continue;
        }
        for (std::uint32_t i = 0; i < r.count; ++i) {
          const ReservedJob& j = jobs[i];
          const std::uint64_t roll = rng() % 100;
          if (roll < 70) {
            if (engine->ack(q, j.lease()) == Code::ok) mine.emplace_back(j.id, j.payload.str());
          } else if (roll < 82) {
            (void)engine->nack(q, j.lease(), rng() % 2 == 0 ? std::optional<std::uint64_t>(0)
                                                            : std::nullopt, "nacked");
          } else if (roll < 86) {
            (void)engine->fail(q, j.lease(), "failed");
          } else if (roll < 90) {
            (void)engine->extend(q, j.lease(), 1 + rng() % 4);
          }  // else: abandon the lease; it expires
        }
      }
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (auto& [id, payload] : mine) {
        if (!ledger.acked.emplace(id, payload).second) ++ledger.double_acks;
      }
    });
  }
  if (ops) {
    threads.emplace_back([&] {
      std::mt19937_64 rng(seed * 3000);
      std::set<JobId> mine;
      bool paused = false;
      while (!stop_helpers.load()) {
        JobId id = 0;
        {
          std::lock_guard<std::mutex> lock(ledger.mu);
          if (!ledger.recent.empty()) id = ledger.recent[rng() % ledger.recent.size()];
        }
        const std::uint64_t roll = rng() % 100;
        if (id != 0 && roll < 30) {
          Code c = engine->cancel(q, id);
          ASSERT_TRUE(c == Code::ok || c == Code::no_such_job) << code_name(c);
          if (c == Code::ok) {
            ASSERT_TRUE(mine.insert(id).second) << "cancelled twice";
          }
        } else if (id != 0 && roll < 60) {
          Code c = engine->set_priority(q, id, static_cast<std::uint8_t>(rng() % 3));
          ASSERT_TRUE(c == Code::ok || c == Code::no_such_job || c == Code::full)
              << code_name(c);
        } else if (id != 0 && roll < 90) {
          Code c = engine->set_delay(q, id, rng() % 3);
          ASSERT_TRUE(c == Code::ok || c == Code::no_such_job || c == Code::full)
              << code_name(c);
        } else if (id != 0) {
          (void)engine->inspect(q, id);
        }
        if (rng() % 50 == 0) {
          paused = !paused;
          ASSERT_EQ(paused ? engine->pause(q) : engine->resume(q), Code::ok);
        }
        std::this_thread::yield();
      }
      ASSERT_EQ(engine->resume(q), Code::ok);
      std::lock_guard<std::mutex> lock(ledger.mu);
      ledger.cancelled.insert(mine.begin(), mine.end());
    });
  }
  // Time passes and dead letters are redriven while the load runs.
  threads.emplace_back([&] {
    std::uint64_t rounds = 0;
    while (!stop_helpers.load()) {
      clock.advance_ms(1);
      if (++rounds % 4 == 0) (void)engine->redrive(q, 8);
      (void)engine->run_timers();
      std::this_thread::yield();
    }
  });

  // Run until the producers are done and the queue has only dead jobs left.
  // A watchdog fails the test (instead of hanging CI) if nothing moves for a
  // long time, printing the counts.
  auto last_change = std::chrono::steady_clock::now();
  std::uint64_t last_done = 0;
  for (;;) {
    std::this_thread::yield();
    if (producers_left.load() != 0) continue;
    QueueCounts c = engine->counts(q).value();
    if (c.ready + c.delayed + c.leased == 0) break;
    const std::uint64_t done = c.completed + c.dead_lettered + c.retried + c.expired;
    if (done != last_done) {
      last_done = done;
      last_change = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_change > std::chrono::seconds(60)) {
      stop_helpers = true;
      for (auto& t : threads) t.join();
      FAIL() << "no progress for 60 s: ready " << c.ready << " delayed " << c.delayed
             << " leased " << c.leased << " dead " << c.dead;
    }
  }
  stop_helpers = true;
  for (auto& t : threads) t.join();
  // The redriver may have raced the check above: finish what is left.
  for (;;) {
    clock.advance_ms(1000);
    QueueCounts c = engine->counts(q).value();
    if (c.ready + c.delayed + c.leased == 0) break;
    std::vector<ReservedJob> jobs(64);
    BatchResult r = engine->reserve_batch(q, jobs);
    for (std::uint32_t i = 0; i < r.count; ++i) {
      ASSERT_EQ(engine->ack(q, jobs[i].lease()), Code::ok);
      if (!ledger.acked.emplace(jobs[i].id, jobs[i].payload.str()).second) ++ledger.double_acks;
    }
  }

  // Account for every job.
  std::vector<DeadLetter> dead;
  for (JobId cursor = 0;;) {
    std::vector<DeadLetter> page = engine->list_dead(q, cursor, batch_jobs_max).value();
    if (page.empty()) break;
    cursor = page.back().id;
    for (auto& d : page) dead.push_back(std::move(d));
  }
  EXPECT_EQ(ledger.double_acks, 0u);
  EXPECT_EQ(ledger.enqueued.size() + ledger.duplicates,
            static_cast<std::size_t>(producers) * jobs_per_producer);
  if (ops) {
    EXPECT_GT(ledger.duplicates, 0u) << "the run should exercise dedup";
  }
  std::size_t accounted = 0;
  for (const auto& [id, payload] : ledger.acked) {
    auto it = ledger.enqueued.find(id);
    ASSERT_NE(it, ledger.enqueued.end()) << "acked a job never enqueued: " << id;
    EXPECT_EQ(it->second, payload);
    ++accounted;
  }
  for (const auto& d : dead) {
    auto it = ledger.enqueued.find(d.id);
    ASSERT_NE(it, ledger.enqueued.end()) << "dead job never enqueued: " << d.id;
    EXPECT_EQ(it->second, d.payload.view());
    EXPECT_EQ(ledger.acked.count(d.id), 0u) << "job both acked and dead: " << d.id;
    ++accounted;
  }
  for (JobId id : ledger.cancelled) {
    EXPECT_EQ(ledger.enqueued.count(id), 1u) << "cancelled a job never enqueued: " << id;
    EXPECT_EQ(ledger.acked.count(id), 0u) << "job both acked and cancelled: " << id;
    ++accounted;
  }
  EXPECT_EQ(accounted, ledger.enqueued.size());
  QueueCounts c = engine->counts(q).value();
  EXPECT_EQ(c.completed, ledger.acked.size());
  EXPECT_EQ(c.dead, dead.size());
  EXPECT_EQ(c.enqueued, ledger.enqueued.size());
  EXPECT_EQ(c.cancelled, ledger.cancelled.size());
  EXPECT_EQ(c.dedup_hits, ledger.duplicates);
  EXPECT_GT(c.expired, 0u) << "the run should exercise expiry";
  EXPECT_GT(c.retried, 0u);
  EXPECT_GT(c.redriven, 0u);
}

TEST(EngineStress, ConservationSingleOps) { Stress(2, 2, 2, false); }
TEST(EngineStress, ConservationBatches) { Stress(2, 2, 2, true); }
TEST(EngineStress, ConservationManyShardsAndThreads) { Stress(4, 3, 3, true); }
TEST(EngineStress, ConservationWithQueueOperationsAndDedup) { Stress(2, 2, 2, true, true); }

}  // namespace
}  // namespace hotq

namespace hotq {
namespace {

// Queues dropped and re-created while other threads use them: every call
// returns a named result (never touches freed memory: ASan and TSan builds),
// and a dropped queue's id never works again.
TEST(EngineStress, DropAndRecreateWhileBusy) {
  ManualClock clock;
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::open({.clock = &clock, .shards = 2}, &engine).ok());
  std::atomic<QueueId> current{engine->create_queue("churn").value()};
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      while (!stop.load()) {
        const QueueId q = current.load();
        Result<JobId> id = engine->enqueue(q, {.payload = "x", .delay_ms = rng() % 2});
        EXPECT_TRUE(id.ok() || id.code() == Code::no_such_queue || id.code() == Code::full)
            << code_name(id.code());
        Result<ReservedJob> j = engine->reserve(q, 1 + rng() % 3);
        if (j.ok()) {
          Code c = rng() % 2 == 0 ? engine->ack(q, j->lease()) : engine->fail(q, j->lease(), "x");
          EXPECT_TRUE(c == Code::ok || c == Code::no_such_queue || c == Code::stale_lease)
              << code_name(c);
          EXPECT_EQ(j->payload.view(), "x");
        } else {
          EXPECT_TRUE(j.code() == Code::empty || j.code() == Code::no_such_queue)
              << code_name(j.code());
        }
        (void)engine->list_dead(q);
        (void)engine->redrive(q, 2);
        clock.advance_ms(1);
      }
    });
  }
  std::vector<QueueId> dropped;
  for (int round = 0; round < 200; ++round) {
    std::this_thread::yield();
    const QueueId old = current.load();
    ASSERT_EQ(engine->drop_queue(old), Code::ok);
    dropped.push_back(old);
    current.store(engine->create_queue("churn").value());
  }
  stop = true;
  for (auto& w : workers) w.join();
  for (QueueId q : dropped) {
    EXPECT_EQ(engine->enqueue(q, {.payload = "late"}).code(), Code::no_such_queue);
    EXPECT_EQ(engine->counts(q).code(), Code::no_such_queue);
  }
}

}  // namespace
}  // namespace hotq

namespace hotq {
namespace {

// Fan-out under concurrency: publishers on a topic bound to three small
// queues (so publishes often meet a full queue and must leave nothing
// behind), one consumer per queue. Every successful publish is delivered
// exactly once by every queue, with its payload; nothing else is.
TEST(EngineStress, FanOutIsAllOrNoneUnderLoad) {
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::open({.shards = 2}, &engine).ok());
  QueueOptions o;
  o.capacity_jobs_max = 64;
  std::vector<QueueId> queues;
  for (int i = 0; i < 3; ++i) {
    std::string name = "fan";
    name += std::to_string(i);
    queues.push_back(engine->create_queue(name, o).value());
    ASSERT_EQ(engine->bind("topic", queues.back()), Code::ok);
  }
  constexpr int per_publisher = testing_util::kSanitized ? 2'000 : 20'000;
  std::atomic<int> publishers_left{2};
  std::mutex mu;
  std::set<std::string> published;
  std::vector<std::thread> threads;
  for (int p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      std::set<std::string> mine;
      for (int i = 0; i < per_publisher;) {
        std::string payload = std::to_string(p);
        payload += ":";
        payload += std::to_string(i);
        Result<std::vector<JobId>> ids = engine->publish("topic", {.payload = payload});
        if (ids.ok()) {
          ASSERT_EQ(ids->size(), 3u);
          mine.insert(payload);
          ++i;
        } else {
          ASSERT_EQ(ids.code(), Code::full);
          std::this_thread::yield();
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      published.merge(mine);
      publishers_left.fetch_sub(1);
    });
  }
  std::vector<std::multiset<std::string>> delivered(3);
  for (int c = 0; c < 3; ++c) {
    threads.emplace_back([&, c] {
      for (;;) {
        Result<ReservedJob> j = engine->reserve(queues[c]);
        if (!j.ok()) {
          if (publishers_left.load() == 0 && engine->counts(queues[c])->ready == 0) break;
          std::this_thread::yield();
          continue;
        }
        delivered[c].insert(j->payload.str());
        ASSERT_EQ(engine->ack(queues[c], j->lease()), Code::ok);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(published.size(), 2u * per_publisher);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(delivered[c].size(), published.size()) << "queue " << c;
    EXPECT_TRUE(std::equal(delivered[c].begin(), delivered[c].end(), published.begin(),
                           published.end()))
        << "queue " << c << " delivered something other than each publish once";
  }
}

}  // namespace
}  // namespace hotq
