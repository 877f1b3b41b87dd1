/*
 * DESIGN
 * Every number of the health document comes from ONE statement, so the
 * figures are one consistent snapshot and a health probe costs one round
 * trip.  Its cost depends neither on the backlog nor on the stored jobs
 * (sql/018_live_counts.sql): the live jobs are a sum of job_live's
 * shards, the processing ones are counted from jobs_processing_idx (no
 * more than the workers' slots), the queue depth is the difference; the
 * rule on the oldest due pending job only asks whether one has waited
 * past the threshold: a range of jobs_due_idx up to now() - 30 min,
 * whose first entry answers (min(run_at) read every entry whenever the
 * statistics said pending rows are rare, and under a pinned snapshot
 * even a first entry of the whole index is behind a dead entry for
 * every job claimed since the pin: 13.7 ms at 120,000); the last
 * 24 h run from the start of the minute 24 h ago: the whole hours of
 * job_finished_hours in it and the minutes of job_finished_minutes
 * before the first whole hour and since the current hour began (the
 * last hour's figure reads the minutes since the minute an hour ago) —
 * at most ~25 hours and ~120 minutes of 4 shards.  The counts are
 * exact: the thresholds compare exact numbers.  They count the finished
 * rows by the minute they finished in, as reading the rows did: a retry
 * or a delete takes its row out again.
 *
 * The verdict is a fold over the contract's rules in order; each rule may
 * only raise the level.  The success rate is the system's: a job failed
 * for its caller's input (INVALID_INPUT: a refused or unreadable image
 * URL, a picture that is not one) is the caller's failure, so anyone can
 * make as many as the start limits allow without moving the verdict; the
 * queue depth anonymous callers can make is bounded by
 * ANON_MAX_ACTIVE_TOTAL.  A failed statement means the database is down:
 * the document is still built (database "down", status critical) so the
 * caller can answer 503 with the full shape.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "auth.h"
#include "buf.h"
#include "health.h"
#include "job.h"
#include "jsonv.h"
#include "log.h"
#include "media.h"
#include "num.h"

#define WORKER_LIVE_S "60"
#define QUEUE_WARN    20
#define QUEUE_CRIT    50
#define SUCCESS_WARN  90.0
#define SUCCESS_CRIT  80.0
#define OLDEST_CRIT_S "1800" /* a due job waiting longer: critical */

static const struct db_stmt st_stats = {
    "health_stats",
    "WITH l AS (SELECT coalesce(sum(n), 0) AS live FROM job_live), "
    "q AS (SELECT count(*) AS n, count(*) FILTER (WHERE lease_expires_at < "
    "now()) AS stuck FROM jobs WHERE status = 'processing'), "
    "p AS (SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'pending' AND "
    "lease_owner IS NULL AND run_at < now() - make_interval(secs "
    "=> " OLDEST_CRIT_S ")) AS waiting), "
    "b AS (SELECT date_trunc('minute', now() - interval '24 hours', "
    "'UTC') AS ws, date_trunc('hour', now() - interval '24 hours', 'UTC') "
    "+ interval '1 hour' AS h0, date_trunc('hour', now(), 'UTC') AS h1, "
    "date_trunc('minute', now() - interval '1 hour', 'UTC') AS hs), "
    "fm AS (SELECT m.* FROM job_finished_minutes m, b WHERE m.minute >= "
    "b.ws AND (m.minute < b.h0 OR m.minute >= least(b.h1, b.hs))), "
    "fw AS (SELECT completed, failed, finished, timed, timed_s FROM fm, b "
    "WHERE fm.minute < b.h0 OR fm.minute >= b.h1 UNION ALL SELECT "
    "completed, failed, finished, timed, timed_s FROM job_finished_hours "
    "h, b WHERE h.hour >= b.h0 AND h.hour < b.h1), "
    "f AS (SELECT coalesce(sum(completed), 0) AS ok, coalesce(sum(failed), "
    "0) AS bad, coalesce(sum(timed_s) / nullif(sum(timed), 0), 0) AS avg_s, "
    "(SELECT coalesce(sum(finished), 0) FROM fm, b WHERE fm.minute >= b.hs) "
    "AS hour FROM fw), "
    "w AS (SELECT count(*) AS live, (array_agg(mem_used_pct ORDER BY "
    "last_heartbeat DESC))[1] AS mem FROM workers WHERE last_heartbeat > "
    "now() - interval '" WORKER_LIVE_S " seconds') "
    "SELECT greatest(l.live - q.n, 0), p.waiting, q.n, q.stuck, f.ok, f.bad, "
    "f.avg_s, f.hour, w.live, coalesce(w.mem, 0) FROM l, q, p, f, w",
    0};

