/* hotq/hotq.h — the C API of hotq, for brokers written in C, Go, Rust, Java,
 * Node… Start here if you do not embed hotq from C++ (hotq/engine.h is the
 * C++ API; this header is a thin, stable layer over it).
 *
 *   hotq_engine_options eo;
 *   hotq_engine_options_init(&eo);                 (in memory; set wal_dir to be durable)
 *   hotq_engine* e;
 *   if (hotq_engine_open(&eo, &e, NULL, 0) != HOTQ_OK) ...
 *   hotq_queue_id q;
 *   hotq_queue_create(e, "emails", NULL, &q);
 *   hotq_enqueue_request r = {0};
 *   r.payload = "hi"; r.payload_bytes = 2;
 *   hotq_enqueue(e, q, &r, NULL);                   (the bytes are copied)
 *   hotq_job job;
 *   if (hotq_reserve_wait(e, q, 1000, 0, &job) == HOTQ_OK) {
 *     use(job.payload, job.payload_bytes);
 *     hotq_ack(e, q, hotq_job_lease(&job));
 *     hotq_job_release(&job);                       (drops the payload reference)
 *   }
 *   hotq_engine_free(e);
 *
 * Pure C: compiles as C11 and as C++; includes only <stddef.h>, <stdint.h>
 * and <stdbool.h>. No C++ exception ever crosses it: the library catches
 * every one (std::bad_alloc becomes HOTQ_NO_MEMORY, any other HOTQ_INTERNAL).
 *
 * OUTCOMES. Every function that can fail returns a hotq_code. The codes are
 * those of the C++ hotq::Code (hotq/status.h), one to one with the same
 * values, plus HOTQ_NO_MEMORY, which only the C layer returns. A NULL
 * pointer where an object is required, a count above a named limit or an
 * out-of-range enum value is HOTQ_INVALID_ARGUMENT and changes nothing.
 * Each function's comment lists what it returns besides HOTQ_OK,
 * HOTQ_INVALID_ARGUMENT, HOTQ_NO_MEMORY and HOTQ_INTERNAL (possible
 * everywhere a code is returned). HOTQ_NO_MEMORY and HOTQ_INTERNAL from a
 * write call mean its effect is unknown (it may have been applied).
 *
 * ERROR MESSAGES. Operating errors (open failing with HOTQ_IO_ERROR,
 * HOTQ_CORRUPTION or HOTQ_LOCKED; a snapshot failing) carry a message naming
 * the file, offset or option. The functions that can produce one take an
 * optional out-buffer `char* err, size_t err_cap` (NULL/0: no message
 * wanted): on return it holds a NUL-terminated message, "" when there is
 * none, cut to err_cap - 1 bytes. An out-buffer, not a thread-local "last
 * error": Go runs goroutines on whichever OS thread is free, so per-thread
 * state read by a second call may belong to another goroutine. Hot-path
 * outcomes (HOTQ_FULL, HOTQ_EMPTY, HOTQ_STALE_LEASE, ...) need no message.
 *
 * OWNERSHIP. Everything the API hands out that owns memory has exactly one
 * release function:
 *   hotq_engine*         hotq_engine_free
 *   hotq_job (a struct you provide, filled by a reserve)   hotq_job_release
 *   hotq_dead_letters*   hotq_dead_letters_release
 *   hotq_job_info*       hotq_job_info_release
 *   hotq_queues*         hotq_queues_release
 *   char* (a metrics page, the WAL's texts) hotq_text_release
 * Release functions accept NULL (and a released job) and do nothing then.
 * Every pointer the caller passes in (payloads, keys, names, error texts,
 * arrays) is read during the call only: the engine copies what it keeps,
 * and the caller may free or reuse it as soon as the call returns.
 *
 * THREAD SAFETY. Every function taking a hotq_engine* may be called from any
 * thread at once on the same engine (as the C++ Engine), except
 * hotq_engine_free: call it once, when no other thread uses the engine
 * (hotq_engine_close first wakes blocked callers). A hotq_job or
 * hotq_dead_letters belongs to one thread at a time (hand it over with the
 * usual synchronisation); the payload bytes it points at are immutable and
 * may be read by many threads while it is held.
 *
 * TIME. All durations are milliseconds on the engine's clock (monotonic;
 * hotq_engine_options.now_ns replaces it, e.g. with a manual clock in
 * tests). Timestamps (_ns fields) are nanoseconds on that clock.
 *
 * The job state machine (the words used below):
 *
 *   enqueue(delay>0) ──► delayed ──(due)──┐
 *                                         ▼
 *   enqueue ──────────────────────────► ready ◄────────────────┐
 *                                         │ reserve             │ nack / lease expiry
 *                                         ▼                     │ (attempts left; a backoff
 *                                      leased ──────────────────┘  wait is spent delayed)
 *                                       │  │
 *                           ack ◄───────┘  └──► dead ── redrive ──► ready
 *                        (completed)  fail, or nack/expiry
 *                                     with attempts used up
 */
