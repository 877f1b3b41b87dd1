/*
 * The health, metrics and cron routes through nginx.  The metrics cases
 * finish real jobs (a cancel through the API, a worker's completion, a
 * job through the fake upstream) and check the counters move with them,
 * and do not go down when the rows are pruned.
 *
 * The health verdict depends on the whole jobs and workers tables, so the
 * group setup moves whatever earlier suites left there into side tables
 * and the teardown puts it back; each case inserts its own rows by SQL and
 * deletes them afterwards.  The rate-limit case runs last: it uses up the
 * cron window, which the setup and teardown reset (rate_limits key
 * "cron").
 *
 * Environment: BASE_URL, DATABASE_URL, WEBHOOK_SECRET, WORKER_BIN,
 * STORYJOBSCTL, FAKE_UPSTREAM.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "fake.h"
#include "itest.h"

static void
sql(const char *q)
{
	PGresult *r = PQexec(itest_pg, q);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fprintf(stderr, "sql failed: %s: %s", q,
			PQerrorMessage(itest_pg));
	assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
	PQclear(r);
}

static double
num(struct json_object *o, const char *key)
{
	struct json_object *v = jmember(o, key);

	assert_true(json_object_is_type(v, json_type_double) ||
		    json_object_is_type(v, json_type_int));
	return json_object_get_double(v);
}

/* True when the string array holds s. */
static int
has_str(struct json_object *arr, const char *s)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (strcmp(json_object_get_string(
			       json_object_array_get_idx(arr, i)),
			   s) == 0)
			return 1;
	return 0;
}

static void
get_health(struct resp *r)
{
	http("GET", "/api/jobs/health", NULL, NULL, 0, r);
	assert_non_null(r->json);
}

static void
pending(int n, const char *age)
{
	char q[512];

	snprintf(q, sizeof(q),
		 "INSERT INTO jobs (id, type, status, max_attempts, "
		 "timeout_s, input, run_at, created_at) SELECT "
		 "'job_1_opsp' || g, 'scenes', 'pending', 3, 60, '{}', now() "
		 "- interval '%s', now() - interval '%s' FROM "
		 "generate_series(1, %d) g",
		 age, age, n);
	sql(q);
}

static void
live_worker(void)
{
	sql("INSERT INTO workers (id, host, pid, mem_used_pct) VALUES "
	    "('ops-test-worker', 'test', 1, 37)");
}

static void
cleanup(void)
{
	sql("DELETE FROM jobs WHERE id LIKE 'job_1_ops%'");
	sql("DELETE FROM workers WHERE id = 'ops-test-worker'");
	/* finishes are counted as they happen (018): a fresh 24 h window */
	sql("DELETE FROM job_finished_minutes");
	sql("DELETE FROM job_finished_hours");
}

static int
stash(void **state)
{
	(void)state;
	sql("CREATE TABLE ops_test_jobs AS SELECT * FROM jobs");
	sql("CREATE TABLE ops_test_workers AS SELECT * FROM workers");
	sql("CREATE TABLE ops_test_minutes AS SELECT * FROM "
	    "job_finished_minutes");
	sql("CREATE TABLE ops_test_hours AS SELECT * FROM job_finished_hours");
	sql("DELETE FROM jobs");
	sql("DELETE FROM job_finished_minutes");
	sql("DELETE FROM job_finished_hours");
	sql("DELETE FROM workers");
	/* a fresh cron window: earlier suites' calls must not count here */
	sql("DELETE FROM rate_limits WHERE key = 'cron'");
	return 0;
}

static int
unstash(void **state)
{
	(void)state;
	cleanup();
	sql("INSERT INTO jobs SELECT * FROM ops_test_jobs");
	sql("INSERT INTO workers SELECT * FROM ops_test_workers");
	/* the rows put back were counted again as they went in */
	sql("DELETE FROM job_finished_minutes");
	sql("DELETE FROM job_finished_hours");
	sql("INSERT INTO job_finished_minutes SELECT * FROM ops_test_minutes");
	sql("INSERT INTO job_finished_hours SELECT * FROM ops_test_hours");
	sql("DROP TABLE ops_test_jobs");
	sql("DROP TABLE ops_test_workers");
	sql("DROP TABLE ops_test_minutes");
	sql("DROP TABLE ops_test_hours");
	/* give the window back to the suites that run after this one */
	sql("DELETE FROM rate_limits WHERE key = 'cron'");
	return 0;
}

