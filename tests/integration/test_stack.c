/*
 * End to end through the real stack: HTTP to nginx, the jobs FastCGI
 * program, PostgreSQL, NOTIFY, real worker processes and the media served
 * back by nginx.  tests/integration/run.sh starts everything but the
 * workers, which this program starts and kills itself.
 *
 * Environment: BASE_URL, DATABASE_URL, WORKER_BIN, and the worker's
 * settings (inherited by the workers it starts).
 */
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "itest.h"

/* A request with an optional Content-Type. */
static void
req(const char *method, const char *path, const char *ctype, const char *body,
    long len, struct resp *r)
{
	char hdr[160];
	const char *h[2] = {hdr, NULL};

	snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype ? ctype : "");
	http(method, path, ctype ? h : NULL, body, len, r);
}

static long long
count_jobs(void)
{
	return sql_ll("SELECT count(*) FROM jobs");
}

static double
now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Starts a cartoonize job and returns its id (static storage). */
static const char *
start_cartoon(const char *prompt, const char *style)
{
	static char id[64];
	char body[512];
	struct resp r;

	snprintf(body, sizeof(body), "{\"prompt\":\"%s\",\"style\":\"%s\"}",
		 prompt, style);
	req("POST", "/api/jobs/cartoonize/start", "application/json", body, -1,
	    &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	snprintf(id, sizeof(id), "%s", jstr(r.json, "jobId"));
	assert_string_equal(jstr(r.json, "status"), "pending");
	resp_free(&r);
	return id;
}

struct seen {
	int progress[64];
	int n;
	char last_status[32];
	struct json_object *final; /* status document at the end */
};

/*
 * Polls the status route every 50 ms until a terminal status or until
 * stop_at_progress is reached (-1: never), for at most timeout_s.
 */
static void
poll_job(const char *id, int stop_at_progress, double timeout_s, struct seen *s)
{
	double end = now_s() + timeout_s;
	char path[160];

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/api/jobs/cartoonize/status/%s", id);
	while (now_s() < end) {
		struct json_object *v;
		struct resp r;
		int p;

		req("GET", path, NULL, NULL, 0, &r);
		assert_int_equal(r.status, 200);
		assert_true(json_object_object_get_ex(r.json, "progress", &v));
		p = json_object_get_int(v);
		if (s->n == 0 || s->progress[s->n - 1] != p)
			if (s->n < 64)
				s->progress[s->n++] = p;
		snprintf(s->last_status, sizeof(s->last_status), "%s",
			 jstr(r.json, "status"));
		if (strcmp(s->last_status, "completed") == 0 ||
		    strcmp(s->last_status, "failed") == 0 ||
		    strcmp(s->last_status, "cancelled") == 0 ||
		    (stop_at_progress >= 0 && p >= stop_at_progress)) {
			s->final = json_object_get(r.json);
			resp_free(&r);
			return;
		}
		resp_free(&r);
		usleep(50 * 1000);
	}
	fail_msg("job %s did not finish in %.0f s (status %s)", id, timeout_s,
		 s->last_status);
}

/* The result image answers 200 with an image type and real content. */
static void
check_image(struct json_object *status)
{
	struct json_object *res;
	const char *url;
	struct resp r;

	assert_true(json_object_object_get_ex(status, "result", &res));
	assert_non_null(url = jstr(res, "url"));
	req("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "image/svg+xml");
	assert_true(r.body.len > 500);
	assert_non_null(strstr(r.body.data, "<svg"));
	assert_null(strstr(r.body.data, "<script"));
	resp_free(&r);
}

static void
test_cartoonize_end_to_end(void **state)
{
	static const int steps[] = {0, 10, 33, 40, 66, 90, 100};
	pid_t w = itest_worker(NULL);
	struct json_object *res, *cached;
	const char *id = start_cartoon("a brave fox", "storybook");
	regex_t re;
	struct seen s;

	assert_int_equal(regcomp(&re, "^job_[0-9]+_[a-z0-9]+$", REG_EXTENDED),
			 0);
	assert_int_equal(regexec(&re, id, 0, NULL, 0), 0);
	regfree(&re);
	poll_job(id, -1, 30, &s);
	assert_string_equal(s.last_status, "completed");
	/* progress rose through the contract's steps, never backwards */
	assert_true(s.n >= 3);
	for (int i = 0; i < s.n; i++) {
		int ok = 0;

		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
			ok |= s.progress[i] == steps[k];
		assert_true(ok);
		if (i > 0)
			assert_true(s.progress[i] > s.progress[i - 1]);
	}
	assert_int_equal(s.progress[s.n - 1], 100);
	assert_string_equal(jstr(s.final, "currentStep"),
			    "Cartoonization complete");
	assert_non_null(jstr(s.final, "completedAt"));
	assert_true(json_object_object_get_ex(s.final, "result", &res));
	assert_true(json_object_object_get_ex(res, "cached", &cached));
	assert_false(json_object_get_boolean(cached));
	check_image(s.final);
	json_object_put(s.final);

	/* the same prompt and style come from the cache */
	id = start_cartoon("a brave fox", "storybook");
	poll_job(id, -1, 30, &s);
	assert_string_equal(s.last_status, "completed");
	json_object_object_get_ex(s.final, "result", &res);
	json_object_object_get_ex(res, "cached", &cached);
	assert_true(json_object_get_boolean(cached));
	json_object_put(s.final);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
}

/* Bad requests: the right status, a JSON error, and no row written. */
static void
test_bad_requests(void **state)
{
	static const struct {
		const char *method, *path, *ctype, *body;
		long status;
		const char *code, *error;
	} rows[] = {
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":", 400, "INVALID_INPUT", "Malformed JSON"},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":\"x\"} trailing", 400, "INVALID_INPUT", NULL},
	    {"POST", "/api/jobs/cartoonize/start", "application/json", "[]",
	     400, "INVALID_INPUT", "Request body must be a JSON object"},
	    {"POST", "/api/jobs/cartoonize/start", "application/json", "{}",
	     400, "INVALID_INPUT", "Prompt is required"},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":7}", 400, "INVALID_INPUT", NULL},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":\"p\",\"style\":\"oil\"}", 400, "INVALID_INPUT",
	     "Invalid style. Must be one of: storybook, semi-realistic, "
	     "comic-book, flat-illustration, anime"},
	    {"POST", "/api/jobs/cartoonize/start", "text/plain",
	     "{\"prompt\":\"p\"}", 415, "UNSUPPORTED_MEDIA_TYPE", NULL},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":\"\\u0000\"}", 400, "INVALID_INPUT", NULL},
	    {"POST", "/api/jobs/teleport/start", "application/json",
	     "{\"prompt\":\"p\"}", 404, "NOT_FOUND", NULL},
	    {"GET", "/api/jobs/cartoonize/start", NULL, NULL, 405,
	     "INVALID_INPUT", NULL},
	    {"GET", "/api/jobs/not-a-job-id", NULL, NULL, 400, "INVALID_INPUT",
	     "Invalid job id"},
	    {"GET", "/api/jobs/job_1_doesnotexist", NULL, NULL, 404,
	     "JOB_NOT_FOUND", NULL},
	    {"GET", "/api/jobs/storybook/status/job_1_nothere", NULL, NULL, 404,
	     "JOB_NOT_FOUND", NULL},
	    {"GET", "/api/nothing/here", NULL, NULL, 404, "NOT_FOUND", NULL},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":\"caf\xc3\x28\"}", 400, "INVALID_INPUT",
	     "Invalid UTF-8 in JSON"},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":NaN}", 400, "INVALID_INPUT", "Malformed JSON"},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":\"p\",\"n\":1e999}", 400, "INVALID_INPUT",
	     "Numbers must be finite"},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":9223372036854775808}", 400, "INVALID_INPUT", NULL},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":\"p\",\"style\":[\"anime\"]}", 400, "INVALID_INPUT",
	     NULL},
	    {"POST", "/api/jobs/cartoonize/start", "application/json",
	     "{\"prompt\":\"p\",}", 400, "INVALID_INPUT", "Malformed JSON"},
	    {"POST", "/api/jobs/cartoonize/start", "application/json", "", 400,
	     "INVALID_INPUT", "Request body is required"},
	    {"DELETE", "/api/jobs/cartoonize/start", NULL, NULL, 405,
	     "INVALID_INPUT", NULL},
	};
	long long before = count_jobs();

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct resp r;

		req(rows[i].method, rows[i].path, rows[i].ctype, rows[i].body,
		    -1, &r);
		if (r.status != rows[i].status || r.json == NULL ||
		    jstr(r.json, "code") == NULL ||
		    strcmp(jstr(r.json, "code"), rows[i].code) != 0 ||
		    jstr(r.json, "error") == NULL ||
		    (rows[i].error &&
		     strcmp(jstr(r.json, "error"), rows[i].error) != 0))
			fail_msg("row %zu: %s %s -> %ld %s", i, rows[i].method,
				 rows[i].path, r.status,
				 r.body.data ? r.body.data : "");
		resp_free(&r);
	}
	assert_int_equal(count_jobs(), before);
	/* the requests were counted by route pattern, never by raw path */
	assert_true(sql_ll("SELECT count(*) FROM http_requests WHERE route "
			   "LIKE '/api/jobs/%'") >= 1);
	assert_int_equal(sql_ll("SELECT count(*) FROM http_requests WHERE "
				"route LIKE '%nothing%'"),
			 0);
}

