// Helpers shared by the WAL tests: write records through a Log on any Fs,
// read them all back through recovery.
#ifndef HOTQ_TESTS_WAL_TEST_UTIL_H_
#define HOTQ_TESTS_WAL_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "wal/format.h"
#include "wal/fs.h"
#include "wal/log_writer.h"
#include "wal/recovery.h"

namespace hotq::wal::testing {

inline constexpr std::uint64_t kSmallSegment = segment_bytes_min;  // 64 KiB: rolls often

struct Replayed {
  RecordType type;
  std::uint64_t lsn;
  std::string body;
  friend bool operator==(const Replayed&, const Replayed&) = default;
};

struct Recovered {
  RecoveryStatus status = RecoveryStatus::ok;
  std::string error;
  std::vector<Replayed> records;
  LogTail tail;
  RecoveryReport report;
};

inline Recovered RecoverAll(Fs& fs, std::uint64_t covered_lsn = 0) {
  Recovered r;
  r.status = recover_log(
      fs, covered_lsn,
      [&](const LogRecord& rec, std::string*) {
        r.records.push_back({rec.type, rec.lsn, std::string(rec.body)});
        return true;
      },
      &r.tail, &r.report, &r.error);
  return r;
}

// A body that says which record it is, of a length that varies with it.
inline std::string BodyFor(std::uint64_t i) {
  std::string body = "rec-";  // (+= rather than +: g++ 12's false -Wrestrict)
  body += std::to_string(i);
  body += '-';
  body.append(i % 97, static_cast<char>('a' + i % 26));
  return body;
}

inline std::unique_ptr<Log> OpenLog(Fs& fs, const LogTail& tail, LogOptions options = {}) {
  if (options.segment_bytes == segment_bytes_default) options.segment_bytes = kSmallSegment;
  std::unique_ptr<Log> log;
  std::string error;
  const int rc = Log::open(fs, options, tail, &log, &error);
  EXPECT_EQ(rc, 0) << error;
  return log;
}

// Appends records first..first+n-1 (bodies from BodyFor), `per_group` per
// append, each waited durable. Returns the last LSN.
inline std::uint64_t AppendDurable(Log& log, std::uint64_t first, std::uint64_t n,
                                   std::uint64_t per_group = 1) {
  std::uint64_t last = 0;
  for (std::uint64_t i = first; i < first + n; i += per_group) {
    std::vector<std::string> bodies;
    std::vector<Log::Record> recs;
    for (std::uint64_t j = i; j < std::min(first + n, i + per_group); ++j) {
      bodies.push_back(BodyFor(j));
    }
    for (const std::string& b : bodies) recs.push_back({RecordType::enqueue, b});
    EXPECT_EQ(log.append(recs, &last), AppendResult::ok);
    EXPECT_TRUE(log.wait_durable(last));
  }
  return last;
}

}  // namespace hotq::wal::testing

#endif  // HOTQ_TESTS_WAL_TEST_UTIL_H_
