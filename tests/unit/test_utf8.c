/*
 * jv_utf8_valid() against PostgreSQL itself.  A table of byte sequences
 * (each class of invalid UTF-8 and the code points on either side of each
 * boundary) states the verdict it expects; the validator, convert_from()
 * on the bytes and the bytes sent as a text parameter (what a request's
 * JSON becomes) must all give that verdict.  Then sweeps over every one-
 * and two-byte input and over the second byte of every three- and
 * four-byte lead compare the validator with convert_from() row by row.
 *
 * Needs TEST_DATABASE_URL (a server with a UTF8 database); exits 77
 * without it, like the other database-backed tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "jsonv.h"

#define OID_BYTEA 17
#define OID_TEXT  25
/* SQLSTATE character_not_in_repertoire: invalid byte sequence */
#define BAD_BYTES "22021"

static PGconn *pg;

/* Runs sql, failing the test unless it succeeds. */
static void
pg_ok(const char *sql)
{
	PGresult *r = PQexec(pg, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
}

/*
 * PostgreSQL's verdict on the bytes: sql takes them as $1 of type oid in
 * binary form.  true: accepted; false: refused as an invalid byte
 * sequence; any other error fails the test.
 */
static bool
pg_accepts(const char *sql, unsigned oid, const char *bytes, int len)
{
	const Oid types[1] = {oid};
	const char *vals[1] = {bytes};
	const int lens[1] = {len}, fmts[1] = {1};
	PGresult *r = PQexecParams(pg, sql, 1, types, vals, lens, fmts, 0);
	const char *state;
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;

	if (ok) {
		/* the text arrived whole: its length in bytes is unchanged */
		assert_int_equal(strtol(PQgetvalue(r, 0, 0), NULL, 10), len);
	} else {
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state == NULL || strcmp(state, BAD_BYTES) != 0)
			fail_msg("%s: %s", sql, PQerrorMessage(pg));
	}
	PQclear(r);
	return ok;
}

static int
setup(void **state)
{
	const char *url = getenv("TEST_DATABASE_URL");
	PGresult *r;

	(void)state;
	if (url == NULL || *url == '\0') {
		fprintf(stderr, "TEST_DATABASE_URL is not set: skipping\n");
		exit(77);
	}
	pg = PQconnectdb(url);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect: %s", PQerrorMessage(pg));
		return -1;
	}
	if (PQsetClientEncoding(pg, "UTF8") != 0)
		return -1;
	/* the comparison means something only in a UTF8 database */
	r = PQexec(pg, "SELECT current_setting('server_encoding')");
	if (PQresultStatus(r) != PGRES_TUPLES_OK ||
	    strcmp(PQgetvalue(r, 0, 0), "UTF8") != 0) {
		fprintf(stderr, "the test database is not UTF8\n");
		PQclear(r);
		return -1;
	}
	PQclear(r);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	PQfinish(pg);
	return 0;
}

#define ROW(bytes, ok, what)                                                   \
	{                                                                      \
		bytes, sizeof(bytes) - 1, ok, what                             \
	}

/* Each class of invalid UTF-8, and the valid neighbours of each edge. */
static const struct {
	const char *bytes;
	size_t len;
	bool ok;
	const char *what;
} rows[] = {
    ROW("", true, "empty"),
    ROW("abc", true, "ASCII"),
    ROW("\x01\x7f", true, "U+0001, U+007F"),
    ROW("a\0b", false, "NUL"),
    ROW("\x80", false, "bare continuation 80"),
    ROW("\xbf", false, "bare continuation BF"),
    ROW("a\xc3\xa9\xa9", false, "continuation after a whole sequence"),
    ROW("\xc0\xaf", false, "overlong '/' (C0 AF)"),
    ROW("\xc0\x80", false, "overlong NUL (C0 80)"),
    ROW("\xc1\xbf", false, "largest 2-byte overlong"),
    ROW("\xc2\x80", true, "U+0080"),
    ROW("\xdf\xbf", true, "U+07FF"),
    ROW("\xe0\x80\x80", false, "smallest 3-byte overlong"),
    ROW("\xe0\x9f\xbf", false, "largest 3-byte overlong"),
    ROW("\xe0\xa0\x80", true, "U+0800"),
    ROW("\xed\x9f\xbf", true, "U+D7FF, last before the surrogates"),
    ROW("\xed\xa0\x80", false, "U+D800 encoded (ED A0 80)"),
    ROW("\xed\xb0\x80", false, "U+DC00 encoded"),
    ROW("\xed\xbf\xbf", false, "U+DFFF encoded"),
    ROW("\xed\xa0\xbd\xed\xb8\x80", false, "a surrogate pair as CESU-8"),
    ROW("\xee\x80\x80", true, "U+E000, first after the surrogates"),
    ROW("\xef\xbf\xbe", true, "U+FFFE (a noncharacter, still text)"),
    ROW("\xef\xbf\xbf", true, "U+FFFF"),
    ROW("\xf0\x80\x80\x80", false, "smallest 4-byte overlong"),
    ROW("\xf0\x8f\xbf\xbf", false, "largest 4-byte overlong"),
    ROW("\xf0\x90\x80\x80", true, "U+10000"),
    ROW("\xf4\x8f\xbf\xbf", true, "U+10FFFF"),
    ROW("\xf4\x90\x80\x80", false, "U+110000 (F4 90 80 80)"),
    ROW("\xf5\x80\x80\x80", false, "lead F5"),
    ROW("\xf7\xbf\xbf\xbf", false, "lead F7 (U+1FFFFF)"),
    ROW("\xf8\x88\x80\x80\x80", false, "5-byte form"),
    ROW("\xfc\x84\x80\x80\x80\x80", false, "6-byte form"),
    ROW("\xfe", false, "FE"),
    ROW("\xff", false, "FF"),
    ROW("\xc3", false, "2-byte sequence cut by the end"),
    ROW("\xe2\x82", false, "3-byte sequence cut by the end"),
    ROW("\xf0\x9f\x98", false, "4-byte sequence cut by the end"),
    ROW("\xe2\x82"
	"A",
	false, "3-byte sequence cut by ASCII"),
    ROW("\xf0\x9f\x98\xc3\xa9", false, "4-byte sequence cut by a lead"),
    ROW("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", true, "mixed text"),
};

