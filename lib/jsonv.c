/*
 * DESIGN
 * json-c is lenient by default and its getters coerce silently.  Input
 * from the network passes json_parse_strict() once; after that a document
 * is known to be RFC 8259 JSON in valid UTF-8, with finite numbers and no
 * NUL inside strings, and the jv_ getters below check every type before
 * reading.  Integers are read through their decimal text so values json-c
 * stores as uint64 or clamps never turn into a different number.
 *
 * "Valid UTF-8" is PostgreSQL's notion, checked here on the raw bytes:
 * json-c's JSON_TOKENER_VALIDATE_UTF8 (0.16) only checks the shape of a
 * sequence, so overlong forms, encoded surrogates and code points past
 * U+10FFFF got through it and failed later in the database (a 503 for a
 * malformed request).  Escapes are the other way text could change on
 * the way in: json-c turns an unpaired surrogate escape into U+FFFD, so
 * those are refused in the raw text before the tokener runs; and it also
 * turns the valid pairs of U+xD800-U+xDFFF above the first plane into
 * U+FFFD (it takes the decoded code point for a surrogate again), so the
 * tokener is given a copy in which every pair is already its UTF-8.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "num.h"

/* Refuses what the strict tokener lets through; depth is bounded. */
static enum sj_err
json_walk(struct json_object *o, const char **why)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		if (!isfinite(json_object_get_double(o))) {
			*why = "Numbers must be finite";
			return SJ_EINVAL;
		}
		return SJ_OK;
	case json_type_string:
		if (strlen(json_object_get_string(o)) !=
		    (size_t)json_object_get_string_len(o)) {
			*why = "Strings must not contain NUL characters";
			return SJ_EINVAL;
		}
		return SJ_OK;
	case json_type_array: {
		size_t n = json_object_array_length(o);

		for (size_t i = 0; i < n; i++)
			if (json_walk(json_object_array_get_idx(o, i), why) !=
			    SJ_OK)
				return SJ_EINVAL;
		return SJ_OK;
	}
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			if (json_walk(val, why) != SJ_OK)
				return SJ_EINVAL;
		}
		return SJ_OK;
	}
	default:
		return SJ_OK;
	}
}

/*
 * A lexical pass json-c's strict mode still needs in 0.16: outside
 * strings only structural characters, number characters, whitespace and
 * the letters of true/false/null may appear.  This refuses single-quoted
 * strings, comments, NaN and Infinity before the tokener sees them, a
 * NUL byte anywhere, and a raw control character (U+0000-U+001F) inside a
 * string, which JSON allows only escaped and json-c 0.16 takes as it is.
 */
static bool
json_lex_ok(const char *buf, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
			else if ((unsigned char)ch < 0x20)
				return false; /* RFC 8259 7: escaped only */
			continue;
		}
		if (ch == '"')
			in_str = true;
		else if (ch == '\0' || strchr("{}[]:,-+.0123456789eE \t\r\n"
					      "truefalsn",
					      ch) == NULL)
			return false;
	}
	return !in_str;
}

/*
 * The length of the well-formed sequence at buf (n > 0 bytes left), 0 when
 * it is not one.  The lead byte gives the length; the second byte's range
 * depends on the lead, which is where overlongs (E0, F0), surrogates (ED)
 * and code points past U+10FFFF (F4) are told apart; the others are plain
 * continuation bytes.
 */
