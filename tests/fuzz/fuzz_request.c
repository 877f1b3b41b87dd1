/*
 * libFuzzer target for the request edge: everything a client controls
 * before a handler runs.  The first byte picks the layer:
 *   0-4  the body as JSON (strict parser), then the start validation of
 *        job type byte % 5 — what POST /api/jobs/{type}/start does
 *   5    the bytes as a request path against a route table
 *   6-7  the bytes as CONTENT_LENGTH and as configuration numbers
 * On every input, whatever the layer, the UTF-8 validator must agree with
 * a reference written the other way round (decode each sequence to its
 * code point, then judge the number), and an accepted JSON document may
 * hold no U+FFFD the text did not spell out (an unpaired surrogate escape
 * would decode to one) and no key or string other than the text spells
 * (escapes and surrogate pairs decoded by a reference written here).  Any
 * disagreement aborts.
 * Built and run by tests/fuzz/run.sh (./dev test runs it briefly,
 * ./dev fuzz SECONDS for longer).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job.h"
#include "jsonv.h"
#include "num.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The reference for jv_utf8_valid(): the lead byte's high bits give the
 * length and its payload bits, each continuation byte adds six bits, and
 * the decoded number must be in the shortest form for its length, not a
 * surrogate, not NUL and at most U+10FFFF.
 */
static bool
ref_utf8_valid(const unsigned char *s, size_t n)
{
	static const uint32_t shortest[5] = {0, 0, 0x80, 0x800, 0x10000};
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		if ((s[i] & 0x80) == 0)
			cp = s[i], len = 1;
		else if ((s[i] & 0xe0) == 0xc0)
			cp = s[i] & 0x1fu, len = 2;
		else if ((s[i] & 0xf0) == 0xe0)
			cp = s[i] & 0x0fu, len = 3;
		else if ((s[i] & 0xf8) == 0xf0)
			cp = s[i] & 0x07u, len = 4;
		else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (cp == 0 || (len > 1 && cp < shortest[len]) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += len;
	}
	return true;
}

/* Occurrences of U+FFFD's bytes in the n bytes at s. */
static size_t
fffd_bytes(const char *s, size_t n)
{
	size_t count = 0;
	const char *p;

	while (n >= 3 && (p = memmem(s, n, "\xef\xbf\xbd", 3)) != NULL) {
		count++;
		n -= (size_t)(p - s) + 3;
		s = p + 3;
	}
	return count;
}

/* U+FFFD in the JSON text as written: its bytes, or \uFFFD escapes. */
static size_t
fffd_spelled(const char *s, size_t n)
{
	size_t count = fffd_bytes(s, n);

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\')
			continue;
		if (n - i >= 6 && s[i + 1] == 'u' &&
		    strncasecmp(s + i + 2, "fffd", 4) == 0) {
			count++;
			i += 5;
		} else {
			i++;
		}
	}
	return count;
}

/* U+FFFD in the parsed document's keys and strings. */
static size_t
fffd_parsed(struct json_object *o)
{
	size_t count = 0;

	switch (json_object_get_type(o)) {
	case json_type_string:
		return fffd_bytes(json_object_get_string(o),
				  (size_t)json_object_get_string_len(o));
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			count += fffd_parsed(json_object_array_get_idx(o, i));
		return count;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			count += fffd_bytes(key, strlen(key));
			count += fffd_parsed(val);
		}
		return count;
	}
	default:
		return 0;
	}
}

/* The character a one-letter escape \c stands for (" \ / as they are). */
static char
esc_char(char c)
{
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return c;
	}
}

/* Writes cp as UTF-8 at enc (4 bytes); returns the length. */
static size_t
ref_encode(uint32_t cp, char enc[4])
{
	static const unsigned char lead[5] = {0, 0x00, 0xc0, 0xe0, 0xf0};
	size_t w = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

	for (size_t k = w - 1; k > 0; k--, cp >>= 6)
		enc[k] = (char)(0x80 | (cp & 0x3f));
	enc[0] = (char)(lead[w] | cp);
	return w;
}

/*
 * The reference decoding of the strings of an accepted document: each
 * string of the raw text (keys too), escapes decoded by hand, a surrogate
 * pair joined into its code point, stored one after another, each ended
 * by a NUL (an accepted document has none inside a string).  Returns the
 * number of strings, or -1 when out (cap bytes) is too small.
 */
