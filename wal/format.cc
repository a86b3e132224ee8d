// wal/format.cc — see format.h and docs/wal-format.md.
#include "wal/format.h"

#include <xxhash.h>

#include <cstdio>

namespace hotq::wal {

std::uint64_t checksum(const void* p, std::size_t n) { return XXH3_64bits(p, n); }

bool record_type_known(std::uint16_t type) {
  return (type >= 1 && type <= 19) || (type >= 32 && type <= 37);
}

const char* record_type_name(std::uint16_t type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::queue_create: return "queue_create";
    case RecordType::queue_drop: return "queue_drop";
    case RecordType::enqueue: return "enqueue";
    case RecordType::publish: return "publish";
    case RecordType::publish_keyed: return "publish_keyed";
    case RecordType::reserve: return "reserve";
    case RecordType::extend: return "extend";
    case RecordType::ack: return "ack";
    case RecordType::nack: return "nack";
    case RecordType::expire: return "expire";
    case RecordType::dead: return "dead";
    case RecordType::redrive: return "redrive";
    case RecordType::cancel: return "cancel";
    case RecordType::purge: return "purge";
    case RecordType::pause: return "pause";
    case RecordType::set_priority: return "set_priority";
    case RecordType::set_delay: return "set_delay";
    case RecordType::bind: return "bind";
    case RecordType::delete_dead: return "delete_dead";
    case RecordType::snap_job: return "snap_job";
    case RecordType::snap_dedup_key: return "snap_dedup_key";
    case RecordType::snapshot_end: return "snapshot_end";
    case RecordType::snap_generations: return "snap_generations";
    case RecordType::snap_payload: return "snap_payload";
    case RecordType::snap_job_shared: return "snap_job_shared";
  }
  return "unknown";
}

const char* record_check_name(RecordCheck c) {
  switch (c) {
    case RecordCheck::ok: return "ok";
    case RecordCheck::truncated: return "truncated";
    case RecordCheck::bad_length: return "bad length";
    case RecordCheck::bad_checksum: return "bad checksum";
    case RecordCheck::bad_padding: return "non-zero padding";
    case RecordCheck::bad_type: return "unknown type";
  }
  return "?";
}

