/*
 * The jobs, uploads, storybooks and admin endpoint families through
 * nginx: starts of every type, each validation message (400, nothing
 * written), login and quota rules, idempotent starts, cancel and retry
 * with their owner rules, the user's job list with its cursor, uploads
 * checked by their bytes, and the admin routes' role checks.  No worker
 * runs here, so started jobs stay pending.
 *
 * Environment: BASE_URL, DATABASE_URL, STORYJOBSCTL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "itest.h"

#define PW "correct horse battery"

static const char *const starts[][2] = {
    {"storybook",
     "{\"title\":\"T\",\"story\":\"Once.\",\"characterImage\":"
     "\"https://example.com/c.png\",\"audience\":\"children\",\"pages\":"
     "[{\"pageNumber\":1,\"scenes\":[{\"description\":\"A fox\"}]}]}"},
    {"auto-story", "{\"genre\":\"bedtime\",\"characterDescription\":\"a fox\","
		   "\"cartoonImageUrl\":\"https://example.com/c.png\","
		   "\"audience\":\"children\"}"},
    {"scenes",
     "{\"story\":\"A small fox walked through the quiet forest looking "
     "for a friend.\",\"characterImage\":\"https://example.com/c.png\","
     "\"audience\":\"adults\"}"},
    {"cartoonize", "{\"prompt\":\"a fox\",\"style\":\"anime\"}"},
    {"image-generation",
     "{\"image_prompt\":\"a fox\",\"character_description\":\"red\","
     "\"emotion\":\"happy\",\"audience\":\"children\"}"},
};

/* A 1x1 PNG. */
static const unsigned char png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
    0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
    0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static char tok_a[128], tok_b[128], tok_admin[128];

/* Creates a user with storyjobsctl and logs in (waiting out 429s). */
static void
user(const char *name, int admin, char token[128])
{
	char email[128];

	snprintf(email, sizeof(email), "%s-%ld@example.com", name,
		 (long)getpid());
	itest_user(email, PW, admin, token);
}

/* POST /api/jobs/{type}/start; id (may be NULL) receives the jobId. */
static long
start(const char *type, const char *body, const char *token, char id[64])
{
	char path[128];
	struct resp r;
	long st;

	snprintf(path, sizeof(path), "/api/jobs/%s/start", type);
	http_json("POST", path, token, body, &r);
	st = r.status;
	if (id != NULL)
		snprintf(id, 64, "%s",
			 st == 200 && jstr(r.json, "jobId")
			     ? jstr(r.json, "jobId")
			     : "");
	resp_free(&r);
	return st;
}

/* POST /api/jobs/{id}/{what} (or the admin route when admin). */
static void
change(const char *id, const char *what, const char *token, int admin,
       struct resp *r)
{
	char path[160];

	snprintf(path, sizeof(path), "/api/%sjobs/%s/%s", admin ? "admin/" : "",
		 id, what);
	http_json("POST", path, token, NULL, r);
}

static void
setup_users(void **state)
{
	(void)state;
	user("a", 0, tok_a);
	user("b", 0, tok_b);
	user("root", 1, tok_admin);
}

static void
test_start_each_type(void **state)
{
	char id[64];

	(void)state;
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		assert_int_equal(start(starts[i][0], starts[i][1], tok_b, id),
				 200);
		assert_true(strncmp(id, "job_", 4) == 0);
	}
	/* anonymous allowed, except auto-story */
	assert_int_equal(start("cartoonize", starts[3][1], NULL, NULL), 200);
	assert_int_equal(start("auto-story", starts[1][1], NULL, NULL), 401);
	assert_int_equal(start("no-such-type", starts[3][1], NULL, NULL), 404);
}

