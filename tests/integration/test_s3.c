/*
 * test_s3: STORAGE=s3 against an S3-compatible server on loopback
 * (tests/s3/server.js: s3rver with SigV4 signatures computed and
 * compared, anonymous writes refused, payload hashes checked), through
 * the real programs:
 *   - the fake itself refuses a wrong secret and an unsigned write;
 *   - an upload through nginx lands in the bucket and not in MEDIA_DIR,
 *     and is served from S3_PUBLIC_BASE_URL;
 *   - a cartoonize job from it: the worker reads the photo from the
 *     bucket (it is on no disk), stores its result there, and the result
 *     is served from S3_PUBLIC_BASE_URL;
 *   - a wrong secret: the upload is 503 with a JSON error and leaves no
 *     record, a job fails for good saying the store refused our
 *     credentials;
 *   - the orphan sweep deletes the bucket's object with its record;
 *   - check-config --online puts, gets and deletes a probe with the key,
 *     and fails with a wrong secret.
 * The stack's jobs program stores locally, so uploads go to one of our
 * own on ACTIVATED_SOCK (reached as /activated/...) with the s3 settings;
 * each job runs on a worker of this suite started with them.
 *
 * Environment (run.sh): S3_FAKE (tests/s3/server.js), MEDIA_DIR.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <gd.h>

#include "itest.h"

/*
 * The bucket is "media", so S3_PUBLIC_BASE_URL (the bucket on the fake,
 * path-style) ends in /media/<key> as when nginx proxies /media/ to it.
 */
#define BUCKET	   "media"
#define KEY_ID	   "AKIASTORYJOBSTEST01"
#define SECRET	   "s3-secret-of-the-tests-0123456789abcdef"
#define BAD_SECRET "s3-secret-of-the-tests-0123456789abcdeX"
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static pid_t s3pid, prog;
static char endpoint[128]; /* http://127.0.0.1:PORT */
static char pub[160];	   /* endpoint/BUCKET: S3_PUBLIC_BASE_URL */
static char datadir[] = "/tmp/sj-s3-test-XXXXXX";
static char env[8][192];    /* the s3 settings, NAME=value */
static const char *envp[9]; /* NULL-terminated view of env */

/* env/envp: STORAGE=s3 and the S3_* settings with secret. */
static const char *const *
s3_env(const char *secret)
{
	const char *v[][2] = {
	    {"STORAGE", "s3"},
	    {"S3_ENDPOINT", endpoint},
	    {"S3_REGION", "us-east-1"},
	    {"S3_BUCKET", BUCKET},
	    {"S3_ACCESS_KEY_ID", KEY_ID},
	    {"S3_SECRET_ACCESS_KEY", secret},
	    {"S3_PUBLIC_BASE_URL", pub},
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(env[i], sizeof(env[i]), "%s=%s", v[i][0], v[i][1]);
		envp[i] = env[i];
	}
	envp[i] = NULL;
	return envp;
}

/* Starts the fake and reads the address it prints. */
static void
s3_start(void)
{
	const char *script = getenv("S3_FAKE");
	struct pollfd pfd;
	char line[128] = {0};
	int fds[2];
	ssize_t n;

	assert_non_null(script);
	assert_non_null(mkdtemp(datadir));
	assert_int_equal(pipe(fds), 0);
	if ((s3pid = fork()) == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp("node", "node", script, "--dir", datadir, "--bucket",
		       BUCKET, "--key", KEY_ID, "--secret", SECRET,
		       (char *)NULL);
		_exit(127);
	}
	assert_true(s3pid > 0);
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 15000), 1);
	n = read(fds[0], line, sizeof(line) - 1);
	close(fds[0]);
	if (n <= 0 || strncmp(line, "listening http://127.0.0.1:", 27) != 0)
		fail_msg("the s3 fake did not start (npm ci in tests/s3?)");
	line[strcspn(line, "\n")] = '\0';
	snprintf(endpoint, sizeof(endpoint), "%s", line + 10);
	snprintf(pub, sizeof(pub), "%s/%s", endpoint, BUCKET);
}

/* storyjobs-jobs with the s3 settings (secret) on ACTIVATED_SOCK. */
static void
prog_start(const char *secret)
{
	prog = itest_jobs_start(s3_env(secret));
}

static void
prog_stop(void)
{
	itest_jobs_stop(prog);
	prog = 0;
}

