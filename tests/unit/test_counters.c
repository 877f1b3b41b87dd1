/*
 * The /metrics counters against a real PostgreSQL: every statement that
 * finishes jobs counts them (completion batches, failures, retries,
 * cancels, the maintenance pass's timeouts), pruning leaves the counts
 * alone, the request and upstream batches add up, and the exposition
 * keeps the Prometheus text format's rules (HELP and TYPE once per
 * family, a family's samples together, cumulative buckets, +Inf equal to
 * _count); concurrent flushes of the same series wait on each other
 * and never deadlock.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "counters.h"
#include "health.h"
#include "job.h"
#include "job_input.h"
#include "testdb.h"

TESTDB_GROUP_FIXTURE

static int
fresh(void **state)
{
	(void)state;
	testdb_sql(side, "TRUNCATE jobs, workers, job_counters, job_durations, "
			 "job_finished_minutes, job_finished_hours, "
			 "job_retries, http_requests, http_request_durations, "
			 "upstream_calls, upstream_durations CASCADE");
	return 0;
}

/* n jobs of type scenes processing under w1 at epoch 1 since 10 s. */
static void
processing(const char *prefix, int n, int max_attempts)
{
	char q[640];

	snprintf(q, sizeof(q),
		 "INSERT INTO jobs (id, type, status, max_attempts, timeout_s, "
		 "input, lease_owner, lease_epoch, lease_expires_at, "
		 "claimed_at, started_at) SELECT 'job_1_%s' || g, 'scenes', "
		 "'processing', %d, 60, '{}', 'w1', 1, now() + interval '1 "
		 "minute', now(), now() - interval '10 seconds' FROM "
		 "generate_series(1, %d) g",
		 prefix, max_attempts, n);
	testdb_sql(side, q);
}

static long long
finished(const char *outcome)
{
	char q[256];

	snprintf(q, sizeof(q),
		 "SELECT coalesce(sum(n), 0) FROM job_counters WHERE type = "
		 "'scenes' AND outcome = '%s'",
		 outcome);
	return testdb_ll(side, q);
}

/* The finite bounds in memory are those of the SQL literals. */
static void
check_bounds(const struct hist_bounds *bd, const char *lit)
{
	const char *p = lit + 1;
	char *end;

	for (size_t i = 0; i < bd->n; i++) {
		assert_true(strtod(p, &end) == bd->le[i]);
		assert_int_equal(*end, ',');
		p = end + 1;
	}
	assert_string_equal(p, "Infinity}");
}

static void
test_hist(void **state)
{
	struct hist h;

	(void)state;
	check_bounds(&counters_http_le, HTTP_DURATION_LE);
	check_bounds(&counters_upstream_le, UPSTREAM_DURATION_LE);
	/* sql/008 seeds job_durations with these bounds */
	assert_string_equal(JOB_DURATION_LE,
			    "{1,5,15,30,60,120,300,600,1200,Infinity}");
	assert_true(counters_http_le.le[0] == 0.005);
	assert_true(counters_http_le.le[counters_http_le.n - 1] == 10);
	memset(&h, 0, sizeof(h));
	hist_observe(&h, &counters_http_le, 0.005); /* on a bound: counts */
	hist_observe(&h, &counters_http_le, 0.3);
	hist_observe(&h, &counters_http_le, 99);
	hist_observe(&h, &counters_http_le, -1); /* a clock step: as 0 */
	assert_int_equal(h.b[0], 2);
	assert_int_equal(h.b[5], 2); /* le 0.25 */
	assert_int_equal(h.b[6], 3); /* le 0.5 */
	assert_int_equal(h.b[counters_http_le.n - 1], 3);
	assert_int_equal(h.b[counters_http_le.n], 4); /* +Inf */
	assert_true(h.sum > 99.3 && h.sum < 99.31);
}

