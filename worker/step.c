/*
 * The step helpers: what a handler writes with while it holds a job.
 *
 * DESIGN
 * A handler is a straight line of steps written with the step_* helpers.
 * Each boundary checks, in order: shutdown (the job is released, no
 * attempt spent), the type's timeout (failed with JOB_TIMEOUT), then
 * writes the progress fenced by the lease.  The fence is also how a
 * cancel is confirmed: a cancelled job fences the write out (SJ_ELOST) and
 * is dropped with no further write.  A cancel notice itself only cuts the
 * current pause short, so a forged or stale notice costs nothing.
 *
 * Guarantees: a job in hand ends exactly one way: completed, failed (a
 * retry or final, as job_fail decides), released, deferred (pending
 * again later: no attempt spent, the checkpoint kept), dropped, or left (the
 * database is unusable: no more writes, the lease expires and
 * job_maintain rescues it).  A fenced write that fails for a connection
 * reason is retried with backoff (100 ms doubling to 5 s) until it works,
 * is fenced out, the job's time runs out or the worker stops; the fence
 * makes a retry safe even when the first try did commit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"
#include "num.h"

#include "gen_types.h"
#include "session.h"
#include "step.h"

#define PAUSE_SLICE_MS 100 /* stop and cancel are seen this fast */

enum fence_op {
	FENCE_PROGRESS,
	FENCE_CHECKPOINT,
	FENCE_FAIL,
	FENCE_RELEASE,
	FENCE_DEFER
};

/* One fenced write of a job in hand. */
struct fence {
	enum fence_op op;
	int pct;
	const char *step;
	enum job_status status; /* FENCE_FAIL: what job_fail decided */
};

static bool
stopping(const struct step_ctx *c)
{
	return atomic_load(c->stop);
}

/* Sleeps ms in slices; returns early on stop when heed_stop. */
static void
nap(const struct step_ctx *c, int64_t ms, bool heed_stop)
{
	int64_t s;

	while (ms > 0 && !(heed_stop && stopping(c))) {
		s = ms < PAUSE_SLICE_MS ? ms : PAUSE_SLICE_MS;
		worker_sleep_ms(s);
		ms -= s;
	}
}

static enum sj_err
fence_once(struct step_ctx *c, struct fence *f)
{
	switch (f->op) {
	case FENCE_PROGRESS:
		return job_update_progress(c->db, c->cfg, c->job->id, &c->lease,
					   f->pct, f->step);
	case FENCE_CHECKPOINT:
		return job_save_checkpoint(c->db, c->cfg, &c->lease,
					   c->job->checkpoint);
	case FENCE_FAIL:
		return job_fail(c->db, &c->lease, c->transient,
				c->retry_after_s, c->code, c->msg, &f->status,
				&c->defer_ms);
	case FENCE_RELEASE:
		return job_release(c->db, &c->lease);
	case FENCE_DEFER:
		return job_defer(c->db, &c->lease, c->defer_ms, NULL);
	}
	return SJ_EINVAL;
}

static enum sj_err
fence(struct step_ctx *c, struct fence *f, int64_t deadline_ms)
{
	bool last = f->op == FENCE_FAIL || f->op == FENCE_RELEASE ||
		    f->op == FENCE_DEFER;
	int64_t wait = worker_backoff(0);
	enum sj_err e;

	for (;;) {
		e = fence_once(c, f);
		if (e != SJ_EDB)
			return e;
		if (!worker_db_retryable(c->db)) {
			log_kv(LOG_LVL_ERROR, "job", c->job->id,
			       "database error",
			       LOG_STR("sqlstate", db_sqlstate(c->db)));
			db_reset(c->db);
			c->db_refused = true;
			return SJ_EDB;
		}
		db_reset(c->db);
		if (num_mono_ms() + wait > deadline_ms ||
		    (!last && stopping(c)))
			return SJ_EDB;
		log_kv(LOG_LVL_WARN, "job", c->job->id,
		       "database unreachable; retrying",
		       LOG_INT("retry_ms", wait));
		nap(c, wait, !last);
		wait = worker_backoff(wait);
	}
}

/*
 * Sets c->end for a fenced write that did not succeed.  When the server
 * refused the statement itself (not a connection problem) job_fail() is
 * still tried: it is another statement, and a job left in hand would
 * have its lease renewed by our heartbeats until it times out.
 */
