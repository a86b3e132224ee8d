// wal/records.cc — see records.h; field order and widths are those of
// docs/wal-format.md.
#include "wal/records.h"

namespace hotq::wal {

// ------------------------------------------------------------ queue_create

void encode(const QueueCreateRec& r, std::string* out) {
  const QueueOptions& o = r.options;
  BodyWriter(out)
      .u32(r.queue_id)
      .str(r.name)
      .u64(o.capacity_jobs_max)
      .u32(o.priority_levels)
      .u32(o.attempts_max)
      .u64(o.lease_ms_default)
      .u8(static_cast<std::uint8_t>(o.backoff.kind))
      .u8(static_cast<std::uint8_t>(o.ordering))
      .u8(o.expiry_counts_as_attempt ? 1 : 0)
      .u8(o.durable_delivery ? 1 : 0)
      .u32(o.backoff.jitter_percent)
      .u64(o.backoff.base_ms)
      .u64(o.backoff.cap_ms)
      .u32(o.payload_bytes_max)
      .zeros(4)
      .u64(o.leased_max)
      .u64(o.rate_limit.tokens_per_interval)
      .u64(o.rate_limit.interval_ms)
      .u64(o.rate_limit.burst_tokens)
      .u64(o.dedup_window_ms)
      .u64(o.dedup_keys_max);
}

bool decode(std::string_view body, QueueCreateRec* r) {
  BodyReader in(body);
  QueueOptions& o = r->options;
  r->queue_id = in.u32();
  r->name = in.str();
  o.capacity_jobs_max = in.u64();
  o.priority_levels = in.u32();
  o.attempts_max = in.u32();
  o.lease_ms_default = in.u64();
  const std::uint8_t kind = in.u8();
  const std::uint8_t ordering = in.u8();
  const std::uint8_t expiry = in.u8();
  const std::uint8_t durable_delivery = in.u8();
  o.backoff.jitter_percent = in.u32();
  o.backoff.base_ms = in.u64();
  o.backoff.cap_ms = in.u64();
  o.payload_bytes_max = in.u32();
  in.zeros(4);
  o.leased_max = in.u64();
  o.rate_limit.tokens_per_interval = in.u64();
  o.rate_limit.interval_ms = in.u64();
  o.rate_limit.burst_tokens = in.u64();
  o.dedup_window_ms = in.u64();
  o.dedup_keys_max = in.u64();
  if (kind > 1 || ordering > 1 || expiry > 1 || durable_delivery > 1) return false;
  o.backoff.kind = static_cast<Backoff::Kind>(kind);
  o.ordering = static_cast<Ordering>(ordering);
  o.expiry_counts_as_attempt = expiry == 1;
  o.durable_delivery = durable_delivery == 1;
  return in.done();
}

// ------------------------------------------------------------ enqueue

void encode_head(const EnqueueRec& r, std::string* out) {
  BodyWriter(out)
      .u32(r.queue_id)
      .u8(r.priority)
      .zeros(3)
      .u64(r.job)
      .u64(r.enqueued_ns)
      .u64(r.run_at_ns)
      .u32(r.attempts_max)
      .u64(r.lease_ms)
      .str(r.dedup_key)
      .u32(static_cast<std::uint32_t>(r.payload.size()));
}

bool decode(std::string_view body, EnqueueRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  r->priority = in.u8();
  in.zeros(3);
  r->job = in.u64();
  r->enqueued_ns = in.u64();
  r->run_at_ns = in.u64();
  r->attempts_max = in.u32();
  r->lease_ms = in.u64();
  r->dedup_key = in.str();
  r->payload = in.str();
  return in.done();
}

// ------------------------------------------------------------ leases

void encode(const ReserveRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).u32(r.attempt).u64(r.job).u64(r.token).u64(r.deadline_ns);
}

bool decode(std::string_view body, ReserveRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  r->attempt = in.u32();
  r->job = in.u64();
  r->token = in.u64();
  r->deadline_ns = in.u64();
  return in.done();
}

void encode(RecordType type, const LeaseRec& r, std::string* out) {
  BodyWriter w(out);
  w.u32(r.queue_id).zeros(4).u64(r.job).u64(r.token);
  if (type == RecordType::extend) w.u64(r.deadline_ns);
}

bool decode(RecordType type, std::string_view body, LeaseRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  in.zeros(4);
  r->job = in.u64();
  r->token = in.u64();
  r->deadline_ns = type == RecordType::extend ? in.u64() : 0;
  return in.done();
}

void encode(const NackRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).zeros(4).u64(r.job).u64(r.token).u64(r.run_at_ns).str(r.error);
}

bool decode(std::string_view body, NackRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  in.zeros(4);
  r->job = in.u64();
  r->token = in.u64();
  r->run_at_ns = in.u64();
  r->error = in.str();
  return in.done();
}