/* Each finishing statement counts what it finished, once. */
static void
test_finishing_paths(void **state)
{
	struct job_done d[3] = {{"job_1_cc1", 1, "{}", NULL, false},
				{"job_1_cc2", 1, "{}", NULL, false},
				{"job_1_cc3", 2, "{}", NULL, false}};
	enum job_status st;
	struct job_maint m;

	(void)state;
	processing("cc", 3, 3);
	/* cc3 is fenced out by its epoch: not completed, not counted */
	assert_int_equal(job_complete_batch(db, "w1", 3, d), SJ_OK);
	assert_true(d[0].done && d[1].done && !d[2].done);
	assert_int_equal(finished("completed"), 2);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(buckets[3]) FROM job_durations"), 2);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(buckets[2]) FROM job_durations"), 0);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(buckets[10]) FROM job_durations"), 2);
	assert_int_equal(
	    testdb_ll(side, "SELECT round(sum(sum)) FROM job_durations"), 20);
	/* a transient failure with budget left is a retry, not a failure */
	assert_int_equal(job_fail(db, &(struct job_lease){"job_1_cc3", "w1", 1},
				  true, 0, "EXTERNAL_SERVICE_ERROR", "x", &st,
				  NULL),
			 SJ_OK);
	assert_int_equal(st, JOB_PENDING);
	assert_int_equal(finished("failed"), 0);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(n) FROM job_retries WHERE code = "
			    "'EXTERNAL_SERVICE_ERROR'"),
	    1);
	/* a permanent one is a failure */
	processing("cf", 1, 3);
	assert_int_equal(job_fail(db, &(struct job_lease){"job_1_cf1", "w1", 1},
				  false, 0, "INVALID_INPUT", "x", &st, NULL),
			 SJ_OK);
	assert_int_equal(st, JOB_FAILED);
	assert_int_equal(finished("failed"), 1);
	/* cancels: the pending one from the retry; a second cancel is not */
	assert_int_equal(job_cancel(db, "job_1_cc3", &st), SJ_OK);
	assert_int_equal(job_cancel(db, "job_1_cc3", &st), SJ_ECONFLICT);
	assert_int_equal(finished("cancelled"), 1);
	/* the maintenance pass: one overdue job times out */
	processing("ct", 1, 3);
	testdb_sql(side, "UPDATE jobs SET claimed_at = now() - interval '61 "
			 "seconds' WHERE id = 'job_1_ct1'");
	assert_int_equal(job_maintain(db, &m), SJ_OK);
	assert_int_equal(m.timed_out, 1);
	assert_int_equal(finished("failed"), 2);
	/* a completion is still counted once, whatever the shard */
	assert_int_equal(finished("completed"), 2);
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM job_counters WHERE shard "
			    "NOT BETWEEN 0 AND 15"),
	    0);
}

