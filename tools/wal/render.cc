// tools/wal/render.cc — see render.h. Field names follow docs/wal-format.md
// ("Record types and bodies", "Snapshots").
#include "tools/wal/render.h"

#include <hotq/job.h>

#include <cstdio>
#include <ctime>

#include "wal/records.h"

namespace hotq::waltool {

namespace {

const char* reason_name(std::uint8_t reason) {
  if (reason < 1 || reason > 3) return "none";
  return dead_reason_name(static_cast<DeadReason>(reason));
}

const char* state_name(std::uint8_t state) {
  if (state < 1 || state > 4) return "invalid";
  return job_state_name(static_cast<JobState>(state));
}

void queue_fields(const wal::QueueCreateRec& r, Fields* f) {
  const QueueOptions& o = r.options;
  f->push_back(Field::number("queue_id", r.queue_id));
  f->push_back(Field::str("name", r.name));
  f->push_back(Field::number("capacity_jobs_max", o.capacity_jobs_max));
  f->push_back(Field::number("priority_levels", o.priority_levels));
  f->push_back(Field::number("attempts_max", o.attempts_max));
  f->push_back(Field::number("lease_ms_default", o.lease_ms_default));
  f->push_back(Field::str("backoff", o.backoff.kind == Backoff::Kind::fixed ? "fixed" : "exponential"));
  f->push_back(Field::number("backoff_base_ms", o.backoff.base_ms));
  f->push_back(Field::number("backoff_cap_ms", o.backoff.cap_ms));
  f->push_back(Field::number("backoff_jitter_percent", o.backoff.jitter_percent));
  f->push_back(Field::str("ordering", o.ordering == Ordering::fifo ? "fifo" : "sharded"));
  f->push_back(Field::flag("expiry_counts_as_attempt", o.expiry_counts_as_attempt));
  f->push_back(Field::flag("durable_delivery", o.durable_delivery));
  f->push_back(Field::number("payload_bytes_max", o.payload_bytes_max));
  f->push_back(Field::number("leased_max", o.leased_max));
  f->push_back(Field::number("rate_tokens_per_interval", o.rate_limit.tokens_per_interval));
  f->push_back(Field::number("rate_interval_ms", o.rate_limit.interval_ms));
  f->push_back(Field::number("rate_burst_tokens", o.rate_limit.burst_tokens));
  f->push_back(Field::number("dedup_window_ms", o.dedup_window_ms));
  f->push_back(Field::number("dedup_keys_max", o.dedup_keys_max));
}

// The log's record bodies. False when the body does not decode.
bool describe_log(wal::RecordType type, std::string_view body, Fields* f) {
  using wal::RecordType;
  switch (type) {
    case RecordType::queue_create: {
      wal::QueueCreateRec r;
      if (!wal::decode(body, &r)) return false;
      queue_fields(r, f);
      return true;
    }
    case RecordType::queue_drop: {
      wal::QueueDropRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      return true;
    }
    case RecordType::enqueue: {
      wal::EnqueueRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::number("priority", r.priority));
      f->push_back(Field::when("enqueued", r.enqueued_ns));
      f->push_back(Field::when("run_at", r.run_at_ns));
      f->push_back(Field::number("attempts_max", r.attempts_max));
      f->push_back(Field::number("lease_ms", r.lease_ms));
      f->push_back(Field::str("dedup_key", r.dedup_key));
      f->push_back(Field::blob("payload", r.payload));
      return true;
    }
    case RecordType::publish:
    case RecordType::publish_keyed: {
      wal::PublishRec r;
      if (!wal::decode(type, body, &r)) return false;
      std::vector<std::uint64_t> queues, jobs, attempts;
      for (const wal::PublishTarget& t : r.targets) {
        queues.push_back(t.queue_id);
        jobs.push_back(t.job);
        attempts.push_back(t.attempts_max);
      }
      f->push_back(Field::str("topic", r.topic));
      f->push_back(Field::number("priority", r.priority));
      f->push_back(Field::ids("queue_ids", std::move(queues)));
      f->push_back(Field::ids("jobs", std::move(jobs)));
      f->push_back(Field::ids("attempts_max", std::move(attempts)));
      f->push_back(Field::when("enqueued", r.enqueued_ns));
      f->push_back(Field::when("run_at", r.run_at_ns));
      f->push_back(Field::number("lease_ms", r.lease_ms));
      if (type == RecordType::publish_keyed) f->push_back(Field::str("dedup_key", r.dedup_key));
      f->push_back(Field::blob("payload", r.payload));
      return true;
    }
    case RecordType::reserve: {
      wal::ReserveRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::number("token", r.token));
      f->push_back(Field::number("attempt", r.attempt));
      f->push_back(Field::when("deadline", r.deadline_ns));
      return true;
    }
    case RecordType::extend:
    case RecordType::ack:
    case RecordType::expire: {
      wal::LeaseRec r;
      if (!wal::decode(type, body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::number("token", r.token));
      if (type == RecordType::extend) f->push_back(Field::when("deadline", r.deadline_ns));
      return true;
    }
    case RecordType::nack: {
      wal::NackRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::number("token", r.token));
      f->push_back(Field::when("run_at", r.run_at_ns));
      f->push_back(Field::str("error", r.error));
      return true;
    }
    case RecordType::dead: {
      wal::DeadRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::str("reason", reason_name(r.reason)));
      f->push_back(Field::when("dead_at", r.dead_ns));
      f->push_back(Field::str("error", r.error));
      return true;
    }
    case RecordType::redrive:
    case RecordType::purge:
    case RecordType::delete_dead: {
      wal::JobListRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("count", r.jobs.size()));
      f->push_back(Field::ids("jobs", std::move(r.jobs)));
      return true;
    }
    case RecordType::cancel: {
      wal::CancelRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      return true;
    }
    case RecordType::pause: {
      wal::PauseRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::flag("paused", r.paused));
      return true;
    }
    case RecordType::set_priority: {
      wal::SetPriorityRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::number("priority", r.priority));
      return true;
    }
    case RecordType::set_delay: {
      wal::SetDelayRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::when("run_at", r.run_at_ns));
      return true;
    }
    case RecordType::bind: {
      wal::BindRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::flag("bound", r.bound));
      f->push_back(Field::str("topic", r.topic));
      return true;
    }
    default:
      return false;
  }
}

