// tools/crashtest — campaigns that check hotq loses nothing it acknowledged
// (issue 6; docs/durability.md says how to run and replay them).
//
// The pieces, shared by the three campaigns:
//
//   Payload   every job's payload carries its sequence number and an XXH3 of
//             itself, so a checker can tell a job's bytes are intact and which
//             enqueue made it without trusting the engine.
//   Event     what a workload thread did: an `intent` before each call and a
//             `done` with its result after. An intent with no done when the
//             process died is an operation in flight: its outcome is unknown.
//             Events are fixed-size PODs so that the kill campaign's child can
//             write each with one write(2) to a pipe (atomic below PIPE_BUF).
//   Workload  producer and consumer threads running the job lifecycle on an
//             engine (enqueue and publish to both queues, with and without
//             dedup keys, reserve, ack, nack, fail, extend, redrive),
//             reporting every call to an EventSink (a publish as one enqueue
//             event per queue, with the same payload).
//   Model     the parent's knowledge, built from the events alone; verify()
//             opens nothing itself: it checks a recovered engine against the
//             acknowledged history and names each violation.
//
// The model's rules (what "acknowledged" buys, docs/durability.md):
//   - an enqueue that returned ok is present after recovery with an intact
//     payload, unless an ack of it returned ok (or one was in flight);
//   - an ack that returned ok is never undone (the job stays gone);
//   - a fail that returned ok is never undone (the job stays dead, unless a
//     redrive of it was made or in flight);
//   - no job appears that no enqueue intended (counted per queue, and each
//     delivered payload must carry a sequence number some enqueue intended);
//   - on the durable_delivery queue: attempt counts never go below what a
//     returned reserve reported (until a redrive resets them), and a lease a
//     returned reserve reported is still held by the same token after the
//     restart while its deadline has not passed (the checker acks with it);
//   - a dedup key whose enqueue returned (ok or duplicate) still
//     deduplicates to the same job inside its window.
//
// Thread safety: Workload runs its own threads and calls the sink from all of
// them at once (EventSink::put must be thread-safe); Model is used by one
// thread.
#ifndef HOTQ_TOOLS_CRASHTEST_CRASHTEST_H_
#define HOTQ_TOOLS_CRASHTEST_CRASHTEST_H_

#include <hotq/engine.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <unordered_set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace hotq::crashtest {

// ------------------------------------------------------------------ payload

// "HQCT" | seq u64 | body_bytes u32 | body | xxh3_64 of everything before.
inline constexpr std::uint32_t payload_magic = 0x54435148;  // "HQCT" little-endian
inline constexpr std::size_t payload_overhead_bytes = 4 + 8 + 4 + 8;
inline constexpr std::size_t payload_body_bytes_max = 256;

std::string make_payload(std::uint64_t seq, std::mt19937_64& rng);
// true when the payload is well formed and its checksum holds; *seq is the
// sequence number it carries.
bool check_payload(std::string_view payload, std::uint64_t* seq);

// ------------------------------------------------------------------ events

enum class Op : std::uint8_t {
  ready = 1,   // the workload's engine is open (kill campaign: the child says so)
  enqueue,     // seq, queue, aux = dedup key number + 1 (0: none); done: job
  reserve,     // done: job, seq, token, attempts, aux = lease deadline (wall ns)
  ack,         // job, token
  nack,        // job, token; done: attempts, aux = 1 when it dead-letters
  fail,        // job, token
  extend,      // job, token; done: aux = new deadline (wall ns)
  redrive,     // job; done: aux = jobs redriven (0 or 1)
  violation,   // the workload itself saw something wrong (bad payload): seq
};
enum class Phase : std::uint8_t { intent = 1, done = 2 };

struct Event {
  Op op = Op::ready;
  Phase phase = Phase::intent;
  std::uint8_t queue = 0;     // 0: the plain queue, 1: the durable_delivery one
  std::uint8_t code = 0;      // done: the hotq::Code returned
  std::uint32_t attempts = 0;
  std::uint64_t op_id = 0;    // pairs intent and done: thread << 40 | count
  std::uint64_t seq = 0;
  std::uint64_t job = 0;
  std::uint64_t token = 0;
  std::uint64_t aux = 0;
};
static_assert(sizeof(Event) == 48);

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called from every workload thread at once.
  virtual void put(const Event& e) = 0;
};

// Collects events in memory (the in-process campaigns).
class MemorySink final : public EventSink {
 public:
  void put(const Event& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
  }
  std::vector<Event> take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(events_);
  }

 private:
  std::mutex mu_;
  std::vector<Event> events_;
};

// ------------------------------------------------------------------ workload

inline constexpr const char* queue_names[2] = {"plain", "durable"};
inline constexpr const char* topic_name = "both";  // bound to the two queues, in that order
inline constexpr std::uint32_t attempts_max = 3;
inline constexpr std::uint64_t lease_ms = 10'000;
inline constexpr std::uint64_t dedup_window_ms = 3'600'000;

// Creates the two queues when missing and binds both to topic_name; their
// ids in order (plain, durable).
Status ensure_queues(Engine& engine, std::vector<QueueId>* ids);
// Engine options for a campaign's directory (small segments: many rolls).
EngineOptions engine_options(const std::string& wal_dir, WalBackend backend, Durability durability);

