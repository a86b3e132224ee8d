// wal/format.h — constants and codecs of the WAL's on-disk format.
//
// The specification is docs/wal-format.md; every constant here names the
// section it comes from. Integers are little-endian and encoded field by
// field (no struct is written raw). Pure functions: safe from any thread.
#ifndef HOTQ_WAL_FORMAT_H_
#define HOTQ_WAL_FORMAT_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <hotq/options.h>

namespace hotq::wal {

// ------------------------------------------------------------ constants
// docs/wal-format.md "Segments".
// The public limits (hotq/options.h) are these: one source.
inline constexpr std::uint64_t segment_bytes_default = wal_segment_bytes_default;
inline constexpr std::uint64_t segment_bytes_min = wal_segment_bytes_min;
inline constexpr std::uint64_t segment_bytes_max = wal_segment_bytes_max;
inline constexpr std::uint64_t segment_align_bytes = 4096;
// "Segment header".
inline constexpr std::uint32_t segment_header_bytes = 64;
inline constexpr std::uint32_t segment_magic = 0x4C515448;  // "HTQL"
inline constexpr std::uint16_t format_version = 1;
// "Group".
inline constexpr std::uint32_t group_header_bytes = 32;
inline constexpr std::uint32_t group_magic = 0x50475448;  // "HTGP"
inline constexpr std::uint32_t sentinel_bytes = 32;  // zeros written after every group
inline constexpr std::uint32_t group_bytes_max = 128u << 20;  // a Log's own limit is lower: one group fits its segment
// "Record".
inline constexpr std::uint32_t record_header_bytes = 24;
inline constexpr std::uint32_t record_body_bytes_max = payload_bytes_limit + 4096;
inline constexpr std::uint32_t record_align_bytes = 8;
// "Snapshots".
inline constexpr std::uint32_t snapshot_header_bytes = 64;
inline constexpr std::uint32_t snapshot_magic = 0x53515448;  // "HTQS"

static_assert(segment_header_bytes % record_align_bytes == 0);
static_assert(group_header_bytes % record_align_bytes == 0);
static_assert(record_header_bytes % record_align_bytes == 0);
static_assert(segment_bytes_min % segment_align_bytes == 0);
// A group holding one largest record fits in a group and in a segment.
static_assert(group_header_bytes + record_header_bytes + record_body_bytes_max <=
              segment_bytes_max - segment_header_bytes);

// "Record types and bodies" (log) and "Snapshots" (snapshot-only types).
enum class RecordType : std::uint16_t {
  queue_create = 1,
  queue_drop = 2,
  enqueue = 3,
  publish = 4,
  reserve = 5,
  extend = 6,
  ack = 7,
  nack = 8,
  expire = 9,
  dead = 10,
  redrive = 11,
  cancel = 12,
  purge = 13,
  pause = 14,
  set_priority = 15,
  set_delay = 16,
  bind = 17,
  delete_dead = 18,
  publish_keyed = 19,
  snap_job = 32,
  snap_dedup_key = 33,
  snapshot_end = 34,
  snap_generations = 35,
  snap_payload = 36,
  snap_job_shared = 37,
};
bool record_type_known(std::uint16_t type);
const char* record_type_name(std::uint16_t type);

constexpr std::uint64_t align_up(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}
// Bytes a record takes in a group, padding included.
constexpr std::uint64_t record_span_bytes(std::uint64_t body_bytes) {
  return align_up(record_header_bytes + body_bytes, record_align_bytes);
}

// ------------------------------------------------------------ little-endian
inline void put_u16(char* p, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline std::uint16_t get_u16(const char* p) {
  std::uint16_t v = 0;
  for (int i = 1; i >= 0; --i) v = static_cast<std::uint16_t>(v << 8 | static_cast<std::uint8_t>(p[i]));
  return v;
}
inline std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<std::uint8_t>(p[i]);
  return v;
}
inline std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<std::uint8_t>(p[i]);
  return v;
}

// XXH3-64 of [p, p + n), seed 0.
std::uint64_t checksum(const void* p, std::size_t n);

// ------------------------------------------------------------ headers
struct SegmentHeader {
  std::uint64_t first_lsn = 0;
  std::uint64_t segment_bytes = 0;
  std::int64_t wall_minus_clock_ns = 0;
};
void encode_segment_header(const SegmentHeader& h, char out[segment_header_bytes]);
// False if the checksum, magic, version or a reserved field is wrong.
bool decode_segment_header(const char in[segment_header_bytes], SegmentHeader* h);

