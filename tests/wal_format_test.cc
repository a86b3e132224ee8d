// The codecs of docs/wal-format.md: round trips, and every damaged field
// caught.
#include "wal/format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hotq::wal {
namespace {

std::string Encode(RecordType type, std::uint64_t lsn, std::string_view body) {
  std::string out(record_span_bytes(body.size()), '\x55');
  encode_record(type, lsn, body, out.data());
  return out;
}

TEST(WalFormat, RecordRoundTripWithPadding) {
  for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 100u}) {
    const std::string body(len, 'b');
    const std::string rec = Encode(RecordType::enqueue, 42 + len, body);
    ASSERT_EQ(rec.size() % record_align_bytes, 0u);
    RecordHeader h;
    std::string_view got;
    ASSERT_EQ(decode_record(rec.data(), rec.size(), &h, &got), RecordCheck::ok) << len;
    EXPECT_EQ(h.type, static_cast<std::uint16_t>(RecordType::enqueue));
    EXPECT_EQ(h.lsn, 42 + len);
    EXPECT_EQ(got, body);
  }
}

TEST(WalFormat, HeadAndTailMakeOneBody) {
  std::string a(record_span_bytes(10), '\0'), b(record_span_bytes(10), '\0');
  encode_record(RecordType::ack, 7, "abcdefghij", a.data());
  encode_record(RecordType::ack, 7, "abcd", "efghij", b.data());
  EXPECT_EQ(a, b);
}

