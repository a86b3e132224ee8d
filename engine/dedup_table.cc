// engine/dedup_table.cc — see dedup_table.h for the structure and contract.
#include "engine/dedup_table.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "engine/mutex.h"
#include "util/check.h"

namespace hotq::engine {
namespace {

// A record: header word 0 = hs << 16 | key length << 1 | dead, where hs is
// bits 0..47 of the key's hash; word 1 = id; word 2 = expires_ns; then the
// key bytes. A pad is one zero word (a record's word 0 is never zero: its
// length is >= 1).
constexpr std::uint64_t header_words = 3;
constexpr std::uint64_t word_bytes = 8;
constexpr std::uint64_t hs_bits = 48;
constexpr std::uint64_t hs_mask = (1ull << hs_bits) - 1;
constexpr std::uint64_t len_mask = 0x7fff;
// An index slot: tag << off_bits | (record word offset + 1); 0 is empty. The
// tag is hash bits 20..47 and its low bits are the home slot, so a slot's home
// is known without reading its record (backward-shift deletion needs it).
constexpr std::uint64_t tag_bits = 28;
constexpr std::uint64_t tag_shift = hs_bits - tag_bits;
constexpr std::uint64_t tag_mask = (1ull << tag_bits) - 1;
constexpr std::uint64_t off_bits = 64 - tag_bits;
constexpr std::uint64_t off_mask = (1ull << off_bits) - 1;
constexpr std::uint64_t index_slots_min = 8;
constexpr std::uint64_t index_slots_max = 1ull << tag_bits;
constexpr std::uint64_t ring_words_min = 16;
constexpr std::uint64_t ring_words_max = off_mask - 1;
constexpr std::uint64_t no_slot = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t never_ns = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t ns_per_ms = 1'000'000;

constexpr std::uint64_t record_words(std::uint64_t key_bytes) {
  return header_words + (key_bytes + word_bytes - 1) / word_bytes;
}

static_assert(dedup_stripe_bits + hs_bits <= 64, "stripe bits and kept hash bits are disjoint");
static_assert(dedup_key_bytes_max >= 1 && dedup_key_bytes_max <= len_mask,
              "length fits the header");
static_assert(dedup_window_ms_max <= std::numeric_limits<std::uint64_t>::max() / ns_per_ms);
// A stripe can hold every key even if all hash to it: the index is sized at
// most bit_ceil(2 * (keys + 1)) slots, the ring at most 1.5 x the records.
static_assert(std::bit_ceil(2 * (dedup_keys_limit + 1)) <= index_slots_max);
static_assert((dedup_keys_limit + 1) * record_words(dedup_key_bytes_max) * 3 / 2 <= ring_words_max);

std::uint64_t header_len(std::uint64_t w0) { return (w0 >> 1) & len_mask; }
std::uint64_t header_hs(std::uint64_t w0) { return w0 >> 16; }
bool header_dead(std::uint64_t w0) { return (w0 & 1) != 0; }
std::uint64_t make_header(std::uint64_t hs, std::uint64_t len) { return hs << 16 | len << 1; }
std::uint64_t tag_of(std::uint64_t hs) { return (hs >> tag_shift) & tag_mask; }
std::uint64_t make_slot(std::uint64_t tag, std::uint64_t off) {
  return tag << off_bits | (off + 1);
}
std::uint64_t slot_tag(std::uint64_t slot) { return slot >> off_bits; }
std::uint64_t slot_off(std::uint64_t slot) { return (slot & off_mask) - 1; }
std::string_view record_key(const std::uint64_t* rec) {
  return {reinterpret_cast<const char*>(rec + header_words),
          static_cast<std::size_t>(header_len(rec[0]))};
}
std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  return a > never_ns - b ? never_ns : a + b;
}

// Places slot in an index of mask + 1 slots with room for it.
void index_put(std::uint64_t* index, std::uint64_t mask, std::uint64_t slot) {
  std::uint64_t i = slot_tag(slot) & mask;
  while (index[i] != 0) i = (i + 1) & mask;
  index[i] = slot;
}

std::uint64_t* allocate_words(std::uint64_t words, bool zeroed) {
  void* p = zeroed ? std::calloc(words, word_bytes) : std::malloc(words * word_bytes);
  HOTQ_CHECK(p != nullptr);
  return static_cast<std::uint64_t*>(p);
}

}  // namespace

