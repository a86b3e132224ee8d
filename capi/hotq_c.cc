// capi/hotq_c.cc — the C API (include/hotq/hotq.h) over hotq::Engine.
//
// Every exported function is noexcept at the boundary: its body runs inside
// guard(), which turns std::bad_alloc into HOTQ_NO_MEMORY and any other
// exception into HOTQ_INTERNAL (a C caller cannot unwind a C++ exception).
// Arguments the C++ API would treat as programmer errors (HOTQ_CHECK aborts:
// a short ids span, a NULL pointer) are checked here first and refused with
// HOTQ_INVALID_ARGUMENT, so no C input can abort the process.
// First: proves hotq.h stands alone as C++.
#include <hotq/hotq.h>

#include "capi/hotq_c_internal.h"

#include <hotq/clock.h>
#include <hotq/engine.h>
#include <hotq/prometheus.h>
#include <hotq/version.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using hotq::Code;

// ---------------------------------------------------------------- codes

// One case per hotq::Code and no default: -Wswitch (an error under
// HOTQ_WERROR) fails the build when a Code is added without a C mirror.
hotq_code to_c(Code code) noexcept {
  switch (code) {
    case Code::ok: return HOTQ_OK;
    case Code::full: return HOTQ_FULL;
    case Code::empty: return HOTQ_EMPTY;
    case Code::timed_out: return HOTQ_TIMED_OUT;
    case Code::too_large: return HOTQ_TOO_LARGE;
    case Code::no_such_queue: return HOTQ_NO_SUCH_QUEUE;
    case Code::closed: return HOTQ_CLOSED;
    case Code::stale_lease: return HOTQ_STALE_LEASE;
    case Code::duplicate: return HOTQ_DUPLICATE;
    case Code::paused: return HOTQ_PAUSED;
    case Code::rate_limited: return HOTQ_RATE_LIMITED;
    case Code::no_such_job: return HOTQ_NO_SUCH_JOB;
    case Code::leased_full: return HOTQ_LEASED_FULL;
    case Code::dedup_full: return HOTQ_DEDUP_FULL;
    case Code::invalid_argument: return HOTQ_INVALID_ARGUMENT;
    case Code::already_exists: return HOTQ_ALREADY_EXISTS;
    case Code::limit_exceeded: return HOTQ_LIMIT_EXCEEDED;
    case Code::not_supported: return HOTQ_NOT_SUPPORTED;
    case Code::io_error: return HOTQ_IO_ERROR;
    case Code::no_space: return HOTQ_NO_SPACE;
    case Code::corruption: return HOTQ_CORRUPTION;
    case Code::locked: return HOTQ_LOCKED;
    case Code::wal_failed: return HOTQ_WAL_FAILED;
    case Code::internal: return HOTQ_INTERNAL;
  }
  return HOTQ_INTERNAL;
}

// The values are the same too (the C enum is documented as hotq::Code's).
#define HOTQ_SAME_CODE(c_name, cxx_name) \
  static_assert(static_cast<int>(c_name) == static_cast<int>(Code::cxx_name))
HOTQ_SAME_CODE(HOTQ_OK, ok);
HOTQ_SAME_CODE(HOTQ_FULL, full);
HOTQ_SAME_CODE(HOTQ_EMPTY, empty);
HOTQ_SAME_CODE(HOTQ_TIMED_OUT, timed_out);
HOTQ_SAME_CODE(HOTQ_TOO_LARGE, too_large);
HOTQ_SAME_CODE(HOTQ_NO_SUCH_QUEUE, no_such_queue);
HOTQ_SAME_CODE(HOTQ_CLOSED, closed);
HOTQ_SAME_CODE(HOTQ_STALE_LEASE, stale_lease);
HOTQ_SAME_CODE(HOTQ_DUPLICATE, duplicate);
HOTQ_SAME_CODE(HOTQ_PAUSED, paused);
HOTQ_SAME_CODE(HOTQ_RATE_LIMITED, rate_limited);
HOTQ_SAME_CODE(HOTQ_NO_SUCH_JOB, no_such_job);
HOTQ_SAME_CODE(HOTQ_LEASED_FULL, leased_full);
HOTQ_SAME_CODE(HOTQ_DEDUP_FULL, dedup_full);
HOTQ_SAME_CODE(HOTQ_INVALID_ARGUMENT, invalid_argument);
HOTQ_SAME_CODE(HOTQ_ALREADY_EXISTS, already_exists);
HOTQ_SAME_CODE(HOTQ_LIMIT_EXCEEDED, limit_exceeded);
HOTQ_SAME_CODE(HOTQ_NOT_SUPPORTED, not_supported);
HOTQ_SAME_CODE(HOTQ_IO_ERROR, io_error);
HOTQ_SAME_CODE(HOTQ_NO_SPACE, no_space);
HOTQ_SAME_CODE(HOTQ_CORRUPTION, corruption);
HOTQ_SAME_CODE(HOTQ_LOCKED, locked);
HOTQ_SAME_CODE(HOTQ_WAL_FAILED, wal_failed);
HOTQ_SAME_CODE(HOTQ_INTERNAL, internal);
#undef HOTQ_SAME_CODE
// C-only codes live above every hotq::Code group (hotq::Code is 8 bits and
// its groups start at 0, 32 and 64).
static_assert(HOTQ_NO_MEMORY > static_cast<int>(Code::internal));

// The limits hotq.h repeats.
static_assert(HOTQ_PRIORITY_LEVELS_MAX == hotq::priority_levels_max);
static_assert(HOTQ_QUEUE_NAME_BYTES_MAX == hotq::queue_name_bytes_max);
static_assert(HOTQ_QUEUES_MAX == hotq::queues_max);
static_assert(HOTQ_BATCH_JOBS_MAX == hotq::batch_jobs_max);
static_assert(HOTQ_DEDUP_KEY_BYTES_MAX == hotq::dedup_key_bytes_max);
static_assert(HOTQ_ERROR_TEXT_BYTES_MAX == hotq::error_text_bytes_max);
static_assert(static_cast<int>(HOTQ_ORDERING_SHARDED) == static_cast<int>(hotq::Ordering::sharded));
static_assert(static_cast<int>(HOTQ_ORDERING_FIFO) == static_cast<int>(hotq::Ordering::fifo));
static_assert(HOTQ_TOPICS_MAX == hotq::topics_max);
static_assert(HOTQ_TOPIC_QUEUES_MAX == hotq::topic_queues_max);
static_assert(HOTQ_DELAY_BACKOFF > hotq::delay_ms_max, "the sentinel is not a real delay");
static_assert(static_cast<int>(HOTQ_JOB_DELAYED) == static_cast<int>(hotq::JobState::delayed));
static_assert(static_cast<int>(HOTQ_JOB_READY) == static_cast<int>(hotq::JobState::ready));
static_assert(static_cast<int>(HOTQ_JOB_LEASED) == static_cast<int>(hotq::JobState::leased));
static_assert(static_cast<int>(HOTQ_JOB_DEAD) == static_cast<int>(hotq::JobState::dead));
static_assert(static_cast<int>(HOTQ_DEAD_FAILED) == static_cast<int>(hotq::DeadReason::failed));
static_assert(static_cast<int>(HOTQ_DEAD_ATTEMPTS_NACKED) ==
              static_cast<int>(hotq::DeadReason::attempts_nacked));