static long
ref_strings(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	long count = 0;
	uint32_t hi = 0, cp;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '"')
			continue;
		for (i++; i < n && s[i] != '"'; i++) {
			char enc[4], hex[5] = {0};
			size_t w = 1;

			if (s[i] != '\\') {
				enc[0] = s[i];
			} else if (s[++i] != 'u') {
				enc[0] = esc_char(s[i]);
			} else {
				memcpy(hex, s + i + 1, 4);
				cp = (uint32_t)strtoul(hex, NULL, 16);
				i += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					hi = cp;
					continue;
				}
				if (cp >= 0xdc00 && cp <= 0xdfff)
					cp = 0x10000 + ((hi - 0xd800) << 10) +
					     (cp - 0xdc00);
				w = ref_encode(cp, enc);
			}
			if (o + w >= cap)
				return -1;
			memcpy(out + o, enc, w);
			o += w;
		}
		out[o++] = '\0';
		count++;
	}
	return count;
}

/* True when every key and string of o is one of the n strings at ref. */
static bool
strings_in(struct json_object *o, const char *ref, long n)
{
	switch (json_object_get_type(o)) {
	case json_type_string: {
		const char *v = json_object_get_string(o), *r = ref;

		for (long i = 0; i < n; i++, r += strlen(r) + 1)
			if (strcmp(r, v) == 0)
				return true;
		return false;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!strings_in(json_object_array_get_idx(o, i), ref,
					n))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			struct json_object *k = json_object_new_string(key);
			bool ok = k != NULL && strings_in(k, ref, n) &&
				  strings_in(val, ref, n);

			json_object_put(k);
			if (!ok)
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

/*
 * An accepted document's strings are exactly what its text spells: each
 * parsed key and string must be one the reference decoding found.
 */
static bool
strings_as_spelled(const char *buf, size_t len, struct json_object *o)
{
	size_t cap = 2 * len + 2;
	char *ref = malloc(cap);
	long n;
	bool ok;

	if (ref == NULL)
		return true; /* no memory is not a finding */
	n = ref_strings(buf, len, ref, cap);
	ok = n >= 0 && strings_in(o, ref, n);
	free(ref);
	return ok;
}

static void
fuzz_json(const char *buf, size_t len, enum job_type t)
{
	/* the settings' defaults: 30 pages, 60 scenes */
	static struct job_limits limits = {30, 60, ""};

	struct json_object *o = NULL, *norm = NULL;
	const char *why = NULL, *msg = NULL;

	if (json_parse_strict(buf, len, JSONV_DEPTH, &o, &why) != SJ_OK) {
		if (o != NULL || why == NULL)
			abort();
		return;
	}
	/* accepted: text PostgreSQL takes, every character as sent */
	if (!ref_utf8_valid((const unsigned char *)buf, len) ||
	    fffd_parsed(o) > fffd_spelled(buf, len) ||
	    !strings_as_spelled(buf, len, o))
		abort();
	if (job_input_validate(&limits, t, o, &norm, &msg) == SJ_OK) {
		/* a normalized input must serialize and parse back strictly */
		size_t n = 0;
		const char *s = json_object_to_json_string_length(
		    norm, JSON_C_TO_STRING_PLAIN, &n);
		struct json_object *back = NULL;

		if (s == NULL || !ref_utf8_valid((const unsigned char *)s, n) ||
		    json_parse_strict(s, n, JSONV_DEPTH, &back, &why) != SJ_OK)
			abort();
		json_object_put(back);
	} else if (msg == NULL || norm != NULL) {
		abort();
	}
	json_object_put(norm);
	json_object_put(o);
}

static void
fuzz_route(const char *path)
{
	static const char *const patterns[] = {
	    "/api/jobs/*/start",  "/api/jobs/*/status/*",
	    "/api/jobs/user",	  "/api/jobs/*",
	    "/api/jobs/*/cancel", "/api/admin/jobs/*/retry"};
	char scratch[1024];
	const char *caps[ROUTE_MAX_CAPS];

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		if (route_match(patterns[i], path, scratch, sizeof(scratch),
				caps) &&
		    strchr(patterns[i], '*') != NULL &&
		    (caps[0] == NULL || *caps[0] == '\0' ||
		     strchr(caps[0], '/') != NULL))
			abort();
}

static void
fuzz_numbers(const char *s)
{
	uint64_t u;
	int64_t v;
	double d;
	bool b;

	if (num_u64_digits(s, 1 << 20, &u) == SJ_OK && u > (1 << 20))
		abort();
	if (num_i64(s, -5, 5, &v) == SJ_OK && (v < -5 || v > 5))
		abort();
	(void)!num_double(s, &d);
	(void)!num_bool(s, &b);
	(void)job_id_valid(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (jv_utf8_valid((const char *)data, size) !=
	    ref_utf8_valid(data, size))
		abort();
	if (size == 0)
		return 0;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] % 8 < 5)
		fuzz_json(s, size - 1, (enum job_type)(data[0] % 8));
	else if (data[0] % 8 == 5)
		fuzz_route(s);
	else
		fuzz_numbers(s);
	free(s);
	return 0;
}