static void
test_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int len = (int)rows[i].len;
		bool v = jv_utf8_valid(rows[i].bytes, rows[i].len);
		bool conv =
		    pg_accepts("SELECT octet_length(convert_from($1, 'UTF8'))",
			       OID_BYTEA, rows[i].bytes, len);
		bool text = pg_accepts("SELECT octet_length($1)", OID_TEXT,
				       rows[i].bytes, len);

		if (v != rows[i].ok || conv != rows[i].ok ||
		    text != rows[i].ok) {
			print_error("%s: want %d, validator %d, convert_from "
				    "%d, text %d\n",
				    rows[i].what, rows[i].ok, v, conv, text);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/*
 * Each sweep is SQL yielding one bytea column b, with PostgreSQL's verdict
 * on every row beside it (SWEEP): from convert_from() inside a function
 * that catches only the invalid-byte-sequence error.
 */
#define SWEEP(rows) "SELECT b, pg_temp.utf8_ok(b) FROM (" rows ") s(b)"
static const struct {
	const char *what, *sql;
	long rows;
} sweeps[] = {
    {"every byte",
     SWEEP("SELECT decode(lpad(to_hex(i), 2, '0'), 'hex') FROM "
	   "generate_series(0, 255) i"),
     256},
    {"every two bytes",
     SWEEP("SELECT decode(lpad(to_hex(i), 4, '0'), 'hex') FROM "
	   "generate_series(0, 65535) i"),
     65536},
    {"3-byte leads: every second byte, third 7F/80/BF/C0",
     SWEEP("SELECT decode(to_hex(l) || lpad(to_hex(s), 2, '0') || t, 'hex') "
	   "FROM generate_series(224, 239) l, generate_series(0, 255) s, "
	   "unnest('{7f,80,bf,c0}'::text[]) t"),
     16 * 256 * 4},
    {"4-byte leads: every second byte, then 80 80/BF BF/80 7F",
     SWEEP("SELECT decode(to_hex(l) || lpad(to_hex(s), 2, '0') || t, 'hex') "
	   "FROM generate_series(240, 255) l, generate_series(0, 255) s, "
	   "unnest('{8080,bfbf,807f}'::text[]) t"),
     16 * 256 * 3},
};

/* Runs one sweep; adds what each side accepted to *yes. */
static int
sweep(const char *sql, long want_rows, long *yes)
{
	PGresult *r;
	int bad = 0;

	/* binary results: the bytea as its bytes, the bool as one byte */
	r = PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(pg));
	assert_int_equal(PQntuples(r), want_rows);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *b = PQgetvalue(r, i, 0);
		size_t n = (size_t)PQgetlength(r, i, 0);
		bool pgv = PQgetvalue(r, i, 1)[0] != 0;
		bool v = jv_utf8_valid(b, n);

		*yes += pgv;
		if (v != pgv && bad++ < 5) {
			print_error("validator %d, PostgreSQL %d on", v, pgv);
			for (size_t k = 0; k < n; k++)
				print_error(" %02x", (unsigned char)b[k]);
			print_error("\n");
		}
	}
	PQclear(r);
	return bad;
}

static void
test_sweeps(void **state)
{
	int bad = 0;

	(void)state;
	pg_ok("CREATE FUNCTION pg_temp.utf8_ok(b bytea) RETURNS bool "
	      "LANGUAGE plpgsql AS $$ BEGIN PERFORM convert_from(b, 'UTF8'); "
	      "RETURN true; EXCEPTION WHEN character_not_in_repertoire THEN "
	      "RETURN false; END $$");
	for (size_t i = 0; i < sizeof(sweeps) / sizeof(sweeps[0]); i++) {
		long yes = 0;
		int n = sweep(sweeps[i].sql, sweeps[i].rows, &yes);

		/* both verdicts occur in every sweep */
		if (n > 0 || yes == 0 || yes == sweeps[i].rows)
			print_error("%s: %d disagreements, %ld of %ld valid\n",
				    sweeps[i].what, n, yes, sweeps[i].rows);
		bad += n > 0 || yes == 0 || yes == sweeps[i].rows;
	}
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_sweeps),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
