/*
 * The slots of claimed jobs and their run queue.
 *
 * DESIGN
 * The worker holds up to MAX_CONCURRENT_JOBS + PREFETCH_JOBS claimed
 * jobs, each in a slot.  The main thread is the only producer: it claims
 * as many jobs as there are free slots (within each type's concurrency)
 * and queues them in claim order (slots_submit); a free job thread
 * (pool.c) takes the next queued one (slots_take).  A completed job's
 * slot is freed by the completer once its result is written; any other
 * outcome frees the slot at once (slots_done).  Freeing a slot writes a
 * byte to a self-pipe when main should claim again: once per claim, when
 * the slots held fall to the low mark (half the jobs claimed ahead taken,
 * or with PREFETCH_JOBS=0 a thread free) or a type at its cap gets room.
 * One mutex guards the queue, the slot states and the counters; threads
 * wait on one condition variable, signalled once per queued job.
 *
 * A job claimed ahead waits in this worker: its lease is renewed with
 * the others', its timeout runs from the claim (as the row's does), a
 * cancel notice flags it like a running one, and on shutdown it is given
 * back untouched (slots_release_queued).  So claiming ahead suits only
 * jobs of milliseconds; the default is none.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "num.h"
#include "pgarray.h"

#include "slots.h"

enum sj_err
slots_init(struct slots *q, const struct cfg *cfg, size_t n,
	   const bool runs[JOB_TYPE_MAX])
{
	int fds[2];
	size_t i;

	memset(q, 0, sizeof(*q));
	q->cfg = cfg;
	memcpy(q->runs, runs, sizeof(q->runs));
	q->wake_rd = q->wake_wr = -1;
	if (pthread_mutex_init(&q->mu, NULL) != 0)
		return SJ_ENOMEM;
	if (pthread_cond_init(&q->work, NULL) != 0) {
		pthread_mutex_destroy(&q->mu);
		return SJ_ENOMEM;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error("pipe2: %s", strerror(errno));
		goto fail;
	}
	q->wake_rd = fds[0];
	q->wake_wr = fds[1];
	if ((q->v = calloc(n, sizeof(*q->v))) == NULL)
		goto fail;
	q->n = n;
	for (i = n; i-- > 0;) {
		atomic_init(&q->v[i].cancel, false);
		q->v[i].next = q->free_slots;
		q->free_slots = &q->v[i];
	}
	/*
	 * Claim again once half the jobs claimed ahead are taken (or, with
	 * none claimed ahead, as soon as a thread is free).
	 */
	q->low_mark =
	    (int)(n - (cfg->prefetch_jobs > 1 ? (size_t)cfg->prefetch_jobs / 2
					      : 1));
	return SJ_OK;
fail:
	slots_free(q);
	return SJ_ENOMEM;
}

void
slots_free(struct slots *q)
{
	for (size_t i = 0; i < q->n; i++) {
		job_free(&q->v[i].job);
		free(q->v[i].result);
	}
	free(q->v);
	q->v = q->free_slots = q->qhead = q->qtail = NULL;
	q->n = 0;
	if (q->wake_rd >= 0)
		close(q->wake_rd);
	if (q->wake_wr >= 0)
		close(q->wake_wr);
	q->wake_rd = q->wake_wr = -1;
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->mu);
}

struct slot *
slots_take(struct slots *q, const atomic_bool *stop)
{
	struct slot *s;

	pthread_mutex_lock(&q->mu);
	while (q->qhead == NULL && !atomic_load(stop))
		pthread_cond_wait(&q->work, &q->mu);
	s = atomic_load(stop) ? NULL : q->qhead;
	if (s != NULL) {
		q->qhead = s->next;
		if (q->qhead == NULL)
			q->qtail = NULL;
		s->next = NULL;
		s->state = SLOT_RUNNING;
	}
	pthread_mutex_unlock(&q->mu);
	return s;
}

void
slots_stop(struct slots *q, atomic_bool *stop)
{
	pthread_mutex_lock(&q->mu);
	atomic_store(stop, true);
	pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->mu);
}

/* Under q->mu: whether freeing a slot of type t should wake main. */
static bool
wake_due(struct slots *q, enum job_type t)
{
	if (q->wake_sent)
		return false;
	/* the mark, or the type was at its cap and now has room */
	return q->held <= q->low_mark ||
	       q->held_type[t] == q->cfg->types[t].concurrency - 1;
}

void
slots_done(struct slots *q, struct slot *s)
{
	bool wake;

	job_free(&s->job);
	memset(&s->job, 0, sizeof(s->job));
	free(s->result);
	s->result = NULL;
	pthread_mutex_lock(&q->mu);
	s->state = SLOT_FREE;
	s->job_id[0] = '\0';
	q->held--;
	q->held_type[s->type]--;
	s->next = q->free_slots;
	q->free_slots = s;
	wake = wake_due(q, s->type);
	q->wake_sent = q->wake_sent || wake;
	pthread_mutex_unlock(&q->mu);
	if (wake && write(q->wake_wr, "", 1) < 0) {
		/* EAGAIN: the pipe is full, so main is awake anyway. */
	}
}

