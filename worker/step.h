/*
 * The step API handlers are written with (step.c): the context of one
 * job in hand and the step_* helpers that write its progress, checkpoint
 * and end, fenced by its lease.
 */
#ifndef SJ_WORKER_STEP_H
#define SJ_WORKER_STEP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cfg.h"
#include "db.h"
#include "err.h"
#include "job.h"
#include "slots.h"

struct gen_fail;
struct stats;

/* How a job in hand ended; set by the step helpers. */
enum run_end {
	RUN_NONE = 0, /* the handler returned without an outcome: a bug */
	RUN_DONE,     /* completed */
	RUN_FAIL,     /* to be recorded with job_fail() */
	RUN_RELEASE,  /* worker stopping: job_release(), no attempt spent */
	RUN_DEFER,    /* waits outside (a provider's budget): job_defer() */
	RUN_DROP,     /* fenced out (cancelled, timed out, lease lost) */
	RUN_LEAVE     /* database unusable: the lease will expire */
};

/* What a handler works with.  Everything here belongs to one thread. */
struct step_ctx {
	struct slot *slot;
	const atomic_bool *stop;      /* the worker is shutting down */
	const atomic_llong *delay_ms; /* local provider's pause per step */
	struct stats *stats;	      /* the worker's upstream counters */
	struct db *db;		      /* the thread's own session */
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
	int64_t defer_ms;   /* RUN_DEFER: back in the queue after this;
			       RUN_FAIL: job_fail's backoff (0: failed) */
	const char *code;   /* RUN_FAIL: static error code */
	char msg[256];	    /* RUN_FAIL: message for the job row */
};

typedef void (*step_handler)(struct step_ctx *c);

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
/*
 * Gives the job back to the queue for ms (RUN_DEFER): pending, no
 * attempt spent, its checkpoint as last saved; why is logged.  For a
 * wait on something outside the job, such as a provider's budget: the
 * job holds no slot meanwhile.
 */
void step_defer(struct step_ctx *c, int64_t ms, const char *why);
/*
 * Sleeps ms in the slot (a wait too short for a trip through the
 * queue).  false: the worker is stopping, the job is released (c->end).
 */
bool step_sleep(struct step_ctx *c, int64_t ms) SJ_WUR;
/* Completes the job with result (borrowed). */
void step_complete(struct step_ctx *c, struct json_object *result,
		   const char *step);
void step_fail(struct step_ctx *c, bool transient, const char *code,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Records a provider's failure record (gen_types.h) as the job's. */
void step_fail_rec(struct step_ctx *c, const struct gen_fail *f);
/* Takes back a recorded failure the handler chose to live with. */
void step_forgive(struct step_ctx *c);
/* INTERNAL_ERROR for e; transient for I/O, memory and database errors. */
void step_fail_err(struct step_ctx *c, enum sj_err e, const char *what);
/*
 * After the handler returned: records how the job ended (c->end) unless
 * it completed (the caller hands a completed job to the completer).
 */
void step_finish(struct step_ctx *c);

#endif
