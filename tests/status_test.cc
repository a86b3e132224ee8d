#include <hotq/status.h>

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "util/check.h"

namespace hotq {
namespace {

TEST(Status, DefaultIsOkWithoutMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::ok);
  EXPECT_TRUE(s.message().empty());
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status s(Code::corruption, "wal/000003.log offset 4096: checksum mismatch");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::corruption);
  EXPECT_EQ(s.message(), "wal/000003.log offset 4096: checksum mismatch");
  EXPECT_EQ(s.to_string(), "corruption: wal/000003.log offset 4096: checksum mismatch");
  Status copy = s;  // copies share the message
  EXPECT_EQ(copy.message(), s.message());
}

TEST(Status, EveryCodeHasADistinctName) {
  const Code all[] = {Code::ok, Code::full, Code::empty, Code::timed_out, Code::too_large,
                      Code::no_such_queue, Code::closed, Code::stale_lease, Code::duplicate,
                      Code::paused, Code::rate_limited, Code::no_such_job, Code::leased_full, Code::dedup_full,
                      Code::invalid_argument, Code::already_exists, Code::limit_exceeded,
                      Code::io_error, Code::no_space, Code::corruption, Code::locked,
                      Code::wal_failed, Code::internal};
  std::set<std::string> names;
  for (Code c : all) {
    std::string n = code_name(c);
    EXPECT_NE(n, "unknown_code") << static_cast<int>(c);
    names.insert(n);
  }
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_STREQ(code_name(Code::stale_lease), "stale_lease");
  EXPECT_STREQ(code_name(static_cast<Code>(200)), "unknown_code");
}

TEST(Result, HoldsValueOrCode) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), 42);
  Result<int> bad = Code::full;
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), Code::full);
}

TEST(Result, ADuplicateCarriesTheOriginalValue) {
  Result<int> dup(Code::duplicate, 7);
  EXPECT_FALSE(dup.ok());
  EXPECT_TRUE(dup.has_value());
  EXPECT_EQ(dup.code(), Code::duplicate);
  EXPECT_EQ(dup.value(), 7);
  Result<int> bad = Code::full;
  EXPECT_FALSE(bad.has_value());
}

TEST(ResultDeathTest, ValueOfAnErrorAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Result<int> bad = Code::empty;
  EXPECT_DEATH((void)bad.value(), "check failed: Result::value\\(\\) on an error");
}

TEST(CheckDeathTest, CheckIsOnInEveryBuild) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  int two = 2;
  EXPECT_DEATH(HOTQ_CHECK(two == 3), "check failed: two == 3 at .*status_test.cc");
}

TEST(CheckDeathTest, DcheckFollowsTheBuild) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  int evaluated = 0;
  auto probe = [&] { ++evaluated; return false; };
#if HOTQ_DCHECK_ON
  EXPECT_DEATH(HOTQ_DCHECK(probe()), "check failed: probe\\(\\)");
#else
  HOTQ_DCHECK(probe());
  EXPECT_EQ(evaluated, 0) << "a compiled-out DCHECK must not evaluate its argument";
#endif
}

}  // namespace
}  // namespace hotq