struct GroupHeader {
  std::uint32_t group_bytes = 0;
  std::uint64_t first_lsn = 0;
  std::uint32_t record_count = 0;
};
void encode_group_header(const GroupHeader& h, char out[group_header_bytes]);
// False if the checksum, magic or a field is out of range (group_bytes not a
// multiple of 8, below one record or above group_bytes_max; no records).
bool decode_group_header(const char in[group_header_bytes], GroupHeader* h);
// The magic alone: the cheap first test of a scan for a later group.
inline bool looks_like_group_header(const char* in) { return get_u32(in + 8) == group_magic; }

struct RecordHeader {
  std::uint32_t body_bytes = 0;
  std::uint16_t type = 0;
  std::uint64_t lsn = 0;
};
// Writes header, body (head then tail) and zero padding:
// record_span_bytes(head.size() + tail.size()) bytes.
void encode_record(RecordType type, std::uint64_t lsn, std::string_view head,
                   std::string_view tail, char* out);
inline void encode_record(RecordType type, std::uint64_t lsn, std::string_view body, char* out) {
  encode_record(type, lsn, body, {}, out);
}
// The header of the record at `in`, of which `avail` bytes are readable.
enum class RecordCheck : std::uint8_t { ok, truncated, bad_length, bad_checksum, bad_padding, bad_type };
const char* record_check_name(RecordCheck c);
RecordCheck decode_record(const char* in, std::size_t avail, RecordHeader* h, std::string_view* body);

// ------------------------------------------------------------ bodies
// Appends fields to a body (docs/wal-format.md "Record types and bodies").
class BodyWriter {
 public:
  explicit BodyWriter(std::string* out) : out_(out) {}
  BodyWriter& u8(std::uint8_t v) {
    out_->push_back(static_cast<char>(v));
    return *this;
  }
  BodyWriter& u16(std::uint16_t v) { return raw<2>(v); }
  BodyWriter& u32(std::uint32_t v) { return raw<4>(v); }
  BodyWriter& u64(std::uint64_t v) { return raw<8>(v); }
  BodyWriter& zeros(std::size_t n) {
    out_->append(n, '\0');
    return *this;
  }
  BodyWriter& str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_->append(s);
    return *this;
  }

 private:
  template <int N>
  BodyWriter& raw(std::uint64_t v) {
    for (int i = 0; i < N; ++i) out_->push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  std::string* out_;
};

// Reads fields of a body; any read past the end (or a string longer than
// what is left) sets failed() and yields zeros, so a decoder checks once at
// the end. Strings are views into the body.
class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : p_(body.data()), left_(body.size()) {}
  std::uint8_t u8() { return take(1) ? static_cast<std::uint8_t>(last_[0]) : 0; }
  std::uint16_t u16() { return take(2) ? get_u16(last_) : 0; }
  std::uint32_t u32() { return take(4) ? get_u32(last_) : 0; }
  std::uint64_t u64() { return take(8) ? get_u64(last_) : 0; }
  bool zeros(std::size_t n) {
    if (!take(n)) return false;
    for (std::size_t i = 0; i < n; ++i) {
      if (last_[i] != 0) return failed_ = true, false;
    }
    return true;
  }
  std::string_view str() {
    const std::uint32_t n = u32();
    return take(n) ? std::string_view(last_, n) : std::string_view();
  }
  bool failed() const { return failed_; }
  // True when every byte was read and nothing failed.
  bool done() const { return !failed_ && left_ == 0; }

 private:
  bool take(std::size_t n) {
    if (failed_ || n > left_) {
      failed_ = true;
      return false;
    }
    last_ = p_;
    p_ += n;
    left_ -= n;
    return true;
  }
  const char* p_;
  std::size_t left_;
  const char* last_ = nullptr;
  bool failed_ = false;
};

// Names: docs/wal-format.md "Directory".
std::string segment_name(std::uint64_t first_lsn);
std::string snapshot_name(std::uint64_t covered_lsn);
// Parses "wal-<20 digits>.log" / "snap-<20 digits>.snap"; false otherwise.
bool parse_segment_name(std::string_view name, std::uint64_t* first_lsn);
bool parse_snapshot_name(std::string_view name, std::uint64_t* covered_lsn);

}  // namespace hotq::wal

#endif  // HOTQ_WAL_FORMAT_H_
