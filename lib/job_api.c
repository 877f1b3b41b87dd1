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
 * Starting a job for the HTTP API: the checks and the insert run in one
 * short transaction behind an advisory lock on the caller (the user, or
 * an anonymous caller's client), so two starts of one caller at once
 * cannot both pass a count.  Each statement of a READ COMMITTED
 * transaction takes a fresh snapshot, so the INSERT after the lock sees
 * every job a concurrent start committed.  In order: an Idempotency-Key
 * seen before gives back its job (if the input is the same) and spends
 * nothing; an anonymous client's start is counted by its rate limit
 * (lib/ratelimit.c); the INSERT holds only while the caller is below its
 * cap of live jobs.  Any refusal rolls back, so a refused start leaves
 * no job and no spent rate.  A start with none of these (no user, key or
 * client: the library's own callers) is the one INSERT alone.
 */
static const struct db_stmt st_start_lock = {
    "job_start_lock",
    "SELECT pg_advisory_xact_lock(1936355178, ($1::int8 % 2147483647)::int4)",
    1};
/* The anonymous clients' locks: another namespace of the same space. */
static const struct db_stmt st_client_lock = {
    "job_client_lock", "SELECT pg_advisory_xact_lock(1936355179, hashtext($1))",
    1};
/*
 * A key's job in its scope ($1 user or 0, $2 client or '', $3 type, $4
 * key) and whether $5, the hex SHA-256 of the input, is the one it was
 * started with (a key stored before schema 010 has none: any input).
 */
static const struct db_stmt st_idem_get = {
    "job_idem_get",
    "SELECT " JOB_COLS ", input_digest IS NULL OR input_digest = decode($5, "
    "'hex') FROM jobs WHERE coalesce(user_id, 0) = $1::int8 AND "
    "coalesce(client, '') = $2 AND type = $3 AND idempotency_key = $4",
    5};
/*
 * A new job: $1..$9 = id, type, priority, max attempts, timeout, input,
 * idempotency key, the input's hex SHA-256, client.  Two statements, not
 * one with "$user = 0 OR" before the quota: a plan made for the
 * parameters folded that test away, so PostgreSQL's plan cache judged
 * every plan without them dearer and planned each start anew (a quarter
 * of the database's CPU per start).
 */
#define START_INTO                                                             \
	"INSERT INTO jobs (id, type, priority, max_attempts, timeout_s, "      \
	"input, idempotency_key, input_digest, client"
#define START_VALUES                                                           \
	"$1, $2, $3::int2, $4::int4, $5::int4, $6::jsonb, $7::text, "          \
	"decode($8, 'hex'), $9::text"
/* The live jobs of owner key k (sql/018: 'u' || user, 'c' || client) */
#define OWNER_LIVE(k)                                                          \
	"coalesce((SELECT n FROM job_owner_live WHERE owner = " k "), 0)"
#define START_END                                                              \
	" ON CONFLICT (coalesce(user_id, 0), coalesce(client, ''), type, "     \
	"idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "       \
	"RETURNING " JOB_COLS
/* $10 = how many live jobs the client ($9) may have */
static const struct db_stmt st_start_anon = {
    "job_start_anon",
    START_INTO ") SELECT " START_VALUES
	       " WHERE " OWNER_LIVE("'c' || $9::text") " < $10::int8" START_END,
    10};
/* $10 = the user, $11 = how many live jobs the user may have */
static const struct db_stmt st_start_user = {
    "job_start_user",
    START_INTO ", user_id) SELECT " START_VALUES
	       ", $10::int8 WHERE " OWNER_LIVE(
		   "'u' || $10::int8") " < $11::int8" START_END,
    11};

static const struct db_stmt st_commit = {"job_start_commit", "COMMIT", 0};

/*
 * One-row statement into out: SJ_ENOTFOUND when no row.  With notify
 * (autocommit only), the new-job notice follows in its own transaction
 * (db_exec_notify).  With same, the row's column after JOB_COLS (a
 * boolean) goes there.
 */
static enum sj_err
job_one(struct db *db, const struct db_stmt *st, const char *const *params,
	const char *notify, struct job *out, bool *same)
{
	PGresult *r = NULL;
	enum sj_err e;

	e = notify != NULL
		? db_exec_notify(db, st, params, &r, JOB_CHANNEL_NEW, notify)
		: db_exec(db, st, params, &r);
	if (e != SJ_OK)
		return e;
	e = PQntuples(r) == 1 ? job_from_row(r, 0, out) : SJ_ENOTFOUND;
	if (e == SJ_OK && same != NULL) {
		const char *v = db_str(r, 0, PQnfields(r) - 1);

		*same = v != NULL && v[0] == 't';
	}
	PQclear(r);
	return e;
}

/* The hex SHA-256 of the canonical input: the normalized object's text. */
static enum sj_err
input_digest(struct json_object *norm, char hex[2 * SHA256_DIGEST_LENGTH + 1])
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(
	    norm, JSON_C_TO_STRING_PLAIN, &len);

	return s != NULL ? sha256_hex(s, len, hex) : SJ_ENOMEM;
}

/* The advisory lock of the caller: user, else client, else none. */
static enum sj_err
caller_lock(struct db *db, int64_t user_id, const char *client)
{
	char uid[24];
	const char *p[1] = {uid};

	snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
	if (user_id != 0)
		return db_exec(db, &st_start_lock, p, NULL);
	p[0] = client;
	return client != NULL ? db_exec(db, &st_client_lock, p, NULL) : SJ_OK;
}

/*
 * Room under the cap on live anonymous jobs of every client together
 * (ANON_MAX_ACTIVE_TOTAL): per-client caps alone do not bound a caller
 * with many addresses (an IPv6 /48 holds 65,536 /64s), and the queue's
 * depth is what the health verdict reads.  Read from job_live (018), so
 * its cost is neither the cap's nor the backlog's.
 * Clients under other locks may pass it together: the overshoot is at
 * most the starts in flight.  Full is a rate refusal: try again soon.
 */
#define ANON_FULL_RETRY_S 30
static const struct db_stmt st_anon_room = {
    "job_anon_room",
    "SELECT coalesce(sum(n), 0) < $1::int8 FROM job_live WHERE anon", 1};

static enum sj_err
anon_room(struct db *db, const struct job_start *s)
{
	char max[24];
	const char *p[1] = {max};
	PGresult *r = NULL;
	enum sj_err e;

	if (s->anon_max <= 0)
		return SJ_OK;
	snprintf(max, sizeof(max), "%lld", (long long)s->anon_max);
	if ((e = db_exec(db, &st_anon_room, p, &r)) != SJ_OK)
		return e;
	if (db_str(r, 0, 0) == NULL || db_str(r, 0, 0)[0] != 't') {
		if (s->retry_after_s != NULL)
			*s->retry_after_s = ANON_FULL_RETRY_S;
		e = SJ_ELIMIT;
	}
	PQclear(r);
	return e;
}

/* One start of an anonymous client against its rate limit. */
static enum sj_err
client_hit(struct db *db, const struct job_start *s)
{
	char key[16 + CLIENT_KEY_MAX];
	bool allowed = true;
	int retry = 0;
	enum sj_err e;

	if (s->client == NULL || s->rate_limit <= 0)
		return SJ_OK;
	snprintf(key, sizeof(key), "job-start:%s", s->client);
	e = ratelimit_hit(db, key, s->rate_limit, s->rate_window_s, &allowed,
			  &retry);
	if (e == SJ_OK && !allowed) {
		if (s->retry_after_s != NULL)
			*s->retry_after_s = retry;
		return SJ_ELIMIT;
	}
	return e;
}

/* The job of s's key in its scope; SJ_EINVAL when the input differs. */
static enum sj_err
idem_find(struct db *db, const struct job_start *s, const char *digest,
	  struct job *out, bool *reused)
{
	char uid[24];
	const char *p[5] = {uid, s->client ? s->client : "",
			    job_type_name(s->type), s->idem_key, digest};
	bool same = false;
	enum sj_err e;

	snprintf(uid, sizeof(uid), "%lld", (long long)s->user_id);
	if ((e = job_one(db, &st_idem_get, p, NULL, out, &same)) != SJ_OK)
		return e;
	if (!same) {
		job_free(out);
		return SJ_EINVAL;
	}
	*reused = true;
	return SJ_OK;
}

/*
 * The INSERT of job_start; notify: autocommit, the notice follows.  It
 * is pipelined with the INSERT, before the row's tag is known, so it
 * names the type alone: a full rewind of the workers' scans of it (a
 * start with no owner, the only one in autocommit).
 */
static enum sj_err
job_insert(struct db *db, const struct cfg *c, const struct job_start *s,
	   const char *digest, bool notify, struct job *out)
{
	char id[JOB_ID_MAX], prio[24], maxa[24], tmo[24], uid[24], max[24];
	const char *p[11];
	int64_t cap = s->user_id != 0 ? s->max_active : s->client_max;

	if (job_id_new(id) != SJ_OK)
		return SJ_EIO;
	snprintf(prio, sizeof(prio), "%lld",
		 (long long)c->types[s->type].priority);
	snprintf(maxa, sizeof(maxa), "%lld",
		 (long long)c->types[s->type].max_retries + 1);
	snprintf(tmo, sizeof(tmo), "%lld",
		 (long long)cfg_job_timeout(c, s->type));
	snprintf(uid, sizeof(uid), "%lld", (long long)s->user_id);
	snprintf(max, sizeof(max), "%lld",
		 (long long)(cap > 0 ? cap : INT64_MAX));
	p[0] = id;
	p[1] = job_type_name(s->type);
	p[2] = prio;
	p[3] = maxa;
	p[4] = tmo;
	p[5] = json_object_to_json_string_ext(s->norm, JSON_C_TO_STRING_PLAIN);
	p[6] = s->idem_key;
	p[7] = s->idem_key != NULL ? digest : NULL;
	p[8] = s->user_id == 0 ? s->client : NULL;
	p[9] = s->user_id != 0 ? uid : max;
	p[10] = max;
	if (p[5] == NULL)
		return SJ_ENOMEM;
	return job_one(db, s->user_id != 0 ? &st_start_user : &st_start_anon, p,
		       notify ? p[1] : NULL, out, NULL);
}

/* The statements of job_start; tx: inside its transaction. */
static enum sj_err
job_start_tx(struct db *db, const struct cfg *c, const struct job_start *s,
	     bool tx, struct job *out, bool *reused)
{
	char digest[2 * SHA256_DIGEST_LENGTH + 1] = "";
	enum sj_err e;

	if (s->idem_key != NULL && (e = input_digest(s->norm, digest)) != SJ_OK)
		return e;
	if ((e = caller_lock(db, s->user_id, s->client)) != SJ_OK)
		return e;
	if (s->idem_key != NULL &&
	    (e = idem_find(db, s, digest, out, reused)) != SJ_ENOTFOUND)
		return e;
	if (s->user_id == 0 && ((e = anon_room(db, s)) != SJ_OK ||
				(e = client_hit(db, s)) != SJ_OK))
		return e;
	e = job_insert(db, c, s, digest, !tx, out);
	if (e != SJ_ENOTFOUND || s->idem_key == NULL)
		return e == SJ_ENOTFOUND ? SJ_EQUOTA : e;
	/* a start with the same key and no lock (no client) won the race */
	e = idem_find(db, s, digest, out, reused);
	return e == SJ_ENOTFOUND ? SJ_EQUOTA : e;
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
	enum sj_err e;

	*reused = false;
	/*
	 * A start without user, key or client has no quota to hold and
	 * nothing to look up: its one statement runs on its own
	 * (autocommit), two round trips fewer than the transaction below.
	 */
	if (s->user_id == 0 && s->idem_key == NULL && s->client == NULL) {
		if ((e = job_start_tx(db, c, s, false, out, reused)) == SJ_OK)
			log_created(s, out);
		return e;
	}
	if ((e = db_exec_simple(db, "BEGIN")) != SJ_OK)
		return e;
	e = job_start_tx(db, c, s, true, out, reused);
	if (e == SJ_OK) {
		/*
		 * A new job's notice: its own transaction, same round trip;
		 * "type@priority@tag" (job.h job_notice_parse) lowers the
		 * workers' scan of the type to the new job's key.
		 */
		char note[64];
		enum sj_err ce;

		snprintf(note, sizeof(note), "%s@%d@%lld",
			 job_type_name(out->type), out->priority,
			 (long long)out->fair_at_ms);
		ce = !*reused ? db_exec_notify(db, &st_commit, NULL, NULL,
					       JOB_CHANNEL_NEW, note)
			      : db_exec_simple(db, "COMMIT");

		if (ce != SJ_OK) {
			job_free(out);
			return ce;
		}
		if (!*reused)
			log_created(s, out);
		return e;
	}
	/* a refusal: nothing written, no rate spent */
	if (db_exec_simple(db, "ROLLBACK") != SJ_OK)
		log_warn("job_start: rollback failed");
	return e;
}

/*
 * A retry of the API: the job's owner (user, or anonymous client) is
 * read, its lock taken, the caller's rate counted, and the UPDATE holds
 * only while the owner is below its cap.  $1 id, $2 the user or client,
 * $3 the cap.
 */
static const struct db_stmt st_retry_owner = {
    "job_retry_owner",
    "SELECT coalesce(user_id, 0), client, status IN ('failed', "
    "'cancelled') FROM jobs WHERE id = $1",
    1};
#define RETRY_GATED(who, set)                                                  \
	"WITH r AS (UPDATE jobs SET " JOB_RETRY_SET set RETRY_FROM " WHERE "   \
	"id = $1 AND status IN ('failed', 'cancelled') AND " OWNER_LIVE(       \
	    who) " < $3::int8 RETURNING " NOTICE_COLS RETRY_RETURNING          \
		 "), " COUNT_RETRIED " SELECT " NOTICE_SEND " FROM r, cnt"
static const struct db_stmt st_retry_user = {
    "job_retry_user", RETRY_GATED("'u' || $2::int8", ""), 3};
static const struct db_stmt st_retry_client = {
    "job_retry_client",
    RETRY_GATED("'c' || $2::text", ", client = nullif($2::text, '')"), 3};

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
	*retryable = db_str(r, 0, 2) != NULL && db_str(r, 0, 2)[0] == 't';
	PQclear(r);
	return SJ_OK;
}

