/*
 * DESIGN
 * Each state change of a job is one SQL statement, so there is never a
 * transaction open across anything slow.  Worker writes are fenced by
 * (id, lease_owner, lease_epoch, status = 'processing'): zero rows means
 * the worker lost the job (lease expired and rescued, cancelled, timed
 * out) and SJ_ELOST tells it to stop touching it.  A new job's NOTIFY is
 * sent right after its insert commits (job_start in job_api.c); other
 * changes notify from the statement itself, so the notice is delivered
 * only if that commits.  Likewise a statement that finishes jobs counts
 * them for /metrics itself (counters.h): a counter never runs ahead of
 * or behind the rows, and pruning the rows leaves it alone.
 * Timestamps cross the wire as unix milliseconds.  This file holds the
 * record (names, ids, reads, cancel, retry); the writes of a job's
 * holder, fenced by its lease, are job_lease.c's.
 */
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "job_internal.h"
#include "log.h"
#include "num.h"

static const char *const status_names[JOB_STATUS_MAX] = {
    "pending", "processing", "completed", "failed", "cancelled"};

const char *
job_status_name(enum job_status s)
{
	return (unsigned)s < JOB_STATUS_MAX ? status_names[s] : "unknown";
}

enum sj_err
job_status_parse(const char *s, enum job_status *out)
{
	for (int i = 0; i < JOB_STATUS_MAX; i++)
		if (s != NULL && strcmp(s, status_names[i]) == 0) {
			*out = (enum job_status)i;
			return SJ_OK;
		}
	return SJ_EINVAL;
}

bool
job_status_terminal(enum job_status s)
{
	return s == JOB_COMPLETED || s == JOB_FAILED || s == JOB_CANCELLED;
}

enum sj_err
job_id_new(char out[JOB_ID_MAX])
{
	static const char alpha[] = "0123456789abcdefghijklmnopqrstuv";
	unsigned char rnd[13];
	char tail[21];
	struct timespec ts;
	long long ms;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return SJ_EIO;
	/* 20 chars x 5 bits = 100 bits from the first 100 bits of rnd */
	for (int i = 0; i < 20; i++) {
		int bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v =
		    ((unsigned)rnd[byte] << 8 | rnd[byte + 1]) >> (11 - shift);
		tail[i] = alpha[v & 31];
	}
	tail[20] = '\0';
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	snprintf(out, JOB_ID_MAX, "job_%lld_%s", ms, tail);
	return SJ_OK;
}

