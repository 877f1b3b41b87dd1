/*
 * lib/db.c and db_exec.c in transaction pooling
 * (DATABASE_POOLING=transaction) against a real PostgreSQL: nothing is
 * left in the session (no startup options, no named statements, settings
 * gone with the transaction), yet every statement runs under the
 * session's statement_timeout and db_keyed()'s planner switches; notices
 * still go out in a transaction of their own; explicit transactions keep
 * working and report their own errors; db_direct() gives a session its
 * state back; and a reply is given up statement_timeout + 5 s after the
 * statement was sent.  tests/integration/test_pooling runs the programs
 * through a real PgBouncer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "num.h"
#include "testdb.h"

static struct cfg cfg;
static struct db *side;
static const char *url;

static int
group_setup(void **state)
{
	struct db *unused = NULL;

	(void)state;
	if (testdb_open(&cfg, &unused, &side) != 0)
		return -1;
	db_close(unused);
	url = cfg.database_url;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	db_pooling_set("session");
	testdb_close(&cfg, NULL, side);
	return 0;
}

/* A session opened under DATABASE_POOLING=transaction. */
static struct db *
pooled(long timeout_ms)
{
	struct db *d;

	db_pooling_set("transaction");
	assert_int_equal(db_open(url, "test-pooled", timeout_ms, &d), SJ_OK);
	db_pooling_set("session");
	assert_int_equal(db_connect(d), SJ_OK);
	return d;
}

/* The one value sql gives through db_exec on d. */
static void
exec_is(struct db *d, const char *sql, const char *want)
{
	const struct db_stmt st = {"test_db_value", sql, 0};
	PGresult *r;

	assert_int_equal(db_exec(d, &st, NULL, &r), SJ_OK);
	assert_string_equal(db_str(r, 0, 0), want);
	PQclear(r);
}

/* The one value sql gives on d's session outside db_exec (no settings). */
static void
raw_is(struct db *d, const char *sql, const char *want)
{
	PGresult *r = PQexec(db_pg(d), sql);

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(db_str(r, 0, 0), want);
	PQclear(r);
}

static void
test_timeout_per_transaction(void **state)
{
	static const struct db_stmt sleep = {"test_db_sleep",
					     "SELECT pg_sleep($1::float8)", 1};
	const char *p[1] = {"2"};
	struct db *d = pooled(300);
	int64_t t0;

	(void)state;
	/* no startup options: the session itself has the server default */
	raw_is(d, "SHOW statement_timeout", "0");
	exec_is(d, "SELECT current_setting('statement_timeout')", "300ms");
	t0 = num_mono_ms();
	assert_int_equal(db_exec(d, &sleep, p, NULL), SJ_EDB);
	assert_string_equal(db_sqlstate(d), "57014");
	assert_true(num_mono_ms() - t0 < 1500);
	/* the same through db_exec_planned, and gone again afterwards */
	assert_int_equal(db_exec_planned(d, &sleep, p, NULL), SJ_EDB);
	assert_string_equal(db_sqlstate(d), "57014");
	raw_is(d, "SHOW statement_timeout", "0");
	p[0] = "0.05";
	assert_int_equal(db_exec(d, &sleep, p, NULL), SJ_OK);
	db_close(d);
}

static void
test_no_named_statements(void **state)
{
	struct db *d = pooled(5000), *s;

	(void)state;
	for (int i = 0; i < 3; i++)
		exec_is(d, "SELECT count(*) FROM pg_prepared_statements", "0");
	/* session pooling prepares by name, as it always did */
	assert_int_equal(db_open(url, "test-session", 5000, &s), SJ_OK);
	exec_is(s, "SELECT count(*) FROM pg_prepared_statements", "1");
	db_close(s);
	db_close(d);
}

static void
test_keyed_per_transaction(void **state)
{
	struct db *d = pooled(4321);

	(void)state;
	db_keyed(d);
	assert_int_equal(db_connect(d), SJ_OK);
	exec_is(d,
		"SELECT current_setting('enable_seqscan') || "
		"current_setting('enable_hashjoin') || "
		"current_setting('enable_mergejoin') || "
		"current_setting('statement_timeout')",
		"offoffoff4321ms");
	raw_is(d, "SHOW enable_seqscan", "on");
	db_close(d);
}

