/*
 * The completer: one thread that writes the results of finished jobs, as
 * many as are waiting, in one statement.
 *
 * DESIGN
 * A finished job costs one fenced UPDATE and one commit; done one per
 * job by each thread, PostgreSQL spends its time on per-statement work
 * and the machine on switching between backends (measured: 1.1
 * transactions per no-op job, 68% of the CPU in PostgreSQL).  Here a job
 * thread puts its finished slot on the completer's list and goes on to
 * its next job at once; the completer takes everything listed, writes it
 * with job_complete_batch() and ends each slot's hold.  There is no
 * timer: while one batch is being written the next one gathers, so an
 * idle worker completes a lone job at once and a busy one writes batches
 * of up to COMPLETER_BATCH_MAX.
 *
 * The fence is job_complete()'s, row by row, so a job that was cancelled
 * or rescued in the meantime is simply not written (and logged).  The
 * statement is atomic: when it fails for connection trouble the same
 * group is retried with backoff (WORKER_RETRY_MIN_MS doubling to
 * WORKER_RETRY_MAX_MS) on a fresh session, the leases meanwhile renewed
 * by the heartbeats because the slots are still held; when the server
 * refuses it, each job is written alone and one refused alone is failed
 * (INTERNAL_ERROR).  Once the worker stops, a write that cannot be made
 * within WORKER_LAST_WRITE_MS is given up: the lease expires and the job
 * is rescued and runs again (at least once, as after a crash).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "num.h"

#include "completer.h"
#include "session.h"

/* Takes the list; blocks until there is something or the stop. */
static struct slot *
take(struct completer *k, bool *stopping)
{
	struct slot *batch;

	pthread_mutex_lock(&k->mu);
	while (k->head == NULL && !k->stop)
		pthread_cond_wait(&k->more, &k->mu);
	batch = k->head;
	k->head = k->tail = NULL;
	*stopping = k->stop;
	pthread_mutex_unlock(&k->mu);
	return batch;
}

/* A session, opened on first use and after a reset; false if none. */
static bool
session(struct completer *k, struct db **dbp)
{
	if (*dbp != NULL)
		return true;
	if (db_open(k->cfg->database_url, WORKER_APPNAME,
		    (long)k->cfg->statement_timeout_ms, dbp) == SJ_OK) {
		db_keyed(*dbp);
		return true;
	}
	*dbp = NULL;
	return false;
}

/* The group was written: ends every slot's hold. */
static void
settle(struct completer *k, struct slot **sv, const struct job_done *d,
       size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!d[i].done)
			log_job(LOG_LVL_INFO, sv[i]->job.id,
				"result not recorded: the job was cancelled, "
				"timed out or rescued meanwhile; dropped");
		slots_done(k->slots, sv[i]);
	}
}

/* The server refused the group: each alone; a refused one is failed. */
static void
write_each(struct completer *k, struct db *db, struct slot **sv,
	   struct job_done *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct job_lease lease = {sv[i]->job.id, k->worker_id,
					  d[i].epoch};
		char msg[160];
		enum sj_err e;

		if (job_complete_batch(db, k->worker_id, 1, &d[i]) == SJ_OK) {
			settle(k, &sv[i], &d[i], 1);
			continue;
		}
		snprintf(msg, sizeof(msg),
			 "Recording the result failed (sqlstate %s)",
			 db_sqlstate(db));
		log_kv(LOG_LVL_ERROR, "job", sv[i]->job.id,
		       "recording the result failed",
		       LOG_STR("sqlstate", db_sqlstate(db)));
		db_reset(db);
		e = job_fail(db, &lease, false, 0, "INTERNAL_ERROR", msg, NULL,
			     NULL);
		if (e != SJ_OK)
			log_kv(LOG_LVL_ERROR, "job", sv[i]->job.id,
			       "could not record the failure either; the lease "
			       "will expire",
			       LOG_STR("error", sj_strerror(e)));
		slots_done(k->slots, sv[i]);
	}
}

/*
 * Writes one group until it is written, refused or, once stopping, out
 * of time (*give_up_ms, 0 while running).
 */
