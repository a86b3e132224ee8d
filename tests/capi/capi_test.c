/* tests/capi/capi_test.c — the C API (hotq/hotq.h) from plain C11.
 *
 * Every function of hotq.h is called, and every code the C API can return
 * is produced for real at least once (the last check lists them). Time is a
 * manual clock given through hotq_engine_options.now_ns: nothing sleeps.
 * Run without arguments for everything, or with one section's name.
 * Under ASan the run also proves that every release function frees all. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */

#include <hotq/hotq.h>

#include "tests/capi/fault_shim.h"

#include <dirent.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- checks */

/* Codes returned to CHECK_CODE, by value: the closing check reads it. */
static int g_seen[256];

static void note(hotq_code c) {
  if ((int)c >= 0 && (int)c < 256) g_seen[(int)c] = 1;
}

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

#define CHECK_CODE(expr, want)                                                   \
  do {                                                                           \
    hotq_code got_ = (expr);                                                     \
    hotq_code want_ = (want);                                                    \
    note(got_);                                                                  \
    if (got_ != want_) {                                                         \
      fprintf(stderr, "%s:%d: %s\n  returned %s (%d), expected %s (%d)\n",        \
              __FILE__, __LINE__, #expr, hotq_code_name(got_), (int)got_,        \
              hotq_code_name(want_), (int)want_);                                \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

#define CHECK_U64(a, b)                                                          \
  do {                                                                           \
    unsigned long long a_ = (unsigned long long)(a);                             \
    unsigned long long b_ = (unsigned long long)(b);                             \
    if (a_ != b_) {                                                              \
      fprintf(stderr, "%s:%d: %s == %s\n  got %llu and %llu\n", __FILE__,         \
              __LINE__, #a, #b, a_, b_);                                         \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

#define CHECK_STR_HAS(haystack, needle)                                          \
  do {                                                                           \
    if (strstr((haystack), (needle)) == NULL) {                                  \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,        \
              __LINE__, (haystack), (needle));                                   \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

/* ---------------------------------------------------------------- fixtures */

/* The manual clock: atomic because a durable engine's background threads
 * read it too. */
typedef struct manual_clock {
  _Atomic uint64_t ns;
} manual_clock;

static uint64_t manual_now(void* user) { return atomic_load(&((manual_clock*)user)->ns); }

static void advance_ms(manual_clock* c, uint64_t ms) { atomic_fetch_add(&c->ns, ms * 1000000u); }

static void init_clock(manual_clock* c) { atomic_store(&c->ns, 1000000000u); }

static hotq_engine_options memory_options(manual_clock* clk) {
  hotq_engine_options o;
  hotq_engine_options_init(&o);
  o.shards = 1;
  o.now_ns = manual_now;
  o.wall_now_ns = manual_now;
  o.clock_user = clk;
  return o;
}

static hotq_engine* open_memory(manual_clock* clk) {
  hotq_engine_options o = memory_options(clk);
  hotq_engine* e = NULL;
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  CHECK(e != NULL);
  return e;
}

static hotq_queue_id make_queue(hotq_engine* e, const char* name, const hotq_queue_options* o) {
  hotq_queue_id q = 0;
  CHECK_CODE(hotq_queue_create(e, name, o, &q), HOTQ_OK);
  return q;
}

static hotq_enqueue_request text_request(const char* text) {
  hotq_enqueue_request r;
  memset(&r, 0, sizeof r);
  r.payload = text;
  r.payload_bytes = strlen(text);
  return r;
}

static hotq_job_id put(hotq_engine* e, hotq_queue_id q, const char* text) {
  hotq_enqueue_request r = text_request(text);
  hotq_job_id id = 0;
  CHECK_CODE(hotq_enqueue(e, q, &r, &id), HOTQ_OK);
  CHECK(id != 0);
  return id;
}

/* Reserves exactly n jobs of q (n <= 16) and keeps only their leases. */
static void reserve_leases(hotq_engine* e, hotq_queue_id q, uint64_t lease_ms, hotq_lease* leases,
                           size_t n) {
  hotq_job jobs[16];
  size_t count = 0;
  CHECK(n <= 16);
  CHECK_CODE(hotq_reserve_batch(e, q, lease_ms, jobs, n, &count), HOTQ_OK);
  CHECK_U64(count, n);
  for (size_t i = 0; i < count; ++i) {
    leases[i] = hotq_job_lease(&jobs[i]);
    hotq_job_release(&jobs[i]);
  }
}

static int payload_is(const hotq_job* j, const char* text) {
  return j->payload_bytes == strlen(text) && memcmp(j->payload, text, j->payload_bytes) == 0;
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void rm_rf(const char* dir) { CHECK(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0); }

static void make_temp_dir(char* buf, size_t cap) {
  const char* base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  CHECK(snprintf(buf, cap, "%s/hotq-capi-XXXXXX", base) < (int)cap);
  CHECK(mkdtemp(buf) != NULL);
}

static hotq_engine_options durable_options(manual_clock* clk, const char* dir) {
  hotq_engine_options o = memory_options(clk);
  o.wal_dir = dir;
  o.wal_segment_bytes = 64u << 10; /* the smallest segments: quick to zero-fill */
  return o;
}

/* Async callbacks: counted with the last code. */
typedef struct async_probe {
  atomic_int calls;
  atomic_int last;
} async_probe;

static void on_durable(void* user, hotq_code code) {
  async_probe* p = (async_probe*)user;
  atomic_store(&p->last, (int)code);
  atomic_fetch_add(&p->calls, 1);
}

/* ---------------------------------------------------------------- sections */

static void test_names_and_version(void) {
  CHECK(strcmp(hotq_code_name(HOTQ_OK), "ok") == 0);
  CHECK(strcmp(hotq_code_name(HOTQ_STALE_LEASE), "stale_lease") == 0);
  CHECK(strcmp(hotq_code_name(HOTQ_INVALID_ARGUMENT), "invalid_argument") == 0);
  CHECK(strcmp(hotq_code_name(HOTQ_INTERNAL), "internal") == 0);
  CHECK(strcmp(hotq_code_name(HOTQ_NO_MEMORY), "no_memory") == 0);
  CHECK(strcmp(hotq_code_name(200), "unknown_code") == 0);
  CHECK(strcmp(hotq_code_name(-1), "unknown_code") == 0);
  CHECK(strcmp(hotq_code_name(1000), "unknown_code") == 0);
  CHECK(strcmp(hotq_dead_reason_name(HOTQ_DEAD_FAILED), "failed") == 0);
  CHECK(strcmp(hotq_dead_reason_name(HOTQ_DEAD_ATTEMPTS_NACKED), "attempts_nacked") == 0);
  CHECK(strcmp(hotq_dead_reason_name(HOTQ_DEAD_ATTEMPTS_EXPIRED), "attempts_expired") == 0);
  CHECK(strcmp(hotq_dead_reason_name(9), "unknown_reason") == 0);
  CHECK(strcmp(hotq_dead_reason_name(300), "unknown_reason") == 0);
  CHECK(strchr(hotq_version(), '.') != NULL);
}

static void test_options(void) {
  hotq_engine_options eo;
  hotq_engine_options_init(&eo);
  CHECK_U64(eo.struct_size, sizeof eo);
  CHECK(eo.wal_dir == NULL && eo.now_ns == NULL);
  CHECK_U64(eo.durability, HOTQ_DURABILITY_SYNC);
  CHECK_U64(eo.timer_tick_ns, 1000000u);
  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  CHECK_U64(qo.struct_size, sizeof qo);
  CHECK_U64(qo.capacity_jobs_max, 65536u);
  CHECK_U64(qo.priority_levels, 3u);
  CHECK_U64(qo.attempts_max, 5u);
  CHECK_U64(qo.lease_ms_default, 30000u);
  CHECK(qo.expiry_counts_as_attempt);

  /* Defaults with NULL options. */
  hotq_engine* e = NULL;
  CHECK_CODE(hotq_engine_open(NULL, &e, NULL, 0), HOTQ_OK);
  CHECK(strcmp(hotq_engine_open_report(e), "") == 0);
  hotq_engine_free(e);

  char err[256];
  CHECK_CODE(hotq_engine_open(NULL, NULL, err, sizeof err), HOTQ_INVALID_ARGUMENT);
  CHECK(err[0] != '\0');
  eo.shards = 65;
  CHECK_CODE(hotq_engine_open(&eo, &e, err, sizeof err), HOTQ_INVALID_ARGUMENT);
  CHECK(e == NULL);
  CHECK_STR_HAS(err, "shards");
  hotq_engine_options_init(&eo);
  eo.durability = 7;
  CHECK_CODE(hotq_engine_open(&eo, &e, err, sizeof err), HOTQ_INVALID_ARGUMENT);
  CHECK_STR_HAS(err, "durability");
  hotq_engine_options_init(&eo);
  eo.wal_backend = 3;
  CHECK_CODE(hotq_engine_open(&eo, &e, err, sizeof err), HOTQ_INVALID_ARGUMENT);
  CHECK_STR_HAS(err, "wal_backend");
  hotq_engine_options_init(&eo);
  eo.struct_size = 8; /* not from hotq_engine_options_init */
  CHECK_CODE(hotq_engine_open(&eo, &e, err, sizeof err), HOTQ_INVALID_ARGUMENT);
  CHECK_STR_HAS(err, "struct_size");
  eo.struct_size = sizeof eo + 8; /* from a newer header than the library */
  CHECK_CODE(hotq_engine_open(&eo, &e, err, sizeof err), HOTQ_NOT_SUPPORTED);
  CHECK_STR_HAS(err, "newer");
  /* The message is cut to the buffer, always NUL-terminated. */
  char tiny[6];
  CHECK_CODE(hotq_engine_open(&eo, &e, tiny, sizeof tiny), HOTQ_NOT_SUPPORTED);
  CHECK_U64(strlen(tiny), sizeof tiny - 1);

  /* Queue options. */
  manual_clock clk;
  init_clock(&clk);
  e = open_memory(&clk);
  hotq_queue_options_init(&qo);
  qo.priority_levels = HOTQ_PRIORITY_LEVELS_MAX + 1;
  CHECK_CODE(hotq_queue_create(e, "p", &qo, NULL), HOTQ_INVALID_ARGUMENT);
  hotq_queue_options_init(&qo);
  qo.backoff_kind = 5;
  CHECK_CODE(hotq_queue_create(e, "b", &qo, NULL), HOTQ_INVALID_ARGUMENT);
  hotq_queue_options_init(&qo);
  qo.ordering = 2;
  CHECK_CODE(hotq_queue_create(e, "o", &qo, NULL), HOTQ_INVALID_ARGUMENT);
  hotq_queue_options_init(&qo);
  qo.struct_size = 0;
  CHECK_CODE(hotq_queue_create(e, "s", &qo, NULL), HOTQ_INVALID_ARGUMENT);
  qo.struct_size = sizeof qo + 8;
  CHECK_CODE(hotq_queue_create(e, "s", &qo, NULL), HOTQ_NOT_SUPPORTED);
  /* Every option reaches the engine: a fifo queue with fixed backoff. */
  hotq_queue_options_init(&qo);
  qo.ordering = HOTQ_ORDERING_FIFO;
  qo.backoff_kind = HOTQ_BACKOFF_FIXED;
  qo.backoff_base_ms = 50;
  hotq_queue_id q = make_queue(e, "fifo", &qo);
  hotq_job_id id = put(e, q, "x");
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK_CODE(hotq_nack(e, q, hotq_job_lease(&job), HOTQ_DELAY_BACKOFF, NULL, 0), HOTQ_OK);
  hotq_job_release(&job);
  advance_ms(&clk, 49);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_EMPTY); /* the fixed backoff is 50 ms */
  advance_ms(&clk, 1);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, id);
  CHECK_U64(job.attempt, 2);
  hotq_job_release(&job);
  hotq_engine_free(e);
}

static void test_lifecycle(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id q = make_queue(e, "emails", NULL);

  /* enqueue copies: the caller's buffer is freed at once. */
  char* buf = malloc(6);
  CHECK(buf != NULL);
  memcpy(buf, "hello", 6);
  hotq_enqueue_request r = text_request(buf);
  r.lease_ms = 5000;
  hotq_job_id id = 0;
  CHECK_CODE(hotq_enqueue(e, q, &r, &id), HOTQ_OK);
  free(buf);

  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, id);
  CHECK_U64(job.attempt, 1);
  CHECK_U64(job.reserved_ns, atomic_load(&clk.ns)); /* the engine reads our clock */
  CHECK_U64(job.lease_deadline_ns, job.reserved_ns + 5000ull * 1000000u);
  CHECK(payload_is(&job, "hello"));
  hotq_lease lease = hotq_job_lease(&job);
  CHECK_U64(lease.job, id);
  CHECK_U64(lease.token, job.token);
  CHECK_CODE(hotq_ack(e, q, lease), HOTQ_OK);
  CHECK_CODE(hotq_ack(e, q, lease), HOTQ_STALE_LEASE); /* settled already */
  /* The payload outlives the ack until release. */
  put(e, q, "other");
  CHECK(payload_is(&job, "hello"));
  hotq_job_release(&job);
  CHECK(job.payload == NULL && job.payload_bytes == 0);
  CHECK_U64(job.id, id); /* the lease fields stay */
  hotq_job_release(&job); /* twice: no-op */
  hotq_job_release(NULL);
  hotq_lease zero = hotq_job_lease(NULL);
  CHECK_U64(zero.job, 0);

  /* Priorities: 0 is served first. A blocking reserve with a job ready
   * returns it at once. */
  hotq_enqueue_request low = text_request("low");
  low.priority = 2;
  CHECK_CODE(hotq_enqueue(e, q, &low, NULL), HOTQ_OK);
  CHECK_CODE(hotq_reserve_wait(e, q, 1000, 0, &job), HOTQ_OK);
  CHECK(payload_is(&job, "other"));
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK(payload_is(&job, "low"));
  CHECK_U64(job.priority, 2);
  /* Releasing before settling leaves the lease standing. */
  lease = hotq_job_lease(&job);
  hotq_job_release(&job);
  CHECK_CODE(hotq_ack(e, q, lease), HOTQ_OK);

  /* Empty: the struct comes back zeroed. */
  memset(&job, 0xAB, sizeof job);
  job.ref_ = NULL;
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_EMPTY);
  CHECK(job.id == 0 && job.payload == NULL && job.ref_ == NULL);
  /* An empty payload. */
  hotq_enqueue_request none;
  memset(&none, 0, sizeof none);
  CHECK_CODE(hotq_enqueue(e, q, &none, NULL), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK_U64(job.payload_bytes, 0);
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);

  /* Delays follow the manual clock. */
  hotq_enqueue_request later = text_request("later");
  later.delay_ms = 100;
  CHECK_CODE(hotq_enqueue(e, q, &later, NULL), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_EMPTY);
  advance_ms(&clk, 100);
  uint64_t fired = 0;
  CHECK_CODE(hotq_run_timers(e, &fired), HOTQ_OK);
  CHECK_U64(fired, 1);
  CHECK_CODE(hotq_run_timers(e, NULL), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK(payload_is(&job, "later"));
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  hotq_engine_free(e);
}

static void test_queues(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id a = make_queue(e, "alpha", NULL);
  hotq_queue_id b = make_queue(e, "beta", NULL);
  CHECK(a != b);
  CHECK_CODE(hotq_queue_create(e, "alpha", NULL, NULL), HOTQ_ALREADY_EXISTS);
  CHECK_CODE(hotq_queue_create(e, "has space", NULL, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_queue_create(e, "", NULL, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_queue_create(e, NULL, NULL, NULL), HOTQ_INVALID_ARGUMENT);
  hotq_queue_id found = 0;
  CHECK_CODE(hotq_queue_find(e, "beta", &found), HOTQ_OK);
  CHECK_U64(found, b);
  CHECK_CODE(hotq_queue_find(e, "gamma", &found), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_queue_find(e, "beta", NULL), HOTQ_INVALID_ARGUMENT);

  /* The list: sorted by name, each with the options it was created with. */
  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  qo.attempts_max = 7;
  qo.ordering = HOTQ_ORDERING_FIFO;
  qo.backoff_kind = HOTQ_BACKOFF_FIXED;
  qo.backoff_base_ms = 250;
  qo.dedup_keys_max = 100;
  qo.dedup_window_ms = 60000;
  hotq_queue_id c = make_queue(e, "aardvark", &qo);
  hotq_queues* list = NULL;
  CHECK_CODE(hotq_queue_list(e, &list), HOTQ_OK);
  CHECK_U64(list->count, 3);
  CHECK(strcmp(list->items[0].name, "aardvark") == 0 && list->items[0].name_bytes == 8);
  CHECK(strcmp(list->items[1].name, "alpha") == 0);
  CHECK(strcmp(list->items[2].name, "beta") == 0);
  CHECK_U64(list->items[0].id, c);
  CHECK_U64(list->items[1].id, a);
  CHECK_U64(list->items[2].id, b);
  const hotq_queue_options* got = &list->items[0].options;
  CHECK_U64(got->struct_size, sizeof(hotq_queue_options));
  CHECK_U64(got->attempts_max, 7);
  CHECK_U64(got->ordering, HOTQ_ORDERING_FIFO);
  CHECK_U64(got->backoff_kind, HOTQ_BACKOFF_FIXED);
  CHECK_U64(got->backoff_base_ms, 250);
  CHECK_U64(got->dedup_keys_max, 100);
  CHECK_U64(got->dedup_window_ms, 60000);
  CHECK_U64(got->capacity_jobs_max, qo.capacity_jobs_max);
  got = &list->items[1].options; /* alpha: the defaults */
  hotq_queue_options_init(&qo);
  CHECK_U64(got->attempts_max, qo.attempts_max);
  CHECK_U64(got->ordering, qo.ordering);
  CHECK_U64(got->backoff_kind, qo.backoff_kind);
  CHECK_U64(got->lease_ms_default, qo.lease_ms_default);
  CHECK_U64(got->priority_levels, qo.priority_levels);
  hotq_queues_release(list);
  hotq_queues_release(NULL);
  CHECK_CODE(hotq_queue_drop(e, c), HOTQ_OK);
  CHECK_CODE(hotq_queue_list(NULL, &list), HOTQ_INVALID_ARGUMENT);
  CHECK(list == NULL);
  CHECK_CODE(hotq_queue_list(e, NULL), HOTQ_INVALID_ARGUMENT);

  /* A job reserved before its queue is dropped stays readable. */
  put(e, a, "survivor");
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, a, 0, &job), HOTQ_OK);
  CHECK_CODE(hotq_queue_drop(e, a), HOTQ_OK);
  CHECK_CODE(hotq_queue_drop(e, a), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_queue_list(e, &list), HOTQ_OK);
  CHECK_U64(list->count, 1);
  CHECK(strcmp(list->items[0].name, "beta") == 0);
  hotq_queues_release(list);
  CHECK(payload_is(&job, "survivor"));
  CHECK_CODE(hotq_ack(e, a, hotq_job_lease(&job)), HOTQ_NO_SUCH_QUEUE);
  hotq_job_release(&job);
  hotq_enqueue_request r = text_request("x");
  CHECK_CODE(hotq_enqueue(e, a, &r, NULL), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_reserve(e, a, 0, &job), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_queue_find(e, "alpha", &found), HOTQ_NO_SUCH_QUEUE);

  /* Pause and resume. */
  put(e, b, "held");
  CHECK_CODE(hotq_queue_pause(e, b), HOTQ_OK);
  CHECK_CODE(hotq_queue_pause(e, b), HOTQ_OK); /* idempotent */
  CHECK_CODE(hotq_reserve(e, b, 0, &job), HOTQ_PAUSED);
  CHECK_CODE(hotq_reserve_wait(e, b, 0, 0, &job), HOTQ_TIMED_OUT);
  CHECK_CODE(hotq_enqueue(e, b, &r, NULL), HOTQ_OK); /* enqueue goes on */
  CHECK_CODE(hotq_queue_resume(e, b), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, b, 0, &job), HOTQ_OK);
  CHECK(payload_is(&job, "held"));
  hotq_job_release(&job);
  CHECK_CODE(hotq_queue_pause(e, 999), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_queue_resume(e, 999), HOTQ_NO_SUCH_QUEUE);
  hotq_engine_free(e);
}

static void test_hot_path_outcomes(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_options qo;
  hotq_job job;
  hotq_enqueue_request r = text_request("abc");

  /* full, and timed_out for a bounded wait for room. */
  hotq_queue_options_init(&qo);
  qo.capacity_jobs_max = 1;
  hotq_queue_id small = make_queue(e, "small", &qo);
  CHECK_CODE(hotq_enqueue(e, small, &r, NULL), HOTQ_OK);
  CHECK_CODE(hotq_enqueue(e, small, &r, NULL), HOTQ_FULL);
  CHECK_CODE(hotq_enqueue_wait(e, small, &r, 0, NULL), HOTQ_TIMED_OUT);
  CHECK_CODE(hotq_reserve(e, small, 0, &job), HOTQ_OK);
  CHECK_CODE(hotq_ack(e, small, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  hotq_job_id id = 0;
  CHECK_CODE(hotq_enqueue_wait(e, small, &r, 0, &id), HOTQ_OK); /* room again */
  CHECK(id != 0);

  /* too_large. */
  hotq_queue_options_init(&qo);
  qo.payload_bytes_max = 2;
  hotq_queue_id tight = make_queue(e, "tight", &qo);
  CHECK_CODE(hotq_enqueue(e, tight, &r, NULL), HOTQ_TOO_LARGE);
  hotq_enqueue_request two = text_request("ab");
  CHECK_CODE(hotq_enqueue(e, tight, &two, NULL), HOTQ_OK);

  /* duplicate (with the first id) and dedup_full. */
  hotq_queue_options_init(&qo);
  qo.dedup_keys_max = 1;
  hotq_queue_id dd = make_queue(e, "dedup", &qo);
  hotq_enqueue_request k1 = text_request("charge");
  k1.dedup_key = "order-17";
  k1.dedup_key_bytes = 8;
  hotq_job_id first = 0, again = 0;
  CHECK_CODE(hotq_enqueue(e, dd, &k1, &first), HOTQ_OK);
  CHECK_CODE(hotq_enqueue(e, dd, &k1, &again), HOTQ_DUPLICATE);
  CHECK_U64(again, first);
  hotq_enqueue_request k2 = k1;
  k2.dedup_key = "order-18";
  CHECK_CODE(hotq_enqueue(e, dd, &k2, NULL), HOTQ_DEDUP_FULL);

  /* empty and timed_out on reserves (timeout 0: the manual clock does not
   * move while the engine waits, see hotq_engine_options.now_ns). */
  hotq_queue_id none = make_queue(e, "none", NULL);
  hotq_job jobs[4];
  size_t count = 99;
  CHECK_CODE(hotq_reserve(e, none, 0, &job), HOTQ_EMPTY);
  CHECK_CODE(hotq_reserve_wait(e, none, 0, 0, &job), HOTQ_TIMED_OUT);
  CHECK_CODE(hotq_reserve_batch(e, none, 0, jobs, 4, &count), HOTQ_EMPTY);
  CHECK_U64(count, 0);
  CHECK_CODE(hotq_reserve_batch_wait(e, none, 0, 0, jobs, 4, &count), HOTQ_TIMED_OUT);
  CHECK_U64(count, 0);

  /* rate_limited: one reserve per second. */
  hotq_queue_options_init(&qo);
  qo.rate_tokens_per_interval = 1;
  qo.rate_interval_ms = 1000;
  hotq_queue_id slow = make_queue(e, "slow", &qo);
  put(e, slow, "1");
  put(e, slow, "2");
  CHECK_CODE(hotq_reserve(e, slow, 0, &job), HOTQ_OK);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, slow, 0, &job), HOTQ_RATE_LIMITED);
  advance_ms(&clk, 1000);
  CHECK_CODE(hotq_reserve(e, slow, 0, &job), HOTQ_OK);
  hotq_job_release(&job);

  /* leased_full: one lease at a time. */
  hotq_queue_options_init(&qo);
  qo.leased_max = 1;
  hotq_queue_id one = make_queue(e, "one-at-a-time", &qo);
  put(e, one, "1");
  put(e, one, "2");
  CHECK_CODE(hotq_reserve(e, one, 0, &job), HOTQ_OK);
  hotq_job job2;
  CHECK_CODE(hotq_reserve(e, one, 0, &job2), HOTQ_LEASED_FULL);
  CHECK_CODE(hotq_ack(e, one, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, one, 0, &job2), HOTQ_OK);
  hotq_job_release(&job2);

  /* invalid_argument: from the C layer (NULLs, limits, enum values) and
   * from the engine (ranges). Nothing changes. */
  hotq_queue_id q = make_queue(e, "args", NULL);
  hotq_enqueue_request bad = text_request("x");
  bad.payload = NULL;
  CHECK_CODE(hotq_enqueue(e, q, &bad, NULL), HOTQ_INVALID_ARGUMENT);
  bad = text_request("x");
  bad.dedup_key_bytes = 3;
  CHECK_CODE(hotq_enqueue(e, q, &bad, NULL), HOTQ_INVALID_ARGUMENT);
  bad = text_request("x");
  bad.priority = 300;
  CHECK_CODE(hotq_enqueue(e, q, &bad, NULL), HOTQ_INVALID_ARGUMENT);
  bad.priority = 3; /* the queue has levels 0..2 */
  CHECK_CODE(hotq_enqueue(e, q, &bad, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_enqueue(NULL, q, &r, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_enqueue(e, q, NULL, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_enqueue_wait(e, q, NULL, 0, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_enqueue_async(e, q, NULL, NULL, NULL, NULL), HOTQ_INVALID_ARGUMENT);
  size_t done = 7;
  hotq_job_id ids[2];
  CHECK_CODE(hotq_enqueue_batch(e, q, &r, HOTQ_BATCH_JOBS_MAX + 1, ids, NULL, &done),
             HOTQ_INVALID_ARGUMENT);
  CHECK_U64(done, 0);
  CHECK_CODE(hotq_enqueue_batch(e, q, &r, 1, NULL, NULL, &done), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_enqueue_batch(e, q, &r, 1, ids, NULL, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_reserve(e, q, 0, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_reserve_wait(NULL, q, 0, 0, &job), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_reserve_batch(e, q, 0, jobs, 0, &count), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_reserve_batch(e, q, 0, jobs, HOTQ_BATCH_JOBS_MAX + 1, &count),
             HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_reserve_batch(e, q, 0, jobs, 4, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_reserve(e, q, 8ull * 24 * 3600 * 1000, &job), HOTQ_INVALID_ARGUMENT);
  hotq_lease lease;
  memset(&lease, 0, sizeof lease);
  hotq_code results[1];
  CHECK_CODE(hotq_ack(NULL, q, lease), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_ack_batch(e, q, NULL, 1, results, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_ack_batch(e, q, &lease, 1, NULL, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_nack(e, q, lease, 0, NULL, 5), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_fail(e, q, lease, NULL, 5), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_extend(e, q, lease, 0), HOTQ_INVALID_ARGUMENT);
  hotq_dead_letters* list = (hotq_dead_letters*)&lease; /* must come back NULL */
  CHECK_CODE(hotq_dead_list(e, q, 0, 0, &list), HOTQ_INVALID_ARGUMENT);
  CHECK(list == NULL);
  CHECK_CODE(hotq_redrive_ids(e, q, NULL, 1, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_run_timers(NULL, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_engine_snapshot(NULL, NULL, 0), HOTQ_INVALID_ARGUMENT);
  hotq_queue_stats st;
  st.struct_size = 4;
  CHECK_CODE(hotq_queue_stats_get(e, q, &st), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_engine_stats_get(e, NULL), HOTQ_INVALID_ARGUMENT);
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, q, &st), HOTQ_OK);
  CHECK_U64(st.ready, 0); /* no refused call changed anything */
  CHECK_U64(st.enqueued, 0);
  hotq_engine_free(e);
}

static void test_leases(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  qo.attempts_max = 10;
  hotq_queue_id q = make_queue(e, "leases", &qo);
  hotq_job_id id = put(e, q, "work");
  hotq_job job;

  /* stale_lease after the lease expired: the job went back to ready. */
  CHECK_CODE(hotq_reserve(e, q, 10, &job), HOTQ_OK);
  hotq_lease old = hotq_job_lease(&job);
  hotq_job_release(&job);
  advance_ms(&clk, 10);
  uint64_t fired = 0;
  CHECK_CODE(hotq_run_timers(e, &fired), HOTQ_OK);
  CHECK_U64(fired, 1);
  CHECK_CODE(hotq_ack(e, q, old), HOTQ_STALE_LEASE);
  CHECK_CODE(hotq_extend(e, q, old, 1000), HOTQ_STALE_LEASE);
  CHECK_CODE(hotq_nack(e, q, old, 0, NULL, 0), HOTQ_STALE_LEASE);
  CHECK_CODE(hotq_fail(e, q, old, "x", 1), HOTQ_STALE_LEASE);

  /* Redelivered with a new token; extend moves the deadline. */
  CHECK_CODE(hotq_reserve(e, q, 1000, &job), HOTQ_OK);
  CHECK_U64(job.id, id);
  CHECK_U64(job.attempt, 2);
  CHECK(job.token != old.token);
  hotq_lease lease = hotq_job_lease(&job);
  hotq_job_release(&job);
  advance_ms(&clk, 900);
  CHECK_CODE(hotq_extend(e, q, lease, 1000), HOTQ_OK);
  advance_ms(&clk, 900); /* 1800 ms after reserve: alive thanks to extend */
  CHECK_CODE(hotq_run_timers(e, NULL), HOTQ_OK);

  /* nack with an explicit delay. */
  CHECK_CODE(hotq_nack(e, q, lease, 100, "retry me", 8), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_EMPTY);
  advance_ms(&clk, 100);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK_U64(job.attempt, 3);

  /* fail: dead at once with its text. */
  CHECK_CODE(hotq_fail(e, q, hotq_job_lease(&job), "bad input", 9), HOTQ_OK);
  hotq_job_release(&job);
  hotq_dead_letters* list = NULL;
  CHECK_CODE(hotq_dead_list(e, q, 0, 10, &list), HOTQ_OK);
  CHECK_U64(list->count, 1);
  CHECK_U64(list->items[0].id, id);
  CHECK_U64(list->items[0].reason, HOTQ_DEAD_FAILED);
  CHECK_U64(list->items[0].attempts, 3);
  CHECK(strcmp(list->items[0].error, "bad input") == 0);
  CHECK_U64(list->items[0].error_bytes, 9);
  CHECK_U64(list->items[0].payload_bytes, 4);
  CHECK(memcmp(list->items[0].payload, "work", 4) == 0);
  CHECK(list->items[0].dead_ns >= list->items[0].enqueued_ns);
  hotq_dead_letters_release(list);
  hotq_dead_letters_release(NULL);
  hotq_engine_free(e);
}

static void test_batches(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id q = make_queue(e, "batch", NULL);
  enum { n = 10 };
  hotq_enqueue_request reqs[n];
  char texts[n][8];
  for (int i = 0; i < n; ++i) {
    snprintf(texts[i], sizeof texts[i], "job-%d", i);
    reqs[i] = text_request(texts[i]);
  }
  reqs[3].dedup_key = "k";
  reqs[3].dedup_key_bytes = 1;
  reqs[4].dedup_key = "k"; /* a duplicate of request 3 inside the batch */
  reqs[4].dedup_key_bytes = 1;
  hotq_job_id ids[n];
  hotq_code codes[n];
  size_t done = 0;
  CHECK_CODE(hotq_enqueue_batch(e, q, reqs, n, ids, codes, &done), HOTQ_OK);
  CHECK_U64(done, n);
  CHECK_CODE(codes[3], HOTQ_OK);
  CHECK_CODE(codes[4], HOTQ_DUPLICATE);
  CHECK_U64(ids[4], ids[3]);
  CHECK_CODE(hotq_enqueue_batch(e, q, reqs, 0, NULL, NULL, &done), HOTQ_OK);
  CHECK_U64(done, 0);

  hotq_job jobs[16];
  size_t count = 0;
  CHECK_CODE(hotq_reserve_batch(e, q, 0, jobs, 16, &count), HOTQ_OK);
  CHECK_U64(count, n - 1); /* the duplicate made no job */
  for (size_t i = count; i < 16; ++i) CHECK(jobs[i].id == 0 && jobs[i].ref_ == NULL);
  hotq_lease leases[16];
  for (size_t i = 0; i < count; ++i) {
    CHECK(jobs[i].payload_bytes == 5 && memcmp(jobs[i].payload, "job-", 4) == 0);
    leases[i] = hotq_job_lease(&jobs[i]);
    hotq_job_release(&jobs[i]);
  }
  hotq_code results[16];
  size_t acked = 0;
  CHECK_CODE(hotq_ack_batch(e, q, leases, count, results, &acked), HOTQ_OK);
  CHECK_U64(acked, count);
  for (size_t i = 0; i < count; ++i) CHECK_CODE(results[i], HOTQ_OK);
  CHECK_CODE(hotq_ack_batch(e, q, leases, count, results, &acked), HOTQ_STALE_LEASE);
  CHECK_U64(acked, 0);
  CHECK_CODE(hotq_ack_batch(e, q, leases, 0, NULL, &acked), HOTQ_OK);

  /* A batch beyond capacity: a prefix is done, full says why it stopped. */
  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  qo.capacity_jobs_max = 5;
  hotq_queue_id small = make_queue(e, "small", &qo);
  CHECK_CODE(hotq_enqueue_batch(e, small, reqs, 3, ids, NULL, &done), HOTQ_OK);
  CHECK_CODE(hotq_enqueue_batch(e, small, reqs + 5, 5, ids, codes, &done), HOTQ_FULL);
  CHECK_U64(done, 2);
  /* One invalid request refuses the whole batch. */
  hotq_enqueue_request mixed[2] = {reqs[0], reqs[1]};
  mixed[1].priority = 9;
  CHECK_CODE(hotq_enqueue_batch(e, q, mixed, 2, ids, NULL, &done), HOTQ_INVALID_ARGUMENT);
  CHECK_U64(done, 0);

  /* reserve_batch_wait with jobs ready returns at once. */
  CHECK_CODE(hotq_reserve_batch_wait(e, small, 1000, 0, jobs, 3, &count), HOTQ_OK);
  CHECK_U64(count, 3);
  for (size_t i = 0; i < count; ++i) {
    CHECK_CODE(hotq_ack(e, small, hotq_job_lease(&jobs[i])), HOTQ_OK);
    hotq_job_release(&jobs[i]);
  }
  hotq_engine_free(e);
}

static void test_dead_letters(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  qo.attempts_max = 1;
  hotq_queue_id q = make_queue(e, "dlq", &qo);
  hotq_job_id ids[5];
  hotq_job job;
  for (int i = 0; i < 4; ++i) {
    ids[i] = put(e, q, "n");
    CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
    CHECK_CODE(hotq_nack(e, q, hotq_job_lease(&job), HOTQ_DELAY_BACKOFF, "nope", 4), HOTQ_OK);
    hotq_job_release(&job);
  }
  /* The fifth dies by lease expiry (its worker vanished). */
  ids[4] = put(e, q, "x");
  CHECK_CODE(hotq_reserve(e, q, 5, &job), HOTQ_OK);
  hotq_job_release(&job);
  advance_ms(&clk, 5);

  CHECK_CODE(hotq_run_timers(e, NULL), HOTQ_OK); /* the expiry */

  /* Pages of 2: 2, 2, 1, then an empty page. */
  hotq_job_id after = 0;
  const size_t sizes[4] = {2, 2, 1, 0};
  for (int page = 0; page < 4; ++page) {
    hotq_dead_letters* list = NULL;
    CHECK_CODE(hotq_dead_list(e, q, after, 2, &list), HOTQ_OK);
    CHECK_U64(list->count, sizes[page]);
    for (size_t i = 0; i < list->count; ++i) {
      CHECK_U64(list->items[i].id, ids[page * 2 + (int)i]);
      after = list->items[i].id;
    }
    hotq_dead_letters_release(list);
  }
  hotq_dead_letters* list = NULL;
  CHECK_CODE(hotq_dead_list(e, q, ids[3], 10, &list), HOTQ_OK);
  CHECK_U64(list->count, 1);
  CHECK_U64(list->items[0].id, ids[4]);
  CHECK_U64(list->items[0].reason, HOTQ_DEAD_ATTEMPTS_EXPIRED);
  CHECK_U64(list->items[0].error_bytes, strlen(list->items[0].error)); /* the engine's note */
  CHECK_U64(list->items[0].payload_bytes, 1);
  CHECK(memcmp(list->items[0].payload, "x", 1) == 0);
  hotq_dead_letters_release(list);
  CHECK_CODE(hotq_dead_list(e, q, 0, 1, &list), HOTQ_OK);
  CHECK_U64(list->items[0].reason, HOTQ_DEAD_ATTEMPTS_NACKED);
  CHECK(strcmp(list->items[0].error, "nope") == 0);
  hotq_dead_letters_release(list);
  CHECK_CODE(hotq_dead_list(e, 999, 0, 1, &list), HOTQ_NO_SUCH_QUEUE);
  CHECK(list == NULL);

  /* Redrive by ids (unknown ids skipped), then the rest. */
  hotq_job_id pick[2] = {ids[1], 123456};
  uint64_t n = 0;
  CHECK_CODE(hotq_redrive_ids(e, q, pick, 2, &n), HOTQ_OK);
  CHECK_U64(n, 1);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, ids[1]);
  CHECK_U64(job.attempt, 1); /* attempts reset */
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  CHECK_CODE(hotq_redrive(e, q, 1, &n), HOTQ_OK);
  CHECK_U64(n, 1);
  CHECK_CODE(hotq_redrive(e, q, UINT64_MAX, &n), HOTQ_OK);
  CHECK_U64(n, 3);
  CHECK_CODE(hotq_redrive(e, q, UINT64_MAX, NULL), HOTQ_OK);
  CHECK_CODE(hotq_redrive(e, 999, UINT64_MAX, &n), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_redrive_ids(e, 999, pick, 2, &n), HOTQ_NO_SUCH_QUEUE);
  hotq_queue_stats st;
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, q, &st), HOTQ_OK);
  CHECK_U64(st.dead, 0);
  CHECK_U64(st.ready, 4);
  CHECK_U64(st.redriven, 5);
  CHECK_U64(st.dead_lettered, 5);
  CHECK_U64(st.expired, 1);
  hotq_engine_free(e);
}

static void test_stats(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id q = make_queue(e, "stats", NULL);
  hotq_queue_id other = make_queue(e, "other", NULL);
  put(e, q, "a");
  put(e, q, "b");
  {
    /* The Prometheus page: allocated by the library, freed by the caller. */
    char* page = NULL;
    size_t page_bytes = 0;
    CHECK_CODE(hotq_metrics_prometheus(e, &page, &page_bytes), HOTQ_OK);
    CHECK(page != NULL);
    CHECK_U64(strlen(page), page_bytes);
    CHECK(strstr(page, "# TYPE hotq_jobs gauge\n") != NULL);
    CHECK(strstr(page, "hotq_jobs{queue=\"stats\",state=\"ready\"} 2\n") != NULL);
    CHECK(strstr(page, "hotq_jobs{queue=\"other\",state=\"ready\"} 0\n") != NULL);
    CHECK(page[page_bytes - 1] == '\n');
    hotq_text_release(page);
    hotq_text_release(NULL);
    CHECK_CODE(hotq_metrics_prometheus(e, NULL, &page_bytes), HOTQ_INVALID_ARGUMENT);
    CHECK_CODE(hotq_metrics_prometheus(NULL, &page, &page_bytes), HOTQ_INVALID_ARGUMENT);
    CHECK(page == NULL);
  }
  hotq_enqueue_request p1 = text_request("c");
  p1.priority = 1;
  CHECK_CODE(hotq_enqueue(e, q, &p1, NULL), HOTQ_OK);
  hotq_enqueue_request later = text_request("d");
  later.delay_ms = 1000;
  CHECK_CODE(hotq_enqueue(e, q, &later, NULL), HOTQ_OK);
  put(e, other, "e");
  advance_ms(&clk, 3);
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  advance_ms(&clk, 2);
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK); /* stays leased */
  hotq_job_release(&job);

  hotq_queue_stats st;
  memset(&st, 0xFF, sizeof st);
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, q, &st), HOTQ_OK);
  CHECK_U64(st.struct_size, sizeof st);
  CHECK_U64(st.delayed, 1);
  CHECK_U64(st.ready, 1);
  CHECK_U64(st.ready_by_priority[0], 0);
  CHECK_U64(st.ready_by_priority[1], 1);
  CHECK_U64(st.ready_by_priority[HOTQ_PRIORITY_LEVELS_MAX - 1], 0);
  CHECK_U64(st.leased, 1);
  CHECK_U64(st.dead, 0);
  CHECK_U64(st.enqueued, 4);
  CHECK_U64(st.completed, 1);
  CHECK_U64(st.retried + st.failed + st.expired + st.redriven + st.cancelled + st.purged, 0);
  CHECK_U64(st.rejected_full + st.rate_limited + st.dedup_hits, 0);
  CHECK_U64(st.oldest_ready_age_ns, 5000000u); /* "c", ready since the start */
  CHECK_U64(st.wait.count, 2);
  CHECK(st.wait.p50_ns >= 3000000u && st.wait.max_ns >= st.wait.p50_ns);
  CHECK_U64(st.run.count, 1);
  CHECK(st.run.max_ns >= 2000000u && st.run.p99_ns <= st.run.max_ns);
  CHECK_CODE(hotq_queue_stats_get(e, 999, &st), HOTQ_NO_SUCH_QUEUE);

  hotq_queue_stats all;
  all.struct_size = sizeof all;
  CHECK_CODE(hotq_engine_stats_get(e, &all), HOTQ_OK);
  CHECK_U64(all.enqueued, 5);
  CHECK_U64(all.ready, 2);

  /* An in-memory engine has no log: flags 0, every field 0 (over 0xFF). */
  hotq_wal_stats ws;
  memset(&ws, 0xFF, sizeof ws);
  ws.struct_size = sizeof ws;
  CHECK_CODE(hotq_wal_stats_get(e, &ws), HOTQ_OK);
  CHECK_U64(ws.struct_size, sizeof ws);
  CHECK_U64(ws.flags, 0);
  CHECK_U64(ws.last_lsn + ws.groups + ws.bytes + ws.commit.count + ws.snapshots, 0);
  ws.struct_size = 4;
  CHECK_CODE(hotq_wal_stats_get(e, &ws), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_wal_stats_get(NULL, &ws), HOTQ_INVALID_ARGUMENT);
  hotq_engine_free(e);
}

static void test_async(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id q = make_queue(e, "async", NULL);
  async_probe probe;
  atomic_init(&probe.calls, 0);
  atomic_init(&probe.last, -1);

  /* In memory the outcome is known at once: called in this thread, before
   * the function returns. */
  hotq_enqueue_request r = text_request("a");
  hotq_job_id id = 0;
  CHECK_CODE(hotq_enqueue_async(e, q, &r, &id, on_durable, &probe), HOTQ_OK);
  CHECK(id != 0);
  CHECK(atomic_load(&probe.calls) == 1);
  CHECK_CODE((hotq_code)atomic_load(&probe.last), HOTQ_OK);
  CHECK_CODE(hotq_enqueue_async(e, q, &r, NULL, NULL, NULL), HOTQ_OK); /* no callback */
  /* Not called when the call fails. */
  CHECK_CODE(hotq_enqueue_async(e, 999, &r, NULL, on_durable, &probe), HOTQ_NO_SUCH_QUEUE);
  CHECK(atomic_load(&probe.calls) == 1);

  hotq_enqueue_request two[2] = {text_request("b"), text_request("c")};
  hotq_job_id ids[2];
  size_t done = 0;
  CHECK_CODE(hotq_enqueue_batch_async(e, q, two, 2, ids, NULL, &done, on_durable, &probe),
             HOTQ_OK);
  CHECK_U64(done, 2);
  CHECK(atomic_load(&probe.calls) == 2);

  hotq_lease leases[4];
  reserve_leases(e, q, 0, leases, 4);
  CHECK_CODE(hotq_ack_async(e, q, leases[0], on_durable, &probe), HOTQ_OK);
  CHECK(atomic_load(&probe.calls) == 3);
  CHECK_CODE(hotq_ack_async(e, q, leases[0], on_durable, &probe), HOTQ_STALE_LEASE);
  CHECK(atomic_load(&probe.calls) == 3);
  hotq_code results[3];
  size_t acked = 0;
  CHECK_CODE(hotq_ack_batch_async(e, q, leases + 1, 3, results, &acked, on_durable, &probe),
             HOTQ_OK);
  CHECK_U64(acked, 3);
  CHECK(atomic_load(&probe.calls) == 4);
  CHECK_CODE(hotq_ack_batch_async(e, q, leases + 1, 3, results, &acked, on_durable, &probe),
             HOTQ_STALE_LEASE);
  CHECK(atomic_load(&probe.calls) == 4);
  CHECK_CODE((hotq_code)atomic_load(&probe.last), HOTQ_OK);

  /* nack and fail: called once when they succeed, never when refused. */
  put(e, q, "d");
  put(e, q, "e");
  reserve_leases(e, q, 0, leases, 2);
  CHECK_CODE(hotq_nack_async(e, q, leases[0], 0, "again", 5, on_durable, &probe), HOTQ_OK);
  CHECK(atomic_load(&probe.calls) == 5);
  CHECK_CODE(hotq_nack_async(e, q, leases[0], 0, NULL, 0, on_durable, &probe),
             HOTQ_STALE_LEASE);
  CHECK_CODE(hotq_nack_async(e, q, leases[0], 0, NULL, 3, on_durable, &probe),
             HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_fail_async(e, q, leases[1], "no", 2, on_durable, &probe), HOTQ_OK);
  CHECK(atomic_load(&probe.calls) == 6);
  CHECK_CODE(hotq_fail_async(e, q, leases[1], "no", 2, on_durable, &probe), HOTQ_STALE_LEASE);
  CHECK_CODE(hotq_fail_async(NULL, q, leases[1], "no", 2, on_durable, &probe),
             HOTQ_INVALID_ARGUMENT);
  CHECK(atomic_load(&probe.calls) == 6);
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK); /* the nacked one, retried */
  CHECK_U64(job.attempt, 2);
  CHECK(payload_is(&job, "d"));
  hotq_job_release(&job);
  hotq_engine_free(e);
}

static void test_close(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id q = make_queue(e, "closing", NULL);
  put(e, q, "left behind");
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  hotq_engine_close(e);
  hotq_engine_close(e); /* idempotent */
  hotq_engine_close(NULL);
  hotq_enqueue_request r = text_request("x");
  CHECK_CODE(hotq_enqueue(e, q, &r, NULL), HOTQ_CLOSED);
  CHECK_CODE(hotq_queue_create(e, "new", NULL, NULL), HOTQ_CLOSED);
  hotq_job other;
  CHECK_CODE(hotq_reserve(e, q, 0, &other), HOTQ_CLOSED);
  CHECK_CODE(hotq_reserve_wait(e, q, 1000, 0, &other), HOTQ_CLOSED);
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_CLOSED);
  hotq_engine_free(e);
  hotq_engine_free(NULL);
  /* A job outlives its engine until released. */
  CHECK(payload_is(&job, "left behind"));
  hotq_job_release(&job);
}

static void test_limits(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_options tiny;
  hotq_queue_options_init(&tiny);
  tiny.capacity_jobs_max = 2;
  tiny.priority_levels = 1;
  char name[32];
  for (unsigned i = 0; i < HOTQ_QUEUES_MAX; ++i) {
    snprintf(name, sizeof name, "q%u", i);
    CHECK_CODE(hotq_queue_create(e, name, &tiny, NULL), HOTQ_OK);
  }
  CHECK_CODE(hotq_queue_create(e, "one-more", &tiny, NULL), HOTQ_LIMIT_EXCEEDED);
  hotq_engine_free(e);
}

/* The lowest-named wal-*.log segment of dir into path. */
static void first_segment(const char* dir, char* path, size_t cap) {
  DIR* d = opendir(dir);
  CHECK(d != NULL);
  char best[256] = "";
  struct dirent* ent;
  while ((ent = readdir(d)) != NULL) {
    if (strncmp(ent->d_name, "wal-", 4) != 0) continue;
    if (best[0] == '\0' || strcmp(ent->d_name, best) < 0) {
      snprintf(best, sizeof best, "%s", ent->d_name);
    }
  }
  closedir(d);
  CHECK(best[0] != '\0');
  CHECK(snprintf(path, cap, "%s/%s", dir, best) < (int)cap);
}

static void test_durable(void) {
  manual_clock clk;
  init_clock(&clk);
  char dir[512];
  make_temp_dir(dir, sizeof dir);
  hotq_engine_options o = durable_options(&clk, dir);
  char err[512];
  hotq_engine* e = NULL;
  CHECK_CODE(hotq_engine_open(&o, &e, err, sizeof err), HOTQ_OK);
  CHECK(strcmp(err, "") == 0);
  hotq_queue_id q = make_queue(e, "durable", NULL);
  put(e, q, "one");
  put(e, q, "two");
  async_probe probe;
  atomic_init(&probe.calls, 0);
  atomic_init(&probe.last, -1);
  hotq_enqueue_request r = text_request("three");
  CHECK_CODE(hotq_enqueue_async(e, q, &r, NULL, on_durable, &probe), HOTQ_OK);
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 60000, &job), HOTQ_OK);
  CHECK(payload_is(&job, "one"));
  hotq_lease held = hotq_job_lease(&job);
  hotq_job_release(&job);

  /* locked: one engine per directory, with a message naming it. */
  hotq_engine* second = NULL;
  CHECK_CODE(hotq_engine_open(&o, &second, err, sizeof err), HOTQ_LOCKED);
  CHECK(second == NULL);
  CHECK_STR_HAS(err, dir);
  CHECK_CODE(hotq_engine_snapshot(e, err, sizeof err), HOTQ_OK);
  CHECK(strcmp(err, "") == 0);
  put(e, q, "four"); /* after the snapshot: replayed from the log */
  {
    /* The log's stats: "four" was a sync enqueue, so it is durable. */
    hotq_wal_stats ws;
    memset(&ws, 0, sizeof ws);
    ws.struct_size = sizeof ws;
    CHECK_CODE(hotq_wal_stats_get(e, &ws), HOTQ_OK);
    CHECK_U64(ws.flags, HOTQ_WAL_FLAG_DURABLE);
    CHECK(ws.durable_lsn >= 5 && ws.durable_lsn <= ws.last_lsn); /* queue, 4 enqueues */
    CHECK(ws.groups >= 1 && ws.records >= ws.groups && ws.bytes > 0);
    CHECK(ws.commit.count >= 1 && ws.commit.p50_ns <= ws.commit.max_ns);
    CHECK(ws.segments >= 1);
    CHECK_U64(ws.snapshots, 1);
    CHECK_U64(ws.snapshot_failures, 0);
    CHECK(ws.snapshot_lsn >= 1 && ws.snapshot_lsn < ws.durable_lsn);
    char* failure = NULL;
    char* snapshot_error = NULL;
    CHECK_CODE(hotq_wal_texts(e, &failure, &snapshot_error), HOTQ_OK);
    CHECK(failure != NULL && strcmp(failure, "") == 0);
    CHECK(snapshot_error != NULL && strcmp(snapshot_error, "") == 0);
    hotq_text_release(failure);
    hotq_text_release(snapshot_error);
    CHECK_CODE(hotq_wal_texts(e, NULL, NULL), HOTQ_OK);
    CHECK_CODE(hotq_wal_texts(NULL, &failure, NULL), HOTQ_INVALID_ARGUMENT);
    CHECK(failure == NULL);
  }

  /* Freeing calls the callbacks still waiting: exactly once, durable. */
  hotq_engine_free(e);
  CHECK(atomic_load(&probe.calls) == 1);
  CHECK_CODE((hotq_code)atomic_load(&probe.last), HOTQ_OK);

  /* Reopen: the jobs and the lease survived. */
  CHECK_CODE(hotq_engine_open(&o, &e, err, sizeof err), HOTQ_OK);
  CHECK(strlen(hotq_engine_open_report(e)) > 0);
  hotq_queue_id q2 = 0;
  CHECK_CODE(hotq_queue_find(e, "durable", &q2), HOTQ_OK);
  hotq_queues* recovered = NULL;
  CHECK_CODE(hotq_queue_list(e, &recovered), HOTQ_OK);
  CHECK_U64(recovered->count, 1);
  CHECK(strcmp(recovered->items[0].name, "durable") == 0);
  CHECK_U64(recovered->items[0].id, q2);
  hotq_queues_release(recovered);
  hotq_queue_stats st;
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, q2, &st), HOTQ_OK);
  CHECK_U64(st.ready, 3);
  CHECK_U64(st.leased, 1);
  CHECK_CODE(hotq_ack(e, q2, held), HOTQ_OK); /* the same token after the restart */
  const char* expect[3] = {"two", "three", "four"};
  for (int i = 0; i < 3; ++i) {
    CHECK_CODE(hotq_reserve(e, q2, 0, &job), HOTQ_OK);
    CHECK(payload_is(&job, expect[i]));
    CHECK_CODE(hotq_ack_async(e, q2, hotq_job_lease(&job), on_durable, &probe), HOTQ_OK);
    hotq_job_release(&job);
  }
  hotq_engine_free(e);
  CHECK(atomic_load(&probe.calls) == 4);
  CHECK_CODE((hotq_code)atomic_load(&probe.last), HOTQ_OK);
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  CHECK_CODE(hotq_queue_find(e, "durable", &q2), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, q2, 0, &job), HOTQ_EMPTY); /* the acks were durable */
  hotq_engine_free(e);
  rm_rf(dir);

  /* Interval durability: close syncs what is pending. */
  make_temp_dir(dir, sizeof dir);
  o = durable_options(&clk, dir);
  o.durability = HOTQ_DURABILITY_INTERVAL;
  o.wal_interval_ms = 10;
  o.wal_backend = HOTQ_WAL_BACKEND_PWRITEV;
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  q = make_queue(e, "interval", NULL);
  put(e, q, "kept");
  hotq_engine_free(e);
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  CHECK_CODE(hotq_queue_find(e, "interval", &q), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK(payload_is(&job, "kept"));
  hotq_job_release(&job);
  hotq_engine_free(e);
  rm_rf(dir);
}

