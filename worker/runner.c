/*
 * The job threads and the step helpers.
 *
 * DESIGN
 * The worker holds up to MAX_CONCURRENT_JOBS + PREFETCH_JOBS claimed
 * jobs, each in a slot, and runs one thread per MAX_CONCURRENT_JOBS.  The
 * main thread is the only producer: it claims as many jobs as there are
 * free slots (within each type's concurrency) and queues them in claim
 * order (runner_submit); a free thread takes the next queued job, runs
 * the type's handler and records the outcome.  A completed job's result
 * goes to the completer (completer.c), which writes results in batches
 * and then frees their slots; any other outcome frees the slot at once.
 * Freeing a slot writes a byte to a self-pipe when main should claim
 * again: once per claim, when the slots held fall to the low mark (half
 * the jobs claimed ahead taken, or with PREFETCH_JOBS=0 a thread free)
 * or a type at its cap gets room.  One mutex guards the queue, the slot
 * states and the counters; threads wait on one condition variable,
 * signalled once per queued job.  Each thread opens its own database
 * session on its first job, so no PGconn is ever shared and the main
 * thread's LISTEN session is never used for work.
 *
 * A job claimed ahead waits in this worker: its lease is renewed with
 * the others', its timeout runs from the claim (as the row's does), a
 * cancel notice flags it like a running one, and on shutdown it is given
 * back untouched.  So claiming ahead suits only jobs of milliseconds; the
 * default is none.
 *
 * A handler is a straight line of steps written with the step_* helpers.
 * Each boundary checks, in order: shutdown (the job is released, no
 * attempt spent), the type's timeout (failed with JOB_TIMEOUT), then
 * writes the progress fenced by the lease.  The fence is also how a
 * cancel is confirmed: a cancelled job fences the write out (SJ_ELOST) and
 * is dropped with no further write.  A cancel notice itself only cuts the
 * current pause short, so a forged or stale notice costs nothing.
 *
 * Guarantees: a job in hand ends exactly one way: completed, failed (a
 * retry or final, as job_fail decides), released, dropped, or left (the
 * database is unusable: no more writes, the lease expires and
 * job_maintain rescues it).  A fenced write that fails for a connection
 * reason is retried with backoff (100 ms doubling to 5 s) until it works,
 * is fenced out, the job's time runs out or the worker stops; the fence
 * makes a retry safe even when the first try did commit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsonv.h"
#include "log.h"
#include "worker.h"

#define PAUSE_SLICE_MS 100 /* stop and cancel are seen this fast */

enum fence_op { FENCE_PROGRESS, FENCE_CHECKPOINT, FENCE_FAIL, FENCE_RELEASE };

/* One fenced write of a job in hand. */
struct fence {
	enum fence_op op;
	int pct;
	const char *step;
	enum job_status status; /* FENCE_FAIL: what job_fail decided */
};

void
worker_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool
stopping(const struct step_ctx *c)
{
	return atomic_load(&c->w->stop);
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
				c->retry_after_s, c->code, c->msg, &f->status);
	case FENCE_RELEASE:
		return job_release(c->db, &c->lease);
	}
	return SJ_EINVAL;
}

/*
 * Whether a failed statement is worth another try: the session broke, or
 * the server said connection trouble (08), rollback (40), resources (53),
 * operator intervention such as a restart or statement timeout (57) or a
 * system error (58).  A data or syntax error would fail the same way.
 */
bool
worker_db_retryable(struct db *db)
{
	static const char *const classes[] = {"08", "40", "53", "57", "58"};
	const char *s = db_sqlstate(db);
	size_t i;

	if (!db_alive(db) || s == NULL || s[0] == '\0')
		return true;
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strncmp(s, classes[i], 2) == 0)
			return true;
	return false;
}

static enum sj_err
fence(struct step_ctx *c, struct fence *f, int64_t deadline_ms)
{
	bool last = f->op == FENCE_FAIL || f->op == FENCE_RELEASE;
	int64_t wait = WORKER_RETRY_MIN_MS;
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
		wait = wait * 2 > WORKER_RETRY_MAX_MS ? WORKER_RETRY_MAX_MS
						      : wait * 2;
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
	int64_t left = atomic_load(&c->w->delay_ms), s;

	while (left > 0 && !stopping(c) && !atomic_load(&c->slot->cancel)) {
		s = left < PAUSE_SLICE_MS ? left : PAUSE_SLICE_MS;
		worker_sleep_ms(s);
		left -= s;
	}
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
runner_finish(struct step_ctx *c)
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

/*
 * Runs the job of slot s on the thread's session *dbp (opened on first
 * use).  Returns true when the result went to the completer, which then
 * owns the slot.
 */
static bool
runner_run(struct worker *w, struct slot *s, struct db **dbp)
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
	c.w = w;
	c.slot = s;
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
	runner_finish(&c);
	if (c.end == RUN_DONE) {
		completer_push(w, s);
		return true;
	}
	free(s->result);
	s->result = NULL;
	return false;
}