static void
test_health_shape_empty(void **state)
{
	static const char *const ss[] = {"monitor", "manager", "config",
					 "database", "worker"};
	static const char *const ms[] = {
	    "queueDepth",  "processingCapacity", "currentlyProcessing",
	    "successRate", "errorRate",		 "averageProcessingTime",
	    "jobsPerHour", "resourceUtilization"};
	static const char *const os[] = {
	    "autoProcessingEnabled", "processingInterval", "maxConcurrentJobs"};
	struct json_object *h;
	struct resp r;

	(void)state;
	get_health(&r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status"), "healthy");
	assert_string_equal(jstr(r.json, "message"), "All systems operational");
	assert_non_null(jstr(r.json, "timestamp"));
	for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++)
		assert_non_null(jstr(jmember(r.json, "systemStatus"), ss[i]));
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		(void)num(jmember(r.json, "metrics"), ms[i]);
	for (size_t i = 0; i < sizeof(os) / sizeof(os[0]); i++)
		(void)jmember(jmember(r.json, "operational"), os[i]);
	h = jmember(r.json, "health");
	assert_true(json_object_is_type(jmember(h, "alerts"), json_type_array));
	assert_true(json_object_is_type(jmember(h, "recommendations"),
					json_type_array));
	assert_int_equal(jint(h, "stuckJobsCount"), 0);
	assert_true(num(jmember(r.json, "metrics"), "successRate") == 100.0);
	assert_true(num(jmember(r.json, "metrics"), "errorRate") == 0.0);
	assert_int_equal(jint(jmember(r.json, "metrics"), "queueDepth"), 0);
	resp_free(&r);
}

