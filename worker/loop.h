/*
 * The main thread's loop of storyjobs-worker (loop.c): what it keeps
 * between iterations, and how main.c starts and stops it.
 */
#ifndef SJ_WORKER_LOOP_H
#define SJ_WORKER_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "job.h"

#include "pool.h"

/* Everything the main thread's loop keeps between iterations. */
struct loop {
	struct worker *w;
	struct db *db;
	int listen_pid;	      /* backend pid that holds our LISTEN; 0 none */
	int64_t backoff_ms;   /* current reconnect backoff; 0 when healthy */
	int64_t retry_ms;     /* no connect attempt before this */
	int64_t next_tick_ms; /* maintenance and fallback claim */
	int64_t next_beat_ms;
	int64_t interval_ms; /* reloadable copies of the cfg values */
	int64_t beat_ms;
	bool want_claim;
	/* where each type's next claim scan starts (see job_claim) */
	struct claim_from from[JOB_TYPE_MAX];
	sigset_t waitmask; /* the mask inside ppoll: our signals open */
};

/*
 * Installs the signal handlers and blocks TERM, INT and HUP outside the
 * loop's ppoll() (waitmask: the mask inside it); 0, or -1.
 */
int loop_signals(sigset_t *waitmask);
/* Every type's next claim scans from the start of the queue. */
void loop_rewind(struct loop *l);
/* Runs until TERM or INT; HUP reloads the settings it may. */
void loop_run(struct loop *l);
/* Stops the pool (jobs released), then says goodbye to the database. */
void loop_shutdown(struct loop *l);

#endif
