/*
 * The jobs, uploads, storybooks and admin endpoint families through
 * nginx: starts of every type, each validation message (400, nothing
 * written), login and quota rules, idempotent starts, cancel and retry
 * with their owner rules, the user's job list with its cursor, uploads
 * checked by their bytes, and the admin routes' role checks.  No worker
 * runs here, so started jobs stay pending.  Malformed requests, from text
 * PostgreSQL would refuse to what nginx itself refuses (sent over a raw
 * socket): each a 4xx in the JSON envelope, with nothing written.
 *
 * Environment: BASE_URL, DATABASE_URL, STORYJOBSCTL, MEDIA_DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
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
	/* a re-encoded copy: a PNG of the same 1 x 1 pixel */
	assert_true(got.body.len > 24);
	assert_memory_equal(got.body.data, png, 24);
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

/* Files in MEDIA_DIR: an upload that went through adds one. */
static long
media_files(void)
{
	const char *dir = getenv("MEDIA_DIR");
	struct dirent *d;
	long n = 0;
	DIR *dp;

	assert_non_null(dir);
	assert_non_null(dp = opendir(dir));
	while ((d = readdir(dp)) != NULL)
		n += d->d_name[0] != '.';
	closedir(dp);
	return n;
}

/* What a bad request may not change: jobs, users, sessions, uploads. */
struct written {
	long long jobs, users, sessions;
	long media;
};

static void
written_now(struct written *w)
{
	w->jobs = sql_ll("SELECT count(*) FROM jobs");
	w->users = sql_ll("SELECT count(*) FROM users");
	w->sessions = sql_ll("SELECT count(*) FROM sessions");
	w->media = media_files();
}

static void
nothing_written(const struct written *before)
{
	struct written now;

	written_now(&now);
	assert_int_equal(now.jobs, before->jobs);
	assert_int_equal(now.users, before->users);
	assert_int_equal(now.sessions, before->sessions);
	assert_int_equal(now.media, before->media);
}

/* The error envelope with code, as application/json; charset=utf-8. */
static int
envelope_ok(const char *ctype, struct json_object *o, const char *code,
	    const char *error)
{
	return strcmp(ctype, "application/json; charset=utf-8") == 0 &&
	       o != NULL && jstr(o, "error") != NULL &&
	       jstr(o, "code") != NULL && strcmp(jstr(o, "code"), code) == 0 &&
	       (error == NULL || strcmp(jstr(o, "error"), error) == 0);
}

#define BAD_UTF8 "Invalid UTF-8 in JSON"
#define UNPAIRED "Unpaired surrogate escape in JSON string"
#define NOT_UTF8 "Request path and query must be UTF-8"

/*
 * Text PostgreSQL would refuse, in bodies, headers, paths and queries,
 * and escapes that would silently become U+FFFD: 400 INVALID_INPUT before
 * any write (these were 503 DATABASE_ERROR, or stored changed).
 */
static void
test_bad_text(void **state)
{
	static const struct {
		const char *method, *path, *header, *body, *error;
	} rows[] = {
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"\xc0\xaf\"}", BAD_UTF8},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"a \xed\xa0\x80 fox\"}", BAD_UTF8},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"\xf4\x90\x80\x80\"}", BAD_UTF8},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"\xf8\x88\x80\x80\x80\"}", BAD_UTF8},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"fox \xe2\x82\"}", BAD_UTF8},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"p\",\"\xc1\xbf\":1}", BAD_UTF8},
	    {"POST", "/api/jobs/storybook/start", NULL,
	     "{\"title\":\"T\",\"story\":\"Once.\",\"characterImage\":"
	     "\"https://example.com/c.png\",\"pages\":[{\"pageNumber\":1,"
	     "\"scenes\":[{\"description\":\"\xed\xbf\xbf\"}]}]}",
	     BAD_UTF8},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"\\ud800\"}", UNPAIRED},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"\\udc00 fox\"}", UNPAIRED},
	    {"POST", "/api/jobs/cartoonize/start", NULL,
	     "{\"prompt\":\"\\ud83d\\u0041\"}", UNPAIRED},
	    {"POST", "/api/jobs/auto-story/start", NULL,
	     "{\"genre\":\"bedtime\",\"characterDescription\":\"\\udbff\"}",
	     UNPAIRED},
	    {"POST", "/api/jobs/cartoonize/start", "Idempotency-Key: k\xc0\xaf",
	     "{\"prompt\":\"p\"}", NULL},
	    {"GET", "/api/jobs/%C0%AF", NULL, NULL, NOT_UTF8},
	    {"POST", "/api/jobs/%ED%A0%80/cancel", NULL, NULL, NOT_UTF8},
	    {"GET", "/api/storybooks/%F4%90%80%80", NULL, NULL, NOT_UTF8},
	    {"GET", "/api/jobs/cartoonize/status/job_1_%FF", NULL, NULL,
	     NOT_UTF8},
	    {"GET", "/api/jobs/user?status=%C0%AF", NULL, NULL,
	     "Invalid status filter"},
	    {"GET", "/api/jobs/user?before=job_1_%ED%A0%80", NULL, NULL,
	     "Invalid cursor"},
	};
	char auth[200];
	struct written before;
	int bad = 0;

	(void)state;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok_a);
	written_now(&before);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *h[4] = {auth, "Content-Type: application/json",
				    rows[i].header, NULL};
		struct resp r;

		http(rows[i].method, rows[i].path, h, rows[i].body, -1, &r);
		if (r.status != 400 ||
		    !envelope_ok(r.ctype, r.json, "INVALID_INPUT",
				 rows[i].error)) {
			print_error("row %zu: %s %s -> %ld %s\n", i,
				    rows[i].method, rows[i].path, r.status,
				    r.body.data ? r.body.data : "");
			bad++;
		}
		resp_free(&r);
	}
	assert_int_equal(bad, 0);
	nothing_written(&before);
}