static int
setup(void **state)
{
	(void)state;
	itest_cancel_leftovers();
	s3_start();
	prog_start(SECRET);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	prog_stop();
	if (s3pid > 0) {
		kill(s3pid, SIGTERM);
		waitpid(s3pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", datadir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", datadir);
	itest_cancel_leftovers();
	return 0;
}

/* A smooth 160 x 120 PNG (a face-coloured disc on a gradient). */
static unsigned char *
photo(size_t *n)
{
	gdImagePtr im = gdImageCreateTrueColor(160, 120);
	unsigned char *copy;
	int size = 0;
	void *p;

	assert_non_null(im);
	for (int y = 0; y < 120; y++)
		for (int x = 0; x < 160; x++)
			gdImageSetPixel(im, x, y,
					gdTrueColor(x, y * 2, 200 - x / 2));
	gdImageFilledEllipse(im, 80, 60, 70, 80, gdTrueColor(230, 190, 160));
	p = gdImagePngPtr(im, &size);
	gdImageDestroy(im);
	assert_non_null(p);
	assert_non_null(copy = malloc((size_t)size));
	memcpy(copy, p, (size_t)size);
	gdFree(p);
	*n = (size_t)size;
	return copy;
}

/* POST /activated/api/uploads of photo(); the answer in r. */
static void
upload(struct resp *r)
{
	const char *h[2] = {"Content-Type: image/png", NULL};
	size_t n;
	unsigned char *png = photo(&n);

	http("POST", "/activated/api/uploads", h, (const char *)png, (long)n,
	     r);
	free(png);
}

/* An upload that must succeed; its URL into url, its key into key. */
static void
upload_ok(char url[512], char key[64])
{
	struct resp r;

	upload(&r);
	assert_int_equal(r.status, 201);
	snprintf(url, 512, "%s", jstr(r.json, "url"));
	resp_free(&r);
	assert_true(strncmp(url, pub, strlen(pub)) == 0 &&
		    url[strlen(pub)] == '/');
	snprintf(key, 64, "%s", url + strlen(pub) + 1);
	assert_int_equal(strlen(key), 36);
}

/* True when MEDIA_DIR holds name. */
static bool
on_disk(const char *name)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", getenv("MEDIA_DIR"), name);
	if (stat(path, &st) == 0)
		return true;
	assert_int_equal(errno, ENOENT);
	return false;
}

/* An anonymous GET of url: its status; a PNG's bytes are checked. */
static long
get_public(const char *url)
{
	struct resp r;
	long status;

	http("GET", url, NULL, NULL, 0, &r);
	status = r.status;
	if (status == 200) {
		assert_true(r.body.len > 8);
		assert_memory_equal(r.body.data, "\x89PNG\r\n\x1a\n", 8);
	}
	resp_free(&r);
	return status;
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	(void)size;
	return buf_add(b, p, n) == SJ_OK ? n : 0;
}

/*
 * A request to the fake signed by libcurl with secret (NULL: unsigned);
 * its status, the start of its body in body.
 */
static long
signed_call(const char *method, const char *key, const char *secret, char *body,
	    size_t bodysz)
{
	char url[256], user[160];
	struct curl_slist *h = NULL;
	struct buf b;
	long status = 0;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	buf_init(&b, 64 * 1024);
	snprintf(url, sizeof(url), "%s/%s", pub, key);
	h = curl_slist_append(h, "x-amz-content-sha256: " EMPTY_SHA256);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (secret != NULL) {
		snprintf(user, sizeof(user), "%s:%s", KEY_ID, secret);
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
		curl_easy_setopt(c, CURLOPT_USERPWD, user);
	}
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	snprintf(body, bodysz, "%.*s", (int)b.len, b.data ? b.data : "");
	buf_free(&b);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

/* The fake checks signatures: the secret matters, writes need one. */
static void
test_signatures_checked(void **state)
{
	char body[4096];

	(void)state;
	assert_int_equal(
	    signed_call("GET", "none.png", SECRET, body, sizeof(body)), 404);
	assert_non_null(strstr(body, "<Code>NoSuchKey</Code>"));
	assert_int_equal(
	    signed_call("GET", "none.png", BAD_SECRET, body, sizeof(body)),
	    403);
	assert_non_null(strstr(body, "<Code>SignatureDoesNotMatch</Code>"));
	assert_int_equal(
	    signed_call("DELETE", "none.png", NULL, body, sizeof(body)), 403);
	assert_non_null(strstr(body, "<Code>AccessDenied</Code>"));
}

/* An upload lands in the bucket only, recorded, served by its URL. */
static void
test_upload_in_bucket(void **state)
{
	char url[512], key[64], sql[256];

	(void)state;
	upload_ok(url, key);
	assert_false(on_disk(key));
	assert_int_equal(get_public(url), 200);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM uploads WHERE name = '%s'", key);
	assert_int_equal(sql_ll(sql), 1);
}

/* A cartoonize job from an upload: read from and stored in the bucket. */
static void
test_cartoonize_from_bucket(void **state)
{
	struct json_object *st, *res;
	char url[512], key[64], body[1024];
	const char *out;
	pid_t w;

	(void)state;
	upload_ok(url, key);
	w = itest_worker(s3_env(SECRET));
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"s3 photo %ld\",\"style\":\"anime\","
		 "\"imageUrl\":\"%s\"}",
		 (long)getpid(), url);
	st = itest_job_run("cartoonize", body, NULL, 60);
	itest_worker_stop(w, SIGTERM);
	res = jmember(st, "result");
	out = jstr(res, "url");
	assert_non_null(out);
	assert_true(strncmp(out, pub, strlen(pub)) == 0);
	assert_false(on_disk(out + strlen(pub) + 1));
	assert_int_equal(get_public(out), 200);
	json_object_put(st);
}