static_assert(static_cast<int>(HOTQ_DEAD_ATTEMPTS_EXPIRED) ==
              static_cast<int>(hotq::DeadReason::attempts_expired));
static_assert(sizeof(hotq_job_id) == sizeof(hotq::JobId));
static_assert(sizeof(hotq_queue_id) == sizeof(hotq::QueueId));

// hotq_job::ref_ is the storage of one hotq::Payload (a single counted
// pointer): the C struct holds the reference without a heap allocation per
// reserved job.
static_assert(sizeof(hotq::Payload) == sizeof(void*));
static_assert(alignof(hotq::Payload) <= alignof(void*));

// The sizes of each struct's first release. A caller's struct_size below it
// is not a hotq struct; when fields are added, these stay at the old sizeof.
constexpr std::size_t engine_options_v1_bytes = sizeof(hotq_engine_options);
constexpr std::size_t queue_options_v1_bytes = sizeof(hotq_queue_options);
constexpr std::size_t queue_stats_v1_bytes = sizeof(hotq_queue_stats);
constexpr std::size_t wal_stats_v1_bytes = sizeof(hotq_wal_stats);

// ---------------------------------------------------------------- guards

// Copies msg into the caller's optional buffer, NUL-terminated, cut to fit.
void put_error(char* err, std::size_t cap, std::string_view msg) noexcept {
  if (err == nullptr || cap == 0) return;
  const std::size_t n = msg.size() < cap - 1 ? msg.size() : cap - 1;
  if (n != 0) std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

// Runs body (returning hotq_code); no exception leaves it.
template <class F>
hotq_code guard(F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return HOTQ_NO_MEMORY;
  } catch (...) {
    return HOTQ_INTERNAL;
  }
}

// guard() for the functions with an error buffer: the exception's text too.
template <class F>
hotq_code guard_msg(char* err, std::size_t cap, F&& body) noexcept {
  put_error(err, cap, "");
  try {
    return body();
  } catch (const std::bad_alloc&) {
    put_error(err, cap, "out of memory (std::bad_alloc)");
    return HOTQ_NO_MEMORY;
  } catch (const std::exception& e) {
    put_error(err, cap, e.what());
    return HOTQ_INTERNAL;
  } catch (...) {
    put_error(err, cap, "unknown C++ exception");
    return HOTQ_INTERNAL;
  }
}

// Reads a caller's options struct into out (which holds the defaults):
// struct_size bytes of it, so a struct from an older header keeps the
// defaults of the fields it lacks.
template <class T>
hotq_code read_sized(const T& in, std::size_t v1_bytes, T* out, char* err, std::size_t cap) {
  if (in.struct_size < v1_bytes) {
    put_error(err, cap, "struct_size is too small: fill the struct with its _init function");
    return HOTQ_INVALID_ARGUMENT;
  }
  if (in.struct_size > sizeof(T)) {
    put_error(err, cap, "struct_size is from a newer hotq.h than the library linked");
    return HOTQ_NOT_SUPPORTED;
  }
  std::memcpy(static_cast<void*>(out), &in, in.struct_size);
  return HOTQ_OK;
}

// ---------------------------------------------------------------- clock

// Adapts the C clock callback to hotq::Clock.
class CallbackClock final : public hotq::Clock {
 public:
  CallbackClock(std::uint64_t (*fn)(void*), void* user) noexcept : fn_(fn), user_(user) {}
  std::uint64_t now_ns() const noexcept override { return fn_(user_); }

 private:
  std::uint64_t (*fn_)(void*);
  void* user_;
};

}  // namespace

// The opaque handle. The clocks are declared before the engine, so they are
// destroyed after it: the engine (and its background threads) reads them
// until it is gone.
struct hotq_engine {
  std::optional<CallbackClock> clock;
  std::optional<CallbackClock> wall_clock;
  std::unique_ptr<hotq::Engine> engine;
};

// For the C API's own tests (capi/hotq_c_internal.h).
hotq_engine* hotq::capi::adopt_engine(std::unique_ptr<hotq::Engine> engine) {
  auto h = std::make_unique<hotq_engine>();
  h->engine = std::move(engine);
  return h.release();
}

hotq_code hotq::capi::run_guarded(const std::function<hotq_code()>& body) noexcept {
  return guard(body);
}