std::uint64_t dedup_hash_xxh3(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// One stripe. Field comments give their meaning; dedup_table.h the invariants.
struct alignas(64) DedupTable::Stripe {
  Mutex mu;
  std::uint64_t* ring HOTQ_GUARDED_BY(mu) = nullptr;  // ring_words words (malloc)
  std::uint64_t ring_words HOTQ_GUARDED_BY(mu) = 0;
  std::uint64_t head HOTQ_GUARDED_BY(mu) = 0;          // oldest record or pad
  std::uint64_t tail HOTQ_GUARDED_BY(mu) = 0;          // where the next one goes
  std::uint64_t used_words HOTQ_GUARDED_BY(mu) = 0;    // records and pads, head..tail
  std::uint64_t live_words HOTQ_GUARDED_BY(mu) = 0;    // words of live records
  std::uint64_t* index HOTQ_GUARDED_BY(mu) = nullptr;  // index_slots slots (calloc)
  std::uint64_t index_slots HOTQ_GUARDED_BY(mu) = 0;   // 0 or a power of two
  std::uint64_t live HOTQ_GUARDED_BY(mu) = 0;          // live records
  // Written under mu, read without it by drop_expired_everywhere to skip the
  // stripe (relaxed: a stale value only makes that sweep lock in vain or skip
  // a stripe another thread is changing, which a concurrent answer allows).
  std::atomic<std::uint64_t> clock_ns{0};         // latest now seen
  std::atomic<std::uint64_t> front_ns{never_ns};  // expires_ns of the front record
  std::atomic<std::uint64_t> heap_bytes{0};       // ring + index (for bytes())

  Stripe() = default;
  ~Stripe() HOTQ_NO_TSA {
    std::free(ring);
    std::free(index);
  }
  Stripe(const Stripe&) = delete;
  Stripe& operator=(const Stripe&) = delete;

  std::uint64_t advance(std::uint64_t now_ns) HOTQ_REQUIRES(mu) {
    const std::uint64_t t = std::max(now_ns, clock_ns.load(std::memory_order_relaxed));
    clock_ns.store(t, std::memory_order_relaxed);
    return t;
  }

  // Starts loading the index line where key's probe begins, so that its
  // cache miss overlaps the one of dropping an expired record first.
  void prefetch_home(std::uint64_t hs) const HOTQ_REQUIRES(mu) {
    if (index_slots != 0) __builtin_prefetch(index + (tag_of(hs) & (index_slots - 1)));
  }

  const std::uint64_t* record(std::uint64_t slot_index) const HOTQ_REQUIRES(mu) {
    return ring + slot_off(index[slot_index]);
  }

  // Index position of key's live record, or no_slot.
  std::uint64_t find(std::string_view key, std::uint64_t hs) const HOTQ_REQUIRES(mu) {
    if (index_slots == 0) return no_slot;
    const std::uint64_t tag = tag_of(hs);
    const std::uint64_t mask = index_slots - 1;
    std::uint64_t i = tag & mask;
    for (std::uint64_t n = 0; n < index_slots; ++n, i = (i + 1) & mask) {
      const std::uint64_t s = index[i];
      if (s == 0) return no_slot;
      if (slot_tag(s) != tag) continue;
      const std::uint64_t* rec = ring + slot_off(s);
      if (header_hs(rec[0]) == hs && record_key(rec) == key) return i;
    }
    return no_slot;  // unreachable: the load is <= 3/4
  }

  // Index position of the live record at word offset off.
  std::uint64_t find_offset(std::uint64_t tag, std::uint64_t off) const HOTQ_REQUIRES(mu) {
    const std::uint64_t want = make_slot(tag, off);
    const std::uint64_t mask = index_slots - 1;
    std::uint64_t i = tag & mask;
    std::uint64_t n = 0;
    for (; n < index_slots && index[i] != want; ++n) i = (i + 1) & mask;
    HOTQ_CHECK(n < index_slots);  // a live record is always indexed
    return i;
  }

  // Backward-shift deletion: later slots of the probe run move into the hole
  // unless their home lies cyclically in (hole, their position].
  void index_erase(std::uint64_t i) HOTQ_REQUIRES(mu) {
    const std::uint64_t mask = index_slots - 1;
    std::uint64_t j = i;
    for (;;) {
      j = (j + 1) & mask;
      const std::uint64_t s = index[j];
      if (s == 0) break;
      const std::uint64_t home = slot_tag(s) & mask;
      const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays) {
        index[i] = s;
        i = j;
      }
    }
    index[i] = 0;
  }

  void publish_front() HOTQ_REQUIRES(mu) {
    std::uint64_t t = never_ns;
    if (used_words > 0) t = ring[(ring[head] == 0 ? 0 : head) + 2];
    front_ns.store(t, std::memory_order_relaxed);
  }

  // Calls f(rec) for every record (live or dead) from head to tail.
  template <class F>
  void walk(F&& f) const HOTQ_REQUIRES(mu) {
    std::uint64_t p = head;
    std::uint64_t rem = used_words;
    while (rem > 0) {
      if (ring[p] == 0) {  // pad to the end of the ring
        HOTQ_CHECK(rem >= ring_words - p);
        rem -= ring_words - p;
        p = 0;
        continue;
      }
      const std::uint64_t words = record_words(header_len(ring[p]));
      HOTQ_CHECK(rem >= words && p + words <= ring_words);
      f(ring + p);
      rem -= words;
      p += words;
      if (p == ring_words) p = 0;
    }
  }

  // Where a record of need words fits now: *off, after a pad of *pad words.
  bool fit(std::uint64_t need, std::uint64_t* off, std::uint64_t* pad) const HOTQ_REQUIRES(mu) {
    *pad = 0;
    if (ring_words == 0) return false;
    if (used_words == 0) {  // head == tail == 0
      *off = 0;
      return need <= ring_words;
    }
    if (tail > head) {
      if (ring_words - tail >= need) {
        *off = tail;
        return true;
      }
      *off = 0;
      *pad = ring_words - tail;
      return head >= need;
    }
    *off = tail;
    return tail < head && head - tail >= need;  // tail == head: full
  }

  void free_all() HOTQ_REQUIRES(mu) {
    std::free(ring);
    std::free(index);
    ring = nullptr;
    index = nullptr;
    ring_words = head = tail = used_words = live_words = index_slots = live = 0;
    heap_bytes.store(0, std::memory_order_relaxed);
    front_ns.store(never_ns, std::memory_order_relaxed);
  }

  // Copies the live records unexpired at t into a fresh ring and index sized
  // for them plus extra_keys records of extra_words words, or frees both if
  // nothing is to be kept. Returns the live records dropped (expired).
  std::uint64_t rebuild(std::uint64_t t, std::uint64_t extra_words, std::uint64_t extra_keys)
      HOTQ_REQUIRES(mu) {
    const std::uint64_t keep_keys = live + extra_keys;
    if (keep_keys == 0) {
      free_all();
      return 0;
    }
    const std::uint64_t keep_words = live_words + extra_words;
    const std::uint64_t new_words = std::max(ring_words_min, keep_words + keep_words / 2);
    const std::uint64_t new_slots = std::max(index_slots_min, std::bit_ceil(2 * keep_keys));
    HOTQ_CHECK(new_words <= ring_words_max && new_slots <= index_slots_max);
    std::uint64_t* new_ring = allocate_words(new_words, false);
    std::uint64_t* new_index = allocate_words(new_slots, true);
    std::uint64_t q = 0;
    std::uint64_t kept = 0;
    std::uint64_t dropped = 0;
    walk([&](const std::uint64_t* rec) {
      if (header_dead(rec[0])) return;
      if (rec[2] <= t) {
        ++dropped;
        return;
      }
      const std::uint64_t words = record_words(header_len(rec[0]));
      std::memcpy(new_ring + q, rec, words * word_bytes);
      index_put(new_index, new_slots - 1, make_slot(tag_of(header_hs(rec[0])), q));
      q += words;
      ++kept;
    });
    HOTQ_CHECK(kept + dropped == live && q < new_words);
    std::free(ring);
    std::free(index);
    ring = new_ring;
    ring_words = new_words;
    index = new_index;
    index_slots = new_slots;
    head = 0;
    tail = q;
    used_words = live_words = q;
    live = kept;
    heap_bytes.store((new_words + new_slots) * word_bytes, std::memory_order_relaxed);
    publish_front();
    if (live == 0 && extra_keys == 0) free_all();  // everything had expired
    return dropped;
  }

  // Rebuilds smaller (or frees) when live data is sparse. Returns as rebuild.
  std::uint64_t shrink_if_sparse(std::uint64_t t) HOTQ_REQUIRES(mu) {
    if (ring_words == 0) return 0;
    const bool sparse = live == 0 || (ring_words > ring_words_min && live_words * 4 < ring_words) ||
                        (index_slots > index_slots_min && live * 8 < index_slots);
    return sparse ? rebuild(t, 0, 0) : 0;
  }

  // Pops up to limit records from the front: released ones, and live ones
  // expired at t (stopping at the first unexpired). Returns the live ones.
  std::uint64_t drop_front(std::uint64_t t, std::uint64_t limit) HOTQ_REQUIRES(mu) {
    std::uint64_t dropped = 0;
    for (std::uint64_t steps = 0; used_words > 0 && steps < limit;) {
      const std::uint64_t w0 = ring[head];
      if (w0 == 0) {  // pad
        used_words -= ring_words - head;
        head = 0;
        continue;
      }
      const std::uint64_t words = record_words(header_len(w0));
      if (!header_dead(w0)) {
        if (ring[head + 2] > t) break;
        index_erase(find_offset(tag_of(header_hs(w0)), head));
        --live;
        live_words -= words;
        ++dropped;
      }
      used_words -= words;
      head += words;
      if (head == ring_words) head = 0;
      ++steps;
    }
    if (used_words == 0) head = tail = 0;
    dropped += shrink_if_sparse(t);
    publish_front();
    return dropped;
  }

  // Marks the record of index position i released; if it is the newest
  // record its words are reclaimed at once (the usual rollback).
  void kill(std::uint64_t i) HOTQ_REQUIRES(mu) {
    const std::uint64_t off = slot_off(index[i]);
    std::uint64_t* rec = ring + off;
    const std::uint64_t words = record_words(header_len(rec[0]));
    index_erase(i);
    rec[0] |= 1;
    --live;
    live_words -= words;
    if ((off + words) % ring_words == tail) {
      tail = off;
      used_words -= words;
      if (used_words == 0) head = tail = 0;
    }
  }

  // Appends key -> id until expires_ns. The caller has reserved the key in
  // the table's count. Returns the live records a rebuild dropped.
  std::uint64_t insert(std::string_view key, std::uint64_t hs, std::uint64_t id,
                       std::uint64_t expires_ns, std::uint64_t t) HOTQ_REQUIRES(mu) {
    const std::uint64_t need = record_words(key.size());
    std::uint64_t dropped = 0;
    std::uint64_t off = 0;
    std::uint64_t pad = 0;
    if ((live + 1) * 4 > index_slots * 3 || !fit(need, &off, &pad)) {
      dropped = rebuild(t, need, 1);
      HOTQ_CHECK(fit(need, &off, &pad));
    }
    const bool was_empty = used_words == 0;
    if (pad > 0) {
      ring[tail] = 0;
      used_words += pad;
    }
    std::uint64_t* rec = ring + off;
    rec[need - 1] = 0;  // the key's last word: zero its padding bytes
    rec[0] = make_header(hs, key.size());
    rec[1] = id;
    rec[2] = expires_ns;
    std::memcpy(rec + header_words, key.data(), key.size());
    index_put(index, index_slots - 1, make_slot(tag_of(hs), off));
    used_words += need;
    tail = off + need == ring_words ? 0 : off + need;
    ++live;
    live_words += need;
    if (was_empty) front_ns.store(expires_ns, std::memory_order_relaxed);
    return dropped;
  }
};

