/*
 * Strict JSON at the edge.  json_parse_strict() accepts exactly one RFC
 * 8259 document: the raw text must be UTF-8 as PostgreSQL defines it
 * (jv_utf8_valid) with no unpaired surrogate escape, json-c's strict
 * tokener with a depth limit must consume the whole input, and a walk
 * refuses what json-c lets through (NaN, Infinity, strings with an
 * embedded NUL).  After it succeeds every getter below is safe: each
 * checks the type first, and every string is text PostgreSQL accepts.
 */
#ifndef SJ_JSONV_H
#define SJ_JSONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "err.h"

#define JSONV_DEPTH 32

/*
 * True when the len bytes at buf are text PostgreSQL accepts in a UTF8
 * database (pg_utf8_islegal, and no NUL): the shortest encoding of a code
 * point from U+0001 to U+10FFFF that is not a surrogate (U+D800-DFFF).
 * Refused: NUL, a stray continuation byte, overlong forms (C0/C1 leads,
 * E0 80-9F, F0 80-8F), encoded surrogates (ED A0-BF), code points past
 * U+10FFFF (F4 90-BF, F5-FF leads, the old 5- and 6-byte forms), and a
 * sequence cut short by the end of the input or by a byte that is not a
 * continuation.
 */
bool jv_utf8_valid(const char *buf, size_t len);

/*
 * The length of the one well-formed sequence (by jv_utf8_valid's rules)
 * at the start of the n > 0 bytes at buf, 0 when there is none.
 */
size_t jv_utf8_seq(const char *buf, size_t n);

/*
 * The length of the longest prefix of the len bytes at s that is at most
 * max bytes and does not end inside a UTF-8 sequence: where text that was
 * valid is cut to a size, so the cut piece stays valid (a message for
 * PostgreSQL, a clipped caption).  Continuation bytes are stepped back
 * over, never more than three.
 */
size_t jv_utf8_cut(const char *s, size_t len, size_t max);

/*
 * On SJ_OK *out is a new reference the caller puts.  On SJ_EINVAL *why is
 * a static message fit for a client ("Malformed JSON", ...).
 */
enum sj_err json_parse_strict(const char *buf, size_t len, int max_depth,
			      struct json_object **out,
			      const char **why) SJ_WUR;

/*
 * Field getters on an object.  SJ_ENOTFOUND: absent or null.  SJ_EINVAL:
 * wrong type (or, for numbers, not an integer in range).  SJ_ETOOBIG: a
 * string longer than maxlen bytes.  *out is borrowed from obj.
 */
enum sj_err jv_str(struct json_object *obj, const char *key, size_t maxlen,
		   const char **out) SJ_WUR;
enum sj_err jv_i64(struct json_object *obj, const char *key, int64_t min,
		   int64_t max, int64_t *out) SJ_WUR;
enum sj_err jv_bool(struct json_object *obj, const char *key, bool *out) SJ_WUR;
enum sj_err jv_array(struct json_object *obj, const char *key,
		     struct json_object **out) SJ_WUR;
enum sj_err jv_object(struct json_object *obj, const char *key,
		      struct json_object **out) SJ_WUR;

/* Adds a string (copied) / int to obj; SJ_ENOMEM on failure. */
enum sj_err jv_add_str(struct json_object *obj, const char *key,
		       const char *val) SJ_WUR;
enum sj_err jv_add_i64(struct json_object *obj, const char *key,
		       int64_t val) SJ_WUR;
enum sj_err jv_add_bool(struct json_object *obj, const char *key,
			bool val) SJ_WUR;
/* Takes the reference val (puts it on failure). */
enum sj_err jv_add(struct json_object *obj, const char *key,
		   struct json_object *val) SJ_WUR;

#endif
