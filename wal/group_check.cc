// wal/group_check.cc — see group_check.h.
#include "wal/group_check.h"

namespace hotq::wal {

bool check_group(std::string_view seg, std::uint64_t off, std::uint64_t expected_lsn,
                 std::vector<GroupRecord>* records, std::uint64_t* bytes, std::string* why,
                 bool* unknown_type) {
  records->clear();
  *unknown_type = false;
  if (off + group_header_bytes + sentinel_bytes > seg.size()) {
    *why = "group header runs past the end of the segment";
    return false;
  }
  GroupHeader gh;
  if (!decode_group_header(seg.data() + off, &gh)) {
    *why = "bad group header (checksum, magic or a field out of range)";
    return false;
  }
  if (gh.first_lsn != expected_lsn) {
    *why = "group starts at LSN " + std::to_string(gh.first_lsn) + ", expected " +
           std::to_string(expected_lsn);
    return false;
  }
  if (off + gh.group_bytes + sentinel_bytes > seg.size()) {
    *why = "group runs past the end of the segment";
    return false;
  }
  std::uint64_t at = off + group_header_bytes;
  const std::uint64_t end = off + gh.group_bytes;
  for (std::uint32_t i = 0; i < gh.record_count; ++i) {
    GroupRecord r;
    const RecordCheck c = decode_record(seg.data() + at, end - at, &r.header, &r.body);
    if (c != RecordCheck::ok) {
      *unknown_type = c == RecordCheck::bad_type;
      *why = "record " + std::to_string(i) + " at offset " + std::to_string(at) + ": " +
             record_check_name(c);
      return false;
    }
    if (r.header.lsn != expected_lsn + i) {
      *why = "record at offset " + std::to_string(at) + " has LSN " + std::to_string(r.header.lsn) +
             ", expected " + std::to_string(expected_lsn + i);
      return false;
    }
    r.offset = at;
    r.span = record_span_bytes(r.header.body_bytes);
    records->push_back(r);
    at += r.span;
  }
  if (at != end) {
    *why = "records end at offset " + std::to_string(at) + ", the group at " + std::to_string(end);
    return false;
  }
  *bytes = gh.group_bytes;
  return true;
}

bool later_group(std::string_view seg, std::uint64_t off, std::uint64_t expected_lsn,
                 std::uint64_t* found_at, std::uint64_t* found_lsn) {
  for (std::uint64_t at = off + record_align_bytes; at + group_header_bytes <= seg.size();
       at += record_align_bytes) {
    if (!looks_like_group_header(seg.data() + at)) continue;
    GroupHeader gh;
    if (decode_group_header(seg.data() + at, &gh) && gh.first_lsn >= expected_lsn) {
      *found_at = at;
      *found_lsn = gh.first_lsn;
      return true;
    }
  }
  return false;
}

bool all_zero(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

int read_all(File& f, std::string* out) {
  std::uint64_t size = 0;
  if (int rc = f.size(&size); rc != 0) return rc;
  out->resize(size);
  std::size_t got = 0;
  if (int rc = f.read(0, out->data(), size, &got); rc != 0) return rc;
  out->resize(got);
  return 0;
}

}  // namespace hotq::wal
