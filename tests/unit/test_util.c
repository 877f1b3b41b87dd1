/* Bounded parsing, capped buffers and the strict JSON edge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "digest.h"
#include "buf.h"
#include "jsonv.h"
#include "media_names.h"
#include "num.h"
#include "route.h"

static void
test_num(void **state)
{
	int64_t v;
	uint64_t u;
	double d;
	bool b;

	assert_int_equal(num_i64("42", 0, 100, &v), SJ_OK);
	assert_int_equal(v, 42);
	assert_int_equal(num_i64("-9223372036854775808", INT64_MIN, 0, &v),
			 SJ_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(num_i64("9223372036854775808", 0, INT64_MAX, &v),
			 SJ_EINVAL);
	assert_int_equal(num_i64("101", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(num_i64(" 1", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(num_i64("1 ", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(num_i64("", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(num_i64("-", -5, 100, &v), SJ_EINVAL);
	assert_int_equal(num_i64("0x10", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(num_u64_digits("18446744073709551615", UINT64_MAX, &u),
			 SJ_OK);
	assert_int_equal(num_u64_digits("18446744073709551616", UINT64_MAX, &u),
			 SJ_EINVAL);
	assert_int_equal(num_u64_digits("+5", 10, &u), SJ_EINVAL);
	assert_int_equal(num_u64_digits("-0", 10, &u), SJ_EINVAL);
	assert_int_equal(num_double("0.25", &d), SJ_OK);
	assert_true(d == 0.25);
	assert_int_equal(num_double("nan", &d), SJ_EINVAL);
	assert_int_equal(num_double("inf", &d), SJ_EINVAL);
	assert_int_equal(num_double("1e999", &d), SJ_EINVAL);
	assert_int_equal(num_double("0x1p3", &d), SJ_EINVAL);
	assert_int_equal(num_bool("On", &b), SJ_OK);
	assert_true(b);
	assert_int_equal(num_bool("0", &b), SJ_OK);
	assert_false(b);
	assert_int_equal(num_bool("maybe", &b), SJ_EINVAL);
}

static void
test_buf_cap(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_addstr(&b, "abcd"), SJ_OK);
	assert_int_equal(buf_addf(&b, "%d", 123), SJ_OK);
	assert_string_equal(b.data, "abcd123");
	assert_int_equal(buf_add(&b, "xy", 2), SJ_ETOOBIG);
	/* a failed append leaves nothing behind */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* Inputs the strict parser refuses, with the reason it gives. */
static void
test_json_rejects(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *why;
	} rows[] = {
	    {"", 0, "Request body is required"},
	    {"{\"a\":1", 6, "Malformed JSON"},
	    {"{\"a\":1} x", 9, "Malformed JSON"},
	    {"{\"a\":1}{}", 9, "Malformed JSON"},
	    {"{'a':1}", 7, "Malformed JSON"},
	    {"{\"a\":1,}", 8, "Malformed JSON"},
	    {"{\"a\":NaN}", 9, "Malformed JSON"},
	    {"{\"a\":1e999}", 11, "Numbers must be finite"},
	    {"{\"a\":\"\\u0000\"}", 14,
	     "Strings must not contain NUL characters"},
	    {"{\"a\\u0000b\":1}", 14,
	     "Strings must not contain NUL characters"},
	    {"{\"a\":\"\xff\"}", 8, "Invalid UTF-8 in JSON"},
	    {"{\"a\":\"\xc3\x28\"}", 9, "Invalid UTF-8 in JSON"},
	    {"{\"a\":1}\0", 8, "Malformed JSON"},
	    {"{\"a\":Infinity}", 14, "Malformed JSON"},
	    {"{\"a\":-nan}", 10, "Malformed JSON"},
	    {"/*c*/{}", 7, "Malformed JSON"},
	    {"{\"a\":TRUE}", 10, "Malformed JSON"},
	    {"{\"a\":\"x\x01y\"}", 11, "Malformed JSON"},
	    {"{\"a\":\"line\nbreak\"}", 18, "Malformed JSON"},
	    {"{\"a\x1f\":1}", 8, "Malformed JSON"},
	};

	int bad = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *o = NULL;
		const char *why = NULL;
		enum sj_err e =
		    json_parse_strict(rows[i].in, rows[i].len, 32, &o, &why);

		if (e != SJ_EINVAL || strcmp(why, rows[i].why) != 0) {
			print_error("row %zu: e=%d why=%s\n", i, e, why);
			bad++;
		}
		assert_null(o);
	}
	assert_int_equal(bad, 0);
}

