// wal/group_check.h — checking one group of a segment as recovery reads it
// (docs/wal-format.md, "Recovery rules": a valid group, and the sign that a
// bad group is damage rather than a torn end). Shared by recovery
// (wal/recovery.cc) and the read-only inspector (tools/wal/inspect.cc), so
// that both judge a group the same way.
//
// Thread safety: pure functions over the caller's bytes.
#ifndef HOTQ_WAL_GROUP_CHECK_H_
#define HOTQ_WAL_GROUP_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wal/format.h"
#include "wal/fs.h"

namespace hotq::wal {

// One record of a checked group: a view into the segment's bytes.
struct GroupRecord {
  std::uint64_t offset = 0;  // of its header in the segment
  std::uint64_t span = 0;    // header + body + padding
  RecordHeader header;
  std::string_view body;
};

// Whether the group at `off` of `seg` is valid: its header (checksum, magic,
// fields), first LSN == expected_lsn, inside the segment with room for the
// sentinel after it, every record valid with consecutive LSNs, and the
// records filling it exactly. On success *records holds them and *bytes the
// group's size. Otherwise *why says what is wrong, and *unknown_type is set
// when the cause is an intact record of a type this version does not know
// (a newer writer's log: never a torn write).
bool check_group(std::string_view seg, std::uint64_t off, std::uint64_t expected_lsn,
                 std::vector<GroupRecord>* records, std::uint64_t* bytes, std::string* why,
                 bool* unknown_type);

// Whether a valid group header with an LSN >= expected_lsn lies after `off`
// (on record alignment): the sign that a bad group is damage, not a torn
// end. Where and with which first LSN in *found_at, *found_lsn.
bool later_group(std::string_view seg, std::uint64_t off, std::uint64_t expected_lsn,
                 std::uint64_t* found_at, std::uint64_t* found_lsn);

bool all_zero(const char* p, std::size_t n);

// The whole of `f` into *out (as much as there is: a file that shrinks
// meanwhile gives less). 0 or an errno.
int read_all(File& f, std::string* out);

}  // namespace hotq::wal

#endif  // HOTQ_WAL_GROUP_CHECK_H_