/* Pruning deletes the rows and leaves the counters as they were. */
static void
test_prune_keeps_counts(void **state)
{
	struct job_done d = {"job_1_pr1", 1, "{}", NULL, false};
	long long deleted = 0;

	(void)state;
	processing("pr", 1, 3);
	assert_int_equal(job_complete_batch(db, "w1", 1, &d), SJ_OK);
	testdb_sql(side, "UPDATE jobs SET completed_at = now() - interval '40 "
			 "days'");
	assert_int_equal(health_prune(db, 30, 0, &deleted), SJ_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM jobs"), 0);
	assert_int_equal(finished("completed"), 1);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(buckets[10]) FROM job_durations"), 1);
}

/*
 * Fails unless 018's live counts are what the rows say: the recount
 * corrects nothing, and the owners' counts match their rows.
 */
static void
live_exact(void)
{
	assert_int_equal(testdb_ll(side, "SELECT jobs_live_recount()"), 0);
	assert_int_equal(
	    testdb_ll(
		side,
		"SELECT count(*) FROM (SELECT coalesce('u' || user_id, 'c' || "
		"client) AS o, count(*) AS n FROM jobs WHERE status IN "
		"('pending', 'processing') AND (user_id IS NOT NULL OR client "
		"IS NOT NULL) GROUP BY 1) r FULL JOIN job_owner_live l ON "
		"l.owner = r.o WHERE coalesce(l.n, 0) <> coalesce(r.n, 0)"),
	    0);
}

/* A cartoonize start of user (or, with 0, of anonymous client c). */
static void
start(int64_t user, const char *c, int64_t cap, enum sj_err want,
      char id[JOB_ID_MAX])
{
	struct job_limits lim = {30, 60, ""};
	struct json_object
	    *in = json_tokener_parse(
		"{\"prompt\":\"a fox\",\"style\":\"storybook\"}"),
	    *norm = NULL;
	const char *msg = NULL;
	struct job_start s = {.type = JOB_CARTOONIZE,
			      .user_id = user,
			      .client = user != 0 ? NULL : c,
			      .max_active = cap,
			      .client_max = cap,
			      .anon_max = 1000};
	struct job j;
	bool reused;

	assert_int_equal(
	    job_input_validate(&lim, JOB_CARTOONIZE, in, &norm, &msg), SJ_OK);
	s.norm = norm;
	assert_int_equal(job_start(db, &cfg, &s, &j, &reused), want);
	if (want == SJ_OK) {
		snprintf(id, JOB_ID_MAX, "%s", j.id);
		job_free(&j);
	}
	json_object_put(norm);
	json_object_put(in);
}

/*
 * The live counts (sql/018) follow every way a row enters, leaves or
 * comes back to the live set, and the caps read them: starts (a user's,
 * an anonymous client's), raw inserts, claims, completions, failures
 * (retried and final), cancels, retries, the maintenance pass, deletes,
 * pruning and TRUNCATE.  The minutes count what finished.
 */
static void
test_live_counts(void **state)
{
	char a1[JOB_ID_MAX], a2[JOB_ID_MAX], u1[JOB_ID_MAX], x[JOB_ID_MAX];
	struct job_done d = {"job_1_lc1", 1, "{}", NULL, false};
	struct job_start rs = {.user_id = 7, .max_active = 1};
	int free[JOB_TYPE_MAX] = {0};
	struct job_list got = {0};
	enum job_status st;
	struct job_maint m;
	long long deleted;

	(void)state;
	testdb_sql(side, "TRUNCATE job_live, job_owner_live, "
			 "job_finished_minutes, job_finished_hours");
	testdb_sql(side, "INSERT INTO users (id, email, password_hash) VALUES "
			 "(7, 'lc@example.com', 'x') ON CONFLICT DO NOTHING");
	start(0, "c:1", 2, SJ_OK, a1);
	start(0, "c:1", 2, SJ_OK, a2);
	start(0, "c:1", 2, SJ_EQUOTA, x); /* the client's cap, from 018 */
	start(0, "c:2", 2, SJ_OK, x);
	start(7, NULL, 1, SJ_OK, u1);
	start(7, NULL, 1, SJ_EQUOTA, x);
	live_exact();
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(n) FROM job_live WHERE anon"), 3);
	assert_int_equal(testdb_ll(side,
				   "SELECT n FROM job_owner_live WHERE owner = "
				   "'cc:1'"),
			 2);
	/* raw rows count too: 3 processing, no owner */
	processing("lc", 3, 1);
	live_exact();
	assert_int_equal(testdb_ll(side, "SELECT sum(n) FROM job_live"), 7);
	/* a claim moves rows inside the live set: nothing changes */
	free[JOB_CARTOONIZE] = 10;
	assert_int_equal(job_claim(db, &cfg, "w2", free, 10, NULL, &got),
			 SJ_OK);
	assert_int_equal((int)got.n, 4);
	job_list_free(&got);
	live_exact();
	/* finishing: a completion, a final failure, a cancel of each kind */
	assert_int_equal(job_complete_batch(db, "w1", 1, &d), SJ_OK);
	assert_true(d.done);
	assert_int_equal(job_fail(db, &(struct job_lease){"job_1_lc2", "w1", 1},
				  false, 0, "EXTERNAL_SERVICE_ERROR", "x", &st,
				  NULL),
			 SJ_OK);
	assert_int_equal(st, JOB_FAILED);
	assert_int_equal(job_cancel(db, a1, &st), SJ_OK);
	assert_int_equal(job_cancel(db, u1, &st), SJ_OK);
	live_exact();
	assert_int_equal(testdb_ll(side, "SELECT sum(n) FROM job_live"), 3);
	assert_int_equal(
	    testdb_ll(side, "SELECT n FROM job_owner_live WHERE owner = 'u7'"),
	    0);
	/* the pass drops an owner at 0 */
	assert_int_equal(job_maintain(db, &m), SJ_OK);
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM job_owner_live WHERE owner "
			    "= 'u7'"),
	    0);
	/* the user is below its cap again: the API's retry brings u1 back,
	   out of the minute it was cancelled in */
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(finished) FROM job_finished_minutes"),
	    4);
	assert_int_equal(job_retry_start(db, u1, &rs), SJ_OK);
	live_exact();
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(finished) FROM job_finished_minutes"),
	    3);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(finished) FROM job_finished_hours"), 3);
	start(7, NULL, 1, SJ_EQUOTA, x);
	/* the maintenance pass: a lease expired for good, a time-out */
	testdb_sql(side, "UPDATE jobs SET rescues = 5, lease_expires_at = "
			 "now() - interval '1 second' WHERE id = 'job_1_lc3'");
	processing("lt", 1, 1);
	testdb_sql(side, "UPDATE jobs SET claimed_at = now() - interval '61 "
			 "seconds' WHERE id = 'job_1_lt1'");
	assert_int_equal(job_maintain(db, &m), SJ_OK);
	assert_int_equal(m.timed_out, 1);
	live_exact();
	/* the pass dropped the owners at 0 (u7 came back: kept) */
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM job_owner_live WHERE n = 0"),
	    0);
	assert_int_equal(
	    testdb_ll(side, "SELECT n FROM job_owner_live WHERE owner = 'u7'"),
	    1);
	/* this minute's and this hour's rows: 1 completed (timed), 3 failed,
	   5 finished (a1 cancelled; u1's cancel was taken back) */
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(completed) * 1000000 + sum(failed) * "
			    "10000 + sum(finished) * 100 + sum(timed) FROM "
			    "job_finished_minutes"),
	    1030501);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(completed) * 1000000 + sum(failed) * "
			    "10000 + sum(finished) * 100 + sum(timed) FROM "
			    "job_finished_hours"),
	    1030501);
	/* deleting a failed job takes it out of its minute */
	assert_int_equal(job_delete(db, "job_1_lc2"), SJ_OK);
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(failed) * 100 + sum(finished) FROM "
			    "job_finished_minutes"),
	    204);
	/* a delete of a pending job, pruning of finished ones */
	assert_int_equal(job_delete(db, u1), SJ_OK);
	live_exact();
	testdb_sql(side, "UPDATE jobs SET completed_at = now() - interval '40 "
			 "days' WHERE completed_at IS NOT NULL");
	assert_int_equal(health_prune(db, 30, 0, &deleted), SJ_OK);
	assert_true(deleted >= 4);
	live_exact();
	/* a status changed by hand is the recount's to correct */
	testdb_sql(side, "UPDATE jobs SET status = 'cancelled', completed_at "
			 "= now() WHERE status = 'processing'");
	assert_true(testdb_ll(side, "SELECT jobs_live_recount()") > 0);
	live_exact();
	testdb_sql(side, "TRUNCATE jobs CASCADE");
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM job_live"), 0);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM job_owner_live"),
			 0);
}