DedupTable::DedupTable(std::uint64_t window_ns, std::uint64_t keys_max, DedupHashFn hash)
    : window_ns_(window_ns), keys_max_(keys_max), hash_(hash), stripes_(new Stripe[dedup_stripes]) {
  HOTQ_CHECK(window_ns >= 1 && window_ns <= dedup_window_ms_max * ns_per_ms);
  HOTQ_CHECK(keys_max >= 1 && keys_max <= dedup_keys_limit);
  HOTQ_CHECK(hash != nullptr);
  // Two cache lines of guarded fields and a third for the atomics' tail:
  // stripes never share a line (the memory figures in the header use this).
  static_assert(sizeof(Stripe) == 192 && alignof(Stripe) == 64);
}

DedupTable::~DedupTable() = default;

bool DedupTable::reserve_key() {
  // Relaxed: count_ is a bound only; see its declaration.
  std::uint64_t c = count_.load(std::memory_order_relaxed);
  while (c < keys_max_) {
    if (count_.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void DedupTable::unreserve_keys(std::uint64_t n) {
  if (n > 0) count_.fetch_sub(n, std::memory_order_relaxed);  // relaxed: see count_
}

void DedupTable::drop_expired_everywhere(std::uint64_t now_ns) {
  for (std::uint32_t k = 0; k < dedup_stripes; ++k) {
    Stripe& s = stripes_[k];
    const std::uint64_t t = std::max(now_ns, s.clock_ns.load(std::memory_order_relaxed));
    if (s.front_ns.load(std::memory_order_relaxed) > t) continue;
    MutexLock lock(s.mu);
    unreserve_keys(s.drop_front(s.advance(now_ns), never_ns));
  }
}

DedupTable::Claim DedupTable::claim_or_restore(std::string_view key, std::uint64_t now_ns,
                                               std::uint64_t id, std::uint64_t expires_ns,
                                               std::uint64_t* existing) {
  // expires_ns == 0: a claim at now_ns; otherwise a restore (now_ns == 0).
  HOTQ_CHECK(!key.empty() && key.size() <= dedup_key_bytes_max);
  HOTQ_CHECK(id != 0);
  const std::uint64_t h = hash_(key);
  const std::uint64_t hs = h & hs_mask;
  Stripe& s = stripes_[h >> (64 - dedup_stripe_bits)];
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) drop_expired_everywhere(now_ns);  // full: make room, then try once more
    MutexLock lock(s.mu);
    const std::uint64_t t = s.advance(now_ns);
    std::uint64_t dropped = 0;
    if (s.front_ns.load(std::memory_order_relaxed) <= t) {
      s.prefetch_home(hs);
      dropped = s.drop_front(t, dedup_drops_per_claim_max);
    }
    const std::uint64_t i = s.find(key, hs);
    if (i != no_slot) {
      const std::uint64_t* rec = s.record(i);
      if (rec[2] > t) {
        unreserve_keys(dropped);
        if (existing != nullptr) *existing = rec[1];
        return Claim::duplicate;
      }
      s.kill(i);  // expired but not yet dropped: absent
      ++dropped;
    }
    unreserve_keys(dropped);
    if (reserve_key()) {
      const std::uint64_t expires = expires_ns != 0 ? expires_ns : sat_add(t, window_ns_);
      unreserve_keys(s.insert(key, hs, id, expires, t));
      return Claim::inserted;
    }
  }
  return Claim::full;
}

DedupTable::Claim DedupTable::claim(std::string_view key, std::uint64_t now_ns, std::uint64_t id,
                                    std::uint64_t* existing) {
  HOTQ_CHECK(existing != nullptr);
  return claim_or_restore(key, now_ns, id, 0, existing);
}

DedupTable::Claim DedupTable::restore(std::string_view key, std::uint64_t id,
                                      std::uint64_t expires_ns) {
  HOTQ_CHECK(expires_ns != 0);
  return claim_or_restore(key, 0, id, expires_ns, nullptr);
}

bool DedupTable::find(std::string_view key, std::uint64_t now_ns, std::uint64_t* existing) {
  HOTQ_CHECK(!key.empty() && key.size() <= dedup_key_bytes_max);
  HOTQ_CHECK(existing != nullptr);
  const std::uint64_t h = hash_(key);
  Stripe& s = stripes_[h >> (64 - dedup_stripe_bits)];
  MutexLock lock(s.mu);
  // Judged at the stripe's clock, as claim does; changes nothing.
  const std::uint64_t t = std::max(now_ns, s.clock_ns.load(std::memory_order_relaxed));
  const std::uint64_t i = s.find(key, h & hs_mask);
  if (i == no_slot || s.record(i)[2] <= t) return false;
  *existing = s.record(i)[1];
  return true;
}

bool DedupTable::release(std::string_view key, std::uint64_t id) {
  HOTQ_CHECK(!key.empty() && key.size() <= dedup_key_bytes_max);
  HOTQ_CHECK(id != 0);
  const std::uint64_t h = hash_(key);
  Stripe& s = stripes_[h >> (64 - dedup_stripe_bits)];
  MutexLock lock(s.mu);
  const std::uint64_t i = s.find(key, h & hs_mask);
  if (i == no_slot || s.record(i)[1] != id) return false;
  s.kill(i);
  // Pops the record if it was the front, and shrinks or frees if now sparse.
  const std::uint64_t t = s.clock_ns.load(std::memory_order_relaxed);
  unreserve_keys(1 + s.drop_front(t, dedup_drops_per_claim_max));
  return true;
}

std::size_t DedupTable::size(std::uint64_t now_ns) {
  std::uint64_t total = 0;
  for (std::uint32_t k = 0; k < dedup_stripes; ++k) {
    Stripe& s = stripes_[k];
    MutexLock lock(s.mu);
    unreserve_keys(s.drop_front(s.advance(now_ns), never_ns));
    total += s.live;
  }
  return static_cast<std::size_t>(total);
}

std::size_t DedupTable::bytes() const {
  std::uint64_t total = sizeof(DedupTable) + dedup_stripes * sizeof(Stripe);
  for (std::uint32_t k = 0; k < dedup_stripes; ++k) {
    total += stripes_[k].heap_bytes.load(std::memory_order_relaxed);
  }
  return static_cast<std::size_t>(total);
}

void DedupTable::clear() {
  for (std::uint32_t k = 0; k < dedup_stripes; ++k) {
    Stripe& s = stripes_[k];
    MutexLock lock(s.mu);
    const std::uint64_t n = s.live;
    s.free_all();
    unreserve_keys(n);
  }
}

void DedupTable::for_each(std::uint64_t now_ns, const Visitor& fn) {
  for (std::uint32_t k = 0; k < dedup_stripes; ++k) {
    Stripe& s = stripes_[k];
    MutexLock lock(s.mu);
    const std::uint64_t t = s.advance(now_ns);
    s.walk([&](const std::uint64_t* rec) {
      if (!header_dead(rec[0]) && rec[2] > t) fn(record_key(rec), rec[1], rec[2]);
    });
  }
}

void DedupTable::check_invariants() {
  std::uint64_t total = 0;
  for (std::uint32_t k = 0; k < dedup_stripes; ++k) {
    Stripe& s = stripes_[k];
    MutexLock lock(s.mu);
    HOTQ_CHECK(s.used_words <= s.ring_words);
    HOTQ_CHECK(s.ring_words == 0 || (s.head < s.ring_words && s.tail < s.ring_words));
    HOTQ_CHECK(s.used_words > 0 || (s.head == 0 && s.tail == 0));
    HOTQ_CHECK(s.index_slots == 0 || std::has_single_bit(s.index_slots));
    HOTQ_CHECK(s.live * 4 <= s.index_slots * 3);
    HOTQ_CHECK((s.ring_words == 0) == (s.index_slots == 0));
    // Ring: the walk checks that records and pads tile head..tail exactly.
    std::uint64_t live = 0;
    std::uint64_t live_words = 0;
    s.walk([&](const std::uint64_t* rec) HOTQ_NO_TSA {
      if (header_dead(rec[0])) return;
      const std::uint64_t off = static_cast<std::uint64_t>(rec - s.ring);
      const std::uint64_t h = hash_(record_key(rec));
      HOTQ_CHECK(h >> (64 - dedup_stripe_bits) == k && (h & hs_mask) == header_hs(rec[0]));
      HOTQ_CHECK(header_len(rec[0]) >= 1 && rec[1] != 0);
      (void)s.find_offset(tag_of(header_hs(rec[0])), off);
      ++live;
      live_words += record_words(header_len(rec[0]));
    });
    HOTQ_CHECK(live == s.live && live_words == s.live_words);
    // Index: exactly the live records, each slot naming a live record.
    std::uint64_t slots = 0;
    for (std::uint64_t i = 0; i < s.index_slots; ++i) {
      if (s.index[i] == 0) continue;
      ++slots;
      const std::uint64_t off = slot_off(s.index[i]);
      HOTQ_CHECK(off < s.ring_words);
      const std::uint64_t w0 = s.ring[off];
      HOTQ_CHECK(w0 != 0 && !header_dead(w0) && tag_of(header_hs(w0)) == slot_tag(s.index[i]));
    }
    HOTQ_CHECK(slots == s.live);
    total += s.live;
  }
  const std::uint64_t count = count_.load(std::memory_order_relaxed);
  HOTQ_CHECK(total == count && count <= keys_max_);
}

}  // namespace hotq::engine