static void
test_notify_own_transaction(void **state)
{
	static const struct db_stmt one = {"test_db_one", "SELECT 41 + 1", 0};
	/* the statement after runs under the session's timeout too */
	static const struct db_stmt note = {
	    "test_db_note",
	    "SELECT pg_notify('test_db_channel', $1 || "
	    "current_setting('statement_timeout'))",
	    1};
	const char *p[1] = {"hello"};
	struct db *d = pooled(5000);
	PGnotify *n = NULL;
	PGresult *r;

	(void)state;
	testdb_sql(side, "LISTEN test_db_channel");
	assert_int_equal(db_exec_then(d, &one, NULL, &r, &note, p), SJ_OK);
	assert_string_equal(db_str(r, 0, 0), "42");
	PQclear(r);
	for (int i = 0; i < 50 && n == NULL; i++) {
		assert_int_not_equal(PQconsumeInput(db_pg(side)), 0);
		if ((n = PQnotifies(db_pg(side))) == NULL)
			(void)nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	assert_non_null(n);
	assert_string_equal(n->relname, "test_db_channel");
	assert_string_equal(n->extra, "hello5s");
	PQfreemem(n);
	testdb_sql(side, "UNLISTEN *");
	db_close(d);
}

static void
test_explicit_transaction(void **state)
{
	static const struct db_stmt lock = {
	    "test_db_lock", "SELECT pg_advisory_xact_lock(4242)", 0};
	static const struct db_stmt held = {
	    "test_db_held",
	    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
	    "objid = 4242 AND pid = pg_backend_pid()",
	    0};
	static const struct db_stmt zero = {"test_db_zero", "SELECT 1 / 0", 0};
	struct db *d = pooled(5000);
	PGresult *r;

	(void)state;
	assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
	assert_int_equal(db_exec(d, &lock, NULL, NULL), SJ_OK);
	assert_int_equal(db_exec(d, &held, NULL, &r), SJ_OK);
	assert_string_equal(db_str(r, 0, 0), "1");
	PQclear(r);
	/* a failing statement reports its own error, then ROLLBACK works */
	assert_int_equal(db_exec(d, &zero, NULL, NULL), SJ_EDB);
	assert_string_equal(db_sqlstate(d), "22012");
	assert_int_equal(db_exec(d, &held, NULL, NULL), SJ_EDB);
	assert_string_equal(db_sqlstate(d), "25P02");
	assert_int_equal(db_exec_simple(d, "ROLLBACK"), SJ_OK);
	/* the transaction-scoped lock went with it */
	exec_is(d,
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
		"objid = 4242",
		"0");
	db_close(d);
}

/* The settings come with a block's first statement and last to its end. */
static void
test_transaction_keeps_settings(void **state)
{
	static const struct db_stmt sleep = {"test_db_sleep2",
					     "SELECT pg_sleep(2)", 0};
	struct db *d = pooled(300);
	int64_t t0;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
		raw_is(d, "SHOW statement_timeout", "0");
		exec_is(d, "SELECT 1", "1");
		raw_is(d, "SHOW statement_timeout", "300ms");
		t0 = num_mono_ms();
		assert_int_equal(db_exec(d, &sleep, NULL, NULL), SJ_EDB);
		assert_string_equal(db_sqlstate(d), "57014");
		assert_true(num_mono_ms() - t0 < 1500);
		assert_int_equal(db_exec_simple(d, "ROLLBACK"), SJ_OK);
		raw_is(d, "SHOW statement_timeout", "0");
	}
	/* a committed block, then a block again: set anew */
	assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
	exec_is(d, "SELECT 2", "2");
	assert_int_equal(db_exec_simple(d, "COMMIT"), SJ_OK);
	assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
	exec_is(d, "SELECT current_setting('statement_timeout')", "300ms");
	assert_int_equal(db_exec_simple(d, "COMMIT"), SJ_OK);
	db_close(d);
}

static void
test_direct_keeps_state(void **state)
{
	struct db *d;

	(void)state;
	db_pooling_set("transaction");
	assert_int_equal(db_open(url, "test-direct", 1234, &d), SJ_OK);
	db_pooling_set("session");
	db_direct(d);
	assert_int_equal(db_connect(d), SJ_OK);
	raw_is(d, "SHOW statement_timeout", "1234ms");
	exec_is(d, "SELECT count(*) FROM pg_prepared_statements", "1");
	db_close(d);
}

/*
 * A session lost inside a block takes the block with it: the block's
 * next statements and its COMMIT fail (08006) instead of running in
 * autocommit on a new session, nothing of the block is written, and the
 * db works again once the block is ended; ROLLBACK ends it with success.
 * Both as pooled and as a plain session.
 */
