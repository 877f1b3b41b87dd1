/*
 * The worker and its pool of job threads (pool.c).
 *
 * The main thread is the only one that claims; a job it claims is moved
 * into a slot and queued (slots.h); a job thread takes it from the queue
 * and owns it until it ends (or hands the result to the completer, which
 * then owns it).  struct cfg is read-only once threads run.
 */
#ifndef SJ_WORKER_POOL_H
#define SJ_WORKER_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "cfg.h"
#include "db.h"
#include "err.h"

#include "completer.h"
#include "slots.h"
#include "stats.h"

#define WORKER_HOST_MAX 256
#define WORKER_ID_MAX	(WORKER_HOST_MAX + 48) /* host:pid:8 hex */

/* One job thread. */
struct hand {
	struct worker *w;
	pthread_t thread;
	bool started; /* thread created, not yet joined */
};

struct worker {
	const struct cfg *cfg;
	char host[WORKER_HOST_MAX];
	char id[WORKER_ID_MAX];
	atomic_bool stop;      /* shutting down: release at the next step */
	atomic_llong delay_ms; /* local provider's pause per step; reloadable */
	struct hand *hands;    /* cfg->max_concurrent_jobs of them */
	size_t nhands;
	struct slots slots; /* nhands + cfg->prefetch_jobs of them */
	struct completer completer;
	struct stats stats; /* upstream calls since the last flush */
};

/*
 * Creates the slots, the completer and one thread per hand.  Signals the
 * caller has blocked stay blocked in the threads.  On failure nothing is
 * left running or allocated.
 */
enum sj_err pool_start(struct worker *w) SJ_WUR;
/*
 * Sets stop, wakes and joins every thread (each returns within a step),
 * lets the completer write what it has, then gives the jobs still queued
 * back on db (no attempt spent).
 */
void pool_stop(struct worker *w, struct db *db);
/* After pool_stop(): frees the slots and hands, closes the pipe. */
void pool_free(struct worker *w);

#endif