static void
test_health_queue_warning(void **state)
{
	struct json_object *m;
	struct resp r;

	(void)state;
	live_worker();
	pending(25, "1 second");
	get_health(&r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status"), "warning");
	m = jmember(r.json, "metrics");
	assert_int_equal(jint(m, "queueDepth"), 25);
	assert_int_equal(jint(m, "resourceUtilization"), 37);
	assert_true(has_str(jmember(jmember(r.json, "health"), "alerts"),
			    "Queue depth is elevated"));
	assert_true(
	    has_str(jmember(jmember(r.json, "health"), "recommendations"),
		    "Monitor queue closely and consider scaling"));
	resp_free(&r);
	cleanup();
}

/*
 * The queue depth is a count kept as jobs change (sql/018): a status
 * changed by hand in SQL is not seen until `storyjobsctl recount`.
 */
static void
test_health_recount(void **state)
{
	static const char *const recount[] = {"recount", NULL};
	struct resp r;

	(void)state;
	live_worker();
	/* no periodic recount (every 10 minutes) during the test */
	sql("UPDATE job_count_state SET recounted_at = now() + interval '1 "
	    "hour'");
	pending(25, "1 second");
	sql("UPDATE jobs SET status = 'cancelled', completed_at = now() WHERE "
	    "id IN ('job_1_opsp1', 'job_1_opsp2', 'job_1_opsp3', "
	    "'job_1_opsp4', 'job_1_opsp5', 'job_1_opsp6')");
	get_health(&r);
	assert_int_equal(jint(jmember(r.json, "metrics"), "queueDepth"), 25);
	resp_free(&r);
	assert_int_equal(itest_ctl(NULL, recount), 0);
	get_health(&r);
	assert_int_equal(r.status, 200);
	assert_int_equal(jint(jmember(r.json, "metrics"), "queueDepth"), 19);
	resp_free(&r);
	/* nothing left to correct */
	assert_int_equal(sql_ll("SELECT jobs_live_recount()"), 0);
	sql("UPDATE job_count_state SET recounted_at = now()");
	cleanup();
}

static void
test_health_queue_critical(void **state)
{
	struct resp r;

	(void)state;
	live_worker();
	pending(55, "1 second");
	get_health(&r);
	assert_int_equal(r.status, 503);
	assert_string_equal(jstr(r.json, "status"), "critical");
	assert_string_equal(jstr(r.json, "message"),
			    "System experiencing critical issues");
	resp_free(&r);
	cleanup();
}

static void
test_health_no_worker(void **state)
{
	struct resp r;

	(void)state;
	pending(1, "1 second");
	get_health(&r);
	assert_int_equal(r.status, 503);
	assert_string_equal(jstr(r.json, "status"), "critical");
	assert_string_equal(jstr(jmember(r.json, "systemStatus"), "worker"),
			    "down");
	resp_free(&r);
	cleanup();
}

static void
test_health_old_pending(void **state)
{
	struct resp r;

	(void)state;
	live_worker();
	pending(1, "31 minutes");
	get_health(&r);
	assert_int_equal(r.status, 503);
	assert_true(has_str(jmember(jmember(r.json, "health"), "alerts"),
			    "Jobs are waiting too long in queue"));
	resp_free(&r);
	cleanup();
}

static void
test_health_failures(void **state)
{
	struct json_object *m;
	struct resp r;

	(void)state;
	live_worker();
	sql("INSERT INTO jobs (id, type, status, max_attempts, timeout_s, "
	    "input, started_at, completed_at, error_code, error_message) "
	    "SELECT 'job_1_opsf' || g, 'cartoonize', CASE WHEN g <= 3 THEN "
	    "'failed' ELSE 'completed' END, 3, 60, '{}', now() - interval "
	    "'10 seconds', now(), NULL, NULL FROM generate_series(1, 10) g");
	/* failed for their callers' input: not the system's failures */
	sql("INSERT INTO jobs (id, type, status, max_attempts, timeout_s, "
	    "input, started_at, completed_at, error_code, error_message) "
	    "SELECT 'job_1_opsi' || g, 'cartoonize', 'failed', 3, 60, '{}', "
	    "now() - interval '10 seconds', now(), 'INVALID_INPUT', 'bad "
	    "image' FROM generate_series(1, 40) g");
	get_health(&r);
	assert_int_equal(r.status, 503);
	assert_string_equal(jstr(r.json, "status"), "critical");
	m = jmember(r.json, "metrics");
	assert_true(num(m, "successRate") == 70.0);
	assert_true(num(m, "errorRate") == 30.0);
	assert_int_equal(jint(m, "jobsPerHour"), 50);
	assert_true(has_str(jmember(jmember(r.json, "health"), "alerts"),
			    "Job success rate could be improved"));
	resp_free(&r);
	cleanup();
}

static void
test_metrics(void **state)
{
	static const char *const names[] = {
	    "storyjobs_queue_depth{type=\"scenes\",status=\"pending\"} 2",
	    "# TYPE storyjobs_jobs_finished_total counter\n",
	    "# TYPE storyjobs_job_duration_seconds histogram\n",
	    "storyjobs_job_duration_seconds_bucket{le=\"+Inf\"} ",
	    "# TYPE storyjobs_http_request_duration_seconds histogram\n",
	    "# TYPE storyjobs_upstream_calls_total counter\n",
	    "# TYPE storyjobs_job_retries_total counter\n",
	    "storyjobs_worker_last_heartbeat_seconds{worker=\"ops-test-"
	    "worker\"}",
	    "storyjobs_worker_slots{worker=\"ops-test-worker\"} 0\n",
	    "storyjobs_worker_slots_in_use{worker=\"ops-test-worker\"} 0\n",
	    "storyjobs_http_requests_total{route=\"/api/jobs/health\"",
	    "# TYPE storyjobs_build_info gauge\n"
	    "storyjobs_build_info{version=\"" PACKAGE_VERSION "\"} 1\n"};
	struct resp r;

	(void)state;
	live_worker();
	pending(2, "1 second");
	http("GET", "/metrics", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(strncmp(r.ctype, "text/plain", 10) == 0);
	assert_non_null(r.body.data);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strstr(r.body.data, names[i]) == NULL)
			fail_msg("metrics lack %s:\n%s", names[i], r.body.data);
	resp_free(&r);
	cleanup();
}

/* GET /metrics; the body (caller frees r). */
static void
scrape(struct resp *r)
{
	http("GET", "/metrics", NULL, NULL, 0, r);
	assert_int_equal(r->status, 200);
	assert_non_null(r->body.data);
}

/* The value of the sample series (name{labels}) in text, 0 when absent. */
static double
sample(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p;) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return 0;
}