struct WorkloadOptions {
  std::uint32_t producers = 2;
  std::uint32_t consumers = 2;
  std::uint64_t seq_base = 0;      // sequence numbers start above it
  std::uint64_t seed = 1;
  std::uint64_t dedup_keys = 256;  // keys (enqueues' and publishes') drawn from [0, dedup_keys)
  std::uint64_t backlog_max = 2048;  // producers pause while a queue holds more waiting or dead jobs
  // Engine::snapshot() every snapshot_every_ms / 2 .. 3/2 of it (0: never),
  // so that crashes also land in snapshots and recoveries start from them
  // (a round is too short for the engine's own trigger by log size).
  std::uint64_t snapshot_every_ms = 0;
};

class Workload {
 public:
  Workload(Engine& engine, std::vector<QueueId> queues, EventSink& sink, WorkloadOptions options);
  ~Workload();  // stop() and join
  void start();
  // Asks the threads to stop after their current call and joins them.
  void stop();
  // Operations that returned ok, so far (a progress figure).
  std::uint64_t ok_count() const { return ok_.load(std::memory_order_relaxed); }

 private:
  void produce(std::uint32_t thread);
  void consume(std::uint32_t thread);
  void snapshot_now_and_then();

  Engine& engine_;
  const std::vector<QueueId> queues_;
  EventSink& sink_;
  const WorkloadOptions options_;
  // relaxed: a flag polled between calls; no data is published through it.
  std::atomic<bool> stop_{false};
  // relaxed: distinct numbers are all it must give.
  std::atomic<std::uint64_t> next_seq_{0};
  std::atomic<std::uint64_t> ok_{0};  // relaxed: a statistic
  std::vector<std::thread> threads_;
};

// ------------------------------------------------------------------ model

struct Verdict {
  std::vector<std::string> violations;
  std::uint64_t jobs_checked = 0;
  std::uint64_t leases_checked = 0;
  std::uint64_t dedup_checked = 0;
  std::uint64_t in_flight = 0;  // operations whose outcome the crash left open
  std::uint64_t waiting = 0, leased = 0, dead = 0;  // the recovered queues' jobs
  // The recovery started from a snapshot whose jobs share a payload (a
  // publish's: snap_payload + snap_job_shared records): the coverage of
  // that path, counted by the in-process campaigns.
  bool shared_snapshot = false;
};

class Model {
 public:
  // Feeds one event (in the order they were written).
  void apply(const Event& e);
  // The process running the workload is gone: every intent without a done
  // is in flight, its outcome unknown until verify() looks.
  void crashed();
  // Checks a freshly recovered engine against the history, then settles
  // what the crash left open from what it finds (and acks the durable
  // leases it checks, nacks the plain queue's known leases, so the next
  // round starts without stuck jobs). Uses the engine: not thread-safe.
  Verdict verify(Engine& engine, const std::vector<QueueId>& queues, std::mt19937_64& rng);
  // Sequence numbers used so far (a new workload starts above).
  std::uint64_t seq_high() const { return seq_high_; }
  std::size_t jobs() const { return jobs_.size(); }

 private:
  struct Job {
    std::uint64_t seq = 0;
    std::uint8_t queue = 0;
    bool acknowledged = false;   // its enqueue returned ok (not only seen delivered)
    bool gone = false;           // an ack returned ok
    bool dead = false;           // a fail (or last-attempt nack) returned ok, no redrive since
    bool unsure = false;         // an op on it was in flight at a crash
    std::uint32_t attempts_floor = 0;  // durable queue: highest attempt a reserve returned
    bool lease_live = false;     // durable queue: a reserve returned, nothing settled since
    std::uint64_t token = 0;     // the last reserve's token (both queues)
    std::uint64_t deadline_wall = 0;
    std::uint32_t inflight = 0;  // settle/redrive intents without done
    std::uint64_t redrives = 0;  // redrives of it that returned ok
    std::uint32_t redrive_inflight = 0;
    std::vector<Event> history;  // its last job_history_max events, for violation reports
  };
  static constexpr std::size_t job_history_max = 24;
  void remember(const Event& e);
  std::string history(std::uint64_t job) const;
  void violation(std::string what);
  Job* find(std::uint64_t job);
  // Sequence numbers of jobs an ack ended, once the model forgot the job.
  // A job's identity in the maps below: its payload's sequence number and
  // its queue (a publish puts one payload, one seq, in both queues).
  static std::uint64_t ident(std::uint64_t seq, std::uint8_t queue) { return seq << 1 | queue; }
  void mark_gone(std::uint64_t seq, std::uint8_t queue);
  bool was_gone(std::uint64_t seq, std::uint8_t queue) const;
  void on_reserved(const Event& e);

  std::unordered_map<std::uint64_t, Job> jobs_;             // by job id
  std::unordered_map<std::uint64_t, Event> open_;          // intents by op_id
  std::unordered_map<std::uint64_t, std::uint8_t> enqueue_unknown_;  // ident -> queue: intended, id unknown
  std::unordered_map<std::uint64_t, std::uint64_t> seq_to_job_;      // ident -> job
  std::map<std::pair<std::uint8_t, std::uint64_t>, std::uint64_t> keys_;  // (queue, key) -> job
  std::unordered_set<std::uint64_t> intended_seqs_;
  std::vector<bool> gone_seqs_;  // by ident
  std::vector<std::string> pending_violations_;
  std::uint64_t seq_high_ = 0;
};

std::string key_name(std::uint64_t key);

}  // namespace hotq::crashtest

#endif  // HOTQ_TOOLS_CRASHTEST_CRASHTEST_H_