/* Waits for a queued job; NULL when the pool stops. */
static struct slot *
runner_take(struct worker *w)
{
	struct slot *s;

	pthread_mutex_lock(&w->mu);
	while (w->qhead == NULL && !atomic_load(&w->stop))
		pthread_cond_wait(&w->work, &w->mu);
	s = atomic_load(&w->stop) ? NULL : w->qhead;
	if (s != NULL) {
		w->qhead = s->next;
		if (w->qhead == NULL)
			w->qtail = NULL;
		s->next = NULL;
		s->state = SLOT_RUNNING;
	}
	pthread_mutex_unlock(&w->mu);
	return s;
}

/* Under w->mu: whether freeing a slot of type t should wake main. */
static bool
wake_due(struct worker *w, enum job_type t)
{
	if (w->wake_sent)
		return false;
	/* the mark, or the type was at its cap and now has room */
	return w->held <= w->low_mark ||
	       w->held_type[t] == w->cfg->types[t].concurrency - 1;
}

void
runner_slot_done(struct worker *w, struct slot *s)
{
	bool wake;

	job_free(&s->job);
	memset(&s->job, 0, sizeof(s->job));
	free(s->result);
	s->result = NULL;
	pthread_mutex_lock(&w->mu);
	s->state = SLOT_FREE;
	s->job_id[0] = '\0';
	w->held--;
	w->held_type[s->type]--;
	s->next = w->free_slots;
	w->free_slots = s;
	wake = wake_due(w, s->type);
	w->wake_sent = w->wake_sent || wake;
	pthread_mutex_unlock(&w->mu);
	if (wake && write(w->wake_wr, "", 1) < 0) {
		/* EAGAIN: the pipe is full, so main is awake anyway. */
	}
}

static void *
runner_main(void *arg)
{
	struct hand *h = arg;
	struct worker *w = h->w;
	struct db *db = NULL;
	struct slot *s;

	while ((s = runner_take(w)) != NULL)
		if (!runner_run(w, s, &db))
			runner_slot_done(w, s);
	if (db != NULL)
		db_close(db);
	return NULL;
}