static void test_open_errors(void) {
  manual_clock clk;
  init_clock(&clk);
  char err[512];
  hotq_engine* e = NULL;

  /* not_supported: an in-memory engine has no snapshots. */
  e = open_memory(&clk);
  CHECK_CODE(hotq_engine_snapshot(e, err, sizeof err), HOTQ_NOT_SUPPORTED);
  CHECK(strlen(err) > 0);
  hotq_engine_free(e);

  /* io_error: the wal_dir's parent is a regular file. */
  char dir[512];
  make_temp_dir(dir, sizeof dir);
  char file[600];
  snprintf(file, sizeof file, "%s/plain-file", dir);
  FILE* f = fopen(file, "w");
  CHECK(f != NULL);
  fclose(f);
  char under[700];
  snprintf(under, sizeof under, "%s/wal", file);
  hotq_engine_options o = durable_options(&clk, under);
  e = (hotq_engine*)&clk; /* must come back NULL */
  CHECK_CODE(hotq_engine_open(&o, &e, err, sizeof err), HOTQ_IO_ERROR);
  CHECK(e == NULL);
  CHECK_STR_HAS(err, under);
  rm_rf(dir);

  /* corruption: a damaged group followed by valid ones is not a torn tail. */
  make_temp_dir(dir, sizeof dir);
  o = durable_options(&clk, dir);
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  hotq_queue_id q = make_queue(e, "c", NULL);
  put(e, q, "1");
  put(e, q, "2");
  hotq_engine_free(e);
  char seg[700];
  first_segment(dir, seg, sizeof seg);
  f = fopen(seg, "r+b");
  CHECK(f != NULL);
  CHECK(fseek(f, 64 + 8, SEEK_SET) == 0); /* the first group's magic (docs/wal-format.md) */
  int byte = fgetc(f);
  CHECK(byte != EOF);
  CHECK(fseek(f, 64 + 8, SEEK_SET) == 0);
  CHECK(fputc(byte ^ 0xFF, f) != EOF);
  CHECK(fclose(f) == 0);
  CHECK_CODE(hotq_engine_open(&o, &e, err, sizeof err), HOTQ_CORRUPTION);
  CHECK(e == NULL);
  CHECK_STR_HAS(err, "wal-");
  rm_rf(dir);
}

