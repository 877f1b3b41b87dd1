/*
 * test_abuse, job starts: each limit on starting jobs, played through
 * nginx against a jobs program with small limits, from several loopback
 * source addresses (nginx's REMOTE_ADDR is the client).  Every refusal is
 * checked for what it did not do: no job row, no start counted against
 * the client's rate, no status changed.
 *
 * The stack's own jobs program runs with the limits off (every other
 * suite starts its jobs from 127.0.0.1), so each case starts one of its
 * own on ACTIVATED_SOCK, reached as /activated/..., with the settings
 * below; no worker runs, so the jobs started stay pending.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abuse.h"
#include "itest.h"

#define RATE_LIMIT  4 /* ANON_START_LIMIT */
#define CLIENT_MAX  2 /* ANON_MAX_ACTIVE_JOBS */
#define ANON_TOTAL  6 /* ANON_MAX_ACTIVE_TOTAL */
#define USER_MAX    3 /* MAX_JOBS_PER_USER */
#define BOOK_PAGES  3 /* STORYBOOK_MAX_PAGES */
#define BOOK_SCENES 4 /* STORYBOOK_MAX_SCENES */
#define IMG	    "{\"image_prompt\":\"a red fox\"}"
#define START(type) "/activated/api/jobs/" type "/start"
#define IMG_START   START("image-generation")

static pid_t prog;

/* Starts storyjobs-jobs with the limits above on ACTIVATED_SOCK. */
static int
prog_start(void **state)
{
	static const char *const env[] = {
	    "ANON_START_LIMIT=4",     "ANON_START_WINDOW_SECONDS=3600",
	    "ANON_MAX_ACTIVE_JOBS=2", "ANON_MAX_ACTIVE_TOTAL=6",
	    "MAX_JOBS_PER_USER=3",    "STORYBOOK_MAX_PAGES=3",
	    "STORYBOOK_MAX_SCENES=4", NULL};

	(void)state;
	prog = itest_jobs_start(env);
	return 0;
}

static int
prog_stop(void **state)
{
	(void)state;
	itest_source(NULL);
	itest_jobs_stop(prog);
	prog = 0;
	/* the jobs left pending would wait for a worker of a later suite */
	itest_cancel_leftovers();
	return 0;
}

/* POST body to path from addr, with a token and an Idempotency-Key. */
static void
post(const char *addr, const char *path, const char *token, const char *key,
     const char *body, struct resp *r)
{
	char auth[200], idem[256];
	const char *h[4] = {"Content-Type: application/json", NULL, NULL, NULL};
	int n = 1;

	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h[n++] = auth;
	}
	if (key != NULL) {
		snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
		h[n++] = idem;
	}
	itest_source(addr);
	http("POST", path, h, body, -1, r);
	itest_source(NULL);
}

/* A start from addr that must succeed; its id into id. */
static void
start_ok(const char *addr, const char *path, const char *token, const char *key,
	 const char *body, char id[64])
{
	struct resp r;

	post(addr, path, token, key, body, &r);
	assert_int_equal(r.status, 200);
	snprintf(id, 64, "%s", jstr(r.json, "jobId"));
	resp_free(&r);
}

/* POST /activated/api/jobs/{id}/{what} from addr; the status. */
static long
change(const char *addr, const char *id, const char *what, const char *token,
       struct resp *r)
{
	char path[160];

	snprintf(path, sizeof(path), "/activated/api/jobs/%s/%s", id, what);
	post(addr, path, token, NULL, NULL, r);
	return r->status;
}

static void
cancel(const char *addr, const char *id, const char *token)
{
	struct resp r;

	assert_int_equal(change(addr, id, "cancel", token, &r), 200);
	resp_free(&r);
}

/* The jobs of client c (NULL: of any client) with status st (NULL: any). */
static long long
jobs_of(const char *c, const char *st)
{
	const char *p[2] = {c, st};

	return sql_ll_p(
	    "SELECT count(*) FROM jobs WHERE client = "
	    "coalesce($1, client) AND status = coalesce($2, status)",
	    2, p);
}

