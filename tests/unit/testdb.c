#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "migrate.h"
#include "testdb.h"

static char admin_url[1024];
static char test_conninfo[1024];
static char test_name[64];

/* Rebuilds url as a keyword string with dbname replaced. */
static void
conninfo_with_db(const char *url, const char *dbname, char *out, size_t sz)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	size_t len = 0;

	if (opts == NULL) {
		fprintf(stderr, "bad TEST_DATABASE_URL\n");
		exit(1);
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
			len += (size_t)snprintf(out + len, sz - len, "%s='%s' ",
						o->keyword, o->val);
	snprintf(out + len, sz - len, "dbname='%s'", dbname);
	PQconninfoFree(opts);
}

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void
admin_exec(const char *sql)
{
	PGconn *c = PQconnectdb(admin_url);
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "cannot reach TEST_DATABASE_URL: %s",
			PQerrorMessage(c));
		exit(1);
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
	PQfinish(c);
}

const char *
testdb_create(void)
{
	const char *url = getenv("TEST_DATABASE_URL");
	const char *sql = getenv("SJ_SQL_SRC");
	char stmt[128];
	struct db *db;

	if (url == NULL || *url == '\0') {
		fprintf(stderr, "TEST_DATABASE_URL is not set: skipping\n");
		exit(77);
	}
	snprintf(admin_url, sizeof(admin_url), "%s", url);
	snprintf(test_name, sizeof(test_name), "sjtest_%ld", (long)getpid());
	snprintf(stmt, sizeof(stmt), "DROP DATABASE IF EXISTS %s", test_name);
	admin_exec(stmt);
	snprintf(stmt, sizeof(stmt), "CREATE DATABASE %s", test_name);
	admin_exec(stmt);
	conninfo_with_db(url, test_name, test_conninfo, sizeof(test_conninfo));
	if (db_open(test_conninfo, "test", 0, &db) != SJ_OK ||
	    migrate_run(db, sql ? sql : "sql", NULL) != SJ_OK) {
		fprintf(stderr, "cannot migrate the test database\n");
		exit(1);
	}
	db_close(db);
	return test_conninfo;
}

void
testdb_drop(void)
{
	char stmt[128];

	snprintf(stmt, sizeof(stmt), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 test_name);
	admin_exec(stmt);
}

struct kv {
	const char *k, *v;
};

static const char *
lookup(const char *name, void *ctx)
{
	const struct kv *kv = ctx;

	for (; kv->k != NULL; kv++)
		if (strcmp(kv->k, name) == 0)
			return kv->v;
	return NULL;
}

void
testdb_cfg(struct cfg *c)
{
	struct kv kv[] = {{"DATABASE_URL", test_conninfo},
			  {"MEDIA_DIR", "/tmp"},
			  {"JOB_LEASE_SECONDS", "30"},
			  {NULL, NULL}};
	struct cfg_errs errs;

	assert_int_equal(cfg_load(c, lookup, kv, &errs), SJ_OK);
}

void
testdb_sql(struct db *db, const char *sql)
{
	assert_int_equal(db_exec_simple(db, sql), SJ_OK);
}

long long
testdb_ll(struct db *db, const char *sql)
{
	PGresult *r;
	long long n;

	assert_int_equal(db_connect(db), SJ_OK);
	r = PQexec(db_pg(db), sql);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	n = db_ll(r, 0, 0, -1);
	PQclear(r);
	return n;
}

int
testdb_open(struct cfg *c, struct db **db, struct db **side)
{
	const char *conninfo = testdb_create();

	testdb_cfg(c);
	if (db_open(conninfo, "test", 5000, db) != SJ_OK ||
	    db_open(conninfo, "test-side", 5000, side) != SJ_OK)
		return -1;
	return 0;
}

void
testdb_close(struct cfg *c, struct db *db, struct db *side)
{
	db_close(db);
	db_close(side);
	cfg_free(c);
	testdb_drop();
}

void
testdb_terminate(struct db *side, struct db *d)
{
	struct timespec pause = {0, 10 * 1000 * 1000};
	char sql[64];
	int pid = PQbackendPID(db_pg(d));

	assert_true(pid > 0);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", pid);
	testdb_sql(side, sql);
	for (int i = 0; i < 500; i++) {
		if (kill(pid, 0) != 0 && errno == ESRCH)
			return;
		nanosleep(&pause, NULL);
	}
	fail_msg("backend %d did not exit", pid);
}
