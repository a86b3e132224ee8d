// wal/recovery.h — reading the log back at open (docs/wal-format.md,
// "Recovery rules", which this implements row by row).
//
// recover_log() validates every segment after the snapshot, hands each record
// with an LSN above the snapshot's to `apply` in LSN order (a group is handed
// over only once the whole group has been checked, so a torn group is never
// half applied), repairs a torn tail, and says where the writer goes on.
//
// Thread safety: runs alone, before the Log is opened on the same Fs.
#ifndef HOTQ_WAL_RECOVERY_H_
#define HOTQ_WAL_RECOVERY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "wal/format.h"
#include "wal/fs.h"
#include "wal/log_writer.h"

namespace hotq::wal {

struct LogRecord {
  RecordType type;
  std::uint64_t lsn;
  std::string_view body;  // valid during the call only
};

struct RecoveryReport {
  std::uint64_t records_applied = 0;
  std::uint64_t segments_read = 0;
  std::uint64_t last_lsn = 0;  // last valid LSN in the log (or the snapshot's)
  // A torn tail that was cut off (the writer died mid-write).
  bool torn_tail = false;
  std::string torn_segment;
  std::uint64_t torn_offset = 0;
  std::uint64_t torn_bytes = 0;  // bytes zeroed from torn_offset
  std::vector<std::string> notes;  // one line per repair or oddity, for the log
};

enum class RecoveryStatus : std::uint8_t {
  ok,
  io_error,  // the Fs failed: nothing was repaired past the failure
  corrupt,   // refuses to open: a bad record before valid ones, an LSN gap, a missing segment
  apply_failed,  // `apply` refused a record (its message says why)
};
const char* recovery_status_name(RecoveryStatus s);

// `covered_lsn`: the snapshot's (0 without one). `apply` returns false and
// sets *error to stop recovery (apply_failed).
using ApplyFn = std::function<bool(const LogRecord& record, std::string* error)>;

RecoveryStatus recover_log(Fs& fs, std::uint64_t covered_lsn, const ApplyFn& apply,
                           LogTail* tail, RecoveryReport* report, std::string* error);

// Read-only, while a Log writes: hands `apply` every record with
// after_lsn < LSN <= through_lsn from `segments` (a Log's current segments,
// oldest first), in LSN order. through_lsn must be durable (every group up to
// it is whole on disk), so anything short of it — a bad group, a gap, a
// missing segment — is corrupt; nothing is ever repaired or cut. Bytes after
// through_lsn (the writer's later groups) are never looked at.
RecoveryStatus read_log(Fs& fs, const std::vector<std::string>& segments, std::uint64_t after_lsn,
                        std::uint64_t through_lsn, const ApplyFn& apply,
                        std::uint64_t* records_applied, std::string* error);

}  // namespace hotq::wal

#endif  // HOTQ_WAL_RECOVERY_H_