struct health_stats {
	bool db_up;
	long long depth, processing, stuck, ok, bad, hour, live, mem;
	bool waiting; /* a due job has waited over OLDEST_CRIT_S */
	double avg_s;
};

struct verdict {
	enum health_level level;
	struct json_object *alerts, *recs;
};

static double
col_double(const PGresult *r, int col)
{
	const char *s = db_str(r, 0, col);
	double d = 0;

	if (s == NULL || num_double(s, &d) != SJ_OK || !isfinite(d))
		return 0;
	return d;
}

static void
stats_read(struct db *db, struct health_stats *s)
{
	PGresult *r = NULL;

	memset(s, 0, sizeof(*s));
	if (db_exec(db, &st_stats, NULL, &r) != SJ_OK) {
		log_warn("health: statistics query failed; database down");
		return;
	}
	s->db_up = true;
	s->depth = db_ll(r, 0, 0, 0);
	s->waiting = db_bool(r, 0, 1);
	s->processing = db_ll(r, 0, 2, 0);
	s->stuck = db_ll(r, 0, 3, 0);
	s->ok = db_ll(r, 0, 4, 0);
	s->bad = db_ll(r, 0, 5, 0);
	s->avg_s = col_double(r, 6);
	s->hour = db_ll(r, 0, 7, 0);
	s->live = db_ll(r, 0, 8, 0);
	s->mem = db_ll(r, 0, 9, 0);
	PQclear(r);
}

static double
success_rate(const struct health_stats *s)
{
	if (s->ok + s->bad == 0)
		return 100.0;
	return round(10000.0 * (double)s->ok / (double)(s->ok + s->bad)) /
	       100.0;
}

/* Raises v to lvl and records the alert and recommendation. */
static int
verdict_raise(struct verdict *v, enum health_level lvl, const char *alert,
	      const char *rec)
{
	if (lvl > v->level)
		v->level = lvl;
	if (json_object_array_add(v->alerts, json_object_new_string(alert)) ||
	    json_object_array_add(v->recs, json_object_new_string(rec)))
		return -1;
	return 0;
}

static int
judge(const struct health_stats *s, struct verdict *v)
{
	double sr = success_rate(s);
	int rc = 0;

	if (!s->db_up)
		return verdict_raise(
		    v, HEALTH_CRITICAL, "Database is unreachable",
		    "Check the PostgreSQL server and DATABASE_URL");
	if (s->depth > 0 && s->live == 0)
		rc |= verdict_raise(v, HEALTH_CRITICAL,
				    "Jobs are pending but no worker is alive",
				    "Start or restart the worker daemon");
	if (s->depth > QUEUE_WARN)
		rc |= verdict_raise(
		    v, s->depth > QUEUE_CRIT ? HEALTH_CRITICAL : HEALTH_WARNING,
		    "Queue depth is elevated",
		    "Monitor queue closely and consider scaling");
	if (sr < SUCCESS_WARN)
		rc |= verdict_raise(
		    v, sr < SUCCESS_CRIT ? HEALTH_CRITICAL : HEALTH_WARNING,
		    "Job success rate could be improved",
		    "Review failed jobs for common patterns");
	if (s->waiting)
		rc |= verdict_raise(v, HEALTH_CRITICAL,
				    "Jobs are waiting too long in queue",
				    "Check that workers are claiming jobs");
	return rc;
}

static const char *
level_name(enum health_level l)
{
	return l == HEALTH_OK	     ? "healthy"
	       : l == HEALTH_WARNING ? "warning"
				     : "critical";
}

static const char *
level_message(enum health_level l)
{
	return l == HEALTH_OK	     ? "All systems operational"
	       : l == HEALTH_WARNING ? "System operational with minor issues"
				     : "System experiencing critical issues";
}