/* sample() of a fresh scrape. */
static double
scraped(const char *series)
{
	struct resp r;
	double v;

	scrape(&r);
	v = sample(r.body.data, series);
	resp_free(&r);
	return v;
}

#define FIN(type, outcome)                                                     \
	"storyjobs_jobs_finished_total{type=\"" type "\",outcome=\"" outcome   \
	"\"}"
#define DUR_COUNT "storyjobs_job_duration_seconds_count"

/* Polls until a worker reports its slots; checks slots in use. */
static void
expect_worker_slots(void)
{
	struct resp r;

	for (int i = 0; i < 50; i++) {
		const char *p;

		scrape(&r);
		p = strstr(r.body.data, "\nstoryjobs_worker_slots{worker=\"");
		if (p != NULL) {
			double slots = strtod(strchr(p, '}') + 2, NULL);
			const char *q = strstr(
			    r.body.data, "\nstoryjobs_worker_slots_in_use{");

			/* MAX_CONCURRENT_JOBS=3 in the stack, plus prefetch */
			assert_true(slots >= 3);
			assert_non_null(q);
			q = strchr(q, '}') + 2;
			assert_true(strtod(q, NULL) >= 0 &&
				    strtod(q, NULL) <= slots);
			resp_free(&r);
			return;
		}
		resp_free(&r);
		usleep(100 * 1000);
	}
	fail_msg("no worker reported its slots within 5 s");
}

/*
 * Counters are counters: a job cancelled through the API and one a real
 * worker completed are counted as they finish, and pruning their rows
 * (storyjobsctl prune with a retention, then maintain) does not lower
 * the counts.
 */
static void
test_metrics_counters_survive_prune(void **state)
{
	static const char *const prune[] = {"prune", "--days", "30", NULL};
	static const char *const maintain[] = {"maintain", NULL};
	double done0 = scraped(FIN("image-generation", "completed"));
	double cancelled0 = scraped(FIN("image-generation", "cancelled"));
	double dur0 = scraped(DUR_COUNT), done1, cancelled1, dur1;
	char a[64], b[128], q[400];
	struct json_object *doc;
	struct resp r;
	pid_t w;

	(void)state;
	/* no worker runs yet: this one is still pending when cancelled */
	itest_job_start("image-generation",
			"{\"image_prompt\":\"ops cancelled\"}", NULL, a);
	snprintf(b, sizeof(b), "/api/jobs/%s/cancel", a);
	http_json("POST", b, NULL, "{}", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	w = itest_worker(NULL);
	doc = itest_job_run("image-generation",
			    "{\"image_prompt\":\"ops counted\"}", NULL, 60);
	snprintf(b, sizeof(b), "%s", jstr(doc, "jobId"));
	json_object_put(doc);
	expect_worker_slots();
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	done1 = scraped(FIN("image-generation", "completed"));
	cancelled1 = scraped(FIN("image-generation", "cancelled"));
	dur1 = scraped(DUR_COUNT);
	assert_true(done1 == done0 + 1);
	assert_true(cancelled1 == cancelled0 + 1);
	assert_true(dur1 == dur0 + 1);
	/* past the retention: pruned, the counts stay */
	snprintf(q, sizeof(q),
		 "UPDATE jobs SET completed_at = now() - interval '40 days' "
		 "WHERE id IN ('%s', '%s')",
		 a, b);
	sql(q);
	assert_int_equal(itest_ctl(NULL, prune), 0);
	assert_int_equal(itest_ctl(NULL, maintain), 0);
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM jobs WHERE id IN ('%s', '%s')", a, b);
	assert_int_equal(sql_ll(q), 0);
	assert_true(scraped(FIN("image-generation", "completed")) == done1);
	assert_true(scraped(FIN("image-generation", "cancelled")) ==
		    cancelled1);
	assert_true(scraped(DUR_COUNT) == dur1);
}

#define HEALTH_DUR "storyjobs_http_request_duration_seconds"
#define HEALTH_RT  "{route=\"/api/jobs/health\""

/*
 * The request latency histogram of a route after real requests: the
 * programs flush every 5 s, so this asks until the count shows, then
 * checks the buckets are cumulative up to +Inf = _count and the times
 * plausible (under 10 s each, and some time taken).
 */
static void
test_metrics_request_latency(void **state)
{
	static const char *const les[] = {"0.005", "0.01", "0.025", "0.05",
					  "0.1",   "0.25", "0.5",   "1",
					  "2.5",   "5",	   "10",    "+Inf"};
	char series[160];
	struct resp r;
	double count = 0, sum, prev = 0;

	(void)state;
	for (int i = 0; i < 30 && count < 1; i++) {
		struct resp h;

		get_health(&h);
		resp_free(&h);
		count = scraped(HEALTH_DUR "_count" HEALTH_RT "}");
		if (count < 1)
			usleep(500 * 1000);
	}
	assert_true(count >= 1);
	scrape(&r);
	count = sample(r.body.data, HEALTH_DUR "_count" HEALTH_RT "}");
	sum = sample(r.body.data, HEALTH_DUR "_sum" HEALTH_RT "}");
	assert_true(sum > 0 && sum < 10 * count);
	for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
		double v;

		snprintf(series, sizeof(series),
			 HEALTH_DUR "_bucket" HEALTH_RT ",le=\"%s\"}", les[i]);
		if (strstr(r.body.data, series) == NULL)
			fail_msg("no %s in:\n%s", series, r.body.data);
		v = sample(r.body.data, series);
		assert_true(v >= prev);
		prev = v;
	}
	assert_true(prev == count);
	/* le 10 holds them all: no health answer took 10 s */
	assert_true(sample(r.body.data, HEALTH_DUR "_bucket" HEALTH_RT
						   ",le=\"10\"}") == count);
	resp_free(&r);
}