void encode(const DeadRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).u8(r.reason).zeros(3).u64(r.job).u64(r.dead_ns).str(r.error);
}

bool decode(std::string_view body, DeadRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  r->reason = in.u8();
  in.zeros(3);
  r->job = in.u64();
  r->dead_ns = in.u64();
  r->error = in.str();
  return in.done() && r->reason >= 1 && r->reason <= 3;
}

// ------------------------------------------------------------ queue operations

void encode(const QueueDropRec& r, std::string* out) { BodyWriter(out).u32(r.queue_id); }

bool decode(std::string_view body, QueueDropRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  return in.done();
}

RecordType publish_type(const PublishRec& r) {
  return r.dedup_key.empty() ? RecordType::publish : RecordType::publish_keyed;
}

void encode_head(const PublishRec& r, std::string* out) {
  BodyWriter w(out);
  w.str(r.topic).u8(r.priority).zeros(3).u32(static_cast<std::uint32_t>(r.targets.size()));
  for (const PublishTarget& t : r.targets) w.u32(t.queue_id).u32(t.attempts_max).u64(t.job);
  w.u64(r.enqueued_ns).u64(r.run_at_ns).u64(r.lease_ms);
  if (!r.dedup_key.empty()) w.str(r.dedup_key);
  w.u32(static_cast<std::uint32_t>(r.payload.size()));
}

bool decode(RecordType type, std::string_view body, PublishRec* r) {
  if (type != RecordType::publish && type != RecordType::publish_keyed) return false;
  BodyReader in(body);
  r->topic = in.str();
  r->priority = in.u8();
  in.zeros(3);
  const std::uint32_t n = in.u32();
  // Each target takes 16 bytes: a count the body cannot hold is refused
  // before anything is allocated for it.
  if (in.failed() || n == 0 || n > body.size() / 16) return false;
  r->targets.resize(n);
  for (PublishTarget& t : r->targets) {
    t.queue_id = in.u32();
    t.attempts_max = in.u32();
    t.job = in.u64();
  }
  r->enqueued_ns = in.u64();
  r->run_at_ns = in.u64();
  r->lease_ms = in.u64();
  r->dedup_key = type == RecordType::publish_keyed ? in.str() : std::string_view();
  r->payload = in.str();
  // A keyed record without its key could not be told from a plain one.
  return in.done() && (type == RecordType::publish) == r->dedup_key.empty();
}

void encode_job_list(std::uint32_t queue_id, std::span<const std::uint64_t> jobs, std::string* out) {
  BodyWriter w(out);
  w.u32(queue_id).u32(static_cast<std::uint32_t>(jobs.size()));
  for (std::uint64_t j : jobs) w.u64(j);
}

bool decode(std::string_view body, JobListRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  const std::uint32_t n = in.u32();
  if (in.failed() || n == 0 || n > job_list_jobs_max || n > body.size() / 8) return false;
  r->jobs.resize(n);
  for (std::uint64_t& j : r->jobs) j = in.u64();
  return in.done();
}

void encode(const CancelRec& r, std::string* out) { BodyWriter(out).u32(r.queue_id).zeros(4).u64(r.job); }

bool decode(std::string_view body, CancelRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  in.zeros(4);
  r->job = in.u64();
  return in.done();
}

void encode(const PauseRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).u8(r.paused ? 1 : 0).zeros(3);
}

bool decode(std::string_view body, PauseRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  const std::uint8_t paused = in.u8();
  in.zeros(3);
  r->paused = paused == 1;
  return in.done() && paused <= 1;
}

void encode(const SetPriorityRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).u8(r.priority).zeros(3).u64(r.job);
}

bool decode(std::string_view body, SetPriorityRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  r->priority = in.u8();
  in.zeros(3);
  r->job = in.u64();
  return in.done() && r->priority < priority_levels_max;
}

void encode(const SetDelayRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).zeros(4).u64(r.job).u64(r.run_at_ns);
}

bool decode(std::string_view body, SetDelayRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  in.zeros(4);
  r->job = in.u64();
  r->run_at_ns = in.u64();
  return in.done();
}

void encode(const BindRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).u8(r.bound ? 1 : 0).zeros(3).str(r.topic);
}

bool decode(std::string_view body, BindRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  const std::uint8_t bound = in.u8();
  in.zeros(3);
  r->topic = in.str();
  r->bound = bound == 1;
  return in.done() && bound <= 1;
}

// ------------------------------------------------------------ snapshots

void encode_snapshot_queue(const QueueCreateRec& r, bool paused, std::string* out) {
  encode(r, out);
  BodyWriter(out).u8(paused ? 1 : 0).zeros(7);
}

