/*
 * The worker daemon's shared state and the contract between its parts:
 *
 *   main.c    start-up, signals, and the main thread's loop: LISTEN,
 *             claim, heartbeat, maintenance, shutdown
 *   runner.c  the slots of claimed jobs, the pool of job threads and
 *             the step_* helpers that handlers are written with
 *   completer.c  the thread that writes finished jobs in batches
 *   stats.c   the upstream call counters and the slots, flushed
 *             after each heartbeat
 *   steps.c   one handler per job type (CONTRACT section 1)
 *   local.c   the offline generator (SVG scene cards)
 *
 * The main thread is the only one that claims; a job it claims is moved
 * into a slot and queued; a job thread takes it from the queue and owns
 * it until it ends (or hands the result to the completer, which then owns
 * it).  struct cfg is read-only once threads run.
 */
#ifndef SJ_WORKER_H
#define SJ_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cfg.h"
#include "counters.h"
#include "db.h"
#include "err.h"
#include "job.h"
#include "http.h"
#include "num.h"

#define WORKER_APPNAME	"storyjobs-worker"
#define WORKER_HOST_MAX 256
#define WORKER_ID_MAX	(WORKER_HOST_MAX + 48) /* host:pid:8 hex */

/* Retrying a write through connection trouble: 100 ms doubling to 5 s. */
#define WORKER_RETRY_MIN_MS  100
#define WORKER_RETRY_MAX_MS  5000
#define WORKER_LAST_WRITE_MS 2000 /* the budget once the worker stops */

/*
 * A claimed job, from its claim until its end is written.  The worker
 * holds cfg->max_concurrent_jobs + cfg->prefetch_jobs slots; a slot is
 * QUEUED (claimed, waiting for a thread) or RUNNING (a thread runs it,
 * or the completer writes the result the thread left in it).
 * Heartbeats renew the lease of every held slot, so a job waiting in any
 * state here keeps its lease.
 */
enum slot_state { SLOT_FREE = 0, SLOT_QUEUED, SLOT_RUNNING };

#define SLOT_STEP_MAX 128

struct slot {
	enum slot_state state;	 /* under w->mu */
	char job_id[JOB_ID_MAX]; /* under w->mu; "" when FREE */
	enum job_type type;	 /* under w->mu */
	int64_t claimed_ms;	 /* monotonic: when it was claimed */
	struct job job;		 /* written by main while FREE, then the
				    thread's until it ends */
	atomic_bool cancel;	 /* a cancel notice arrived for job_id */
	/* a finished job's result, for the completer (then the completer's) */
	char *result; /* JSON text, owned */
	char step[SLOT_STEP_MAX];
	bool has_step;
	struct slot *next; /* run queue, free list or completer list */
};

/* One job thread. */
struct hand {
	struct worker *w;
	pthread_t thread;
	bool started; /* thread created, not yet joined */
};

#define COMPLETER_BATCH_MAX 256 /* completions in one statement */

/* completer.c: one thread writing the finished jobs' results in batches. */
struct completer {
	pthread_mutex_t mu;
	pthread_cond_t more; /* something queued, or stop */
	struct slot *head, *tail;
	bool stop;
	bool started;
	pthread_t thread;
};

struct worker {
	const struct cfg *cfg;
	char host[WORKER_HOST_MAX];
	char id[WORKER_ID_MAX];
	atomic_bool stop;      /* shutting down: release at the next step */
	atomic_llong delay_ms; /* local provider's pause per step; reloadable */
	int wake_rd;	       /* self-pipe: readable when main should claim */
	int wake_wr;
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job was queued, or stop */
	struct hand *hands;  /* cfg->max_concurrent_jobs of them */
	size_t nhands;
	struct slot *slots; /* nhands + cfg->prefetch_jobs of them */
	size_t nslots;
	struct slot *free_slots;     /* under mu */
	struct slot *qhead, *qtail;  /* under mu: QUEUED, in order */
	int held;		     /* under mu: slots not FREE */
	int held_type[JOB_TYPE_MAX]; /* under mu */
	int low_mark;		     /* ask for a claim at or below */
	bool wake_sent;		     /* under mu: main not yet claimed */
	struct completer completer;
	pthread_mutex_t stats_mu;    /* guards stats */
	struct upstream_stats stats; /* calls since the last flush */
};

/* How a job in hand ended; set by the step helpers. */
enum run_end {
	RUN_NONE = 0, /* the handler returned without an outcome: a bug */
	RUN_DONE,     /* completed */
	RUN_FAIL,     /* to be recorded with job_fail() */
	RUN_RELEASE,  /* worker stopping: job_release(), no attempt spent */
	RUN_DROP,     /* fenced out (cancelled, timed out, lease lost) */
	RUN_LEAVE     /* database unusable: the lease will expire */
};

/* What a handler works with.  Everything here belongs to one thread. */
struct step_ctx {
	struct worker *w;
	struct slot *slot;
	struct db *db; /* the thread's own session */
	const struct cfg *cfg;
	struct job *job;
	struct job_lease lease;
	int64_t taken_ms;    /* monotonic: when this thread took the job */
	int64_t deadline_ms; /* claimed + the type's timeout (as the row's) */
	enum run_end end;
	bool cancel_seen;   /* a cancel notice arrived while we held it */
	bool db_refused;    /* the server refused a write (not a broken link) */
	bool transient;	    /* RUN_FAIL: worth a retry */
	long retry_after_s; /* RUN_FAIL: not before this (upstream's hint) */
	const char *code;   /* RUN_FAIL: static error code */
	char msg[256];	    /* RUN_FAIL: message for the job row */
};