/* 10,000-deep nesting and a 5,000-byte field: 400, nothing written. */
static void
test_deep_and_long(void **state)
{
	size_t n = 10000;
	char *deep = malloc(2 * n + 16), *longp = malloc(5200);
	long long before = count_jobs();
	struct resp r;

	assert_non_null(deep);
	assert_non_null(longp);
	memcpy(deep, "{\"prompt\":", 10);
	memset(deep + 10, '[', n);
	memset(deep + 10 + n, ']', n);
	memcpy(deep + 10 + 2 * n, "}", 2);
	req("POST", "/api/jobs/cartoonize/start", "application/json", deep, -1,
	    &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jstr(r.json, "error"), "JSON nested too deeply");
	resp_free(&r);
	memcpy(longp, "{\"prompt\":\"", 11);
	memset(longp + 11, 'x', 5000);
	memcpy(longp + 5011, "\"}", 3);
	req("POST", "/api/jobs/cartoonize/start", "application/json", longp, -1,
	    &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(jstr(r.json, "code"), "INVALID_INPUT");
	resp_free(&r);
	free(deep);
	free(longp);
	assert_int_equal(count_jobs(), before);
}

/* Sends raw HTTP to nginx; returns the status of the answer. */
static int
raw_http(const char *text, char *answer, size_t sz)
{
	return http_raw(text, strlen(text), answer, sz);
}

/*
 * A POST with no Content-Length reaches the program without a body and
 * is refused (411, JSON); one whose body is shorter than its
 * Content-Length never reaches the program.  Nothing is written.
 */
static void
test_missing_and_lying_length(void **state)
{
	long long before = count_jobs();
	char answer[4096];
	int status;

	assert_int_equal(
	    raw_http("POST /api/jobs/cartoonize/start HTTP/1.1\r\nHost: t\r\n"
		     "Content-Type: application/json\r\nConnection: close\r\n"
		     "\r\n",
		     answer, sizeof(answer)),
	    411);
	assert_non_null(strstr(answer, "\"code\":\"INVALID_INPUT\""));
	/* nginx never passes a short body on; it may not answer at all */
	status = raw_http("POST /api/jobs/cartoonize/start HTTP/1.1\r\nHost: "
			  "t\r\nContent-Type: application/json\r\n"
			  "Content-Length: 100\r\nConnection: close\r\n\r\n"
			  "{\"prompt\":\"x\"}",
			  answer, sizeof(answer));
	assert_true(status == -1 || status == 400);
	if (status == 400)
		assert_non_null(strstr(answer, "application/json"));
	assert_int_equal(count_jobs(), before);
}

/* A body past nginx's limit is refused there, as JSON. */
static void
test_oversized_body(void **state)
{
	size_t n = 2 << 20;
	char *big = malloc(n + 1);
	long long before = count_jobs();
	struct resp r;

	assert_non_null(big);
	memset(big, 'a', n);
	memcpy(big, "{\"prompt\":\"", 11);
	memcpy(big + n - 2, "\"}", 2);
	big[n] = '\0';
	req("POST", "/api/jobs/cartoonize/start", "application/json", big,
	    (long)n, &r);
	assert_int_equal(r.status, 413);
	assert_non_null(r.json);
	assert_string_equal(jstr(r.json, "code"), "PAYLOAD_TOO_LARGE");
	resp_free(&r);
	free(big);
	assert_int_equal(count_jobs(), before);
}

static long long
job_epoch(const char *id)
{
	const char *params[1] = {id};
	PGresult *r =
	    PQexecParams(itest_pg, "SELECT lease_epoch FROM jobs WHERE id = $1",
			 1, NULL, params, NULL, NULL, 0);
	long long v;

	assert_int_equal(PQntuples(r), 1);
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* SIGKILL mid-job: a new worker rescues the job after its lease. */
static void
test_kill_mid_job(void **state)
{
	pid_t a = itest_worker(NULL), b;
	const char *id = start_cartoon("a lighthouse keeper", "anime");
	struct seen s;

	poll_job(id, 33, 20, &s);
	assert_string_equal(s.last_status, "processing");
	json_object_put(s.final);
	assert_int_equal(itest_worker_stop(a, SIGKILL), 128 + SIGKILL);
	b = itest_worker(NULL);
	poll_job(id, -1, 30, &s);
	assert_string_equal(s.last_status, "completed");
	check_image(s.final);
	json_object_put(s.final);
	/* claimed twice (a, then b), completed once */
	assert_int_equal(job_epoch(id), 2);
	assert_int_equal(itest_worker_stop(b, SIGTERM), 0);
}

/* SIGTERM mid-job: the worker exits 0 and the job is not stranded. */
static void
test_sigterm_releases(void **state)
{
	pid_t a = itest_worker(NULL), b;
	const char *id = start_cartoon("a sleepy owl", "comic-book");
	struct seen s;

	poll_job(id, 10, 20, &s);
	json_object_put(s.final);
	assert_int_equal(itest_worker_stop(a, SIGTERM), 0);
	poll_job(id, 0, 5, &s); /* read the status once */
	assert_true(strcmp(s.last_status, "pending") == 0 ||
		    strcmp(s.last_status, "completed") == 0);
	json_object_put(s.final);
	b = itest_worker(NULL);
	poll_job(id, -1, 30, &s);
	assert_string_equal(s.last_status, "completed");
	json_object_put(s.final);
	assert_int_equal(itest_worker_stop(b, SIGTERM), 0);
}

/*
 * ENABLE_AUTO_PROCESSING=false: the worker leaves new jobs alone (past
 * several poll intervals) until a cron tick hands them out.
 */
static void
test_auto_processing_off(void **state)
{
	char secret[300];
	const char *h[] = {"Content-Type: application/json", secret, NULL};
	const char *id;
	struct resp r;
	struct seen s;
	pid_t w;

	snprintf(secret, sizeof(secret), "x-webhook-secret: %s",
		 getenv("WEBHOOK_SECRET"));
	setenv("ENABLE_AUTO_PROCESSING", "false", 1);
	w = itest_worker(NULL);
	unsetenv("ENABLE_AUTO_PROCESSING");
	id = start_cartoon("a quiet heron", "flat-illustration");
	usleep(2500 * 1000); /* 2.5 poll intervals */
	poll_job(id, 0, 5, &s);
	assert_string_equal(s.last_status, "pending");
	json_object_put(s.final);
	http("POST", "/api/cron/process-jobs", h, "{}", -1, &r);
	assert_int_equal(r.status, 200);
	assert_true(jint(r.json, "processed") >= 1);
	resp_free(&r);
	poll_job(id, -1, 30, &s);
	assert_string_equal(s.last_status, "completed");
	json_object_put(s.final);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_oversized_body),
	    cmocka_unit_test(test_deep_and_long),
	    cmocka_unit_test(test_missing_and_lying_length),
	    cmocka_unit_test(test_cartoonize_end_to_end),
	    cmocka_unit_test(test_kill_mid_job),
	    cmocka_unit_test(test_sigterm_releases),
	    cmocka_unit_test(test_auto_processing_off),
	};
	int rc;

	if (getenv("WORKER_BIN") == NULL) {
		fprintf(stderr, "WORKER_BIN is required\n");
		return 1;
	}
	itest_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	itest_done();
	return rc;
}
