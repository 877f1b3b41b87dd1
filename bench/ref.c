/*
 * storyjobs-ref: the reference FastCGI program of the benchmarks.  It is
 * built from the same request layer, prefork server and database session
 * as the real programs, so its rates are the ceilings the real routes are
 * measured against (bench/run.sh):
 *
 *   GET  /bench/const    a small constant JSON document, no database
 *   GET  /bench/select1  one prepared SELECT 1, one round trip
 *   POST /bench/insert   the JSON body, strictly parsed, stored by one
 *                        prepared INSERT (autocommit) into bench_ref
 *
 * DESIGN
 * Each handler does the least a real route of its kind must do: parse the
 * request at the edge, one statement, a JSON answer through req_json.
 * What a real route does on top (validation, transactions, more columns,
 * notifications) is what the ratios in BENCHMARKS.md price.  bench_ref is
 * created by bench/run.sh, not by a migration: it is no part of the
 * schema.
 */
#include <stdio.h>

#include "jsonv.h"
#include "req.h"

#define PROG "storyjobs-ref"

static const struct db_stmt st_select1 = {"ref_select1", "SELECT 1", 0};
static const struct db_stmt st_insert = {
    "ref_insert",
    "INSERT INTO bench_ref (body) VALUES ($1::jsonb) RETURNING id", 1};

/* Answers {"ok":true,name:value}; value may be NULL (then only ok). */
static void
answer(struct req *r, const char *name, const char *value)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL || jv_add_bool(o, "ok", true) != SJ_OK ||
	    (value != NULL && jv_add_str(o, name, value) != SJ_OK)) {
		json_object_put(o);
		req_fail(r, SJ_ENOMEM);
		return;
	}
	req_json(r, 200, o, NULL);
	json_object_put(o);
}

static void
h_const(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	(void)caps;
	answer(r, "value", "constant");
}

static void
h_select1(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	PGresult *res = NULL;
	enum sj_err e;

	(void)caps;
	if ((e = db_exec(r->db, &st_select1, NULL, &res)) != SJ_OK) {
		req_fail(r, e);
		return;
	}
	answer(r, "value", db_str(res, 0, 0));
	PQclear(res);
}

static void
h_insert(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *in = NULL;
	PGresult *res = NULL;
	const char *p[1];
	enum sj_err e;

	(void)caps;
	if (req_read_json(r, &in) != 0)
		return;
	p[0] = json_object_to_json_string_ext(in, JSON_C_TO_STRING_PLAIN);
	e = p[0] == NULL ? SJ_ENOMEM : db_exec(r->db, &st_insert, p, &res);
	json_object_put(in);
	if (e != SJ_OK) {
		req_fail(r, e);
		return;
	}
	answer(r, "id", db_str(res, 0, 0));
	PQclear(res);
}

static const struct route routes[] = {
    {"GET", "/bench/const", h_const},
    {"GET", "/bench/select1", h_select1},
    {"POST", "/bench/insert", h_insert},
};

int
main(int argc, char **argv)
{
	return req_main(argc, argv, PROG, routes,
			sizeof(routes) / sizeof(routes[0]));
}