namespace {

hotq::Lease to_lease(const hotq_lease& l) noexcept { return {l.job, l.token, l.reserved_ns}; }

// Holds a reserved job in the caller's struct: the payload reference moves
// into ref_'s storage (see the static_assert above).
void fill_job(hotq::ReservedJob& rj, hotq_job* out) noexcept {
  out->id = rj.id;
  out->token = rj.token;
  out->reserved_ns = rj.reserved_ns;
  out->lease_deadline_ns = rj.lease_deadline_ns;
  out->attempt = rj.attempt;
  out->priority = rj.priority;
  out->payload = rj.payload.data();
  out->payload_bytes = rj.payload.size();
  ::new (static_cast<void*>(&out->ref_)) hotq::Payload(std::move(rj.payload));
}

void zero_job(hotq_job* out) noexcept { *out = hotq_job{}; }

// Converts and checks what the C++ API would take as a precondition.
hotq_code to_request(const hotq_enqueue_request& in, hotq::EnqueueRequest* out) noexcept {
  if ((in.payload == nullptr && in.payload_bytes != 0) ||
      (in.dedup_key == nullptr && in.dedup_key_bytes != 0) || in.priority > UINT8_MAX) {
    return HOTQ_INVALID_ARGUMENT;
  }
  out->payload = std::string_view(static_cast<const char*>(in.payload), in.payload_bytes);
  out->dedup_key = std::string_view(static_cast<const char*>(in.dedup_key), in.dedup_key_bytes);
  out->priority = static_cast<std::uint8_t>(in.priority);
  out->delay_ms = in.delay_ms;
  out->lease_ms = in.lease_ms;
  out->attempts_max = in.attempts_max;
  return HOTQ_OK;
}

hotq_code to_text(const char* text, std::size_t bytes, std::string_view* out) noexcept {
  if (text == nullptr && bytes != 0) return HOTQ_INVALID_ARGUMENT;
  *out = std::string_view(text, bytes);
  return HOTQ_OK;
}

// Calls done once with the ticket's fate. The lambda (a function pointer
// and a user pointer, trivially copyable) fits std::function's small
// buffer: no allocation. If registering still fails (no memory for the
// completion entry, no thread for the completion loop), the change is
// already made and the callback still owed: wait for the disk here.
void notify_durable(hotq::Engine& e, hotq::Ticket ticket, hotq_durable_fn done,
                    void* user) noexcept {
  if (done == nullptr) return;
  try {
    e.on_durable(ticket, [done, user](Code c) { done(user, to_c(c)); });
    return;
  } catch (...) {
  }
  hotq_code c = HOTQ_INTERNAL;
  try {
    c = to_c(e.wait_durable(ticket));
  } catch (...) {
  }
  done(user, c);
}

hotq_code do_enqueue_batch(hotq_engine* engine, hotq_queue_id queue,
                           const hotq_enqueue_request* requests, std::size_t count,
                           hotq_job_id* ids, hotq_code* codes, std::size_t* done,
                           hotq::Ticket* ticket) {
  if (done != nullptr) *done = 0;
  if (engine == nullptr || done == nullptr || count > HOTQ_BATCH_JOBS_MAX ||
      (count != 0 && (requests == nullptr || ids == nullptr))) {
    return HOTQ_INVALID_ARGUMENT;
  }
  // One allocation per batch call, small next to the batch's work; no
  // per-thread scratch that an async callback could re-enter.
  std::vector<hotq::EnqueueRequest> reqs(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (hotq_code c = to_request(requests[i], &reqs[i]); c != HOTQ_OK) return c;
  }
  std::vector<Code> cxx_codes(count, Code::ok);
  const std::span<hotq::JobId> id_span(ids, count);
  hotq::BatchResult r = ticket != nullptr
                            ? engine->engine->enqueue_batch_async(queue, reqs, id_span,
                                                                  cxx_codes, ticket)
                            : engine->engine->enqueue_batch(queue, reqs, id_span, cxx_codes);
  *done = r.count;
  if (codes != nullptr) {
    for (std::size_t i = 0; i < r.count; ++i) codes[i] = to_c(cxx_codes[i]);
  }
  return to_c(r.code);
}

hotq_code do_reserve_batch(hotq_engine* engine, hotq_queue_id queue, std::uint64_t lease_ms,
                           hotq_job* jobs, std::size_t capacity, std::size_t* count,
                           std::optional<std::uint64_t> timeout_ms) {
  if (count != nullptr) *count = 0;
  if (engine == nullptr || jobs == nullptr || count == nullptr || capacity == 0 ||
      capacity > HOTQ_BATCH_JOBS_MAX) {
    return HOTQ_INVALID_ARGUMENT;
  }
  for (std::size_t i = 0; i < capacity; ++i) zero_job(&jobs[i]);  // also if the vector throws
  std::vector<hotq::ReservedJob> got(capacity);
  hotq::BatchResult r =
      timeout_ms ? engine->engine->reserve_batch_wait(queue, got, *timeout_ms, lease_ms)
                 : engine->engine->reserve_batch(queue, got, lease_ms);
  for (std::size_t i = 0; i < r.count; ++i) fill_job(got[i], &jobs[i]);
  *count = r.count;
  return r.count != 0 ? HOTQ_OK : to_c(r.code);
}

hotq_code do_ack_batch(hotq_engine* engine, hotq_queue_id queue, const hotq_lease* leases,
                       std::size_t count, hotq_code* results, std::size_t* acked,
                       hotq::Ticket* ticket) {
  if (acked != nullptr) *acked = 0;
  if (engine == nullptr || count > HOTQ_BATCH_JOBS_MAX ||
      (count != 0 && (leases == nullptr || results == nullptr))) {
    return HOTQ_INVALID_ARGUMENT;
  }
  std::vector<hotq::Lease> ls(count);
  for (std::size_t i = 0; i < count; ++i) ls[i] = to_lease(leases[i]);
  std::vector<Code> cxx_results(count, Code::ok);
  const std::uint32_t n = ticket != nullptr
                              ? engine->engine->ack_batch_async(queue, ls, cxx_results, ticket)
                              : engine->engine->ack_batch(queue, ls, cxx_results);
  if (acked != nullptr) *acked = n;
  hotq_code first = HOTQ_OK;
  for (std::size_t i = 0; i < count; ++i) {
    results[i] = to_c(cxx_results[i]);
    if (first == HOTQ_OK) first = results[i];
  }
  return first;
}

// hotq_nack (ticket null) and hotq_nack_async.
hotq_code do_nack(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                  std::uint64_t delay_ms, const char* error, std::size_t error_bytes,
                  hotq::Ticket* ticket) {
  std::string_view text;
  if (engine == nullptr || to_text(error, error_bytes, &text) != HOTQ_OK) {
    return HOTQ_INVALID_ARGUMENT;
  }
  std::optional<std::uint64_t> delay;
  if (delay_ms != HOTQ_DELAY_BACKOFF) delay = delay_ms;
  hotq::Engine& e = *engine->engine;
  return to_c(ticket != nullptr ? e.nack_async(queue, to_lease(lease), delay, text, ticket)
                                : e.nack(queue, to_lease(lease), delay, text));
}

// hotq_fail (ticket null) and hotq_fail_async.
hotq_code do_fail(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease, const char* error,
                  std::size_t error_bytes, hotq::Ticket* ticket) {
  std::string_view text;
  if (engine == nullptr || to_text(error, error_bytes, &text) != HOTQ_OK) {
    return HOTQ_INVALID_ARGUMENT;
  }
  hotq::Engine& e = *engine->engine;
  return to_c(ticket != nullptr ? e.fail_async(queue, to_lease(lease), text, ticket)
                                : e.fail(queue, to_lease(lease), text));
}

// An asynchronous write, as both its forms make it: its code, and the
// ticket of its records when it changed something — then the _async form
// owes its callback (finish_async) and the _ticket form hands the ticket
// out (ticketed).
struct Issued {
  hotq_code code = HOTQ_INVALID_ARGUMENT;
  bool did = false;
  hotq::Ticket ticket;
};

Issued issue_enqueue(hotq_engine* engine, hotq_queue_id queue,
                     const hotq_enqueue_request* request, hotq_job_id* id) {
  Issued i;
  if (engine == nullptr || request == nullptr) return i;
  hotq::EnqueueRequest r;
  if (i.code = to_request(*request, &r); i.code != HOTQ_OK) return i;
  hotq::Result<hotq::JobId> res = engine->engine->enqueue_async(queue, r, &i.ticket);
  if (res.has_value() && id != nullptr) *id = res.value();
  i.did = res.has_value();  // ok, or duplicate (durable with the job holding the key)
  i.code = to_c(res.code());
  return i;
}

Issued issue_enqueue_batch(hotq_engine* engine, hotq_queue_id queue,
                           const hotq_enqueue_request* requests, std::size_t count,
                           hotq_job_id* ids, hotq_code* codes, std::size_t* done) {
  Issued i;
  i.code = do_enqueue_batch(engine, queue, requests, count, ids, codes, done, &i.ticket);
  i.did = done != nullptr && *done != 0;
  return i;
}

Issued issue_ack(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease) {
  Issued i;
  if (engine == nullptr) return i;
  const Code c = engine->engine->ack_async(queue, to_lease(lease), &i.ticket);
  i.did = c == Code::ok;
  i.code = to_c(c);
  return i;
}

Issued issue_ack_batch(hotq_engine* engine, hotq_queue_id queue, const hotq_lease* leases,
                       std::size_t count, hotq_code* results, std::size_t* acked) {
  Issued i;
  std::size_t n = 0;
  i.code = do_ack_batch(engine, queue, leases, count, results, &n, &i.ticket);
  if (acked != nullptr) *acked = n;
  i.did = n != 0;
  return i;
}

Issued issue_nack(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                  std::uint64_t delay_ms, const char* error, std::size_t error_bytes) {
  Issued i;
  i.code = do_nack(engine, queue, lease, delay_ms, error, error_bytes, &i.ticket);
  i.did = i.code == HOTQ_OK;
  return i;
}

Issued issue_fail(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease, const char* error,
                  std::size_t error_bytes) {
  Issued i;
  i.code = do_fail(engine, queue, lease, error, error_bytes, &i.ticket);
  i.did = i.code == HOTQ_OK;
  return i;
}

hotq_code finish_async(hotq_engine* engine, const Issued& i, hotq_durable_fn done,
                       void* user) noexcept {
  if (i.did) notify_durable(*engine->engine, i.ticket, done, user);
  return i.code;
}

// The _ticket form around issue(): the ticket is required, 0 until the
// write did something, then its records' ticket.
template <class Issue>
hotq_code ticketed(hotq_ticket* ticket, Issue&& issue) noexcept {
  if (ticket == nullptr) return HOTQ_INVALID_ARGUMENT;
  ticket->lsn = 0;
  return guard([&] {
    const Issued i = issue();
    if (i.did) ticket->lsn = i.ticket.lsn;
    return i.code;
  });
}

hotq_latency to_c(const hotq::LatencySummary& l) noexcept {
  return hotq_latency{l.count, l.p50_ns, l.p99_ns, l.p999_ns, l.max_ns};
}

// Copies `c` (the library's struct, c.struct_size the caller's) into the
// caller's struct: as many bytes as both know, the rest of the caller's
// zeroed (a struct from a newer header). size >= the v1 bytes is checked
// before.
template <typename T>
void copy_sized(const T& c, T* out) noexcept {
  const std::size_t size = c.struct_size;
  const std::size_t mine = size < sizeof c ? size : sizeof c;
  std::memcpy(static_cast<void*>(out), &c, mine);
  if (size > sizeof c) std::memset(reinterpret_cast<char*>(out) + sizeof c, 0, size - sizeof c);
}

// A NUL-terminated malloc'ed copy (hotq_text_release frees it); null when
// out of memory.
char* malloc_text(std::string_view text) noexcept {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out == nullptr) return nullptr;
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

void fill_stats(const hotq::QueueStats& s, hotq_queue_stats* out) noexcept {
  const std::uint32_t size = out->struct_size;
  hotq_queue_stats c{};
  c.struct_size = size;
  const hotq::QueueCounts& k = s.counts;
  c.delayed = k.delayed;
  c.ready = k.ready;
  for (std::uint32_t i = 0; i < hotq::priority_levels_max; ++i) {
    c.ready_by_priority[i] = k.ready_by_priority[i];
  }
  c.leased = k.leased;
  c.dead = k.dead;
  c.enqueued = k.enqueued;
  c.completed = k.completed;
  c.retried = k.retried;
  c.failed = k.failed;
  c.expired = k.expired;
  c.dead_lettered = k.dead_lettered;
  c.redriven = k.redriven;
  c.rejected_full = k.rejected_full;
  c.rate_limited = k.rate_limited;
  c.dedup_hits = k.dedup_hits;
  c.cancelled = k.cancelled;
  c.purged = k.purged;
  c.oldest_ready_age_ns = s.oldest_ready_age_ns;
  c.wait = to_c(s.wait);
  c.run = to_c(s.run);
  copy_sized(c, out);
}

void fill_wal_stats(const hotq::WalStats& w, hotq_wal_stats* out) noexcept {
  hotq_wal_stats c{};
  c.struct_size = out->struct_size;
  c.flags = (w.durable ? HOTQ_WAL_FLAG_DURABLE : 0u) | (w.failed ? HOTQ_WAL_FLAG_FAILED : 0u);
  c.durable_lsn = w.durable_lsn;
  c.last_lsn = w.last_lsn;
  c.groups = w.groups;
  c.records = w.records;
  c.bytes = w.bytes;
  c.segments = w.segments;
  c.segments_started = w.segments_started;
  c.segments_filled = w.segments_filled;
  c.roll_waits = w.roll_waits;
  c.no_space = w.no_space;
  c.commit = to_c(w.commit);
  c.snapshot_lsn = w.snapshot_lsn;
  c.snapshots = w.snapshots;
  c.snapshot_failures = w.snapshot_failures;
  copy_sized(c, out);
}

// What hotq_dead_list hands out: the public struct plus what its pointers
// point into. items point into letters (error strings, payloads).
struct DeadLettersHolder {
  hotq_dead_letters pub{};
  std::vector<hotq::DeadLetter> letters;
  std::vector<hotq_dead_letter> items;
};

// The C form of a queue's options (struct_size: this library's).
void to_c(const hotq::QueueOptions& d, hotq_queue_options* o) noexcept {
  *o = hotq_queue_options{};
  o->struct_size = sizeof(hotq_queue_options);
  o->priority_levels = d.priority_levels;
  o->capacity_jobs_max = d.capacity_jobs_max;
  o->lease_ms_default = d.lease_ms_default;
  o->attempts_max = d.attempts_max;
  o->payload_bytes_max = d.payload_bytes_max;
  o->backoff_kind = d.backoff.kind == hotq::Backoff::Kind::fixed ? HOTQ_BACKOFF_FIXED
                                                                  : HOTQ_BACKOFF_EXPONENTIAL;
  o->backoff_jitter_percent = d.backoff.jitter_percent;
  o->backoff_base_ms = d.backoff.base_ms;
  o->backoff_cap_ms = d.backoff.cap_ms;
  o->ordering = static_cast<std::uint32_t>(d.ordering);
  o->expiry_counts_as_attempt = d.expiry_counts_as_attempt;
  o->durable_delivery = d.durable_delivery;
  o->leased_max = d.leased_max;
  o->rate_tokens_per_interval = d.rate_limit.tokens_per_interval;
  o->rate_interval_ms = d.rate_limit.interval_ms;
  o->rate_burst_tokens = d.rate_limit.burst_tokens;
  o->dedup_window_ms = d.dedup_window_ms;
  o->dedup_keys_max = d.dedup_keys_max;
}

// What hotq_queue_list hands out: the public struct plus what its pointers
// point into.
struct QueuesHolder {
  hotq_queues pub{};
  std::vector<hotq::QueueInfo> queues;
  std::vector<hotq_queue_entry> items;
};

// What hotq_inspect hands out: the public struct plus the JobInfo its
// pointers point into.
struct JobInfoHolder {
  hotq_job_info pub{};
  hotq::JobInfo info;
};

// Gives the caller the holder's public struct; its internal_ points back at
// the holder, which the struct's release function deletes.
template <typename Holder>
auto* hand_out(std::unique_ptr<Holder> h) noexcept {
  h->pub.internal_ = h.get();
  return &h.release()->pub;
}

// The same for a list: count and items are the holder's items.
template <typename Holder>
auto* hand_out_list(std::unique_ptr<Holder> h) noexcept {
  h->pub.count = h->items.size();
  h->pub.items = h->items.data();
  return hand_out(std::move(h));
}

// Copies up to capacity of `from` into out; *count receives from.size().
template <typename T>
void copy_out(const std::vector<T>& from, T* out, std::size_t capacity,
              std::size_t* count) noexcept {
  const std::size_t n = from.size() < capacity ? from.size() : capacity;
  if (n != 0) std::memcpy(out, from.data(), n * sizeof(T));
  if (count != nullptr) *count = from.size();
}

hotq_code dead_remove(hotq_engine* engine, hotq_queue_id queue, const hotq_job_id* ids,
                      std::size_t count, bool all, std::uint64_t* deleted) {
  if (deleted != nullptr) *deleted = 0;
  if (engine == nullptr || count > HOTQ_BATCH_JOBS_MAX || (count != 0 && ids == nullptr)) {
    return HOTQ_INVALID_ARGUMENT;
  }
  hotq::Result<std::uint64_t> r =
      all ? engine->engine->purge_dead(queue)
          : engine->engine->delete_dead(queue, std::span<const hotq::JobId>(ids, count));
  if (r.ok() && deleted != nullptr) *deleted = r.value();
  return to_c(r.code());
}

}  // namespace