/* A surrogate pair is stored as its character, whatever its plane. */
static void
test_pairs_kept(void **state)
{
	char id[64];
	const char *params[1] = {id};
	PGresult *res;

	(void)state;
	/* U+1D800 and U+1F600: json-c 0.16 alone gave U+FFFD for the first */
	assert_int_equal(start("cartoonize",
			       "{\"prompt\":\"\\ud836\\udc00 \\ud83d\\ude00\"}",
			       tok_a, id),
			 200);
	res = PQexecParams(itest_pg,
			   "SELECT input->>'prompt' FROM jobs WHERE id = $1", 1,
			   NULL, params, NULL, NULL, 0);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 0),
			    "\xf0\x9d\xa0\x80 \xf0\x9f\x98\x80");
	PQclear(res);
}

/*
 * Sends text over a new connection to nginx and reads the answer until
 * nginx closes it; returns the status, with the Content-Type in ctype
 * and the body parsed when it is JSON (caller puts *json).
 */
static int
raw_request(const char *text, size_t len, char ctype[128],
	    struct json_object **json)
{
	static char answer[16384];
	const char *ct, *body;
	int status = http_raw(text, len, answer, sizeof(answer));

	ct = strcasestr(answer, "\r\nContent-Type: ");
	snprintf(ctype, 128, "%.*s", ct ? (int)strcspn(ct + 16, "\r\n") : 0,
		 ct ? ct + 16 : "");
	body = strstr(answer, "\r\n\r\n");
	*json = body ? json_tokener_parse(body + 4) : NULL;
	return status;
}

#define CLOSE  "Connection: close\r\n"
#define JSONCT "Content-Type: application/json\r\n"

/*
 * Requests nginx refuses before any program sees them, each answered in
 * the envelope as application/json; charset=utf-8, none writing anything.
 * 501 and 505 are malformed requests here, so they are answered 400.
 */
