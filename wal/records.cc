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
      .u8(0)  // durable_delivery: reserved until the option exists
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

}  // namespace hotq::wal
