/* examples/c/producer_worker.c — hotq from C: a producer thread enqueues jobs,
 * the main thread works them (blocking reserve, ack). Build against an
 * installed hotq:   target_link_libraries(app PRIVATE hotq::hotq)
 * Usage: producer_worker [jobs] [wal_dir]   (no wal_dir: in memory) */
#include <hotq/hotq.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct producer {
  hotq_engine* engine;
  hotq_queue_id queue;
  int jobs;
  hotq_code failed; /* HOTQ_OK unless an enqueue failed */
} producer;

static void* produce(void* arg) {
  producer* p = arg;
  for (int i = 0; i < p->jobs; ++i) {
    char text[32];
    hotq_enqueue_request r = {0};
    r.payload = text;
    r.payload_bytes = (size_t)snprintf(text, sizeof text, "job %d", i);
    /* Back-pressure: wait up to 1 s for room rather than fail at once. */
    hotq_code c = hotq_enqueue_wait(p->engine, p->queue, &r, 1000, NULL);
    if (c != HOTQ_OK) {
      p->failed = c;
      break;
    }
  }
  return NULL;
}

static int die(const char* what, hotq_code c, const char* msg) {
  fprintf(stderr, "producer_worker: %s: %s%s%s\n", what, hotq_code_name(c), msg[0] ? ": " : "",
          msg);
  return 1;
}

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? atoi(argv[1]) : 1000;
  hotq_engine_options eo;
  hotq_engine_options_init(&eo);
  if (argc > 2) eo.wal_dir = argv[2];
  char err[256];
  hotq_engine* e = NULL;
  hotq_code c = hotq_engine_open(&eo, &e, err, sizeof err);
  if (c != HOTQ_OK) return die("open", c, err);

  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  qo.capacity_jobs_max = 64; /* small, so the producer feels back-pressure */
  hotq_queue_id q = 0;
  c = hotq_queue_create(e, "work", &qo, &q);
  if (c == HOTQ_ALREADY_EXISTS) c = hotq_queue_find(e, "work", &q); /* reopened wal_dir */
  if (c != HOTQ_OK) return die("queue", c, "");

  producer p = {e, q, jobs, HOTQ_OK};
  pthread_t thread;
  if (pthread_create(&thread, NULL, produce, &p) != 0) return die("thread", HOTQ_INTERNAL, "");

  int done = 0, idle = 0;
  while (done < jobs && idle < 10) {
    hotq_job job;
    c = hotq_reserve_wait(e, q, 1000, 0, &job); /* parks, no spinning */
    if (c == HOTQ_TIMED_OUT) {
      ++idle; /* the producer may have stopped: give up after 10 s of nothing */
      continue;
    }
    if (c != HOTQ_OK) break;
    idle = 0;
    /* job.payload is valid until hotq_job_release, even after the ack. */
    if (job.payload_bytes < 4 || memcmp(job.payload, "job ", 4) != 0) c = HOTQ_INTERNAL;
    if (c == HOTQ_OK) c = hotq_ack(e, q, hotq_job_lease(&job));
    hotq_job_release(&job);
    if (c != HOTQ_OK) break;
    ++done;
  }
  pthread_join(thread, NULL);
  hotq_engine_free(e);
  if (p.failed != HOTQ_OK) return die("enqueue", p.failed, "");
  if (done != jobs) return die("worker", c, "not every job was worked");
  printf("producer_worker: %d jobs produced and worked (hotq %s)\n", done, hotq_version());
  return 0;
}