/*
 * A start of scenes by client c:s under key k (NULL: none) and cap: 1
 * created, 2 reused, 3 refused (quota), 0 anything else.
 */
#define SC_START(id, k, cap)                                                   \
	"SELECT CASE outcome WHEN 'created' THEN 1 WHEN 'reused' THEN 2 "      \
	"WHEN 'quota' THEN 3 ELSE 0 END FROM jobs_start('" id "', 'scenes', "  \
	"0::int2, 3, 60, '{}', " k ", NULL, NULL, 'c:s', " cap ", 0, NULL, "   \
	"0, 60)"
#define SC_INSERT(id)                                                          \
	"INSERT INTO jobs (id, type, max_attempts, timeout_s, input, client) " \
	"VALUES ('" id "', 'scenes', 1, 60, '{}', 'c:s')"

/*
 * A start counts its own row and its INSERT skips the trigger (sql/020):
 * once per created job, never for a reused or refused one.  The setting
 * that skips the trigger is the caller's again after the INSERT: off, a
 * later INSERT of the same transaction is counted by the trigger; on
 * (the caller counts its own rows), it stays on.  A start that fails in
 * a subtransaction leaves neither row nor count nor setting behind.
 */
static void
test_start_counts_once(void **state)
{
	char x[JOB_ID_MAX];

	(void)state;
	start(0, "c:s", 2, SJ_OK, x);
	testdb_sql(side, "BEGIN");
	assert_int_equal(testdb_ll(side, SC_START("job_1_sc1", "'k1'", "3")),
			 1);
	assert_int_equal(testdb_ll(side, SC_START("job_1_sc2", "'k1'", "3")),
			 2);
	assert_int_equal(testdb_ll(side, SC_START("job_1_sc3", "NULL", "2")),
			 3);
	testdb_sql(side, "DO $$ BEGIN PERFORM jobs_start('job_1_sc1', "
			 "'scenes', 0::int2, 3, 60, '{}', NULL, NULL, NULL, "
			 "'c:s', 9, 0, NULL, 0, 60); EXCEPTION WHEN "
			 "unique_violation THEN NULL; END $$");
	testdb_sql(side, SC_INSERT("job_1_sc4"));
	testdb_sql(side, "COMMIT");
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM jobs WHERE client = 'c:s'"),
	    3);
	assert_int_equal(
	    testdb_ll(side,
		      "SELECT n FROM job_owner_live WHERE owner = 'cc:s'"),
	    3);
	live_exact();
	/* a caller that counts its own inserts keeps the setting on */
	testdb_sql(side, "BEGIN");
	testdb_sql(side, "SELECT set_config('storyjobs.inserts_counted', "
			 "'on', true)");
	assert_int_equal(testdb_ll(side, SC_START("job_1_sc5", "NULL", "9")),
			 1);
	assert_int_equal(testdb_ll(side, "SELECT (current_setting('storyjobs."
					 "inserts_counted') = 'on')::int"),
			 1);
	testdb_sql(side, SC_INSERT("job_1_sc6"));
	testdb_sql(side, "COMMIT");
	assert_int_equal(
	    testdb_ll(side,
		      "SELECT n FROM job_owner_live WHERE owner = 'cc:s'"),
	    4);
	assert_int_equal(testdb_ll(side, "SELECT jobs_live_recount()"), 2);
	processing("sm", 3, 1);
	assert_int_equal(testdb_ll(side, "SELECT sum(n) FROM job_live"), 8);
	live_exact();
}