/* The jobs started under Idempotency-Key k. */
static long long
jobs_keyed(const char *k)
{
	return sql_ll_p("SELECT count(*) FROM jobs WHERE idempotency_key = $1",
			1, &k);
}

/* The starts counted against addr in its current window. */
static long long
spent(const char *addr)
{
	return sql_ll_p("SELECT coalesce(sum(count), 0) FROM rate_limits "
			"WHERE key = 'job-start:' || $1",
			1, &addr);
}

static void
status_is(const char *id, const char *want)
{
	char got[32];

	sql_str_p("SELECT status FROM jobs WHERE id = $1", 1, &id, got,
		  sizeof(got));
	assert_string_equal(got, want);
}

/*
 * ANON_START_LIMIT: the fifth start of one client in the window is 429
 * with retryAfter and Retry-After; no job is written and the refused
 * start is not counted; a retry from that client is refused alike and
 * leaves the job cancelled; another client starts as before.
 */
static void
test_anon_rate_limit(void **state)
{
	const char *a = "127.0.0.21";
	char id[64], first[64];
	struct resp r;

	(void)state;
	for (int i = 0; i < RATE_LIMIT; i++) {
		start_ok(a, IMG_START, NULL, NULL, IMG, id);
		cancel(a, id, NULL); /* stays under the live cap */
		if (i == 0)
			snprintf(first, sizeof(first), "%s", id);
	}
	assert_int_equal(spent(a), RATE_LIMIT);
	post(a, IMG_START, NULL, NULL, IMG, &r);
	expect_error(&r, 429, "RATE_LIMIT_EXCEEDED", NULL);
	assert_true(jint(r.json, "retryAfter") >= 1);
	assert_true(jint(r.json, "retryAfter") <= 3600);
	assert_int_equal(strtoll(r.retry_after, NULL, 10),
			 jint(r.json, "retryAfter"));
	resp_free(&r);
	assert_int_equal(jobs_of("127.0.0.21", NULL), RATE_LIMIT);
	assert_int_equal(spent(a), RATE_LIMIT);

	/* a retry is a start */
	assert_int_equal(change(a, first, "retry", NULL, &r), 429);
	assert_string_equal(jstr(r.json, "code"), "RATE_LIMIT_EXCEEDED");
	resp_free(&r);
	status_is(first, "cancelled");

	/* the limit is per client */
	start_ok("127.0.0.22", IMG_START, NULL, NULL, IMG, id);
	assert_int_equal(spent("127.0.0.22"), 1);
}

/*
 * ANON_MAX_ACTIVE_JOBS: a client with two live jobs is refused a third
 * (403 QUOTA_EXCEEDED, no row, no start counted), another client is not;
 * once one of its jobs is cancelled the client may start again, and a
 * retry that would make a third live job is refused and changes nothing.
 */
static void
test_anon_live_cap(void **state)
{
	const char *a = "127.0.0.23";
	char id1[64], id2[64], id3[64];
	struct resp r;

	(void)state;
	start_ok(a, IMG_START, NULL, NULL, IMG, id1);
	start_ok(a, IMG_START, NULL, NULL, IMG, id2);
	post(a, IMG_START, NULL, NULL, IMG, &r);
	expect_error(&r, 403, "QUOTA_EXCEEDED", NULL);
	resp_free(&r);
	assert_int_equal(jobs_of("127.0.0.23", NULL), CLIENT_MAX);
	assert_int_equal(spent(a), CLIENT_MAX);

	start_ok("127.0.0.24", IMG_START, NULL, NULL, IMG, id3);

	cancel(a, id1, NULL);
	start_ok(a, IMG_START, NULL, NULL, IMG, id3);
	/* two live again: retrying the cancelled one would be a third */
	assert_int_equal(change(a, id1, "retry", NULL, &r), 403);
	assert_string_equal(jstr(r.json, "code"), "QUOTA_EXCEEDED");
	resp_free(&r);
	status_is(id1, "cancelled");
	assert_int_equal(jobs_of("127.0.0.23", "pending"), CLIENT_MAX);
	assert_int_equal(spent(a), 3);
}

