/*
 * The writes of a job's holder, each one statement fenced by (id,
 * lease_owner, lease_epoch, status = 'processing'): progress, checkpoint,
 * completion (one job, or a batch), failure with its retry or backoff,
 * release and deferral.  Zero rows means the holder lost the job, and
 * SJ_ELOST tells it to stop touching it (job.c's DESIGN).  A statement
 * that finishes jobs counts them itself (counters.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "counters.h"
#include "job_internal.h"
#include "jsonv.h"
#include "log.h"
#include "pgarray.h"

/* Formats the fence parameters $1..$3 of lease into params. */
static void
lease_params(const struct job_lease *l, char epoch[24], const char **params)
{
	snprintf(epoch, 24, "%lld", (long long)l->epoch);
	params[0] = l->job_id;
	params[1] = l->worker_id;
	params[2] = epoch;
}

static const struct db_stmt st_progress_leased = {
    "job_progress_leased",
    "UPDATE jobs SET progress = $4::int2, current_step = coalesce($5, "
    "current_step), updated_at = now(), lease_expires_at = now() + "
    "make_interval(secs => $6::int8)" FENCE,
    6};
static const struct db_stmt st_progress_free = {
    "job_progress_free",
    "UPDATE jobs SET progress = $2::int2, current_step = coalesce($3, "
    "current_step), status = 'processing', updated_at = now(), started_at = "
    "coalesce(started_at, now()), claimed_at = coalesce(claimed_at, now()), "
    "lease_owner = coalesce(lease_owner, 'manual'), lease_expires_at = "
    "coalesce(lease_expires_at, now() + make_interval(secs => $4::int8)) "
    "WHERE id = $1 AND status IN ('pending', 'processing')",
    4};

enum sj_err
job_update_progress(struct db *db, const struct cfg *c, const char *id,
		    const struct job_lease *lease, int progress,
		    const char *step)
{
	char prog[16], epoch[24], lease_s[24];
	const char *params[6];

	progress = progress < 0 ? 0 : progress > 100 ? 100 : progress;
	snprintf(prog, sizeof(prog), "%d", progress);
	snprintf(lease_s, sizeof(lease_s), "%lld", (long long)c->lease_seconds);
	if (lease == NULL) {
		params[0] = id;
		params[1] = prog;
		params[2] = step;
		params[3] = lease_s;
		return job_update(db, &st_progress_free, params, SJ_ENOTFOUND,
				  NULL);
	}
	lease_params(lease, epoch, params);
	params[3] = prog;
	params[4] = step;
	params[5] = lease_s;
	return job_update(db, &st_progress_leased, params, SJ_ELOST, NULL);
}

static const struct db_stmt st_checkpoint = {
    "job_checkpoint",
    "UPDATE jobs SET checkpoint = $4::jsonb, updated_at = now(), "
    "lease_expires_at = now() + make_interval(secs => $5::int8)" FENCE,
    5};

enum sj_err
job_save_checkpoint(struct db *db, const struct cfg *c,
		    const struct job_lease *lease,
		    struct json_object *checkpoint)
{
	char epoch[24], lease_s[24];
	const char *params[5];

	lease_params(lease, epoch, params);
	snprintf(lease_s, sizeof(lease_s), "%lld", (long long)c->lease_seconds);
	params[3] =
	    json_object_to_json_string_ext(checkpoint, JSON_C_TO_STRING_PLAIN);
	params[4] = lease_s;
	if (params[3] == NULL)
		return SJ_ENOMEM;
	return job_update(db, &st_checkpoint, params, SJ_ELOST, NULL);
}

/* One completion is a batch of one: one statement completes jobs. */
enum sj_err
job_complete(struct db *db, const struct job_lease *lease,
	     struct json_object *result, const char *step)
{
	struct job_done d = {lease->job_id, lease->epoch, NULL, step, false};
	enum sj_err e;

	d.result =
	    json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN);
	if (d.result == NULL)
		return SJ_ENOMEM;
	e = job_complete_batch(db, lease->worker_id, 1, &d);
	return e != SJ_OK ? e : d.done ? SJ_OK : SJ_ELOST;
}

/* clang-format off */
static const struct db_stmt st_complete_batch = {
    "job_complete_batch",
    "WITH done AS (UPDATE jobs j SET status = 'completed', progress = 100, "
    "current_step = coalesce(u.step, j.current_step), result = u.res, "
    "error_code = NULL, error_message = NULL, completed_at = now(), "
    "updated_at = now(), lease_owner = NULL, lease_expires_at = NULL FROM "
    "unnest($1::text[], $2::int8[], $3::jsonb[], $4::text[]) WITH "
    "ORDINALITY AS u(id, epoch, res, step, n) WHERE j.id = u.id AND "
    "j.status || '' = 'processing' AND j.lease_owner = $5 AND j.lease_epoch "
    "= u.epoch RETURNING u.n, j.type, j.user_id, j.client, 'completed' AS "
    "outcome, NULL::text AS code, j.started_at, date_part('epoch', now() - "
    "j.started_at) AS s), "
    "c AS (" COUNT_FINISHED("done", "completed") "), " COUNT_DONE("done") ", "
    "h AS (" COUNT_DURATIONS("done") ") SELECT n FROM done, cnt",
    5};
