// engine/dedup_table.h — DedupTable: the dedup keys a queue remembers, for
// idempotent enqueue with SQS FIFO semantics. Within the queue's window a
// second enqueue with the same key enqueues nothing and answers `duplicate`
// with the first job's id, whatever happened to that job since (completed,
// dead, deleted): only the window, a rollback (release) or clear() forgets a
// key.
//
// Time and the window boundary. A key claimed at time t is remembered until
// expires_ns = t + window_ns, exclusive: a claim at now < expires_ns is a
// duplicate, a claim at now >= expires_ns finds the key new. So with
// window 100 and a first claim at 1000, a claim at 1099 is a duplicate and a
// claim at 1100 inserts afresh.
//
// Structure. 64 stripes (dedup_stripes), chosen by the top 6 bits of the
// key's 64-bit hash (XXH3 unless a test injects another function); the
// stripes share nothing but the table's live-key count and its limits. A
// stripe holds, under its own Mutex:
//   * a FIFO of records in one ring of 8-byte words, in claim order. A record
//     is 3 header words — (hash bits 0..47 << 16 | key length << 1 | dead),
//     id, expires_ns — followed by the key bytes padded to a word. A record
//     never wraps: when it does not fit before the end of the ring, a pad
//     (one zero word) fills the rest and the record starts at word 0.
//   * an open-addressing index (linear probing, backward-shift deletion, load
//     <= 3/4) of 8-byte slots: 28 hash bits (which also pick the home slot)
//     and the record's word offset. A lookup compares the slot's hash bits,
//     then the record's 48 hash bits and length, then the key bytes
//     (memcmp), so keys whose hashes collide are told apart by their bytes.
//   * the stripe's clock: the latest now any call passed to it.
// The ring and the index are rebuilt together (live records copied to a
// fresh ring in order, dead and expired ones left behind) when a record does
// not fit or the index would pass 3/4 load, and shrunk the same way when
// live data falls under 1/4 of the ring or 1/8 of the index; both are freed
// when the stripe holds no live key. Each rebuild follows Omega(n) inserts or
// drops since the last, so all operations are amortised O(1).
//
// Expiry. The window is fixed per table, and a claim stamps its record with
// the stripe's clock (max of its own now and the latest now seen), so within a
// stripe records expire in FIFO order. Each claim first drops expired records
// from the front of its stripe (at most dedup_drops_per_claim_max, so a mass
// expiry is spread over calls). An expired record still held (beyond that
// bound) is treated as absent: a claim of its key replaces it. When a claim
// finds keys_max live keys, it drops every expired record of every stripe
// (lock-free front-expiry hints skip stripes with nothing expired) and
// answers `full` only if that freed nothing.
//
// Clocks out of order. Callers read the clock before taking a stripe's lock,
// so a later caller can arrive with an earlier now. The stripe's clock only
// moves forward, and both stamping and expiry use it: a key is never stamped
// earlier than a claim already served by its stripe, so it never expires
// early for a caller whose now is later (nor for anyone: it may live up to the
// skew longer). A caller whose now lags is judged at the stripe's clock.
//
// Thread safety: claim, release, size, bytes, clear, for_each and restore may
// be called from any threads at once; only construction, destruction and
// check_invariants (quiescent, tests) may not. Each call locks one stripe at a
// time, never two, so there is no lock order. for_each calls fn under a stripe
// lock: fn must not call back into the table.
//
// Invariants (per stripe, under its lock; checked by check_invariants):
//   * live == records in the index == records in the ring without `dead`;
//   * every index slot names a live record whose hash bits it carries;
//   * head, tail < ring_words; used_words (records, dead or live, and pads
//     between head and tail) <= ring_words; used_words == 0 => head == tail == 0;
//   * stamps are non-decreasing from head to tail (claims); restore() out of
//     expiry order breaks only this one, which makes dropping lazier, not wrong;
//   * the sum of the stripes' live counts is the table's count, <= keys_max
//     (the count is reserved, under the stripe lock, before a record is added).
//
// Memory per key: a record of 24 + round_up(key bytes, 8) bytes (40 for a
// 16-byte key) in a ring sized 1.5x the live records at its last rebuild,
// plus the index: bit_ceil(2 x keys) 8-byte slots at a rebuild (16..32 bytes
// per key), 10.7 bytes per key at 3/4 load just before it grows. So for a
// 16-byte key, 51..92 bytes while keys grow or hold steady (the ring fills
// from 1.5x to 1.0x of the records); while they shrink, up to 4x the records
// and 64 bytes of index per key until a shrinking rebuild. Measured by
// bench/dedup_bench.cc, 1M live 16-byte keys in steady state: 63 bytes per
// key. Released records only take ring space already allocated (a rebuild
// never copies them). Bound: a stripe whose live keys fall under 1/4 of its
// ring or 1/8 of its index shrinks at once, so a table never holds more than
// keys_max x (4 x record + 64) bytes, plus 192 bytes of minimum buffers per
// stripe.
// Fixed: 12.3 KB per table (64 stripes of 192 bytes); a stripe's buffers are
// freed whenever it holds no key.
#ifndef HOTQ_ENGINE_DEDUP_TABLE_H_
#define HOTQ_ENGINE_DEDUP_TABLE_H_

