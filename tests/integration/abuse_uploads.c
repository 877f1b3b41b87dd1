/*
 * test_abuse, uploads part: POST /api/uploads played as an attacker would.
 * Files that are not images (a 3-byte "JPEG", a truncated JPEG, a PNG
 * header followed by SVG, a header claiming a billion pixels) are refused;
 * a polyglot is stored as the image alone; one client's rate limit and
 * storage quota, every anonymous client's shared quota and a user's quota
 * refuse with 429 / 403; every refusal leaves no file in MEDIA_DIR and no
 * row.  The housekeeping deletes an old upload no job names and keeps one
 * a job names and a fresh one.  Each case sends from its own loopback
 * address, so the per-client counters start at zero.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gd.h>

#include "abuse.h"
#include "itest.h"

/* A w x h image as ext ("png", "jpg"); noise makes it compress badly. */
static unsigned char *
image(const char *ext, int w, int h, size_t *n)
{
	gdImagePtr im = gdImageCreateTrueColor(w, h);
	unsigned seed = (unsigned)w * 7919u + (unsigned)h;
	unsigned char *copy;
	void *p;
	int size = 0;

	assert_non_null(im);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			seed = seed * 1103515245u + 12345u;
			gdImageSetPixel(im, x, y,
					gdTrueColor(x * 4 & 255, y * 4 & 255,
						    (int)(seed >> 24)));
		}
	p = strcmp(ext, "png") == 0 ? gdImagePngPtr(im, &size)
				    : gdImageJpegPtr(im, &size, 90);
	gdImageDestroy(im);
	assert_non_null(p);
	copy = malloc((size_t)size + 256);
	assert_non_null(copy);
	memcpy(copy, p, (size_t)size);
	gdFree(p);
	*n = (size_t)size;
	return copy;
}

/* POST /api/uploads from the loopback address from, with token or not. */
static void
upload(const char *from, const char *token, const char *ctype, const void *body,
       size_t n, struct resp *r)
{
	char ct[96], auth[192];
	const char *h[3] = {ct, NULL, NULL};

	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h[1] = auth;
	}
	itest_source(from);
	http("POST", "/api/uploads", h, body, (long)n, r);
	itest_source(NULL);
}