#define TROW(text, why)                                                        \
	{                                                                      \
		text, sizeof(text) - 1, why                                    \
	}

/*
 * Text PostgreSQL would refuse, and escapes json-c would silently turn
 * into U+FFFD: each refused with its reason (why NULL: accepted).
 */
static void
test_json_text(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *why;
	} rows[] = {
	    TROW("{\"a\":\"\xc0\xaf\"}", "Invalid UTF-8 in JSON"),
	    TROW("{\"a\":\"\xed\xa0\x80\"}", "Invalid UTF-8 in JSON"),
	    TROW("{\"a\":\"\xf4\x90\x80\x80\"}", "Invalid UTF-8 in JSON"),
	    TROW("{\"a\":\"\xf7\xbf\xbf\xbf\"}", "Invalid UTF-8 in JSON"),
	    TROW("{\"\xe0\x80\xaf\":1}", "Invalid UTF-8 in JSON"),
	    TROW("{\"a\":\"x\0y\"}", "Malformed JSON"),
	    TROW("{\"a\":\"\\ud800\"}",
		 "Unpaired surrogate escape in JSON string"),
	    TROW("{\"a\":\"\\uDBFF\"}",
		 "Unpaired surrogate escape in JSON string"),
	    TROW("{\"a\":\"\\udc00\"}",
		 "Unpaired surrogate escape in JSON string"),
	    TROW("{\"a\":\"\\ud800\\u0041\"}",
		 "Unpaired surrogate escape in JSON string"),
	    TROW("{\"a\":\"\\ud800x\"}",
		 "Unpaired surrogate escape in JSON string"),
	    TROW("{\"a\":\"\\udc00\\ud800\"}",
		 "Unpaired surrogate escape in JSON string"),
	    TROW("{\"a\":\"\\ud800\\ud800\\udc00\"}",
		 "Unpaired surrogate escape in JSON string"),
	    TROW("{\"\\ud800\":1}", "Unpaired surrogate escape in JSON string"),
	    TROW("{\"a\":\"\\ud800\\", "Malformed JSON"),
	    TROW("{\"a\":\"\\ud800\\udc00\"}", NULL),
	    TROW("{\"a\":\"\\uDBFF\\uDFFF\"}", NULL),
	    TROW("{\"a\":\"\\ud7ff\\ue000\\ufffd\"}", NULL),
	    TROW("{\"a\":\"\\\\ud800\"}", NULL),
	    TROW("{\"a\":\"\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"}", NULL),
	    TROW("{\"\\ud83d\\ude00\":\"\xc3\xa9\"}", NULL),
	};
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *o = NULL;
		const char *why = NULL;
		enum sj_err e =
		    json_parse_strict(rows[i].in, rows[i].len, 32, &o, &why);

		if (rows[i].why == NULL
			? e != SJ_OK
			: e != SJ_EINVAL || strcmp(why, rows[i].why) != 0) {
			print_error("row %zu: e=%d why=%s\n", i, e, why);
			bad++;
		}
		json_object_put(o);
	}
	assert_int_equal(bad, 0);
}

/* A pair becomes its code point; an escaped backslash stays text. */
static void
test_json_escapes_kept(void **state)
{
	static const char doc[] =
	    "{\"p\":\"\\ud83d\\ude00\",\"b\":\"\\\\ud800\",\"m\":"
	    "\"x\\\"\\\\\\ud836\\udc00\\n\\u0041\"}";
	struct json_object *o = NULL;
	const char *why, *s;

	(void)state;
	assert_int_equal(json_parse_strict(doc, sizeof(doc) - 1, 32, &o, &why),
			 SJ_OK);
	assert_int_equal(jv_str(o, "p", 8, &s), SJ_OK);
	assert_string_equal(s, "\xf0\x9f\x98\x80");
	assert_int_equal(jv_str(o, "b", 8, &s), SJ_OK);
	assert_string_equal(s, "\\ud800");
	/* U+1D800 between other escapes */
	assert_int_equal(jv_str(o, "m", 16, &s), SJ_OK);
	assert_string_equal(s, "x\"\\\xf0\x9d\xa0\x80\nA");
	json_object_put(o);
}