static void
step_lost(struct step_ctx *c, enum sj_err e)
{
	if (e == SJ_ELOST || e == SJ_ENOTFOUND)
		c->end = RUN_DROP;
	else if (e == SJ_EDB && !c->db_refused)
		c->end = RUN_LEAVE;
	else
		step_fail_err(c, e, "Recording progress failed");
}

static bool
step_timed_out(struct step_ctx *c)
{
	if (num_mono_ms() < c->deadline_ms)
		return false;
	step_fail(c, false, "JOB_TIMEOUT",
		  "Job exceeded maximum processing time");
	return true;
}

bool
step_progress(struct step_ctx *c, int pct, const char *step)
{
	struct fence f = {.op = FENCE_PROGRESS, .pct = pct, .step = step};
	bool notice;
	enum sj_err e;

	if (stopping(c)) {
		c->end = RUN_RELEASE;
		return false;
	}
	if (step_timed_out(c))
		return false;
	/* Taken before the write: a notice arriving later stays set. */
	notice = atomic_exchange(&c->slot->cancel, false);
	c->cancel_seen = c->cancel_seen || notice;
	e = fence(c, &f, c->deadline_ms);
	if (e != SJ_OK) {
		step_lost(c, e);
		return false;
	}
	if (notice)
		log_job(LOG_LVL_WARN, c->job->id,
			"cancel notice, but the job is still ours; continuing");
	log_kv(LOG_LVL_DEBUG, "job", c->job->id, "progress",
	       LOG_INT("percent", pct), LOG_STR("step", step));
	return true;
}

bool
step_checkpoint(struct step_ctx *c)
{
	struct fence f = {.op = FENCE_CHECKPOINT};
	enum sj_err e;

	e = fence(c, &f, c->deadline_ms);
	if (e != SJ_OK) {
		step_lost(c, e);
		return false;
	}
	return true;
}

bool
step_abort_cb(void *arg)
{
	const struct step_ctx *c = arg;

	return stopping(c) || atomic_load(&c->slot->cancel) ||
	       num_mono_ms() >= c->deadline_ms;
}

void
step_aborted(struct step_ctx *c)
{
	if (stopping(c)) {
		c->end = RUN_RELEASE;
		return;
	}
	if (step_timed_out(c))
		return;
	c->cancel_seen =
	    c->cancel_seen || atomic_exchange(&c->slot->cancel, false);
	/*
	 * A cancel notice cut the call short.  The fence says whether the
	 * job was really cancelled (dropped) or the notice was stale (the
	 * step is retried later; its checkpoint keeps what was done).
	 */
	if (step_checkpoint(c))
		step_fail(c, true, "EXTERNAL_SERVICE_ERROR",
			  "The upstream call was interrupted");
}

void
step_pause(struct step_ctx *c)
{
	int64_t left = atomic_load(c->delay_ms), s;

	while (left > 0 && !stopping(c) && !atomic_load(&c->slot->cancel)) {
		s = left < PAUSE_SLICE_MS ? left : PAUSE_SLICE_MS;
		worker_sleep_ms(s);
		left -= s;
	}
}

void
step_defer(struct step_ctx *c, int64_t ms, const char *why)
{
	c->end = RUN_DEFER;
	c->defer_ms = ms > 0 ? ms : 0;
	snprintf(c->msg, sizeof(c->msg), "%s", why);
}

bool
step_sleep(struct step_ctx *c, int64_t ms)
{
	nap(c, ms, true);
	if (!stopping(c))
		return true;
	c->end = RUN_RELEASE;
	return false;
}

/*
 * Completing is not a step boundary for shutdown: the result is in hand,
 * so recording it is better than giving the job back.  The completer
 * writes it (and logs a fenced-out job); the thread moves on at once.
 */
void
step_complete(struct step_ctx *c, struct json_object *result, const char *step)
{
	const char *text;
	struct slot *s = c->slot;

	if (step_timed_out(c))
		return;
	text = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN);
	if (text == NULL || (s->result = strdup(text)) == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Recording the result failed");
		return;
	}
	s->has_step = step != NULL;
	snprintf(s->step, sizeof(s->step), "%s", step != NULL ? step : "");
	c->end = RUN_DONE;
}

void
step_fail(struct step_ctx *c, bool transient, const char *code, const char *fmt,
	  ...)
{
	char text[sizeof(c->msg) + 4]; /* the bytes past the cut, to see it */
	va_list ap;
	size_t n;

	c->end = RUN_FAIL;
	c->transient = transient;
	c->code = code;
	va_start(ap, fmt);
	if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	/* PostgreSQL refuses half a character: cut between two */
	n = jv_utf8_cut(text, strlen(text), sizeof(c->msg) - 1);
	memcpy(c->msg, text, n);
	c->msg[n] = '\0';
}

