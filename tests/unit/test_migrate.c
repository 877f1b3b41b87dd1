/*
 * The schema version this build checks for, against the migrations it
 * ships, and schema_check() against a database at, below and above it.
 *
 * MIGRATE_SCHEMA_VERSION is kept by hand next to the list of migrations;
 * this test is what keeps the two in step: the highest NNN_*.sql in sql/
 * must be that version, and Makefile.am must install that file.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "migrate.h"
#include "testdb.h"

/* The highest NNN of the NNN_*.sql files in dir; its name into name. */
static int
highest(const char *dir, char *name, size_t sz)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int best = -1;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		size_t len = strlen(n);
		int v;

		if (len < 9 || strcmp(n + len - 4, ".sql") != 0 ||
		    n[3] != '_' || n[0] < '0' || n[0] > '9' || n[1] < '0' ||
		    n[1] > '9' || n[2] < '0' || n[2] > '9')
			continue;
		v = (n[0] - '0') * 100 + (n[1] - '0') * 10 + (n[2] - '0');
		if (v > best) {
			best = v;
			snprintf(name, sz, "%s", n);
		}
	}
	closedir(d);
	return best;
}

static void
test_version_matches_files(void **state)
{
	char name[256] = "", path[512], want[300], chunk[4096];
	struct buf b;
	FILE *fp;
	size_t n;

	(void)state;
	assert_int_equal(highest(SJ_SRC_SQL, name, sizeof(name)),
			 MIGRATE_SCHEMA_VERSION);
	snprintf(path, sizeof(path), "%s/../Makefile.am", SJ_SRC_SQL);
	assert_non_null(fp = fopen(path, "r"));
	buf_init(&b, 1 << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(buf_add(&b, chunk, n), SJ_OK);
	fclose(fp);
	snprintf(want, sizeof(want), "sql/%s", name);
	assert_non_null(strstr(b.data, want));
	buf_free(&b);
}

static void
expect_state(struct db *db, enum schema_state want, int want_version)
{
	enum schema_state st = SCHEMA_OK;
	int v = -1;

	assert_int_equal(schema_check(db, &st, &v), SJ_OK);
	assert_int_equal(st, want);
	assert_int_equal(v, want_version);
}

/* Counts the rows migrate_status() reports. */
static void
count_row(const struct migrate_row *row, void *ctx)
{
	int *seen = ctx;

	assert_true(row->version >= 1);
	(*seen)++;
}

static void
test_schema_check_states(void **state)
{
	struct db *db = NULL, *side = NULL;
	int n[4], seen = 0;
	struct cfg c;

	(void)state;
	assert_int_equal(testdb_open(&c, &db, &side), 0);
	expect_state(db, SCHEMA_OK, MIGRATE_SCHEMA_VERSION);
	assert_int_equal(schema_check_start(c.database_url, "test"), 0);
	testdb_sql(side, "INSERT INTO schema_migrations (version, name, "
			 "checksum) VALUES (999, '999_x.sql', 'x')");
	expect_state(db, SCHEMA_NEWER, 999);
	assert_int_equal(schema_check_start(c.database_url, "test"), 78);
	testdb_sql(side, "DELETE FROM schema_migrations WHERE version >= 7");
	expect_state(db, SCHEMA_OLDER, 6);
	assert_int_equal(schema_check_start(c.database_url, "test"), 78);
	seen = 0;
	assert_int_equal(migrate_status(db, SJ_SRC_SQL, count_row, &seen, n),
			 SJ_OK);
	assert_int_equal(n[MIGRATE_APPLIED], 6);
	assert_int_equal(n[MIGRATE_PENDING], 1);
	assert_int_equal(seen, 7);
	testdb_sql(side, "DROP TABLE schema_migrations");
	expect_state(db, SCHEMA_NONE, 0);
	assert_int_equal(schema_check_start(c.database_url, "test"), 78);
	/* status reads only: every file pending, and still no table */
	assert_int_equal(migrate_status(db, SJ_SRC_SQL, count_row, &seen, n),
			 SJ_OK);
	assert_int_equal(n[MIGRATE_PENDING], MIGRATE_SCHEMA_VERSION);
	assert_int_equal(n[MIGRATE_APPLIED], 0);
	expect_state(db, SCHEMA_NONE, 0);
	testdb_close(&c, db, side);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_matches_files),
	    cmocka_unit_test(test_schema_check_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