/* Regular files in MEDIA_DIR (temporary ones, with a dot, too). */
static long
media_files(void)
{
	const char *dir = getenv("MEDIA_DIR");
	struct dirent *de;
	long n = 0;
	DIR *d;

	assert_non_null(dir);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 &&
		     strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* What an upload may have written: files and rows. */
struct written {
	long files;
	long long rows;
};

static struct written
written_now(void)
{
	struct written w = {media_files(),
			    sql_ll("SELECT count(*) FROM uploads")};

	return w;
}

static void
nothing_written(struct written before)
{
	struct written now = written_now();

	assert_int_equal(now.files, before.files);
	assert_int_equal(now.rows, before.rows);
}

/* The stored name of an upload's url (after the last '/'). */
static const char *
name_of(const struct resp *r)
{
	const char *url = jstr(r->json, "url");

	assert_non_null(url);
	return strrchr(url, '/') + 1;
}

static long long
setting(const char *name, long long dflt)
{
	const char *v = getenv(name);

	return v != NULL ? strtoll(v, NULL, 10) : dflt;
}

/* Sends body, expects status and code, and that nothing was written. */
static void
refused(const char *from, const char *ctype, const void *body, size_t n,
	long status, const char *code, const char *msg)
{
	struct written before = written_now();
	struct resp r;

	upload(from, NULL, ctype, body, n, &r);
	expect_error(&r, status, code, msg);
	resp_free(&r);
	nothing_written(before);
}

static void
test_not_images(void **state)
{
	const char *from = "127.0.0.21";
	const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" "
			   "onload=\"alert(document.cookie)\"/>";
	size_t n, m;
	unsigned char *png = image("png", 32, 32, &n);
	unsigned char *jpg = image("jpg", 300, 200, &m);
	unsigned char mixed[33 + sizeof(svg)];

	(void)state;
	refused(from, "image/jpeg", "\xff\xd8\xff", 3, 400, "INVALID_INPUT",
		"The image header is malformed or truncated");
	refused(from, "image/jpeg", jpg, m / 2, 400, "INVALID_INPUT",
		"The image data is damaged or incomplete");
	memcpy(mixed, png, 33); /* signature and IHDR, then SVG */
	memcpy(mixed + 33, svg, sizeof(svg));
	refused(from, "image/png", mixed, sizeof(mixed), 400, "INVALID_INPUT",
		"The image data is damaged or incomplete");
	refused(from, "image/jpeg", png, n, 415, "UNSUPPORTED_MEDIA_TYPE",
		"File content does not match its type");
	/* a header claiming 100000 x 100000: refused before decoding */
	png[16] = 0, png[17] = 1, png[18] = 0x86, png[19] = 0xa0;
	png[20] = 0, png[21] = 1, png[22] = 0x86, png[23] = 0xa0;
	refused(from, "image/png", png, n, 413, "PAYLOAD_TOO_LARGE",
		"The image has too many pixels");
	free(png);
	free(jpg);
}

/* A PNG with SVG after IEND is stored as the PNG alone; quotas count it. */
static void
test_polyglot_stored_clean(void **state)
{
	const char tail[] = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
	size_t n;
	unsigned char *png = image("png", 32, 32, &n);
	struct resp r, got;
	char sql[256];
	struct stat st;

	(void)state;
	memcpy(png + n, tail, sizeof(tail) - 1);
	upload("127.0.0.21", NULL, "image/png", png, n + sizeof(tail) - 1, &r);
	assert_int_equal(r.status, 201);
	http("GET", jstr(r.json, "url"), NULL, NULL, 0, &got);
	assert_int_equal(got.status, 200);
	assert_memory_equal(got.body.data, "\x89PNG", 4);
	assert_null(memmem(got.body.data, got.body.len, "<svg", 4));
	snprintf(sql, sizeof(sql), "%s/%s", getenv("MEDIA_DIR"), name_of(&r));
	assert_int_equal(stat(sql, &st), 0);
	assert_int_equal((size_t)st.st_size, got.body.len);
	snprintf(sql, sizeof(sql),
		 "SELECT bytes FROM uploads WHERE name = '%s' AND client = "
		 "'127.0.0.21' AND user_id IS NULL",
		 name_of(&r));
	assert_int_equal(sql_ll(sql), (long long)st.st_size);
	resp_free(&got);
	resp_free(&r);
	free(png);
}

static void
test_rate_per_client(void **state)
{
	long long limit = setting("UPLOAD_RATE_LIMIT", 20);
	size_t n;
	unsigned char *png = image("png", 8, 8, &n);
	struct written before;
	struct resp r;

	(void)state;
	for (long long i = 0; i < limit; i++) {
		upload("127.0.0.22", NULL, "image/png", png, n, &r);
		assert_int_equal(r.status, 201);
		resp_free(&r);
	}
	before = written_now();
	upload("127.0.0.22", NULL, "image/png", png, n, &r);
	expect_error(&r, 429, "RATE_LIMIT_EXCEEDED", NULL);
	assert_true(jint(r.json, "retryAfter") >= 1);
	assert_true(jint(r.json, "retryAfter") <=
		    setting("UPLOAD_RATE_WINDOW", 600));
	assert_int_equal(strtoll(r.retry_after, NULL, 10),
			 jint(r.json, "retryAfter"));
	resp_free(&r);
	nothing_written(before);
	/* another client is not held back */
	upload("127.0.0.23", NULL, "image/png", png, n, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	free(png);
}

/* A stand-in for uploads already stored: a row without a file. */
static void
stored(const char *hexname, const char *client, long long user, long long bytes)
{
	char sql[512];

	if (user != 0)
		snprintf(sql, sizeof(sql),
			 "WITH i AS (INSERT INTO uploads (name, user_id, "
			 "bytes) VALUES ('%s.png', %lld, %lld) RETURNING 1) "
			 "SELECT count(*) FROM i",
			 hexname, user, bytes);
	else
		snprintf(sql, sizeof(sql),
			 "WITH i AS (INSERT INTO uploads (name, client, bytes) "
			 "VALUES ('%s.png', '%s', %lld) RETURNING 1) SELECT "
			 "count(*) FROM i",
			 hexname, client, bytes);
	assert_int_equal(sql_ll(sql), 1);
}

static void
unstored(const char *hexname)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "WITH d AS (DELETE FROM uploads WHERE name = '%s.png' "
		 "RETURNING 1) SELECT count(*) FROM d",
		 hexname);
	assert_int_equal(sql_ll(sql), 1);
}

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa01"
#define HEX_B "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa02"
#define HEX_C "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa03"

