// wal/records.h — typed bodies of the log records the engine writes
// (docs/wal-format.md, "Record types and bodies"). encode_* append a body to
// a string; decode_* parse one and return false if any field is missing,
// a reserved byte is not zero, or bytes are left over.
#ifndef HOTQ_WAL_RECORDS_H_
#define HOTQ_WAL_RECORDS_H_

#include <hotq/options.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

struct QueueDropRec {
  std::uint32_t queue_id = 0;
};
void encode(const QueueDropRec& r, std::string* out);
bool decode(std::string_view body, QueueDropRec* r);

// One job per bound queue, one payload for all (the record's tail).
struct PublishTarget {
  std::uint32_t queue_id = 0;
  std::uint32_t attempts_max = 0;
  std::uint64_t job = 0;
};
struct PublishRec {
  std::string_view topic;
  std::uint8_t priority = 0;
  std::uint64_t enqueued_ns = 0;  // wall clock
  std::uint64_t run_at_ns = 0;    // wall clock; 0: ready now
  std::uint64_t lease_ms = 0;
  std::vector<PublishTarget> targets;
  std::string_view dedup_key;  // non-empty: claimed in every target queue (publish_keyed)
  std::string_view payload;
};
// publish without a dedup key, publish_keyed with one: the key's string sits
// before the payload's (docs/wal-format.md).
RecordType publish_type(const PublishRec& r);
void encode_head(const PublishRec& r, std::string* out);  // then r.payload as the tail
// `type` is the record's: publish or publish_keyed.
bool decode(RecordType type, std::string_view body, PublishRec* r);

// redrive, purge and delete_dead: a queue and a list of its jobs.
inline constexpr std::uint32_t job_list_jobs_max = 1u << 16;  // per record
struct JobListRec {
  std::uint32_t queue_id = 0;
  std::vector<std::uint64_t> jobs;
};
void encode_job_list(std::uint32_t queue_id, std::span<const std::uint64_t> jobs, std::string* out);
bool decode(std::string_view body, JobListRec* r);

struct CancelRec {
  std::uint32_t queue_id = 0;
  std::uint64_t job = 0;
};
void encode(const CancelRec& r, std::string* out);
bool decode(std::string_view body, CancelRec* r);

struct PauseRec {
  std::uint32_t queue_id = 0;
  bool paused = false;
};
void encode(const PauseRec& r, std::string* out);
bool decode(std::string_view body, PauseRec* r);

struct SetPriorityRec {
  std::uint32_t queue_id = 0;
  std::uint8_t priority = 0;
  std::uint64_t job = 0;
};
void encode(const SetPriorityRec& r, std::string* out);
bool decode(std::string_view body, SetPriorityRec* r);

struct SetDelayRec {
  std::uint32_t queue_id = 0;
  std::uint64_t job = 0;
  std::uint64_t run_at_ns = 0;  // wall clock; 0: ready now
};
void encode(const SetDelayRec& r, std::string* out);
bool decode(std::string_view body, SetDelayRec* r);

struct BindRec {
  std::uint32_t queue_id = 0;
  bool bound = true;  // false: unbind
  std::string_view topic;
};
void encode(const BindRec& r, std::string* out);
bool decode(std::string_view body, BindRec* r);

// ---- snapshot-only shapes (docs/wal-format.md, "Snapshots")

// A queue_create body followed by `paused u8` and 7 zero bytes.
void encode_snapshot_queue(const QueueCreateRec& r, bool paused, std::string* out);
bool decode_snapshot_queue(std::string_view body, QueueCreateRec* r, bool* paused);

// One live job. snap_job: the payload is the tail. snap_job_shared: the
// same fields, then payload_ref, naming a snap_payload record written
// earlier in the snapshot (the jobs of one publish share its bytes).
struct SnapJobRec {
  std::uint32_t queue_id = 0;
  std::uint8_t state = 0;     // engine::RecordState: 1 delayed, 2 ready, 3 leased, 4 dead
  std::uint8_t priority = 0;
  std::uint8_t reason = 0;    // dead: DeadReason
  std::uint64_t job = 0;
  std::uint32_t nonce = 0;    // leased: the token's
  std::uint32_t attempts = 0;
  std::uint32_t attempts_max = 0;
  std::uint64_t enqueued_ns = 0;  // wall clock
  std::uint64_t at_ns = 0;        // wall clock: run-at, lease deadline or death
  std::uint64_t lease_ms = 0;
  std::uint64_t order = 0;        // ready: the LSN it became ready at
  std::string_view error;
  std::string_view payload;    // snap_job
  std::uint64_t payload_ref = 0;  // snap_job_shared: nonzero
};
void encode_head(const SnapJobRec& r, std::string* out);  // then r.payload as the tail
bool decode(std::string_view body, SnapJobRec* r);
void encode_shared(const SnapJobRec& r, std::string* out);  // snap_job_shared: no tail
bool decode_shared(std::string_view body, SnapJobRec* r);

// A payload that several snap_job_shared records name by ref (nonzero,
// unique within the snapshot); the payload is the tail.
struct SnapPayloadRec {
  std::uint64_t ref = 0;
  std::string_view payload;
};
void encode_head(const SnapPayloadRec& r, std::string* out);  // then r.payload as the tail
bool decode(std::string_view body, SnapPayloadRec* r);

struct SnapDedupRec {
  std::uint32_t queue_id = 0;
  std::uint64_t job = 0;
  std::uint64_t first_ns = 0;  // wall clock of the key's first enqueue
  std::string_view key;
};
void encode(const SnapDedupRec& r, std::string* out);
bool decode(std::string_view body, SnapDedupRec* r);

// The generations of slots or queue indexes, so that no job id or queue id
// is handed out twice across restarts: for slots `first_index ..` of job
// table shard `shard`, the generation of the last job each held (0: none);
// for queue indexes `first_index ..` (shard 0), the generation of the last
// queue each held.
struct SnapGenerationsRec {
  enum class Kind : std::uint8_t { slots = 1, queues = 2 };
  Kind kind = Kind::slots;
  std::uint32_t shard = 0;
  std::uint32_t first_index = 0;
  std::vector<std::uint32_t> generations;  // 1..snap_generations_max of them
};
inline constexpr std::uint32_t snap_generations_max = 1u << 16;  // per record
void encode(const SnapGenerationsRec& r, std::string* out);
bool decode(std::string_view body, SnapGenerationsRec* r);

}  // namespace hotq::wal

#endif  // HOTQ_WAL_RECORDS_H_
