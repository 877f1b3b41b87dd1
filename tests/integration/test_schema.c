/*
 * The schema version check and the migration tool, against databases of
 * their own on the stack's PostgreSQL: a database migrated only to 006
 * (what a host has before an upgrade), the same database once migrated,
 * and one with a migration from the future (row 999).
 *
 * Every program refuses another schema with exit 78 and a message that
 * says what to run: the worker, a FastCGI program (before it creates its
 * socket) and storyjobsctl; check-config --online says it in an error
 * line.  migrate --status and --dry-run say what is
 * pending and change nothing.  A migration whose table is locked by
 * another session times out, waits and tries again; it succeeds once the
 * lock is gone and gives up, having changed nothing, while it stays.
 *
 * Environment: DATABASE_URL, STORYJOBSCTL, WORKER_BIN (the FastCGI
 * programs are found next to STORYJOBSCTL's build tree).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <libpq-fe.h>

#include "itest.h"
#include "migrate.h"

#define OUT_MAX 16384
#define STR_(x) STR(x)
#define STR(x)	#x
/* What the programs say of the version this build needs. */
#define NEEDS "this build needs " STR_(MIGRATE_SCHEMA_VERSION)
/* Migrations after 006, all pending on the old database. */
#define NEWER (MIGRATE_SCHEMA_VERSION - 6)

/* The migrations of a host before 007 (the database "before an upgrade"). */
static const char *const old_files[] = {
    "001_jobs.sql",	  "002_auth.sql",	 "003_ops.sql",
    "004_storybooks.sql", "005_media_cache.sql", "006_noop_type.sql"};
#define NOLD (sizeof(old_files) / sizeof(old_files[0]))

static char old_url[1024];  /* the database migrated to 006 */
static char old_name[64];   /* its name */
static char dir6[256];	    /* 001..006 */
static char sock_path[300]; /* where a FastCGI program would listen */

/* url with dbname replaced, as a keyword string. */
static void
url_with_db(const char *url, const char *db, char *out, size_t sz)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	size_t len = 0;

	assert_non_null(opts);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
			len += (size_t)snprintf(out + len, sz - len, "%s='%s' ",
						o->keyword, o->val);
	snprintf(out + len, sz - len, "dbname='%s'", db);
	PQconninfoFree(opts);
}

static void
sql_on(PGconn *c, const char *q)
{
	PGresult *r = PQexec(c, q);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s", q, PQerrorMessage(c));
	assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
	PQclear(r);
}

static long long
old_ll(const char *q)
{
	PGconn *c = PQconnectdb(old_url);
	PGresult *r;
	long long v;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, q);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

static void
old_sql(const char *q)
{
	PGconn *c = PQconnectdb(old_url);

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	sql_on(c, q);
	PQfinish(c);
}