static void
write_group(struct completer *k, struct db **dbp, struct slot **sv, size_t n,
	    bool *stopping, int64_t *give_up_ms)
{
	struct job_done d[COMPLETER_BATCH_MAX];
	int64_t wait = worker_backoff(0);
	enum sj_err e;

	for (size_t i = 0; i < n; i++)
		d[i] = (struct job_done){
		    sv[i]->job.id, sv[i]->job.lease_epoch, sv[i]->result,
		    sv[i]->has_step ? sv[i]->step : NULL, false};
	for (;;) {
		e = session(k, dbp)
			? job_complete_batch(*dbp, k->worker_id, n, d)
			: SJ_EDB;
		if (e == SJ_OK) {
			settle(k, sv, d, n);
			return;
		}
		if (*dbp != NULL && !worker_db_retryable(*dbp)) {
			log_kv(LOG_LVL_WARN, NULL, NULL,
			       "a batch of completions was refused; writing "
			       "each alone",
			       LOG_INT("jobs", n),
			       LOG_STR("sqlstate", db_sqlstate(*dbp)));
			db_reset(*dbp);
			write_each(k, *dbp, sv, d, n);
			return;
		}
		if (*dbp != NULL)
			db_reset(*dbp);
		if (*stopping && *give_up_ms == 0)
			*give_up_ms = num_mono_ms() + WORKER_LAST_WRITE_MS;
		if (*give_up_ms != 0 && num_mono_ms() + wait > *give_up_ms)
			break;
		log_kv(LOG_LVL_WARN, NULL, NULL,
		       "completing jobs: database unreachable; retrying",
		       LOG_INT("jobs", n), LOG_INT("retry_ms", wait));
		worker_sleep_ms(wait);
		wait = worker_backoff(wait);
		pthread_mutex_lock(&k->mu);
		*stopping = k->stop;
		pthread_mutex_unlock(&k->mu);
	}
	for (size_t i = 0; i < n; i++) {
		log_job(LOG_LVL_ERROR, sv[i]->job.id,
			"could not record the result before stopping; the "
			"lease will expire and the job run again");
		slots_done(k->slots, sv[i]);
	}
}

static void *
completer_main(void *arg)
{
	struct completer *k = arg;
	struct slot *batch, *sv[COMPLETER_BATCH_MAX];
	int64_t give_up_ms = 0;
	struct db *db = NULL;
	bool stopping = false;
	size_t n;

	while ((batch = take(k, &stopping)) != NULL) {
		while (batch != NULL) {
			for (n = 0; batch != NULL && n < COMPLETER_BATCH_MAX;
			     n++, batch = batch->next)
				sv[n] = batch;
			write_group(k, &db, sv, n, &stopping, &give_up_ms);
		}
	}
	if (db != NULL)
		db_close(db);
	return NULL;
}

enum sj_err
completer_start(struct completer *k, const struct cfg *cfg,
		const char *worker_id, struct slots *slots)
{
	int rc;

	memset(k, 0, sizeof(*k));
	k->cfg = cfg;
	k->worker_id = worker_id;
	k->slots = slots;
	if (pthread_mutex_init(&k->mu, NULL) != 0)
		return SJ_ENOMEM;
	if (pthread_cond_init(&k->more, NULL) != 0) {
		pthread_mutex_destroy(&k->mu);
		return SJ_ENOMEM;
	}
	if ((rc = pthread_create(&k->thread, NULL, completer_main, k)) != 0) {
		log_error("pthread_create: %s", strerror(rc));
		pthread_cond_destroy(&k->more);
		pthread_mutex_destroy(&k->mu);
		return SJ_ENOMEM;
	}
	k->started = true;
	return SJ_OK;
}

void
completer_stop(struct completer *k)
{
	if (!k->started)
		return;
	pthread_mutex_lock(&k->mu);
	k->stop = true;
	pthread_cond_signal(&k->more);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->thread, NULL);
	pthread_cond_destroy(&k->more);
	pthread_mutex_destroy(&k->mu);
	k->started = false;
}

void
completer_push(struct completer *k, struct slot *s)
{
	bool idle;

	s->next = NULL;
	pthread_mutex_lock(&k->mu);
	idle = k->head == NULL;
	if (k->tail != NULL)
		k->tail->next = s;
	else
		k->head = s;
	k->tail = s;
	/* a non-empty list means the completer is awake or already told */
	if (idle)
		pthread_cond_signal(&k->more);
	pthread_mutex_unlock(&k->mu);
}