/* Every code the C API can return was produced by a real call above. Not
 * reachable from C without fault injection: no_such_job (no C function
 * returns it yet), no_space, wal_failed, internal, no_memory. */
/* Topics: bind, bindings (cut to the caller's room), publish all or none. */
static void test_topics(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id a = make_queue(e, "a", NULL);
  hotq_queue_id b = make_queue(e, "b", NULL);
  hotq_queue_options small;
  hotq_queue_options_init(&small);
  small.capacity_jobs_max = 1;
  hotq_queue_id c = make_queue(e, "c", &small);

  hotq_queue_id bound[HOTQ_TOPIC_QUEUES_MAX];
  size_t count = 99;
  CHECK_CODE(hotq_topic_bindings(e, "orders", bound, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_OK);
  CHECK_U64(count, 0); /* an unknown topic has no queue */
  CHECK_CODE(hotq_topic_bind(e, "orders", a), HOTQ_OK);
  CHECK_CODE(hotq_topic_bind(e, "orders", b), HOTQ_OK);
  CHECK_CODE(hotq_topic_bind(e, "orders", a), HOTQ_OK); /* idempotent */
  CHECK_CODE(hotq_topic_bindings(e, "orders", bound, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_OK);
  CHECK_U64(count, 2);
  CHECK_U64(bound[0], a);
  CHECK_U64(bound[1], b);
  /* Cut to the room given; count still says how many there are. */
  bound[1] = 0;
  CHECK_CODE(hotq_topic_bindings(e, "orders", bound, 1, &count), HOTQ_OK);
  CHECK_U64(count, 2);
  CHECK_U64(bound[0], a);
  CHECK_U64(bound[1], 0);
  CHECK_CODE(hotq_topic_bindings(e, "orders", NULL, 0, &count), HOTQ_OK);
  CHECK_U64(count, 2);

  /* One publish, one job per bound queue, ids in bindings order. */
  hotq_enqueue_request r = text_request("event");
  hotq_job_id ids[HOTQ_TOPIC_QUEUES_MAX];
  CHECK_CODE(hotq_publish(e, "orders", &r, ids, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_OK);
  CHECK_U64(count, 2);
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, a, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, ids[0]);
  CHECK(payload_is(&job, "event"));
  CHECK_CODE(hotq_ack(e, a, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, b, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, ids[1]);
  CHECK(payload_is(&job, "event"));
  CHECK_CODE(hotq_ack(e, b, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  /* No room for the ids: the jobs are made all the same. */
  CHECK_CODE(hotq_publish(e, "orders", &r, NULL, 0, &count), HOTQ_OK);
  CHECK_U64(count, 2);
  CHECK_CODE(hotq_publish(e, "orders", &r, NULL, 0, NULL), HOTQ_OK);
  hotq_queue_stats st;
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, b, &st), HOTQ_OK);
  CHECK_U64(st.ready, 2);

  /* All or none: c holds one job at most; once it is full nothing is
   * published anywhere. */
  CHECK_CODE(hotq_topic_bind(e, "orders", c), HOTQ_OK);
  CHECK_CODE(hotq_publish(e, "orders", &r, ids, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_OK);
  CHECK_U64(count, 3);
  CHECK_CODE(hotq_publish(e, "orders", &r, ids, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_FULL);
  CHECK_U64(count, 0);
  CHECK_CODE(hotq_queue_stats_get(e, a, &st), HOTQ_OK);
  CHECK_U64(st.ready, 3);
  CHECK_CODE(hotq_queue_stats_get(e, b, &st), HOTQ_OK);
  CHECK_U64(st.ready, 3);
  CHECK_CODE(hotq_topic_unbind(e, "orders", c), HOTQ_OK);
  CHECK_CODE(hotq_topic_unbind(e, "orders", c), HOTQ_OK); /* idempotent */
  CHECK_CODE(hotq_publish(e, "orders", &r, ids, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_OK);
  CHECK_U64(count, 2);

  /* Refusals. */
  CHECK_CODE(hotq_publish(e, "nobody", &r, ids, HOTQ_TOPIC_QUEUES_MAX, &count),
             HOTQ_NO_SUCH_QUEUE);
  /* A dedup key: checked in each queue's window; a retry makes nothing and
   * answers with the same ids. */
  hotq_enqueue_request keyed = text_request("k");
  keyed.dedup_key = "key";
  keyed.dedup_key_bytes = 3;
  CHECK_CODE(hotq_publish(e, "orders", &keyed, ids, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_OK);
  CHECK_U64(count, 2);
  hotq_job_id first[2] = {ids[0], ids[1]};
  ids[0] = ids[1] = 0;
  CHECK_CODE(hotq_publish(e, "orders", &keyed, ids, HOTQ_TOPIC_QUEUES_MAX, &count),
             HOTQ_DUPLICATE);
  CHECK_U64(count, 2);
  CHECK_U64(ids[0], first[0]);
  CHECK_U64(ids[1], first[1]);
  hotq_queue_options no_dedup;
  hotq_queue_options_init(&no_dedup);
  no_dedup.dedup_keys_max = 0;
  hotq_queue_id plain = make_queue(e, "plain", &no_dedup);
  CHECK_CODE(hotq_topic_bind(e, "keyless", plain), HOTQ_OK);
  CHECK_CODE(hotq_publish(e, "keyless", &keyed, ids, HOTQ_TOPIC_QUEUES_MAX, &count),
             HOTQ_INVALID_ARGUMENT);
  /* hotq_publish_each: what each queue did. A queue bound after a keyed
   * publish takes its retry; the queues that held the key answer duplicate
   * with the ids of the jobs holding it. */
  hotq_enqueue_request each_req = text_request("each");
  each_req.dedup_key = "each-key";
  each_req.dedup_key_bytes = 8;
  hotq_code codes[HOTQ_TOPIC_QUEUES_MAX];
  CHECK_CODE(hotq_topic_bind(e, "each", a), HOTQ_OK);
  CHECK_CODE(hotq_publish_each(e, "each", &each_req, ids, codes, HOTQ_TOPIC_QUEUES_MAX, &count),
             HOTQ_OK);
  CHECK_U64(count, 1);
  CHECK_CODE(codes[0], HOTQ_OK);
  const hotq_job_id held = ids[0];
  hotq_queue_id late = make_queue(e, "late", NULL);
  CHECK_CODE(hotq_topic_bind(e, "each", late), HOTQ_OK);
  CHECK_CODE(hotq_publish_each(e, "each", &each_req, ids, codes, HOTQ_TOPIC_QUEUES_MAX, &count),
             HOTQ_OK);
  CHECK_U64(count, 2);
  CHECK_CODE(codes[0], HOTQ_DUPLICATE);
  CHECK_U64(ids[0], held);
  CHECK_CODE(codes[1], HOTQ_OK);
  CHECK(ids[1] != held && ids[1] != 0);
  const hotq_job_id late_job = ids[1];
  /* Cut to the room given: the second code is left alone. */
  codes[1] = HOTQ_INTERNAL;
  CHECK_CODE(hotq_publish_each(e, "each", &each_req, ids, codes, 1, &count), HOTQ_DUPLICATE);
  CHECK_U64(count, 2);
  CHECK_CODE(codes[0], HOTQ_DUPLICATE);
  CHECK_CODE(codes[1], HOTQ_INTERNAL);
  CHECK_CODE(hotq_publish_each(e, "each", &each_req, ids, codes, 2, &count), HOTQ_DUPLICATE);
  CHECK_U64(ids[1], late_job);
  CHECK_CODE(codes[1], HOTQ_DUPLICATE);
  CHECK_CODE(hotq_publish_each(e, "each", &each_req, ids, NULL, 1, &count), HOTQ_INVALID_ARGUMENT);
  CHECK_U64(count, 0);
  CHECK_CODE(hotq_publish_each(e, "nobody", &each_req, ids, codes, 2, &count), HOTQ_NO_SUCH_QUEUE);
  CHECK_U64(count, 0);
  CHECK_CODE(hotq_topic_unbind(e, "each", a), HOTQ_OK);
  CHECK_CODE(hotq_topic_unbind(e, "each", late), HOTQ_OK);
  CHECK_CODE(hotq_publish(e, "orders", &r, NULL, 1, &count), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_publish(e, NULL, &r, ids, 1, &count), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_publish(e, "orders", NULL, ids, 1, &count), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_topic_bind(e, "orders", 999), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_topic_bind(e, "bad name!", a), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_topic_bind(e, NULL, a), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_topic_unbind(NULL, "orders", a), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_topic_bindings(e, "orders", NULL, 1, &count), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_topic_bindings(e, "orders", bound, 1, NULL), HOTQ_INVALID_ARGUMENT);
  /* HOTQ_TOPIC_QUEUES_MAX queues on one topic, not one more. */
  hotq_queue_id many = 0;
  for (unsigned i = 2; i < HOTQ_TOPIC_QUEUES_MAX; ++i) {
    char name[32];
    snprintf(name, sizeof name, "fan%u", i);
    many = make_queue(e, name, NULL);
    CHECK_CODE(hotq_topic_bind(e, "orders", many), HOTQ_OK);
  }
  CHECK_CODE(hotq_topic_bind(e, "orders", c), HOTQ_LIMIT_EXCEEDED);
  /* Dropping a queue unbinds it. */
  CHECK_CODE(hotq_queue_drop(e, a), HOTQ_OK);
  CHECK_CODE(hotq_topic_bindings(e, "orders", bound, HOTQ_TOPIC_QUEUES_MAX, &count), HOTQ_OK);
  CHECK_U64(count, HOTQ_TOPIC_QUEUES_MAX - 1);
  CHECK_U64(bound[0], b);
  CHECK_U64(bound[count - 1], many);
  hotq_engine_free(e);
}

/* Waiting jobs by id: inspect, cancel, set_priority, set_delay; purge;
 * deleting dead letters. */
static void test_waiting_jobs(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_engine* e = open_memory(&clk);
  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  qo.priority_levels = 4;
  hotq_queue_id q = make_queue(e, "jobs", &qo);
  const uint64_t t0 = manual_now(&clk);
  hotq_enqueue_request r = text_request("later");
  r.priority = 2;
  r.delay_ms = 1000;
  hotq_job_id delayed = 0;
  CHECK_CODE(hotq_enqueue(e, q, &r, &delayed), HOTQ_OK);
  r = text_request("soon");
  r.priority = 2;
  r.attempts_max = 5;
  hotq_job_id gone = 0;
  hotq_job_id urgent = 0;
  CHECK_CODE(hotq_enqueue(e, q, &r, &gone), HOTQ_OK);
  CHECK_CODE(hotq_enqueue(e, q, &r, &urgent), HOTQ_OK);

  hotq_job_info* info = NULL;
  CHECK_CODE(hotq_inspect(e, q, delayed, &info), HOTQ_OK);
  CHECK_U64(info->id, delayed);
  CHECK_U64(info->state, HOTQ_JOB_DELAYED);
  CHECK(strcmp(hotq_job_state_name(info->state), "delayed") == 0);
  CHECK_U64(info->state_ns, t0 + 1000ull * 1000000u); /* when it becomes ready */
  CHECK_U64(info->enqueued_ns, t0);
  CHECK_U64(info->priority, 2);
  CHECK_U64(info->attempts, 0);
  CHECK_U64(info->dead_reason, 0);
  CHECK(strcmp(info->error, "") == 0 && info->error_bytes == 0);
  CHECK(info->payload_bytes == 5 && memcmp(info->payload, "later", 5) == 0);
  hotq_job_info_release(info);
  CHECK_CODE(hotq_inspect(e, q, gone, &info), HOTQ_OK);
  CHECK_U64(info->state, HOTQ_JOB_READY);
  CHECK_U64(info->attempts_max, 5);
  hotq_job_info_release(info);

  /* Cancel: never delivered; a second cancel finds nothing. */
  CHECK_CODE(hotq_cancel(e, q, gone), HOTQ_OK);
  CHECK_CODE(hotq_cancel(e, q, gone), HOTQ_NO_SUCH_JOB);
  CHECK_CODE(hotq_inspect(e, q, gone, &info), HOTQ_NO_SUCH_JOB);
  CHECK(info == NULL);
  /* Move the delayed job to now and the other ahead of it. */
  CHECK_CODE(hotq_set_delay(e, q, delayed, 0), HOTQ_OK);
  CHECK_CODE(hotq_set_priority(e, q, urgent, 0), HOTQ_OK);
  CHECK_CODE(hotq_set_priority(e, q, urgent, 4), HOTQ_INVALID_ARGUMENT); /* the queue has 4 */
  CHECK_CODE(hotq_set_priority(e, q, urgent, 256), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_inspect(e, q, urgent, &info), HOTQ_OK);
  CHECK_U64(info->priority, 0);
  hotq_job_info_release(info);
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 30000, &job), HOTQ_OK);
  CHECK_U64(job.id, urgent);
  hotq_lease urgent_lease = hotq_job_lease(&job);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, delayed); /* ready now, though its delay had 1 s to run */
  hotq_lease delayed_lease = hotq_job_lease(&job);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_EMPTY);

  /* Leased: inspect sees it; the waiting-job operations do not touch it. */
  CHECK_CODE(hotq_inspect(e, q, urgent, &info), HOTQ_OK);
  CHECK_U64(info->state, HOTQ_JOB_LEASED);
  CHECK_U64(info->state_ns, t0 + 30000ull * 1000000u); /* the lease deadline */
  CHECK_U64(info->attempts, 1);
  hotq_job_info_release(info);
  CHECK_CODE(hotq_cancel(e, q, urgent), HOTQ_NO_SUCH_JOB);
  CHECK_CODE(hotq_set_priority(e, q, urgent, 1), HOTQ_NO_SUCH_JOB);
  CHECK_CODE(hotq_set_delay(e, q, urgent, 5), HOTQ_NO_SUCH_JOB);

  /* Dead: its reason and error. */
  CHECK_CODE(hotq_fail(e, q, urgent_lease, "boom", 4), HOTQ_OK);
  CHECK_CODE(hotq_inspect(e, q, urgent, &info), HOTQ_OK);
  CHECK_U64(info->state, HOTQ_JOB_DEAD);
  CHECK_U64(info->dead_reason, HOTQ_DEAD_FAILED);
  CHECK(strcmp(info->error, "boom") == 0 && info->error_bytes == 4);
  hotq_job_info_release(info);
  CHECK_CODE(hotq_fail(e, q, delayed_lease, "bang", 4), HOTQ_OK);
  hotq_job_info_release(NULL);
  CHECK(strcmp(hotq_job_state_name(0), "unknown_state") == 0);
  CHECK(strcmp(hotq_job_state_name(HOTQ_JOB_DEAD), "dead") == 0);

  /* Dead letters deleted by id (unknown ids skipped), then all. */
  hotq_job_id pick[2] = {urgent, 123456};
  uint64_t n = 99;
  CHECK_CODE(hotq_dead_delete(e, q, pick, 2, &n), HOTQ_OK);
  CHECK_U64(n, 1);
  CHECK_CODE(hotq_inspect(e, q, urgent, &info), HOTQ_NO_SUCH_JOB);
  CHECK_CODE(hotq_dead_purge(e, q, &n), HOTQ_OK);
  CHECK_U64(n, 1);
  CHECK_CODE(hotq_dead_purge(e, q, NULL), HOTQ_OK);
  hotq_dead_letters* list = NULL;
  CHECK_CODE(hotq_dead_list(e, q, 0, 10, &list), HOTQ_OK);
  CHECK_U64(list->count, 0);
  hotq_dead_letters_release(list);

  /* Purge: ready and delayed jobs go, a leased one stays. */
  put(e, q, "p1");
  put(e, q, "p2");
  hotq_job_id held = put(e, q, "p3");
  r = text_request("p4");
  r.delay_ms = 50;
  CHECK_CODE(hotq_enqueue(e, q, &r, NULL), HOTQ_OK);
  CHECK_CODE(hotq_reserve(e, q, 0, &job), HOTQ_OK);
  held = job.id;
  hotq_job_release(&job);
  CHECK_CODE(hotq_queue_purge(e, q, &n), HOTQ_OK);
  CHECK_U64(n, 3);
  CHECK_CODE(hotq_queue_purge(e, q, NULL), HOTQ_OK);
  hotq_queue_stats st;
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, q, &st), HOTQ_OK);
  CHECK_U64(st.ready + st.delayed, 0);
  CHECK_U64(st.leased, 1);
  CHECK_U64(st.purged, 3);
  CHECK_U64(st.cancelled, 1);
  CHECK_CODE(hotq_inspect(e, q, held, &info), HOTQ_OK);
  CHECK_U64(info->state, HOTQ_JOB_LEASED);
  hotq_job_info_release(info);

  /* Unknown queue, bad arguments. */
  CHECK_CODE(hotq_queue_purge(e, 999, &n), HOTQ_NO_SUCH_QUEUE);
  CHECK_U64(n, 0);
  CHECK_CODE(hotq_cancel(e, 999, held), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_inspect(e, 999, held, &info), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_set_priority(e, 999, held, 0), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_set_delay(e, 999, held, 0), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_dead_delete(e, 999, pick, 2, &n), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_dead_purge(e, 999, &n), HOTQ_NO_SUCH_QUEUE);
  CHECK_CODE(hotq_inspect(e, q, held, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_dead_delete(e, q, NULL, 1, &n), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_dead_delete(e, q, pick, HOTQ_BATCH_JOBS_MAX + 1, &n), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_cancel(NULL, q, held), HOTQ_INVALID_ARGUMENT);
  hotq_engine_free(e);
}

/* The calls added for topics and waiting jobs, on a durable engine: their
 * effects survive a reopen, and the async nack/fail callbacks come once. */
static void test_durable_ops(void) {
  manual_clock clk;
  init_clock(&clk);
  char dir[512];
  make_temp_dir(dir, sizeof dir);
  hotq_engine_options o = durable_options(&clk, dir);
  hotq_engine* e = NULL;
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  hotq_queue_options qo;
  hotq_queue_options_init(&qo);
  qo.attempts_max = 3;
  hotq_queue_id a = make_queue(e, "a", &qo);
  hotq_queue_id b = make_queue(e, "b", &qo);
  CHECK_CODE(hotq_topic_bind(e, "t", a), HOTQ_OK);
  CHECK_CODE(hotq_topic_bind(e, "t", b), HOTQ_OK);
  hotq_enqueue_request r = text_request("fan");
  r.priority = 2;
  hotq_job_id fan[2];
  size_t n = 0;
  CHECK_CODE(hotq_publish(e, "t", &r, fan, 2, &n), HOTQ_OK);
  CHECK_U64(n, 2);
  hotq_job_id cancelled = put(e, a, "cancelled");
  CHECK_CODE(hotq_cancel(e, a, cancelled), HOTQ_OK);
  CHECK_CODE(hotq_set_priority(e, a, fan[0], 1), HOTQ_OK);
  hotq_job_id later = put(e, b, "later");
  CHECK_CODE(hotq_set_delay(e, b, later, 5000), HOTQ_OK);
  put(e, b, "purged");

  /* a: reserve "fan" (priority 1 now) and nack it; b: reserve "fan", fail it. */
  async_probe probe;
  atomic_init(&probe.calls, 0);
  atomic_init(&probe.last, -1);
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, a, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, fan[0]);
  CHECK_CODE(hotq_nack_async(e, a, hotq_job_lease(&job), 0, "retry", 5, on_durable, &probe),
             HOTQ_OK);
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, b, 0, &job), HOTQ_OK);
  CHECK(payload_is(&job, "purged")); /* priority 0 before "fan" at 2 */
  hotq_job_release(&job);
  CHECK_CODE(hotq_reserve(e, b, 0, &job), HOTQ_OK);
  CHECK_U64(job.id, fan[1]);
  CHECK_CODE(hotq_fail_async(e, b, hotq_job_lease(&job), "bad", 3, on_durable, &probe), HOTQ_OK);
  hotq_job_release(&job);
  put(e, b, "gone1");
  put(e, b, "gone2");
  uint64_t purged = 0;
  CHECK_CODE(hotq_queue_purge(e, b, &purged), HOTQ_OK);
  CHECK_U64(purged, 3); /* gone1, gone2 and the delayed "later" */
  hotq_engine_free(e);
  CHECK(atomic_load(&probe.calls) == 2);
  CHECK_CODE((hotq_code)atomic_load(&probe.last), HOTQ_OK);

  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  CHECK_CODE(hotq_queue_find(e, "a", &a), HOTQ_OK);
  CHECK_CODE(hotq_queue_find(e, "b", &b), HOTQ_OK);
  hotq_queue_id bound[HOTQ_TOPIC_QUEUES_MAX];
  CHECK_CODE(hotq_topic_bindings(e, "t", bound, HOTQ_TOPIC_QUEUES_MAX, &n), HOTQ_OK);
  CHECK_U64(n, 2);
  CHECK_U64(bound[0], a);
  CHECK_U64(bound[1], b);
  hotq_job_info* info = NULL;
  CHECK_CODE(hotq_inspect(e, a, cancelled, &info), HOTQ_NO_SUCH_JOB);
  CHECK_CODE(hotq_inspect(e, a, fan[0], &info), HOTQ_OK);
  CHECK_U64(info->state, HOTQ_JOB_READY);
  CHECK_U64(info->priority, 1);
  CHECK_U64(info->attempts, 1);
  hotq_job_info_release(info);
  CHECK_CODE(hotq_inspect(e, b, fan[1], &info), HOTQ_OK);
  CHECK_U64(info->state, HOTQ_JOB_DEAD);
  CHECK_U64(info->dead_reason, HOTQ_DEAD_FAILED);
  CHECK(strcmp(info->error, "bad") == 0);
  CHECK(info->payload_bytes == 3 && memcmp(info->payload, "fan", 3) == 0);
  hotq_job_info_release(info);
  CHECK_CODE(hotq_inspect(e, b, later, &info), HOTQ_NO_SUCH_JOB); /* purged */
  hotq_queue_stats st;
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, b, &st), HOTQ_OK);
  CHECK_U64(st.ready + st.delayed, 0);
  CHECK_U64(st.dead, 1);
  uint64_t deleted = 0;
  CHECK_CODE(hotq_dead_purge(e, b, &deleted), HOTQ_OK);
  CHECK_U64(deleted, 1);
  hotq_engine_free(e);
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  CHECK_CODE(hotq_queue_find(e, "b", &b), HOTQ_OK);
  CHECK_CODE(hotq_queue_stats_get(e, b, &st), HOTQ_OK);
  CHECK_U64(st.dead, 0); /* the dead purge was durable */
  hotq_engine_free(e);
  rm_rf(dir);
}

