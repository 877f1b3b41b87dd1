/*
 * The pool of job threads.
 *
 * DESIGN
 * The worker runs one thread per MAX_CONCURRENT_JOBS.  A free thread
 * takes the next queued job (slots.c), runs the type's handler (steps.c)
 * with a step context (step.c) and records the outcome: a completed
 * job's result goes to the completer (completer.c), which writes results
 * in batches and then frees their slots; any other outcome frees the
 * slot at once.  Each thread opens its own database session on its first
 * job, so no PGconn is ever shared and the main thread's LISTEN session
 * is never used for work.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "num.h"

#include "pool.h"
#include "session.h"
#include "step.h"
#include "steps.h"

/*
 * Runs the job of slot s on the thread's session *dbp (opened on first
 * use).  Returns true when the result went to the completer, which then
 * owns the slot.
 */
static bool
pool_run(struct worker *w, struct slot *s, struct db **dbp)
{
	const struct cfg *cfg = w->cfg;
	struct step_ctx c;
	step_handler fn;

	if (*dbp == NULL &&
	    db_open(cfg->database_url, WORKER_APPNAME,
		    (long)cfg->statement_timeout_ms, dbp) != SJ_OK) {
		*dbp = NULL;
		log_job(LOG_LVL_ERROR, s->job.id,
			"no database session; left for its lease to expire");
		return false;
	}
	memset(&c, 0, sizeof(c));
	c.slot = s;
	c.stop = &w->stop;
	c.delay_ms = &w->delay_ms;
	c.stats = &w->stats;
	c.db = *dbp;
	c.cfg = cfg;
	c.job = &s->job;
	c.lease.job_id = s->job.id;
	c.lease.worker_id = w->id;
	c.lease.epoch = s->job.lease_epoch;
	c.taken_ms = num_mono_ms();
	c.deadline_ms =
	    s->claimed_ms + cfg_job_timeout(cfg, s->job.type) * 1000;
	fn = steps_handler(cfg, s->job.type);
	if (fn != NULL)
		fn(&c);
	else
		c.end = RUN_RELEASE;
	step_finish(&c);
	/*
	 * Due again then: claim it at once.  No notice announces a deferral
	 * or a retry's backoff, and this worker's scan point may lie hours
	 * past the job's key.
	 */
	if (c.end == RUN_DEFER || (c.end == RUN_FAIL && c.defer_ms > 0))
		slots_claim_at(&w->slots, num_mono_ms() + c.defer_ms);
	if (c.end == RUN_DONE) {
		completer_push(&w->completer, s);
		return true;
	}
	free(s->result);
	s->result = NULL;
	return false;
}

static void *
pool_main(void *arg)
{
	struct hand *h = arg;
	struct worker *w = h->w;
	struct db *db = NULL;
	struct slot *s;

	while ((s = slots_take(&w->slots, &w->stop)) != NULL)
		if (!pool_run(w, s, &db))
			slots_done(&w->slots, s);
	if (db != NULL)
		db_close(db);
	return NULL;
}

enum sj_err
pool_start(struct worker *w)
{
	size_t i, n = (size_t)w->cfg->max_concurrent_jobs;
	bool runs[JOB_TYPE_MAX];
	int rc;

	for (i = 0; i < JOB_TYPE_MAX; i++)
		runs[i] = steps_handler(w->cfg, (enum job_type)i) != NULL;
	if (slots_init(&w->slots, w->cfg, n + (size_t)w->cfg->prefetch_jobs,
		       runs) != SJ_OK)
		return SJ_ENOMEM;
	if ((w->hands = calloc(n, sizeof(*w->hands))) == NULL)
		goto fail;
	w->nhands = n;
	if (completer_start(&w->completer, w->cfg, w->id, &w->slots) != SJ_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		w->hands[i].w = w;
		rc = pthread_create(&w->hands[i].thread, NULL, pool_main,
				    &w->hands[i]);
		if (rc != 0) {
			log_error("pthread_create: %s", strerror(rc));
			goto fail;
		}
		w->hands[i].started = true;
	}
	return SJ_OK;
fail:
	pool_stop(w, NULL);
	pool_free(w);
	return SJ_ENOMEM;
}

void
pool_stop(struct worker *w, struct db *db)
{
	size_t i;

	slots_stop(&w->slots, &w->stop);
	for (i = 0; i < w->nhands; i++) {
		if (w->hands[i].started) {
			pthread_join(w->hands[i].thread, NULL);
			w->hands[i].started = false;
		}
	}
	completer_stop(&w->completer);
	if (w->slots.v != NULL)
		slots_release_queued(&w->slots, db, w->id);
}

void
pool_free(struct worker *w)
{
	slots_free(&w->slots);
	free(w->hands);
	w->hands = NULL;
	w->nhands = 0;
}