bool decode_snapshot_queue(std::string_view body, QueueCreateRec* r, bool* paused) {
  if (body.size() < 8) return false;
  const std::string_view trailer = body.substr(body.size() - 8);
  BodyReader in(trailer);
  const std::uint8_t p = in.u8();
  in.zeros(7);
  *paused = p == 1;
  return in.done() && p <= 1 && decode(body.substr(0, body.size() - 8), r);
}

namespace {

// The fields snap_job and snap_job_shared have in common, up to the error.
BodyWriter snap_job_fields(const SnapJobRec& r, std::string* out) {
  BodyWriter w(out);
  w.u32(r.queue_id)
      .u8(r.state)
      .u8(r.priority)
      .u8(r.reason)
      .zeros(1)
      .u64(r.job)
      .u32(r.nonce)
      .u32(r.attempts)
      .u32(r.attempts_max)
      .zeros(4)
      .u64(r.enqueued_ns)
      .u64(r.at_ns)
      .u64(r.lease_ms)
      .u64(r.order)
      .str(r.error);
  return w;
}

void read_snap_job_fields(BodyReader& in, SnapJobRec* r) {
  r->queue_id = in.u32();
  r->state = in.u8();
  r->priority = in.u8();
  r->reason = in.u8();
  in.zeros(1);
  r->job = in.u64();
  r->nonce = in.u32();
  r->attempts = in.u32();
  r->attempts_max = in.u32();
  in.zeros(4);
  r->enqueued_ns = in.u64();
  r->at_ns = in.u64();
  r->lease_ms = in.u64();
  r->order = in.u64();
  r->error = in.str();
}

bool snap_job_fields_valid(const SnapJobRec& r) {
  return r.state >= 1 && r.state <= 4 && r.priority < priority_levels_max && r.reason <= 3;
}

}  // namespace

void encode_head(const SnapJobRec& r, std::string* out) {
  snap_job_fields(r, out).u32(static_cast<std::uint32_t>(r.payload.size()));
}

bool decode(std::string_view body, SnapJobRec* r) {
  BodyReader in(body);
  read_snap_job_fields(in, r);
  r->payload = in.str();
  r->payload_ref = 0;
  return in.done() && snap_job_fields_valid(*r);
}

void encode_shared(const SnapJobRec& r, std::string* out) {
  snap_job_fields(r, out).u64(r.payload_ref);
}

bool decode_shared(std::string_view body, SnapJobRec* r) {
  BodyReader in(body);
  read_snap_job_fields(in, r);
  r->payload = {};
  r->payload_ref = in.u64();
  return in.done() && snap_job_fields_valid(*r) && r->payload_ref != 0;
}

void encode_head(const SnapPayloadRec& r, std::string* out) {
  BodyWriter(out).u64(r.ref).u32(static_cast<std::uint32_t>(r.payload.size()));
}

bool decode(std::string_view body, SnapPayloadRec* r) {
  BodyReader in(body);
  r->ref = in.u64();
  r->payload = in.str();
  return in.done() && r->ref != 0;
}

void encode(const SnapDedupRec& r, std::string* out) {
  BodyWriter(out).u32(r.queue_id).zeros(4).u64(r.job).u64(r.first_ns).str(r.key);
}

bool decode(std::string_view body, SnapDedupRec* r) {
  BodyReader in(body);
  r->queue_id = in.u32();
  in.zeros(4);
  r->job = in.u64();
  r->first_ns = in.u64();
  r->key = in.str();
  return in.done() && !r->key.empty() && r->key.size() <= dedup_key_bytes_max;
}

void encode(const SnapGenerationsRec& r, std::string* out) {
  BodyWriter w(out);
  w.u8(static_cast<std::uint8_t>(r.kind)).zeros(3).u32(r.shard).u32(r.first_index);
  w.u32(static_cast<std::uint32_t>(r.generations.size()));
  for (std::uint32_t g : r.generations) w.u32(g);
}

bool decode(std::string_view body, SnapGenerationsRec* r) {
  BodyReader in(body);
  const std::uint8_t kind = in.u8();
  in.zeros(3);
  r->shard = in.u32();
  r->first_index = in.u32();
  const std::uint32_t n = in.u32();
  if (in.failed() || n == 0 || n > snap_generations_max || n > body.size() / 4) return false;
  const std::uint64_t end = std::uint64_t{r->first_index} + n;
  if (kind == static_cast<std::uint8_t>(SnapGenerationsRec::Kind::slots)) {
    if (r->shard >= shards_max || end > shard_jobs_max) return false;
  } else if (kind == static_cast<std::uint8_t>(SnapGenerationsRec::Kind::queues)) {
    if (r->shard != 0 || end > queues_max) return false;
  } else {
    return false;
  }
  r->kind = static_cast<SnapGenerationsRec::Kind>(kind);
  r->generations.resize(n);
  for (std::uint32_t& g : r->generations) g = in.u32();
  return in.done();
}

}  // namespace hotq::wal