static void
test_nginx_own_errors(void **state)
{
	static char long_uri[9100], long_hdr[9200];
	struct {
		const char *what, *text;
		int status;
		const char *code;
	} rows[] = {
	    {"Transfer-Encoding: identity (was 501 HTML)",
	     "POST /api/jobs/cartoonize/start HTTP/1.1\r\nHost: t\r\n" JSONCT
	     "Transfer-Encoding: identity\r\n" CLOSE "\r\n{\"prompt\":\"p\"}",
	     400, "INVALID_INPUT"},
	    {"Transfer-Encoding: gzip on an upload",
	     "POST /api/uploads HTTP/1.1\r\nHost: t\r\nContent-Type: "
	     "image/png\r\nTransfer-Encoding: gzip\r\n" CLOSE "\r\nxx",
	     400, "INVALID_INPUT"},
	    {"HTTP/2.0 request line (was 505 HTML)",
	     "GET /api/jobs/health HTTP/2.0\r\nHost: t\r\n" CLOSE "\r\n", 400,
	     "INVALID_INPUT"},
	    {"HTTP/3.0 on a start",
	     "POST /api/jobs/cartoonize/start HTTP/3.0\r\nHost: t\r\n" JSONCT
	     "Content-Length: 14\r\n" CLOSE "\r\n{\"prompt\":\"p\"}",
	     400, "INVALID_INPUT"},
	    {"no request line", "GARBAGE\r\n\r\n", 400, "INVALID_INPUT"},
	    {"HTTP/1.1 without Host",
	     "GET /api/jobs/health HTTP/1.1\r\n" CLOSE "\r\n", 400,
	     "INVALID_INPUT"},
	    {"a bad chunk size",
	     "POST /api/jobs/cartoonize/start HTTP/1.1\r\nHost: t\r\n" JSONCT
	     "Transfer-Encoding: chunked\r\n" CLOSE "\r\nzz\r\n",
	     400, "INVALID_INPUT"},
	    {"two Content-Lengths",
	     "POST /api/jobs/cartoonize/start HTTP/1.1\r\nHost: t\r\n" JSONCT
	     "Content-Length: 14\r\nContent-Length: 14\r\n" CLOSE
	     "\r\n{\"prompt\":\"p\"}",
	     400, "INVALID_INPUT"},
	    {"TRACE",
	     "TRACE /api/jobs/health HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 405,
	     "INVALID_INPUT"},
	    {"a body past client_max_body_size",
	     "POST /api/jobs/cartoonize/start HTTP/1.1\r\nHost: t\r\n" JSONCT
	     "Content-Length: 10000000\r\n" CLOSE "\r\n",
	     413, "PAYLOAD_TOO_LARGE"},
	    {"a 9000-byte URI", long_uri, 414, "INVALID_INPUT"},
	    {"a 9000-byte header (494)", long_hdr, 400, "INVALID_INPUT"},
	    {"/api/jobs without the slash (was a 301 HTML redirect)",
	     "GET /api/jobs HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404,
	     "NOT_FOUND"},
	    {"/api/admin without the slash",
	     "POST /api/admin HTTP/1.1\r\nHost: t\r\nContent-Length: "
	     "0\r\n" CLOSE "\r\n",
	     404, "NOT_FOUND"},
	};
	struct written before;
	int bad = 0;

	(void)state;
	snprintf(long_uri, sizeof(long_uri),
		 "GET /api/jobs/%09000d HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n",
		 1);
	snprintf(
	    long_hdr, sizeof(long_hdr),
	    "GET /api/jobs/health HTTP/1.1\r\nHost: t\r\nX-A: %09000d\r\n" CLOSE
	    "\r\n",
	    1);
	written_now(&before);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *o = NULL;
		char ctype[128];
		int st =
		    raw_request(rows[i].text, strlen(rows[i].text), ctype, &o);

		if (st != rows[i].status ||
		    !envelope_ok(ctype, o, rows[i].code, NULL)) {
			print_error("%s: %d %s %s\n", rows[i].what, st, ctype,
				    o ? json_object_to_json_string(o) : "-");
			bad++;
		}
		json_object_put(o);
	}
	assert_int_equal(bad, 0);
	nothing_written(&before);
}

/* 412 and 416, which nginx makes for the files it serves itself. */
static void
test_media_preconditions(void **state)
{
	static const struct {
		const char *header;
		long status;
		const char *code;
	} rows[] = {
	    {"Range: bytes=99999-", 416, "INVALID_INPUT"},
	    {"If-Match: \"not-this-one\"", 412, "CONFLICT"},
	    {"If-Unmodified-Since: Thu, 01 Jan 1970 00:00:01 GMT", 412,
	     "CONFLICT"},
	};
	struct written before;
	char url[512];
	struct resp r;

	(void)state;
	upload("image/png", png, sizeof(png), &r);
	assert_int_equal(r.status, 201);
	snprintf(url, sizeof(url), "%s", jstr(r.json, "url"));
	resp_free(&r);
	written_now(&before);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *h[2] = {rows[i].header, NULL};

		http("GET", url, h, NULL, 0, &r);
		if (r.status != rows[i].status ||
		    !envelope_ok(r.ctype, r.json, rows[i].code, NULL))
			fail_msg("%s: %ld %s %s", rows[i].header, r.status,
				 r.ctype, r.body.data ? r.body.data : "");
		resp_free(&r);
	}
	/* the same file, asked for plainly, is still served */
	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.body.len > 24); /* the re-encoded PNG */
	assert_memory_equal(r.body.data, png, 24);
	resp_free(&r);
	nothing_written(&before);
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
	    cmocka_unit_test(test_bad_text),
	    cmocka_unit_test(test_pairs_kept),
	    cmocka_unit_test(test_nginx_own_errors),
	    cmocka_unit_test(test_media_preconditions),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	itest_done();
	return rc;
}