static void test_every_code_seen(void) {
  const hotq_code expected[] = {
      HOTQ_OK,           HOTQ_FULL,           HOTQ_EMPTY,          HOTQ_TIMED_OUT,
      HOTQ_TOO_LARGE,    HOTQ_NO_SUCH_QUEUE,  HOTQ_CLOSED,         HOTQ_STALE_LEASE,
      HOTQ_DUPLICATE,    HOTQ_PAUSED,         HOTQ_RATE_LIMITED,   HOTQ_LEASED_FULL,
      HOTQ_DEDUP_FULL,   HOTQ_INVALID_ARGUMENT, HOTQ_ALREADY_EXISTS, HOTQ_LIMIT_EXCEEDED,
      HOTQ_NOT_SUPPORTED, HOTQ_IO_ERROR,      HOTQ_CORRUPTION,     HOTQ_LOCKED,
      HOTQ_NO_SPACE,     HOTQ_WAL_FAILED,     HOTQ_INTERNAL,       HOTQ_NO_MEMORY,
  };
  int missing = 0;
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; ++i) {
    if (!g_seen[(int)expected[i]]) {
      fprintf(stderr, "code never produced: %s\n", hotq_code_name(expected[i]));
      missing = 1;
    }
  }
  CHECK(!missing);
}

