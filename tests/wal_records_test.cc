// Record bodies (wal/records.h): every record round-trips with every field
// away from its default, and every malformed body is refused — each prefix
// of a valid body, a byte after it, a non-zero reserved byte, an enum byte
// out of range, and a count the body cannot hold (refused before anything
// is allocated for it: operator new is counted below).
//
// Field order is the code's (docs/wal-format.md follows it); the offsets
// written out here pin it, so a silent change of the format fails a test.
#include <gtest/gtest.h>
#include <hotq/job.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "wal/records.h"

// ------------------------------------------------------------ allocations
// The largest single operator new while armed: a decoder must not allocate
// for a count its body cannot hold. Every form the program's new/delete pairs
// use is replaced, so each block goes through malloc/free only.
namespace {
std::atomic<bool> g_alloc_armed{false};
std::atomic<std::size_t> g_alloc_largest_bytes{0};

void* counted_alloc(std::size_t n) {
  if (g_alloc_armed.load(std::memory_order_relaxed) &&
      n > g_alloc_largest_bytes.load(std::memory_order_relaxed)) {
    g_alloc_largest_bytes.store(n, std::memory_order_relaxed);  // one thread arms and reads
  }
  return std::malloc(n == 0 ? 1 : n);
}
// Out of line: g++ would otherwise see free() of a new'd pointer and warn.
[[gnu::noinline]] void counted_free(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }

namespace hotq::wal {
namespace {

// Runs fn() and returns the largest single allocation it made.
template <class Fn>
std::size_t LargestAllocation(Fn fn) {
  g_alloc_largest_bytes.store(0, std::memory_order_relaxed);
  g_alloc_armed.store(true, std::memory_order_relaxed);
  fn();
  g_alloc_armed.store(false, std::memory_order_relaxed);
  return g_alloc_largest_bytes.load(std::memory_order_relaxed);
}

// ------------------------------------------------------------ helpers

// A copy in a heap block of exactly its size: under ASan a decoder reading
// one byte past the end is caught.
class Exact {
 public:
  explicit Exact(std::string_view s) : bytes_(new char[s.size()]), size_(s.size()) {
    if (!s.empty()) std::memcpy(bytes_.get(), s.data(), s.size());
  }
  std::string_view view() const { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t size_;
};

std::string Patched(std::string body, std::size_t at, std::uint8_t value) {
  EXPECT_LT(at, body.size());
  body[at] = static_cast<char>(value);
  return body;
}

// Every proper prefix of a valid body is refused, and so is the body with
// one byte more. `decode` takes a string_view and returns bool.
template <class Decode>
void ExpectCutsAndExtensionsRefused(const std::string& body, Decode decode) {
  ASSERT_TRUE(decode(Exact(body).view())) << "the whole body decodes";
  for (std::size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(decode(Exact(std::string_view(body).substr(0, n)).view()))
        << "the first " << n << " of " << body.size() << " bytes";
  }
  for (char extra : {'\0', '\x01'}) {
    std::string longer = body;
    longer += extra;
    EXPECT_FALSE(decode(Exact(longer).view())) << "a trailing byte " << int{extra};
  }
}

// Each byte in [from, to) of the body is reserved: any non-zero value there
// is refused.
template <class Decode>
void ExpectReservedRefused(const std::string& body, std::size_t from, std::size_t to,
                           Decode decode) {
  ASSERT_TRUE(decode(Exact(body).view()));
  for (std::size_t at = from; at < to; ++at) {
    EXPECT_EQ(body[at], '\0') << "byte " << at << " is reserved";
    for (std::uint8_t v : {std::uint8_t{1}, std::uint8_t{0x80}}) {
      EXPECT_FALSE(decode(Exact(Patched(body, at, v)).view())) << "byte " << at << " = " << int{v};
    }
  }
}

// Values with every byte distinct and the high bits set: a field written or
// read at the wrong width or offset does not come back equal.
constexpr std::uint64_t kJob = 0x8123'4567'89ab'cdefull;
constexpr std::uint64_t kToken = 0xfedc'ba98'7654'3210ull;
constexpr std::uint32_t kQueue = 0x8000'1005u;

// ------------------------------------------------------------ field lists
// One tie per record: the round trips compare every field through these.

auto Fields(const QueueOptions& o) {
  return std::tie(o.capacity_jobs_max, o.priority_levels, o.lease_ms_default, o.attempts_max,
                  o.backoff.kind, o.backoff.base_ms, o.backoff.cap_ms, o.backoff.jitter_percent,
                  o.payload_bytes_max, o.expiry_counts_as_attempt, o.ordering, o.leased_max,
                  o.rate_limit.tokens_per_interval, o.rate_limit.interval_ms,
                  o.rate_limit.burst_tokens, o.dedup_window_ms, o.dedup_keys_max,
                  o.durable_delivery);
}
// A new option must be encoded in queue_create (records.cc), listed in
// Fields() above and given a non-default value in Options() below.
static_assert(sizeof(QueueOptions) == 128, "QueueOptions changed: see the comment above");

auto Fields(const EnqueueRec& r) {
  return std::tie(r.queue_id, r.priority, r.job, r.enqueued_ns, r.run_at_ns, r.attempts_max,
                  r.lease_ms, r.dedup_key, r.payload);
}
auto Fields(const ReserveRec& r) {
  return std::tie(r.queue_id, r.attempt, r.job, r.token, r.deadline_ns);
}
auto Fields(const LeaseRec& r) { return std::tie(r.queue_id, r.job, r.token, r.deadline_ns); }
auto Fields(const NackRec& r) { return std::tie(r.queue_id, r.job, r.token, r.run_at_ns, r.error); }
auto Fields(const DeadRec& r) { return std::tie(r.queue_id, r.reason, r.job, r.dead_ns, r.error); }
auto Fields(const PublishTarget& t) { return std::tie(t.queue_id, t.attempts_max, t.job); }
auto Fields(const SnapJobRec& r) {
  return std::tie(r.queue_id, r.state, r.priority, r.reason, r.job, r.nonce, r.attempts,
                  r.attempts_max, r.enqueued_ns, r.at_ns, r.lease_ms, r.order, r.error, r.payload,
                  r.payload_ref);
}
auto Fields(const SnapPayloadRec& r) { return std::tie(r.ref, r.payload); }
auto Fields(const SnapDedupRec& r) { return std::tie(r.queue_id, r.job, r.first_ns, r.key); }

// Every option away from its default (and valid, though the codec does not
// care).
QueueOptions Options() {
  QueueOptions o;
  o.capacity_jobs_max = 0x0102'0304'0506ull;
  o.priority_levels = 7;
  o.lease_ms_default = 0x0a0b'0c0d'0e0full;
  o.attempts_max = 0x1234;
  o.backoff.kind = Backoff::Kind::fixed;
  o.backoff.base_ms = 0x1111'2222'3333ull;
  o.backoff.cap_ms = 0x4444'5555'6666ull;
  o.backoff.jitter_percent = 0x8765'4321u;
  o.payload_bytes_max = 0x9abc'def0u;
  o.expiry_counts_as_attempt = false;
  o.ordering = Ordering::fifo;
  o.leased_max = 0x7777'8888'9999ull;
  o.rate_limit.tokens_per_interval = 0xaaaa'bbbb'ccccull;
  o.rate_limit.interval_ms = 0xdddd'eeee'ffffull;
  o.rate_limit.burst_tokens = 0x1357'9bdf'2468ull;
  o.dedup_window_ms = 0x0f0e'0d0c'0b0aull;
  o.dedup_keys_max = 0x8070'6050'4030ull;
  o.durable_delivery = true;
  return o;
}

// ------------------------------------------------------------ queue_create

// Offsets in a queue_create body named "orders" (6 bytes).
constexpr std::size_t kCreateName = 6;
constexpr std::size_t kCreateOptions = 4 + 4 + kCreateName;
constexpr std::size_t kCreateKind = kCreateOptions + 24;
constexpr std::size_t kCreateOrdering = kCreateKind + 1;
constexpr std::size_t kCreateExpiry = kCreateKind + 2;
constexpr std::size_t kCreateDurableDelivery = kCreateKind + 3;
constexpr std::size_t kCreateReserved = kCreateKind + 28;
constexpr std::size_t kCreateOptionsBytes = 104;

bool DecodeCreate(std::string_view b) {
  QueueCreateRec r;
  return decode(b, &r);
}

TEST(WalRecords, QueueCreateRoundTripsEveryOption) {
  const QueueCreateRec in{kQueue, "orders", Options()};
  std::string body;
  encode(in, &body);
  EXPECT_EQ(body.size(), kCreateOptions + kCreateOptionsBytes);
  QueueCreateRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(out.queue_id, in.queue_id);
  EXPECT_EQ(out.name, in.name);
  EXPECT_EQ(Fields(out.options), Fields(in.options));
  EXPECT_EQ(body[kCreateDurableDelivery], '\x01') << "durable_delivery is at its offset";
}

TEST(WalRecords, QueueCreateTheOtherEnumValuesRoundTrip) {
  QueueCreateRec in{kQueue, "orders", Options()};
  in.options.backoff.kind = Backoff::Kind::exponential;
  in.options.ordering = Ordering::sharded;
  in.options.expiry_counts_as_attempt = true;
  in.options.durable_delivery = false;
  std::string body;
  encode(in, &body);
  QueueCreateRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(Fields(out.options), Fields(in.options));
}

TEST(WalRecords, QueueCreateRefusesMalformedBodies) {
  std::string body;
  encode(QueueCreateRec{kQueue, "orders", Options()}, &body);
  ExpectCutsAndExtensionsRefused(body, DecodeCreate);
  ExpectReservedRefused(body, kCreateReserved, kCreateReserved + 4, DecodeCreate);
  for (std::size_t at : {kCreateKind, kCreateOrdering, kCreateExpiry, kCreateDurableDelivery}) {
    EXPECT_FALSE(DecodeCreate(Patched(body, at, 2))) << "byte " << at;
    EXPECT_FALSE(DecodeCreate(Patched(body, at, 0xff))) << "byte " << at;
  }
}

// ------------------------------------------------------------ enqueue

bool DecodeEnqueue(std::string_view b) {
  EnqueueRec r;
  return decode(b, &r);
}

// The body as the log writes it: the head, then the payload as the tail.
std::string EnqueueBody(const EnqueueRec& r) {
  std::string body;
  encode_head(r, &body);
  body += r.payload;
  return body;
}

TEST(WalRecords, EnqueueRoundTripsWithThePayloadAsTail) {
  const std::string payload("pay\0load\xff", 9);
  const EnqueueRec in{kQueue,
                      7,
                      kJob,
                      0x1122'3344'5566'7788ull,
                      0x99aa'bbcc'ddee'ff00ull,
                      0x8001'0203u,
                      0x0504'0302'0100'ffeeull,
                      "key-1",
                      payload};
  const std::string body = EnqueueBody(in);
  EnqueueRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(Fields(out), Fields(in));
  // Empty key and payload are fine too.
  const EnqueueRec bare{kQueue, 0, kJob, 1, 0, 1, 0, "", ""};
  ASSERT_TRUE(decode(EnqueueBody(bare), &out));
  EXPECT_EQ(Fields(out), Fields(bare));
}

TEST(WalRecords, EnqueueRefusesMalformedBodies) {
  const std::string body = EnqueueBody(EnqueueRec{kQueue, 2, kJob, 5, 6, 7, 8, "key", "payload"});
  ExpectCutsAndExtensionsRefused(body, DecodeEnqueue);
  ExpectReservedRefused(body, 5, 8, DecodeEnqueue);
}

// ------------------------------------------------------------ leases

TEST(WalRecords, ReserveRoundTrips) {
  const ReserveRec in{kQueue, 0x8000'0007u, kJob, kToken, 0x0123'4567'89ab'cdefull};
  std::string body;
  encode(in, &body);
  EXPECT_EQ(body.size(), 32u);
  ReserveRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(Fields(out), Fields(in));
  ExpectCutsAndExtensionsRefused(body, [](std::string_view b) {
    ReserveRec r;
    return decode(b, &r);
  });
}

// extend carries a deadline; ack and expire do not (and decode it as 0).
TEST(WalRecords, LeaseRecordsRoundTripPerType) {
  for (RecordType type : {RecordType::extend, RecordType::ack, RecordType::expire}) {
    SCOPED_TRACE(record_type_name(static_cast<std::uint16_t>(type)));
    const LeaseRec in{kQueue, kJob, kToken, 0x0123'4567'89ab'cdefull};
    std::string body;
    encode(type, in, &body);
    const bool extend = type == RecordType::extend;
    EXPECT_EQ(body.size(), extend ? 32u : 24u);
    LeaseRec out;
    out.deadline_ns = 99;
    ASSERT_TRUE(decode(type, body, &out));
    LeaseRec want = in;
    if (!extend) want.deadline_ns = 0;
    EXPECT_EQ(Fields(out), Fields(want));
    auto dec = [type](std::string_view b) {
      LeaseRec r;
      return decode(type, b, &r);
    };
    ExpectCutsAndExtensionsRefused(body, dec);
    ExpectReservedRefused(body, 4, 8, dec);
  }
}

TEST(WalRecords, LeaseBodyOfOneTypeIsRefusedAsTheOther) {
  std::string ack, extend;
  encode(RecordType::ack, LeaseRec{kQueue, kJob, kToken, 5}, &ack);
  encode(RecordType::extend, LeaseRec{kQueue, kJob, kToken, 5}, &extend);
  LeaseRec r;
  EXPECT_FALSE(decode(RecordType::extend, ack, &r)) << "no deadline";
  EXPECT_FALSE(decode(RecordType::ack, extend, &r)) << "8 bytes left over";
  EXPECT_FALSE(decode(RecordType::expire, extend, &r));
}

TEST(WalRecords, NackRoundTripsAndRefusesMalformedBodies) {
  const NackRec in{kQueue, kJob, kToken, 0x0123'4567'89ab'cdefull, "it broke"};
  std::string body;
  encode(in, &body);
  NackRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(Fields(out), Fields(in));
  auto dec = [](std::string_view b) {
    NackRec r;
    return decode(b, &r);
  };
  ExpectCutsAndExtensionsRefused(body, dec);
  ExpectReservedRefused(body, 4, 8, dec);
}

TEST(WalRecords, DeadRoundTripsEachReason) {
  for (DeadReason reason :
       {DeadReason::failed, DeadReason::attempts_nacked, DeadReason::attempts_expired}) {
    const DeadRec in{kQueue, static_cast<std::uint8_t>(reason), kJob, 0x0123'4567'89ab'cdefull,
                     "last error"};
    std::string body;
    encode(in, &body);
    DeadRec out;
    ASSERT_TRUE(decode(body, &out)) << int{in.reason};
    EXPECT_EQ(Fields(out), Fields(in));
  }
}

TEST(WalRecords, DeadRefusesMalformedBodies) {
  std::string body;
  encode(DeadRec{kQueue, 2, kJob, 3, "error"}, &body);
  auto dec = [](std::string_view b) {
    DeadRec r;
    return decode(b, &r);
  };
  ExpectCutsAndExtensionsRefused(body, dec);
  ExpectReservedRefused(body, 5, 8, dec);
  EXPECT_FALSE(dec(Patched(body, 4, 0))) << "reason 0";
  EXPECT_FALSE(dec(Patched(body, 4, 4))) << "reason 4";
  EXPECT_FALSE(dec(Patched(body, 4, 0xff))) << "reason 255";
}

// ------------------------------------------------------------ queue operations

TEST(WalRecords, QueueDropRoundTrips) {
  std::string body;
  encode(QueueDropRec{kQueue}, &body);
  EXPECT_EQ(body.size(), 4u);
  QueueDropRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(out.queue_id, kQueue);
  ExpectCutsAndExtensionsRefused(body, [](std::string_view b) {
    QueueDropRec r;
    return decode(b, &r);
  });
}

bool DecodePublish(std::string_view b) {
  PublishRec r;
  return decode(RecordType::publish, b, &r);
}

bool DecodePublishKeyed(std::string_view b) {
  PublishRec r;
  return decode(RecordType::publish_keyed, b, &r);
}

PublishRec Publish(std::string_view payload) {
  PublishRec r;
  r.topic = "orders.created";
  r.priority = 6;
  r.enqueued_ns = 0x1122'3344'5566'7788ull;
  r.run_at_ns = 0x99aa'bbcc'ddee'ff00ull;
  r.lease_ms = 0x0504'0302'0100'ffeeull;
  r.targets = {{kQueue, 0x8000'0003u, kJob}, {kQueue + 1, 1, kJob + 1}, {7, 65535, 1}};
  r.payload = payload;
  return r;
}

std::string PublishBody(const PublishRec& r) {
  std::string body;
  encode_head(r, &body);
  body += r.payload;
  return body;
}

// Offsets in a publish body whose topic is "orders.created" (14 bytes).
constexpr std::size_t kPublishPriority = 4 + 14;
constexpr std::size_t kPublishCount = kPublishPriority + 4;

TEST(WalRecords, PublishRoundTripsEveryTarget) {
  const std::string payload("one\0payload", 11);
  const PublishRec in = Publish(payload);
  const std::string body = PublishBody(in);
  PublishRec out;
  ASSERT_TRUE(decode(RecordType::publish, body, &out));
  EXPECT_EQ(publish_type(in), RecordType::publish);
  EXPECT_EQ(out.topic, in.topic);
  EXPECT_EQ(out.priority, in.priority);
  EXPECT_EQ(out.enqueued_ns, in.enqueued_ns);
  EXPECT_EQ(out.run_at_ns, in.run_at_ns);
  EXPECT_EQ(out.lease_ms, in.lease_ms);
  EXPECT_EQ(out.payload, in.payload);
  ASSERT_EQ(out.targets.size(), in.targets.size());
  for (std::size_t i = 0; i < in.targets.size(); ++i) {
    EXPECT_EQ(Fields(out.targets[i]), Fields(in.targets[i])) << "target " << i;
  }
}

TEST(WalRecords, PublishKeyedRoundTripsItsKey) {
  PublishRec in = Publish("the payload");
  in.dedup_key = "order-42";
  EXPECT_EQ(publish_type(in), RecordType::publish_keyed);
  const std::string body = PublishBody(in);
  PublishRec out;
  ASSERT_TRUE(decode(RecordType::publish_keyed, body, &out));
  EXPECT_EQ(out.dedup_key, "order-42");
  EXPECT_EQ(out.payload, in.payload);
  EXPECT_EQ(out.lease_ms, in.lease_ms);
  ASSERT_EQ(out.targets.size(), in.targets.size());
  // The key's string sits between lease_ms and the payload: read as a plain
  // publish, the body has a string too many, and a plain body read as keyed
  // one too few.
  EXPECT_FALSE(DecodePublish(body));
  EXPECT_FALSE(DecodePublishKeyed(PublishBody(Publish("the payload"))));
  ExpectCutsAndExtensionsRefused(body, DecodePublishKeyed);
  // A keyed record whose key is empty is refused (it would be a plain one).
  in.dedup_key = "";
  std::string empty_key;
  encode_head(in, &empty_key);             // the plain head ends with the payload's length
  empty_key.resize(empty_key.size() - 4);  // ... put an empty key's string before it
  BodyWriter(&empty_key).u32(0).u32(static_cast<std::uint32_t>(in.payload.size()));
  empty_key += in.payload;
  EXPECT_FALSE(DecodePublishKeyed(empty_key));
  // Only the two publish types decode as one.
  EXPECT_FALSE(decode(RecordType::enqueue, PublishBody(Publish("x")), &out));
}

TEST(WalRecords, PublishRefusesMalformedBodies) {
  const std::string body = PublishBody(Publish("payload"));
  ExpectCutsAndExtensionsRefused(body, DecodePublish);
  ExpectReservedRefused(body, kPublishPriority + 1, kPublishCount, DecodePublish);
  // A count one above or below the targets held.
  for (std::uint8_t count : {std::uint8_t{2}, std::uint8_t{4}}) {
    EXPECT_FALSE(DecodePublish(Patched(body, kPublishCount, count))) << "count " << int{count};
  }
}

TEST(WalRecords, PublishWithoutTargetsIsRefused) {
  PublishRec in = Publish("payload");
  in.targets.clear();
  EXPECT_FALSE(DecodePublish(PublishBody(in)));
}

// A count the body cannot hold is refused before the targets are allocated:
// nothing is allocated beyond the body's own size, whatever the count says.
TEST(WalRecords, PublishCountBeyondTheBodyIsRefusedWithoutAllocating) {
  for (std::uint32_t count : {2u, 1000u, 1u << 20, 0xFFFF'FFFFu}) {
    std::string body;
    BodyWriter(&body).str("").u8(0).zeros(3).u32(count).u32(0);
    ASSERT_EQ(body.size(), 16u);
    bool decoded = true;
    PublishRec r;
    const std::size_t largest = LargestAllocation([&] { decoded = decode(RecordType::publish, body, &r); });
    EXPECT_FALSE(decoded) << "count " << count;
    EXPECT_LE(largest, body.size()) << "count " << count << ": allocated for the count";
  }
  // The same in a body of real targets whose count says far more.
  std::string big = PublishBody(Publish(std::string(4096, 'p')));
  for (std::uint32_t count : {std::uint32_t(big.size() / 16 + 1), 0x1000'0000u}) {
    put_u32(big.data() + kPublishCount, count);
    bool decoded = true;
    PublishRec r;
    const std::size_t largest = LargestAllocation([&] { decoded = decode(RecordType::publish, big, &r); });
    EXPECT_FALSE(decoded) << "count " << count;
    EXPECT_LE(largest, big.size()) << "count " << count;
  }
}

bool DecodeJobList(std::string_view b) {
  JobListRec r;
  return decode(b, &r);
}

TEST(WalRecords, JobListRoundTrips) {
  const std::vector<std::uint64_t> jobs = {kJob, 1, kToken, 0xffff'ffff'ffff'ffffull};
  std::string body;
  encode_job_list(kQueue, jobs, &body);
  EXPECT_EQ(body.size(), 8 + 8 * jobs.size());
  JobListRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(out.queue_id, kQueue);
  EXPECT_EQ(out.jobs, jobs);
  ExpectCutsAndExtensionsRefused(body, DecodeJobList);
}

TEST(WalRecords, JobListHoldsUpToItsLimit) {
  std::vector<std::uint64_t> jobs(job_list_jobs_max);
  for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i] = kJob + i;
  std::string body;
  encode_job_list(kQueue, jobs, &body);
  JobListRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(out.jobs, jobs);
  // One more id is refused.
  jobs.push_back(1);
  body.clear();
  encode_job_list(kQueue, jobs, &body);
  EXPECT_FALSE(DecodeJobList(body));
}

TEST(WalRecords, JobListWithoutJobsIsRefused) {
  std::string body;
  encode_job_list(kQueue, {}, &body);
  ASSERT_EQ(body.size(), 8u);
  EXPECT_FALSE(DecodeJobList(body));
}

TEST(WalRecords, JobListCountBeyondTheBodyIsRefusedWithoutAllocating) {
  for (std::uint32_t count : {2u, 1000u, job_list_jobs_max, 0xFFFF'FFFFu}) {
    std::string body;
    BodyWriter(&body).u32(kQueue).u32(count).u64(kJob);
    ASSERT_EQ(body.size(), 16u);
    bool decoded = true;
    JobListRec r;
    const std::size_t largest = LargestAllocation([&] { decoded = decode(body, &r); });
    EXPECT_FALSE(decoded) << "count " << count;
    EXPECT_LE(largest, body.size()) << "count " << count << ": allocated for the count";
  }
  // One more than held.
  const std::vector<std::uint64_t> two = {1, 2};
  std::string short_body;
  encode_job_list(kQueue, two, &short_body);
  put_u32(short_body.data() + 4, 3);
  EXPECT_FALSE(DecodeJobList(short_body));
}

TEST(WalRecords, CancelRoundTrips) {
  std::string body;
  encode(CancelRec{kQueue, kJob}, &body);
  EXPECT_EQ(body.size(), 16u);
  CancelRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(std::tie(out.queue_id, out.job), std::make_tuple(kQueue, kJob));
  auto dec = [](std::string_view b) {
    CancelRec r;
    return decode(b, &r);
  };
  ExpectCutsAndExtensionsRefused(body, dec);
  ExpectReservedRefused(body, 4, 8, dec);
}

TEST(WalRecords, PauseRoundTripsBothWays) {
  for (bool paused : {true, false}) {
    std::string body;
    encode(PauseRec{kQueue, paused}, &body);
    EXPECT_EQ(body.size(), 8u);
    PauseRec out;
    out.paused = !paused;
    ASSERT_TRUE(decode(body, &out));
    EXPECT_EQ(out.queue_id, kQueue);
    EXPECT_EQ(out.paused, paused);
  }
}

TEST(WalRecords, PauseRefusesMalformedBodies) {
  std::string body;
  encode(PauseRec{kQueue, true}, &body);
  auto dec = [](std::string_view b) {
    PauseRec r;
    return decode(b, &r);
  };
  ExpectCutsAndExtensionsRefused(body, dec);
  ExpectReservedRefused(body, 5, 8, dec);
  EXPECT_FALSE(dec(Patched(body, 4, 2))) << "paused 2";
}

TEST(WalRecords, SetPriorityRoundTripsAndRefusesLevelsBeyondTheMax) {
  std::string body;
  const std::uint8_t top = priority_levels_max - 1;
  encode(SetPriorityRec{kQueue, top, kJob}, &body);
  EXPECT_EQ(body.size(), 16u);
  SetPriorityRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(std::tie(out.queue_id, out.priority, out.job), std::make_tuple(kQueue, top, kJob));
  auto dec = [](std::string_view b) {
    SetPriorityRec r;
    return decode(b, &r);
  };
  ExpectCutsAndExtensionsRefused(body, dec);
  ExpectReservedRefused(body, 5, 8, dec);
  EXPECT_FALSE(dec(Patched(body, 4, priority_levels_max)));
  EXPECT_FALSE(dec(Patched(body, 4, 0xff)));
}

TEST(WalRecords, SetDelayRoundTrips) {
  const SetDelayRec in{kQueue, kJob, 0x0123'4567'89ab'cdefull};
  std::string body;
  encode(in, &body);
  EXPECT_EQ(body.size(), 24u);
  SetDelayRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(std::tie(out.queue_id, out.job, out.run_at_ns),
            std::tie(in.queue_id, in.job, in.run_at_ns));
  auto dec = [](std::string_view b) {
    SetDelayRec r;
    return decode(b, &r);
  };
  ExpectCutsAndExtensionsRefused(body, dec);
  ExpectReservedRefused(body, 4, 8, dec);
}

TEST(WalRecords, BindRoundTripsBindAndUnbind) {
  for (bool bound : {true, false}) {
    std::string body;
    encode(BindRec{kQueue, bound, "orders.created"}, &body);
    BindRec out;
    out.bound = !bound;
    ASSERT_TRUE(decode(body, &out));
    EXPECT_EQ(out.queue_id, kQueue);
    EXPECT_EQ(out.bound, bound);
    EXPECT_EQ(out.topic, "orders.created");
  }
}

TEST(WalRecords, BindRefusesMalformedBodies) {
  std::string body;
  encode(BindRec{kQueue, true, "t"}, &body);
  auto dec = [](std::string_view b) {
    BindRec r;
    return decode(b, &r);
  };
  ExpectCutsAndExtensionsRefused(body, dec);
  ExpectReservedRefused(body, 5, 8, dec);
  EXPECT_FALSE(dec(Patched(body, 4, 2))) << "bound 2";
}

// ------------------------------------------------------------ snapshots

bool DecodeSnapQueue(std::string_view b) {
  QueueCreateRec r;
  bool paused = false;
  return decode_snapshot_queue(b, &r, &paused);
}

TEST(WalRecords, SnapshotQueueRoundTripsWithPaused) {
  for (bool paused : {true, false}) {
    const QueueCreateRec in{kQueue, "orders", Options()};
    std::string body;
    encode_snapshot_queue(in, paused, &body);
    EXPECT_EQ(body.size(), kCreateOptions + kCreateOptionsBytes + 8);
    QueueCreateRec out;
    bool got = !paused;
    ASSERT_TRUE(decode_snapshot_queue(body, &out, &got));
    EXPECT_EQ(got, paused);
    EXPECT_EQ(out.queue_id, in.queue_id);
    EXPECT_EQ(out.name, in.name);
    EXPECT_EQ(Fields(out.options), Fields(in.options));
  }
}

TEST(WalRecords, SnapshotQueueRefusesMalformedBodies) {
  std::string body;
  encode_snapshot_queue(QueueCreateRec{kQueue, "orders", Options()}, true, &body);
  const std::size_t trailer = body.size() - 8;
  ExpectCutsAndExtensionsRefused(body, DecodeSnapQueue);
  ExpectReservedRefused(body, trailer + 1, body.size(), DecodeSnapQueue);
  ExpectReservedRefused(body, kCreateReserved, kCreateReserved + 4, DecodeSnapQueue);
  EXPECT_FALSE(DecodeSnapQueue(Patched(body, trailer, 2))) << "paused 2";
  EXPECT_FALSE(DecodeSnapQueue(Patched(body, kCreateOrdering, 2))) << "ordering 2";
  // A log queue_create is not a snapshot queue, nor the other way round.
  std::string plain;
  encode(QueueCreateRec{kQueue, "orders", Options()}, &plain);
  EXPECT_FALSE(DecodeSnapQueue(plain));
  EXPECT_FALSE(DecodeCreate(body));
}

bool DecodeSnapJob(std::string_view b) {
  SnapJobRec r;
  return decode(b, &r);
}

SnapJobRec SnapJob(std::uint8_t state, std::string_view payload) {
  SnapJobRec r;
  r.queue_id = kQueue;
  r.state = state;
  r.priority = priority_levels_max - 1;
  r.reason = static_cast<std::uint8_t>(DeadReason::attempts_expired);
  r.job = kJob;
  r.nonce = 0x8765'4321u;
  r.attempts = 0x8001'0203u;
  r.attempts_max = 0x8004'0506u;
  r.enqueued_ns = 0x1122'3344'5566'7788ull;
  r.at_ns = 0x99aa'bbcc'ddee'ff00ull;
  r.lease_ms = 0x0504'0302'0100'ffeeull;
  r.order = 0x0f1e'2d3c'4b5a'6978ull;
  r.error = "the last error";
  r.payload = payload;
  return r;
}

std::string SnapJobBody(const SnapJobRec& r) {
  std::string body;
  encode_head(r, &body);
  body += r.payload;
  return body;
}

TEST(WalRecords, SnapJobRoundTripsEveryState) {
  const std::string payload("snap\0payload\x80", 13);
  for (JobState state : {JobState::delayed, JobState::ready, JobState::leased, JobState::dead}) {
    const SnapJobRec in = SnapJob(static_cast<std::uint8_t>(state), payload);
    const std::string body = SnapJobBody(in);
    SnapJobRec out;
    ASSERT_TRUE(decode(body, &out)) << job_state_name(state);
    EXPECT_EQ(Fields(out), Fields(in)) << job_state_name(state);
  }
}

TEST(WalRecords, SnapJobRefusesMalformedBodies) {
  const std::string body = SnapJobBody(SnapJob(2, "payload"));
  ExpectCutsAndExtensionsRefused(body, DecodeSnapJob);
  ExpectReservedRefused(body, 7, 8, DecodeSnapJob);
  ExpectReservedRefused(body, 28, 32, DecodeSnapJob);
  EXPECT_FALSE(DecodeSnapJob(Patched(body, 4, 0))) << "state 0 (free)";
  EXPECT_FALSE(DecodeSnapJob(Patched(body, 4, 5))) << "state 5";
  EXPECT_FALSE(DecodeSnapJob(Patched(body, 5, priority_levels_max))) << "priority";
  EXPECT_FALSE(DecodeSnapJob(Patched(body, 6, 4))) << "dead reason 4";
  EXPECT_TRUE(DecodeSnapJob(Patched(body, 6, 0))) << "reason 0: not dead";
}

bool DecodeSharedSnapJob(std::string_view b) {
  SnapJobRec r;
  return decode_shared(b, &r);
}

// snap_job_shared: snap_job's fields, then the payload's ref in place of
// the payload (docs/wal-format.md, "Snapshots").
TEST(WalRecords, SharedSnapJobRoundTripsAndNamesItsPayload) {
  SnapJobRec in = SnapJob(3, "");
  in.payload_ref = 0x0102'0304'0506'0708ull;
  std::string body;
  encode_shared(in, &body);
  SnapJobRec out;
  ASSERT_TRUE(decode_shared(body, &out));
  EXPECT_EQ(Fields(out), Fields(in));
  // The same fields as snap_job, up to the error; then 8 bytes of ref.
  std::string plain = SnapJobBody(SnapJob(3, ""));
  EXPECT_EQ(body.substr(0, plain.size() - 4), plain.substr(0, plain.size() - 4));
  EXPECT_EQ(body.size(), plain.size() + 4);
  EXPECT_EQ(body.substr(body.size() - 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  ExpectCutsAndExtensionsRefused(body, DecodeSharedSnapJob);
  ExpectReservedRefused(body, 7, 8, DecodeSharedSnapJob);
  ExpectReservedRefused(body, 28, 32, DecodeSharedSnapJob);
  EXPECT_FALSE(DecodeSharedSnapJob(Patched(body, 4, 5))) << "state 5";
  in.payload_ref = 0;
  body.clear();
  encode_shared(in, &body);
  EXPECT_FALSE(DecodeSharedSnapJob(body)) << "ref 0 names nothing";
}

bool DecodeSnapPayload(std::string_view b) {
  SnapPayloadRec r;
  return decode(b, &r);
}

TEST(WalRecords, SnapPayloadRoundTrips) {
  const std::string payload("shared\0bytes\xff", 13);
  const SnapPayloadRec in{0x1122'3344'5566'7788ull, payload};
  std::string body;
  encode_head(in, &body);
  EXPECT_EQ(body.size(), 12u);  // ref u64, length u32
  body += payload;
  SnapPayloadRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(Fields(out), Fields(in));
  ExpectCutsAndExtensionsRefused(body, DecodeSnapPayload);
  std::string zero_ref;
  encode_head(SnapPayloadRec{0, "x"}, &zero_ref);
  zero_ref += "x";
  EXPECT_FALSE(DecodeSnapPayload(zero_ref));
}

bool DecodeSnapDedup(std::string_view b) {
  SnapDedupRec r;
  return decode(b, &r);
}

TEST(WalRecords, SnapDedupRoundTrips) {
  const std::string key("key\0with\xff bytes", 15);
  const SnapDedupRec in{kQueue, kJob, 0x1122'3344'5566'7788ull, key};
  std::string body;
  encode(in, &body);
  SnapDedupRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(Fields(out), Fields(in));
  ExpectCutsAndExtensionsRefused(body, DecodeSnapDedup);
  ExpectReservedRefused(body, 4, 8, DecodeSnapDedup);
}

TEST(WalRecords, SnapDedupKeyLengthIsOneToTheMax) {
  std::string body;
  encode(SnapDedupRec{kQueue, kJob, 1, ""}, &body);
  EXPECT_FALSE(DecodeSnapDedup(body)) << "empty key";
  const std::string longest(dedup_key_bytes_max, 'k');
  body.clear();
  encode(SnapDedupRec{kQueue, kJob, 1, longest}, &body);
  EXPECT_TRUE(DecodeSnapDedup(body));
  const std::string too_long(dedup_key_bytes_max + 1, 'k');
  body.clear();
  encode(SnapDedupRec{kQueue, kJob, 1, too_long}, &body);
  EXPECT_FALSE(DecodeSnapDedup(body));
}

bool DecodeSnapGenerations(std::string_view b) {
  SnapGenerationsRec r;
  return decode(b, &r);
}

std::string EncodedGenerations(SnapGenerationsRec::Kind kind, std::uint32_t shard,
                               std::uint32_t first, std::uint32_t count) {
  SnapGenerationsRec r{kind, shard, first, std::vector<std::uint32_t>(count, 7)};
  std::string body;
  encode(r, &body);
  return body;
}

TEST(WalRecords, SnapGenerationsRoundTripAndStayInRange) {
  const SnapGenerationsRec in{SnapGenerationsRec::Kind::slots, 3, 100, {1, 0, 0xffff'ffffu, 9}};
  std::string body;
  encode(in, &body);
  SnapGenerationsRec out;
  ASSERT_TRUE(decode(body, &out));
  EXPECT_EQ(out.kind, in.kind);
  EXPECT_EQ(out.shard, in.shard);
  EXPECT_EQ(out.first_index, in.first_index);
  EXPECT_EQ(out.generations, in.generations);
  ExpectCutsAndExtensionsRefused(body, DecodeSnapGenerations);
  ExpectReservedRefused(body, 1, 4, DecodeSnapGenerations);
  using K = SnapGenerationsRec::Kind;
  EXPECT_FALSE(DecodeSnapGenerations(Patched(body, 0, 0))) << "kind 0";
  EXPECT_FALSE(DecodeSnapGenerations(Patched(body, 0, 3))) << "kind 3";
  EXPECT_FALSE(DecodeSnapGenerations(EncodedGenerations(K::slots, 0, 0, 0))) << "none";
  EXPECT_TRUE(DecodeSnapGenerations(EncodedGenerations(K::slots, 0, 0, snap_generations_max)));
  EXPECT_FALSE(DecodeSnapGenerations(EncodedGenerations(K::slots, 0, 0, snap_generations_max + 1)));
  EXPECT_TRUE(DecodeSnapGenerations(EncodedGenerations(K::slots, shards_max - 1, shard_jobs_max - 1, 1)));
  EXPECT_FALSE(DecodeSnapGenerations(EncodedGenerations(K::slots, shards_max, 0, 1))) << "shard";
  EXPECT_FALSE(DecodeSnapGenerations(EncodedGenerations(K::slots, 0, shard_jobs_max - 1, 2)))
      << "past the last slot";
  EXPECT_TRUE(DecodeSnapGenerations(EncodedGenerations(K::queues, 0, queues_max - 1, 1)));
  EXPECT_FALSE(DecodeSnapGenerations(EncodedGenerations(K::queues, 0, queues_max - 1, 2)))
      << "past the last queue index";
  EXPECT_FALSE(DecodeSnapGenerations(EncodedGenerations(K::queues, 1, 0, 1))) << "queues: shard 0";
}

}  // namespace
}  // namespace hotq::wal