static void
test_client_quota(void **state)
{
	long long cap = setting("UPLOAD_QUOTA_CLIENT_BYTES", 52428800);
	size_t n;
	unsigned char *png = image("png", 16, 16, &n);
	struct resp r;

	(void)state;
	stored(HEX_A, "127.0.0.24", 0, cap - 10);
	refused("127.0.0.24", "image/png", png, n, 403, "QUOTA_EXCEEDED",
		"Upload storage quota reached for this address; log in, or "
		"wait until unused uploads are deleted");
	upload("127.0.0.25", NULL, "image/png", png, n, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	unstored(HEX_A);
	upload("127.0.0.24", NULL, "image/png", png, n, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	free(png);
}

static void
test_anonymous_total_quota(void **state)
{
	long long cap = setting("UPLOAD_QUOTA_ANON_BYTES", 1073741824);
	long long used = sql_ll("SELECT coalesce(sum(bytes), 0) FROM uploads "
				"WHERE user_id IS NULL");
	size_t n;
	unsigned char *png = image("png", 16, 16, &n);
	char tok[128];
	struct resp r;

	(void)state;
	itest_user("abuse-up-anon@example.com", "correct horse 1", 0, tok);
	stored(HEX_B, "192.0.2.77", 0, cap - used - 10);
	refused("127.0.0.26", "image/png", png, n, 403, "QUOTA_EXCEEDED",
		"Storage for anonymous uploads is full; log in, or try again "
		"later");
	upload("127.0.0.26", tok, "image/png", png, n, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	unstored(HEX_B);
	free(png);
}

static void
test_user_quota(void **state)
{
	long long cap = setting("UPLOAD_QUOTA_USER_BYTES", 268435456);
	size_t n;
	unsigned char *png = image("png", 16, 16, &n);
	struct written before;
	char tok[128];
	struct resp r;

	(void)state;
	itest_user("abuse-up-quota@example.com", "correct horse 2", 0, tok);
	stored(HEX_C, "",
	       sql_ll("SELECT id FROM users WHERE email = "
		      "'abuse-up-quota@example.com'"),
	       cap - 10);
	before = written_now();
	upload("127.0.0.27", tok, "image/png", png, n, &r);
	expect_error(&r, 403, "QUOTA_EXCEEDED",
		     "Upload storage quota reached for this account; unused "
		     "uploads are deleted after a while");
	resp_free(&r);
	nothing_written(before);
	unstored(HEX_C);
	upload("127.0.0.27", tok, "image/png", png, n, &r);
	assert_int_equal(r.status, 201);
	resp_free(&r);
	free(png);
}

static bool
kept(const char *name)
{
	char sql[256];
	struct stat st;

	snprintf(sql, sizeof(sql), "%s/%s", getenv("MEDIA_DIR"), name);
	if (stat(sql, &st) != 0) {
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM uploads WHERE name = '%s'",
			 name);
		assert_int_equal(sql_ll(sql), 0); /* the row went too */
		return false;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM uploads WHERE name = '%s'", name);
	assert_int_equal(sql_ll(sql), 1);
	return true;
}

/* storyjobsctl maintain: the old unused upload goes, the others stay. */
static void
test_unused_swept(void **state)
{
	const char *args[] = {"maintain", NULL};
	size_t n;
	unsigned char *png = image("png", 16, 16, &n);
	char tok[128], names[3][64], body[256], id[64], sql[512], path[128];
	struct resp r;

	(void)state;
	itest_user("abuse-up-sweep@example.com", "correct horse 3", 0, tok);
	for (int i = 0; i < 3; i++) {
		upload("127.0.0.28", tok, "image/png", png, n, &r);
		assert_int_equal(r.status, 201);
		snprintf(names[i], sizeof(names[i]), "%s", name_of(&r));
		if (i == 1)
			snprintf(body, sizeof(body),
				 "{\"prompt\":\"a fox\",\"imageUrl\":\"%s\"}",
				 jstr(r.json, "url"));
		resp_free(&r);
	}
	itest_job_start("cartoonize", body, tok, id);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM upload_uses WHERE upload = '%s' AND "
		 "job_id = '%s'",
		 names[1], id);
	assert_int_equal(sql_ll(sql), 1);
	/* 0 and 1 stored (and 1 last used) longer ago than the grace */
	snprintf(sql, sizeof(sql),
		 "WITH x AS (UPDATE uploads SET created_at = now() - interval "
		 "'1 hour' * (%lld + 1), used_at = used_at - interval '1 "
		 "hour' * (%lld + 1) WHERE name IN ('%s', '%s') RETURNING 1) "
		 "SELECT count(*) FROM x",
		 setting("UPLOAD_ORPHAN_HOURS", 24),
		 setting("UPLOAD_ORPHAN_HOURS", 24), names[0], names[1]);
	assert_int_equal(sql_ll(sql), 2);
	assert_int_equal(itest_ctl(NULL, args), 0);
	assert_false(kept(names[0]));
	assert_true(kept(names[1]));
	assert_true(kept(names[2]));
	snprintf(path, sizeof(path), "/api/jobs/%s/cancel", id);
	http_json("POST", path, tok, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free(png);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_not_images),
    cmocka_unit_test(test_polyglot_stored_clean),
    cmocka_unit_test(test_rate_per_client),
    cmocka_unit_test(test_client_quota),
    cmocka_unit_test(test_anonymous_total_quota),
    cmocka_unit_test(test_user_quota),
    cmocka_unit_test(test_unused_swept),
};

const struct abuse_part abuse_uploads = {"abuse_uploads", tests,
					 sizeof(tests) / sizeof(tests[0])};
