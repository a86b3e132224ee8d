// producer_worker: hotq's C++ API in one program. A durable engine, one queue,
// a producer (main) that enqueues three jobs, and a worker thread that
// reserves them with reserve_wait, acks them, and nacks one once to show a
// retry. examples/README.md walks through it.
//
//   producer_worker [DIR]   the engine's log directory; a fresh temporary one
//                           (removed at the end) when none is given
#include <hotq/engine.h>
#include <hotq/version.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace {

constexpr int kJobs = 3;
constexpr std::uint64_t kWaitMs = 10'000;  // a worker waits this long for a job

int Fail(const char* what, hotq::Code code) {
  std::fprintf(stderr, "producer_worker: %s: %s\n", what, hotq::code_name(code));
  return 1;
}

// The worker: takes jobs until kJobs were acked. The "invoice" job fails on its
// first attempt: nack() puts it back (at once, delay 0) to be delivered again.
int Work(hotq::Engine& engine, hotq::QueueId queue) {
  for (int acked = 0; acked < kJobs;) {
    hotq::Result<hotq::ReservedJob> job = engine.reserve_wait(queue, kWaitMs);
    if (!job.ok()) return Fail("reserve_wait", job.code());
    const bool fails = job->payload.view().starts_with("invoice") && job->attempt == 1;
    std::printf("worker:   job %llu attempt %u: %s -> %s\n",
                static_cast<unsigned long long>(job->id), job->attempt, job->payload.str().c_str(),
                fails ? "nack (retry)" : "ack");
    hotq::Code c = fails ? engine.nack(queue, job->lease(), 0, "mail server busy")
                         : engine.ack(queue, job->lease());
    if (c != hotq::Code::ok) return Fail(fails ? "nack" : "ack", c);
    if (!fails) ++acked;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string temp_dir;
  hotq::EngineOptions options;  // durability sync: enqueue returns once its job is on disk
  if (argc > 1) {
    options.wal_dir = argv[1];
  } else {
    std::string pattern = (std::filesystem::temp_directory_path() / "hotq-example-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return Fail("mkdtemp", hotq::Code::io_error);
    options.wal_dir = temp_dir = pattern;
  }

  std::unique_ptr<hotq::Engine> engine;
  if (hotq::Status s = hotq::Engine::open(options, &engine); !s.ok()) {
    std::fprintf(stderr, "producer_worker: open %s: %s\n", options.wal_dir.c_str(),
                 s.to_string().c_str());
    return 1;
  }
  std::printf("hotq %s, log in %s\n%s", hotq::version(), options.wal_dir.c_str(),
              engine->open_report().c_str());
  // A second run on the same directory finds the queue recovered from the log.
  hotq::Result<hotq::QueueId> created = engine->create_queue("emails");
  if (created.code() == hotq::Code::already_exists) created = engine->find_queue("emails");
  if (!created.ok()) return Fail("create_queue", created.code());
  const hotq::QueueId queue = created.value();

  int worker_result = 1;
  std::thread worker([&] { worker_result = Work(*engine, queue); });
  int result = 0;
  for (const char* payload : {"welcome alice", "welcome bob", "invoice 42"}) {
    hotq::Result<hotq::JobId> id = engine->enqueue(queue, {.payload = payload});
    if (!id.ok()) {
      result = Fail("enqueue", id.code());
      engine->close();  // wakes the worker: its reserve_wait returns Code::closed
      break;
    }
    std::printf("producer: job %llu: %s\n", static_cast<unsigned long long>(id.value()), payload);
  }
  worker.join();
  if (result != 0 || worker_result != 0) return 1;

  hotq::Result<hotq::QueueCounts> counts = engine->counts(queue);
  if (!counts.ok()) return Fail("counts", counts.code());
  std::printf("done: %llu completed, %llu retried, %llu waiting\n",
              static_cast<unsigned long long>(counts->completed),
              static_cast<unsigned long long>(counts->retried),
              static_cast<unsigned long long>(counts->ready + counts->delayed + counts->leased));
  engine.reset();  // closes the log before its directory goes
  if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);
  return 0;
}
