#include <hotq/clock.h>
#include <hotq/version.h>

#include <gtest/gtest.h>

#include <cstring>

namespace hotq {
namespace {

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock(100);
  EXPECT_EQ(clock.now_ns(), 100u);
  EXPECT_EQ(clock.now_ns(), 100u);
  clock.advance_ns(5);
  EXPECT_EQ(clock.now_ns(), 105u);
  clock.advance_ms(2);
  EXPECT_EQ(clock.now_ns(), 2'000'105u);
  clock.set_ns(3'000'000);
  EXPECT_EQ(clock.now_ns(), 3'000'000u);
}

TEST(ManualClockDeathTest, NeverGoesBackwards) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ManualClock clock(100);
  EXPECT_DEATH(clock.set_ns(99), "check failed: t_ns >= cur");
}

TEST(SystemClock, IsMonotonic) {
  Clock& clock = SystemClock::instance();
  std::uint64_t prev = clock.now_ns();
  for (int i = 0; i < 1000; ++i) {
    std::uint64_t t = clock.now_ns();
    ASSERT_GE(t, prev);
    prev = t;
  }
}

TEST(Version, MatchesTheProject) { EXPECT_STREQ(version(), "0.1.0"); }

}  // namespace
}  // namespace hotq
