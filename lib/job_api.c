/*
 * Job operations of the HTTP API beyond the worker's: starting (and
 * retrying, which counts as a start) with quotas, rate limits and
 * idempotency, counts, deletion and statistics.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "client.h"
#include "counters.h"
#include "job_internal.h"
#include "jsonv.h"
#include "log.h"
#include "ratelimit.h"

/*
 * Starting a job for the HTTP API: sql/019's jobs_start() runs the whole
 * start in the server, in one statement sent in autocommit, behind an
 * advisory lock on the caller (the user, or an anonymous caller's
 * client), so two starts of one caller at once cannot both pass a count
 * and nothing under the lock waits on a round trip.  In order: an
 * Idempotency-Key seen before gives back its job (if the input is the
 * same) and spends nothing; the anonymous room and the caller's cap of
 * live jobs are read; an anonymous client's start is counted by its rate
 * limit; the INSERT, and its count (sql/020).  A refused start writes
 * nothing and spends no rate.
 * A start with no user and no client (the library's own callers) takes
 * no lock and has no cap.  $1..$8: id, type, priority, max attempts,
 * timeout, input, key, the input's hex SHA-256; $9..$15 the admission's
 * (admit_params).  The parameters take the function's argument types.
 */
#define START_CALL                                                             \
	"jobs_start($1, $2, $3, $4, $5, $6, $7, decode($8, 'hex'), $9, $10, "  \
	"$11, $12, $13, $14, $15)"
static const struct db_stmt st_start = {
    "job_start",
    "SELECT " JOB_COLS_OF("(job).") ", outcome, retry_after FROM " START_CALL,
    15};
/*
 * A new job's notice, in its own transaction after the start (lib/db.h
 * db_exec_then): "type@priority@tag" (job.h job_notice_parse) lowers the
 * workers' scan of the type to the new job's key.  No row, no notice: a
 * refused start, or a key's earlier job.
 */
static const struct db_stmt st_start_notice = {
    "job_start_notice",
    "SELECT pg_notify('" JOB_CHANNEL_NEW "', type || '@' || priority || '@' "
    "|| " MS("fair_at") ") FROM jobs WHERE id = $1 AND status = 'pending'",
    1};

/* The hex SHA-256 of the canonical input: the normalized object's text. */
static enum sj_err
input_digest(struct json_object *norm, char hex[2 * SHA256_DIGEST_LENGTH + 1])
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(
	    norm, JSON_C_TO_STRING_PLAIN, &len);

	return s != NULL ? sha256_hex(s, len, hex) : SJ_ENOMEM;
}

/* A count for a statement's parameter: NULL (none) unless above 0. */
static const char *
count_param(char buf[24], long long n)
{
	if (n <= 0)
		return NULL;
	snprintf(buf, 24, "%lld", n);
	return buf;
}

/*
 * The arguments of sql/019's jobs_admit() into p[0..6], for a job of
 * owner user (0: none), else client (NULL: none), started or retried by
 * s's caller: the owner's cap and the room for anonymous jobs, the
 * caller's rate limit when anonymous.  b holds the numbers.
 */
#define ADMIT_N 7
static void
admit_params(const struct job_start *s, int64_t user, const char *client,
	     char b[5][24], const char *p[ADMIT_N])
{
	p[0] = count_param(b[0], user);
	p[1] = user != 0 ? NULL : client;
	p[2] =
	    user != 0 || client != NULL
		? count_param(b[1], user != 0 ? s->max_active : s->client_max)
		: NULL;
	p[3] = user != 0 ? NULL : count_param(b[2], s->anon_max);
	p[4] = s->user_id == 0 ? s->client : NULL;
	p[5] = p[4] != NULL ? count_param(b[3], s->rate_limit) : NULL;
	p[6] = p[5] != NULL ? count_param(b[4], s->rate_window_s) : NULL;
}

/*
 * jobs_admit()'s refusal o (NULL: none) with its retry_after, as
 * job_start() and job_retry_start() answer it.
 */
static enum sj_err
admit_outcome(const char *o, int retry_after, const struct job_start *s)
{
	if (o == NULL)
		return SJ_OK;
	if (strcmp(o, "busy") == 0 || strcmp(o, "rate") == 0) {
		if (s->retry_after_s != NULL)
			*s->retry_after_s = retry_after;
		return SJ_ELIMIT;
	}
	return strcmp(o, "quota") == 0 ? SJ_EQUOTA : SJ_EDB;
}

/*
 * What jobs_start() said (the job's columns, then its outcome and
 * retry_after), as job_start() answers it; out is filled for a job.
 */
static enum sj_err
start_outcome(PGresult *r, const struct job_start *s, struct job *out,
	      bool *reused)
{
	int n = PQnfields(r);
	const char *o = db_str(r, 0, n - 2);

	if (o == NULL)
		return SJ_EDB;
	if (strcmp(o, "created") == 0 || strcmp(o, "reused") == 0) {
		*reused = o[0] == 'r';
		return job_from_row(r, 0, out);
	}
	if (strcmp(o, "differs") == 0)
		return SJ_EINVAL;
	return admit_outcome(o, (int)db_ll(r, 0, n - 1, 0), s);
}

