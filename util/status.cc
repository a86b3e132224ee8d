#include <hotq/status.h>

namespace hotq {

const char* code_name(Code code) noexcept {
  switch (code) {
    case Code::ok: return "ok";
    case Code::full: return "full";
    case Code::empty: return "empty";
    case Code::timed_out: return "timed_out";
    case Code::too_large: return "too_large";
    case Code::no_such_queue: return "no_such_queue";
    case Code::closed: return "closed";
    case Code::stale_lease: return "stale_lease";
    case Code::duplicate: return "duplicate";
    case Code::paused: return "paused";
    case Code::rate_limited: return "rate_limited";
    case Code::no_such_job: return "no_such_job";
    case Code::leased_full: return "leased_full";
    case Code::dedup_full: return "dedup_full";
    case Code::invalid_argument: return "invalid_argument";
    case Code::already_exists: return "already_exists";
    case Code::limit_exceeded: return "limit_exceeded";
    case Code::not_supported: return "not_supported";
    case Code::io_error: return "io_error";
    case Code::no_space: return "no_space";
    case Code::corruption: return "corruption";
    case Code::locked: return "locked";
    case Code::wal_failed: return "wal_failed";
    case Code::internal: return "internal";
  }
  return "unknown_code";
}

Status::Status(Code code, std::string_view message) : code_(code) {
  if (code != Code::ok && !message.empty()) {
    message_ = std::make_shared<const std::string>(message);
  }
}

std::string Status::to_string() const {
  std::string out = code_name(code_);
  if (message_) {
    out += ": ";
    out += *message_;
  }
  return out;
}

}  // namespace hotq
