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
#include <sys/stat.h>
#include <unistd.h>

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
	/* at the version, but with a migration below it missing: a gap */
	testdb_sql(side, "CREATE TEMP TABLE keep AS SELECT * FROM "
			 "schema_migrations WHERE version = 3; DELETE FROM "
			 "schema_migrations WHERE version = 3");
	expect_state(db, SCHEMA_GAP, MIGRATE_SCHEMA_VERSION);
	assert_int_equal(schema_check_start(c.database_url, "test"), 78);
	testdb_sql(side, "INSERT INTO schema_migrations SELECT * FROM keep");
	expect_state(db, SCHEMA_OK, MIGRATE_SCHEMA_VERSION);
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
	assert_int_equal(n[MIGRATE_PENDING], MIGRATE_SCHEMA_VERSION - 6);
	assert_int_equal(seen, MIGRATE_SCHEMA_VERSION);
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

/* stderr (where the log goes) into a file, until log_end. */
static int
log_begin(char *path)
{
	int fd = mkstemp(path), saved = dup(2);

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	return saved;
}

/* Restores stderr; the log captured into out (a buffer the caller frees). */
static void
log_end(int saved, char *path, struct buf *out)
{
	char chunk[4096];
	FILE *fp;
	size_t n;

	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	assert_non_null(fp = fopen(path, "r"));
	buf_init(out, 1 << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		assert_int_equal(buf_add(out, chunk, n), SJ_OK);
	fclose(fp);
	unlink(path);
	if (out->data == NULL)
		assert_int_equal(buf_addstr(out, ""), SJ_OK);
}

static void
expect_log(const struct buf *log, const char *what)
{
	if (strstr(log->data, what) == NULL)
		fail_msg("expected \"%s\" in:\n%s", what, log->data);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static void
remove_file(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

/*
 * A run's refusals: two files with one number, an empty file, and the
 * migration lock held by another session past every try (the wait for it
 * is bounded by lock_timeout, retried, then given up); nothing applied.
 */
static void
test_run_refusals(void **state)
{
	struct migrate_opts o = {100, 2, 10};
	char dir[] = "/tmp/sjmigXXXXXX", logpath[] = "/tmp/sjmiglogXXXXXX";
	struct db *db = NULL, *side = NULL;
	struct buf log;
	int saved, applied = -1;
	struct cfg c;

	(void)state;
	assert_int_equal(testdb_open(&c, &db, &side), 0);
	assert_non_null(mkdtemp(dir));
	write_file(dir, "900_a.sql", "SELECT 1");
	write_file(dir, "900_b.sql", "SELECT 2");
	saved = log_begin(logpath);
	assert_int_not_equal(migrate_run_opts(db, dir, &o, &applied), SJ_OK);
	log_end(saved, logpath, &log);
	expect_log(&log, "two migrations numbered 900");
	expect_log(&log, "900_a.sql and 900_b.sql");
	buf_free(&log);
	assert_int_equal(applied, 0);
	expect_state(db, SCHEMA_OK, MIGRATE_SCHEMA_VERSION);
	remove_file(dir, "900_b.sql");
	remove_file(dir, "900_a.sql");
	write_file(dir, "900_empty.sql", "");
	memcpy(logpath, "/tmp/sjmiglogXXXXXX", sizeof(logpath));
	saved = log_begin(logpath);
	assert_int_not_equal(migrate_run_opts(db, dir, &o, &applied), SJ_OK);
	log_end(saved, logpath, &log);
	expect_log(&log, "migration 900_empty.sql: is empty");
	buf_free(&log);
	expect_state(db, SCHEMA_OK, MIGRATE_SCHEMA_VERSION);
	remove_file(dir, "900_empty.sql");
	/* another run holds the migration lock throughout */
	testdb_sql(side, "BEGIN; SELECT pg_advisory_xact_lock(7271720415)");
	memcpy(logpath, "/tmp/sjmiglogXXXXXX", sizeof(logpath));
	saved = log_begin(logpath);
	assert_int_equal(migrate_run_opts(db, SJ_SRC_SQL, &o, &applied),
			 SJ_ECONFLICT);
	log_end(saved, logpath, &log);
	expect_log(&log, "waited 100 ms for a lock (try 1 of 2)");
	expect_log(&log, "gave up after 2 tries");
	buf_free(&log);
	testdb_sql(side, "ROLLBACK");
	assert_int_equal(migrate_run_opts(db, SJ_SRC_SQL, &o, &applied), SJ_OK);
	assert_int_equal(applied, 0);
	rmdir(dir);
	testdb_close(&c, db, side);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_matches_files),
	    cmocka_unit_test(test_schema_check_states),
	    cmocka_unit_test(test_run_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
