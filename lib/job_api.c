/*
 * Job operations of the HTTP API beyond the worker's: starting with quota
 * and idempotency, counts, deletion and statistics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "jsonv.h"
#include "log.h"

/*
 * Starting a job for the HTTP API: the quota check and the insert run in
 * one short transaction behind a per-user advisory lock, so two starts of
 * one user at once cannot both pass the count (an anonymous start without
 * an Idempotency-Key has neither and is the one statement alone).  Each
 * statement of a READ COMMITTED transaction takes a fresh snapshot, so the
 * INSERT after the lock sees every job a concurrent start committed.
 */
static const struct db_stmt st_start_lock = {
    "job_start_lock",
    "SELECT pg_advisory_xact_lock(1936355178, ($1::int8 % 2147483647)::int4)",
    1};
static const struct db_stmt st_idem_get = {
    "job_idem_get",
    "SELECT " JOB_COLS " FROM jobs WHERE coalesce(user_id, 0) = $1::int8 "
    "AND idempotency_key = $2",
    2};
/*
 * A new job: $1..$7 = id, type, priority, max attempts, timeout, input,
 * idempotency key.  Two statements, not one with "$user = 0 OR" before
 * the quota: a plan made for the parameters folded that test away, so
 * PostgreSQL's plan cache judged every plan without them dearer and
 * planned each start anew (a quarter of the database's CPU per start).
 */
#define START_INTO                                                             \
	"INSERT INTO jobs (id, type, priority, max_attempts, timeout_s, "      \
	"input, idempotency_key"
#define START_VALUES "$1, $2, $3::int2, $4::int4, $5::int4, $6::jsonb, $7::text"
#define START_END                                                              \
	" ON CONFLICT (coalesce(user_id, 0), idempotency_key) WHERE "          \
	"idempotency_key IS NOT NULL DO NOTHING RETURNING " JOB_COLS
static const struct db_stmt st_start_anon = {
    "job_start_anon", START_INTO ") VALUES (" START_VALUES ")" START_END, 7};
/* $8 = the user, $9 = how many live jobs the user may have */
static const struct db_stmt st_start_user = {
    "job_start_user",
    START_INTO ", user_id) SELECT " START_VALUES ", $8::int8 WHERE (SELECT "
	       "count(*) FROM jobs WHERE user_id = $8::int8 AND status IN "
	       "('pending', 'processing')) < $9::int8" START_END,
    9};

static const struct db_stmt st_commit = {"job_start_commit", "COMMIT", 0};

/*
 * One-row statement into out: SJ_ENOTFOUND when no row.  With notify
 * (autocommit only), the new-job notice follows in its own transaction
 * (db_exec_notify).
 */
static enum sj_err
job_one(struct db *db, const struct db_stmt *st, const char *const *params,
	const char *notify, struct job *out)
{
	PGresult *r = NULL;
	enum sj_err e;

	e = notify != NULL
		? db_exec_notify(db, st, params, &r, JOB_CHANNEL_NEW, notify)
		: db_exec(db, st, params, &r);
	if (e != SJ_OK)
		return e;
	e = PQntuples(r) == 1 ? job_from_row(r, 0, out) : SJ_ENOTFOUND;
	PQclear(r);
	return e;
}

