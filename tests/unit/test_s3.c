/*
 * S3 storage without a server: the shapes of endpoints, buckets and keys,
 * the object and public URLs, which URLs are our own (only their key is
 * taken), the settings' validation, the addresses private_http lets
 * plain http reach, and a plain-http endpoint on a public address
 * refused before any packet is sent.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "http.h"
#include "s3.h"
#include "store.h"

struct kv {
	const char *k, *v;
};

static const char *
lookup(const char *name, void *ctx)
{
	const struct kv *kv = ctx;

	for (; kv->k != NULL; kv++)
		if (strcmp(kv->k, name) == 0)
			return kv->v;
	return NULL;
}

/* A cfg of STORAGE=s3 with endpoint and public base (NULL: unset). */
static struct cfg
s3cfg(char *endpoint, char *pub)
{
	struct cfg c;

	memset(&c, 0, sizeof(c));
	c.storage = (char *)"s3";
	c.s3_endpoint = endpoint;
	c.s3_bucket = (char *)"media-1";
	c.s3_region = (char *)"us-east-1";
	c.s3_access_key_id = (char *)"AKID";
	c.s3_secret_access_key = (char *)"secret";
	c.s3_public_base_url = pub;
	c.public_base_url = (char *)"https://site.example";
	c.media_dir = (char *)"/nonexistent";
	return c;
}