/* ---------------------------------------------------------------- faults */

/* The codes no call through hotq.h alone can provoke, produced for real:
 * the engine runs on an in-memory disk that fails on demand (fault_shim). */
static void test_faults(void) {
  /* A full disk: enqueues are refused at admission with HOTQ_NO_SPACE
   * (nothing changed), and what was taken in before can still be drained. */
  fault_disk* disk = fault_disk_new();
  hotq_engine* e = NULL;
  CHECK_CODE(fault_disk_open(disk, &e), HOTQ_OK);
  hotq_queue_id q = make_queue(e, "full", NULL);
  put(e, q, "before");
  fault_disk_fill(disk);
  char payload[200];
  memset(payload, 'x', sizeof payload);
  hotq_enqueue_request r = {0};
  r.payload = payload;
  r.payload_bytes = sizeof payload;
  hotq_code c = HOTQ_OK;
  unsigned long long taken = 0;
  for (int i = 0; i < 20000 && c == HOTQ_OK; ++i) {
    c = hotq_enqueue(e, q, &r, NULL);
    if (c == HOTQ_OK) ++taken;
  }
  CHECK_CODE(c, HOTQ_NO_SPACE);
  CHECK_CODE(hotq_enqueue(e, q, &r, NULL), HOTQ_NO_SPACE); /* still refused */
  CHECK(fault_disk_fired(disk) > 0);
  hotq_queue_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, q, &st), HOTQ_OK);
  CHECK_U64(st.ready, taken + 1); /* the refused ones left no trace */
  hotq_job job;
  CHECK_CODE(hotq_reserve(e, q, 60000, &job), HOTQ_OK); /* a full disk still drains */
  CHECK(payload_is(&job, "before"));
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_OK);
  hotq_job_release(&job);
  hotq_engine_free(e);
  fault_disk_free(disk);

  /* A failed fdatasync: the write is not reported done, and every later
   * write is refused with HOTQ_WAL_FAILED (the failure is never retried). */
  disk = fault_disk_new();
  CHECK_CODE(fault_disk_open(disk, &e), HOTQ_OK);
  q = make_queue(e, "broken", NULL);
  put(e, q, "kept");
  fault_disk_fail_next_fsync(disk);
  hotq_enqueue_request lost = text_request("lost");
  CHECK_CODE(hotq_enqueue(e, q, &lost, NULL), HOTQ_WAL_FAILED);
  hotq_enqueue_request later = text_request("later");
  CHECK_CODE(hotq_enqueue(e, q, &later, NULL), HOTQ_WAL_FAILED);
  CHECK_U64(fault_disk_fired(disk), 1);
  CHECK_CODE(hotq_reserve(e, q, 60000, &job), HOTQ_OK); /* reads still work */
  CHECK_CODE(hotq_ack(e, q, hotq_job_lease(&job)), HOTQ_WAL_FAILED);
  hotq_job_release(&job);
  {
    /* The log says it failed, and why. */
    hotq_wal_stats ws;
    ws.struct_size = sizeof ws;
    CHECK_CODE(hotq_wal_stats_get(e, &ws), HOTQ_OK);
    CHECK_U64(ws.flags, HOTQ_WAL_FLAG_DURABLE | HOTQ_WAL_FLAG_FAILED);
    CHECK(ws.durable_lsn < ws.last_lsn);
    char* failure = NULL;
    CHECK_CODE(hotq_wal_texts(e, &failure, NULL), HOTQ_OK);
    CHECK_STR_HAS(failure, "fdatasync");
    hotq_text_release(failure);
  }
  hotq_engine_free(e);
  fault_disk_free(disk);

  /* The guard around every C function: no exception crosses the API. */
  CHECK_CODE(fault_guard_throw(0), HOTQ_NO_MEMORY);
  CHECK_CODE(fault_guard_throw(1), HOTQ_INTERNAL);
  CHECK_CODE(fault_guard_throw(2), HOTQ_INTERNAL);
  CHECK_CODE(fault_guard_throw(3), HOTQ_OK);
}