static void
log_created(const struct job_start *s, const struct job *j)
{
	log_kv(LOG_LVL_INFO, "job", j->id, "created",
	       LOG_STR("type", job_type_name(s->type)),
	       LOG_INT("user", s->user_id),
	       LOG_STR("client",
		       s->user_id == 0 && s->client != NULL ? s->client : ""));
}

enum sj_err
job_start(struct db *db, const struct cfg *c, const struct job_start *s,
	  struct job *out, bool *reused)
{
	char id[JOB_ID_MAX], prio[24], maxa[24], tmo[24], b[5][24];
	char digest[2 * SHA256_DIGEST_LENGTH + 1] = "";
	const char *p[8 + ADMIT_N], *np[1] = {id};
	PGresult *r = NULL;
	enum sj_err e;

	*reused = false;
	if (s->idem_key != NULL && (e = input_digest(s->norm, digest)) != SJ_OK)
		return e;
	if (job_id_new(id) != SJ_OK)
		return SJ_EIO;
	snprintf(prio, sizeof(prio), "%lld",
		 (long long)c->types[s->type].priority);
	snprintf(maxa, sizeof(maxa), "%lld",
		 (long long)c->types[s->type].max_retries + 1);
	snprintf(tmo, sizeof(tmo), "%lld",
		 (long long)cfg_job_timeout(c, s->type));
	p[0] = id;
	p[1] = job_type_name(s->type);
	p[2] = prio;
	p[3] = maxa;
	p[4] = tmo;
	p[5] = json_object_to_json_string_ext(s->norm, JSON_C_TO_STRING_PLAIN);
	p[6] = s->idem_key;
	p[7] = s->idem_key != NULL ? digest : NULL;
	admit_params(s, s->user_id, s->client, b, p + 8);
	if (p[5] == NULL)
		return SJ_ENOMEM;
	if ((e = db_exec_then(db, &st_start, p, &r, &st_start_notice, np)) !=
	    SJ_OK)
		return e;
	e = PQntuples(r) == 1 ? start_outcome(r, s, out, reused) : SJ_EDB;
	PQclear(r);
	if (e == SJ_OK && !*reused)
		log_created(s, out);
	return e;
}

/*
 * A retry of the API: the job's owner (user, or anonymous client) is
 * read, then admitted as a start of it is (jobs_admit: the owner's lock,
 * the room, its cap, the caller's rate limit), then the UPDATE; $2 the
 * client the job belongs to ("" for a user's).
 */
static const struct db_stmt st_retry_owner = {
    "job_retry_owner",
    "SELECT coalesce(user_id, 0), client, status IN ('failed', "
    "'cancelled') FROM jobs WHERE id = $1",
    1};
static const struct db_stmt st_retry_admit = {
    "job_retry_admit",
    "SELECT outcome, retry_after FROM jobs_admit($1, $2, $3, $4, $5, $6, "
    "$7)",
    ADMIT_N};
static const struct db_stmt st_retry_api = {
    "job_retry_api", JOB_RETRY_SQL(", client = nullif($2::text, '')"), 2};

/* The owner of job id: *user (0: anonymous) and client (may be "") */
static enum sj_err
retry_owner(struct db *db, const char *id, int64_t *user,
	    char client[CLIENT_KEY_MAX], bool *retryable)
{
	const char *p[1] = {id};
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = db_exec(db, &st_retry_owner, p, &r)) != SJ_OK)
		return e;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return SJ_ENOTFOUND;
	}
	*user = db_ll(r, 0, 0, 0);
	snprintf(client, CLIENT_KEY_MAX, "%s",
		 db_str(r, 0, 1) ? db_str(r, 0, 1) : "");
	*retryable = db_bool(r, 0, 2);
	PQclear(r);
	return SJ_OK;
}

/* jobs_admit() for a retry of the job of owner user, else client. */
static enum sj_err
retry_admit(struct db *db, const struct job_start *s, int64_t user,
	    const char *client)
{
	char b[5][24];
	const char *p[ADMIT_N];
	PGresult *r = NULL;
	enum sj_err e;

	admit_params(s, user, client, b, p);
	if ((e = db_exec(db, &st_retry_admit, p, &r)) != SJ_OK)
		return e;
	e = admit_outcome(db_str(r, 0, 0), (int)db_ll(r, 0, 1, 0), s);
	PQclear(r);
	return e;
}

/* The statements of job_retry_start, inside its transaction. */
static enum sj_err
job_retry_tx(struct db *db, const char *id, const struct job_start *s)
{
	char client[CLIENT_KEY_MAX];
	const char *p[2] = {id, client};
	bool retryable = false;
	int64_t user = 0;
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = retry_owner(db, id, &user, client, &retryable)) != SJ_OK)
		return e;
	if (!retryable)
		return SJ_ECONFLICT;
	/* an anonymous job from before schema 010 has no client: it becomes
	   the retrying caller's, and counts against its caps from now on */
	if (user == 0 && client[0] == '\0' && s->client != NULL)
		snprintf(client, CLIENT_KEY_MAX, "%s", s->client);
	if ((e = retry_admit(db, s, user, client[0] ? client : NULL)) != SJ_OK)
		return e;
	e = job_update(db, &st_retry_api, p, SJ_ECONFLICT, &r);
	PQclear(r);
	/* the lock holds the owner's count: only a concurrent change of the
	   row itself (a cancel, a retry) leaves it not retryable */
	return e;
}