// ================================================================ the API

extern "C" {

const char* hotq_code_name(int code) {
  if (code == HOTQ_NO_MEMORY) return "no_memory";
  // Any value of hotq::Code's 8-bit underlying type is a valid Code object;
  // code_name() answers "unknown_code" for those that are no enumerator.
  if (code < 0 || code > UINT8_MAX) return "unknown_code";
  return hotq::code_name(static_cast<Code>(code));
}

const char* hotq_version(void) { return hotq::version(); }

// ---------------------------------------------------------------- engines

void hotq_engine_options_init(hotq_engine_options* o) {
  if (o == nullptr) return;
  const hotq::EngineOptions d;  // the C++ defaults, so the two never drift
  *o = hotq_engine_options{};
  o->struct_size = sizeof(hotq_engine_options);
  o->shards = d.shards;
  o->timer_tick_ns = d.timer_tick_ns;
  o->seed = d.seed;
  o->wal_dir = nullptr;
  o->durability = static_cast<std::uint32_t>(d.durability);
  o->wal_backend = static_cast<std::uint32_t>(d.wal_backend);
  o->wal_interval_ms = d.wal_interval_ms;
  o->wal_segment_bytes = d.wal_segment_bytes;
  o->wal_snapshot_log_bytes = d.wal_snapshot_log_bytes;
  o->wal_snapshot_interval_ms = d.wal_snapshot_interval_ms;
  o->now_ns = nullptr;
  o->wall_now_ns = nullptr;
  o->clock_user = nullptr;
}

hotq_code hotq_engine_open(const hotq_engine_options* o, hotq_engine** engine, char* err,
                           size_t err_cap) {
  return guard_msg(err, err_cap, [&]() -> hotq_code {
    if (engine == nullptr) {
      put_error(err, err_cap, "hotq_engine_open: engine (the out pointer) is NULL");
      return HOTQ_INVALID_ARGUMENT;
    }
    *engine = nullptr;
    hotq_engine_options in;
    hotq_engine_options_init(&in);
    if (o != nullptr) {
      if (hotq_code c = read_sized(*o, engine_options_v1_bytes, &in, err, err_cap);
          c != HOTQ_OK) {
        return c;
      }
    }
    if (in.durability > HOTQ_DURABILITY_INTERVAL) {
      put_error(err, err_cap, "hotq_engine_options.durability is not a hotq_durability");
      return HOTQ_INVALID_ARGUMENT;
    }
    if (in.wal_backend > HOTQ_WAL_BACKEND_PWRITEV) {
      put_error(err, err_cap, "hotq_engine_options.wal_backend is not a hotq_wal_backend");
      return HOTQ_INVALID_ARGUMENT;
    }
    auto h = std::make_unique<hotq_engine>();
    hotq::EngineOptions eo;
    eo.shards = in.shards;
    eo.timer_tick_ns = in.timer_tick_ns;
    eo.seed = in.seed;
    if (in.wal_dir != nullptr) eo.wal_dir = in.wal_dir;
    eo.durability = static_cast<hotq::Durability>(in.durability);
    eo.wal_backend = static_cast<hotq::WalBackend>(in.wal_backend);
    eo.wal_interval_ms = in.wal_interval_ms;
    eo.wal_segment_bytes = in.wal_segment_bytes;
    eo.wal_snapshot_log_bytes = in.wal_snapshot_log_bytes;
    eo.wal_snapshot_interval_ms = in.wal_snapshot_interval_ms;
    if (in.now_ns != nullptr) {
      h->clock.emplace(in.now_ns, in.clock_user);
      eo.clock = &*h->clock;
    }
    if (in.wall_now_ns != nullptr) {
      h->wall_clock.emplace(in.wall_now_ns, in.clock_user);
      eo.wall_clock = &*h->wall_clock;
    }
    hotq::Status s = hotq::Engine::open(eo, &h->engine);
    if (!s.ok()) {
      put_error(err, err_cap, s.message().empty() ? hotq::code_name(s.code()) : s.message());
      return to_c(s.code());
    }
    *engine = h.release();
    return HOTQ_OK;
  });
}

void hotq_engine_close(hotq_engine* engine) {
  if (engine == nullptr) return;
  (void)guard([&] {
    engine->engine->close();
    return HOTQ_OK;
  });
}

void hotq_engine_free(hotq_engine* engine) {
  if (engine == nullptr) return;
  (void)guard([&] {
    engine->engine->close();
    engine->engine.reset();
    return HOTQ_OK;
  });
  delete engine;
}

const char* hotq_engine_open_report(const hotq_engine* engine) {
  if (engine == nullptr) return "";
  return engine->engine->open_report().c_str();
}

hotq_code hotq_engine_snapshot(hotq_engine* engine, char* err, size_t err_cap) {
  return guard_msg(err, err_cap, [&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::Status s = engine->engine->snapshot();
    if (!s.ok()) put_error(err, err_cap, s.message());
    return to_c(s.code());
  });
}

hotq_code hotq_run_timers(hotq_engine* engine, uint64_t* fired) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    const std::uint64_t n = engine->engine->run_timers();
    if (fired != nullptr) *fired = n;
    return HOTQ_OK;
  });
}

