/*
 * The slots of claimed jobs and their run queue.
 *
 * A claimed job, from its claim until its end is written, is held in a
 * slot.  The worker holds cfg->max_concurrent_jobs + cfg->prefetch_jobs
 * slots; a slot is QUEUED (claimed, waiting for a thread) or RUNNING (a
 * thread runs it, or the completer writes the result the thread left in
 * it).  Heartbeats renew the lease of every held slot, so a job waiting
 * in any state here keeps its lease.
 */
#ifndef SJ_WORKER_SLOTS_H
#define SJ_WORKER_SLOTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "job.h"

enum slot_state { SLOT_FREE = 0, SLOT_QUEUED, SLOT_RUNNING };

#define SLOT_STEP_MAX 128

struct slot {
	enum slot_state state;	 /* under slots.mu */
	char job_id[JOB_ID_MAX]; /* under slots.mu; "" when FREE */
	enum job_type type;	 /* under slots.mu */
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

/* wake-ups kept at once; past that the latest is left to the poll tick */
#define SLOTS_CLAIM_AT_MAX 64
/* wake-up times are rounded up to this grain, so a burst shares one */
#define SLOTS_CLAIM_AT_GRAIN_MS 10

struct slots {
	const struct cfg *cfg;
	bool runs[JOB_TYPE_MAX]; /* the types this worker has a handler for */
	int wake_rd; /* self-pipe: readable when main should claim */
	int wake_wr;
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job was queued, or stop */
	struct slot *v;	     /* n of them */
	size_t n;
	struct slot *free_slots;     /* under mu */
	struct slot *qhead, *qtail;  /* under mu: QUEUED, in order */
	int held;		     /* under mu: slots not FREE */
	int held_type[JOB_TYPE_MAX]; /* under mu */
	int low_mark;		     /* ask for a claim at or below */
	bool wake_sent;		     /* under mu: main not yet claimed */
	/* under mu: monotonic ms to claim at (deferred jobs come due) */
	int64_t claim_at[SLOTS_CLAIM_AT_MAX];
	size_t n_claim_at;
};

/*
 * Creates the self-pipe and n free slots for the types runs[] marks.  On
 * failure nothing is left allocated.
 */
enum sj_err slots_init(struct slots *q, const struct cfg *cfg, size_t n,
		       const bool runs[JOB_TYPE_MAX]) SJ_WUR;
/* Frees the slots (and any job left in them), closes the pipe. */
void slots_free(struct slots *q);
/*
 * What main may claim now: in all, and per type (0 for a type this
 * worker cannot run).  Nothing while the slots held are above the low
 * mark: a claim then would be a small one, and falling to the mark wakes
 * main anyway (with PREFETCH_JOBS=0 the mark is one free slot, so any
 * room counts).  Re-arms the wake-up: the next time a slot frees
 * below the low mark (or under a type's cap) the self-pipe is written.
 */
int slots_room(struct slots *q, int per_type[JOB_TYPE_MAX]);
/*
 * Queues the n claimed jobs of js (moved out; each then zeroed) for the
 * threads, in order.  Returns how many were taken; the rest (no free
 * slot: a bug of the caller's count) stay with the caller.
 */
size_t slots_submit(struct slots *q, struct job *js, size_t n) SJ_WUR;
/* Flags the job if it is held; returns whether it was. */
bool slots_cancel(struct slots *q, const char *job_id);
/* Jobs held (queued, running or completing). */
int slots_held(struct slots *q);
/*
 * Appends the ids of the jobs held to out as a PostgreSQL array literal
 * ("{a,b}"; lib/pgarray.h).
 */
enum sj_err slots_job_ids(struct slots *q, struct buf *out) SJ_WUR;
/* Waits for a queued job and marks it RUNNING; NULL once *stop is set. */
struct slot *slots_take(struct slots *q, const atomic_bool *stop);
/* Sets *stop under the lock and wakes every thread waiting in take. */
void slots_stop(struct slots *q, atomic_bool *stop);
/*
 * After the threads are joined: gives every queued job back on db (NULL:
 * none to use; the leases then expire), no attempt spent.
 */
void slots_release_queued(struct slots *q, struct db *db,
			  const char *worker_id);
/*
 * Asks main to claim at at_ms (monotonic), when a job this worker
 * deferred (or failed with a backoff) is due again: NOTIFY says nothing
 * then, and the poll tick may be seconds later.  at_ms is rounded up to
 * SLOTS_CLAIM_AT_GRAIN_MS (never early: a claim before the job is due
 * misses it), and times that round alike are kept once, so a burst of
 * deferrals spread by jitter shares wake-ups.  Every other time is kept
 * (up to SLOTS_CLAIM_AT_MAX; when full, the latest is dropped), so jobs
 * deferred to different times each get their claim.
 */
void slots_claim_at(struct slots *q, int64_t at_ms);
/*
 * The earliest time main was asked to claim at (0: none); when it is
 * not after now, every such time is cleared and the earliest returned,
 * for main to claim; the later ones stay.
 */
int64_t slots_claim_due(struct slots *q, int64_t now_ms);
/* Ends a slot's hold (under no lock): frees it, wakes main if due. */
void slots_done(struct slots *q, struct slot *s);

#endif
