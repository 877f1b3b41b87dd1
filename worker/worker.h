/*
 * The worker daemon's shared state and the contract between its parts:
 *
 *   main.c    start-up, signals, and the main thread's loop: LISTEN,
 *             claim, heartbeat, maintenance, shutdown
 *   runner.c  the pool of job threads and the step_* helpers that
 *             handlers are written with
 *   steps.c   one handler per job type (CONTRACT section 1)
 *   local.c   the offline generator (SVG scene cards)
 *
 * The main thread is the only one that claims; a job it claims is moved
 * into a hand of the pool and belongs to that hand's thread until the
 * thread frees the hand.  struct cfg is read-only once threads run.
 */
#ifndef SJ_WORKER_H
#define SJ_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cfg.h"
#include "db.h"
#include "err.h"
#include "job.h"

#define WORKER_APPNAME	"storyjobs-worker"
#define WORKER_HOST_MAX 256
#define WORKER_ID_MAX	(WORKER_HOST_MAX + 48) /* host:pid:8 hex */

enum hand_state {
	HAND_FREE = 0, /* no job; the thread waits */
	HAND_READY,    /* main put a job here; the thread has not taken it */
	HAND_BUSY      /* the thread is running the job */
};

/* One slot of the pool: a thread and the job it holds. */
struct hand {
	struct worker *w;
	pthread_t thread;
	bool started;		 /* thread created, not yet joined */
	enum hand_state state;	 /* under w->mu */
	char job_id[JOB_ID_MAX]; /* under w->mu; "" when FREE */
	enum job_type type;	 /* under w->mu */
	struct job job;		 /* written by main while FREE, then the
				    thread's until it frees the hand */
	atomic_bool cancel;	 /* a cancel notice arrived for job_id */
	pthread_cond_t cv;	 /* signalled when a job is put here, or stop */
};

/* A hand's completion waiting for the completer; on the hand's stack. */
struct completion {
	const struct job_lease *lease;
	const char *result; /* JSON text */
	const char *step;
	enum sj_err outcome; /* SJ_OK, SJ_ELOST or SJ_EDB */
	bool done;	     /* under completer.mu */
	struct completion *next;
};

#define COMPLETER_BATCH_MAX 256 /* completions in one statement */

/* completer.c: one thread writing the hands' completions in batches. */
struct completer {
	pthread_mutex_t mu;
	pthread_cond_t more;	/* something queued, or stop */
	pthread_cond_t written; /* a batch was written */
	struct completion *head, *tail;
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
	int wake_rd;	       /* self-pipe: readable when a hand frees */
	int wake_wr;
	pthread_mutex_t mu;
	struct hand *hands; /* cfg->max_concurrent_jobs of them */
	size_t nhands;
	int in_hand;			/* under mu: READY + BUSY hands */
	int in_hand_type[JOB_TYPE_MAX]; /* under mu */
	struct completer completer;
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
	struct hand *hand;
	struct db *db; /* the thread's own session */
	const struct cfg *cfg;
	struct job *job;
	struct job_lease lease;
	int64_t taken_ms;    /* monotonic: when this thread took the job */
	int64_t deadline_ms; /* taken_ms + the type's timeout */
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
 * Creates the self-pipe, the hands and one thread per hand.  Signals the
 * caller has blocked stay blocked in the threads.  On failure nothing is
 * left running or allocated.
 */
enum sj_err runner_start(struct worker *w) SJ_WUR;
/*
 * Moves *j into a free hand (then zeroes *j).  Returns false, leaving *j
 * to the caller, when no hand is free.
 */
bool runner_submit(struct worker *w, struct job *j) SJ_WUR;
/* Flags the job if it is in hand; returns whether it was. */
bool runner_cancel(struct worker *w, const char *job_id);
void runner_counts(struct worker *w, int *total, int per_type[JOB_TYPE_MAX]);
/*
 * Writes the ids of the jobs in hand as a PostgreSQL array literal
 * ("{a,b}") into out; ids are [a-z0-9_] so need no quoting.  out must hold
 * nhands * JOB_ID_MAX + 3 bytes.
 */
void runner_job_ids(struct worker *w, char *out, size_t outsz);
/* Sets stop, wakes and joins every thread.  Returns within a step. */
void runner_stop(struct worker *w);
/* After runner_stop(): frees the hands and closes the pipe. */
void runner_free(struct worker *w);

int64_t worker_now_ms(void);
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
 * Completes the job of lease with result (JSON text) in the next batch;
 * blocks until it is written.  SJ_OK, SJ_ELOST (fenced out) or SJ_EDB
 * (not written: complete it on the caller's own session).
 */
enum sj_err completer_complete(struct worker *w, const struct job_lease *lease,
			       const char *result, const char *step);

/* steps.c: the handler for type t, or NULL when this worker cannot run t. */
step_handler steps_handler(const struct cfg *c, enum job_type t);

#endif