/*
 * Every high half, with the lowest, a middle and the highest low half,
 * decodes to its code point (json-c 0.16 alone gives U+FFFD for the
 * pairs of U+xD800-U+xDFFF, the Sutton SignWriting block among them).
 */
static void
test_json_every_pair(void **state)
{
	static const long lows[] = {0xdc00, 0xde00, 0xdfff};
	int bad = 0;

	(void)state;
	for (long hi = 0xd800; hi <= 0xdbff; hi++)
		for (size_t k = 0; k < 3; k++) {
			long cp = 0x10000 + ((hi - 0xd800) << 10) +
				  (lows[k] - 0xdc00);
			const unsigned char want[5] = {
			    (unsigned char)(0xf0 | cp >> 18),
			    (unsigned char)(0x80 | (cp >> 12 & 0x3f)),
			    (unsigned char)(0x80 | (cp >> 6 & 0x3f)),
			    (unsigned char)(0x80 | (cp & 0x3f)), 0};
			struct json_object *o = NULL;
			const char *why, *s = NULL;
			char doc[48];
			int n = snprintf(doc, sizeof(doc),
					 "{\"a\":\"\\u%04lx\\u%04lX\"}", hi,
					 lows[k]);

			if (json_parse_strict(doc, (size_t)n, 32, &o, &why) !=
				SJ_OK ||
			    jv_str(o, "a", 8, &s) != SJ_OK ||
			    strcmp(s, (const char *)want) != 0) {
				if (bad++ < 5)
					print_error("%s: U+%05lX wrong\n", doc,
						    cp);
			}
			json_object_put(o);
		}
	assert_int_equal(bad, 0);
}

/* A cut never splits a character, whatever its width, and keeps ASCII. */
static void
test_utf8_cut(void **state)
{
	/* "a", U+00E9 (2), U+20AC (3), U+1F600 (4): 10 bytes */
	static const char t[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	static const size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10};
	size_t len = sizeof t - 1;

	(void)state;
	for (size_t max = 0; max <= len + 1; max++) {
		size_t k = jv_utf8_cut(t, len, max);

		assert_int_equal(k, want[max]);
		assert_true(jv_utf8_valid(t, k));
	}
	assert_int_equal(jv_utf8_cut("abc", 3, 2), 2);
}

static void
test_json_deep(void **state)
{
	size_t n = 10000;
	char *s = malloc(2 * n + 1);
	struct json_object *o = NULL;
	const char *why;

	assert_non_null(s);
	memset(s, '[', n);
	memset(s + n, ']', n);
	s[2 * n] = '\0';
	assert_int_equal(json_parse_strict(s, 2 * n, 32, &o, &why), SJ_EINVAL);
	assert_string_equal(why, "JSON nested too deeply");
	assert_null(o);
	free(s);
}