bool
job_id_valid(const char *s)
{
	size_t digits = 0, tail = 0, len;

	if (s == NULL || (len = strlen(s)) >= JOB_ID_MAX ||
	    strncmp(s, "job_", 4) != 0)
		return false;
	for (s += 4; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (digits == 0 || digits > 20 || *s++ != '_')
		return false;
	for (; (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'); s++)
		tail++;
	return tail > 0 && *s == '\0';
}

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct json_object *
json_or_null(const char *s)
{
	return s ? json_tokener_parse(s) : NULL;
}

/* Fills j from row; the columns are JOB_COLS. */
enum sj_err
job_from_row(const PGresult *r, int row, struct job *j)
{
	memset(j, 0, sizeof(*j));
	snprintf(j->id, sizeof(j->id), "%s", db_str(r, row, 0));
	if (job_type_parse(db_str(r, row, 1), &j->type) != SJ_OK ||
	    job_status_parse(db_str(r, row, 2), &j->status) != SJ_OK)
		return SJ_EDB;
	j->progress = (int)db_ll(r, row, 3, 0);
	j->user_id = db_ll(r, row, 5, 0);
	j->priority = (int)db_ll(r, row, 6, 0);
	j->attempts = (int)db_ll(r, row, 7, 0);
	j->max_attempts = (int)db_ll(r, row, 8, 1);
	j->lease_epoch = db_ll(r, row, 9, 0);
	j->timeout_s = db_ll(r, row, 10, 0);
	j->created_ms = db_ll(r, row, 16, 0);
	j->updated_ms = db_ll(r, row, 17, 0);
	j->started_ms = db_ll(r, row, 18, 0);
	j->completed_ms = db_ll(r, row, 19, 0);
	j->run_at_ms = db_ll(r, row, 20, 0);
	j->fair_at_ms = db_ll(r, row, 21, 0);
	j->current_step = dup_or_null(db_str(r, row, 4));
	j->error_code = dup_or_null(db_str(r, row, 14));
	j->error_message = dup_or_null(db_str(r, row, 15));
	j->input = json_or_null(db_str(r, row, 11));
	j->result = json_or_null(db_str(r, row, 12));
	j->checkpoint = json_or_null(db_str(r, row, 13));
	if ((db_str(r, row, 4) && !j->current_step) ||
	    (db_str(r, row, 14) && !j->error_code) ||
	    (db_str(r, row, 15) && !j->error_message) || j->input == NULL) {
		job_free(j);
		return SJ_ENOMEM;
	}
	return SJ_OK;
}

/* Reads every row of r into a new list. */
enum sj_err
job_rows(const PGresult *r, struct job_list *out)
{
	int n = PQntuples(r);
	enum sj_err e;

	out->jobs = NULL;
	out->n = 0;
	if (n == 0)
		return SJ_OK;
	if ((out->jobs = calloc((size_t)n, sizeof(struct job))) == NULL)
		return SJ_ENOMEM;
	for (int i = 0; i < n; i++) {
		if ((e = job_from_row(r, i, &out->jobs[i])) != SJ_OK) {
			job_list_free(out);
			return e;
		}
		out->n++;
	}
	return SJ_OK;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->current_step);
	free(j->error_code);
	free(j->error_message);
	json_object_put(j->input);
	json_object_put(j->result);
	json_object_put(j->checkpoint);
	j->current_step = j->error_code = j->error_message = NULL;
	j->input = j->result = j->checkpoint = NULL;
}

void
job_list_free(struct job_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		job_free(&l->jobs[i]);
	free(l->jobs);
	l->jobs = NULL;
	l->n = 0;
}

static const struct db_stmt st_get = {
    "job_get", "SELECT " JOB_COLS " FROM jobs WHERE id = $1", 1};

enum sj_err
job_get(struct db *db, const char *id, struct job *out)
{
	PGresult *r = NULL;
	enum sj_err e;
	const char *params[1] = {id};

	if (!job_id_valid(id))
		return SJ_ENOTFOUND;
	if ((e = db_exec(db, &st_get, params, &r)) != SJ_OK)
		return e;
	e = PQntuples(r) == 1 ? job_from_row(r, 0, out) : SJ_ENOTFOUND;
	PQclear(r);
	return e;
}

static const struct db_stmt st_list = {
    "job_list",
    "SELECT " JOB_COLS " FROM jobs WHERE ($1::int8 = 0 OR user_id = $1) "
    "AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR type = "
    "$3) AND ($4::text IS NULL OR (created_at, id) < (SELECT created_at, id "
    "FROM jobs WHERE id = $4)) ORDER BY created_at DESC, id DESC LIMIT "
    "$5::int4",
    5};

enum sj_err
job_list(struct db *db, const struct job_filter *f, struct job_list *out)
{
	char uid[24], lim[16];
	const char *params[5];
	PGresult *r = NULL;
	enum sj_err e;

	out->jobs = NULL;
	out->n = 0;
	snprintf(uid, sizeof(uid), "%lld", (long long)f->user_id);
	snprintf(lim, sizeof(lim), "%d",
		 f->limit < 1	  ? 20
		 : f->limit > 100 ? 100
				  : f->limit);
	params[0] = uid;
	params[1] = f->has_status ? job_status_name(f->status) : NULL;
	params[2] = f->has_type ? job_type_name(f->type) : NULL;
	params[3] = f->before;
	params[4] = lim;
	if ((e = db_exec(db, &st_list, params, &r)) != SJ_OK)
		return e;
	e = job_rows(r, out);
	PQclear(r);
	return e;
}

/* Runs a fenced or keyed UPDATE; zero rows is miss. */
enum sj_err
job_update(struct db *db, const struct db_stmt *st, const char *const *params,
	   enum sj_err miss, PGresult **res)
{
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = db_exec(db, st, params, &r)) != SJ_OK)
		return e;
	if (db_rows(r) == 0) {
		PQclear(r);
		return miss;
	}
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return SJ_OK;
}