/* A wrong secret: the upload is refused clearly, a job fails clearly. */
static void
test_wrong_secret(void **state)
{
	struct json_object *st;
	char url[512], key[64], body[1024], id[64];
	long long before;
	const char *err;
	struct resp r;
	pid_t w;

	(void)state;
	upload_ok(url, key); /* with the right one, for the job below */
	prog_stop();
	prog_start(BAD_SECRET);
	before = sql_ll("SELECT count(*) FROM uploads");
	upload(&r);
	expect_error(&r, 503, "EXTERNAL_SERVICE_ERROR", NULL);
	resp_free(&r);
	assert_int_equal(sql_ll("SELECT count(*) FROM uploads"), before);
	prog_stop();
	prog_start(SECRET);

	w = itest_worker(s3_env(BAD_SECRET));
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"s3 wrong secret %ld\",\"style\":\"anime\","
		 "\"imageUrl\":\"%s\"}",
		 (long)getpid(), url);
	itest_job_start("cartoonize", body, NULL, id);
	st = itest_job_wait("cartoonize", id, 60);
	itest_worker_stop(w, SIGTERM);
	assert_string_equal(jstr(st, "status"), "failed");
	assert_string_equal(jstr(st, "code"), "EXTERNAL_SERVICE_ERROR");
	err = jstr(st, "error");
	assert_non_null(err);
	if (strstr(err, "refused our credentials") == NULL)
		fail_msg("unclear failure: %s", err);
	json_object_put(st);
}

/* The orphan sweep deletes the object in the bucket with its record. */
static void
test_sweep_deletes_object(void **state)
{
	const char *const args[] = {"maintain", NULL};
	const char *const *e = s3_env(SECRET);
	char url[512], key[64], sql[256];

	(void)state;
	upload_ok(url, key);
	assert_int_equal(get_public(url), 200);
	snprintf(sql, sizeof(sql),
		 "UPDATE uploads SET created_at = now() - interval '10 days', "
		 "used_at = NULL WHERE name = '%s' RETURNING 1",
		 key);
	assert_int_equal(sql_ll(sql), 1);
	for (; *e != NULL; e++)
		putenv((char *)(uintptr_t)*e);
	assert_int_equal(itest_ctl(NULL, args), 0);
	unsetenv("STORAGE");
	assert_int_equal(get_public(url), 404);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM uploads WHERE name = '%s'", key);
	assert_int_equal(sql_ll(sql), 0);
}

/* check-config --online tries put, get and delete with the key. */
static void
test_check_config_online(void **state)
{
	const char *const args[] = {"check-config", "--online", NULL};
	const char *const *e;
	char body[4096];

	(void)state;
	for (e = s3_env(SECRET); *e != NULL; e++)
		putenv((char *)(uintptr_t)*e);
	assert_int_equal(itest_ctl(NULL, args), 0);
	/* its probe is gone again */
	assert_int_equal(signed_call("GET", "storyjobs-check-config.txt",
				     SECRET, body, sizeof(body)),
			 404);
	for (e = s3_env(BAD_SECRET); *e != NULL; e++)
		putenv((char *)(uintptr_t)*e);
	assert_int_equal(itest_ctl(NULL, args), 78);
	unsetenv("STORAGE");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signatures_checked),
	    cmocka_unit_test(test_upload_in_bucket),
	    cmocka_unit_test(test_cartoonize_from_bucket),
	    cmocka_unit_test(test_wrong_secret),
	    cmocka_unit_test(test_sweep_deletes_object),
	    cmocka_unit_test(test_check_config_online),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, setup, teardown);
	itest_done();
	return rc;
}