enum sj_err
runner_start(struct worker *w)
{
	int fds[2], rc;
	size_t i, n = (size_t)w->cfg->max_concurrent_jobs;
	size_t ns = n + (size_t)w->cfg->prefetch_jobs;

	w->wake_rd = w->wake_wr = -1;
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		return SJ_ENOMEM;
	if (pthread_cond_init(&w->work, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		return SJ_ENOMEM;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error("pipe2: %s", strerror(errno));
		goto fail;
	}
	w->wake_rd = fds[0];
	w->wake_wr = fds[1];
	if ((w->hands = calloc(n, sizeof(*w->hands))) == NULL ||
	    (w->slots = calloc(ns, sizeof(*w->slots))) == NULL)
		goto fail;
	w->nhands = n;
	w->nslots = ns;
	for (i = ns; i-- > 0;) {
		atomic_init(&w->slots[i].cancel, false);
		w->slots[i].next = w->free_slots;
		w->free_slots = &w->slots[i];
	}
	/*
	 * Claim again once half the jobs claimed ahead are taken (or, with
	 * none claimed ahead, as soon as a thread is free).
	 */
	w->low_mark = (int)(ns - (w->cfg->prefetch_jobs > 1
				      ? (size_t)w->cfg->prefetch_jobs / 2
				      : 1));
	if (completer_start(w) != SJ_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		w->hands[i].w = w;
		rc = pthread_create(&w->hands[i].thread, NULL, runner_main,
				    &w->hands[i]);
		if (rc != 0) {
			log_error("pthread_create: %s", strerror(rc));
			goto fail;
		}
		w->hands[i].started = true;
	}
	return SJ_OK;
fail:
	runner_stop(w, NULL);
	runner_free(w);
	return SJ_ENOMEM;
}

int
runner_room(struct worker *w, int per_type[JOB_TYPE_MAX])
{
	int room;

	pthread_mutex_lock(&w->mu);
	/* above the low mark the batch would be small: wait for the mark */
	room = w->held <= w->low_mark ? (int)w->nslots - w->held : 0;
	for (int t = 0; t < JOB_TYPE_MAX; t++) {
		int64_t f = w->cfg->types[t].concurrency - w->held_type[t];

		if (steps_handler(w->cfg, (enum job_type)t) == NULL || f < 0)
			f = 0;
		per_type[t] = (int)(f < room ? f : room);
	}
	w->wake_sent = false;
	pthread_mutex_unlock(&w->mu);
	return room;
}

size_t
runner_submit(struct worker *w, struct job *js, size_t n)
{
	int64_t now = num_mono_ms();
	size_t i;

	pthread_mutex_lock(&w->mu);
	for (i = 0; i < n && w->free_slots != NULL; i++) {
		struct slot *s = w->free_slots;

		if ((unsigned)js[i].type >= JOB_TYPE_MAX)
			break;
		w->free_slots = s->next;
		s->job = js[i];
		memset(&js[i], 0, sizeof(js[i]));
		snprintf(s->job_id, sizeof(s->job_id), "%s", s->job.id);
		s->type = s->job.type;
		s->claimed_ms = now;
		atomic_store(&s->cancel, false);
		s->state = SLOT_QUEUED;
		s->next = NULL;
		if (w->qtail != NULL)
			w->qtail->next = s;
		else
			w->qhead = s;
		w->qtail = s;
		w->held++;
		w->held_type[s->type]++;
	}
	if (i == 1)
		pthread_cond_signal(&w->work);
	else if (i > 1)
		pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	return i;
}

bool
runner_cancel(struct worker *w, const char *job_id)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&w->mu);
	for (i = 0; i < w->nslots; i++) {
		struct slot *s = &w->slots[i];

		if (s->state != SLOT_FREE && strcmp(s->job_id, job_id) == 0) {
			atomic_store(&s->cancel, true);
			found = true;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return found;
}

int
runner_held(struct worker *w)
{
	int n;

	pthread_mutex_lock(&w->mu);
	n = w->held;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void
runner_job_ids(struct worker *w, char *out, size_t outsz)
{
	size_t len = 1;

	out[0] = '{';
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < w->nslots; i++) {
		const struct slot *s = &w->slots[i];

		if (s->state == SLOT_FREE || len + JOB_ID_MAX + 2 > outsz)
			continue;
		len += (size_t)snprintf(out + len, outsz - len, "%s%s",
					len > 1 ? "," : "", s->job_id);
	}
	pthread_mutex_unlock(&w->mu);
	snprintf(out + len, outsz - len, "}");
}

/* After the threads are joined: gives every queued job back. */
static void
runner_release_queued(struct worker *w, struct db *db)
{
	struct slot *s;
	enum sj_err e;

	while ((s = w->qhead) != NULL) {
		struct job_lease lease = {s->job.id, w->id, s->job.lease_epoch};

		w->qhead = s->next;
		e = db != NULL ? job_release(db, &lease) : SJ_EDB;
		if (e == SJ_OK)
			log_job(LOG_LVL_INFO, s->job.id,
				"released before it started (worker stopping)");
		else if (e == SJ_ELOST || e == SJ_ENOTFOUND)
			log_job(LOG_LVL_INFO, s->job.id,
				"cancelled or rescued before it started; "
				"dropped");
		else
			log_job(LOG_LVL_WARN, s->job.id,
				"could not release: %s; the lease will expire",
				sj_strerror(e));
		runner_slot_done(w, s);
	}
	w->qtail = NULL;
}

void
runner_stop(struct worker *w, struct db *db)
{
	size_t i;

	pthread_mutex_lock(&w->mu);
	atomic_store(&w->stop, true);
	pthread_cond_broadcast(&w->work);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->nhands; i++) {
		if (w->hands[i].started) {
			pthread_join(w->hands[i].thread, NULL);
			w->hands[i].started = false;
		}
	}
	completer_stop(w);
	if (w->slots != NULL)
		runner_release_queued(w, db);
}

void
runner_free(struct worker *w)
{
	for (size_t i = 0; i < w->nslots; i++) {
		job_free(&w->slots[i].job);
		free(w->slots[i].result);
	}
	free(w->slots);
	free(w->hands);
	w->slots = w->free_slots = w->qhead = w->qtail = NULL;
	w->hands = NULL;
	w->nhands = w->nslots = 0;
	if (w->wake_rd >= 0)
		close(w->wake_rd);
	if (w->wake_wr >= 0)
		close(w->wake_wr);
	w->wake_rd = w->wake_wr = -1;
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
}