// ---------------------------------------------------------------- queues

void hotq_queue_options_init(hotq_queue_options* o) {
  if (o == nullptr) return;
  to_c(hotq::QueueOptions{}, o);
}

hotq_code hotq_queue_list(hotq_engine* engine, hotq_queues** list) {
  if (list != nullptr) *list = nullptr;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || list == nullptr) return HOTQ_INVALID_ARGUMENT;
    auto h = std::make_unique<QueuesHolder>();
    h->queues = engine->engine->list_queues();
    h->items.resize(h->queues.size());
    for (std::size_t i = 0; i < h->queues.size(); ++i) {
      const hotq::QueueInfo& q = h->queues[i];
      hotq_queue_entry& c = h->items[i];
      c.id = q.id;
      c.name = q.name.c_str();
      c.name_bytes = q.name.size();
      to_c(q.options, &c.options);
    }
    *list = hand_out_list(std::move(h));
    return HOTQ_OK;
  });
}

void hotq_queues_release(hotq_queues* list) {
  if (list == nullptr) return;
  delete static_cast<QueuesHolder*>(list->internal_);
}

hotq_code hotq_queue_create(hotq_engine* engine, const char* name, const hotq_queue_options* o,
                            hotq_queue_id* id) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || name == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq_queue_options in;
    hotq_queue_options_init(&in);
    if (o != nullptr) {
      if (hotq_code c = read_sized(*o, queue_options_v1_bytes, &in, nullptr, 0);
          c != HOTQ_OK) {
        return c;
      }
    }
    if (in.backoff_kind > HOTQ_BACKOFF_EXPONENTIAL || in.ordering > HOTQ_ORDERING_FIFO) {
      return HOTQ_INVALID_ARGUMENT;
    }
    hotq::QueueOptions qo;
    qo.capacity_jobs_max = in.capacity_jobs_max;
    qo.priority_levels = in.priority_levels;
    qo.lease_ms_default = in.lease_ms_default;
    qo.attempts_max = in.attempts_max;
    qo.backoff.kind = in.backoff_kind == HOTQ_BACKOFF_FIXED ? hotq::Backoff::Kind::fixed
                                                            : hotq::Backoff::Kind::exponential;
    qo.backoff.base_ms = in.backoff_base_ms;
    qo.backoff.cap_ms = in.backoff_cap_ms;
    qo.backoff.jitter_percent = in.backoff_jitter_percent;
    qo.payload_bytes_max = in.payload_bytes_max;
    qo.expiry_counts_as_attempt = in.expiry_counts_as_attempt;
    qo.ordering = in.ordering == HOTQ_ORDERING_FIFO ? hotq::Ordering::fifo
                                                    : hotq::Ordering::sharded;
    qo.leased_max = in.leased_max;
    qo.rate_limit.tokens_per_interval = in.rate_tokens_per_interval;
    qo.rate_limit.interval_ms = in.rate_interval_ms;
    qo.rate_limit.burst_tokens = in.rate_burst_tokens;
    qo.dedup_window_ms = in.dedup_window_ms;
    qo.dedup_keys_max = in.dedup_keys_max;
    qo.durable_delivery = in.durable_delivery;
    hotq::Result<hotq::QueueId> r = engine->engine->create_queue(name, qo);
    if (r.ok() && id != nullptr) *id = r.value();
    return to_c(r.code());
  });
}