static void
test_shapes(void **state)
{
	static const char *const ok[] = {
	    "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000",
	    "https://acc.r2.cloudflarestorage.com/", "http://[::1]:9000",
	    "http://minio:9000"};
	static const char *const bad[] = {
	    "ftp://x",	   "https://",	  "https://h/path",   "https://u@h",
	    "https://h?x", "https://h:",  "https://h:123456", "http://h:9a",
	    "https://h#f", "https://h//", "https://[zz]:1",   "h:9000"};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(s3_endpoint_ok(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (s3_endpoint_ok(bad[i]))
			fail_msg("endpoint %s accepted", bad[i]);
	assert_true(s3_bucket_ok("media"));
	assert_true(s3_bucket_ok("my.media-1"));
	assert_false(s3_bucket_ok("ab"));
	assert_false(s3_bucket_ok("Media"));
	assert_false(s3_bucket_ok("-media"));
	assert_false(s3_bucket_ok("media-"));
	assert_false(s3_bucket_ok("me/dia"));
	assert_true(s3_key_ok("0123abcd.png"));
	assert_true(s3_key_ok("job1-cover_2.png"));
	assert_false(s3_key_ok(".hidden"));
	assert_false(s3_key_ok("a/b.png"));
	assert_false(s3_key_ok("a b.png"));
	assert_false(s3_key_ok("a%2Fb.png"));
	assert_false(s3_key_ok(""));
}

static void
test_urls(void **state)
{
	struct cfg c = s3cfg((char *)"http://127.0.0.1:9000/",
			     (char *)"https://cdn.example/media//");
	char out[256], small[20];

	(void)state;
	assert_int_equal(s3_object_url(&c, "ab12.png", out, sizeof(out)),
			 SJ_OK);
	assert_string_equal(out, "http://127.0.0.1:9000/media-1/ab12.png");
	assert_int_equal(s3_public_url(&c, "ab12.png", out, sizeof(out)),
			 SJ_OK);
	assert_string_equal(out, "https://cdn.example/media/ab12.png");
	assert_int_equal(s3_object_url(&c, "../x.png", out, sizeof(out)),
			 SJ_EINVAL);
	assert_int_equal(s3_object_url(&c, "ab12.png", small, sizeof(small)),
			 SJ_ETOOBIG);
	c.s3_bucket = (char *)"Bad_Bucket";
	assert_int_equal(s3_object_url(&c, "ab12.png", out, sizeof(out)),
			 SJ_ECONFIG);
	c.s3_public_base_url = NULL;
	assert_int_equal(s3_public_url(&c, "ab12.png", out, sizeof(out)),
			 SJ_ECONFIG);
}

/* Only S3_PUBLIC_BASE_URL/<key> (and /media/ forms) are ours. */
static void
test_own_names(void **state)
{
	struct cfg c = s3cfg((char *)"http://127.0.0.1:9000",
			     (char *)"https://cdn.example/media/");
	char name[64];

	(void)state;
	assert_int_equal(store_own_name(&c, "https://cdn.example/media/a1.png",
					name, sizeof(name)),
			 SJ_OK);
	assert_string_equal(name, "a1.png");
	/* a host that only starts like the base is not ours */
	assert_int_equal(store_own_name(&c,
					"https://cdn.example/media.evil/a1.png",
					name, sizeof(name)),
			 SJ_ENOTFOUND);
	assert_int_equal(store_own_name(&c,
					"https://cdn.example.evil/media/"
					"a1.png",
					name, sizeof(name)),
			 SJ_ENOTFOUND);
	assert_int_equal(store_own_name(&c,
					"https://cdn.example/media/../x.png",
					name, sizeof(name)),
			 SJ_EINVAL);
	assert_int_equal(store_own_name(&c,
					"https://cdn.example/media/a1.png?x=1",
					name, sizeof(name)),
			 SJ_EINVAL);
	assert_int_equal(store_own_name(&c, "https://cdn.example/media/d/a.png",
					name, sizeof(name)),
			 SJ_EINVAL);
	/* the local forms stay ours: their objects are read from the bucket */
	assert_int_equal(
	    store_own_name(&c, "/media/b2.png", name, sizeof(name)), SJ_OK);
	assert_string_equal(name, "b2.png");
	assert_int_equal(store_own_name(&c, "https://other.example/a1.png",
					name, sizeof(name)),
			 SJ_ENOTFOUND);
	/* without s3 the public base means nothing */
	c.storage = (char *)"local";
	assert_int_equal(store_own_name(&c, "https://cdn.example/media/a1.png",
					name, sizeof(name)),
			 SJ_ENOTFOUND);
}

static bool
errs_have(const struct cfg_errs *e, const char *part)
{
	for (int i = 0; i < e->n; i++)
		if (strstr(e->msg[i], part) != NULL)
			return true;
	return false;
}

static void
test_validation(void **state)
{
	struct kv missing[] = {{"DATABASE_URL", "postgresql:///x"},
			       {"MEDIA_DIR", "/tmp"},
			       {"STORAGE", "s3"},
			       {"S3_ENDPOINT", "https://s3.example"},
			       {NULL, NULL}};
	struct kv bad[] = {{"DATABASE_URL", "postgresql:///x"},
			   {"MEDIA_DIR", "/tmp"},
			   {"STORAGE", "s3"},
			   {"S3_ENDPOINT", "https://s3.example/bucket"},
			   {"S3_BUCKET", "My_Bucket"},
			   {"S3_REGION", "US East"},
			   {"S3_ACCESS_KEY_ID", "AKID"},
			   {"S3_SECRET_ACCESS_KEY", "very-secret-value"},
			   {"S3_PUBLIC_BASE_URL", "cdn.example/media"},
			   {NULL, NULL}};
	struct kv good[] = {{"DATABASE_URL", "postgresql:///x"},
			    {"MEDIA_DIR", "/tmp"},
			    {"STORAGE", "s3"},
			    {"S3_ENDPOINT", "http://10.0.0.5:9000"},
			    {"S3_BUCKET", "media"},
			    {"S3_ACCESS_KEY_ID", "AKID"},
			    {"S3_SECRET_ACCESS_KEY", "very-secret-value"},
			    {"S3_PUBLIC_BASE_URL", "https://site/media"},
			    {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	assert_int_equal(cfg_load(&c, lookup, missing, &errs), SJ_ECONFIG);
	assert_true(errs_have(&errs, "S3_ENDPOINT, S3_BUCKET, "
				     "S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY "
				     "and S3_PUBLIC_BASE_URL are required"));
	assert_int_equal(cfg_load(&c, lookup, bad, &errs), SJ_ECONFIG);
	assert_int_equal(errs.n, 4);
	assert_true(errs_have(&errs, "S3_ENDPOINT=https://s3.example/bucket: "
				     "must be http(s)://host[:port]"));
	assert_true(errs_have(&errs, "S3_BUCKET=My_Bucket: must be"));
	assert_true(errs_have(&errs, "S3_REGION=US East: must be"));
	assert_true(errs_have(&errs, "S3_PUBLIC_BASE_URL="));
	for (int i = 0; i < errs.n; i++)
		assert_null(strstr(errs.msg[i], "very-secret-value"));
	assert_int_equal(cfg_load(&c, lookup, good, &errs), SJ_OK);
	assert_string_equal(c.s3_region, "us-east-1");
	assert_int_equal(errs.nwarn, 0);
	cfg_free(&c);
	/* any public base: a job's use of an upload is seen whatever the
	   URL's path (sql/013) */
	good[7].v = "https://pub.example.dev";
	assert_int_equal(cfg_load(&c, lookup, good, &errs), SJ_OK);
	assert_int_equal(errs.nwarn, 0);
	cfg_free(&c);
}

static bool
priv4(const char *a)
{
	struct sockaddr_in s = {.sin_family = AF_INET};

	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return http_addr_private((struct sockaddr *)&s);
}

static bool
priv6(const char *a)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6};

	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return http_addr_private((struct sockaddr *)&s);
}

static void
test_private_addresses(void **state)
{
	(void)state;
	assert_true(priv4("127.0.0.1"));
	assert_true(priv4("10.1.2.3"));
	assert_true(priv4("172.16.0.1"));
	assert_true(priv4("172.31.255.255"));
	assert_true(priv4("192.168.1.1"));
	assert_true(priv4("100.64.0.1"));
	assert_false(priv4("172.32.0.1"));
	assert_false(priv4("169.254.169.254")); /* metadata services */
	assert_false(priv4("8.8.8.8"));
	assert_false(priv4("192.0.2.1"));
	assert_true(priv6("::1"));
	assert_true(priv6("fd00::5"));
	assert_true(priv6("::ffff:10.0.0.1"));
	assert_false(priv6("::ffff:8.8.8.8"));
	assert_false(priv6("fe80::1"));
	assert_false(priv6("2001:4860::8888"));
}

/* http:// to a public address is refused at connect: nothing is sent. */
static void
test_plain_http_public_refused(void **state)
{
	struct cfg c = s3cfg((char *)"http://192.0.2.1:9000",
			     (char *)"https://cdn.example/media");
	struct buf b;

	(void)state;
	assert_int_equal(s3_put(&c, "a1.png", "x", 1, "image/png", NULL, NULL),
			 SJ_EPERMANENT);
	assert_int_equal(s3_get(&c, "a1.png", 100, NULL, NULL, &b),
			 SJ_EPERMANENT);
	buf_free(&b);
	assert_int_equal(s3_delete(&c, "a1.png"), SJ_EPERMANENT);
	assert_int_equal(s3_delete(&c, "../a1.png"), SJ_EINVAL);
	c.s3_region = (char *)"bad region";
	assert_int_equal(s3_delete(&c, "a1.png"), SJ_ECONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shapes),
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_own_names),
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_private_addresses),
	    cmocka_unit_test(test_plain_http_public_refused),
	};

	if (http_global_init() != SJ_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