/* Zero rows changed: tell a missing job from one in the wrong state. */
enum sj_err
job_missing_or_conflict(struct db *db, const char *id)
{
	struct job j;
	enum sj_err e = job_get(db, id, &j);

	if (e != SJ_OK)
		return e;
	job_free(&j);
	return SJ_ECONFLICT;
}

/* clang-format off */
static const struct db_stmt st_cancel = {
    "job_cancel",
    "WITH c AS (UPDATE jobs SET status = 'cancelled', current_step = "
    "'Cancelled', completed_at = now(), updated_at = now(), lease_owner = "
    "NULL, lease_expires_at = NULL WHERE id = $1 AND status IN ('pending', "
    "'processing') RETURNING id, type, user_id, client), "
    "n AS (" COUNT_FINISHED("c", "cancelled") "), "
    COUNT_DONE("(SELECT type, user_id, client, 'cancelled' AS outcome, "
	       "NULL::text AS code, NULL::timestamptz AS started_at FROM c) x")
    " SELECT pg_notify('"
    JOB_CHANNEL_CANCEL "', c.id) FROM c, cnt",
    1};
/* clang-format on */

enum sj_err
job_cancel(struct db *db, const char *id, enum job_status *out_status)
{
	const char *params[1] = {id};
	enum sj_err e;

	if (!job_id_valid(id))
		return SJ_ENOTFOUND;
	e = job_update(db, &st_cancel, params, SJ_ECONFLICT, NULL);
	if (e == SJ_ECONFLICT)
		return job_missing_or_conflict(db, id);
	if (e == SJ_OK) {
		log_job(LOG_LVL_INFO, id, "cancelled");
		if (out_status != NULL)
			*out_status = JOB_CANCELLED;
	}
	return e;
}

static const struct db_stmt st_retry = {"job_retry", JOB_RETRY_SQL(""), 1};

enum sj_err
job_retry(struct db *db, const char *id)
{
	const char *params[1] = {id};
	enum sj_err e;

	if (!job_id_valid(id))
		return SJ_ENOTFOUND;
	e = job_update(db, &st_retry, params, SJ_ECONFLICT, NULL);
	if (e == SJ_ECONFLICT)
		return job_missing_or_conflict(db, id);
	if (e == SJ_OK)
		log_job(LOG_LVL_INFO, id, "queued for retry");
	return e;
}

int64_t
job_estimated_remaining(const struct cfg *c, const struct job *j)
{
	int64_t est = cfg_estimated_duration(c, j->type);

	if (job_status_terminal(j->status))
		return 0;
	return est * (100 - j->progress) / 100;
}

void
job_iso8601(int64_t ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	char base[24];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

bool
job_notice_parse(const char *payload, enum job_type *t, struct claim_from *at)
{
	char part[3][32];
	int64_t prio, ms;
	size_t n = 0, len = 0;

	*t = JOB_TYPE_MAX;
	if (payload == NULL)
		return false;
	/* "a", "a@b@c": up to three parts split at '@', each under 32 */
	for (const char *p = payload;; p++) {
		if (*p == '@' || *p == '\0') {
			part[n++][len] = '\0';
			len = 0;
			if (*p == '\0')
				break;
			if (n == 3)
				return false;
		} else if (len + 1 < sizeof(part[0])) {
			part[n][len++] = *p;
		} else {
			return false;
		}
	}
	if (job_type_parse(part[0], t) != SJ_OK) {
		*t = JOB_TYPE_MAX;
		return false;
	}
	/*
	 * Any role may pg_notify: a key out of the column's range (priority
	 * smallint, a tag past 9999-12-31) would make the claim's
	 * 'epoch' + tag arithmetic fail for every type, so it only rewinds.
	 */
	if (n != 3 ||
	    num_i64(part[1], 0, JOB_NOTICE_PRIORITY_MAX, &prio) != SJ_OK ||
	    num_i64(part[2], 0, JOB_NOTICE_TAG_MAX, &ms) != SJ_OK)
		return false;
	*at = (struct claim_from){(int)prio, ms};
	return true;
}