hotq_code hotq_queue_find(hotq_engine* engine, const char* name, hotq_queue_id* id) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || name == nullptr || id == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::Result<hotq::QueueId> r = engine->engine->find_queue(name);
    if (r.ok()) *id = r.value();
    return to_c(r.code());
  });
}

hotq_code hotq_queue_drop(hotq_engine* engine, hotq_queue_id queue) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->drop_queue(queue));
  });
}

hotq_code hotq_queue_pause(hotq_engine* engine, hotq_queue_id queue) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->pause(queue));
  });
}

hotq_code hotq_queue_resume(hotq_engine* engine, hotq_queue_id queue) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->resume(queue));
  });
}

hotq_code hotq_queue_purge(hotq_engine* engine, hotq_queue_id queue, uint64_t* purged) {
  if (purged != nullptr) *purged = 0;
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::Result<std::uint64_t> r = engine->engine->purge(queue);
    if (r.ok() && purged != nullptr) *purged = r.value();
    return to_c(r.code());
  });
}

// ---------------------------------------------------------------- enqueue

hotq_code hotq_enqueue(hotq_engine* engine, hotq_queue_id queue,
                       const hotq_enqueue_request* request, hotq_job_id* id) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || request == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::EnqueueRequest r;
    if (hotq_code c = to_request(*request, &r); c != HOTQ_OK) return c;
    hotq::Result<hotq::JobId> res = engine->engine->enqueue(queue, r);
    if (res.has_value() && id != nullptr) *id = res.value();
    return to_c(res.code());
  });
}

hotq_code hotq_enqueue_wait(hotq_engine* engine, hotq_queue_id queue,
                            const hotq_enqueue_request* request, uint64_t timeout_ms,
                            hotq_job_id* id) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || request == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::EnqueueRequest r;
    if (hotq_code c = to_request(*request, &r); c != HOTQ_OK) return c;
    hotq::Result<hotq::JobId> res = engine->engine->enqueue_wait(queue, r, timeout_ms);
    if (res.has_value() && id != nullptr) *id = res.value();
    return to_c(res.code());
  });
}

hotq_code hotq_enqueue_batch(hotq_engine* engine, hotq_queue_id queue,
                             const hotq_enqueue_request* requests, size_t count, hotq_job_id* ids,
                             hotq_code* codes, size_t* done) {
  return guard([&] {
    return do_enqueue_batch(engine, queue, requests, count, ids, codes, done, nullptr);
  });
}

hotq_code hotq_enqueue_async(hotq_engine* engine, hotq_queue_id queue,
                             const hotq_enqueue_request* request, hotq_job_id* id,
                             hotq_durable_fn done, void* user) {
  return guard(
      [&] { return finish_async(engine, issue_enqueue(engine, queue, request, id), done, user); });
}

hotq_code hotq_enqueue_batch_async(hotq_engine* engine, hotq_queue_id queue,
                                   const hotq_enqueue_request* requests, size_t count,
                                   hotq_job_id* ids, hotq_code* codes, size_t* done_count,
                                   hotq_durable_fn done, void* user) {
  return guard([&] {
    return finish_async(
        engine, issue_enqueue_batch(engine, queue, requests, count, ids, codes, done_count), done,
        user);
  });
}

// ---------------------------------------------------------------- topics

hotq_code hotq_topic_bind(hotq_engine* engine, const char* topic, hotq_queue_id queue) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || topic == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->bind(topic, queue));
  });
}

hotq_code hotq_topic_unbind(hotq_engine* engine, const char* topic, hotq_queue_id queue) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || topic == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->unbind(topic, queue));
  });
}

hotq_code hotq_topic_bindings(hotq_engine* engine, const char* topic, hotq_queue_id* queues,
                              size_t capacity, size_t* count) {
  if (count != nullptr) *count = 0;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || topic == nullptr || count == nullptr ||
        (capacity != 0 && queues == nullptr)) {
      return HOTQ_INVALID_ARGUMENT;
    }
    copy_out(engine->engine->bindings(topic), queues, capacity, count);
    return HOTQ_OK;
  });
}

hotq_code hotq_publish(hotq_engine* engine, const char* topic,
                       const hotq_enqueue_request* request, hotq_job_id* ids, size_t capacity,
                       size_t* count) {
  if (count != nullptr) *count = 0;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || topic == nullptr || request == nullptr ||
        (capacity != 0 && ids == nullptr)) {
      return HOTQ_INVALID_ARGUMENT;
    }
    hotq::EnqueueRequest r;
    if (hotq_code c = to_request(*request, &r); c != HOTQ_OK) return c;
    hotq::Result<std::vector<hotq::JobId>> res = engine->engine->publish(topic, r);
    if (res.has_value()) copy_out(res.value(), ids, capacity, count);  // ok, or duplicate
    return to_c(res.code());
  });
}

hotq_code hotq_publish_each(hotq_engine* engine, const char* topic,
                            const hotq_enqueue_request* request, hotq_job_id* ids,
                            hotq_code* codes, size_t capacity, size_t* count) {
  if (count != nullptr) *count = 0;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || topic == nullptr || request == nullptr ||
        (capacity != 0 && (ids == nullptr || codes == nullptr))) {
      return HOTQ_INVALID_ARGUMENT;
    }
    hotq::EnqueueRequest r;
    if (hotq_code c = to_request(*request, &r); c != HOTQ_OK) return c;
    std::vector<hotq::Code> each;
    hotq::Result<std::vector<hotq::JobId>> res = engine->engine->publish(topic, r, &each);
    if (res.has_value()) {  // ok, or duplicate: one code per id
      copy_out(res.value(), ids, capacity, count);
      const std::size_t n = each.size() < capacity ? each.size() : capacity;
      for (std::size_t i = 0; i < n; ++i) codes[i] = to_c(each[i]);
    }
    return to_c(res.code());
  });
}

// ---------------------------------------------------------------- reserve

hotq_lease hotq_job_lease(const hotq_job* job) {
  if (job == nullptr) return hotq_lease{};
  return hotq_lease{job->id, job->token, job->reserved_ns};
}