/* Tickets: the writes without a callback; the caller asks when it suits it. */
static void test_tickets(void) {
  manual_clock clk;
  init_clock(&clk);
  hotq_ticket t = {77};

  /* In memory: nothing to wait for. */
  hotq_engine* e = open_memory(&clk);
  hotq_queue_id q = make_queue(e, "mem", NULL);
  hotq_enqueue_request r = text_request("m");
  hotq_job_id id = 0;
  CHECK_CODE(hotq_enqueue_ticket(e, q, &r, &id, &t), HOTQ_OK);
  CHECK(id != 0);
  CHECK_U64(t.lsn, 0);
  CHECK(hotq_is_durable(e, t) == 1);
  CHECK_CODE(hotq_wait_durable(e, t), HOTQ_OK);
  CHECK_CODE(hotq_enqueue_ticket(e, q, &r, &id, NULL), HOTQ_INVALID_ARGUMENT);
  CHECK(hotq_is_durable(NULL, t) == 0);
  CHECK_CODE(hotq_wait_durable(NULL, t), HOTQ_INVALID_ARGUMENT);
  hotq_engine_free(e);

  /* Durable: every write form hands out a ticket that the log reaches. */
  char dir[512];
  make_temp_dir(dir, sizeof dir);
  hotq_engine_options o = durable_options(&clk, dir);
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  q = make_queue(e, "tickets", NULL);
  hotq_enqueue_request three[3] = {text_request("a"), text_request("b"), text_request("c")};
  hotq_job_id ids[3];
  size_t done = 0;
  CHECK_CODE(hotq_enqueue_batch_ticket(e, q, three, 3, ids, NULL, &done, &t), HOTQ_OK);
  CHECK_U64(done, 3);
  CHECK(t.lsn != 0);
  CHECK_CODE(hotq_wait_durable(e, t), HOTQ_OK);
  CHECK(hotq_is_durable(e, t) == 1);

  /* A later ticket covers the earlier ones. */
  hotq_ticket first = {0}, second = {0};
  hotq_enqueue_request d = text_request("d");
  CHECK_CODE(hotq_enqueue_ticket(e, q, &d, &id, &first), HOTQ_OK);
  hotq_enqueue_request dup = text_request("d2");
  CHECK_CODE(hotq_enqueue_ticket(e, q, &dup, NULL, &second), HOTQ_OK);
  CHECK(second.lsn > first.lsn && first.lsn > t.lsn);
  CHECK_CODE(hotq_wait_durable(e, second), HOTQ_OK);
  CHECK(hotq_is_durable(e, first) == 1);

  hotq_lease leases[5];
  reserve_leases(e, q, 60000, leases, 5);
  hotq_ticket acks = {0};
  hotq_code results[2];
  size_t acked = 0;
  CHECK_CODE(hotq_ack_batch_ticket(e, q, leases, 2, results, &acked, &acks), HOTQ_OK);
  CHECK_U64(acked, 2);
  CHECK(acks.lsn > second.lsn);
  hotq_ticket one = {0}, nacked = {0}, failed = {0};
  CHECK_CODE(hotq_ack_ticket(e, q, leases[2], &one), HOTQ_OK);
  CHECK_CODE(hotq_nack_ticket(e, q, leases[3], 5000, "later", 5, &nacked), HOTQ_OK);
  CHECK_CODE(hotq_fail_ticket(e, q, leases[4], "bad", 3, &failed), HOTQ_OK);
  CHECK(one.lsn > acks.lsn && nacked.lsn > one.lsn && failed.lsn > nacked.lsn);
  CHECK_CODE(hotq_wait_durable(e, failed), HOTQ_OK);
  /* Refused calls hand out no ticket. */
  hotq_ticket stale = {77};
  CHECK_CODE(hotq_ack_ticket(e, q, leases[0], &stale), HOTQ_STALE_LEASE);
  CHECK_U64(stale.lsn, 0);
  stale.lsn = 77;
  CHECK_CODE(hotq_ack_batch_ticket(e, q, leases, 2, results, &acked, &stale), HOTQ_STALE_LEASE);
  CHECK_U64(acked, 0);
  CHECK_U64(stale.lsn, 0);
  stale.lsn = 77;
  CHECK_CODE(hotq_nack_ticket(e, q, leases[3], 0, NULL, 0, &stale), HOTQ_STALE_LEASE);
  CHECK_U64(stale.lsn, 0);
  stale.lsn = 77;
  CHECK_CODE(hotq_fail_ticket(e, q, leases[4], NULL, 0, &stale), HOTQ_STALE_LEASE);
  CHECK_U64(stale.lsn, 0);
  stale.lsn = 77;
  CHECK_CODE(hotq_enqueue_ticket(e, 999, &d, NULL, &stale), HOTQ_NO_SUCH_QUEUE);
  CHECK_U64(stale.lsn, 0);
  CHECK_CODE(hotq_ack_ticket(e, q, leases[0], NULL), HOTQ_INVALID_ARGUMENT);
  CHECK_CODE(hotq_enqueue_batch_ticket(e, q, three, 3, ids, NULL, &done, NULL),
             HOTQ_INVALID_ARGUMENT);
  CHECK_U64(done, 0);
  hotq_engine_free(e);

  /* What the tickets said was durable is there after a reopen: the nacked
   * job (delayed) alone, with its error; the failed one dead. */
  CHECK_CODE(hotq_engine_open(&o, &e, NULL, 0), HOTQ_OK);
  hotq_queue_stats st;
  memset(&st, 0, sizeof st);
  st.struct_size = sizeof st;
  CHECK_CODE(hotq_queue_stats_get(e, q, &st), HOTQ_OK);
  CHECK_U64(st.ready + st.leased, 0);
  CHECK_U64(st.delayed, 1);
  CHECK_U64(st.dead, 1);
  hotq_engine_free(e);
  rm_rf(dir);

  /* A failed fdatasync: the call was made in memory, its ticket never
   * becomes durable, and the wait says so. */
  fault_disk* disk = fault_disk_new();
  CHECK_CODE(fault_disk_open(disk, &e), HOTQ_OK);
  q = make_queue(e, "broken", NULL);
  fault_disk_fail_next_fsync(disk);
  hotq_enqueue_request lost = text_request("lost");
  CHECK_CODE(hotq_enqueue_ticket(e, q, &lost, NULL, &t), HOTQ_OK);
  CHECK(t.lsn != 0);
  CHECK_CODE(hotq_wait_durable(e, t), HOTQ_WAL_FAILED);
  CHECK(hotq_is_durable(e, t) == 0);
  CHECK_U64(fault_disk_fired(disk), 1);
  hotq_engine_free(e);
  fault_disk_free(disk);
}