/* Starts argv with DATABASE_URL=old_url; stdout and stderr into *fd. */
static pid_t
spawn(const char *const *argv, int *fd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		setenv("DATABASE_URL", old_url, 1);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* Reads fd to its end into out, then the exit status of pid. */
static int
finish(pid_t pid, int fd, char *out)
{
	size_t len = 0;
	ssize_t n;
	int st = 0;

	while ((n = read(fd, out + len, OUT_MAX - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int
run(const char *const *argv, char *out)
{
	int fd = -1;
	pid_t pid = spawn(argv, &fd);

	return finish(pid, fd, out);
}

static void
expect_has(const char *out, const char *what)
{
	if (strstr(out, what) == NULL)
		fprintf(stderr, "expected \"%s\" in:\n%s\n", what, out);
	assert_non_null(strstr(out, what));
}

/* The build's path of a FastCGI program: STORYJOBSCTL's ../cgi/NAME. */
static void
fcgi_bin(const char *name, char *out, size_t sz)
{
	const char *ctl = getenv("STORYJOBSCTL");
	const char *slash;

	assert_non_null(ctl);
	slash = strrchr(ctl, '/');
	assert_non_null(slash);
	snprintf(out, sz, "%.*s/../cgi/%s", (int)(slash - ctl), ctl, name);
}

/* storyjobsctl ARGS... (up to 7) against the old database. */
static int
ctl(char *out, const char *a1, const char *a2, const char *a3, const char *a4,
    const char *a5, const char *a6, const char *a7)
{
	const char *argv[] = {
	    getenv("STORYJOBSCTL"), a1, a2, a3, a4, a5, a6, a7, NULL};

	return run(argv, out);
}

/* The worker, storyjobs-health and storyjobsctl all refuse, saying what. */
static void
expect_all_refuse(const char *advice)
{
	static char out[OUT_MAX];
	char health[512];
	const char *worker[] = {getenv("WORKER_BIN"), NULL};
	const char *fcgi[] = {health,	     "--socket", sock_path,
			      "--processes", "1",	 NULL};

	assert_int_equal(ctl(out, "jobs", "list", NULL, NULL, NULL, NULL, NULL),
			 78);
	expect_has(out, advice);
	assert_int_equal(run(worker, out), 78);
	expect_has(out, "refusing to start");
	expect_has(out, advice);
	fcgi_bin("storyjobs-health", health, sizeof(health));
	assert_int_equal(run(fcgi, out), 78);
	expect_has(out, advice);
	/* refused before the socket existed */
	assert_int_equal(access(sock_path, F_OK), -1);
}

static int
setup(void **state)
{
	const char *src = SJ_SRC_SQL;
	char q[128], from[512], to[512];
	static char out[OUT_MAX];

	(void)state;
	itest_init();
	snprintf(old_name, sizeof(old_name), "sj_schema_%ld", (long)getpid());
	snprintf(q, sizeof(q), "CREATE DATABASE %s", old_name);
	sql_on(itest_pg, q);
	url_with_db(getenv("DATABASE_URL"), old_name, old_url, sizeof(old_url));
	snprintf(dir6, sizeof(dir6), "/tmp/sj-schema-sql.%ld", (long)getpid());
	snprintf(sock_path, sizeof(sock_path), "%s/health.sock", dir6);
	assert_int_equal(mkdir(dir6, 0700), 0);
	for (size_t i = 0; i < NOLD; i++) {
		snprintf(from, sizeof(from), "%s/%s", src, old_files[i]);
		snprintf(to, sizeof(to), "%s/%s", dir6, old_files[i]);
		assert_int_equal(symlink(from, to), 0);
	}
	assert_int_equal(
	    ctl(out, "migrate", "--sql-dir", dir6, NULL, NULL, NULL, NULL), 0);
	return 0;
}

static int
teardown(void **state)
{
	char q[128], path[512];

	(void)state;
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 old_name);
	sql_on(itest_pg, q);
	for (size_t i = 0; i < NOLD; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir6, old_files[i]);
		unlink(path);
	}
	rmdir(dir6);
	itest_done();
	return 0;
}

/* An old schema: every program refuses and says to migrate. */
static void
test_older_refused(void **state)
{
	static char out[OUT_MAX];

	(void)state;
	assert_int_equal(old_ll("SELECT max(version) FROM schema_migrations"),
			 6);
	expect_all_refuse("database schema version 6, " NEEDS);
	expect_all_refuse("run `storyjobsctl migrate`");
	assert_int_equal(
	    ctl(out, "check-config", "--online", NULL, NULL, NULL, NULL, NULL),
	    78);
	expect_has(out, "error: database schema version 6, " NEEDS
			": the database is older than this build; run "
			"`storyjobsctl migrate`");
}

/* --status lists 006 applied and 007 pending; --dry-run changes nothing. */
static void
test_status_and_dry_run(void **state)
{
	static char out[OUT_MAX];
	char line[80];

	(void)state;
	assert_int_equal(ctl(out, "migrate", "--status", "--sql-dir",
			     SJ_SRC_SQL, NULL, NULL, NULL),
			 1);
	expect_has(out, "006 006_noop_type.sql");
	expect_has(out, "applied 20");
	expect_has(out, "007 007_bytewise_keys.sql            pending");
	snprintf(line, sizeof(line), "%d pending: run storyjobsctl migrate",
		 NEWER);
	expect_has(out, line);
	assert_int_equal(ctl(out, "migrate", "--dry-run", "--sql-dir",
			     SJ_SRC_SQL, NULL, NULL, NULL),
			 0);
	expect_has(out, "007 007_bytewise_keys.sql            would apply");
	snprintf(line, sizeof(line),
		 "%d migrations would be applied; nothing was changed", NEWER);
	expect_has(out, line);
	assert_null(strstr(out, "006_noop_type.sql"));
	assert_int_equal(old_ll("SELECT count(*) FROM schema_migrations"), 6);
	assert_int_equal(old_ll("SELECT count(*) FROM pg_type WHERE typname = "
				"'job_id'"),
			 0);
	/* both at once is a usage error */
	assert_int_equal(ctl(out, "migrate", "--status", "--dry-run", NULL,
			     NULL, NULL, NULL),
			 64);
}

/*
 * Another session takes a lock with lock_sql inside a transaction; a
 * migrate from dir that may try twice gives up on it (exit 1) and says
 * so.  Returns the holder, still in its transaction.
 */
static PGconn *
blocked_gives_up(const char *dir, const char *lock_sql, char *out)
{
	PGconn *holder = PQconnectdb(old_url);

	assert_int_equal(PQstatus(holder), CONNECTION_OK);
	sql_on(holder, lock_sql);
	assert_int_equal(ctl(out, "migrate", "--sql-dir", dir, "--lock-timeout",
			     "200", "--attempts", "2"),
			 1);
	expect_has(out, "waited 200 ms for a lock (try 1 of 2)");
	expect_has(out, "gave up after 2 tries");
	return holder;
}

/*
 * A migrate from dir that may try six times, while holder commits after
 * 900 ms: it succeeds on a later try.  holder is finished.
 */
static void
freed_while_waiting(const char *dir, PGconn *holder, char *out)
{
	const char *argv[] = {getenv("STORYJOBSCTL"),
			      "migrate",
			      "--sql-dir",
			      dir,
			      "--lock-timeout",
			      "200",
			      "--attempts",
			      "6",
			      NULL};
	int fd = -1;
	pid_t pid = spawn(argv, &fd);

	usleep(900 * 1000);
	sql_on(holder, "COMMIT");
	assert_int_equal(finish(pid, fd, out), 0);
	expect_has(out, "(try 1 of 6); trying again in 500 ms");
	PQfinish(holder);
}

/*
 * 007 against a table another session holds: gives up after its tries
 * with nothing applied; then succeeds when the lock goes during a retry.
 */
static void
test_lock_timeout_retry(void **state)
{
	static char out[OUT_MAX];
	char line[80];
	PGconn *holder;

	(void)state;
	holder = blocked_gives_up(
	    SJ_SRC_SQL, "BEGIN; LOCK TABLE jobs IN ACCESS SHARE MODE", out);
	expect_has(out, "007_bytewise_keys.sql: waited 200 ms for a lock "
			"(try 1 of 2)");
	assert_int_equal(old_ll("SELECT count(*) FROM schema_migrations"), 6);
	assert_int_equal(old_ll("SELECT count(*) FROM pg_type WHERE typname = "
				"'job_id'"),
			 0);
	/* the same with the lock released while it waits to try again */
	freed_while_waiting(SJ_SRC_SQL, holder, out);
	expect_has(out, "applied migration 007_bytewise_keys.sql");
	snprintf(line, sizeof(line), "migrations applied: %d", NEWER);
	expect_has(out, line);
	assert_int_equal(old_ll("SELECT max(version) FROM schema_migrations"),
			 MIGRATE_SCHEMA_VERSION);
	assert_int_equal(ctl(out, "migrate", "--status", "--sql-dir",
			     SJ_SRC_SQL, NULL, NULL, NULL),
			 0);
	expect_has(out, "up to date");
	/* the current schema: programs run (storyjobsctl as the witness) */
	assert_int_equal(ctl(out, "jobs", "list", NULL, NULL, NULL, NULL, NULL),
			 0);
	assert_int_equal(
	    ctl(out, "check-config", "--online", NULL, NULL, NULL, NULL, NULL),
	    0);
	expect_has(out,
		   "ok: database schema version " STR_(MIGRATE_SCHEMA_VERSION));
}

/*
 * Another migrate run holds the migration lock: this one's wait for it is
 * bounded by --lock-timeout, retried, and given up with nothing applied;
 * it succeeds when the lock goes part-way through its tries.
 */
static void
test_migration_lock_retry(void **state)
{
	static char out[OUT_MAX];
	PGconn *holder;

	(void)state;
	holder = blocked_gives_up(
	    dir6, "BEGIN; SELECT pg_advisory_xact_lock(7271720415)", out);
	freed_while_waiting(dir6, holder, out);
	expect_has(out, "migrations applied: 0");
	assert_int_equal(old_ll("SELECT count(*) FROM schema_migrations"), 6);
}

/* A migration from the future: refused, "upgrade it"; status says so. */
static void
test_newer_refused(void **state)
{
	static char out[OUT_MAX];

	(void)state;
	old_sql("INSERT INTO schema_migrations (version, name, checksum) "
		"VALUES (999, '999_future.sql', 'x')");
	expect_all_refuse("database schema version 999, " NEEDS);
	expect_all_refuse("this binary is older than the database; upgrade "
			  "it");
	assert_int_equal(ctl(out, "migrate", "--status", "--sql-dir",
			     SJ_SRC_SQL, NULL, NULL, NULL),
			 2);
	expect_has(out, "999 999_future.sql");
	expect_has(out, "the database is newer than these migrations");
	assert_int_equal(
	    ctl(out, "check-config", "--online", NULL, NULL, NULL, NULL, NULL),
	    78);
	expect_has(out, "error: database schema version 999");
	old_sql("DELETE FROM schema_migrations WHERE version = 999");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_older_refused),
	    cmocka_unit_test(test_status_and_dry_run),
	    cmocka_unit_test(test_migration_lock_retry),
	    cmocka_unit_test(test_lock_timeout_retry),
	    cmocka_unit_test(test_newer_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