static int
add_double(struct json_object *o, const char *key, double d)
{
	return jv_add(o, key, json_object_new_double(d)) == SJ_OK ? 0 : -1;
}

static struct json_object *
system_status(const struct health_stats *s)
{
	struct json_object *o = json_object_new_object();
	const char *up = s->db_up ? "operational" : "degraded";

	if (o == NULL || jv_add_str(o, "monitor", "operational") != SJ_OK ||
	    jv_add_str(o, "manager", up) != SJ_OK ||
	    jv_add_str(o, "config", "operational") != SJ_OK ||
	    jv_add_str(o, "database", s->db_up ? "operational" : "down") !=
		SJ_OK ||
	    jv_add_str(o, "worker",
		       !s->db_up     ? "unknown"
		       : s->live > 0 ? "operational"
				     : "down") != SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *
metrics(const struct health_stats *s, const struct cfg *c)
{
	struct json_object *o = json_object_new_object();
	double sr = success_rate(s);
	int64_t cap = s->live > 0 ? s->live * c->max_concurrent_jobs
				  : c->max_concurrent_jobs;

	if (o == NULL || jv_add_i64(o, "queueDepth", s->depth) != SJ_OK ||
	    jv_add_i64(o, "processingCapacity", cap) != SJ_OK ||
	    jv_add_i64(o, "currentlyProcessing", s->processing) != SJ_OK ||
	    add_double(o, "successRate", sr) ||
	    add_double(o, "errorRate", round((100.0 - sr) * 100.0) / 100.0) ||
	    add_double(o, "averageProcessingTime",
		       round(s->avg_s * 100.0) / 100.0) ||
	    jv_add_i64(o, "jobsPerHour", s->hour) != SJ_OK ||
	    jv_add_i64(o, "resourceUtilization", s->mem) != SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *
operational(const struct cfg *c)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL ||
	    jv_add_bool(o, "autoProcessingEnabled",
			c->features[FEAT_AUTO_PROCESSING]) != SJ_OK ||
	    jv_add_i64(o, "processingInterval", c->processing_interval_ms) !=
		SJ_OK ||
	    jv_add_i64(o, "maxConcurrentJobs", c->max_concurrent_jobs) !=
		SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Moves the alert lists into the health member; takes v's references. */
static struct json_object *
health_part(const struct health_stats *s, struct verdict *v)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL || jv_add(o, "alerts", v->alerts) != SJ_OK) {
		json_object_put(o);
		json_object_put(v->recs);
		return NULL;
	}
	if (jv_add(o, "recommendations", v->recs) != SJ_OK ||
	    jv_add_i64(o, "stuckJobsCount", s->stuck) != SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static void
now_iso(char out[32])
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	job_iso8601((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, out);
}

enum sj_err
health_build_level(struct db *db, const struct cfg *c, struct json_object **out,
		   int *http_status, enum health_level *level)
{
	struct health_stats s;
	struct verdict v = {HEALTH_OK, json_object_new_array(),
			    json_object_new_array()};
	struct json_object *o = json_object_new_object();
	char ts[32];

	*out = NULL;
	stats_read(db, &s);
	now_iso(ts);
	if (o == NULL || v.alerts == NULL || v.recs == NULL ||
	    judge(&s, &v) != 0)
		goto fail;
	if (jv_add_str(o, "status", level_name(v.level)) != SJ_OK ||
	    jv_add_str(o, "message", level_message(v.level)) != SJ_OK ||
	    jv_add_str(o, "timestamp", ts) != SJ_OK ||
	    jv_add(o, "systemStatus", system_status(&s)) != SJ_OK ||
	    jv_add(o, "metrics", metrics(&s, c)) != SJ_OK)
		goto fail;
	/* health_part() takes the lists, even on failure */
	if (jv_add(o, "health", health_part(&s, &v)) != SJ_OK) {
		json_object_put(o);
		return SJ_ENOMEM;
	}
	if (jv_add(o, "operational", operational(c)) != SJ_OK) {
		json_object_put(o);
		return SJ_ENOMEM;
	}
	*out = o;
	*http_status = v.level == HEALTH_CRITICAL ? 503 : 200;
	if (level)
		*level = v.level;
	return SJ_OK;
fail:
	json_object_put(v.alerts);
	json_object_put(v.recs);
	json_object_put(o);
	return SJ_ENOMEM;
}

enum sj_err
health_build(struct db *db, const struct cfg *c, struct json_object **out,
	     int *http_status)
{
	return health_build_level(db, c, out, http_status, NULL);
}

/* Copies member key of the metrics object m into d. */
static enum sj_err
copy_member(struct json_object *m, const char *key, struct json_object *d)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(m, key, &v))
		return SJ_OK;
	return jv_add(d, key, json_object_get(v));
}

enum sj_err
health_check_short(struct db *db, const struct cfg *c, struct json_object **out)
{
	static const char *const keys[] = {"queueDepth", "currentlyProcessing",
					   "successRate", "errorRate"};
	struct json_object *doc = NULL, *o = NULL, *d = NULL, *m = NULL,
			   *h = NULL, *v = NULL;
	enum health_level lvl = HEALTH_OK;
	enum sj_err e;
	int st = 0;

	*out = NULL;
	if ((e = health_build_level(db, c, &doc, &st, &lvl)) != SJ_OK)
		return e;
	e = SJ_ENOMEM;
	if ((o = json_object_new_object()) == NULL ||
	    (d = json_object_new_object()) == NULL ||
	    jv_add_bool(o, "healthy", lvl != HEALTH_CRITICAL) != SJ_OK ||
	    jv_add_str(o, "message", level_message(lvl)) != SJ_OK ||
	    jv_add_str(d, "status", level_name(lvl)) != SJ_OK)
		goto out;
	json_object_object_get_ex(doc, "metrics", &m);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (copy_member(m, keys[i], d) != SJ_OK)
			goto out;
	if (json_object_object_get_ex(doc, "health", &h) &&
	    json_object_object_get_ex(h, "alerts", &v) &&
	    jv_add(d, "alerts", json_object_get(v)) != SJ_OK)
		goto out;
	if (copy_member(doc, "systemStatus", d) != SJ_OK)
		goto out;
	e = jv_add(o, "details", d);
	d = NULL;
	if (e == SJ_OK) {
		*out = o;
		o = NULL;
	}
out:
	json_object_put(d);
	json_object_put(o);
	json_object_put(doc);
	return e;
}

static const struct db_stmt st_prune = {
    "health_prune",
    "WITH d AS (SELECT id FROM jobs WHERE status IN ('completed', 'failed', "
    "'cancelled') AND completed_at < now() - make_interval(days => "
    "$1::int) ORDER BY completed_at LIMIT 1000 FOR UPDATE SKIP LOCKED) "
    "DELETE FROM jobs j USING d WHERE j.id = d.id AND j.status IN "
    "('completed', 'failed', 'cancelled')",
    1};

enum sj_err
health_prune(struct db *db, int64_t days, long max_batches, long long *deleted)
{
	char dbuf[24];
	const char *params[1] = {dbuf};
	PGresult *r = NULL;
	enum sj_err e;
	long long n;

	*deleted = 0;
	if (days < 1 || days > 36500)
		return SJ_EINVAL;
	snprintf(dbuf, sizeof(dbuf), "%lld", (long long)days);
	for (long b = 0; max_batches == 0 || b < max_batches; b++) {
		if ((e = db_exec(db, &st_prune, params, &r)) != SJ_OK)
			return e;
		n = db_rows(r);
		PQclear(r);
		*deleted += n;
		if (n < HEALTH_PRUNE_BATCH)
			break;
	}
	return SJ_OK;
}

/* A media folder that cannot be read is a warning, not a failed pass. */
enum sj_err
health_housekeep(struct db *db, const char *media_dir, struct housekeep *out)
{
	enum sj_err e;

	memset(out, 0, sizeof(*out));
	if ((e = auth_sessions_expire(db, &out->sessions)) != SJ_OK)
		return e;
	if (media_dir != NULL && media_dir[0] != '\0' &&
	    media_sweep_tmp(media_dir, HEALTH_TMP_MAX_AGE_S, &out->tmpfiles) !=
		SJ_OK)
		log_warn("housekeeping: %s not swept", media_dir);
	return SJ_OK;
}