void hotq_job_release(hotq_job* job) {
  if (job == nullptr || job->ref_ == nullptr) return;
  std::launder(reinterpret_cast<hotq::Payload*>(&job->ref_))->~Payload();
  job->ref_ = nullptr;
  job->payload = nullptr;
  job->payload_bytes = 0;
}

hotq_code hotq_reserve(hotq_engine* engine, hotq_queue_id queue, uint64_t lease_ms,
                       hotq_job* job) {
  if (job != nullptr) zero_job(job);
  return guard([&]() -> hotq_code {
    if (engine == nullptr || job == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::Result<hotq::ReservedJob> r = engine->engine->reserve(queue, lease_ms);
    if (r.ok()) fill_job(r.value(), job);
    return to_c(r.code());
  });
}

hotq_code hotq_reserve_wait(hotq_engine* engine, hotq_queue_id queue, uint64_t timeout_ms,
                            uint64_t lease_ms, hotq_job* job) {
  if (job != nullptr) zero_job(job);
  return guard([&]() -> hotq_code {
    if (engine == nullptr || job == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::Result<hotq::ReservedJob> r = engine->engine->reserve_wait(queue, timeout_ms, lease_ms);
    if (r.ok()) fill_job(r.value(), job);
    return to_c(r.code());
  });
}

hotq_code hotq_reserve_batch(hotq_engine* engine, hotq_queue_id queue, uint64_t lease_ms,
                             hotq_job* jobs, size_t capacity, size_t* count) {
  return guard([&] {
    return do_reserve_batch(engine, queue, lease_ms, jobs, capacity, count, std::nullopt);
  });
}

hotq_code hotq_reserve_batch_wait(hotq_engine* engine, hotq_queue_id queue, uint64_t timeout_ms,
                                  uint64_t lease_ms, hotq_job* jobs, size_t capacity,
                                  size_t* count) {
  return guard([&] {
    return do_reserve_batch(engine, queue, lease_ms, jobs, capacity, count, timeout_ms);
  });
}

// ---------------------------------------------------------------- settle

hotq_code hotq_ack(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->ack(queue, to_lease(lease)));
  });
}

hotq_code hotq_ack_batch(hotq_engine* engine, hotq_queue_id queue, const hotq_lease* leases,
                         size_t count, hotq_code* results, size_t* acked) {
  return guard(
      [&] { return do_ack_batch(engine, queue, leases, count, results, acked, nullptr); });
}

hotq_code hotq_nack(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                    uint64_t delay_ms, const char* error, size_t error_bytes) {
  return guard(
      [&] { return do_nack(engine, queue, lease, delay_ms, error, error_bytes, nullptr); });
}

hotq_code hotq_fail(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                    const char* error, size_t error_bytes) {
  return guard([&] { return do_fail(engine, queue, lease, error, error_bytes, nullptr); });
}

hotq_code hotq_extend(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                      uint64_t lease_ms) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->extend(queue, to_lease(lease), lease_ms));
  });
}

hotq_code hotq_ack_async(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                         hotq_durable_fn done, void* user) {
  return guard([&] { return finish_async(engine, issue_ack(engine, queue, lease), done, user); });
}

hotq_code hotq_ack_batch_async(hotq_engine* engine, hotq_queue_id queue,
                               const hotq_lease* leases, size_t count, hotq_code* results,
                               size_t* acked, hotq_durable_fn done, void* user) {
  return guard([&] {
    return finish_async(engine, issue_ack_batch(engine, queue, leases, count, results, acked),
                        done, user);
  });
}

hotq_code hotq_nack_async(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                          uint64_t delay_ms, const char* error, size_t error_bytes,
                          hotq_durable_fn done, void* user) {
  return guard([&] {
    return finish_async(engine, issue_nack(engine, queue, lease, delay_ms, error, error_bytes),
                        done, user);
  });
}

hotq_code hotq_fail_async(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                          const char* error, size_t error_bytes, hotq_durable_fn done,
                          void* user) {
  return guard([&] {
    return finish_async(engine, issue_fail(engine, queue, lease, error, error_bytes), done, user);
  });
}

// ---------------------------------------------------------------- tickets
// As the _async forms (issue_*), with the ticket handed out instead of a
// callback; 0 before anything is known and for a call that did nothing.

hotq_code hotq_enqueue_ticket(hotq_engine* engine, hotq_queue_id queue,
                              const hotq_enqueue_request* request, hotq_job_id* id,
                              hotq_ticket* ticket) {
  return ticketed(ticket, [&] { return issue_enqueue(engine, queue, request, id); });
}

hotq_code hotq_enqueue_batch_ticket(hotq_engine* engine, hotq_queue_id queue,
                                    const hotq_enqueue_request* requests, size_t count,
                                    hotq_job_id* ids, hotq_code* codes, size_t* done,
                                    hotq_ticket* ticket) {
  if (done != nullptr) *done = 0;
  return ticketed(ticket, [&] {
    return issue_enqueue_batch(engine, queue, requests, count, ids, codes, done);
  });
}

hotq_code hotq_ack_ticket(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                          hotq_ticket* ticket) {
  return ticketed(ticket, [&] { return issue_ack(engine, queue, lease); });
}

hotq_code hotq_ack_batch_ticket(hotq_engine* engine, hotq_queue_id queue,
                                const hotq_lease* leases, size_t count, hotq_code* results,
                                size_t* acked, hotq_ticket* ticket) {
  if (acked != nullptr) *acked = 0;
  return ticketed(ticket,
                  [&] { return issue_ack_batch(engine, queue, leases, count, results, acked); });
}

hotq_code hotq_nack_ticket(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                           uint64_t delay_ms, const char* error, size_t error_bytes,
                           hotq_ticket* ticket) {
  return ticketed(ticket,
                  [&] { return issue_nack(engine, queue, lease, delay_ms, error, error_bytes); });
}

hotq_code hotq_fail_ticket(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                           const char* error, size_t error_bytes, hotq_ticket* ticket) {
  return ticketed(ticket, [&] { return issue_fail(engine, queue, lease, error, error_bytes); });
}

int hotq_is_durable(const hotq_engine* engine, hotq_ticket ticket) {
  if (engine == nullptr) return 0;
  return engine->engine->is_durable(hotq::Ticket{ticket.lsn}) ? 1 : 0;
}

hotq_code hotq_wait_durable(hotq_engine* engine, hotq_ticket ticket) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->wait_durable(hotq::Ticket{ticket.lsn}));
  });
}

// ---------------------------------------------------------------- waiting jobs

hotq_code hotq_cancel(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->cancel(queue, job));
  });
}

hotq_code hotq_set_priority(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job,
                            uint32_t priority) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || priority > UINT8_MAX) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->set_priority(queue, job, static_cast<std::uint8_t>(priority)));
  });
}

hotq_code hotq_set_delay(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job,
                         uint64_t delay_ms) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    return to_c(engine->engine->set_delay(queue, job, delay_ms));
  });
}

const char* hotq_job_state_name(uint32_t state) {
  if (state < HOTQ_JOB_DELAYED || state > HOTQ_JOB_DEAD) return "unknown_state";
  return hotq::job_state_name(static_cast<hotq::JobState>(state));
}