/*
 * MAX_JOBS_PER_USER holds for retries: a user at the quota cannot bring
 * a cancelled job back (403, still cancelled, still 3 live), and can
 * once a live one is cancelled.
 */
static void
test_retry_counts_as_start(void **state)
{
	char token[128], ids[USER_MAX + 1][64];
	struct resp r;

	(void)state;
	itest_user("abuse-jobs-retry@example.com", "retry-password-1", 0,
		   token);
	for (int i = 0; i < USER_MAX; i++)
		start_ok("127.0.0.25", IMG_START, token, NULL, IMG, ids[i]);
	cancel("127.0.0.25", ids[0], token);
	start_ok("127.0.0.25", IMG_START, token, NULL, IMG, ids[USER_MAX]);

	assert_int_equal(change("127.0.0.25", ids[0], "retry", token, &r), 403);
	assert_string_equal(jstr(r.json, "code"), "QUOTA_EXCEEDED");
	resp_free(&r);
	status_is(ids[0], "cancelled");
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs WHERE status IN "
				"('pending', 'processing') AND user_id = "
				"(SELECT id FROM users WHERE email = "
				"'abuse-jobs-retry@example.com')"),
			 USER_MAX);
	/* a user's jobs are not a client's */
	assert_int_equal(jobs_of("127.0.0.25", NULL), 0);

	cancel("127.0.0.25", ids[1], token);
	assert_int_equal(change("127.0.0.25", ids[0], "retry", token, &r), 200);
	resp_free(&r);
	status_is(ids[0], "pending");
}

/*
 * Idempotency-Key: the same key and body (spelled differently) give the
 * same job and spend nothing; another body is 422 and writes nothing;
 * another client, another type or a user with the same key each get a
 * job of their own.
 */
static void
test_idempotency_scoped(void **state)
{
	const char *a = "127.0.0.26", *key = "abuse-key-1";
	char id[64], again[64], other[64], typed[64], user[64], token[128];
	struct resp r;

	(void)state;
	start_ok(a, IMG_START, NULL, key, IMG, id);
	start_ok(a, IMG_START, NULL, key,
		 "{ \"unknown\": 1, \"image_prompt\" : \"a red fox\" }", again);
	assert_string_equal(again, id);
	assert_int_equal(spent(a), 1);

	post(a, IMG_START, NULL, key, "{\"image_prompt\":\"a blue fox\"}", &r);
	expect_error(&r, 422, "INVALID_INPUT", NULL);
	assert_non_null(strstr(jstr(r.json, "error"), "Idempotency-Key"));
	resp_free(&r);
	assert_int_equal(jobs_keyed("abuse-key-1"), 1);
	assert_int_equal(spent(a), 1);

	/* another client with the key and the body: its own job */
	start_ok("127.0.0.27", IMG_START, NULL, key, IMG, other);
	assert_string_not_equal(other, id);
	/* the first client's key for another type: another job */
	start_ok(a, START("cartoonize"), NULL, key, "{\"prompt\":\"a fox\"}",
		 typed);
	assert_string_not_equal(typed, id);
	/* a user with the key: another job */
	itest_user("abuse-jobs-key@example.com", "key-password-1", 0, token);
	start_ok(a, IMG_START, token, key, IMG, user);
	assert_string_not_equal(user, id);
	assert_string_not_equal(user, other);
	assert_int_equal(jobs_keyed("abuse-key-1"), 4);
}