/* The number at path a.b of o (a JSON number), or -1 when absent. */
static double
num_at(struct json_object *o, const char *a, const char *b)
{
	struct json_object *x, *y;

	if (!json_object_object_get_ex(o, a, &x) ||
	    !json_object_object_get_ex(x, b, &y))
		return -1;
	return json_object_get_double(y);
}

/*
 * The admin stats (lib/job_api.c job_stats, one pass over the table):
 * counts by type and status, the success rate of the finished (100 with
 * none completed or failed), the average processing time of the
 * completed ones that have a start, and no average without one.
 */
static void
test_admin_stats(void **state)
{
	struct json_object *o = NULL, *counts;

	(void)state;
	testdb_sql(side,
		   "INSERT INTO jobs (id, type, status, max_attempts, "
		   "timeout_s, input, started_at, completed_at) VALUES "
		   "('job_1_as1', 'scenes', 'completed', 1, 60, '{}', now() - "
		   "interval '10 s', now()), ('job_1_as2', 'scenes', "
		   "'completed', 1, 60, '{}', now() - interval '21 s', now()), "
		   "('job_1_as3', 'scenes', 'failed', 1, 60, '{}', now(), "
		   "now()), ('job_1_as4', 'scenes', 'pending', 1, 60, '{}', "
		   "NULL, NULL), ('job_1_as5', 'cartoonize', 'cancelled', 1, "
		   "60, '{}', NULL, now()), ('job_1_as6', 'noop', 'completed', "
		   "1, 60, '{}', NULL, now())");
	assert_int_equal(job_stats(db, &o), SJ_OK);
	counts = json_object_object_get(o, "counts");
	assert_true(num_at(counts, "scenes", "completed") == 2);
	assert_true(num_at(counts, "scenes", "failed") == 1);
	assert_true(num_at(counts, "scenes", "pending") == 1);
	assert_true(num_at(counts, "scenes", "cancelled") == -1);
	assert_true(num_at(counts, "cartoonize", "cancelled") == 1);
	assert_true(num_at(counts, "noop", "completed") == 1);
	assert_true(num_at(o, "successRates", "scenes") == 66.7);
	assert_true(num_at(o, "successRates", "cartoonize") == 100);
	assert_true(num_at(o, "successRates", "noop") == 100);
	assert_true(num_at(o, "averageProcessingTimes", "scenes") == 15.5);
	assert_true(num_at(o, "averageProcessingTimes", "noop") == -1);
	assert_true(num_at(o, "averageProcessingTimes", "cartoonize") == -1);
	json_object_put(o);
}

/*
 * Health's last 24 h (sql/018): whole hours from job_finished_hours, the
 * minutes at both ends from job_finished_minutes; a job finished just
 * outside the window is not counted, one just inside is, and the last
 * hour holds what finished in the last 60 minutes.
 */
static void
test_health_window(void **state)
{
	struct json_object *doc = NULL, *m;
	enum health_level lvl;
	int status = 0;

	(void)state;
	testdb_sql(
	    side,
	    "INSERT INTO jobs (id, type, status, max_attempts, "
	    "timeout_s, input, started_at, completed_at, error_code) "
	    "SELECT 'job_1_hw' || g, 'scenes', s, 3, 60, '{}', now() - "
	    "a - interval '10 seconds', now() - a, c FROM (VALUES "
	    "(1, 'failed', interval '24 hours 2 minutes', 'JOB_FAILED'), "
	    "(2, 'completed', interval '23 hours 58 minutes', NULL), "
	    "(3, 'failed', interval '12 hours', 'EXTERNAL_SERVICE_ERROR'), "
	    "(4, 'completed', interval '30 minutes', NULL), "
	    "(5, 'failed', interval '2 minutes', 'INVALID_INPUT'), "
	    "(6, 'cancelled', interval '61 minutes', NULL)) "
	    "v (g, s, a, c)");
	assert_int_equal(health_build_level(db, &cfg, &doc, &status, &lvl),
			 SJ_OK);
	m = json_object_object_get(doc, "metrics");
	/* 2 completed, 1 failed of the system's: 66.67 % */
	assert_true(json_object_get_double(
			json_object_object_get(m, "successRate")) == 66.67);
	assert_int_equal(
	    json_object_get_int64(json_object_object_get(m, "jobsPerHour")), 2);
	assert_true(json_object_get_double(json_object_object_get(
			m, "averageProcessingTime")) > 0);
	json_object_put(doc);
}