enum sj_err
job_retry_start(struct db *db, const char *id, const struct job_start *s)
{
	enum sj_err e;

	if (!job_id_valid(id))
		return SJ_ENOTFOUND;
	if ((e = db_exec_simple(db, "BEGIN")) != SJ_OK)
		return e;
	if ((e = job_retry_tx(db, id, s)) == SJ_OK)
		e = db_exec_simple(db, "COMMIT");
	else if (db_exec_simple(db, "ROLLBACK") != SJ_OK)
		log_warn("job_retry_start: rollback failed");
	if (e == SJ_OK)
		log_job(LOG_LVL_INFO, id, "queued for retry");
	return e;
}

static const struct db_stmt st_counts = {
    "job_counts",
    "SELECT status, count(*) FROM jobs WHERE user_id = $1::int8 GROUP BY "
    "status",
    1};

enum sj_err
job_counts(struct db *db, int64_t user_id, long counts[JOB_STATUS_MAX])
{
	char uid[24];
	const char *params[1] = {uid};
	PGresult *r = NULL;
	enum job_status s;
	enum sj_err e;

	for (int i = 0; i < JOB_STATUS_MAX; i++)
		counts[i] = 0;
	snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
	if ((e = db_exec(db, &st_counts, params, &r)) != SJ_OK)
		return e;
	for (int i = 0; i < PQntuples(r); i++)
		if (job_status_parse(db_str(r, i, 0), &s) == SJ_OK)
			counts[s] = (long)db_ll(r, i, 1, 0);
	PQclear(r);
	return SJ_OK;
}

static const struct db_stmt st_delete = {
    "job_delete", "DELETE FROM jobs WHERE id = $1 AND status <> 'processing'",
    1};

enum sj_err
job_delete(struct db *db, const char *id)
{
	const char *params[1] = {id};
	enum sj_err e;

	if (!job_id_valid(id))
		return SJ_ENOTFOUND;
	e = job_update(db, &st_delete, params, SJ_ECONFLICT, NULL);
	if (e == SJ_ECONFLICT)
		return job_missing_or_conflict(db, id);
	if (e == SJ_OK)
		log_job(LOG_LVL_INFO, id, "deleted");
	return e;
}

/* clang-format off */
#define ISO(c) "to_char(" c " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* clang-format on */
/*
 * One pass over the table, grouped by type and status: the counts, the
 * success rates and the average processing times of the completed jobs
 * (avg() skipping those never started) are each read from those groups,
 * where the three used to scan it once each (10^6 finished jobs, this
 * machine: 0.51-0.53 s, now 0.26 s, the same answer).  Still a pass over
 * every stored job, which this admin-only route may afford; health and
 * /metrics read kept counts instead (sql/018).
 */
static const struct db_stmt st_stats = {
    "job_stats",
    "WITH g AS (SELECT type, status, count(*) AS n, avg(extract(epoch FROM "
    "completed_at - started_at)) FILTER (WHERE status = 'completed') AS "
    "secs FROM jobs GROUP BY 1, 2) SELECT jsonb_build_object("
    "'counts', (SELECT coalesce(jsonb_object_agg(type, s), '{}') FROM "
    "(SELECT type, jsonb_object_agg(status, n) s FROM g GROUP BY type) b), "
    "'successRates', (SELECT coalesce(jsonb_object_agg(type, rate), '{}') "
    "FROM (SELECT type, coalesce(round(100.0 * sum(n) FILTER (WHERE status "
    "= 'completed') / nullif(sum(n) FILTER (WHERE status IN ('completed', "
    "'failed')), 0), 1), 100) rate FROM g GROUP BY type) c), "
    "'averageProcessingTimes', (SELECT coalesce(jsonb_object_agg(type, "
    "secs), '{}') FROM (SELECT type, round(secs, 1) secs FROM g WHERE "
    "secs IS NOT NULL) d), "
    "'workers', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, "
    "'host', host, 'startedAt', " ISO("started_at") ", 'lastHeartbeat', " ISO(
	"last_heartbeat") ", 'jobsInHand', jobs_in_hand) ORDER BY id), "
			  "'[]') FROM workers))",
    0};

enum sj_err
job_stats(struct db *db, struct json_object **out)
{
	PGresult *r = NULL;
	enum sj_err e;

	*out = NULL;
	if ((e = db_exec(db, &st_stats, NULL, &r)) != SJ_OK)
		return e;
	if (PQntuples(r) == 1 && db_str(r, 0, 0) != NULL)
		*out = json_tokener_parse(db_str(r, 0, 0));
	PQclear(r);
	return *out != NULL ? SJ_OK : SJ_ENOMEM;
}