// The snapshot-only bodies, and the snapshot's queue_create.
bool describe_snapshot(wal::RecordType type, std::string_view body, Fields* f) {
  using wal::RecordType;
  switch (type) {
    case RecordType::queue_create: {
      wal::QueueCreateRec r;
      bool paused = false;
      if (!wal::decode_snapshot_queue(body, &r, &paused)) return false;
      queue_fields(r, f);
      f->push_back(Field::flag("paused", paused));
      return true;
    }
    case RecordType::snap_job:
    case RecordType::snap_job_shared: {
      wal::SnapJobRec r;
      const bool shared = type == RecordType::snap_job_shared;
      if (!(shared ? wal::decode_shared(body, &r) : wal::decode(body, &r))) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::str("state", state_name(r.state)));
      f->push_back(Field::number("priority", r.priority));
      f->push_back(Field::str("reason", reason_name(r.reason)));
      f->push_back(Field::number("nonce", r.nonce));
      f->push_back(Field::number("attempts", r.attempts));
      f->push_back(Field::number("attempts_max", r.attempts_max));
      f->push_back(Field::when("enqueued", r.enqueued_ns));
      f->push_back(Field::when("at", r.at_ns));
      f->push_back(Field::number("lease_ms", r.lease_ms));
      f->push_back(Field::number("order", r.order));
      f->push_back(Field::str("error", r.error));
      if (shared) {
        f->push_back(Field::number("payload_ref", r.payload_ref));
      } else {
        f->push_back(Field::blob("payload", r.payload));
      }
      return true;
    }
    case RecordType::snap_payload: {
      wal::SnapPayloadRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("ref", r.ref));
      f->push_back(Field::blob("payload", r.payload));
      return true;
    }
    case RecordType::snap_dedup_key: {
      wal::SnapDedupRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::number("queue_id", r.queue_id));
      f->push_back(Field::number("job", r.job));
      f->push_back(Field::when("first", r.first_ns));
      f->push_back(Field::str("key", r.key));
      return true;
    }
    case RecordType::snap_generations: {
      wal::SnapGenerationsRec r;
      if (!wal::decode(body, &r)) return false;
      f->push_back(Field::str("of", r.kind == wal::SnapGenerationsRec::Kind::slots ? "slots" : "queues"));
      f->push_back(Field::number("shard", r.shard));
      f->push_back(Field::number("first_index", r.first_index));
      f->push_back(Field::number("count", r.generations.size()));
      return true;
    }
    default:
      return describe_log(type, body, f);
  }
}

}  // namespace

Fields describe(wal::RecordType type, std::string_view body, bool snapshot) {
  Fields f;
  const bool ok = snapshot ? describe_snapshot(type, body, &f) : describe_log(type, body, &f);
  if (!ok) {
    f.clear();
    f.push_back(Field::str("decode_error", "body does not decode as this type"));
    f.push_back(Field::blob("body", body));
  }
  return f;
}