/* A storybook of n pages of k scenes each, into a malloced string. */
static char *
book(int pages, int scenes)
{
	size_t cap = 256 + (size_t)pages * (64 + (size_t)scenes * 64);
	char *s = malloc(cap);
	size_t n;

	assert_non_null(s);
	n = (size_t)snprintf(s, cap,
			     "{\"title\":\"T\",\"story\":\"A story.\","
			     "\"characterImage\":\"/media/x.png\",\"pages\":[");
	for (int p = 0; p < pages; p++) {
		n += (size_t)snprintf(s + n, cap - n, "%s{\"scenes\":[",
				      p ? "," : "");
		for (int k = 0; k < scenes; k++)
			n += (size_t)snprintf(s + n, cap - n,
					      "%s{\"description\":\"d%d\"}",
					      k ? "," : "", k);
		n += (size_t)snprintf(s + n, cap - n, "]}");
	}
	snprintf(s + n, cap - n, "]}");
	return s;
}

/* A refusal of body at path from addr: 400 with msg, nothing written. */
static void
refused(const char *addr, const char *path, const char *body, const char *msg)
{
	struct resp r;

	post(addr, path, NULL, NULL, body, &r);
	expect_error(&r, 400, "INVALID_INPUT", msg);
	resp_free(&r);
}

/*
 * STORYBOOK_MAX_PAGES and STORYBOOK_MAX_SCENES (3 and 4 here), the text
 * caps in characters, and the 800-scene book against the stack's
 * defaults (30 and 60): each refused with the field and its limit named,
 * no row written, no start counted; a book at the caps and a prompt of
 * 4000 two-byte characters are accepted.
 */
static void
test_storybook_and_text_caps(void **state)
{
	const char *a = "127.0.0.28";
	char *body, id[64], prompt[64 + 4001 * 2];
	size_t n;
	struct resp r;

	(void)state;
	refused(a, START("storybook"), body = book(4, 1),
		"A storybook has at most 3 pages; this one has 4");
	free(body);
	refused(a, START("storybook"), body = book(3, 2),
		"A storybook has at most 4 scenes in all; this one has 6");
	free(body);
	n = (size_t)snprintf(prompt, sizeof(prompt), "{\"prompt\":\"");
	for (int i = 0; i < 4001; i++)
		prompt[n++] = 'x';
	snprintf(prompt + n, sizeof(prompt) - n, "\"}");
	refused(a, START("cartoonize"), prompt,
		"Prompt must be a string of at most 4000 characters");
	assert_int_equal(jobs_of("127.0.0.28", NULL), 0);
	assert_int_equal(spent(a), 0);

	start_ok(a, START("storybook"), NULL, NULL, body = book(2, 2), id);
	free(body);
	n = (size_t)snprintf(prompt, sizeof(prompt), "{\"prompt\":\"");
	for (int i = 0; i < 4000; i++) {
		prompt[n++] = (char)0xc3; /* U+00E9 */
		prompt[n++] = (char)0xa9;
	}
	snprintf(prompt + n, sizeof(prompt) - n, "\"}");
	start_ok(a, START("cartoonize"), NULL, NULL, prompt, id);

	/* the stack's program: 40 pages of 20 scenes */
	body = book(40, 20);
	post("127.0.0.29", "/api/jobs/storybook/start", NULL, NULL, body, &r);
	expect_error(&r, 400, "INVALID_INPUT",
		     "A storybook has at most 30 pages; this one has 40");
	resp_free(&r);
	free(body);
	body = book(30, 3);
	post("127.0.0.29", "/api/jobs/storybook/start", NULL, NULL, body, &r);
	expect_error(&r, 400, "INVALID_INPUT",
		     "A storybook has at most 60 scenes in all; this one has "
		     "90");
	resp_free(&r);
	free(body);
	assert_int_equal(jobs_of("127.0.0.29", NULL), 0);
}

/*
 * ANON_MAX_ACTIVE_TOTAL: three clients at their own cap fill it; a fourth
 * client's start is 429 (retry in 30 s) with no row and no start counted,
 * a user is not held by it, a retry of an anonymous job is refused alike;
 * a cancel makes room again.
 */