static void
test_json_getters(void **state)
{
	static const char doc[] =
	    "{\"s\":\"h\xc3\xa9llo\",\"i\":12,\"big\":9223372036854775808,"
	    "\"neg\":-3,\"f\":1.5,\"t\":true,\"n\":null,\"a\":[1],\"o\":{}}\n";
	struct json_object *o = NULL, *x;
	const char *why, *s;
	int64_t v;
	bool b;

	assert_int_equal(json_parse_strict(doc, sizeof(doc) - 1, 32, &o, &why),
			 SJ_OK);
	assert_int_equal(jv_str(o, "s", 64, &s), SJ_OK);
	assert_string_equal(s, "h\xc3\xa9llo");
	assert_int_equal(jv_str(o, "s", 3, &s), SJ_ETOOBIG);
	assert_int_equal(jv_str(o, "i", 64, &s), SJ_EINVAL);
	assert_int_equal(jv_str(o, "n", 64, &s), SJ_ENOTFOUND);
	assert_int_equal(jv_str(o, "missing", 64, &s), SJ_ENOTFOUND);
	assert_int_equal(jv_i64(o, "i", 0, 100, &v), SJ_OK);
	assert_int_equal(v, 12);
	assert_int_equal(jv_i64(o, "big", INT64_MIN, INT64_MAX, &v), SJ_EINVAL);
	assert_int_equal(jv_i64(o, "neg", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(jv_i64(o, "f", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(jv_i64(o, "s", 0, 100, &v), SJ_EINVAL);
	assert_int_equal(jv_bool(o, "t", &b), SJ_OK);
	assert_true(b);
	assert_int_equal(jv_bool(o, "i", &b), SJ_EINVAL);
	assert_int_equal(jv_array(o, "a", &x), SJ_OK);
	assert_int_equal(jv_array(o, "o", &x), SJ_EINVAL);
	assert_int_equal(jv_object(o, "o", &x), SJ_OK);
	json_object_put(o);
}

static void
test_route_match(void **state)
{
	char scratch[64];
	const char *caps[ROUTE_MAX_CAPS];

	assert_true(route_match("/api/jobs/*/status/*",
				"/api/jobs/cartoonize/status/job_1_a", scratch,
				sizeof(scratch), caps));
	assert_string_equal(caps[0], "cartoonize");
	assert_string_equal(caps[1], "job_1_a");
	assert_true(route_match("/api/jobs/user", "/api/jobs/user", scratch,
				sizeof(scratch), caps));
	assert_false(route_match("/api/jobs/*", "/api/jobs/", scratch,
				 sizeof(scratch), caps));
	assert_false(route_match("/api/jobs/*", "/api/jobs/a/", scratch,
				 sizeof(scratch), caps));
	assert_false(route_match("/api/jobs/*", "/api/jobs/a/b", scratch,
				 sizeof(scratch), caps));
	assert_false(route_match("/api/jobs/*/start", "/api/jobs//start",
				 scratch, sizeof(scratch), caps));
	/* too long for the scratch buffer: no match, no overflow */
	assert_false(
	    route_match("/api/jobs/*",
			"/api/jobs/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			scratch, sizeof(scratch), caps));
}

/*
 * media_hmac against OpenSSL's one-shot HMAC() over the same bytes (each
 * part and its NUL): parts are separated, the key matters, and the hex
 * of the digest is what hex_encode writes.
 */
static void
test_media_hmac(void **state)
{
	const char *const ab_c[] = {"ab", "c"}, *const a_bc[] = {"a", "bc"};
	unsigned char md[MEDIA_DIGEST_LEN], ref[EVP_MAX_MD_SIZE], md2[32];
	unsigned int reflen = 0;
	struct media_key key;
	char hex[2 * MEDIA_DIGEST_LEN + 1], refhex[2 * MEDIA_DIGEST_LEN + 1];

	(void)state;
	key.len = 40;
	for (size_t i = 0; i < key.len; i++)
		key.k[i] = (unsigned char)(i * 7 + 1);
	assert_int_equal(media_hmac(&key, ab_c, 2, md), SJ_OK);
	assert_non_null(HMAC(EVP_sha256(), key.k, (int)key.len,
			     (const unsigned char *)"ab\0c\0", 5, ref,
			     &reflen));
	assert_int_equal(reflen, MEDIA_DIGEST_LEN);
	assert_memory_equal(md, ref, MEDIA_DIGEST_LEN);
	hex_encode(md, MEDIA_DIGEST_LEN, hex);
	for (size_t i = 0; i < MEDIA_DIGEST_LEN; i++)
		snprintf(refhex + 2 * i, 3, "%02x", ref[i]);
	assert_string_equal(hex, refhex);
	/* the parts' boundaries count */
	assert_int_equal(media_hmac(&key, a_bc, 2, md2), SJ_OK);
	assert_memory_not_equal(md, md2, MEDIA_DIGEST_LEN);
	/* another key, another name */
	key.k[0] ^= 1;
	assert_int_equal(media_hmac(&key, ab_c, 2, md2), SJ_OK);
	assert_memory_not_equal(md, md2, MEDIA_DIGEST_LEN);
	/* no key: refused, not an unkeyed hash */
	key.len = 0;
	assert_int_not_equal(media_hmac(&key, ab_c, 2, md2), SJ_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_num),
	    cmocka_unit_test(test_buf_cap),
	    cmocka_unit_test(test_json_rejects),
	    cmocka_unit_test(test_json_text),
	    cmocka_unit_test(test_json_escapes_kept),
	    cmocka_unit_test(test_json_every_pair),
	    cmocka_unit_test(test_utf8_cut),
	    cmocka_unit_test(test_json_deep),
	    cmocka_unit_test(test_json_getters),
	    cmocka_unit_test(test_route_match),
	    cmocka_unit_test(test_media_hmac),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
