// hotq/status.h — outcomes of hotq operations.
//
// hotq reports three kinds of outcome with three mechanisms (no exceptions
// cross the API):
//
//   * Expected results of the hot path — a full queue, nothing to reserve, a
//     stale lease — are a `Code`, returned directly or inside a `Result<T>`.
//     They are cheap: no allocation, no message.
//   * Operating errors — I/O failure, corruption, a locked directory — are a
//     `Status`: a `Code` plus a message naming the file, offset or call.
//   * Programmer errors — calling `value()` on a failed `Result`, breaking a
//     documented precondition — are checks that abort the process with the
//     expression and location. They are never silently ignored.
#ifndef HOTQ_STATUS_H_
#define HOTQ_STATUS_H_

#include <hotq/export.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace hotq {

// Every named outcome. Values are stable: they are part of the C API and may
// be logged. Add new codes at the end of their group only.
enum class Code : std::uint8_t {
  ok = 0,

  // Expected outcomes of the hot path.
  full = 1,            // back-pressure: the queue holds capacity_jobs_max jobs
  empty = 2,           // nothing ready to reserve
  timed_out = 3,       // a blocking call's timeout passed
  too_large = 4,       // payload longer than the queue's payload_bytes_max
  no_such_queue = 5,   // no queue by that name or id
  closed = 6,          // the engine or queue is shut down
  stale_lease = 7,     // the lease expired, was redelivered, or was settled
  duplicate = 8,       // dedup key seen inside the window
  paused = 9,          // the queue is paused: reserve hands out nothing
  rate_limited = 10,   // the queue's reserve rate limit has no token now
  no_such_job = 11,    // no live job by that id (or not in the asked state)
  leased_full = 12,    // the queue's leased_max jobs are leased already
  dedup_full = 13,     // the queue remembers dedup_keys_max keys: none can be added now

  // Caller errors: the request was refused, nothing changed.
  invalid_argument = 32,
  already_exists = 33,
  limit_exceeded = 34,  // a named engine limit (queues_max, ...) is reached
  not_supported = 35,   // not available with this engine's options (see docs/wal-format.md)

  // Operating errors: carry a message in a Status.
  io_error = 64,
  no_space = 65,
  corruption = 66,
  locked = 67,
  wal_failed = 68,  // an earlier fdatasync failed: nothing is durable now
  internal = 69,
};

// The enumerator's name, e.g. "stale_lease". Never null.
HOTQ_API const char* code_name(Code code) noexcept;

namespace detail {
// Prints "hotq: check failed: <what> at <file>:<line>" and aborts.
[[noreturn]] HOTQ_API void check_failed(const char* what, const char* file,
                                        int line) noexcept;
}  // namespace detail

// A Code plus, for errors, a message. Copying shares the message.
class [[nodiscard]] HOTQ_API Status {
 public:
  Status() noexcept = default;  // ok
  Status(Code code, std::string_view message);

  static Status Ok() noexcept { return Status(); }

  bool ok() const noexcept { return code_ == Code::ok; }
  Code code() const noexcept { return code_; }
  // Empty for ok and for codes made without a message.
  std::string_view message() const noexcept {
    return message_ ? std::string_view(*message_) : std::string_view();
  }
  // "ok", or "<code_name>: <message>".
  std::string to_string() const;

 private:
  Code code_ = Code::ok;
  std::shared_ptr<const std::string> message_;
};

// A value or a Code, for hot-path results. T must be default-constructible
// and cheap to move (ids, small structs, handles).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) noexcept(std::is_nothrow_move_constructible_v<T>)  // NOLINT
      : value_(std::move(value)) {}
  Result(Code code) noexcept : code_(code) {  // NOLINT
    if (code == Code::ok) detail::check_failed("Result(Code::ok) without a value", __FILE__, __LINE__);
  }
  // An outcome other than ok that still carries a value: Code::duplicate
  // carries the id of the job enqueued first with the same dedup key.
  Result(Code code, T value) noexcept(std::is_nothrow_move_constructible_v<T>)
      : code_(code), value_(std::move(value)), has_value_(true) {}

  bool ok() const noexcept { return code_ == Code::ok; }
  Code code() const noexcept { return code_; }
  // ok(), or an outcome that carries a value (see above).
  bool has_value() const noexcept { return has_value_; }

  // Precondition: has_value(). Checked always: reading a failed Result's
  // value is a programmer error.
  T& value() & { check_ok(); return value_; }
  const T& value() const& { check_ok(); return value_; }
  T&& value() && { check_ok(); return std::move(value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check_ok() const {
    if (!has_value_) detail::check_failed("Result::value() on an error", __FILE__, __LINE__);
  }
  Code code_ = Code::ok;
  T value_{};
  bool has_value_ = code_ == Code::ok;
};

}  // namespace hotq

#endif  // HOTQ_STATUS_H_
