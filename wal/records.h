// wal/records.h — typed bodies of the log records the engine writes
// (docs/wal-format.md, "Record types and bodies"). encode_* append a body to
// a string; decode_* parse one and return false if any field is missing,
// a reserved byte is not zero, or bytes are left over.
#ifndef HOTQ_WAL_RECORDS_H_
#define HOTQ_WAL_RECORDS_H_

#include <hotq/options.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "wal/format.h"

namespace hotq::wal {

struct QueueCreateRec {
  std::uint32_t queue_id = 0;
  std::string_view name;
  QueueOptions options;
};
void encode(const QueueCreateRec& r, std::string* out);
bool decode(std::string_view body, QueueCreateRec* r);

// The payload is the record's tail: encode() writes everything before it,
// ending with the payload's length.
struct EnqueueRec {
  std::uint32_t queue_id = 0;
  std::uint8_t priority = 0;
  std::uint64_t job = 0;
  std::uint64_t enqueued_ns = 0;  // wall clock
  std::uint64_t run_at_ns = 0;    // wall clock; 0: ready now
  std::uint32_t attempts_max = 0;
  std::uint64_t lease_ms = 0;
  std::string_view dedup_key;
  std::string_view payload;
};
void encode_head(const EnqueueRec& r, std::string* out);  // then r.payload as the tail
bool decode(std::string_view body, EnqueueRec* r);

struct ReserveRec {
  std::uint32_t queue_id = 0;
  std::uint32_t attempt = 0;
  std::uint64_t job = 0;
  std::uint64_t token = 0;
  std::uint64_t deadline_ns = 0;  // wall clock
};
void encode(const ReserveRec& r, std::string* out);
bool decode(std::string_view body, ReserveRec* r);

// extend (deadline_ns set), ack and expire (deadline_ns unused) share a shape.
struct LeaseRec {
  std::uint32_t queue_id = 0;
  std::uint64_t job = 0;
  std::uint64_t token = 0;
  std::uint64_t deadline_ns = 0;
};
void encode(RecordType type, const LeaseRec& r, std::string* out);
bool decode(RecordType type, std::string_view body, LeaseRec* r);

struct NackRec {
  std::uint32_t queue_id = 0;
  std::uint64_t job = 0;
  std::uint64_t token = 0;
  std::uint64_t run_at_ns = 0;  // wall clock; 0: ready now
  std::string_view error;
};
void encode(const NackRec& r, std::string* out);
bool decode(std::string_view body, NackRec* r);

struct DeadRec {
  std::uint32_t queue_id = 0;
  std::uint8_t reason = 0;
  std::uint64_t job = 0;
  std::uint64_t dead_ns = 0;  // wall clock
  std::string_view error;
};
void encode(const DeadRec& r, std::string* out);
bool decode(std::string_view body, DeadRec* r);

}  // namespace hotq::wal

#endif  // HOTQ_WAL_RECORDS_H_