/* Index of the latest time in q->claim_at (n_claim_at > 0); under mu. */
static size_t
claim_at_latest(const struct slots *q)
{
	size_t k = 0;

	for (size_t i = 1; i < q->n_claim_at; i++)
		if (q->claim_at[i] > q->claim_at[k])
			k = i;
	return k;
}

void
slots_claim_at(struct slots *q, int64_t at_ms)
{
	int64_t g = SLOTS_CLAIM_AT_GRAIN_MS;
	bool kept = false;

	/* up to the grain (floor division: at_ms may be negative) */
	at_ms = at_ms <= INT64_MAX - g ? at_ms + g - 1 : INT64_MAX;
	at_ms -= ((at_ms % g) + g) % g;
	pthread_mutex_lock(&q->mu);
	for (size_t i = 0; i < q->n_claim_at && !kept; i++)
		kept = q->claim_at[i] == at_ms;
	if (kept) {
		/* that wake-up is booked already */
	} else if (q->n_claim_at < SLOTS_CLAIM_AT_MAX) {
		q->claim_at[q->n_claim_at++] = at_ms;
	} else {
		size_t k = claim_at_latest(q);

		if (at_ms < q->claim_at[k])
			q->claim_at[k] = at_ms;
	}
	pthread_mutex_unlock(&q->mu);
	/* main recomputes its wait when woken */
	if (write(q->wake_wr, "", 1) < 0) {
		/* EAGAIN: the pipe is full, so main is awake anyway. */
	}
}

int64_t
slots_claim_due(struct slots *q, int64_t now_ms)
{
	int64_t first = 0;
	size_t kept = 0;
	bool due;

	pthread_mutex_lock(&q->mu);
	for (size_t i = 0; i < q->n_claim_at; i++)
		if (first == 0 || q->claim_at[i] < first)
			first = q->claim_at[i];
	due = first != 0 && first <= now_ms;
	for (size_t i = 0; due && i < q->n_claim_at; i++)
		if (q->claim_at[i] > now_ms)
			q->claim_at[kept++] = q->claim_at[i];
	if (due)
		q->n_claim_at = kept;
	pthread_mutex_unlock(&q->mu);
	return first;
}

int
slots_room(struct slots *q, int per_type[JOB_TYPE_MAX])
{
	int room;

	pthread_mutex_lock(&q->mu);
	/* above the low mark the batch would be small: wait for the mark */
	room = q->held <= q->low_mark ? (int)q->n - q->held : 0;
	for (int t = 0; t < JOB_TYPE_MAX; t++) {
		int64_t f = q->cfg->types[t].concurrency - q->held_type[t];

		if (!q->runs[t] || f < 0)
			f = 0;
		per_type[t] = (int)(f < room ? f : room);
	}
	q->wake_sent = false;
	pthread_mutex_unlock(&q->mu);
	return room;
}

size_t
slots_submit(struct slots *q, struct job *js, size_t n)
{
	int64_t now = num_mono_ms();
	size_t i;

	pthread_mutex_lock(&q->mu);
	for (i = 0; i < n && q->free_slots != NULL; i++) {
		struct slot *s = q->free_slots;

		if ((unsigned)js[i].type >= JOB_TYPE_MAX)
			break;
		q->free_slots = s->next;
		s->job = js[i];
		memset(&js[i], 0, sizeof(js[i]));
		snprintf(s->job_id, sizeof(s->job_id), "%s", s->job.id);
		s->type = s->job.type;
		s->claimed_ms = now;
		atomic_store(&s->cancel, false);
		s->state = SLOT_QUEUED;
		s->next = NULL;
		if (q->qtail != NULL)
			q->qtail->next = s;
		else
			q->qhead = s;
		q->qtail = s;
		q->held++;
		q->held_type[s->type]++;
	}
	if (i == 1)
		pthread_cond_signal(&q->work);
	else if (i > 1)
		pthread_cond_broadcast(&q->work);
	pthread_mutex_unlock(&q->mu);
	return i;
}

bool
slots_cancel(struct slots *q, const char *job_id)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&q->mu);
	for (i = 0; i < q->n; i++) {
		struct slot *s = &q->v[i];

		if (s->state != SLOT_FREE && strcmp(s->job_id, job_id) == 0) {
			atomic_store(&s->cancel, true);
			found = true;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return found;
}

int
slots_held(struct slots *q)
{
	int n;

	pthread_mutex_lock(&q->mu);
	n = q->held;
	pthread_mutex_unlock(&q->mu);
	return n;
}

enum sj_err
slots_job_ids(struct slots *q, struct buf *out)
{
	enum sj_err e = pgarr_open(out);

	pthread_mutex_lock(&q->mu);
	for (size_t i = 0; i < q->n && e == SJ_OK; i++)
		if (q->v[i].state != SLOT_FREE)
			e = pgarr_str(out, q->v[i].job_id);
	pthread_mutex_unlock(&q->mu);
	return e == SJ_OK ? pgarr_close(out) : e;
}

void
slots_release_queued(struct slots *q, struct db *db, const char *worker_id)
{
	struct slot *s;
	enum sj_err e;

	while ((s = q->qhead) != NULL) {
		struct job_lease lease = {s->job.id, worker_id,
					  s->job.lease_epoch};

		q->qhead = s->next;
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
		slots_done(q, s);
	}
	q->qtail = NULL;
}
