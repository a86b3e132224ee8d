// hotq/job.h — the values that describe jobs: ids, leases, payloads.
#ifndef HOTQ_JOB_H_
#define HOTQ_JOB_H_

#include <hotq/export.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

namespace hotq {

// Unique for the life of the engine's data: never reused. Never 0.
using JobId = std::uint64_t;
// A queue's handle, from create_queue/find_queue. A dropped queue's id is
// never valid again, even if a queue of the same name is created.
using QueueId = std::uint32_t;

// The job state machine (drawn in docs/architecture.md). A completed or
// cancelled job is gone: it has no state.
//
//   enqueue(delay>0) ──► delayed ──(due)──┐
//                                         ▼
//   enqueue ──────────────────────────► ready ◄────────────────┐
//                                         │ reserve             │ nack / lease expiry
//                                         ▼                     │ (attempts left; a backoff
//                                      leased ──────────────────┘  wait is spent delayed)
//                                       │  │
//                           ack ◄───────┘  └──► dead ── redrive ──► ready
//                        (completed)  fail, or nack/expiry   └── delete / purge
//                                     with attempts used up
enum class JobState : std::uint8_t { delayed = 1, ready = 2, leased = 3, dead = 4 };
HOTQ_API const char* job_state_name(JobState state) noexcept;

// Why a job is in the dead-letter set.
enum class DeadReason : std::uint8_t {
  failed = 1,             // fail(): the worker said it cannot succeed
  attempts_nacked = 2,    // nack() on the last attempt
  attempts_expired = 3,   // the lease of the last attempt expired (worker died)
};
HOTQ_API const char* dead_reason_name(DeadReason reason) noexcept;

// Proof of holding a job's lease: returned by reserve, required by ack, nack,
// fail and extend. The token is unique per delivery (fencing): a token from an
// earlier delivery of the same job is refused with Code::stale_lease.
struct Lease {
  JobId job = 0;
  std::uint64_t token = 0;
  // When the delivery was reserved (engine clock): the engine measures the
  // run latency (reserve to ack) from it, so a lease rebuilt from job and
  // token alone (reserved_ns 0) settles the same but is not measured.
  std::uint64_t reserved_ns = 0;
  friend bool operator==(const Lease&, const Lease&) = default;
};

namespace detail {
// Engine-owned, immutable payload bytes with a reference count. Allocated
// once at enqueue; the engine's job record holds one reference, each Payload
// handle another. The bytes follow the header.
struct PayloadBuf {
  std::atomic<std::uint32_t> refs;
  std::uint32_t size;
  char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
};
static_assert(sizeof(PayloadBuf) == 8);
}  // namespace detail

// A counted reference to a job's payload bytes. The bytes stay valid, and
// unchanged, for as long as any Payload refers to them — also after the job
// was acked, its lease expired, or it was delivered again: a slow consumer
// never reads freed or reused memory.
//
// Thread safety: distinct Payload objects referring to the same bytes may be
// used and destroyed from any threads at once; one Payload object is not to
// be modified from two threads at once (like std::shared_ptr).
class Payload {
 public:
  Payload() noexcept = default;
  Payload(const Payload& other) noexcept : buf_(other.buf_) { retain(); }
  Payload(Payload&& other) noexcept : buf_(std::exchange(other.buf_, nullptr)) {}
  Payload& operator=(Payload other) noexcept {
    std::swap(buf_, other.buf_);
    return *this;
  }
  ~Payload() { release(buf_); }

  std::string_view view() const noexcept {
    return buf_ ? std::string_view(buf_->bytes(), buf_->size) : std::string_view();
  }
  std::size_t size() const noexcept { return buf_ ? buf_->size : 0; }
  const char* data() const noexcept { return buf_ ? buf_->bytes() : nullptr; }
  std::string str() const { return std::string(view()); }

  // For the engine: adopt one reference already counted for this handle.
  static Payload adopt(detail::PayloadBuf* buf) noexcept {
    Payload p;
    p.buf_ = buf;
    return p;
  }
  // For the engine: drop one reference; frees the bytes with the last one.
  static void release(detail::PayloadBuf* buf) noexcept {
    // acq_rel: the release half publishes this owner's reads of the bytes
    // before the count drops; the acquire half makes the last owner see every
    // other owner's reads done before it frees the memory.
    if (buf != nullptr && buf->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::free(buf);
    }
  }

 private:
  void retain() noexcept {
    // relaxed: a new reference is made from an existing one, which already
    // keeps the bytes alive; no ordering is needed (as in shared_ptr).
    if (buf_ != nullptr) buf_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  detail::PayloadBuf* buf_ = nullptr;
};

// One job handed out by reserve.
struct ReservedJob {
  JobId id = 0;
  std::uint64_t token = 0;            // fencing token of this delivery
  std::uint32_t attempt = 0;          // 1 on the first delivery
  std::uint8_t priority = 0;
  std::uint64_t lease_deadline_ns = 0;  // on the engine's clock
  std::uint64_t reserved_ns = 0;        // on the engine's clock
  Payload payload;
  Lease lease() const noexcept { return Lease{id, token, reserved_ns}; }
};

// What enqueue takes. The payload bytes are copied into engine-owned memory
// before enqueue returns.
struct EnqueueRequest {
  std::string_view payload{};
  std::uint8_t priority = 0;        // 0 (most urgent) .. priority_levels-1
  std::uint64_t delay_ms = 0;       // ready after this long; 0..delay_ms_max
  std::uint32_t attempts_max = 0;   // 0: the queue's attempts_max
  std::uint64_t lease_ms = 0;       // 0: the lease reserve asks for, or the queue's default
  // Idempotent enqueue: within the queue's dedup window, a second enqueue
  // with the same key enqueues nothing and answers Code::duplicate with the
  // first job's id, also after that job completed. Empty: no dedup.
  // 0..dedup_key_bytes_max bytes.
  std::string_view dedup_key{};
};

// A job in the dead-letter set.
struct DeadLetter {
  JobId id = 0;
  std::uint32_t attempts = 0;  // attempts used when it died
  std::uint8_t priority = 0;
  DeadReason reason = DeadReason::failed;
  std::string error;           // last error text given to nack/fail (cut at error_text_bytes_max)
  std::uint64_t enqueued_ns = 0;
  std::uint64_t dead_ns = 0;
  Payload payload;
};

}  // namespace hotq

#endif  // HOTQ_JOB_H_