#include <hotq/options.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace hotq::engine {

// Stripes of a table, chosen by the top dedup_stripe_bits bits of a key's hash.
inline constexpr std::uint32_t dedup_stripe_bits = 6;
inline constexpr std::uint32_t dedup_stripes = 1u << dedup_stripe_bits;
// Records (expired or released) one claim drops from its stripe's front.
inline constexpr std::uint32_t dedup_drops_per_claim_max = 64;

// The key hash. Tests inject a weak one to force collisions.
using DedupHashFn = std::uint64_t (*)(std::string_view key);
// XXH3_64bits of the key bytes (unseeded).
std::uint64_t dedup_hash_xxh3(std::string_view key);

class DedupTable {
 public:
  enum class Claim : std::uint8_t { inserted, duplicate, full };
  using Visitor =
      std::function<void(std::string_view key, std::uint64_t id, std::uint64_t expires_ns)>;

  // window_ns: how long a key is remembered after its first claim,
  // 1..dedup_window_ms_max ms in ns. keys_max: unexpired keys held at once,
  // 1..dedup_keys_limit. hash: non-null. All checked. Allocates nothing but
  // the stripes until keys arrive.
  DedupTable(std::uint64_t window_ns, std::uint64_t keys_max, DedupHashFn hash = &dedup_hash_xxh3);
  ~DedupTable();
  DedupTable(const DedupTable&) = delete;
  DedupTable& operator=(const DedupTable&) = delete;

  // If key is remembered and not expired at now_ns (see "Clocks"):
  // duplicate, *existing = its id, nothing changes. Otherwise, if fewer than
  // keys_max unexpired keys are held: key -> id is remembered until
  // now_ns + window_ns, inserted. Otherwise full, and nothing changes.
  // Preconditions (checked): 1 <= key.size() <= dedup_key_bytes_max, id != 0,
  // existing != nullptr.
  Claim claim(std::string_view key, std::uint64_t now_ns, std::uint64_t id,
              std::uint64_t* existing);

  // Forgets key if it is held (expired or not) and maps to id: the rollback
  // of an enqueue that claimed it. Returns whether it did. Key as for claim.
  bool release(std::string_view key, std::uint64_t id);
  // Whether key is remembered and unexpired at now_ns (its id in *existing),
  // changing nothing: lets a full queue still answer a duplicate.
  bool find(std::string_view key, std::uint64_t now_ns, std::uint64_t* existing);

  // Keys unexpired at now_ns (each stripe judged at max(now_ns, its clock));
  // drops every expired record first. Locks every stripe in turn: for stats.
  std::size_t size(std::uint64_t now_ns);
  // Heap bytes held: rings, indexes, stripes and the table itself.
  std::size_t bytes() const;
  // Forgets every key and frees the rings and indexes. Stripe clocks stay.
  void clear();

  // Calls fn(key, id, expires_ns) for every key unexpired at now_ns (each
  // stripe judged at max(now_ns, its clock), which advances), stripe by
  // stripe, each stripe in claim order (so non-decreasing expires_ns within a
  // stripe). fn runs under a stripe lock and must not call the table.
  void for_each(std::uint64_t now_ns, const Visitor& fn);
  // Puts back one entry as for_each reported it. inserted; duplicate if the
  // key is already held unexpired (nothing changes, and the existing id is
  // kept); full if keys_max keys are held. Restoring in for_each order keeps
  // each stripe in expiry order. (Returns a Claim rather than void so that
  // recovery can tell a conflicting or overflowing snapshot.)
  Claim restore(std::string_view key, std::uint64_t id, std::uint64_t expires_ns);

  // O(n) verification of every invariant above; aborts on a breach. Only
  // while no other call is in flight (tests).
  void check_invariants();

  std::uint64_t window_ns() const { return window_ns_; }
  std::uint64_t keys_max() const { return keys_max_; }

 private:
  struct Stripe;

  // Reserves one unit of count_ if it is below keys_max_.
  bool reserve_key();
  void unreserve_keys(std::uint64_t n);
  // Drops every expired record of every stripe whose front may be expired.
  void drop_expired_everywhere(std::uint64_t now_ns);
  Claim claim_or_restore(std::string_view key, std::uint64_t now_ns, std::uint64_t id,
                         std::uint64_t expires_ns, std::uint64_t* existing);

  const std::uint64_t window_ns_;
  const std::uint64_t keys_max_;
  const DedupHashFn hash_;
  const std::unique_ptr<Stripe[]> stripes_;
  // Live records over all stripes. Relaxed: it is only a bound; the records
  // themselves are published and read under the stripe mutexes.
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace hotq::engine

#endif  // HOTQ_ENGINE_DEDUP_TABLE_H_