#define UP	"{provider=\"openai\",kind=\"image\""
#define UP_CALL "storyjobs_upstream_calls_total" UP
#define UP_DUR	"storyjobs_upstream_call_duration_seconds"
#define RETRIES "storyjobs_job_retries_total{code=\"EXTERNAL_SERVICE_ERROR\"}"

/*
 * A real job through the fake upstream: its image call answered 429
 * once (with Retry-After: the job is deferred, no attempt spent, no
 * retry counted), then 500 (a retry), then 200.  Once the worker stopped
 * (its last flush), the calls are counted by outcome, their latency in
 * the histogram, the one retry by its code and the completion by its
 * type.
 */
static void
test_metrics_upstream(void **state)
{
	struct fake fk;
	struct json_object *doc;
	double ok0, limited0, err0, count0, retries0, done0, count;
	char body[128];
	pid_t w;

	(void)state;
	ok0 = scraped(UP_CALL ",outcome=\"ok\"}");
	limited0 = scraped(UP_CALL ",outcome=\"http_429\"}");
	err0 = scraped(UP_CALL ",outcome=\"http_5xx\"}");
	count0 = scraped(UP_DUR "_count" UP "}");
	retries0 = scraped(RETRIES);
	done0 = scraped(FIN("image-generation", "completed"));
	fake_start(&fk);
	fake_script(&fk, FAKE_IMAGES, "\"modes\":[\"429:1\",\"500\"]");
	w = itest_worker(fake_worker_env(&fk, NULL));
	snprintf(body, sizeof(body), "{\"image_prompt\":\"ops upstream %ld\"}",
		 (long)getpid());
	doc = itest_job_run("image-generation", body, NULL, 60);
	json_object_put(doc);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	fake_stop(&fk);
	assert_true(scraped(UP_CALL ",outcome=\"ok\"}") == ok0 + 1);
	assert_true(scraped(UP_CALL ",outcome=\"http_429\"}") == limited0 + 1);
	assert_true(scraped(UP_CALL ",outcome=\"http_5xx\"}") == err0 + 1);
	count = scraped(UP_DUR "_count" UP "}");
	assert_true(count == count0 + 3);
	assert_true(scraped(UP_DUR "_bucket" UP ",le=\"+Inf\"}") == count);
	assert_true(scraped(UP_DUR "_sum" UP "}") < 60 * count);
	assert_true(scraped(RETRIES) == retries0 + 1);
	assert_true(scraped(FIN("image-generation", "completed")) == done0 + 1);
}

