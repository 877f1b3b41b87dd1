/*
 * The completer: one thread that writes the completions of all hands, as
 * many as are waiting, in one statement.
 *
 * DESIGN
 * A finished job costs one fenced UPDATE and one commit; done one per
 * job by each hand, PostgreSQL spends its time on per-statement work and
 * the machine on switching between backends (measured: 1.1 transactions
 * per no-op job, 68% of the CPU in PostgreSQL).  Here a hand queues its
 * completion and waits; the completer takes everything queued, writes it
 * with job_complete_batch() and wakes the hands with each one's outcome.
 * There is no timer: while one batch is being written the next one
 * gathers, so an idle worker completes a lone job at once and a busy one
 * writes batches as large as its hands are many.
 *
 * The fence is the same as job_complete()'s, row by row, so a job that
 * was cancelled or rescued in the meantime is reported fenced out
 * (SJ_ELOST) to its hand alone.  When the batch cannot be written (the
 * session broke, the server refused) every hand in it gets SJ_EDB and
 * falls back to its own session and retry loop; the statement is atomic,
 * so none of the batch was written.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

/* Takes the queue; blocks until there is something or the stop. */
static struct completion *
take(struct completer *k)
{
	struct completion *batch;

	pthread_mutex_lock(&k->mu);
	while (k->head == NULL && !k->stop)
		pthread_cond_wait(&k->more, &k->mu);
	batch = k->head;
	k->head = k->tail = NULL;
	pthread_mutex_unlock(&k->mu);
	return batch;
}

static void
write_batch(struct worker *w, struct db **dbp, struct completion *batch)
{
	struct job_done d[COMPLETER_BATCH_MAX];
	struct completion *p, *from = batch;
	enum sj_err e;
	size_t n;

	while (from != NULL) {
		for (n = 0, p = from; p != NULL && n < COMPLETER_BATCH_MAX;
		     p = p->next, n++)
			d[n] =
			    (struct job_done){p->lease->job_id, p->lease->epoch,
					      p->result, p->step, false};
		e = SJ_EDB;
		if (*dbp != NULL ||
		    db_open(w->cfg->database_url, WORKER_APPNAME,
			    (long)w->cfg->statement_timeout_ms, dbp) == SJ_OK)
			e = job_complete_batch(*dbp, w->id, n, d);
		else
			*dbp = NULL;
		if (e != SJ_OK && *dbp != NULL) {
			log_warn("completing %zu jobs at once failed (%s); "
				 "each is written on its own",
				 n, sj_strerror(e));
			db_reset(*dbp);
		}
		for (size_t i = 0; i < n; i++, from = from->next)
			from->outcome = e != SJ_OK  ? SJ_EDB
					: d[i].done ? SJ_OK
						    : SJ_ELOST;
	}
}

static void *
completer_main(void *arg)
{
	struct worker *w = arg;
	struct completer *k = &w->completer;
	struct completion *batch, *p;
	struct db *db = NULL;

	while ((batch = take(k)) != NULL) {
		write_batch(w, &db, batch);
		pthread_mutex_lock(&k->mu);
		for (p = batch; p != NULL; p = p->next)
			p->done = true;
		pthread_cond_broadcast(&k->written);
		pthread_mutex_unlock(&k->mu);
	}
	if (db != NULL)
		db_close(db);
	return NULL;
}

enum sj_err
completer_start(struct worker *w)
{
	struct completer *k = &w->completer;
	int rc;

	memset(k, 0, sizeof(*k));
	if (pthread_mutex_init(&k->mu, NULL) != 0)
		return SJ_ENOMEM;
	if (pthread_cond_init(&k->more, NULL) != 0 ||
	    pthread_cond_init(&k->written, NULL) != 0) {
		pthread_mutex_destroy(&k->mu);
		return SJ_ENOMEM;
	}
	if ((rc = pthread_create(&k->thread, NULL, completer_main, w)) != 0) {
		log_error("pthread_create: %s", strerror(rc));
		pthread_cond_destroy(&k->more);
		pthread_cond_destroy(&k->written);
		pthread_mutex_destroy(&k->mu);
		return SJ_ENOMEM;
	}
	k->started = true;
	return SJ_OK;
}

void
completer_stop(struct worker *w)
{
	struct completer *k = &w->completer;

	if (!k->started)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = true;
	pthread_cond_signal(&k->more);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->more);
	pthread_cond_destroy(&k->written);
	pthread_mutex_destroy(&k->mu);
	k->started = false;
}

enum sj_err
completer_complete(struct worker *w, const struct job_lease *lease,
		   const char *result, const char *step)
{
	struct completer *k = &w->completer;
	struct completion me = {lease, result, step, SJ_EDB, false, NULL};

	if (!k->started)
		return SJ_EDB;
	pthread_mutex_lock(&k->mu);
	if (k->tail != NULL)
		k->tail->next = &me;
	else
		k->head = &me;
	k->tail = &me;
	pthread_cond_signal(&k->more);
	while (!me.done)
		pthread_cond_wait(&k->written, &k->mu);
	pthread_mutex_unlock(&k->mu);
	return me.outcome;
}