size_t
jv_utf8_seq(const char *buf, size_t n)
{
	const unsigned char *s = (const unsigned char *)buf;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (s[0] >= 0x01 && s[0] <= 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0; /* NUL, 80-BF, C0-C1, F5-FF */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

bool
jv_utf8_valid(const char *buf, size_t len)
{
	size_t i = 0, n;

	while (i < len) {
		if ((n = jv_utf8_seq(buf + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

size_t
jv_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t k = max;

	if (len <= max)
		return len;
	while (k > 0 && max - k < 3 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	return k;
}

/* The code unit of the escape \uXXXX at buf[i] (a backslash), or -1. */
static long
u_escape(const char *buf, size_t len, size_t i)
{
	long v = 0;

	if (i + 6 > len || buf[i] != '\\' || buf[i + 1] != 'u')
		return -1;
	for (size_t k = i + 2; k < i + 6; k++) {
		char c = buf[k];

		if (c >= '0' && c <= '9')
			v = v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (c - 'A' + 10);
		else
			return -1;
	}
	return v;
}

/* Writes the four UTF-8 bytes of cp (U+10000-U+10FFFF) at out. */
static void
utf8_put4(char *out, long cp)
{
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
}

/*
 * Walks the escapes in the strings of buf, text json_lex_ok() accepted.
 * -1: an unpaired surrogate escape, i.e. a high half (\uD800-\uDBFF) not
 * followed at once by a low half (\uDC00-\uDFFF), or a low half on its
 * own; -2: a \u0000 in a string or a key (json-c keeps a key only up to
 * it, so {"a\u0000b":1} would silently become {"a":1}).  Otherwise the number
 * of pairs json-c would decode wrongly (code points whose low 16 bits are
 * D800-DFFF); when out is not NULL (len bytes) the text is copied there with
 * each pair written as the UTF-8 bytes of its code point and *outlen is set.
 * Other bad escapes are left to the tokener.
 */
static long
json_pairs(const char *buf, size_t len, char *out, size_t *outlen)
{
	bool in_str = false;
	long pairs = 0, hi, lo;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (!in_str || buf[i] != '\\') {
			in_str ^= buf[i] == '"';
			if (out != NULL)
				out[o++] = buf[i];
			continue;
		}
		hi = u_escape(buf, len, i);
		if (hi == 0)
			return -2; /* json-c would cut a key there */
		lo = hi >= 0xd800 && hi <= 0xdbff ? u_escape(buf, len, i + 6)
						  : -1;
		if ((hi >= 0xdc00 && hi <= 0xdfff) ||
		    (hi >= 0xd800 && hi <= 0xdbff &&
		     (lo < 0xdc00 || lo > 0xdfff)))
			return -1;
		if (lo >= 0) {
			long cp =
			    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);

			if (out != NULL)
				utf8_put4(out + o, cp);
			o += 4;
			pairs += (cp & 0xf800) == 0xd800;
			i += 11;
			continue;
		}
		/* a backslash and the character after it, copied as they are */
		for (size_t k = i; out != NULL && k < i + 2 && k < len; k++)
			out[o++] = buf[k];
		i++;
	}
	if (outlen != NULL)
		*outlen = o;
	return pairs;
}

/*
 * The checks on the raw text before the tokener.  json-c 0.16 decodes the
 * pairs of U+xD800-U+xDFFF in every plane above the first (U+1D800,
 * U+2D800, ...) to U+FFFD, so a text with pairs is parsed from *copy
 * (malloced, the caller frees), where each pair is its UTF-8 bytes; text
 * whose pairs json-c decodes right (an emoji, say) is parsed as it is.
 */
static enum sj_err
json_text_ok(const char **buf, size_t *len, char **copy, const char **why)
{
	long pairs;

	*copy = NULL;
	if (!json_lex_ok(*buf, *len))
		return SJ_EINVAL;
	if (!jv_utf8_valid(*buf, *len)) {
		*why = "Invalid UTF-8 in JSON";
		return SJ_EINVAL;
	}
	if ((pairs = json_pairs(*buf, *len, NULL, NULL)) < 0) {
		*why = pairs == -2 ? "Strings must not contain NUL characters"
				   : "Unpaired surrogate escape in JSON string";
		return SJ_EINVAL;
	}
	if (pairs == 0)
		return SJ_OK;
	if ((*copy = malloc(*len)) == NULL)
		return SJ_ENOMEM;
	(void)json_pairs(*buf, *len, *copy, len);
	*buf = *copy;
	return SJ_OK;
}

/* json-c's strict tokener over the whole of buf; *o is NULL on failure. */
static enum sj_err
json_tokenize(const char *buf, size_t len, int max_depth,
	      struct json_object **o, const char **why)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	size_t end;

	if ((tok = json_tokener_new_ex(max_depth)) == NULL)
		return SJ_ENOMEM;
	/* the text is valid UTF-8 already (json_text_ok), by stricter rules */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr != json_tokener_success || *o == NULL) {
		if (jerr == json_tokener_error_depth)
			*why = "JSON nested too deeply";
		json_object_put(*o);
		*o = NULL;
		return SJ_EINVAL;
	}
	/* only whitespace may follow the document */
	for (; end < len; end++)
		if (strchr(" \t\r\n", buf[end]) == NULL || buf[end] == '\0') {
			*why = "Unexpected data after JSON";
			json_object_put(*o);
			*o = NULL;
			return SJ_EINVAL;
		}
	return SJ_OK;
}

enum sj_err
json_parse_strict(const char *buf, size_t len, int max_depth,
		  struct json_object **out, const char **why)
{
	struct json_object *o = NULL;
	char *copy = NULL;
	enum sj_err e;

	*out = NULL;
	*why = "Malformed JSON";
	if (len == 0) {
		*why = "Request body is required";
		return SJ_EINVAL;
	}
	if (len > (size_t)INT32_MAX)
		return SJ_ETOOBIG;
	if ((e = json_text_ok(&buf, &len, &copy, why)) != SJ_OK ||
	    (e = json_tokenize(buf, len, max_depth, &o, why)) != SJ_OK)
		goto out;
	if ((e = json_walk(o, why)) != SJ_OK) {
		json_object_put(o);
		goto out;
	}
	*out = o;
out:
	free(copy);
	return e;
}

/* Finds key; SJ_ENOTFOUND when absent or JSON null. */
static enum sj_err
jv_find(struct json_object *obj, const char *key, json_type want,
	struct json_object **val)
{
	if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, val) || *val == NULL)
		return SJ_ENOTFOUND;
	return json_object_is_type(*val, want) ? SJ_OK : SJ_EINVAL;
}

enum sj_err
jv_str(struct json_object *obj, const char *key, size_t maxlen,
       const char **out)
{
	struct json_object *v;
	enum sj_err e;

	if ((e = jv_find(obj, key, json_type_string, &v)) != SJ_OK)
		return e;
	if ((size_t)json_object_get_string_len(v) > maxlen)
		return SJ_ETOOBIG;
	*out = json_object_get_string(v);
	return SJ_OK;
}

enum sj_err
jv_i64(struct json_object *obj, const char *key, int64_t min, int64_t max,
       int64_t *out)
{
	struct json_object *v;
	enum sj_err e;

	if ((e = jv_find(obj, key, json_type_int, &v)) != SJ_OK)
		return e;
	return num_i64(
	    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), min, max,
	    out);
}