/* The statements of job_retry_start, inside its transaction. */
static enum sj_err
job_retry_tx(struct db *db, const char *id, const struct job_start *s)
{
	char client[CLIENT_KEY_MAX], who[24], max[24];
	const char *p[3] = {id, who, max};
	bool retryable = false;
	int64_t user = 0, cap;
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
	if ((e = caller_lock(db, user, client[0] ? client : NULL)) != SJ_OK ||
	    (user == 0 && (e = anon_room(db, s)) != SJ_OK) ||
	    (s->user_id == 0 && (e = client_hit(db, s)) != SJ_OK))
		return e;
	cap = user != 0 ? s->max_active : s->client_max;
	snprintf(who, sizeof(who), "%lld", (long long)user);
	snprintf(max, sizeof(max), "%lld",
		 (long long)(cap > 0 ? cap : INT64_MAX));
	if (user == 0)
		p[1] = client;
	e = job_update(db, user != 0 ? &st_retry_user : &st_retry_client, p,
		       SJ_EQUOTA, &r);
	PQclear(r);
	/* the lock holds the owner's count; only a concurrent change of
	   the row itself (a cancel, a retry) leaves it not retryable */
	if (e == SJ_EQUOTA &&
	    (retry_owner(db, id, &user, client, &retryable) != SJ_OK ||
	     !retryable))
		return SJ_ECONFLICT;
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