hotq_code hotq_inspect(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job,
                       hotq_job_info** info) {
  if (info != nullptr) *info = nullptr;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || info == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::Result<hotq::JobInfo> r = engine->engine->inspect(queue, job);
    if (!r.ok()) return to_c(r.code());
    auto h = std::make_unique<JobInfoHolder>();
    h->info = std::move(r).value();
    const hotq::JobInfo& i = h->info;
    hotq_job_info& c = h->pub;
    c.id = i.id;
    c.state = static_cast<std::uint32_t>(i.state);
    c.priority = i.priority;
    c.attempts = i.attempts;
    c.attempts_max = i.attempts_max;
    c.enqueued_ns = i.enqueued_ns;
    c.state_ns = i.state_ns;
    c.dead_reason =
        i.state == hotq::JobState::dead ? static_cast<std::uint32_t>(i.dead_reason) : 0u;
    c.error = i.error.c_str();
    c.error_bytes = i.error.size();
    c.payload = i.payload.data();
    c.payload_bytes = i.payload.size();
    *info = hand_out(std::move(h));
    return HOTQ_OK;
  });
}

void hotq_job_info_release(hotq_job_info* info) {
  if (info == nullptr) return;
  delete static_cast<JobInfoHolder*>(info->internal_);
}

// ---------------------------------------------------------------- dead letters

const char* hotq_dead_reason_name(uint32_t reason) {
  if (reason > UINT8_MAX) return "unknown_reason";
  return hotq::dead_reason_name(static_cast<hotq::DeadReason>(reason));
}

hotq_code hotq_dead_list(hotq_engine* engine, hotq_queue_id queue, hotq_job_id after_id,
                         size_t limit, hotq_dead_letters** list) {
  if (list != nullptr) *list = nullptr;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || list == nullptr || limit == 0) return HOTQ_INVALID_ARGUMENT;
    hotq::Result<std::vector<hotq::DeadLetter>> r =
        engine->engine->list_dead(queue, after_id, limit);
    if (!r.ok()) return to_c(r.code());
    auto h = std::make_unique<DeadLettersHolder>();
    h->letters = std::move(r).value();
    h->items.reserve(h->letters.size());
    for (const hotq::DeadLetter& d : h->letters) {
      hotq_dead_letter c{};
      c.id = d.id;
      c.attempts = d.attempts;
      c.priority = d.priority;
      c.reason = static_cast<std::uint32_t>(d.reason);
      c.enqueued_ns = d.enqueued_ns;
      c.dead_ns = d.dead_ns;
      c.error = d.error.c_str();
      c.error_bytes = d.error.size();
      c.payload = d.payload.data();
      c.payload_bytes = d.payload.size();
      h->items.push_back(c);  // no reallocation: reserved above
    }
    *list = hand_out_list(std::move(h));
    return HOTQ_OK;
  });
}

void hotq_dead_letters_release(hotq_dead_letters* list) {
  if (list == nullptr) return;
  delete static_cast<DeadLettersHolder*>(list->internal_);
}

hotq_code hotq_redrive(hotq_engine* engine, hotq_queue_id queue, uint64_t max_jobs,
                       uint64_t* redriven) {
  if (redriven != nullptr) *redriven = 0;
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    hotq::Result<std::uint64_t> r = engine->engine->redrive(queue, max_jobs);
    if (r.ok() && redriven != nullptr) *redriven = r.value();
    return to_c(r.code());
  });
}

hotq_code hotq_redrive_ids(hotq_engine* engine, hotq_queue_id queue, const hotq_job_id* ids,
                           size_t count, uint64_t* redriven) {
  if (redriven != nullptr) *redriven = 0;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || count > HOTQ_BATCH_JOBS_MAX || (count != 0 && ids == nullptr)) {
      return HOTQ_INVALID_ARGUMENT;
    }
    hotq::Result<std::uint64_t> r =
        engine->engine->redrive_ids(queue, std::span<const hotq::JobId>(ids, count));
    if (r.ok() && redriven != nullptr) *redriven = r.value();
    return to_c(r.code());
  });
}

hotq_code hotq_dead_delete(hotq_engine* engine, hotq_queue_id queue, const hotq_job_id* ids,
                           size_t count, uint64_t* deleted) {
  return guard([&] { return dead_remove(engine, queue, ids, count, false, deleted); });
}

hotq_code hotq_dead_purge(hotq_engine* engine, hotq_queue_id queue, uint64_t* deleted) {
  return guard([&] { return dead_remove(engine, queue, nullptr, 0, true, deleted); });
}

// ---------------------------------------------------------------- stats

hotq_code hotq_queue_stats_get(hotq_engine* engine, hotq_queue_id queue,
                               hotq_queue_stats* stats) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || stats == nullptr || stats->struct_size < queue_stats_v1_bytes) {
      return HOTQ_INVALID_ARGUMENT;
    }
    hotq::Result<hotq::QueueStats> r = engine->engine->stats(queue);
    if (!r.ok()) return to_c(r.code());
    fill_stats(r.value(), stats);
    return HOTQ_OK;
  });
}

hotq_code hotq_engine_stats_get(hotq_engine* engine, hotq_queue_stats* stats) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || stats == nullptr || stats->struct_size < queue_stats_v1_bytes) {
      return HOTQ_INVALID_ARGUMENT;
    }
    fill_stats(engine->engine->engine_stats(), stats);
    return HOTQ_OK;
  });
}

hotq_code hotq_wal_stats_get(hotq_engine* engine, hotq_wal_stats* stats) {
  return guard([&]() -> hotq_code {
    if (engine == nullptr || stats == nullptr || stats->struct_size < wal_stats_v1_bytes) {
      return HOTQ_INVALID_ARGUMENT;
    }
    fill_wal_stats(engine->engine->wal_stats(), stats);
    return HOTQ_OK;
  });
}

hotq_code hotq_wal_texts(hotq_engine* engine, char** failure, char** snapshot_error) {
  if (failure != nullptr) *failure = nullptr;
  if (snapshot_error != nullptr) *snapshot_error = nullptr;
  return guard([&]() -> hotq_code {
    if (engine == nullptr) return HOTQ_INVALID_ARGUMENT;
    const hotq::WalStats w = engine->engine->wal_stats();
    char* f = failure != nullptr ? malloc_text(w.failure) : nullptr;
    char* se = snapshot_error != nullptr ? malloc_text(w.snapshot_error) : nullptr;
    if ((failure != nullptr && f == nullptr) || (snapshot_error != nullptr && se == nullptr)) {
      std::free(f);
      std::free(se);
      return HOTQ_NO_MEMORY;
    }
    if (failure != nullptr) *failure = f;
    if (snapshot_error != nullptr) *snapshot_error = se;
    return HOTQ_OK;
  });
}

hotq_code hotq_metrics_prometheus(hotq_engine* engine, char** text, size_t* bytes) {
  if (text != nullptr) *text = nullptr;
  if (bytes != nullptr) *bytes = 0;
  return guard([&]() -> hotq_code {
    if (engine == nullptr || text == nullptr || bytes == nullptr) return HOTQ_INVALID_ARGUMENT;
    const std::string page = hotq::prometheus_text(*engine->engine);
    char* out = malloc_text(page);
    if (out == nullptr) return HOTQ_NO_MEMORY;
    *text = out;
    *bytes = page.size();
    return HOTQ_OK;
  });
}

void hotq_text_release(char* text) { std::free(text); }

}  // extern "C"