static void
test_lost_block(void **state)
{
	static const struct db_stmt ins = {
	    "test_db_ins", "INSERT INTO test_db_lost VALUES (1)", 0};
	static const struct db_stmt ins2 = {
	    "test_db_ins2", "INSERT INTO test_db_lost VALUES (2)", 0};
	static const struct db_stmt commit = {"test_db_commit", "COMMIT", 0};

	(void)state;
	testdb_sql(side, "CREATE TABLE IF NOT EXISTS test_db_lost (v int)");
	for (int pooled_mode = 0; pooled_mode < 2; pooled_mode++) {
		struct db *d;

		testdb_sql(side, "TRUNCATE test_db_lost");
		if (pooled_mode) {
			d = pooled(5000);
		} else {
			assert_int_equal(db_open(url, "test-lost", 5000, &d),
					 SJ_OK);
			assert_int_equal(db_connect(d), SJ_OK);
		}
		assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
		assert_int_equal(db_exec(d, &ins, NULL, NULL), SJ_OK);
		testdb_terminate(side, d);
		assert_int_equal(db_exec(d, &ins2, NULL, NULL), SJ_EDB);
		assert_string_equal(db_sqlstate(d), "08006");
		assert_int_equal(db_exec(d, &commit, NULL, NULL), SJ_EDB);
		exec_is(side, "SELECT count(*) FROM test_db_lost", "0");
		/* ended: the next statement reconnects and runs */
		exec_is(d, "SELECT 7", "7");
		/* the same, ended by ROLLBACK */
		assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
		assert_int_equal(db_exec(d, &ins, NULL, NULL), SJ_OK);
		testdb_terminate(side, d);
		assert_int_equal(db_exec_simple(d, "COMMIT;"), SJ_EDB);
		assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
		assert_int_equal(db_exec(d, &ins2, NULL, NULL), SJ_OK);
		testdb_terminate(side, d);
		assert_int_equal(db_exec(d, &ins, NULL, NULL), SJ_EDB);
		assert_int_equal(db_exec_simple(d, "ROLLBACK"), SJ_OK);
		exec_is(side, "SELECT count(*) FROM test_db_lost", "0");
		/* outside a block a lost session is simply replaced (the
		 * ROLLBACK above ended the lost block without reconnecting) */
		assert_int_equal(db_connect(d), SJ_OK);
		testdb_terminate(side, d);
		assert_int_equal(db_exec(d, &ins, NULL, NULL), SJ_OK);
		exec_is(side, "SELECT count(*) FROM test_db_lost", "1");
		db_close(d);
	}
	testdb_sql(side, "DROP TABLE test_db_lost");
}

/*
 * A reply the server does not end by statement_timeout (here it was
 * turned off after the session started; in production the statement
 * waits in PgBouncer's queue or the network is gone) is given up
 * statement_timeout + 5 s after it was sent: the statement fails as a
 * lost session (08006) and the session is closed.  In a block, through
 * the pooled pipeline, the block is then lost (test_lost_block's rules);
 * outside one, by a prepared statement on a plain session, the next
 * statement runs on a new session.
 */
static void
test_reply_deadline(void **state)
{
	static const struct db_stmt off = {
	    "test_db_off", "SELECT set_config('statement_timeout', '0', true)",
	    0};
	static const struct db_stmt nap = {"test_db_nap", "SELECT pg_sleep(60)",
					   0};
	char sql[96];
	int64_t t0;
	struct db *d;
	int pid;

	(void)state;
	for (int pooled_mode = 1; pooled_mode >= 0; pooled_mode--) {
		if (pooled_mode) {
			d = pooled(200);
			assert_int_equal(db_exec_simple(d, "BEGIN"), SJ_OK);
			assert_int_equal(db_exec(d, &off, NULL, NULL), SJ_OK);
		} else {
			assert_int_equal(db_open(url, "test-late", 200, &d),
					 SJ_OK);
			assert_int_equal(db_exec_simple(d, "SET statement_"
							   "timeout = 0"),
					 SJ_OK);
		}
		pid = PQbackendPID(db_pg(d));
		t0 = num_mono_ms();
		assert_int_equal(db_exec(d, &nap, NULL, NULL), SJ_EDB);
		assert_in_range(num_mono_ms() - t0, 5200, 7000);
		assert_string_equal(db_sqlstate(d), "08006");
		assert_null(db_pg(d));
		if (pooled_mode) {
			assert_int_equal(db_exec(d, &nap, NULL, NULL), SJ_EDB);
			assert_int_equal(db_exec_simple(d, "ROLLBACK"), SJ_OK);
		}
		exec_is(d, "SELECT 7", "7");
		assert_int_not_equal(PQbackendPID(db_pg(d)), pid);
		db_close(d);
		/* the abandoned backend still sleeps */
		snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)",
			 pid);
		testdb_sql(side, sql);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timeout_per_transaction),
	    cmocka_unit_test(test_no_named_statements),
	    cmocka_unit_test(test_keyed_per_transaction),
	    cmocka_unit_test(test_notify_own_transaction),
	    cmocka_unit_test(test_explicit_transaction),
	    cmocka_unit_test(test_transaction_keeps_settings),
	    cmocka_unit_test(test_direct_keeps_state),
	    cmocka_unit_test(test_lost_block),
	    cmocka_unit_test(test_reply_deadline),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