/* The samples of one family's label set, for the histogram checks. */
struct series_seen {
	char key[700]; /* family | labels without le */
	double last;   /* the last bucket's value */
	double inf;    /* +Inf's, or -1 */
};

/* name{labels} value: splits into name, labels without le, le, value. */
static void
split_sample(const char *line, char *name, size_t nsz, char *labels, size_t lsz,
	     char *le, size_t lesz, double *v)
{
	const char *sp = strrchr(line, ' '), *br = strchr(line, '{');
	const char *end = br && br < sp ? br : sp;
	const char *p;
	size_t n = 0;

	snprintf(name, nsz, "%.*s", (int)(end - line), line);
	labels[0] = le[0] = '\0';
	*v = strtod(sp + 1, NULL);
	if (br == NULL || br > sp)
		return;
	for (p = br + 1; *p != '}' && p < sp;) {
		const char *q = strchr(p, '"');
		const char *close = strchr(q + 1, '"');

		if (strncmp(p, "le=", 3) == 0)
			snprintf(le, lesz, "%.*s", (int)(close - q - 1), q + 1);
		else
			n += (size_t)snprintf(labels + n, lsz - n, "%.*s;",
					      (int)(close + 1 - p), p);
		p = close + 1;
		if (*p == ',')
			p++;
	}
}

static bool
ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Checks the text format's rules over the whole exposition. */
static void
check_exposition(const char *text)
{
	static char fams[64][96];
	static struct series_seen seen[256];
	char line[1024], name[128], labels[512], le[32], key[700];
	size_t nfam = 0, nseen = 0, i;
	const char *p = text, *cur = NULL, *type = NULL;
	double v;

	while (*p) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_true(nfam < 64);
			snprintf(fams[nfam], sizeof(fams[nfam]), "%.*s",
				 (int)strcspn(line + 7, " "), line + 7);
			for (size_t k = 0; k < nfam; k++)
				if (strcmp(fams[k], fams[nfam]) == 0)
					fail_msg("HELP twice: %s", fams[k]);
			cur = fams[nfam++];
			type = NULL;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_non_null(cur);
			assert_int_equal(strncmp(line + 7, cur, strlen(cur)),
					 0);
			assert_null(type);
			type =
			    line[7 + strlen(cur)] ? line + 8 + strlen(cur) : "";
			type = strstr(type, "histogram") ? "histogram" : "x";
			continue;
		}
		assert_non_null(cur);
		split_sample(line, name, sizeof(name), labels, sizeof(labels),
			     le, sizeof(le), &v);
		/* every sample belongs to the family declared last */
		if (strcmp(name, cur) != 0) {
			assert_string_equal(type, "histogram");
			assert_int_equal(strncmp(name, cur, strlen(cur)), 0);
		}
		if (strcmp(type, "histogram") != 0)
			continue;
		snprintf(key, sizeof(key), "%s|%s", cur, labels);
		for (i = 0; i < nseen; i++)
			if (strcmp(seen[i].key, key) == 0)
				break;
		if (i == nseen) {
			assert_true(nseen < 256);
			snprintf(seen[i].key, sizeof(seen[i].key), "%s", key);
			seen[i].last = 0;
			seen[i].inf = -1;
			nseen++;
		}
		if (ends_with(name, "_bucket")) {
			assert_true(le[0] != '\0');
			assert_true(seen[i].inf < 0); /* nothing after +Inf */
			assert_true(v >= seen[i].last);
			seen[i].last = v;
			if (strcmp(le, "+Inf") == 0)
				seen[i].inf = v;
		} else if (ends_with(name, "_count")) {
			if (seen[i].inf != v)
				fail_msg("%s: _count %g, +Inf %g", key, v,
					 seen[i].inf);
		}
	}
}

static void
scrape(struct buf *b)
{
	buf_init(b, 1 << 20);
	assert_int_equal(health_metrics(db, b), SJ_OK);
	assert_non_null(b->data);
	check_exposition(b->data);
}

static void
expect(const struct buf *b, const char *line)
{
	if (strstr(b->data, line) == NULL)
		fail_msg("the exposition lacks %s:\n%s", line, b->data);
}