static void
cron(const char *path, const char *secret, const char *body, struct resp *r)
{
	char sh[1200];
	const char *h[3] = {"Content-Type: application/json", NULL, NULL};

	if (secret != NULL) {
		snprintf(sh, sizeof(sh), "x-webhook-secret: %s", secret);
		h[1] = sh;
	}
	http("POST", path, h, body, -1, r);
}

static const char *
secret(void)
{
	const char *s = getenv("WEBHOOK_SECRET");

	assert_non_null(s);
	return s;
}

static void
test_cron_unauthorized(void **state)
{
	struct resp r;

	(void)state;
	cron("/api/cron/process-jobs", NULL, "{}", &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(jstr(r.json, "error"),
			    "Unauthorized webhook request");
	assert_string_equal(jstr(r.json, "code"), "UNAUTHORIZED");
	assert_string_equal(jstr(r.json, "reason"), "Missing webhook secret");
	resp_free(&r);
	cron("/api/cron/process-jobs", "wrong-secret", "{}", &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(jstr(r.json, "reason"), "Invalid webhook secret");
	resp_free(&r);
	cron("/api/jobs/process", "x", "{}", &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
}

/* The tick's housekeeping deletes an expired session, keeps a live one. */
static void
test_cron_tick(void **state)
{
	struct json_object *hc;
	struct resp r;

	(void)state;
	sql("WITH u AS (INSERT INTO users (email, password_hash, role) VALUES "
	    "('ops-hk@example.com', 'x', 'user') RETURNING id) INSERT INTO "
	    "sessions (token_hash, user_id, expires_at) SELECT "
	    "sha256(convert_to(t, 'UTF8')), id, now() + d FROM u, (VALUES "
	    "('hk-live', interval '1 hour'), ('hk-gone', interval '-1 "
	    "second')) "
	    "AS v (t, d)");
	cron("/api/cron/process-jobs", secret(), "", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(
	    sql_ll("SELECT count(*) FROM sessions s JOIN users u "
		   "ON u.id = s.user_id WHERE u.email = "
		   "'ops-hk@example.com' AND s.expires_at > now()"),
	    1);
	assert_int_equal(sql_ll("SELECT count(*) FROM sessions s JOIN users u "
				"ON u.id = s.user_id WHERE u.email = "
				"'ops-hk@example.com'"),
			 1);
	sql("DELETE FROM users WHERE email = 'ops-hk@example.com'");
	assert_non_null(jstr(r.json, "timestamp"));
	assert_true(jint(r.json, "processed") >= 0);
	assert_true(jint(r.json, "requeued") >= 0);
	assert_true(jint(r.json, "timedOut") >= 0);
	assert_true(jint(r.json, "queueDepth") >= 0);
	resp_free(&r);
	cron("/api/jobs/process", secret(),
	     "{\"healthCheck\":true,\"cleanup\":true,\"cleanupDays\":30,"
	     "\"maxJobs\":5,\"jobTypes\":[\"scenes\"]}",
	     &r);
	assert_int_equal(r.status, 200);
	assert_true(jint(r.json, "cleaned") >= 0);
	hc = jmember(r.json, "healthCheck");
	assert_true(
	    json_object_is_type(jmember(hc, "healthy"), json_type_boolean));
	assert_non_null(jstr(hc, "message"));
	(void)jmember(hc, "details");
	resp_free(&r);
}

static void
test_cron_force(void **state)
{
	struct resp r;

	(void)state;
	live_worker();
	sql("INSERT INTO jobs (id, type, status, max_attempts, timeout_s, "
	    "input, run_at, priority) VALUES ('job_1_opsforce', 'scenes', "
	    "'pending', 3, 60, '{}', now() + interval '1 hour', 5)");
	cron("/api/cron/process-jobs", secret(),
	     "{\"forceProcessing\":true,\"specificJobId\":\"job_1_opsforce\","
	     "\"jobTypes\":[\"scenes\"]}",
	     &r);
	assert_int_equal(r.status, 200);
	assert_true(jint(r.json, "processed") >= 1);
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs WHERE id = "
				"'job_1_opsforce' AND priority = 0 AND "
				"run_at <= now()"),
			 1);
	resp_free(&r);
	cleanup();
}

static void
test_cron_bad_body(void **state)
{
	static const char *const bodies[] = {"{\"maxJobs\":\"5\"}",
					     "{\"jobTypes\":\"scenes\"}",
					     "{\"cleanup\":1}"};
	struct resp r;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		cron("/api/cron/process-jobs", secret(), bodies[i], &r);
		assert_int_equal(r.status, 400);
		assert_string_equal(jstr(r.json, "code"), "INVALID_INPUT");
		resp_free(&r);
	}
}

/*
 * A user of role with a session whose token is tok ("sjt_" + 43 base64url
 * characters), made by SQL: nginx's login limit may be used up by the
 * earlier suites, and the login route is not what is tested here.
 */
static void
session(const char *email, const char *role, const char *tok)
{
	char q[768];

	snprintf(q, sizeof(q),
		 "WITH u AS (INSERT INTO users (email, password_hash, role) "
		 "VALUES ('%s', 'x', '%s') RETURNING id) INSERT INTO sessions "
		 "(token_hash, user_id, expires_at) SELECT "
		 "sha256(convert_to('%s', 'UTF8')), id, now() + interval "
		 "'1 hour' FROM u",
		 email, role, tok);
	sql(q);
}

/* /api/jobs/process also takes an admin Bearer; a user's gets 403. */
static void
test_cron_admin_bearer(void **state)
{
	static const char admin[] =
	    "sjt_opsadminAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	static const char user[] =
	    "sjt_opsuserAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	struct resp r;

	(void)state;
	session("ops-admin@example.com", "admin", admin);
	session("ops-user@example.com", "user", user);
	http_json("POST", "/api/jobs/process", admin, "{}", &r);
	assert_int_equal(r.status, 200);
	assert_true(jint(r.json, "queueDepth") >= 0);
	resp_free(&r);
	http_json("POST", "/api/jobs/process", user, "{}", &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(jstr(r.json, "code"), "FORBIDDEN");
	resp_free(&r);
	/* the Bearer is not accepted on the cron route */
	http_json("POST", "/api/cron/process-jobs", admin, "{}", &r);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	sql("DELETE FROM users WHERE email IN ('ops-admin@example.com', "
	    "'ops-user@example.com')");
}

/* Last: uses up the shared cron window. */
static void
test_cron_rate_limit(void **state)
{
	struct json_object *d = NULL;
	struct resp r;
	int limited = 0;

	(void)state;
	for (int i = 0; i < 12; i++) {
		cron("/api/cron/process-jobs", secret(), "{}", &r);
		if (r.status == 429 && !limited) {
			limited = 1;
			assert_string_equal(jstr(r.json, "code"),
					    "RATE_LIMIT_EXCEEDED");
			assert_true(r.retry_after[0] != '\0');
			if (!json_object_object_get_ex(r.json, "retryAfter",
						       &d))
				d = jmember(jmember(r.json, "details"),
					    "retryAfter");
			assert_true(json_object_get_int(d) >= 1);
		} else if (r.status != 429) {
			assert_int_equal(r.status, 200);
		}
		resp_free(&r);
	}
	assert_true(limited);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_shape_empty),
	    cmocka_unit_test(test_health_queue_warning),
	    cmocka_unit_test(test_health_recount),
	    cmocka_unit_test(test_health_queue_critical),
	    cmocka_unit_test(test_health_no_worker),
	    cmocka_unit_test(test_health_old_pending),
	    cmocka_unit_test(test_health_failures),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_metrics_counters_survive_prune),
	    cmocka_unit_test(test_metrics_request_latency),
	    cmocka_unit_test(test_metrics_upstream),
	    cmocka_unit_test(test_cron_unauthorized),
	    cmocka_unit_test(test_cron_tick),
	    cmocka_unit_test(test_cron_force),
	    cmocka_unit_test(test_cron_bad_body),
	    cmocka_unit_test(test_cron_admin_bearer),
	    cmocka_unit_test(test_cron_rate_limit),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, stash, unstash);
	itest_done();
	return rc;
}