typedef void (*step_handler)(struct step_ctx *c);

/* runner.c: the pool. */

/*
 * Creates the self-pipe, the slots, the completer and one thread per
 * hand.  Signals the caller has blocked stay blocked in the threads.  On
 * failure nothing is left running or allocated.
 */
enum sj_err runner_start(struct worker *w) SJ_WUR;
/*
 * What main may claim now: in all, and per type (0 for a type this
 * worker cannot run).  Nothing while the slots held are above the low
 * mark: a claim then would be a small one, and falling to the mark wakes
 * main anyway (with PREFETCH_JOBS=0 the mark is one free slot, so any
 * room counts).  Re-arms the wake-up: the next time a slot frees
 * below the low mark (or under a type's cap) the self-pipe is written.
 */
int runner_room(struct worker *w, int per_type[JOB_TYPE_MAX]);
/*
 * Queues the n claimed jobs of js (moved out; each then zeroed) for the
 * threads, in order.  Returns how many were taken; the rest (no free
 * slot: a bug of the caller's count) stay with the caller.
 */
size_t runner_submit(struct worker *w, struct job *js, size_t n) SJ_WUR;
/* Flags the job if it is held; returns whether it was. */
bool runner_cancel(struct worker *w, const char *job_id);
/* Jobs held (queued, running or completing). */
int runner_held(struct worker *w);
/*
 * Writes the ids of the jobs held as a PostgreSQL array literal
 * ("{a,b}") into out; ids are [a-z0-9_] so need no quoting.  out must hold
 * nslots * JOB_ID_MAX + 3 bytes.
 */
void runner_job_ids(struct worker *w, char *out, size_t outsz);
/*
 * Sets stop, wakes and joins every thread (each returns within a step),
 * lets the completer write what it has, then gives the jobs still queued
 * back on db (no attempt spent).
 */
void runner_stop(struct worker *w, struct db *db);
/* After runner_stop(): frees the slots and hands, closes the pipe. */
void runner_free(struct worker *w);
/* Ends a slot's hold (under no lock): frees it, wakes main if due. */
void runner_slot_done(struct worker *w, struct slot *s);

/*
 * Whether a failed statement on db is worth another try (connection
 * trouble or a transient server state) rather than refused for good.
 */
bool worker_db_retryable(struct db *db);

void worker_sleep_ms(int64_t ms);

/*
 * Step helpers.  Each returns false when the handler must return at once;
 * c->end then says why.  Handlers never call job_* writes directly.
 */

/*
 * A step boundary: releases on shutdown, fails with JOB_TIMEOUT past the
 * deadline, else records pct and step, fenced by the lease.
 */
bool step_progress(struct step_ctx *c, int pct, const char *step) SJ_WUR;
/*
 * Saves c->job->checkpoint (the results of the steps done so far) with
 * the job, fenced by the lease, so a retried or rescued job resumes after
 * them and never pays for them again.
 */
bool step_checkpoint(struct step_ctx *c) SJ_WUR;
/*
 * For http_req.abort_cb (arg: the step_ctx): true on shutdown, a cancel
 * notice, or past the job's deadline.
 */
bool step_abort_cb(void *arg);
/* After a call step_abort_cb() aborted: sets the outcome. */
void step_aborted(struct step_ctx *c);
/* Sleeps the local provider's delay; wakes early on stop or cancel. */
void step_pause(struct step_ctx *c);
/* Completes the job with result (borrowed). */
void step_complete(struct step_ctx *c, struct json_object *result,
		   const char *step);
void step_fail(struct step_ctx *c, bool transient, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Takes back a recorded failure the handler chose to live with. */
void step_forgive(struct step_ctx *c);
/* INTERNAL_ERROR for e; transient for I/O, memory and database errors. */
void step_fail_err(struct step_ctx *c, enum sj_err e, const char *what);

/* completer.c */
enum sj_err completer_start(struct worker *w) SJ_WUR;
/* After the hands are joined: writes what is queued, then ends. */
void completer_stop(struct worker *w);
/*
 * Hands the finished slot s (s->result set) to the completer, which
 * writes it in its next batch, retrying through connection trouble, and
 * then ends the slot's hold.  The caller is done with the job.
 */
void completer_push(struct worker *w, struct slot *s);

/* stats.c: the worker's counters for /metrics. */
enum sj_err stats_init(struct worker *w) SJ_WUR;
void stats_free(struct worker *w);
/*
 * Counts an upstream call (started at t0_ms, monotonic) that ended with
 * e and resp; any thread.
 */
void stats_upstream(struct step_ctx *c, const struct http_req *req,
		    const struct http_resp *resp, enum sj_err e, int64_t t0_ms);
/* Adds the calls counted since the last flush to PostgreSQL (main). */
enum sj_err stats_flush(struct worker *w, struct db *db) SJ_WUR;

/* steps.c: the handler for type t, or NULL when this worker cannot run t. */
step_handler steps_handler(const struct cfg *c, enum job_type t);

#endif