#ifndef HOTQ_HOTQ_H_
#define HOTQ_HOTQ_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The library is built with hidden visibility; these symbols are exported.
 * (hotq/export.h's HOTQ_API uses C++/C23 attribute syntax, so C has its own.) */
#if defined(__GNUC__) || defined(__clang__)
#define HOTQ_C_API __attribute__((visibility("default")))
#else
#define HOTQ_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- limits
 * The same named limits as hotq/options.h (checked equal when the library
 * is built). */
#define HOTQ_PRIORITY_LEVELS_MAX 8u      /* priorities 0 (most urgent) .. levels-1 */
#define HOTQ_QUEUE_NAME_BYTES_MAX 128u   /* names: 1..128 bytes of [A-Za-z0-9._:-] */
#define HOTQ_QUEUES_MAX 4096u            /* queues in one engine at once */
#define HOTQ_BATCH_JOBS_MAX 1024u        /* items in one batch call */
#define HOTQ_DEDUP_KEY_BYTES_MAX 256u
#define HOTQ_ERROR_TEXT_BYTES_MAX 1024u  /* nack/fail error text kept; longer is cut */
#define HOTQ_TOPICS_MAX 1024u            /* topics in one engine */
#define HOTQ_TOPIC_QUEUES_MAX 64u        /* queues bound to one topic */
/* hotq_nack's delay_ms: "use the queue's backoff" (no delay of its own). */
#define HOTQ_DELAY_BACKOFF UINT64_MAX

/* ---------------------------------------------------------------- outcomes */
typedef enum hotq_code {
  HOTQ_OK = 0,

  /* Expected outcomes of the hot path. */
  HOTQ_FULL = 1,            /* back-pressure: the queue holds capacity_jobs_max jobs */
  HOTQ_EMPTY = 2,           /* nothing ready to reserve */
  HOTQ_TIMED_OUT = 3,       /* a blocking call's timeout passed */
  HOTQ_TOO_LARGE = 4,       /* payload longer than the queue's payload_bytes_max */
  HOTQ_NO_SUCH_QUEUE = 5,   /* no queue by that name or id */
  HOTQ_CLOSED = 6,          /* the engine is closed */
  HOTQ_STALE_LEASE = 7,     /* the lease expired, was redelivered, or was settled */
  HOTQ_DUPLICATE = 8,       /* dedup key seen inside the window */
  HOTQ_PAUSED = 9,          /* the queue is paused: reserve hands out nothing */
  HOTQ_RATE_LIMITED = 10,   /* the queue's reserve rate limit has no token now */
  HOTQ_NO_SUCH_JOB = 11,    /* no live job by that id (no C function returns it yet) */
  HOTQ_LEASED_FULL = 12,    /* the queue's leased_max jobs are leased already */
  HOTQ_DEDUP_FULL = 13,     /* the queue remembers dedup_keys_max keys already */

  /* Caller errors: the request was refused, nothing changed. */
  HOTQ_INVALID_ARGUMENT = 32, /* also: NULL pointer, count above a limit, bad enum value */
  HOTQ_ALREADY_EXISTS = 33,
  HOTQ_LIMIT_EXCEEDED = 34,   /* a named engine limit (HOTQ_QUEUES_MAX, ...) is reached */
  HOTQ_NOT_SUPPORTED = 35,    /* not available with this engine's options */

  /* Operating errors (a message where the function has an err buffer). */
  HOTQ_IO_ERROR = 64,
  HOTQ_NO_SPACE = 65,       /* the disk is full: refused at admission, nothing changed */
  HOTQ_CORRUPTION = 66,
  HOTQ_LOCKED = 67,         /* the wal_dir is open in another engine */
  HOTQ_WAL_FAILED = 68,     /* an earlier write or fdatasync failed: nothing is durable now */
  HOTQ_INTERNAL = 69,       /* a bug, or an unexpected C++ exception caught by the C layer */

  /* The C layer's own. */
  HOTQ_NO_MEMORY = 128      /* allocation failed (std::bad_alloc caught) */
} hotq_code;

/* The enumerator's name without prefix, lower case ("stale_lease"): a static
 * string, never NULL ("unknown_code" for a value not listed above). Takes an
 * int so that any value a binding passes is defined behaviour. */
HOTQ_C_API const char* hotq_code_name(int code);

/* "MAJOR.MINOR.PATCH" of the library linked: a static string. */
HOTQ_C_API const char* hotq_version(void);

/* ---------------------------------------------------------------- engines */
typedef struct hotq_engine hotq_engine; /* opaque */
typedef uint32_t hotq_queue_id;         /* from hotq_queue_create/find; never reused */
typedef uint64_t hotq_job_id;           /* never 0, never reused */

typedef enum hotq_durability {
  /* Each write call returns once its record is fdatasync'ed (group commit). */
  HOTQ_DURABILITY_SYNC = 0,
  /* Write calls return at once; the log is synced every wal_interval_ms. */
  HOTQ_DURABILITY_INTERVAL = 1
} hotq_durability;

typedef enum hotq_wal_backend {
  HOTQ_WAL_BACKEND_AUTOMATIC = 0, /* io_uring when the kernel allows it, else pwritev */
  HOTQ_WAL_BACKEND_IO_URING = 1,
  HOTQ_WAL_BACKEND_PWRITEV = 2
} hotq_wal_backend;

/* Options of hotq_engine_open. Always fill with hotq_engine_options_init
 * first, then change fields: init sets struct_size, which lets a later
 * library (with more fields) read a struct from this header. Field meanings
 * and ranges are those of hotq::EngineOptions (hotq/options.h). */
typedef struct hotq_engine_options {
  uint32_t struct_size;      /* sizeof(hotq_engine_options), set by init */
  uint32_t shards;           /* 0: one per hardware thread; 1..64 */
  uint64_t timer_tick_ns;    /* timers fire at most this late; 1 us..1 s */
  uint64_t seed;             /* of the backoff-jitter generator */
  /* The write-ahead log's directory: NULL or "" for an in-memory engine.
   * Copied by open. Created 0700 if missing; locked while open. */
  const char* wal_dir;
  uint32_t durability;       /* a hotq_durability */
  uint32_t wal_backend;      /* a hotq_wal_backend */
  uint64_t wal_interval_ms;  /* interval mode: 1..10000 */
  uint64_t wal_segment_bytes;        /* 64 KiB..1 GiB, a multiple of 4 KiB */
  uint64_t wal_snapshot_log_bytes;   /* snapshot after this much log (0: never by size) */
  uint64_t wal_snapshot_interval_ms; /* or after this long (0: never by time) */
  /* The engine clock: monotonic nanoseconds (NULL: CLOCK_MONOTONIC). Tests
   * pass a manual clock and move time themselves instead of sleeping.
   * Called from any engine thread, at once, also from the engine's
   * background threads; must never decrease, must not call hotq, and
   * clock_user must stay valid until hotq_engine_free returns. Blocking
   * calls (reserve_wait, ...) measure their timeout on it but sleep in real
   * time between looks, so with a manual clock only a timeout of 0 (or a
   * clock moved by another thread) ends a wait that finds nothing. */
  uint64_t (*now_ns)(void* clock_user);
  /* Durable engines store wall-clock times (nanoseconds since 1970); NULL:
   * CLOCK_REALTIME. Same rules as now_ns. */
  uint64_t (*wall_now_ns)(void* clock_user);
  void* clock_user;
} hotq_engine_options;

/* Fills o with the defaults (in memory, sync durability, a shard per
 * hardware thread, the system clocks) and sets o->struct_size. */
HOTQ_C_API void hotq_engine_options_init(hotq_engine_options* o);

/* Opens an engine: in memory, or durable when o->wal_dir is set (recovering
 * what the directory holds). o NULL: the defaults. On HOTQ_OK *engine is the
 * new engine (release with hotq_engine_free); otherwise *engine is NULL.
 * Returns HOTQ_INVALID_ARGUMENT naming the option, HOTQ_NOT_SUPPORTED when
 * o->struct_size is from a newer hotq.h than this library, HOTQ_LOCKED
 * (another engine has wal_dir), HOTQ_CORRUPTION (naming file and offset of
 * damage that is not a torn tail), HOTQ_IO_ERROR; each with a message in
 * err (optional, see ERROR MESSAGES). */
HOTQ_C_API hotq_code hotq_engine_open(const hotq_engine_options* o, hotq_engine** engine,
                                      char* err, size_t err_cap);

/* Wakes every blocked call and refuses every later one with HOTQ_CLOSED;
 * a durable engine's pending log is written and synced; async callbacks
 * still waiting are called (see hotq_durable_fn). The engine stays valid
 * (calls return HOTQ_CLOSED) until hotq_engine_free. Idempotent; NULL: no-op. */
HOTQ_C_API void hotq_engine_close(hotq_engine* engine);

/* Closes (if not yet closed) and frees the engine and everything it owns.
 * Jobs and dead-letter lists taken from it stay valid and must still be
 * released. Not to be called while another thread uses the engine, nor
 * from an async callback. NULL: no-op. */
HOTQ_C_API void hotq_engine_free(hotq_engine* engine);

/* What open found and did (WAL back-end, records replayed, a torn tail
 * cut), one line each; "" for an in-memory engine. Valid until
 * hotq_engine_free. NULL engine: "". */
HOTQ_C_API const char* hotq_engine_open_report(const hotq_engine* engine);

/* Durable engines: writes a snapshot now and frees the log it covers.
 * HOTQ_NOT_SUPPORTED in memory; HOTQ_IO_ERROR, HOTQ_CORRUPTION, HOTQ_CLOSED;
 * a message in err. */
HOTQ_C_API hotq_code hotq_engine_snapshot(hotq_engine* engine, char* err, size_t err_cap);

/* Fires every due timer (delays, lease expiries, backoff). Call it from your
 * own tick if you reserve rarely but want expiries noticed promptly (reserve
 * and the stats calls fire due timers too). *fired (optional): how many. */
HOTQ_C_API hotq_code hotq_run_timers(hotq_engine* engine, uint64_t* fired);

/* ---------------------------------------------------------------- queues */
typedef enum hotq_backoff_kind {
  HOTQ_BACKOFF_FIXED = 0,       /* base_ms */
  HOTQ_BACKOFF_EXPONENTIAL = 1  /* min(cap_ms, base_ms * 2^(n-1)) for the n-th failed attempt */
} hotq_backoff_kind;

typedef enum hotq_ordering {
  HOTQ_ORDERING_SHARDED = 0, /* fastest: FIFO per shard */
  HOTQ_ORDERING_FIFO = 1     /* one total FIFO order per priority level */
} hotq_ordering;

/* Options of hotq_queue_create: fill with hotq_queue_options_init first.
 * Meanings and ranges: hotq::QueueOptions (hotq/options.h). */
typedef struct hotq_queue_options {
  uint32_t struct_size;              /* sizeof(hotq_queue_options), set by init */
  uint32_t priority_levels;          /* 1..HOTQ_PRIORITY_LEVELS_MAX */
  uint64_t capacity_jobs_max;        /* jobs in any state; HOTQ_FULL beyond */
  uint64_t lease_ms_default;         /* lease when reserve names none */
  uint32_t attempts_max;             /* deliveries before dead-lettering */
  uint32_t payload_bytes_max;        /* HOTQ_TOO_LARGE beyond */
  uint32_t backoff_kind;             /* a hotq_backoff_kind */
  uint32_t backoff_jitter_percent;   /* 0..100 */
  uint64_t backoff_base_ms;
  uint64_t backoff_cap_ms;
  uint32_t ordering;                 /* a hotq_ordering */
  bool expiry_counts_as_attempt;     /* a lease expiry uses up an attempt */
  bool durable_delivery;             /* durable engines: reserve waits for its lease record */
  uint64_t leased_max;               /* jobs leased at once; 0: no cap (HOTQ_LEASED_FULL) */
  uint64_t rate_tokens_per_interval; /* reserve rate limit; 0: none (HOTQ_RATE_LIMITED) */
  uint64_t rate_interval_ms;
  uint64_t rate_burst_tokens;        /* 0: rate_tokens_per_interval */
  uint64_t dedup_window_ms;          /* how long a dedup key is remembered */
  uint64_t dedup_keys_max;           /* keys at once (HOTQ_DEDUP_FULL); 0: dedup off */
} hotq_queue_options;

/* Fills o with the defaults of hotq::QueueOptions and sets o->struct_size. */
HOTQ_C_API void hotq_queue_options_init(hotq_queue_options* o);

/* Creates a queue; name is NUL-terminated. o NULL: the defaults. *id (may be
 * NULL) receives its id. HOTQ_ALREADY_EXISTS, HOTQ_INVALID_ARGUMENT (bad name
 * or option), HOTQ_LIMIT_EXCEEDED (HOTQ_QUEUES_MAX), HOTQ_NOT_SUPPORTED
 * (struct_size from a newer header), HOTQ_CLOSED, HOTQ_NO_SPACE, HOTQ_WAL_FAILED. */
HOTQ_C_API hotq_code hotq_queue_create(hotq_engine* engine, const char* name,
                                       const hotq_queue_options* o, hotq_queue_id* id);
/* HOTQ_NO_SUCH_QUEUE when no queue has that name. */
HOTQ_C_API hotq_code hotq_queue_find(hotq_engine* engine, const char* name, hotq_queue_id* id);

/* One queue of a hotq_queues list. */
typedef struct hotq_queue_entry {
  hotq_queue_id id;
  const char* name;            /* NUL-terminated */
  size_t name_bytes;
  hotq_queue_options options;  /* as created (struct_size: the library's) */
} hotq_queue_entry;

/* Every queue of the engine, owned by the caller: the pointers stay valid
 * until hotq_queues_release. */
typedef struct hotq_queues {
  size_t count;
  const hotq_queue_entry* items; /* count entries, sorted by name */
  void* internal_;               /* private */
} hotq_queues;

/* The engine's queues now (after a reopen: the recovered ones). On HOTQ_OK
 * *list is new (possibly with count 0): release it with hotq_queues_release.
 * Otherwise *list is NULL. */
HOTQ_C_API hotq_code hotq_queue_list(hotq_engine* engine, hotq_queues** list);
/* NULL: no-op. */
HOTQ_C_API void hotq_queues_release(hotq_queues* list);

/* Deletes the queue and every job in it; blocked callers on it get
 * HOTQ_NO_SUCH_QUEUE. Jobs already reserved from it stay valid to read and
 * release; settling them returns HOTQ_NO_SUCH_QUEUE. */
HOTQ_C_API hotq_code hotq_queue_drop(hotq_engine* engine, hotq_queue_id queue);
/* Pause: reserves hand out nothing (HOTQ_PAUSED; blocking reserves wait)
 * until resume. Enqueue, settling and timers go on. Idempotent. */
HOTQ_C_API hotq_code hotq_queue_pause(hotq_engine* engine, hotq_queue_id queue);
HOTQ_C_API hotq_code hotq_queue_resume(hotq_engine* engine, hotq_queue_id queue);
/* Deletes every ready and delayed job of the queue (leased and dead jobs
 * stay); *purged (optional) receives how many. Costs a scan of the queue's
 * jobs. HOTQ_NO_SUCH_QUEUE, HOTQ_CLOSED, HOTQ_NO_SPACE, HOTQ_WAL_FAILED. */
HOTQ_C_API hotq_code hotq_queue_purge(hotq_engine* engine, hotq_queue_id queue,
                                      uint64_t* purged);

/* ---------------------------------------------------------------- enqueue */
/* One job to enqueue. Zero-initialise it ({0}) and set what you need: every
 * zero field means "the default". The bytes pointed at are copied before
 * the call returns. */
typedef struct hotq_enqueue_request {
  const void* payload;     /* may be NULL when payload_bytes is 0 */
  size_t payload_bytes;
  const void* dedup_key;   /* idempotent enqueue: 1..HOTQ_DEDUP_KEY_BYTES_MAX bytes; 0 bytes: none */
  size_t dedup_key_bytes;
  uint64_t delay_ms;       /* ready after this long (0: now) */
  uint64_t lease_ms;       /* this job's lease (0: reserve's, or the queue's default) */
  uint32_t attempts_max;   /* 0: the queue's */
  uint32_t priority;       /* 0 (most urgent) .. priority_levels-1 */
} hotq_enqueue_request;

/* Enqueues one job; *id (may be NULL) receives its id. HOTQ_DUPLICATE: the
 * dedup key was seen inside the window, nothing was enqueued, and *id is
 * the first job's id. HOTQ_FULL, HOTQ_TOO_LARGE, HOTQ_DEDUP_FULL,
 * HOTQ_INVALID_ARGUMENT (priority, delay, key out of range),
 * HOTQ_NO_SUCH_QUEUE, HOTQ_CLOSED, HOTQ_NO_SPACE, HOTQ_WAL_FAILED. In a
 * durable sync-mode engine it returns once the job is on disk. */
HOTQ_C_API hotq_code hotq_enqueue(hotq_engine* engine, hotq_queue_id queue,
                                  const hotq_enqueue_request* request, hotq_job_id* id);
/* Like hotq_enqueue, but waits up to timeout_ms for room: HOTQ_TIMED_OUT
 * instead of HOTQ_FULL. */
HOTQ_C_API hotq_code hotq_enqueue_wait(hotq_engine* engine, hotq_queue_id queue,
                                       const hotq_enqueue_request* request, uint64_t timeout_ms,
                                       hotq_job_id* id);
/* Enqueues requests[0..count) in order (count <= HOTQ_BATCH_JOBS_MAX).
 * ids[i] receives the id of requests[i] (the first job's id for a
 * duplicate); codes[i] (codes optional) HOTQ_OK or HOTQ_DUPLICATE. Every
 * request is validated first: one invalid request refuses the whole batch.
 * Otherwise a prefix is done: *done (required) says how many; the return is
 * HOTQ_OK when all were, else why it stopped (HOTQ_FULL, HOTQ_DEDUP_FULL, ...). */
HOTQ_C_API hotq_code hotq_enqueue_batch(hotq_engine* engine, hotq_queue_id queue,
                                        const hotq_enqueue_request* requests, size_t count,
                                        hotq_job_id* ids, hotq_code* codes, size_t* done);

/* ---------------------------------------------------------------- asynchronous writes
 * The _async forms return as soon as the change is made in memory (results
 * as the waiting forms), and later call done(user, code) once, with HOTQ_OK
 * when the change is on disk or HOTQ_WAL_FAILED when the log failed first
 * (until then the change is provisional: a crash may undo it). One thread
 * can so keep thousands of operations in one fdatasync.
 *
 * done is called exactly once if the call returns HOTQ_OK or HOTQ_DUPLICATE
 * (enqueue) / HOTQ_OK (ack), never otherwise; done may be NULL. Which thread
 * calls it:
 *   - the calling thread, before the function returns, when the outcome is
 *     known already: always for an in-memory engine (code HOTQ_OK);
 *   - otherwise the engine's completion thread, later, in log order;
 *     callbacks still waiting at hotq_engine_close/free are called there
 *     before close returns (HOTQ_OK if closing made them durable).
 * done must return promptly and must not block on durability: it may call
 * the engine (reserve, the _async forms, interval-mode writes) but not a
 * sync-mode durable write, hotq_engine_close or hotq_engine_free — that
 * would hold up (or deadlock) every later completion. user is passed
 * through untouched and must stay valid until done is called. */
typedef void (*hotq_durable_fn)(void* user, hotq_code code);

HOTQ_C_API hotq_code hotq_enqueue_async(hotq_engine* engine, hotq_queue_id queue,
                                        const hotq_enqueue_request* request, hotq_job_id* id,
                                        hotq_durable_fn done, void* user);
/* done is called once if *done_count > 0 (for the whole prefix). */
HOTQ_C_API hotq_code hotq_enqueue_batch_async(hotq_engine* engine, hotq_queue_id queue,
                                              const hotq_enqueue_request* requests, size_t count,
                                              hotq_job_id* ids, hotq_code* codes,
                                              size_t* done_count, hotq_durable_fn done,
                                              void* user);

/* ---------------------------------------------------------------- topics (fan-out)
 * A topic is a name (as for queues) bound to up to HOTQ_TOPIC_QUEUES_MAX
 * queues; publishing to it enqueues one job into each, all or none. A topic
 * exists while a queue is bound to it; dropping a queue unbinds it
 * everywhere. */

/* Binds queue to topic (NUL-terminated; made on first bind). Idempotent.
 * HOTQ_LIMIT_EXCEEDED (HOTQ_TOPICS_MAX or HOTQ_TOPIC_QUEUES_MAX),
 * HOTQ_NO_SUCH_QUEUE, HOTQ_CLOSED, HOTQ_NO_SPACE, HOTQ_WAL_FAILED. */
HOTQ_C_API hotq_code hotq_topic_bind(hotq_engine* engine, const char* topic, hotq_queue_id queue);
/* Unbinds (idempotent: HOTQ_OK also when it was not bound). */
HOTQ_C_API hotq_code hotq_topic_unbind(hotq_engine* engine, const char* topic,
                                       hotq_queue_id queue);
/* The queues bound to topic, in bind order: *count receives how many there
 * are (0 for an unknown topic) and queues[0..min(capacity, *count)) their
 * ids. A *count above capacity means the list was cut: call again with
 * more room (HOTQ_TOPIC_QUEUES_MAX entries always suffice). queues may be
 * NULL when capacity is 0. */
HOTQ_C_API hotq_code hotq_topic_bindings(hotq_engine* engine, const char* topic,
                                         hotq_queue_id* queues, size_t capacity, size_t* count);
/* Enqueues request into every queue bound to topic, all or none: when one
 * queue is full (HOTQ_FULL), refuses the payload (HOTQ_TOO_LARGE) or is
 * gone, nothing is enqueued anywhere. The payload is copied once and
 * shared by the jobs. On HOTQ_OK *count (optional) receives the number of
 * bound queues and ids[0..min(capacity, *count)) one id per queue in
 * bindings order (ids may be NULL when capacity is 0; the jobs are made
 * whatever the room). With a dedup key, each queue checks it in its own
 * window (the keys its enqueues use): a queue that holds the key gets no
 * new job and its id is the job holding it; HOTQ_DUPLICATE (ids filled
 * the same way) when every queue held it, HOTQ_OK when any job was made;
 * HOTQ_INVALID_ARGUMENT when a bound queue has no dedup (dedup_keys_max
 * 0), HOTQ_DEDUP_FULL when one is out of key room (nothing made anywhere).
 * HOTQ_NO_SUCH_QUEUE for an unknown topic or one without queues;
 * HOTQ_CLOSED, HOTQ_NO_SPACE, HOTQ_WAL_FAILED. In a durable sync-mode
 * engine it returns once the jobs are on disk (one record: all or none
 * after a crash too), and a duplicate once the jobs holding the key are. */
HOTQ_C_API hotq_code hotq_publish(hotq_engine* engine, const char* topic,
                                  const hotq_enqueue_request* request, hotq_job_id* ids,
                                  size_t capacity, size_t* count);
/* As hotq_publish, and codes[0..min(capacity, *count)) says what each
 * bound queue did, in bindings order: HOTQ_OK where a new job was made,
 * HOTQ_DUPLICATE where the queue held the dedup key (its id is the job
 * holding it). So a keyed publish answered HOTQ_OK after a partial earlier
 * one tells which queues took it this time. ids and codes may be NULL only
 * when capacity is 0; on any other result than HOTQ_OK or HOTQ_DUPLICATE,
 * *count is 0 and neither array is written. */
HOTQ_C_API hotq_code hotq_publish_each(hotq_engine* engine, const char* topic,
                                       const hotq_enqueue_request* request, hotq_job_id* ids,
                                       hotq_code* codes, size_t capacity, size_t* count);

/* ---------------------------------------------------------------- reserve */
/* Proof of holding a job's lease, needed by ack, nack, fail and extend. A
 * plain value: copy it freely, it owns nothing. The token is unique per
 * delivery (fencing): an older delivery's lease gets HOTQ_STALE_LEASE. */
typedef struct hotq_lease {
  hotq_job_id job;
  uint64_t token;
  uint64_t reserved_ns; /* when reserved; 0 settles the same, unmeasured */
} hotq_lease;

/* A reserved job. You provide the struct (on the stack, in an array); a
 * reserve fills it and makes it hold a reference to the payload bytes.
 *
 * Lifetime: payload stays valid — and unchanged — until hotq_job_release,
 * whatever happens to the job meanwhile (acked, its lease expired, it was
 * delivered again, the queue dropped, the engine freed). Release every job
 * a reserve filled exactly once; a struct given to a reserve must not hold
 * a reference (zero-initialised or released), or that reference leaks.
 * Releasing does nothing to the lease: it stands until acked, nacked,
 * failed or expired, and the lease fields stay readable after release.
 * Do not copy the struct and release both copies (the reference is
 * counted once); copy the lease (hotq_job_lease) instead. */
typedef struct hotq_job {
  hotq_job_id id;
  uint64_t token;             /* fencing token of this delivery */
  uint64_t reserved_ns;       /* engine clock */
  uint64_t lease_deadline_ns; /* engine clock */
  uint32_t attempt;           /* 1 on the first delivery */
  uint32_t priority;
  const void* payload;        /* payload_bytes bytes; NULL after release (may be NULL if 0 bytes) */
  size_t payload_bytes;
  void* ref_;                 /* private: the payload reference */
} hotq_job;

/* The job's lease (a copy). NULL job: a zero lease. */
HOTQ_C_API hotq_lease hotq_job_lease(const hotq_job* job);
/* Drops the payload reference: payload becomes NULL, payload_bytes 0; the
 * other fields stay. A released or zero-initialised job, or NULL: no-op. */
HOTQ_C_API void hotq_job_release(hotq_job* job);

/* Leases the most urgent ready job for lease_ms (0: the job's own lease or
 * the queue's default) into *job. On anything but HOTQ_OK *job is zeroed.
 * HOTQ_EMPTY, HOTQ_PAUSED, HOTQ_RATE_LIMITED, HOTQ_LEASED_FULL,
 * HOTQ_NO_SUCH_QUEUE, HOTQ_CLOSED, HOTQ_WAL_FAILED (durable_delivery). */
HOTQ_C_API hotq_code hotq_reserve(hotq_engine* engine, hotq_queue_id queue, uint64_t lease_ms,
                                  hotq_job* job);
/* Waits up to timeout_ms (engine clock) for a job: HOTQ_TIMED_OUT. Parks
 * without spinning; hotq_engine_close wakes it (HOTQ_CLOSED). */
HOTQ_C_API hotq_code hotq_reserve_wait(hotq_engine* engine, hotq_queue_id queue,
                                       uint64_t timeout_ms, uint64_t lease_ms, hotq_job* job);
/* Leases up to capacity (1..HOTQ_BATCH_JOBS_MAX) jobs into jobs[0..*count),
 * most urgent first; jobs[*count..capacity) are zeroed. HOTQ_OK when
 * *count >= 1, else why none (HOTQ_EMPTY, ...). */
HOTQ_C_API hotq_code hotq_reserve_batch(hotq_engine* engine, hotq_queue_id queue,
                                        uint64_t lease_ms, hotq_job* jobs, size_t capacity,
                                        size_t* count);
/* Waits up to timeout_ms for at least one job: HOTQ_TIMED_OUT. */
HOTQ_C_API hotq_code hotq_reserve_batch_wait(hotq_engine* engine, hotq_queue_id queue,
                                             uint64_t timeout_ms, uint64_t lease_ms,
                                             hotq_job* jobs, size_t capacity, size_t* count);

/* ---------------------------------------------------------------- settle
 * Each returns HOTQ_OK, HOTQ_STALE_LEASE (the lease expired, was redelivered
 * or settled: nothing changes), HOTQ_INVALID_ARGUMENT, HOTQ_NO_SUCH_QUEUE,
 * HOTQ_CLOSED, or (durable) HOTQ_NO_SPACE / HOTQ_WAL_FAILED. */

/* Completes the job: it is gone. */
HOTQ_C_API hotq_code hotq_ack(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease);
/* Acks leases[0..count) (count <= HOTQ_BATCH_JOBS_MAX); results[i]
 * (required, count entries) receives the code for leases[i]; *acked
 * (optional) how many were acked. Returns HOTQ_OK when all were, else the
 * first lease's code that is not HOTQ_OK. */
HOTQ_C_API hotq_code hotq_ack_batch(hotq_engine* engine, hotq_queue_id queue,
                                    const hotq_lease* leases, size_t count, hotq_code* results,
                                    size_t* acked);
/* Retries the job after delay_ms, or after the queue's backoff when
 * delay_ms is HOTQ_DELAY_BACKOFF; dead-letters it when this was its last
 * attempt. error (error_bytes bytes, NULL/0: none) is kept as its last
 * error if it dies (cut at HOTQ_ERROR_TEXT_BYTES_MAX). */
HOTQ_C_API hotq_code hotq_nack(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                               uint64_t delay_ms, const char* error, size_t error_bytes);
/* Dead-letters the job at once (reason HOTQ_DEAD_FAILED), whatever attempts
 * remain, keeping error (as for nack). */
HOTQ_C_API hotq_code hotq_fail(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                               const char* error, size_t error_bytes);
/* Heartbeat: moves the lease deadline to now + lease_ms (1..7 days). */
HOTQ_C_API hotq_code hotq_extend(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                                 uint64_t lease_ms);
/* hotq_ack and hotq_ack_batch that do not wait for the disk: see
 * hotq_durable_fn. done is called once if at least one lease was acked. */
HOTQ_C_API hotq_code hotq_ack_async(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                                    hotq_durable_fn done, void* user);
HOTQ_C_API hotq_code hotq_ack_batch_async(hotq_engine* engine, hotq_queue_id queue,
                                          const hotq_lease* leases, size_t count,
                                          hotq_code* results, size_t* acked,
                                          hotq_durable_fn done, void* user);

/* hotq_nack and hotq_fail that do not wait for the disk: see
 * hotq_durable_fn. done is called once if the call returns HOTQ_OK. */
HOTQ_C_API hotq_code hotq_nack_async(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                                     uint64_t delay_ms, const char* error, size_t error_bytes,
                                     hotq_durable_fn done, void* user);
HOTQ_C_API hotq_code hotq_fail_async(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                                     const char* error, size_t error_bytes,
                                     hotq_durable_fn done, void* user);

/* ---------------------------------------------------------------- tickets
 * The same writes without a callback: each hands out a ticket naming its
 * log records, and the caller asks about it when it suits it — what a
 * broker in a language whose runtime should not be called back from a
 * foreign thread (Go's cgo, for one) wants. A ticket is plain data; one
 * taken later by a thread covers the records of its earlier calls (LSNs
 * only grow), so a thread that issued a thousand writes waits on the last
 * ticket alone. lsn 0: nothing to wait for (an in-memory engine, or a call
 * that logged nothing). Results are those of the waiting forms and
 * provisional until the ticket is durable, as for the _async forms. On any
 * result but HOTQ_OK (HOTQ_DUPLICATE for an enqueue; for the batches, a
 * done prefix of at least one) the ticket is set to 0. */
typedef struct hotq_ticket {
  uint64_t lsn;
} hotq_ticket;

HOTQ_C_API hotq_code hotq_enqueue_ticket(hotq_engine* engine, hotq_queue_id queue,
                                         const hotq_enqueue_request* request, hotq_job_id* id,
                                         hotq_ticket* ticket);
HOTQ_C_API hotq_code hotq_enqueue_batch_ticket(hotq_engine* engine, hotq_queue_id queue,
                                               const hotq_enqueue_request* requests,
                                               size_t count, hotq_job_id* ids, hotq_code* codes,
                                               size_t* done, hotq_ticket* ticket);
HOTQ_C_API hotq_code hotq_ack_ticket(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                                     hotq_ticket* ticket);
HOTQ_C_API hotq_code hotq_ack_batch_ticket(hotq_engine* engine, hotq_queue_id queue,
                                           const hotq_lease* leases, size_t count,
                                           hotq_code* results, size_t* acked,
                                           hotq_ticket* ticket);
HOTQ_C_API hotq_code hotq_nack_ticket(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                                      uint64_t delay_ms, const char* error, size_t error_bytes,
                                      hotq_ticket* ticket);
HOTQ_C_API hotq_code hotq_fail_ticket(hotq_engine* engine, hotq_queue_id queue, hotq_lease lease,
                                      const char* error, size_t error_bytes, hotq_ticket* ticket);
/* 1 when every record the ticket names is on disk (what was durable stays
 * so after a later failure of the log), else 0; 0 for a NULL engine. Never
 * blocks. */
HOTQ_C_API int hotq_is_durable(const hotq_engine* engine, hotq_ticket ticket);
/* Waits until it is: HOTQ_OK, or HOTQ_WAL_FAILED when the log failed
 * first (the records may be lost); HOTQ_INVALID_ARGUMENT for a NULL engine.
 * Must not be called from a hotq_durable_fn. */
HOTQ_C_API hotq_code hotq_wait_durable(hotq_engine* engine, hotq_ticket ticket);

/* ---------------------------------------------------------------- waiting jobs
 * Operations on one job by id, while it waits (ready or delayed). Each
 * returns HOTQ_NO_SUCH_JOB when the job is gone, leased or dead (cancel,
 * set_priority, set_delay) or gone (inspect); HOTQ_NO_SUCH_QUEUE,
 * HOTQ_CLOSED; the writes also HOTQ_NO_SPACE and HOTQ_WAL_FAILED. */

/* Deletes one ready or delayed job: it is never delivered. */
HOTQ_C_API hotq_code hotq_cancel(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job);
/* Changes a waiting job's priority (0..the queue's levels - 1, else
 * HOTQ_INVALID_ARGUMENT). HOTQ_FULL: a ready job's move needs a unit of the
 * queue's capacity until its old place in the ring is passed. */
HOTQ_C_API hotq_code hotq_set_priority(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job,
                                       uint32_t priority);
/* Makes a waiting job ready after delay_ms from now (0: ready now). Results
 * as hotq_set_priority. */
HOTQ_C_API hotq_code hotq_set_delay(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job,
                                    uint64_t delay_ms);

typedef enum hotq_job_state {
  HOTQ_JOB_DELAYED = 1,
  HOTQ_JOB_READY = 2,
  HOTQ_JOB_LEASED = 3,
  HOTQ_JOB_DEAD = 4
} hotq_job_state;

/* "delayed", "ready", "leased", "dead"; "unknown_state". Static. */
HOTQ_C_API const char* hotq_job_state_name(uint32_t state);

/* What hotq_inspect saw, owned by the caller: every pointer in it stays
 * valid until hotq_job_info_release. */
typedef struct hotq_job_info {
  hotq_job_id id;
  uint32_t state;          /* a hotq_job_state */
  uint32_t priority;
  uint32_t attempts;       /* counted attempts so far */
  uint32_t attempts_max;
  uint64_t enqueued_ns;    /* engine clock */
  /* delayed: when it becomes ready; ready: when it became ready; leased:
   * the lease deadline; dead: when it died. Engine clock. */
  uint64_t state_ns;
  uint32_t dead_reason;    /* a hotq_dead_reason when dead, else 0 */
  uint32_t reserved_;      /* 0 */
  const char* error;       /* dead: the last error text, NUL-terminated; else "" */
  size_t error_bytes;
  const void* payload;
  size_t payload_bytes;
  void* internal_;         /* private */
} hotq_job_info;

/* The job's state, attempts, timestamps, last error and payload. On HOTQ_OK
 * *info is new (release it with hotq_job_info_release); otherwise NULL. */
HOTQ_C_API hotq_code hotq_inspect(hotq_engine* engine, hotq_queue_id queue, hotq_job_id job,
                                  hotq_job_info** info);
/* NULL: no-op. */
HOTQ_C_API void hotq_job_info_release(hotq_job_info* info);

/* ---------------------------------------------------------------- dead letters */
typedef enum hotq_dead_reason {
  HOTQ_DEAD_FAILED = 1,           /* hotq_fail: the worker said it cannot succeed */
  HOTQ_DEAD_ATTEMPTS_NACKED = 2,  /* nack on the last attempt */
  HOTQ_DEAD_ATTEMPTS_EXPIRED = 3  /* the lease of the last attempt expired */
} hotq_dead_reason;

/* "failed", "attempts_nacked", "attempts_expired"; "unknown_reason". Static.
 * Takes hotq_dead_letter.reason as it is. */
HOTQ_C_API const char* hotq_dead_reason_name(uint32_t reason);

typedef struct hotq_dead_letter {
  hotq_job_id id;
  uint32_t attempts;      /* attempts used when it died */
  uint32_t priority;
  uint32_t reason;        /* a hotq_dead_reason */
  uint64_t enqueued_ns;   /* engine clock */
  uint64_t dead_ns;       /* engine clock */
  const char* error;      /* the last error text, NUL-terminated ("" when none) */
  size_t error_bytes;
  const void* payload;
  size_t payload_bytes;
} hotq_dead_letter;

/* A page of dead letters, owned by the caller: every pointer in items stays
 * valid until hotq_dead_letters_release. */
typedef struct hotq_dead_letters {
  size_t count;
  const hotq_dead_letter* items; /* count entries, in id order */
  void* internal_;               /* private */
} hotq_dead_letters;

/* Up to limit (>= 1) dead letters with id > after_id, in id order; pass the
 * last id seen as after_id to get the next page (0: from the start). On
 * HOTQ_OK *list is a new list (possibly with count 0): release it with
 * hotq_dead_letters_release. Otherwise *list is NULL. HOTQ_NO_SUCH_QUEUE,
 * HOTQ_CLOSED. */
HOTQ_C_API hotq_code hotq_dead_list(hotq_engine* engine, hotq_queue_id queue,
                                    hotq_job_id after_id, size_t limit,
                                    hotq_dead_letters** list);
HOTQ_C_API void hotq_dead_letters_release(hotq_dead_letters* list);

/* Makes up to max_jobs dead jobs ready again (oldest id first, attempts
 * reset; UINT64_MAX: all). *redriven (optional): how many. */
HOTQ_C_API hotq_code hotq_redrive(hotq_engine* engine, hotq_queue_id queue, uint64_t max_jobs,
                                  uint64_t* redriven);
/* Redrives the named dead jobs (count <= HOTQ_BATCH_JOBS_MAX); ids not in
 * the dead set are skipped. */
HOTQ_C_API hotq_code hotq_redrive_ids(hotq_engine* engine, hotq_queue_id queue,
                                      const hotq_job_id* ids, size_t count, uint64_t* redriven);
/* Deletes the named dead jobs (count <= HOTQ_BATCH_JOBS_MAX; ids not in the
 * dead set are skipped): they are gone. *deleted (optional): how many. */
HOTQ_C_API hotq_code hotq_dead_delete(hotq_engine* engine, hotq_queue_id queue,
                                      const hotq_job_id* ids, size_t count, uint64_t* deleted);
/* Deletes every dead job of the queue. *deleted (optional): how many. */
HOTQ_C_API hotq_code hotq_dead_purge(hotq_engine* engine, hotq_queue_id queue,
                                     uint64_t* deleted);

/* ---------------------------------------------------------------- stats */
/* A latency distribution: percentiles are upper bounds within 6.25% of the
 * true value, never above max_ns. */
typedef struct hotq_latency {
  uint64_t count;
  uint64_t p50_ns;
  uint64_t p99_ns;
  uint64_t p999_ns;
  uint64_t max_ns;
} hotq_latency;

/* hotq::QueueStats (hotq/engine.h) as plain data. Set struct_size to
 * sizeof(hotq_queue_stats) before the call: the library fills that many
 * bytes (a newer library than your header fills only what you have room
 * for; zeroes what it does not know). */
typedef struct hotq_queue_stats {
  uint32_t struct_size;
  uint32_t reserved_;  /* 0 */
  /* Jobs by state now. */
  uint64_t delayed;
  uint64_t ready;
  uint64_t ready_by_priority[HOTQ_PRIORITY_LEVELS_MAX];
  uint64_t leased;
  uint64_t dead;
  /* Cumulative since open. */
  uint64_t enqueued;
  uint64_t completed;     /* acked */
  uint64_t retried;       /* nacked with attempts left */
  uint64_t failed;        /* hotq_fail */
  uint64_t expired;       /* leases that ran out */
  uint64_t dead_lettered;
  uint64_t redriven;
  uint64_t rejected_full; /* enqueues refused with HOTQ_FULL */
  uint64_t rate_limited;  /* reserves refused by the rate limit */
  uint64_t dedup_hits;    /* enqueues answered with HOTQ_DUPLICATE */
  uint64_t cancelled;
  uint64_t purged;
  uint64_t oldest_ready_age_ns; /* 0 when nothing is ready */
  hotq_latency wait;      /* enqueue to first reserve */
  hotq_latency run;       /* reserve to ack */
} hotq_queue_stats;

/* The queue's stats now (fires due timers first, so counts are current).
 * HOTQ_NO_SUCH_QUEUE, HOTQ_CLOSED; HOTQ_INVALID_ARGUMENT when struct_size
 * is smaller than this header's first release of the struct. */
HOTQ_C_API hotq_code hotq_queue_stats_get(hotq_engine* engine, hotq_queue_id queue,
                                          hotq_queue_stats* stats);
/* The same summed over every queue (oldest_ready_age_ns: the maximum). */
HOTQ_C_API hotq_code hotq_engine_stats_get(hotq_engine* engine, hotq_queue_stats* stats);

/* hotq::WalStats (hotq/engine.h) as plain data: a durable engine's
 * write-ahead log. Set struct_size to sizeof(hotq_wal_stats) before the call
 * (as for hotq_queue_stats). Counters are cumulative since open. */
#define HOTQ_WAL_FLAG_DURABLE 1u /* the engine has a log (wal_dir set) */
#define HOTQ_WAL_FLAG_FAILED 2u  /* the log failed; writes are refused */
typedef struct hotq_wal_stats {
  uint32_t struct_size;
  uint32_t flags;            /* HOTQ_WAL_FLAG_*; 0 in memory
                                (and every field below is 0) */
  uint64_t durable_lsn;      /* every record up to this LSN is on disk */
  uint64_t last_lsn;         /* the newest record handed out */
  uint64_t groups;           /* group commits: one write + fdatasync each */
  uint64_t records;
  uint64_t bytes;            /* written in groups, headers included */
  uint64_t segments;         /* files holding the log after the newest snapshot */
  uint64_t segments_started;
  uint64_t segments_filled;  /* made from scratch, not recycled */
  uint64_t roll_waits;       /* writes that waited for a segment */
  uint64_t no_space;         /* writes and reservations refused with HOTQ_NO_SPACE */
  hotq_latency commit;       /* each group's write + fdatasync */
  uint64_t snapshot_lsn;     /* the newest snapshot covers the log up to here */
  uint64_t snapshots;
  uint64_t snapshot_failures;
} hotq_wal_stats;

/* The log's stats now. HOTQ_INVALID_ARGUMENT when struct_size is smaller
 * than this header's first release of the struct. */
HOTQ_C_API hotq_code hotq_wal_stats_get(hotq_engine* engine, hotq_wal_stats* stats);
/* The log's texts: *failure why it failed (file, offset, errno) and
 * *snapshot_error the newest snapshot failure's message (empty after a
 * success); each "" when there is none. Either pointer may be NULL (that
 * text is not made). Each text is allocated by the library, NUL-terminated:
 * free it with hotq_text_release (also when the call fails, where it is
 * NULL). */
HOTQ_C_API hotq_code hotq_wal_texts(hotq_engine* engine, char** failure, char** snapshot_error);

/* ---------------------------------------------------------------- metrics
 * The engine's stats as a Prometheus text page (format 0.0.4; every metric
 * in docs/metrics.md; the C++ hotq::prometheus_text), for a broker's
 * /metrics endpoint. The page is allocated by the library: *text receives
 * it NUL-terminated and *bytes its length (without the NUL); free it with
 * hotq_text_release. Callable from any thread while the engine works. */
HOTQ_C_API hotq_code hotq_metrics_prometheus(hotq_engine* engine, char** text, size_t* bytes);
/* Frees a page from hotq_metrics_prometheus. NULL: no-op. */
HOTQ_C_API void hotq_text_release(char* text);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HOTQ_HOTQ_H_ */