static void
test_validation(void **state)
{
	static const char *const cases[][3] = {
	    {"storybook", "{\"story\":\"x\"}", "Title is required"},
	    {"storybook", "{\"title\":\"T\"}", "Story content is required"},
	    {"storybook",
	     "{\"title\":\"T\",\"story\":\"s\",\"characterImage\":"
	     "\"https://e.com/c.png\",\"pages\":[]}",
	     "At least one page is required"},
	    {"storybook", "{\"title\":\"T\",\"story\":\"s\"}",
	     "Character image is required"},
	    {"scenes",
	     "{\"story\":\"A small fox walked through the quiet forest looking "
	     "for a friend.\",\"characterImage\":\"https://e.com/c.png\","
	     "\"audience\":\"martians\"}",
	     "Invalid audience type"},
	    {"cartoonize", "{\"style\":\"anime\"}", "Prompt is required"},
	    {"cartoonize", "{\"prompt\":\"p\",\"style\":\"oil\"}", NULL},
	    {"auto-story", "{\"genre\":\"horror\"}", "Invalid genre"},
	    {"scenes", "{\"story\":\"too short\"}",
	     "Story must be at least 50 characters long."},
	};
	long long before = sql_ll("SELECT count(*) FROM jobs");
	char path[128];
	struct resp r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(path, sizeof(path), "/api/jobs/%s/start", cases[i][0]);
		http_json("POST", path, tok_a, cases[i][1], &r);
		expect_error(&r, 400, "INVALID_INPUT", cases[i][2]);
		if (cases[i][2] == NULL)
			assert_true(strncmp(jstr(r.json, "error"),
					    "Invalid style. Must be one of: ",
					    31) == 0);
		resp_free(&r);
	}
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs"), before);
}

static void
test_sql_verbatim(void **state)
{
	char id[64], sql[256];
	PGresult *res;

	(void)state;
	assert_int_equal(start("cartoonize",
			       "{\"prompt\":\"'); DROP TABLE jobs;--\"}", NULL,
			       id),
			 200);
	snprintf(sql, sizeof(sql),
		 "SELECT input->>'prompt' FROM jobs WHERE id = '%s'", id);
	res = PQexec(itest_pg, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 0), "'); DROP TABLE jobs;--");
	PQclear(res);
}

static void
test_quota_and_idempotency(void **state)
{
	const char *h[4] = {"Content-Type: application/json", NULL,
			    "Idempotency-Key: key-1", NULL};
	char auth[200], id1[64], id2[64], longkey[256];
	char tok[128];
	struct resp r;
	long long max;

	(void)state;
	user("quota", 0, tok);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	h[1] = auth;
	http("POST", "/api/jobs/cartoonize/start", h, starts[3][1], -1, &r);
	assert_int_equal(r.status, 200);
	snprintf(id1, sizeof(id1), "%s", jstr(r.json, "jobId"));
	resp_free(&r);
	http("POST", "/api/jobs/cartoonize/start", h, starts[3][1], -1, &r);
	assert_int_equal(r.status, 200);
	snprintf(id2, sizeof(id2), "%s", jstr(r.json, "jobId"));
	resp_free(&r);
	assert_string_equal(id1, id2);
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs WHERE "
				"idempotency_key = 'key-1'"),
			 1);
	/* 201 characters: too long */
	snprintf(longkey, sizeof(longkey), "Idempotency-Key: %0201d", 7);
	h[2] = longkey;
	http("POST", "/api/jobs/cartoonize/start", h, starts[3][1], -1, &r);
	expect_error(&r, 400, "INVALID_INPUT", NULL);
	resp_free(&r);
	/* fill the quota: MAX_JOBS_PER_USER (default 10) active jobs */
	max = 10;
	for (long long i = 1; i < max; i++)
		assert_int_equal(start("cartoonize", starts[3][1], tok, NULL),
				 200);
	http_json("POST", "/api/jobs/cartoonize/start", tok, starts[3][1], &r);
	expect_error(&r, 403, "QUOTA_EXCEEDED", NULL);
	resp_free(&r);
}

/* 16 starts at once by one user: exactly the quota (10) pass. */
static void
test_quota_race(void **state)
{
	char tok[128], sql[128];
	int ok = 0, over = 0, st;
	pid_t pids[16];
	struct resp r;

	(void)state;
	user("race", 0, tok);
	for (int i = 0; i < 16; i++) {
		assert_true((pids[i] = fork()) >= 0);
		if (pids[i] == 0) {
			long code =
			    start("cartoonize", starts[3][1], tok, NULL);

			_exit(code == 200 ? 0 : code == 403 ? 1 : 2);
		}
	}
	for (int i = 0; i < 16; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		ok += WEXITSTATUS(st) == 0;
		over += WEXITSTATUS(st) == 1;
	}
	assert_int_equal(ok, 10);
	assert_int_equal(over, 6);
	http_json("GET", "/api/auth/me", tok, NULL, &r);
	assert_int_equal(r.status, 200);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM jobs WHERE user_id = %lld",
		 jint(r.json, "id"));
	resp_free(&r);
	assert_int_equal(sql_ll(sql), 10);
}