enum sj_err
jv_bool(struct json_object *obj, const char *key, bool *out)
{
	struct json_object *v;
	enum sj_err e;

	if ((e = jv_find(obj, key, json_type_boolean, &v)) != SJ_OK)
		return e;
	*out = json_object_get_boolean(v);
	return SJ_OK;
}

enum sj_err
jv_array(struct json_object *obj, const char *key, struct json_object **out)
{
	return jv_find(obj, key, json_type_array, out);
}

enum sj_err
jv_object(struct json_object *obj, const char *key, struct json_object **out)
{
	return jv_find(obj, key, json_type_object, out);
}

enum sj_err
jv_add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (val == NULL)
		return SJ_ENOMEM;
	if (json_object_object_add(obj, key, val) != 0) {
		json_object_put(val);
		return SJ_ENOMEM;
	}
	return SJ_OK;
}

enum sj_err
jv_add_str(struct json_object *obj, const char *key, const char *val)
{
	return jv_add(obj, key, json_object_new_string(val));
}

enum sj_err
jv_add_i64(struct json_object *obj, const char *key, int64_t val)
{
	return jv_add(obj, key, json_object_new_int64(val));
}

enum sj_err
jv_add_bool(struct json_object *obj, const char *key, bool val)
{
	return jv_add(obj, key, json_object_new_boolean(val));
}