/* clang-format on */
/*
 * The completions are counted in the same statement (job_counters and
 * job_durations, see counters.h), so /metrics moves exactly when they
 * commit.  The rows are found by primary key, one per element (the worker's
 * completer runs this on a db_keyed() session, so a small table is not
 * scanned instead).  "status || ''"
 * keeps the planner off jobs_processing_idx, whose predicate the plain
 * test would match: under load that index holds the dead entries of
 * every job the worker finished since the last VACUUM, and a plan that
 * scans it for lease_owner = $5 grows with them (measured: the whole
 * queue slowing from 20,000 to 3,000 jobs/s within 12 s of a continuous
 * load).
 */

enum sj_err
job_complete_batch(struct db *db, const char *worker, size_t n,
		   struct job_done *d)
{
	struct buf a[4];
	const char *params[5];
	PGresult *r = NULL;
	enum sj_err e = SJ_OK;
	char epoch[24];

	for (int k = 0; k < 4; k++) {
		buf_init(&a[k], 256u << 20);
		if (e == SJ_OK)
			e = pgarr_open(&a[k]);
	}
	for (size_t i = 0; i < n && e == SJ_OK; i++) {
		snprintf(epoch, sizeof(epoch), "%lld", (long long)d[i].epoch);
		if ((e = pgarr_quoted(&a[0], d[i].job_id)) == SJ_OK &&
		    (e = pgarr_quoted(&a[1], epoch)) == SJ_OK &&
		    (e = pgarr_quoted(&a[2], d[i].result)) == SJ_OK)
			e = pgarr_quoted(&a[3], d[i].step);
	}
	for (int k = 0; k < 4 && e == SJ_OK; k++)
		if ((e = pgarr_close(&a[k])) == SJ_OK)
			params[k] = a[k].data;
	params[4] = worker;
	if (e == SJ_OK)
		e = db_exec_planned(db, &st_complete_batch, params, &r);
	for (int k = 0; k < 4; k++)
		buf_free(&a[k]);
	if (e != SJ_OK)
		return e;
	for (size_t i = 0; i < n; i++)
		d[i].done = false;
	/* each row written is its position in the arrays, from 1 */
	for (int row = 0; row < PQntuples(r); row++) {
		long long k = db_ll(r, row, 0, 0);

		if (k >= 1 && (size_t)k <= n) {
			d[k - 1].done = true;
			log_job(LOG_LVL_INFO, d[k - 1].job_id, "completed");
		}
	}
	PQclear(r);
	return SJ_OK;
}

/*
 * Backoff min(2^attempts s, 60 s) plus up to 25% jitter, in SQL, but never
 * sooner than the upstream's Retry-After ($7 seconds).  A failure is
 * counted in job_counters, a retry in job_retries by its code.
 */
#define RETRYABLE "($4::bool AND attempts + 1 < max_attempts)"
/* the retry's run_at; the tag follows it (016: never before run_at) */
#define BACKOFF                                                                \
	"(now() + make_interval(secs => greatest(least(power(2, attempts), "   \
	"60) * (1 + x.jitter * 0.25), $7::int8)))"
/* clang-format off */
static const struct db_stmt st_fail = {
    "job_fail",
    "WITH f AS (UPDATE jobs SET attempts = attempts + 1, status = CASE "
    "WHEN " RETRYABLE " THEN 'pending' ELSE 'failed' END, run_at = CASE WHEN " RETRYABLE
    " THEN " BACKOFF " ELSE run_at END, fair_at = CASE WHEN " RETRYABLE
    " THEN greatest(fair_at, " BACKOFF ") ELSE fair_at END, "
    "completed_at = CASE WHEN " RETRYABLE
    " THEN NULL ELSE now() END, error_code = $5, error_message = $6, "
    "updated_at = now(), lease_owner = NULL, lease_expires_at = NULL "
    "FROM (SELECT random() AS jitter) x" FENCE " RETURNING status, type, "
    "run_at, user_id, client, error_code), "
    "c AS (" COUNT_FINISHED("(SELECT type FROM f WHERE status = 'failed') x",
			    "failed") "), "
    COUNT_DONE("(SELECT type, user_id, client, 'failed' AS outcome, "
	       "error_code AS code, NULL::timestamptz AS started_at FROM f "
	       "WHERE status = 'failed') x") ", "
    "r AS (INSERT INTO job_retries (code, shard, n) SELECT coalesce($5, ''), "
    COUNTER_SHARD ", 1 FROM f WHERE status = 'pending' ON CONFLICT (code, "
    "shard) DO UPDATE SET n = job_retries.n + 1) SELECT status, "
    "greatest(" MS("run_at") " - " MS("now()") ", 0) FROM f, cnt",
    7};