/* Request and upstream batches add up; the exposition keeps the rules. */
static void
test_exposition(void **state)
{
	static const char *const routes[] = {"/api/jobs/*", "/metrics"};
	struct http_count c[2] = {{routes[0], 200, 3}, {routes[1], 200, 1}};
	struct http_hist h[2];
	struct upstream_stats *up = calloc(1, sizeof(*up));
	struct job_done d = {"job_1_ex1", 1, "{}", NULL, false};
	struct buf b;

	(void)state;
	assert_non_null(up);
	memset(h, 0, sizeof(h));
	h[0].route = routes[0];
	h[1].route = routes[1];
	for (int i = 0; i < 3; i++)
		hist_observe(&h[0].h, &counters_http_le, 0.002 * (i + 1));
	hist_observe(&h[1].h, &counters_http_le, 0.7);
	/* twice: the second flush adds to the rows of the first */
	assert_int_equal(counters_add_requests(db, c, 2, h, 2), SJ_OK);
	assert_int_equal(counters_add_requests(db, c, 2, h, 2), SJ_OK);
	upstream_observe(up, "openai", "chat", UPSTREAM_OK, 1.2);
	upstream_observe(up, "openai", "chat", UPSTREAM_429, 0.03);
	upstream_observe(up, "openai", "image", UPSTREAM_OK, 20);
	testdb_sql(side, "INSERT INTO workers (id, host, pid, jobs_in_hand) "
			 "VALUES ('w9', 'h', 1, 3)");
	assert_int_equal(counters_add_upstream(db, "w9", 8, up), SJ_OK);
	assert_int_equal(counters_add_upstream(db, "w9", 8, up), SJ_OK);
	free(up);
	processing("ex", 1, 3);
	assert_int_equal(job_complete_batch(db, "w1", 1, &d), SJ_OK);
	testdb_sql(side, "INSERT INTO jobs (id, type, status, max_attempts, "
			 "timeout_s, input) VALUES ('job_1_exp', 'scenes', "
			 "'pending', 3, 60, '{}')");
	scrape(&b);
	expect(&b,
	       "\nstoryjobs_queue_depth{type=\"scenes\",status=\"pending\"} "
	       "1\n");
	expect(&b, "\nstoryjobs_jobs_finished_total{type=\"scenes\","
		   "outcome=\"completed\"} 1\n");
	expect(&b, "\nstoryjobs_job_duration_seconds_bucket{le=\"5\"} 0\n");
	expect(&b, "\nstoryjobs_job_duration_seconds_bucket{le=\"15\"} 1\n");
	expect(&b, "\nstoryjobs_job_duration_seconds_count 1\n");
	expect(&b, "\nstoryjobs_worker_slots{worker=\"w9\"} 8\n");
	expect(&b, "\nstoryjobs_worker_slots_in_use{worker=\"w9\"} 3\n");
	expect(&b, "\nstoryjobs_http_requests_total{route=\"/api/jobs/*\","
		   "status=\"200\"} 6\n");
	expect(&b, "\nstoryjobs_http_request_duration_seconds_bucket{route="
		   "\"/api/jobs/*\",le=\"0.005\"} 4\n");
	expect(&b, "\nstoryjobs_http_request_duration_seconds_bucket{route="
		   "\"/api/jobs/*\",le=\"0.01\"} 6\n");
	expect(&b, "\nstoryjobs_http_request_duration_seconds_count{route="
		   "\"/metrics\"} 2\n");
	expect(&b, "\nstoryjobs_http_request_duration_seconds_sum{route="
		   "\"/metrics\"} 1.4\n");
	expect(&b, "\nstoryjobs_upstream_calls_total{provider=\"openai\","
		   "kind=\"chat\",outcome=\"http_429\"} 2\n");
	expect(&b, "\nstoryjobs_upstream_call_duration_seconds_bucket{"
		   "provider=\"openai\",kind=\"image\",le=\"10\"} 0\n");
	expect(&b, "\nstoryjobs_upstream_call_duration_seconds_bucket{"
		   "provider=\"openai\",kind=\"image\",le=\"30\"} 2\n");
	expect(&b, "\nstoryjobs_upstream_call_duration_seconds_count{"
		   "provider=\"openai\",kind=\"chat\"} 4\n");
	expect(&b, "# TYPE storyjobs_job_retries_total counter\n");
	buf_free(&b);
}

/* An empty database still gives every family and the zero histogram. */
static void
test_exposition_empty(void **state)
{
	struct buf b;

	(void)state;
	scrape(&b);
	expect(&b, "\nstoryjobs_job_duration_seconds_bucket{le=\"+Inf\"} 0\n");
	expect(&b, "\nstoryjobs_job_duration_seconds_count 0\n");
	expect(&b, "# TYPE storyjobs_http_request_duration_seconds "
		   "histogram\n");
	expect(&b, "# TYPE storyjobs_upstream_calls_total counter\n");
	buf_free(&b);
}

/*
 * A flush in a thread of its own (the library's session is the
 * thread's alone meanwhile), its series in the reverse of their key
 * order: b before a.
 */
struct flush {
	bool upstream;
	enum sj_err e;
};