void
step_fail_rec(struct step_ctx *c, const struct gen_fail *f)
{
	step_fail(c, f->transient, f->code, "%s", f->msg);
	if (f->retry_after_s != 0)
		c->retry_after_s = f->retry_after_s;
}

void
step_forgive(struct step_ctx *c)
{
	c->end = RUN_NONE;
	c->transient = false;
	c->retry_after_s = 0;
	c->code = NULL;
	c->msg[0] = '\0';
}

void
step_fail_err(struct step_ctx *c, enum sj_err e, const char *what)
{
	bool transient =
	    e == SJ_EIO || e == SJ_ENOMEM || e == SJ_EDB || e == SJ_ETRANSIENT;

	step_fail(c, transient, "INTERNAL_ERROR", "%s: %s", what,
		  sj_strerror(e));
}

static void
finish_fail(struct step_ctx *c)
{
	struct fence f = {.op = FENCE_FAIL, .status = JOB_FAILED};
	const char *id = c->job->id;
	enum sj_err e;

	/* On success job_fail() logs the outcome itself. */
	e = fence(c, &f, num_mono_ms() + WORKER_LAST_WRITE_MS);
	if (e == SJ_OK)
		return;
	if (e == SJ_ELOST || e == SJ_ENOTFOUND)
		log_kv(LOG_LVL_INFO, "job", id,
		       "fenced out while failing; dropped",
		       LOG_STR("code", c->code));
	else
		log_kv(LOG_LVL_ERROR, "job", id,
		       "could not record the failure; the lease will expire",
		       LOG_STR("code", c->code), LOG_STR("message", c->msg),
		       LOG_STR("error", sj_strerror(e)));
}

static void
finish_release(struct step_ctx *c)
{
	struct fence f = {.op = FENCE_RELEASE};
	const char *id = c->job->id;
	enum sj_err e;

	e = fence(c, &f, num_mono_ms() + WORKER_LAST_WRITE_MS);
	if (e == SJ_OK)
		log_job(LOG_LVL_INFO, id, "released (worker stopping)");
	else if (e == SJ_ELOST || e == SJ_ENOTFOUND)
		log_job(LOG_LVL_INFO, id,
			"fenced out while releasing; dropped");
	else
		log_job(LOG_LVL_ERROR, id,
			"could not release: %s; the lease will expire",
			sj_strerror(e));
}

static void
finish_defer(struct step_ctx *c)
{
	struct fence f = {.op = FENCE_DEFER};
	const char *id = c->job->id;
	enum sj_err e;

	e = fence(c, &f, num_mono_ms() + WORKER_LAST_WRITE_MS);
	if (e == SJ_OK)
		log_kv(LOG_LVL_INFO, "job", id, "deferred",
		       LOG_INT("ms", c->defer_ms), LOG_STR("why", c->msg));
	else if (e == SJ_ELOST || e == SJ_ENOTFOUND)
		log_job(LOG_LVL_INFO, id,
			"fenced out while deferring; dropped");
	else
		log_job(LOG_LVL_ERROR, id,
			"could not defer: %s; the lease will expire",
			sj_strerror(e));
}

void
step_finish(struct step_ctx *c)
{
	const char *id = c->job->id;

	switch (c->end) {
	case RUN_NONE:
		step_fail(c, false, "INTERNAL_ERROR",
			  "The job ended without a result");
		/* FALLTHROUGH */
	case RUN_FAIL:
		finish_fail(c);
		break;
	case RUN_DONE: /* the completer logs "completed" once written */
		log_kv(LOG_LVL_DEBUG, "job", id, "finished",
		       LOG_INT("ms", num_mono_ms() - c->taken_ms));
		break;
	case RUN_RELEASE:
		finish_release(c);
		break;
	case RUN_DEFER:
		finish_defer(c);
		break;
	case RUN_DROP:
		if (c->cancel_seen)
			log_job(LOG_LVL_INFO, id, "cancelled; dropped");
		else
			log_job(LOG_LVL_INFO, id,
				"lease lost (cancelled, timed out or "
				"expired); dropped");
		break;
	case RUN_LEAVE:
		log_job(LOG_LVL_ERROR, id,
			"database error; left for its lease to expire");
		break;
	}
}