static void
test_cancel_retry_rules(void **state)
{
	char id[64], anon[64], path[128];
	struct resp r;

	(void)state;
	assert_int_equal(start("cartoonize", starts[3][1], tok_a, id), 200);
	change(id, "cancel", tok_b, 0, &r);
	expect_error(&r, 404, "JOB_NOT_FOUND", NULL);
	resp_free(&r);
	change(id, "cancel", NULL, 0, &r);
	expect_error(&r, 404, "JOB_NOT_FOUND", NULL);
	resp_free(&r);
	change(id, "retry", tok_a, 0, &r);
	expect_error(&r, 409, "CONFLICT", NULL);
	resp_free(&r);
	change(id, "cancel", tok_a, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status"), "cancelled");
	resp_free(&r);
	change(id, "cancel", tok_a, 0, &r);
	expect_error(&r, 409, "CONFLICT", NULL);
	resp_free(&r);
	change(id, "retry", tok_admin, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status"), "pending");
	resp_free(&r);
	/* an anonymous job: anyone holding the id */
	assert_int_equal(start("cartoonize", starts[3][1], NULL, anon), 200);
	change(anon, "cancel", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	change(anon, "retry", tok_b, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	change("job_1_zzzz", "cancel", tok_a, 0, &r);
	expect_error(&r, 404, "JOB_NOT_FOUND", NULL);
	resp_free(&r);
	/* status needs no token */
	snprintf(path, sizeof(path), "/api/jobs/%s", id);
	http("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_user_jobs(void **state)
{
	char tok[128], ids[3][64], path[160];
	struct json_object *counts, *jobs, *cur;
	struct resp r;

	(void)state;
	http("GET", "/api/jobs/user", NULL, NULL, 0, &r);
	expect_error(&r, 401, "UNAUTHORIZED", NULL);
	resp_free(&r);
	user("lister", 0, tok);
	for (int i = 0; i < 3; i++)
		assert_int_equal(start("cartoonize", starts[3][1], tok, ids[i]),
				 200);
	http_json("GET", "/api/jobs/user?limit=2", tok, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_object_object_get_ex(r.json, "jobs", &jobs));
	assert_int_equal(json_object_array_length(jobs), 2);
	assert_string_equal(jstr(json_object_array_get_idx(jobs, 0), "jobId"),
			    ids[2]);
	assert_true(json_object_object_get_ex(r.json, "counts", &counts));
	assert_int_equal(jint(counts, "total"), 3);
	assert_int_equal(jint(counts, "pending"), 3);
	assert_string_equal(jstr(r.json, "nextCursor"), ids[1]);
	snprintf(path, sizeof(path), "/api/jobs/user?limit=2&before=%s",
		 ids[1]);
	resp_free(&r);
	http_json("GET", path, tok, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_object_object_get_ex(r.json, "jobs", &jobs));
	assert_int_equal(json_object_array_length(jobs), 1);
	assert_true(json_object_object_get_ex(r.json, "nextCursor", &cur));
	assert_null(cur);
	resp_free(&r);
	http_json("GET", "/api/jobs/user?status=bogus", tok, NULL, &r);
	expect_error(&r, 400, "INVALID_INPUT", NULL);
	resp_free(&r);
	http_json("GET", "/api/jobs/user?limit=0", tok, NULL, &r);
	expect_error(&r, 400, "INVALID_INPUT", NULL);
	resp_free(&r);
}

static void
upload(const char *ctype, const void *body, long len, struct resp *r)
{
	char hdr[128];
	const char *h[2] = {hdr, NULL};

	snprintf(hdr, sizeof(hdr), "Content-Type: %s", ctype);
	http("POST", "/api/uploads", h, body, len, r);
}

static void
test_uploads(void **state)
{
	struct resp r, got;
	char *big;
	long n;

	(void)state;
	upload("image/png", png, sizeof(png), &r);
	assert_int_equal(r.status, 201);
	assert_non_null(jstr(r.json, "url"));
	http("GET", jstr(r.json, "url"), NULL, NULL, 0, &got);
	assert_int_equal(got.status, 200);
	assert_int_equal(got.body.len, sizeof(png));
	assert_memory_equal(got.body.data, png, sizeof(png));
	resp_free(&got);
	resp_free(&r);
	upload("image/jpeg", png, sizeof(png), &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE",
		     "File content does not match its type");
	resp_free(&r);
	upload("text/plain", "hello", 5, &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", NULL);
	resp_free(&r);
	upload("image/png", "hello", 5, &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", NULL);
	resp_free(&r);
	n = 10L * 1024 * 1024 + 1;
	big = calloc(1, (size_t)n);
	assert_non_null(big);
	memcpy(big, png, sizeof(png));
	upload("image/png", big, n, &r);
	expect_error(&r, 413, "PAYLOAD_TOO_LARGE", NULL);
	resp_free(&r);
	free(big);
}

static void
test_storybooks(void **state)
{
	struct resp r;

	(void)state;
	http("GET", "/api/storybooks/sb_doesnotexist", NULL, NULL, 0, &r);
	expect_error(&r, 404, "NOT_FOUND", NULL);
	resp_free(&r);
	http("GET", "/api/storybooks", NULL, NULL, 0, &r);
	expect_error(&r, 401, "UNAUTHORIZED", NULL);
	resp_free(&r);
	http_json("GET", "/api/storybooks", tok_a, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
test_admin(void **state)
{
	static const char *const paths[] = {"/api/admin/jobs",
					    "/api/admin/stats"};
	struct json_object *v;
	char id[64], path[160], sql[256];
	struct resp r;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		http("GET", paths[i], NULL, NULL, 0, &r);
		expect_error(&r, 401, "UNAUTHORIZED", NULL);
		resp_free(&r);
		http_json("GET", paths[i], tok_a, NULL, &r);
		expect_error(&r, 403, "FORBIDDEN", NULL);
		resp_free(&r);
		http_json("GET", paths[i], tok_admin, NULL, &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
	}
	http_json("GET", "/api/admin/stats", tok_admin, NULL, &r);
	assert_true(json_object_object_get_ex(r.json, "counts", &v));
	assert_true(json_object_object_get_ex(r.json, "workers", &v));
	resp_free(&r);
	http_json("GET", "/api/admin/jobs?limit=1000", tok_admin, NULL, &r);
	expect_error(&r, 400, "INVALID_INPUT", NULL);
	resp_free(&r);
	assert_int_equal(start("cartoonize", starts[3][1], tok_a, id), 200);
	change(id, "cancel", tok_a, 1, &r);
	expect_error(&r, 403, "FORBIDDEN", NULL);
	resp_free(&r);
	change(id, "cancel", tok_admin, 1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	change(id, "retry", tok_admin, 1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET status = 'processing', lease_owner = 't', "
		 "lease_expires_at = now() + interval '1 hour' WHERE id = '%s' "
		 "RETURNING 1",
		 id);
	assert_int_equal(sql_ll(sql), 1);
	snprintf(path, sizeof(path), "/api/admin/jobs/%s", id);
	http_json("DELETE", path, tok_admin, NULL, &r);
	expect_error(&r, 409, "CONFLICT", NULL);
	resp_free(&r);
	change(id, "cancel", tok_admin, 1, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	http_json("DELETE", path, tok_admin, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_object_object_get_ex(r.json, "deleted", &v));
	assert_true(json_object_get_boolean(v));
	resp_free(&r);
	http_json("DELETE", path, tok_admin, NULL, &r);
	expect_error(&r, 404, "JOB_NOT_FOUND", NULL);
	resp_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(setup_users),
	    cmocka_unit_test(test_start_each_type),
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_sql_verbatim),
	    cmocka_unit_test(test_quota_and_idempotency),
	    cmocka_unit_test(test_quota_race),
	    cmocka_unit_test(test_cancel_retry_rules),
	    cmocka_unit_test(test_user_jobs),
	    cmocka_unit_test(test_uploads),
	    cmocka_unit_test(test_storybooks),
	    cmocka_unit_test(test_admin),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	itest_done();
	return rc;
}