static void *
flush_reversed(void *p)
{
	struct flush *f = p;
	struct http_count c[2] = {{"/lock/b", 200, 1}, {"/lock/a", 200, 1}};
	struct http_hist h[2];
	struct upstream_stats *up;

	if (!f->upstream) {
		memset(h, 0, sizeof(h));
		h[0].route = c[0].route;
		h[1].route = c[1].route;
		f->e = counters_add_requests(db, c, 2, h, 2);
		return NULL;
	}
	if ((up = calloc(1, sizeof(*up))) == NULL) {
		f->e = SJ_ENOMEM;
		return NULL;
	}
	upstream_observe(up, "lock-b", "chat", UPSTREAM_OK, 1);
	upstream_observe(up, "lock-a", "chat", UPSTREAM_OK, 1);
	f->e = counters_add_upstream(db, "w-lock", 1, up);
	free(up);
	return NULL;
}

/* LOCK_B locks b's row; FREE_A is 1 while a's row is not locked */
#define LOCK_B(table, b) "SELECT 1 FROM " table " WHERE " b " FOR UPDATE"
#define FREE_A(table, a)                                                       \
	"SELECT count(*) FROM (SELECT 1 FROM " table " WHERE " a               \
	" FOR UPDATE SKIP LOCKED) x"

/*
 * While the side session holds the row of series b in table, a flush of
 * (b, a) waits on it, and must by then hold a's row: each statement
 * takes its rows in key order, so two processes flushing the same series
 * wait on each other instead of deadlocking (seen: 40P01 between two
 * FastCGI processes, and that flush's counts lost).
 */
static void
lock_order(bool upstream, const char *hold, const char *free_a)
{
	struct flush f = {upstream, SJ_EINVAL};
	struct db *probe = NULL;
	pthread_t t;
	long long waiting = 0;

	assert_int_equal(db_open(cfg.database_url, "test-probe", 5000, &probe),
			 SJ_OK);
	testdb_sql(side, "BEGIN");
	assert_int_equal(testdb_ll(side, hold), 1);
	assert_int_equal(pthread_create(&t, NULL, flush_reversed, &f), 0);
	for (int i = 0; i < 500 && waiting == 0; i++) {
		waiting = testdb_ll(probe, "SELECT count(*) FROM "
					   "pg_stat_activity WHERE "
					   "wait_event_type = 'Lock' AND "
					   "datname = current_database()");
		if (waiting == 0)
			usleep(10 * 1000);
	}
	assert_int_equal(waiting, 1);
	assert_int_equal(testdb_ll(probe, free_a), 0); /* taken first */
	testdb_sql(side, "ROLLBACK");
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(f.e, SJ_OK);
	db_close(probe);
}

static void
test_flush_lock_order(void **state)
{
	struct flush seed = {false, SJ_EINVAL};

	(void)state;
	testdb_sql(side, "INSERT INTO workers (id, host, pid) VALUES "
			 "('w-lock', 'h', 1)");
	/* the rows exist: a flush updates them */
	(void)flush_reversed(&seed);
	assert_int_equal(seed.e, SJ_OK);
	seed.upstream = true;
	(void)flush_reversed(&seed);
	assert_int_equal(seed.e, SJ_OK);
	lock_order(false, LOCK_B("http_request_durations", "route = '/lock/b'"),
		   FREE_A("http_request_durations", "route = '/lock/a'"));
	lock_order(false, LOCK_B("http_requests", "route = '/lock/b'"),
		   FREE_A("http_requests", "route = '/lock/a'"));
	lock_order(true, LOCK_B("upstream_durations", "provider = 'lock-b'"),
		   FREE_A("upstream_durations", "provider = 'lock-a'"));
	lock_order(true, LOCK_B("upstream_calls", "provider = 'lock-b'"),
		   FREE_A("upstream_calls", "provider = 'lock-a'"));
	/* three flushes of one each */
	assert_int_equal(testdb_ll(side, "SELECT count FROM http_requests "
					 "WHERE route = '/lock/a'"),
			 3);
	assert_int_equal(testdb_ll(side, "SELECT n FROM upstream_calls WHERE "
					 "provider = 'lock-a'"),
			 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist),
	    cmocka_unit_test_setup(test_finishing_paths, fresh),
	    cmocka_unit_test_setup(test_prune_keeps_counts, fresh),
	    cmocka_unit_test_setup(test_live_counts, fresh),
	    cmocka_unit_test_setup(test_start_counts_once, fresh),
	    cmocka_unit_test_setup(test_admin_stats, fresh),
	    cmocka_unit_test_setup(test_health_window, fresh),
	    cmocka_unit_test_setup(test_exposition, fresh),
	    cmocka_unit_test_setup(test_exposition_empty, fresh),
	    cmocka_unit_test_setup(test_flush_lock_order, fresh),
	};

	if (getenv("TEST_DATABASE_URL") == NULL)
		return 77;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