static void
test_anon_total_cap(void **state)
{
	static const char *const full[] = {"127.0.0.31", "127.0.0.32",
					   "127.0.0.33"};
	const char *d = "127.0.0.34";
	char id[64], first[64], token[128];
	struct resp r;

	(void)state;
	for (size_t i = 0; i < 3; i++)
		for (int k = 0; k < CLIENT_MAX; k++) {
			start_ok(full[i], IMG_START, NULL, NULL, IMG, id);
			if (i == 0 && k == 0)
				snprintf(first, sizeof(first), "%s", id);
		}
	assert_int_equal(jobs_of(NULL, "pending"), ANON_TOTAL);
	post(d, IMG_START, NULL, NULL, IMG, &r);
	expect_error(&r, 429, "RATE_LIMIT_EXCEEDED", NULL);
	assert_int_equal(jint(r.json, "retryAfter"), 30);
	resp_free(&r);
	assert_int_equal(jobs_of("127.0.0.34", NULL), 0);
	assert_int_equal(spent(d), 0);
	/* a user's start is not an anonymous one */
	itest_user("abuse-jobs-total@example.com", "total-password-1", 0,
		   token);
	start_ok(d, IMG_START, token, NULL, IMG, id);
	/* room again after a cancel, taken by the fourth client */
	cancel(full[0], first, NULL);
	start_ok(d, IMG_START, NULL, NULL, IMG, id);
	/* full again: the cancelled job's retry is refused and stays put */
	assert_int_equal(change(full[0], first, "retry", NULL, &r), 429);
	resp_free(&r);
	status_is(first, "cancelled");
}

/*
 * An anonymous job from before schema 010 has no client: its retry is
 * counted as the retrying caller's (refused at that client's cap, the
 * job left cancelled) and, once allowed, the job becomes that client's.
 */
static void
test_legacy_job_retry(void **state)
{
	const char *a = "127.0.0.37";
	char id[64], legacy[64], sql[512];
	struct resp r;

	(void)state;
	snprintf(legacy, sizeof(legacy), "job_1_legacy%ld", (long)getpid());
	snprintf(sql, sizeof(sql),
		 "WITH i AS (INSERT INTO jobs (id, type, status, max_attempts, "
		 "timeout_s, input) VALUES ('%s', 'image-generation', "
		 "'cancelled', 4, 300, '" IMG "') RETURNING 1) SELECT count(*) "
		 "FROM i",
		 legacy);
	assert_int_equal(sql_ll(sql), 1);
	for (int k = 0; k < CLIENT_MAX; k++)
		start_ok(a, IMG_START, NULL, NULL, IMG, id);
	assert_int_equal(change(a, legacy, "retry", NULL, &r), 403);
	resp_free(&r);
	status_is(legacy, "cancelled");
	cancel(a, id, NULL);
	assert_int_equal(change(a, legacy, "retry", NULL, &r), 200);
	resp_free(&r);
	status_is(legacy, "pending");
	assert_int_equal(jobs_of("127.0.0.37", "pending"), CLIENT_MAX);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_anon_rate_limit, prog_start,
				    prog_stop),
    cmocka_unit_test_setup_teardown(test_anon_live_cap, prog_start, prog_stop),
    cmocka_unit_test_setup_teardown(test_retry_counts_as_start, prog_start,
				    prog_stop),
    cmocka_unit_test_setup_teardown(test_idempotency_scoped, prog_start,
				    prog_stop),
    cmocka_unit_test_setup_teardown(test_storybook_and_text_caps, prog_start,
				    prog_stop),
    cmocka_unit_test_setup_teardown(test_anon_total_cap, prog_start, prog_stop),
    cmocka_unit_test_setup_teardown(test_legacy_job_retry, prog_start,
				    prog_stop),
};

const struct abuse_part abuse_jobs = {"abuse_jobs", tests,
				      sizeof(tests) / sizeof(tests[0])};
