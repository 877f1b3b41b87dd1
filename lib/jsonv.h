/*
 * Strict JSON at the edge.  json_parse_strict() accepts exactly one RFC
 * 8259 document: json-c's strict tokener with a depth limit and UTF-8
 * validation, the whole input consumed, and then a walk that refuses what
 * json-c lets through (NaN, Infinity, strings with an embedded NUL).  After
 * it succeeds every getter below is safe: each checks the type first.
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
