// hotq/options.h — named limits and the options of engines and queues.
//
// Every limit hotq enforces is named here, with its unit last. A request that
// would break one is refused with a named Code and changes nothing.
#ifndef HOTQ_OPTIONS_H_
#define HOTQ_OPTIONS_H_

#include <cstdint>
#include <string>

namespace hotq {

class Clock;

// ---------------------------------------------------------------- limits
// Priority levels a queue may have; priority 0 is the most urgent.
inline constexpr std::uint32_t priority_levels_max = 8;
// Hard ceiling for a queue's payload_bytes_max.
inline constexpr std::uint32_t payload_bytes_limit = 64u << 20;
// Default payload_bytes_max of a queue.
inline constexpr std::uint32_t payload_bytes_max_default = 1u << 20;
// Queue names: 1..queue_name_bytes_max bytes of [A-Za-z0-9._:-].
inline constexpr std::uint32_t queue_name_bytes_max = 128;
// Queues that may exist in one engine at once. Each of the queues_max slots
// serves at most 2^19 queues over the engine's life (its directory's, when
// durable), so that a QueueId is never handed out twice: 2^31 creations in
// all, spread over the slots free at each create.
inline constexpr std::uint32_t queues_max = 4096;
// Ceiling for a queue's capacity_jobs_max (jobs in any state, dead included).
inline constexpr std::uint64_t capacity_jobs_limit = 1ull << 26;
// Jobs one batch call may carry (enqueue_batch, reserve_batch, ack_batch).
inline constexpr std::uint32_t batch_jobs_max = 1024;
// Longest delay (enqueue, nack, backoff) and longest lease.
inline constexpr std::uint64_t delay_ms_max = 366ull * 24 * 3600 * 1000;
inline constexpr std::uint64_t lease_ms_max = 7ull * 24 * 3600 * 1000;
// Ceiling for attempts_max (deliveries counted before dead-lettering).
inline constexpr std::uint32_t attempts_limit = 65535;
// Error text kept with a dead letter; longer text is cut at this length.
inline constexpr std::uint32_t error_text_bytes_max = 1024;
// Shards (each with its rings, slab and timing wheel) of one engine.
inline constexpr std::uint32_t shards_max = 64;
// Live job records one shard can hold (all queues together).
inline constexpr std::uint32_t shard_jobs_max = 1u << 26;

// Dedup keys: 1..dedup_key_bytes_max bytes, any values.
inline constexpr std::uint32_t dedup_key_bytes_max = 256;
// Longest dedup window a queue may have.
inline constexpr std::uint64_t dedup_window_ms_max = 7ull * 24 * 3600 * 1000;
// Default dedup window (SQS's is a fixed 5 minutes; here it is per queue).
inline constexpr std::uint64_t dedup_window_ms_default = 5 * 60'000;
// Ceiling for a queue's dedup_keys_max (keys remembered at once).
inline constexpr std::uint64_t dedup_keys_limit = 1ull << 26;

// Ceiling for a rate limit's tokens_per_interval and burst_tokens.
inline constexpr std::uint64_t rate_tokens_limit = 1ull << 32;

// Topics (fan-out) an engine may have, and queues bound to one topic.
inline constexpr std::uint32_t topics_max = 1024;
inline constexpr std::uint32_t topic_queues_max = 64;

// ---------------------------------------------------------------- backoff
// The wait before a nacked job is ready again (when nack names no delay).
// For the n-th failed attempt (n >= 1):
//   fixed:        base_ms
//   exponential:  min(cap_ms, base_ms * 2^(n-1))
// then jitter subtracts a uniformly random part of up to jitter_percent of it
// (drawn from the engine's seeded generator, so tests are reproducible).
struct Backoff {
  enum class Kind : std::uint8_t { fixed, exponential };
  Kind kind = Kind::exponential;
  std::uint64_t base_ms = 1'000;
  std::uint64_t cap_ms = 5 * 60'000;
  std::uint32_t jitter_percent = 0;  // 0..100
};

// ---------------------------------------------------------------- queues
// How a queue orders its ready jobs (within one priority level).
enum class Ordering : std::uint8_t {
  // Default, fastest: one ring per shard (core). Jobs enqueued on one shard
  // leave in FIFO order; jobs of different shards have no promised order.
  sharded = 0,
  // One ring for the queue: a total FIFO order per priority level, at the
  // cost of every producer and consumer sharing it.
  fifo = 1,
};

// Reserve rate limit: a token bucket refilled at tokens_per_interval per
// interval_ms, holding at most burst_tokens (0: tokens_per_interval). Over
// any span of time w, at most burst_tokens + w * rate jobs are reserved.
// tokens_per_interval 0 means no limit.
struct RateLimit {
  std::uint64_t tokens_per_interval = 0;
  std::uint64_t interval_ms = 1000;
  std::uint64_t burst_tokens = 0;
};

struct QueueOptions {
  // Back-pressure bound: jobs the queue holds in any state (delayed, ready,
  // leased, dead). An enqueue beyond it returns Code::full. 1..capacity_jobs_limit.
  // Memory: each shard has one ring per priority level sized for the whole
  // capacity, so the queue reserves shards * priority_levels *
  // bit_ceil(capacity_jobs_max) * 16 bytes of address space, resident only as
  // the rings are used.
  std::uint64_t capacity_jobs_max = 1u << 16;
  // Priority levels 1..priority_levels_max; a job's priority is 0..levels-1,
  // 0 the most urgent. A ready job of a more urgent level is always handed
  // out before any job of a less urgent one.
  std::uint32_t priority_levels = 3;
  // Lease given by reserve when it names none. 1..lease_ms_max.
  std::uint64_t lease_ms_default = 30'000;
  // Deliveries before a job is dead-lettered (nack or expiry on the last one).
  // 1..attempts_limit.
  std::uint32_t attempts_max = 5;
  Backoff backoff;
  // Longest payload accepted; longer ones return Code::too_large.
  // 0..payload_bytes_limit.
  std::uint32_t payload_bytes_max = payload_bytes_max_default;
  // Whether a lease that expires (the worker died or stalled) uses up an
  // attempt like a nack does. With false, a job whose worker keeps dying is
  // redelivered forever.
  bool expiry_counts_as_attempt = true;
  Ordering ordering = Ordering::sharded;
  // Jobs that may be leased at once (like NATS MaxAckPending or BullMQ
  // concurrency); a reserve beyond it returns Code::leased_full. 0: no cap.
  std::uint64_t leased_max = 0;
  RateLimit rate_limit;
  // Dedup (EnqueueRequest::dedup_key): how long a key is remembered after
  // its first enqueue (1..dedup_window_ms_max), and how many keys at most
  // (0..dedup_keys_limit; 0 turns dedup off: a key is refused with
  // invalid_argument). At dedup_keys_max unexpired keys, an enqueue with a
  // new key is refused with Code::dedup_full: dedup is never silently lost.
  // Memory: about 60-90 bytes per key plus the key (docs/performance.md).
  std::uint64_t dedup_window_ms = dedup_window_ms_default;
  std::uint64_t dedup_keys_max = 1u << 20;
  // Durable engines only: a reserve returns only once its lease is on disk
  // (like an enqueue in sync mode). Without it, a crash may forget a lease
  // and deliver the job once more without counting that delivery; with it,
  // a job that kills its worker's process on every try still reaches the
  // dead-letter set after attempts_max deliveries. Costs a group commit per
  // reserve call.
  bool durable_delivery = false;
};

// ---------------------------------------------------------------- engines
// ---------------------------------------------------------------- durability

// What a write operation (enqueue, ack, nack, fail, extend, create_queue)
// waits for before it returns. Reserve never waits: a lease lost in a crash
// only means one more delivery, which at-least-once allows.
enum class Durability : std::uint8_t {
  // Its record is fdatasync'ed (group commit: many callers share one sync).
  sync = 0,
  // Nothing: the log is written and synced every wal_interval_ms by a timer,
  // so a crash loses at most the last interval of acknowledged operations.
  interval = 1,
};

// How the log reaches the disk. automatic: io_uring (a write linked to an
// fdatasync) when the kernel allows it, else pwritev + fdatasync; the choice
// is reported by Engine::open_report().
enum class WalBackend : std::uint8_t { automatic = 0, io_uring = 1, pwritev = 2 };

// Log segments: wal_segment_bytes_min..max, a multiple of 4 KiB.
inline constexpr std::uint64_t wal_segment_bytes_default = 64ull << 20;
inline constexpr std::uint64_t wal_segment_bytes_min = 64ull << 10;
inline constexpr std::uint64_t wal_segment_bytes_max = 1ull << 30;
inline constexpr std::uint64_t wal_interval_ms_max = 10'000;

struct EngineOptions {
  // The time source; nullptr means SystemClock::instance(). Not owned: it
  // must outlive the engine.
  const Clock* clock = nullptr;
  // Shards (per-core rings, slabs, timing wheels). 0 means one per hardware
  // thread. 1..shards_max.
  std::uint32_t shards = 0;
  // Timing-wheel tick: delays and leases fire at most this late, never early.
  std::uint64_t timer_tick_ns = 1'000'000;
  // Seed of the generator behind backoff jitter.
  std::uint64_t seed = 0x9e3779b97f4a7c15ull;

  // The write-ahead log's directory (created 0700 if missing, locked while
  // open). Empty: an in-memory engine, nothing survives close().
  std::string wal_dir{};
  Durability durability = Durability::sync;
  std::uint64_t wal_interval_ms = 10;  // interval mode: 1..wal_interval_ms_max
  WalBackend wal_backend = WalBackend::automatic;
  std::uint64_t wal_segment_bytes = wal_segment_bytes_default;
  // Times on disk are wall-clock (the engine clock is monotonic and does not
  // survive a reboot). nullptr: CLOCK_REALTIME. Tests pass their manual clock.
  const Clock* wall_clock = nullptr;
  // Snapshots (taken in the background; they bound the log and the time to
  // reopen): one is started when this many log bytes were written since the
  // last (0: never by size), or when wal_snapshot_interval_ms passed and
  // something was logged (0: never by time). Engine::snapshot() takes one now.
  std::uint64_t wal_snapshot_log_bytes = 256ull << 20;
  std::uint64_t wal_snapshot_interval_ms = 0;
};

}  // namespace hotq

#endif  // HOTQ_OPTIONS_H_
