// fuzz/spec.h — the WAL format as docs/wal-format.md states it, written a
// second time for the fuzz targets' oracles.
//
// Why a second copy: the oracle "nothing with a wrong checksum is accepted"
// is worthless if it asks the code under test whether the checksum is right.
// So the checksums here are recomputed with xxhash.h directly over the byte
// ranges the document names, never through wal::checksum or wal/format.cc,
// and the layout constants are the document's numbers, checked against
// wal/format.h at compile time (a mismatch means doc and code disagree).
//
// Also here: the "fix" functions, which give a mutated input correct
// checksums again (header, group, record, snapshot chain) so that the
// fuzzer gets past the checksums to the checks and decoders behind them.
// A fix never touches anything but checksum fields, the segment header's
// length field and the snapshot end record's count and chain.
//
// Pure functions; the fuzz targets are single-threaded.
#ifndef HOTQ_FUZZ_SPEC_H_
#define HOTQ_FUZZ_SPEC_H_

#include <hotq/options.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "wal/format.h"

namespace hotq::fuzz {

// An oracle failed: print what and where, then stop the process the way
// libFuzzer reports as a crash (and saves the input as an artifact).
[[noreturn]] inline void violation(const char* what, const char* file, int line) {
  std::fprintf(stderr, "\n== hotq fuzz oracle violated: %s (%s:%d)\n", what, file, line);
  std::fflush(stderr);
  __builtin_trap();
}
#define HOTQ_FUZZ_REQUIRE(cond) \
  ((cond) ? static_cast<void>(0) : ::hotq::fuzz::violation(#cond, __FILE__, __LINE__))

namespace spec {

// docs/wal-format.md, section by section.
inline constexpr std::size_t segment_header_bytes = 64;  // "Segment header"
inline constexpr std::uint32_t segment_magic = 0x4C515448;
inline constexpr std::size_t group_header_bytes = 32;  // "Group"
inline constexpr std::uint32_t group_magic = 0x50475448;
inline constexpr std::size_t record_header_bytes = 24;  // "Record"
inline constexpr std::uint32_t record_body_bytes_max = payload_bytes_limit + 4096;
inline constexpr std::size_t snapshot_header_bytes = 64;  // "Snapshots"
inline constexpr std::uint32_t snapshot_magic = 0x53515448;
inline constexpr std::uint16_t version = 1;
inline constexpr std::uint16_t type_snapshot_end = 34;

static_assert(segment_header_bytes == wal::segment_header_bytes);
static_assert(segment_magic == wal::segment_magic);
static_assert(group_header_bytes == wal::group_header_bytes);
static_assert(group_magic == wal::group_magic);
static_assert(record_header_bytes == wal::record_header_bytes);
static_assert(record_body_bytes_max == wal::record_body_bytes_max);
static_assert(snapshot_header_bytes == wal::snapshot_header_bytes);
static_assert(snapshot_magic == wal::snapshot_magic);
static_assert(version == wal::format_version);
static_assert(type_snapshot_end == static_cast<std::uint16_t>(wal::RecordType::snapshot_end));

// "Record types and bodies" and "Snapshots": the types a reader knows.
inline bool type_known(std::uint16_t type) {
  return (type >= 1 && type <= 19) || (type >= 32 && type <= 37);
}

inline std::uint64_t xxh3(const char* p, std::size_t n) { return XXH3_64bits(p, n); }

// Little-endian fields ("Every integer on disk is little-endian").
inline std::uint64_t le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint16_t le16(const char* p) { return static_cast<std::uint16_t>(le(p, 2)); }
inline std::uint32_t le32(const char* p) { return static_cast<std::uint32_t>(le(p, 4)); }
inline std::uint64_t le64(const char* p) { return le(p, 8); }
inline void put_le64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

inline bool all_zero(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

inline std::size_t record_span(std::uint32_t body_bytes) {
  return (record_header_bytes + body_bytes + 7) / 8 * 8;
}

// "Record": the record at `p` of which `avail` bytes exist, as the document
// defines a valid one: length in range and inside `avail` (padding
// included), checksum = XXH3-64 of bytes 8..(24 + body_bytes), zero padding,
// a known type, zero reserved field.
struct Record {
  std::uint32_t body_bytes = 0;
  std::uint16_t type = 0;
  std::uint64_t lsn = 0;
  std::size_t span = 0;  // header + body + padding
};
inline bool record_valid(const char* p, std::size_t avail, Record* out) {
  if (avail < record_header_bytes) return false;
  const std::uint32_t body_bytes = le32(p + 8);
  if (body_bytes > record_body_bytes_max) return false;
  const std::size_t span = record_span(body_bytes);
  if (span > avail) return false;
  const std::size_t end = record_header_bytes + body_bytes;
  if (le64(p) != xxh3(p + 8, end - 8)) return false;
  if (!all_zero(p + end, span - end)) return false;
  const std::uint16_t type = le16(p + 12);
  if (!type_known(type) || le16(p + 14) != 0) return false;
  *out = Record{body_bytes, type, le64(p + 16), span};
  return true;
}

// A record a reader handed to its apply callback. `body` points into the
// reader's copy of the file, where the format puts the record's header right
// before the body: that header must describe this record and its checksum
// (recomputed here) must be right. ASan reports it if the bytes before the
// body are not the reader's.
inline bool handed_record_valid(std::uint16_t type, std::uint64_t lsn, std::string_view body) {
  const char* h = body.data() - record_header_bytes;
  return le64(h) == xxh3(h + 8, record_header_bytes - 8 + body.size()) &&
         le32(h + 8) == body.size() && le16(h + 12) == type && le16(h + 14) == 0 &&
         le64(h + 16) == lsn && type_known(type);
}

// "Group": header checksum over bytes 8..32 and the magic (the range checks
// on group_bytes and record_count are the reader's business).
inline bool group_header_checksum_ok(const char* p) {
  return le32(p + 8) == group_magic && le64(p) == xxh3(p + 8, group_header_bytes - 8);
}

// "Segment header": checksum over bytes 8..64, magic, version, zero reserved.
inline bool segment_header_valid(const char* p) {
  return le64(p) == xxh3(p + 8, segment_header_bytes - 8) && le32(p + 8) == segment_magic &&
         le16(p + 12) == version && le16(p + 14) == 0 && all_zero(p + 40, 24);
}

// "Snapshots": the header, then records numbered 1, 2, ... and one
// snapshot_end whose count and chain match, ending exactly at the end of the
// file. chain = XXH3_64bits_withSeed(record bytes incl. padding, chain).
inline bool snapshot_valid(std::string_view file, std::uint64_t* covered_lsn) {
  const char* p = file.data();
  if (file.size() < snapshot_header_bytes) return false;
  if (le64(p) != xxh3(p + 8, snapshot_header_bytes - 8) || le32(p + 8) != snapshot_magic ||
      le16(p + 12) != version || le16(p + 14) != 0 || !all_zero(p + 32, 32)) {
    return false;
  }
  *covered_lsn = le64(p + 16);
  std::size_t at = snapshot_header_bytes;
  std::uint64_t chain = 0;
  for (std::uint64_t n = 1; at < file.size(); ++n) {
    Record r;
    if (!record_valid(p + at, file.size() - at, &r) || r.lsn != n) return false;
    if (r.type == type_snapshot_end) {
      const char* body = p + at + record_header_bytes;
      return r.body_bytes == 16 && le64(body) == n - 1 && le64(body + 8) == chain &&
             at + r.span == file.size();
    }
    chain = XXH3_64bits_withSeed(p + at, r.span, chain);
    at += r.span;
  }
  return false;  // no end record
}

// ------------------------------------------------------------ fixes

// Rewrites the record checksum at `p` if its header and body are inside
// `avail`. Returns the record's span (0: not a whole record).
inline std::size_t fix_record(char* p, std::size_t avail) {
  if (avail < record_header_bytes) return 0;
  const std::uint32_t body_bytes = le32(p + 8);
  if (body_bytes > record_body_bytes_max || record_header_bytes + body_bytes > avail) return 0;
  put_le64(p, xxh3(p + 8, record_header_bytes + body_bytes - 8));
  const std::size_t span = record_span(body_bytes);
  return span <= avail ? span : 0;
}

// A segment: the header's segment_bytes becomes the file's length and its
// checksum is rewritten; then every group that has the magic where the
// previous one ended gets its records' and its own checksum rewritten.
inline void fix_segment(std::string* seg) {
  char* p = seg->data();
  const std::size_t size = seg->size();
  if (size < segment_header_bytes) return;
  put_le64(p + 24, size);
  put_le64(p, xxh3(p + 8, segment_header_bytes - 8));
  for (std::size_t off = segment_header_bytes; off + group_header_bytes <= size;) {
    char* g = p + off;
    if (le32(g + 8) != group_magic) return;
    const std::uint32_t group_bytes = le32(g + 12);
    const std::uint32_t count = le32(g + 24);
    const std::size_t end = size - off < group_bytes ? size : off + group_bytes;
    std::size_t at = off + group_header_bytes;
    for (std::uint32_t i = 0; i < count && at < end; ++i) {
      const std::size_t span = fix_record(p + at, end - at);
      if (span == 0) break;
      at += span;
    }
    put_le64(g, xxh3(g + 8, group_header_bytes - 8));
    if (group_bytes < group_header_bytes || group_bytes % 8 != 0) return;
    off += group_bytes;
  }
}

// A snapshot: header checksum, every record's checksum, and the end
// record's count and chain (when its body has the 16 bytes for them).
inline void fix_snapshot(std::string* snap) {
  char* p = snap->data();
  const std::size_t size = snap->size();
  if (size < snapshot_header_bytes) return;
  put_le64(p, xxh3(p + 8, snapshot_header_bytes - 8));
  std::uint64_t chain = 0;
  std::uint64_t count = 0;
  for (std::size_t at = snapshot_header_bytes; at + record_header_bytes <= size;) {
    char* r = p + at;
    if (le16(r + 12) == type_snapshot_end && le32(r + 8) == 16 &&
        at + record_header_bytes + 16 <= size) {
      put_le64(r + record_header_bytes, count);
      put_le64(r + record_header_bytes + 8, chain);
      fix_record(r, size - at);
      return;
    }
    const std::size_t span = fix_record(r, size - at);
    if (span == 0) return;
    chain = XXH3_64bits_withSeed(r, span, chain);
    ++count;
    at += span;
  }
}

}  // namespace spec
}  // namespace hotq::fuzz

#endif  // HOTQ_FUZZ_SPEC_H_
