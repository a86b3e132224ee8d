// hotq-smoke: a short run of the engine through its public API — one million
// 64-byte jobs through enqueue, reserve and ack in batches of 64, plus one job
// through a lease expiry and the dead-letter set — printing what it did. The
// README's quick start runs it (until hotq-bench exists).
#include <hotq/clock.h>
#include <hotq/engine.h>
#include <hotq/version.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace {

int Fail(const char* what, hotq::Code code) {
  std::fprintf(stderr, "hotq-smoke: %s: %s\n", what, hotq::code_name(code));
  return 1;
}

}  // namespace

int main() {
  std::printf("hotq %s smoke run\n", hotq::version());
  std::unique_ptr<hotq::Engine> engine;
  if (hotq::Status s = hotq::Engine::open({}, &engine); !s.ok()) {
    std::fprintf(stderr, "hotq-smoke: open: %s\n", s.to_string().c_str());
    return 1;
  }
  hotq::Result<hotq::QueueId> q = engine->create_queue("smoke");
  if (!q.ok()) return Fail("create_queue", q.code());

  constexpr std::uint32_t batch = 64;
  constexpr std::uint64_t jobs = 1'000'000;
  const std::string payload(64, 'x');
  std::vector<hotq::EnqueueRequest> reqs(batch, hotq::EnqueueRequest{.payload = payload});
  std::vector<hotq::JobId> ids(batch);
  std::vector<hotq::ReservedJob> got(batch);
  std::vector<hotq::Lease> leases(batch);
  std::vector<hotq::Code> codes(batch);
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t done = 0; done < jobs; done += batch) {
    hotq::BatchResult e = engine->enqueue_batch(q.value(), reqs, ids);
    if (e.code != hotq::Code::ok) return Fail("enqueue_batch", e.code);
    hotq::BatchResult r = engine->reserve_batch(q.value(), got);
    if (r.count != batch) return Fail("reserve_batch", r.code);
    for (std::uint32_t i = 0; i < batch; ++i) leases[i] = got[i].lease();
    if (engine->ack_batch(q.value(), leases, codes) != batch) return Fail("ack_batch", codes[0]);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("lifecycle: %llu jobs (enqueue+reserve+ack, 64-byte payloads, batches of %u) "
              "in %.3f s: %.2f million jobs/s\n",
              static_cast<unsigned long long>(jobs), batch, secs, jobs / secs / 1e6);

  // One job through an expired lease and the dead-letter set, on a manual clock.
  hotq::ManualClock clock;
  std::unique_ptr<hotq::Engine> timed;
  (void)hotq::Engine::open({.clock = &clock}, &timed);
  hotq::QueueOptions o;
  o.attempts_max = 1;
  hotq::QueueId tq = timed->create_queue("timed", o).value();
  (void)timed->enqueue(tq, {.payload = "crash-prone"});
  hotq::ReservedJob first = timed->reserve(tq, 1000).value();
  clock.advance_ms(1000);
  timed->run_timers();
  const hotq::Code stale = timed->ack(tq, first.lease());
  std::vector<hotq::DeadLetter> dead = timed->list_dead(tq).value();
  if (stale != hotq::Code::stale_lease || dead.size() != 1) {
    std::fprintf(stderr, "hotq-smoke: expiry path misbehaved\n");
    return 1;
  }
  std::printf("expiry: the late ack got %s; the job is dead (%s), payload \"%s\"\n",
              hotq::code_name(stale), hotq::dead_reason_name(dead[0].reason),
              dead[0].payload.str().c_str());
  hotq::QueueCounts c = engine->counts(q.value()).value();
  std::printf("counts: enqueued=%llu completed=%llu ready=%llu leased=%llu\n",
              static_cast<unsigned long long>(c.enqueued),
              static_cast<unsigned long long>(c.completed),
              static_cast<unsigned long long>(c.ready), static_cast<unsigned long long>(c.leased));
  return 0;
}