namespace {

bool all_zero(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

// ------------------------------------------------------------ segment header

void encode_segment_header(const SegmentHeader& h, char out[segment_header_bytes]) {
  std::memset(out, 0, segment_header_bytes);
  put_u32(out + 8, segment_magic);
  put_u16(out + 12, format_version);
  put_u64(out + 16, h.first_lsn);
  put_u64(out + 24, h.segment_bytes);
  put_u64(out + 32, static_cast<std::uint64_t>(h.wall_minus_clock_ns));
  put_u64(out, checksum(out + 8, segment_header_bytes - 8));
}

bool decode_segment_header(const char in[segment_header_bytes], SegmentHeader* h) {
  if (get_u64(in) != checksum(in + 8, segment_header_bytes - 8)) return false;
  if (get_u32(in + 8) != segment_magic || get_u16(in + 12) != format_version ||
      get_u16(in + 14) != 0 || !all_zero(in + 40, 24)) {
    return false;
  }
  h->first_lsn = get_u64(in + 16);
  h->segment_bytes = get_u64(in + 24);
  h->wall_minus_clock_ns = static_cast<std::int64_t>(get_u64(in + 32));
  return h->first_lsn != 0;
}

// ------------------------------------------------------------ group header

void encode_group_header(const GroupHeader& h, char out[group_header_bytes]) {
  std::memset(out, 0, group_header_bytes);
  put_u32(out + 8, group_magic);
  put_u32(out + 12, h.group_bytes);
  put_u64(out + 16, h.first_lsn);
  put_u32(out + 24, h.record_count);
  put_u64(out, checksum(out + 8, group_header_bytes - 8));
}

bool decode_group_header(const char in[group_header_bytes], GroupHeader* h) {
  if (get_u32(in + 8) != group_magic) return false;
  if (get_u64(in) != checksum(in + 8, group_header_bytes - 8)) return false;
  h->group_bytes = get_u32(in + 12);
  h->first_lsn = get_u64(in + 16);
  h->record_count = get_u32(in + 24);
  return get_u32(in + 28) == 0 && h->group_bytes % record_align_bytes == 0 &&
         h->group_bytes >= group_header_bytes + record_header_bytes &&
         h->group_bytes <= group_bytes_max && h->record_count != 0 &&
         h->record_count <= (h->group_bytes - group_header_bytes) / record_header_bytes &&
         h->first_lsn != 0;
}

// ------------------------------------------------------------ records

void encode_record(RecordType type, std::uint64_t lsn, std::string_view head,
                   std::string_view tail, char* out) {
  const std::size_t body_bytes = head.size() + tail.size();
  put_u32(out + 8, static_cast<std::uint32_t>(body_bytes));
  put_u16(out + 12, static_cast<std::uint16_t>(type));
  put_u16(out + 14, 0);
  put_u64(out + 16, lsn);
  if (!head.empty()) std::memcpy(out + record_header_bytes, head.data(), head.size());
  if (!tail.empty()) std::memcpy(out + record_header_bytes + head.size(), tail.data(), tail.size());
  const std::size_t end = record_header_bytes + body_bytes;
  std::memset(out + end, 0, record_span_bytes(body_bytes) - end);
  put_u64(out, checksum(out + 8, end - 8));
}

RecordCheck decode_record(const char* in, std::size_t avail, RecordHeader* h,
                          std::string_view* body) {
  if (avail < record_header_bytes) return RecordCheck::truncated;
  const std::uint32_t body_bytes = get_u32(in + 8);
  // The length is checked against what can be there before any hash reads
  // by it; the checksum then covers it too.
  if (body_bytes > record_body_bytes_max) return RecordCheck::bad_length;
  const std::uint64_t span = record_span_bytes(body_bytes);
  if (span > avail) return RecordCheck::truncated;
  const std::size_t end = record_header_bytes + body_bytes;
  if (get_u64(in) != checksum(in + 8, end - 8)) return RecordCheck::bad_checksum;
  if (!all_zero(in + end, span - end)) return RecordCheck::bad_padding;
  const std::uint16_t type = get_u16(in + 12);
  if (!record_type_known(type) || get_u16(in + 14) != 0) return RecordCheck::bad_type;
  h->body_bytes = body_bytes;
  h->type = type;
  h->lsn = get_u64(in + 16);
  *body = std::string_view(in + record_header_bytes, body_bytes);
  return RecordCheck::ok;
}

// ------------------------------------------------------------ names

namespace {

std::string numbered(const char* prefix, std::uint64_t n, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%020llu%s", prefix, static_cast<unsigned long long>(n), suffix);
  return buf;
}

bool parse_numbered(std::string_view name, std::string_view prefix, std::string_view suffix,
                    std::uint64_t* n) {
  if (name.size() != prefix.size() + 20 + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix)) {
    return false;
  }
  std::uint64_t v = 0;
  for (char c : name.substr(prefix.size(), 20)) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *n = v;
  return true;
}

}  // namespace

std::string segment_name(std::uint64_t first_lsn) { return numbered("wal-", first_lsn, ".log"); }
std::string snapshot_name(std::uint64_t covered_lsn) {
  return numbered("snap-", covered_lsn, ".snap");
}
bool parse_segment_name(std::string_view name, std::uint64_t* first_lsn) {
  return parse_numbered(name, "wal-", ".log", first_lsn);
}
bool parse_snapshot_name(std::string_view name, std::uint64_t* covered_lsn) {
  return parse_numbered(name, "snap-", ".snap", covered_lsn);
}

}  // namespace hotq::wal