std::string format_time(std::uint64_t wall_ns) {
  if (wall_ns == 0) return "-";
  const std::time_t secs = static_cast<std::time_t>(wall_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(wall_ns % 1'000'000'000 / 1'000'000));
  return buf;
}

std::string escape_human(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out.push_back(ch);
        } else {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        }
    }
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out.push_back(ch);
        } else {
          // Each byte as the code point of its value: valid JSON for any
          // bytes, and the byte is read back as (code point & 0xff).
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        }
    }
  }
  out += '"';
  return out;
}

void append_human(const Fields& fields, std::string* out) {
  for (const Field& f : fields) {
    out->push_back(' ');
    out->append(f.key);
    out->push_back('=');
    switch (f.kind) {
      case Field::Kind::num:
        out->append(std::to_string(f.num));
        break;
      case Field::Kind::text:
        out->push_back('"');
        out->append(escape_human(f.text));
        out->push_back('"');
        break;
      case Field::Kind::bytes:
        out->append(std::to_string(f.bytes_total));
        out->append(":\"");
        out->append(escape_human(f.text));
        out->append(f.bytes_total > f.text.size() ? "\"..." : "\"");
        break;
      case Field::Kind::time:
        out->append(format_time(f.num));
        break;
      case Field::Kind::flag:
        out->append(f.num != 0 ? "yes" : "no");
        break;
      case Field::Kind::list: {
        out->push_back('[');
        for (std::size_t i = 0; i < f.list.size() && i < human_list_max; ++i) {
          if (i != 0) out->push_back(',');
          out->append(std::to_string(f.list[i]));
        }
        if (f.list.size() > human_list_max) {
          out->append(",... ");
          out->append(std::to_string(f.list.size() - human_list_max));
          out->append(" more");
        }
        out->push_back(']');
        break;
      }
    }
  }
}

void append_json(const Fields& fields, std::string* out) {
  for (const Field& f : fields) {
    out->push_back(',');
    switch (f.kind) {
      case Field::Kind::num:
        out->append(json_string(f.key));
        out->push_back(':');
        out->append(std::to_string(f.num));
        break;
      case Field::Kind::text:
        out->append(json_string(f.key));
        out->push_back(':');
        out->append(json_string(f.text));
        break;
      case Field::Kind::bytes:
        // "payload_bytes": the length, "payload_prefix": the first bytes.
        out->append(json_string(f.key + "_bytes"));
        out->push_back(':');
        out->append(std::to_string(f.bytes_total));
        out->push_back(',');
        out->append(json_string(f.key + "_prefix"));
        out->push_back(':');
        out->append(json_string(f.text));
        break;
      case Field::Kind::time:
        out->append(json_string(f.key + "_ns"));
        out->push_back(':');
        out->append(std::to_string(f.num));
        break;
      case Field::Kind::flag:
        out->append(json_string(f.key));
        out->append(f.num != 0 ? ":true" : ":false");
        break;
      case Field::Kind::list: {
        out->append(json_string(f.key));
        out->append(":[");
        for (std::size_t i = 0; i < f.list.size(); ++i) {
          if (i != 0) out->push_back(',');
          out->append(std::to_string(f.list[i]));
        }
        out->push_back(']');
        break;
      }
    }
  }
}

void JsonLine::key(std::string_view k) {
  if (out_.size() > 1) out_.push_back(',');
  out_.append(json_string(k));
  out_.push_back(':');
}

JsonLine& JsonLine::num(std::string_view k, std::uint64_t v) {
  key(k);
  out_.append(std::to_string(v));
  return *this;
}

JsonLine& JsonLine::signed_num(std::string_view k, std::int64_t v) {
  key(k);
  out_.append(std::to_string(v));
  return *this;
}

JsonLine& JsonLine::str(std::string_view k, std::string_view v) {
  key(k);
  out_.append(json_string(v));
  return *this;
}

JsonLine& JsonLine::flag(std::string_view k, bool v) {
  key(k);
  out_.append(v ? "true" : "false");
  return *this;
}

JsonLine& JsonLine::raw(std::string_view k, std::string_view json) {
  key(k);
  out_.append(json);
  return *this;
}

JsonLine& JsonLine::fields(const Fields& f) {
  if (out_.size() == 1) {
    // append_json writes a leading comma per field.
    std::string tail;
    append_json(f, &tail);
    if (!tail.empty()) out_.append(tail.substr(1));
    return *this;
  }
  append_json(f, &out_);
  return *this;
}

}  // namespace hotq::waltool
