// Built against the installed package only: includes nothing but <hotq/...>.
#include <hotq/engine.h>
#include <hotq/version.h>

#include <cstdio>
#include <cstring>

int main() {
  std::unique_ptr<hotq::Engine> engine;
  if (!hotq::Engine::open({}, &engine).ok()) return 1;
  hotq::QueueId q = engine->create_queue("consumer").value();
  hotq::JobId id = engine->enqueue(q, {.payload = "from an installed hotq"}).value();
  hotq::Result<hotq::ReservedJob> job = engine->reserve(q);
  if (!job.ok() || job->id != id || job->payload.view() != "from an installed hotq" ||
      engine->ack(q, job->lease()) != hotq::Code::ok ||
      engine->ack(q, job->lease()) != hotq::Code::stale_lease ||
      std::strcmp(hotq::version(), "0.1.0") != 0) {
    std::fprintf(stderr, "consumer: unexpected results\n");
    return 1;
  }
  std::printf("consumer: linked hotq %s, one job through its lifecycle\n", hotq::version());
  return 0;
}