/* The statements of job_start; tx: inside its transaction. */
static enum sj_err
job_start_tx(struct db *db, const struct cfg *c, const struct job_start *s,
	     bool tx, struct job *out, bool *reused)
{
	char id[JOB_ID_MAX], prio[24], maxa[24], tmo[24], uid[24], max[24];
	const char *p[9];
	enum sj_err e;

	snprintf(uid, sizeof(uid), "%lld", (long long)s->user_id);
	p[0] = uid;
	p[1] = s->idem_key;
	if (s->user_id != 0 &&
	    (e = db_exec(db, &st_start_lock, p, NULL)) != SJ_OK)
		return e;
	if (s->idem_key != NULL &&
	    (e = job_one(db, &st_idem_get, p, NULL, out)) != SJ_ENOTFOUND) {
		*reused = e == SJ_OK;
		return e;
	}
	if ((e = job_id_new(id)) != SJ_OK)
		return e;
	snprintf(prio, sizeof(prio), "%lld",
		 (long long)c->types[s->type].priority);
	snprintf(maxa, sizeof(maxa), "%lld",
		 (long long)c->types[s->type].max_retries + 1);
	snprintf(tmo, sizeof(tmo), "%lld",
		 (long long)cfg_job_timeout(c, s->type));
	snprintf(max, sizeof(max), "%lld",
		 (long long)(s->max_active > 0 ? s->max_active : INT64_MAX));
	p[0] = id;
	p[1] = job_type_name(s->type);
	p[2] = prio;
	p[3] = maxa;
	p[4] = tmo;
	p[5] = json_object_to_json_string_ext(s->norm, JSON_C_TO_STRING_PLAIN);
	p[6] = s->idem_key;
	p[7] = uid;
	p[8] = max;
	if (p[5] == NULL)
		return SJ_ENOMEM;
	/* alone (autocommit) the notice goes with it; else after COMMIT */
	e = job_one(db, s->user_id != 0 ? &st_start_user : &st_start_anon, p,
		    tx ? NULL : p[1], out);
	if (e != SJ_ENOTFOUND || s->idem_key == NULL)
		return e == SJ_ENOTFOUND ? SJ_ECONFLICT : e;
	/* an anonymous start with the same key won the race */
	p[0] = uid;
	p[1] = s->idem_key;
	e = job_one(db, &st_idem_get, p, NULL, out);
	*reused = e == SJ_OK;
	return e == SJ_ENOTFOUND ? SJ_ECONFLICT : e;
}

static void
log_created(const struct job_start *s, const struct job *j)
{
	log_job(LOG_LVL_INFO, j->id, "created type=%s user=%lld",
		job_type_name(s->type), (long long)s->user_id);
}

enum sj_err
job_start(struct db *db, const struct cfg *c, const struct job_start *s,
	  struct job *out, bool *reused)
{
	enum sj_err e;

	*reused = false;
	/*
	 * An anonymous start without a key has no quota to hold and nothing
	 * to look up: its one statement runs on its own (autocommit), two
	 * round trips fewer than the transaction below.
	 */
	if (s->user_id == 0 && s->idem_key == NULL) {
		if ((e = job_start_tx(db, c, s, false, out, reused)) == SJ_OK)
			log_created(s, out);
		return e;
	}
	if ((e = db_exec_simple(db, "BEGIN")) != SJ_OK)
		return e;
	e = job_start_tx(db, c, s, true, out, reused);
	if (e == SJ_OK || e == SJ_ECONFLICT) {
		/* a new job's notice: its own transaction, same round trip */
		enum sj_err ce = e == SJ_OK && !*reused
				     ? db_exec_notify(db, &st_commit, NULL,
						      NULL, JOB_CHANNEL_NEW,
						      job_type_name(out->type))
				     : db_exec_simple(db, "COMMIT");

		if (ce != SJ_OK) {
			if (e == SJ_OK)
				job_free(out);
			return ce;
		}
		if (e == SJ_OK && !*reused)
			log_created(s, out);
		return e;
	}
	if (db_exec_simple(db, "ROLLBACK") != SJ_OK)
		log_warn("job_start: rollback failed");
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
static const struct db_stmt st_stats = {
    "job_stats",
    "SELECT jsonb_build_object("
    "'counts', (SELECT coalesce(jsonb_object_agg(type, s), '{}') FROM "
    "(SELECT type, jsonb_object_agg(status, n) s FROM (SELECT type, status, "
    "count(*) n FROM jobs GROUP BY 1, 2) a GROUP BY type) b), "
    "'successRates', (SELECT coalesce(jsonb_object_agg(type, rate), '{}') "
    "FROM (SELECT type, coalesce(round(100.0 * count(*) FILTER (WHERE "
    "status = 'completed') / nullif(count(*) FILTER (WHERE status IN "
    "('completed', 'failed')), 0), 1), 100) rate FROM jobs GROUP BY type) "
    "c), "
    "'averageProcessingTimes', (SELECT coalesce(jsonb_object_agg(type, "
    "secs), '{}') FROM (SELECT type, round(avg(extract(epoch FROM "
    "completed_at - started_at))::numeric, 1) secs FROM jobs WHERE status "
    "= 'completed' AND started_at IS NOT NULL GROUP BY type) d), "
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