/* ---------------------------------------------------------------- main */

typedef struct section {
  const char* name;
  void (*run)(void);
} section;

static const section k_sections[] = {
    {"names", test_names_and_version}, {"options", test_options},
    {"lifecycle", test_lifecycle},     {"queues", test_queues},
    {"hot_path", test_hot_path_outcomes}, {"leases", test_leases},
    {"batches", test_batches},         {"dead_letters", test_dead_letters},
    {"stats", test_stats},             {"async", test_async},
    {"close", test_close},             {"limits", test_limits},
    {"durable", test_durable},         {"open_errors", test_open_errors},
    {"faults", test_faults},           {"topics", test_topics},
    {"waiting_jobs", test_waiting_jobs}, {"durable_ops", test_durable_ops},
    {"tickets", test_tickets},
};

int main(int argc, char** argv) {
  const size_t n = sizeof k_sections / sizeof k_sections[0];
  if (argc > 1) {
    for (size_t i = 0; i < n; ++i) {
      if (strcmp(argv[1], k_sections[i].name) == 0) {
        k_sections[i].run();
        printf("capi_test %s: ok\n", argv[1]);
        return 0;
      }
    }
    fprintf(stderr, "capi_test: no section %s\n", argv[1]);
    return 2;
  }
  for (size_t i = 0; i < n; ++i) {
    k_sections[i].run();
    printf("capi_test %s: ok\n", k_sections[i].name);
  }
  test_every_code_seen();
  printf("capi_test: every reachable code produced\n");
  return 0;
}