/* clang-format on */

#define JOB_MSG_MAX 1024 /* bytes of a stored error message */

/*
 * msg as text PostgreSQL takes, into out: cut to JOB_MSG_MAX between two
 * characters, and any byte that is not part of valid UTF-8 made a '?'.
 * Callers already pass valid text; this is the last line of defence, as
 * a refused message would leave the job to its lease and a rerun.
 */
static void
msg_text(const char *msg, char out[JOB_MSG_MAX + 1])
{
	size_t n = jv_utf8_cut(msg, strnlen(msg, JOB_MSG_MAX + 4), JOB_MSG_MAX);

	memcpy(out, msg, n);
	out[n] = '\0';
	for (size_t i = 0; i < n;) {
		size_t k = jv_utf8_seq(out + i, n - i);

		if (k == 0)
			out[i++] = '?';
		else
			i += k;
	}
}

enum sj_err
job_fail(struct db *db, const struct job_lease *lease, bool transient,
	 long retry_after_s, const char *code, const char *msg,
	 enum job_status *out_status, int64_t *out_delay_ms)
{
	char epoch[24], after[24], text[JOB_MSG_MAX + 1];
	const char *params[7];
	PGresult *r = NULL;
	enum job_status st = JOB_FAILED;
	int64_t delay = 0;
	enum sj_err e;

	if (out_delay_ms != NULL)
		*out_delay_ms = 0;
	if (msg != NULL) {
		msg_text(msg, text);
		msg = text;
	}
	lease_params(lease, epoch, params);
	params[3] = transient ? "true" : "false";
	params[4] = code;
	params[5] = msg;
	snprintf(after, sizeof(after), "%ld",
		 retry_after_s > 0 ? retry_after_s : 0);
	params[6] = after;
	if ((e = job_update(db, &st_fail, params, SJ_ELOST, &r)) != SJ_OK)
		return e;
	if (job_status_parse(db_str(r, 0, 0), &st) != SJ_OK)
		st = JOB_FAILED;
	if (st == JOB_PENDING)
		delay = db_ll(r, 0, 1, 0);
	PQclear(r);
	log_kv(st == JOB_FAILED ? LOG_LVL_WARN : LOG_LVL_INFO, "job",
	       lease->job_id, st == JOB_FAILED ? "failed" : "will retry",
	       LOG_STR("code", code), LOG_STR("error", msg));
	if (out_status != NULL)
		*out_status = st;
	if (out_delay_ms != NULL)
		*out_delay_ms = delay;
	return SJ_OK;
}

static const struct db_stmt st_release = {
    "job_release",
    "WITH r AS (UPDATE jobs SET status = 'pending', run_at = now(), "
    "fair_at = greatest(fair_at, now()), updated_at = now(), "
    "lease_owner = NULL, lease_expires_at = NULL" FENCE
    " RETURNING " NOTICE_COLS ") SELECT " NOTICE_SEND " FROM r",
    3};

enum sj_err
job_release(struct db *db, const struct job_lease *lease)
{
	char epoch[24];
	const char *params[3];

	lease_params(lease, epoch, params);
	return job_update(db, &st_release, params, SJ_ELOST, NULL);
}

/*
 * Like job_release, run_at later: the attempt, the checkpoint and the
 * progress stay; the step says why it waits when given.
 */
static const struct db_stmt st_defer = {
    "job_defer",
    "UPDATE jobs SET status = 'pending', run_at = now() + make_interval("
    "secs => $4::float8 / 1000), fair_at = greatest(fair_at, now() + "
    "make_interval(secs => $4::float8 / 1000)), "
    "current_step = coalesce($5, current_step), "
    "updated_at = now(), lease_owner = NULL, lease_expires_at = NULL" FENCE,
    5};

enum sj_err
job_defer(struct db *db, const struct job_lease *lease, int64_t delay_ms,
	  const char *step)
{
	char epoch[24], delay[24];
	const char *params[5];

	if (delay_ms < 0)
		delay_ms = 0;
	if (delay_ms > JOB_DEFER_MAX_MS)
		delay_ms = JOB_DEFER_MAX_MS;
	lease_params(lease, epoch, params);
	snprintf(delay, sizeof(delay), "%lld", (long long)delay_ms);
	params[3] = delay;
	params[4] = step;
	return job_update(db, &st_defer, params, SJ_ELOST, NULL);
}
