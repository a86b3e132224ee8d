// JobMap (engine/job_map.h): a job in the slot its id names; one job per
// slot; lookups by exact id; iteration in slot order; erase_if; copies; and
// drain(), which hands every job over once, in that order, and leaves the
// map empty and reusable. Indexes at the far end of the last shard cost
// pages, not a table sized by the index.
#include "engine/job_map.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hotq::engine {
namespace {

JobId Id(std::uint32_t generation, std::uint32_t shard, std::uint32_t index) {
  return (JobId{generation} << 32) | make_slot_ref(shard, index);
}

LoggedJob Job(std::uint64_t order, std::string_view payload = "p") {
  LoggedJob j;
  j.order = order;
  j.payload = PayloadRef(payload);
  return j;
}

std::vector<JobId> Ids(const JobMap& m) {
  std::vector<JobId> out;
  m.for_each([&](JobId id, const LoggedJob&) { out.push_back(id); });
  return out;
}

TEST(JobMap, FindsAJobByItsExactIdOnly) {
  JobMap m;
  const JobId id = Id(7, 2, 1000);
  ASSERT_NE(m.insert(id, Job(1, "bytes")), nullptr);
  ASSERT_NE(m.find(id), nullptr);
  EXPECT_EQ(m.find(id)->generation, 7u);
  EXPECT_EQ(m.find(id)->payload.view(), "bytes");
  EXPECT_EQ(m.count(id), 1u);
  EXPECT_EQ(m.find(Id(6, 2, 1000)), nullptr) << "an older generation of the slot";
  EXPECT_EQ(m.find(Id(8, 2, 1000)), nullptr) << "a newer generation of the slot";
  EXPECT_EQ(m.find(Id(7, 2, 1001)), nullptr) << "the next slot";
  EXPECT_EQ(m.find(Id(7, 3, 1000)), nullptr) << "another shard";
  EXPECT_TRUE(m.slot_taken(Id(8, 2, 1000)));
  EXPECT_FALSE(m.slot_taken(Id(7, 2, 999)));
  EXPECT_EQ(m.size(), 1u);
}

TEST(JobMap, OneJobPerSlot) {
  JobMap m;
  ASSERT_NE(m.insert(Id(1, 0, 5), Job(1, "first")), nullptr);
  LoggedJob second = Job(2, "second");
  EXPECT_EQ(m.insert(Id(2, 0, 5), std::move(second)), nullptr);
  EXPECT_EQ(second.payload.view(), "second") << "a refused job is left as it was";
  EXPECT_EQ(m.insert(Id(1, 0, 5), Job(3)), nullptr);
  EXPECT_EQ(m.find(Id(1, 0, 5))->payload.view(), "first");
  EXPECT_EQ(m.size(), 1u);
  // Once the job is gone the slot takes the next one.
  EXPECT_TRUE(m.erase(Id(1, 0, 5)));
  EXPECT_FALSE(m.erase(Id(1, 0, 5)));
  EXPECT_TRUE(m.empty());
  ASSERT_NE(m.insert(Id(2, 0, 5), Job(4, "next")), nullptr);
  EXPECT_EQ(m.find(Id(2, 0, 5))->payload.view(), "next");
}

TEST(JobMap, EraseNeedsTheExactId) {
  JobMap m;
  ASSERT_NE(m.insert(Id(3, 1, 9), Job(1)), nullptr);
  EXPECT_FALSE(m.erase(Id(2, 1, 9)));
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(m.erase(Id(3, 1, 9)));
  EXPECT_EQ(m.size(), 0u);
}

TEST(JobMap, IteratesByShardThenIndex) {
  JobMap m;
  const std::vector<JobId> inserted = {Id(1, 3, 0), Id(1, 0, 64), Id(2, 0, 63), Id(1, 1, 7),
                                       Id(5, 0, 0), Id(1, 0, 200000)};
  for (std::size_t i = 0; i < inserted.size(); ++i) ASSERT_NE(m.insert(inserted[i], Job(i)), nullptr);
  EXPECT_EQ(Ids(m), (std::vector<JobId>{Id(5, 0, 0), Id(2, 0, 63), Id(1, 0, 64), Id(1, 0, 200000),
                                        Id(1, 1, 7), Id(1, 3, 0)}));
}

TEST(JobMap, EraseIfRemovesWhatThePredicateNames) {
  JobMap m;
  for (std::uint32_t i = 0; i < 300; ++i) {
    LoggedJob j = Job(i);
    j.queue_index = static_cast<std::uint16_t>(i % 3);
    ASSERT_NE(m.insert(Id(1, i % 2, i), std::move(j)), nullptr);
  }
  m.erase_if([](JobId, const LoggedJob& j) { return j.queue_index == 1; });
  EXPECT_EQ(m.size(), 200u);
  m.for_each([](JobId, const LoggedJob& j) { EXPECT_NE(j.queue_index, 1); });
  EXPECT_EQ(m.find(Id(1, 1, 1)), nullptr);
  EXPECT_NE(m.find(Id(1, 0, 0)), nullptr);
}

TEST(JobMap, CopiesAreDeepAndIndependent) {
  JobMap m;
  LoggedJob dead = Job(1, "payload");
  dead.state = RecordState::dead;
  dead.error.assign("boom");
  ASSERT_NE(m.insert(Id(4, 2, 10), std::move(dead)), nullptr);
  ASSERT_NE(m.insert(Id(1, 0, 3), Job(2)), nullptr);
  JobMap copy(m);
  EXPECT_EQ(Ids(copy), Ids(m));
  EXPECT_EQ(copy.find(Id(4, 2, 10))->error.view(), "boom");
  EXPECT_NE(copy.find(Id(4, 2, 10))->error.view().data(), m.find(Id(4, 2, 10))->error.view().data());
  // The payload is shared, as copies of a counted reference are.
  EXPECT_EQ(copy.find(Id(4, 2, 10))->payload.view().data(), m.find(Id(4, 2, 10))->payload.view().data());
  ASSERT_TRUE(copy.erase(Id(1, 0, 3)));
  EXPECT_NE(m.find(Id(1, 0, 3)), nullptr);
  JobMap assigned;
  assigned = copy;
  EXPECT_EQ(Ids(assigned), Ids(copy));
  JobMap moved(std::move(assigned));
  EXPECT_EQ(Ids(moved), Ids(copy));
  EXPECT_TRUE(assigned.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
}

// Enough jobs to cross several release steps (release_slots = 16384 slots)
// in two shards: each is handed over once, in slot order, its fields
// intact; the map is empty after and takes jobs again.
TEST(JobMap, DrainHandsEveryJobOverOnceInSlotOrder) {
  JobMap m;
  constexpr std::uint32_t kJobs = 70'000;
  for (std::uint32_t i = 0; i < kJobs; ++i) {
    // Every third slot left empty, two shards.
    const std::uint32_t index = i + i / 2;
    ASSERT_NE(m.insert(Id(i + 1, i % 2, index), Job(i, std::to_string(i))), nullptr);
  }
  std::vector<JobId> seen;
  std::uint64_t bad = 0;
  m.drain([&](JobId id, LoggedJob& j) {
    seen.push_back(id);
    const std::uint32_t i = static_cast<std::uint32_t>(id >> 32) - 1;
    if (j.order != i || j.payload.view() != std::to_string(i) || slot_shard(slot_of(id)) != i % 2 ||
        slot_index(slot_of(id)) != i + i / 2) {
      ++bad;
    }
    PayloadRef taken(std::move(j.payload));  // as materialize takes it
  });
  EXPECT_EQ(bad, 0u);
  ASSERT_EQ(seen.size(), kJobs);
  for (std::size_t k = 1; k < seen.size(); ++k) {
    const auto before = std::make_pair(slot_shard(slot_of(seen[k - 1])), slot_index(slot_of(seen[k - 1])));
    const auto after = std::make_pair(slot_shard(slot_of(seen[k])), slot_index(slot_of(seen[k])));
    ASSERT_LT(before, after) << "at " << k;
  }
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(Ids(m).empty());
  ASSERT_NE(m.insert(Id(9, 0, 0), Job(0)), nullptr);
  EXPECT_EQ(m.size(), 1u);
}

// The highest slot of the highest shard: the map reserves address space,
// and only the pages touched hold memory; the job is found and iterated.
TEST(JobMap, FarSlotsAreCheap) {
  JobMap m;
  const JobId far = Id(1, shards_max - 1, shard_jobs_max - 1);
  ASSERT_NE(m.insert(far, Job(1, "far")), nullptr);
  ASSERT_NE(m.insert(Id(1, shards_max - 1, 0), Job(2)), nullptr);
  EXPECT_EQ(m.find(far)->payload.view(), "far");
  EXPECT_EQ(Ids(m), (std::vector<JobId>{Id(1, shards_max - 1, 0), far}));
  EXPECT_TRUE(m.erase(far));
  EXPECT_EQ(m.size(), 1u);
}

}  // namespace
}  // namespace hotq::engine
