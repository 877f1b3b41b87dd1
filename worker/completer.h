/*
 * The completer: one thread writing the finished jobs' results in
 * batches (completer.c).
 */
#ifndef SJ_WORKER_COMPLETER_H
#define SJ_WORKER_COMPLETER_H

#include <pthread.h>
#include <stdbool.h>

#include "cfg.h"
#include "slots.h"

#define COMPLETER_BATCH_MAX 256 /* completions in one statement */

struct completer {
	const struct cfg *cfg;
	const char *worker_id; /* borrowed */
	struct slots *slots;   /* where a written job's slot is freed */
	pthread_mutex_t mu;
	pthread_cond_t more; /* something queued, or stop */
	struct slot *head, *tail;
	bool stop;
	bool started;
	pthread_t thread;
};

enum sj_err completer_start(struct completer *k, const struct cfg *cfg,
			    const char *worker_id, struct slots *slots) SJ_WUR;
/* After the job threads are joined: writes what is queued, then ends. */
void completer_stop(struct completer *k);
/*
 * Hands the finished slot s (s->result set) to the completer, which
 * writes it in its next batch, retrying through connection trouble, and
 * then ends the slot's hold.  The caller is done with the job.
 */
void completer_push(struct completer *k, struct slot *s);

#endif