// The checksum covers every header field after itself, the length included
// (unlike leveldb's): any single flipped bit in header or body is caught.
TEST(WalFormat, EveryFlippedBitIsCaught) {
  const std::string rec = Encode(RecordType::nack, 9, "payload bytes");
  const std::size_t used = record_header_bytes + 13;
  for (std::size_t byte = 0; byte < used; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = rec;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      RecordHeader h;
      std::string_view body;
      EXPECT_NE(decode_record(bad.data(), bad.size(), &h, &body), RecordCheck::ok)
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(WalFormat, NamedOutcomesOfBadRecords) {
  const std::string rec = Encode(RecordType::ack, 1, "0123456789");
  RecordHeader h;
  std::string_view body;
  EXPECT_EQ(decode_record(rec.data(), 10, &h, &body), RecordCheck::truncated);
  EXPECT_EQ(decode_record(rec.data(), rec.size() - 8, &h, &body), RecordCheck::truncated);

  std::string padded = rec;
  padded.back() = 1;  // padding is not hashed but must be zero
  EXPECT_EQ(decode_record(padded.data(), padded.size(), &h, &body), RecordCheck::bad_padding);

  std::string huge = rec;
  put_u32(huge.data() + 8, record_body_bytes_max + 1);  // refused before any hash reads by it
  EXPECT_EQ(decode_record(huge.data(), huge.size(), &h, &body), RecordCheck::bad_length);

  // An intact record of a type this version does not know.
  std::string unknown(record_span_bytes(0), '\0');
  encode_record(static_cast<RecordType>(999), 5, "", unknown.data());
  EXPECT_EQ(decode_record(unknown.data(), unknown.size(), &h, &body), RecordCheck::bad_type);

  const std::string zeros(64, '\0');  // a preallocated segment's contents
  EXPECT_NE(decode_record(zeros.data(), zeros.size(), &h, &body), RecordCheck::ok);
}

TEST(WalFormat, GroupHeaderRoundTripAndChecks) {
  char buf[group_header_bytes];
  encode_group_header({.group_bytes = 80, .first_lsn = 42, .record_count = 1}, buf);
  GroupHeader h;
  ASSERT_TRUE(decode_group_header(buf, &h));
  EXPECT_EQ(h.group_bytes, 80u);
  EXPECT_EQ(h.first_lsn, 42u);
  EXPECT_EQ(h.record_count, 1u);
  EXPECT_TRUE(looks_like_group_header(buf));
  for (std::size_t byte = 0; byte < group_header_bytes; ++byte) {
    char bad[group_header_bytes];
    std::memcpy(bad, buf, sizeof bad);
    bad[byte] = static_cast<char>(bad[byte] ^ 0x10);
    EXPECT_FALSE(decode_group_header(bad, &h)) << byte;
  }
  // Out-of-range fields are refused even with a good checksum.
  encode_group_header({.group_bytes = 81, .first_lsn = 1, .record_count = 1}, buf);
  EXPECT_FALSE(decode_group_header(buf, &h));
  encode_group_header({.group_bytes = 80, .first_lsn = 1, .record_count = 0}, buf);
  EXPECT_FALSE(decode_group_header(buf, &h));
  encode_group_header({.group_bytes = group_bytes_max + 8, .first_lsn = 1, .record_count = 1}, buf);
  EXPECT_FALSE(decode_group_header(buf, &h));
  encode_group_header({.group_bytes = 80, .first_lsn = 0, .record_count = 1}, buf);
  EXPECT_FALSE(decode_group_header(buf, &h));
}

// The worked example of docs/wal-format.md: one ack as LSN 42 in an 80-byte group.
TEST(WalFormat, WorkedExampleFromTheSpec) {
  std::string body;
  BodyWriter(&body).u32(3).zeros(4).u64(77).u64(99);
  ASSERT_EQ(body.size(), 24u);
  const std::uint64_t group_bytes = group_header_bytes + record_span_bytes(body.size());
  EXPECT_EQ(group_bytes, 80u);
  std::string group(group_bytes, '\0');
  encode_group_header({.group_bytes = 80, .first_lsn = 42, .record_count = 1}, group.data());
  encode_record(RecordType::ack, 42, body, group.data() + group_header_bytes);
  const unsigned char magic[] = {0x48, 0x54, 0x47, 0x50};
  EXPECT_EQ(std::memcmp(group.data() + 8, magic, 4), 0);
  EXPECT_EQ(static_cast<unsigned char>(group[12]), 80);
  EXPECT_EQ(static_cast<unsigned char>(group[16]), 42);
  EXPECT_EQ(static_cast<unsigned char>(group[group_header_bytes + 8]), 24);  // body_bytes
  EXPECT_EQ(static_cast<unsigned char>(group[group_header_bytes + 12]), 7);  // type ack
}

TEST(WalFormat, SegmentHeaderRoundTripAndChecks) {
  char buf[segment_header_bytes];
  encode_segment_header({.first_lsn = 1000, .segment_bytes = 1 << 20, .wall_minus_clock_ns = -5},
                        buf);
  SegmentHeader h;
  ASSERT_TRUE(decode_segment_header(buf, &h));
  EXPECT_EQ(h.first_lsn, 1000u);
  EXPECT_EQ(h.segment_bytes, 1u << 20);
  EXPECT_EQ(h.wall_minus_clock_ns, -5);
  for (std::size_t byte = 0; byte < segment_header_bytes; ++byte) {
    char bad[segment_header_bytes];
    std::memcpy(bad, buf, sizeof bad);
    bad[byte] = static_cast<char>(bad[byte] ^ 1);
    EXPECT_FALSE(decode_segment_header(bad, &h)) << byte;
  }
  const char zeros[segment_header_bytes] = {};
  EXPECT_FALSE(decode_segment_header(zeros, &h));
}

TEST(WalFormat, NamesSortByLsnAndParseStrictly) {
  EXPECT_EQ(segment_name(1), "wal-00000000000000000001.log");
  EXPECT_EQ(snapshot_name(123), "snap-00000000000000000123.snap");
  EXPECT_LT(segment_name(9), segment_name(10));
  std::uint64_t n = 0;
  ASSERT_TRUE(parse_segment_name(segment_name(18446744073709551615ull), &n));
  EXPECT_EQ(n, 18446744073709551615ull);
  ASSERT_TRUE(parse_snapshot_name(snapshot_name(77), &n));
  EXPECT_EQ(n, 77u);
  EXPECT_FALSE(parse_segment_name("wal-1.log", &n));
  EXPECT_FALSE(parse_segment_name("wal-0000000000000000000x.log", &n));
  EXPECT_FALSE(parse_segment_name("wal-99999999999999999999.log", &n));  // > 2^64-1
  EXPECT_FALSE(parse_segment_name("snap-00000000000000000001.snap", &n));
  EXPECT_FALSE(parse_snapshot_name("snap-00000000000000000001.snap.tmp", &n));
}

TEST(WalFormat, BodyReaderStopsAtTheEnd) {
  std::string body;
  BodyWriter(&body).u8(1).u16(2).u32(3).u64(4).str("key").zeros(3);
  BodyReader r(body);
  EXPECT_EQ(r.u8(), 1);
  EXPECT_EQ(r.u16(), 2);
  EXPECT_EQ(r.u32(), 3u);
  EXPECT_EQ(r.u64(), 4u);
  EXPECT_EQ(r.str(), "key");
  EXPECT_TRUE(r.zeros(3));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.u32(), 0u);  // past the end: zero, and failed
  EXPECT_TRUE(r.failed());

  std::string lying;
  BodyWriter(&lying).u32(1000).u8('x');  // a string claiming more than is there
  BodyReader l(lying);
  EXPECT_EQ(l.str(), "");
  EXPECT_TRUE(l.failed());

  std::string nonzero;
  BodyWriter(&nonzero).u8(0).u8(1);
  BodyReader z(nonzero);
  EXPECT_FALSE(z.zeros(2));
  EXPECT_TRUE(z.failed());
}

TEST(WalFormat, RecordTypesKnownAndNamed) {
  for (std::uint16_t t = 1; t <= 19; ++t) {
    EXPECT_TRUE(record_type_known(t)) << t;
    EXPECT_STRNE(record_type_name(t), "unknown") << t;
  }
  EXPECT_FALSE(record_type_known(0));
  EXPECT_FALSE(record_type_known(20));
  for (std::uint16_t t = 32; t <= 37; ++t) {
    EXPECT_TRUE(record_type_known(t)) << t;
    EXPECT_STRNE(record_type_name(t), "unknown") << t;
  }
  EXPECT_FALSE(record_type_known(31));
  EXPECT_FALSE(record_type_known(38));
}

}  // namespace
}  // namespace hotq::wal
