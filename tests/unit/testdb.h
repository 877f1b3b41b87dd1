/*
 * A throwaway database per test program: created on TEST_DATABASE_URL's
 * server, migrated from $SJ_SQL_SRC, dropped at the end.  Without
 * TEST_DATABASE_URL the program exits 77 (skip); ./dev test always sets it
 * and treats a skip as a failure.
 */
#ifndef SJ_TESTDB_H
#define SJ_TESTDB_H

#include "cfg.h"
#include "db.h"

/* Connection string of the fresh database (static storage). */
const char *testdb_create(void);
void testdb_drop(void);
/* A loaded, valid configuration pointing at the test database. */
void testdb_cfg(struct cfg *c);
/*
 * The usual group fixture: a fresh database, a loaded configuration, the
 * library's session *db and a side session *side.  0 on success.
 */
int testdb_open(struct cfg *c, struct db **db, struct db **side);
void testdb_close(struct cfg *c, struct db *db, struct db *side);
/*
 * The usual group fixture as a suite's own statics: cfg, db (the
 * library's session under test), side (a second session for inspecting
 * and forcing), and the cmocka group setup and teardown that open and
 * close them.
 */
/* clang-format off */
#define TESTDB_GROUP_FIXTURE                                                   \
	static struct cfg cfg;                                                 \
	static struct db *db;                                                  \
	static struct db *side;                                                \
	static int group_setup(void **state)                                   \
	{                                                                      \
		(void)state;                                                   \
		return testdb_open(&cfg, &db, &side);                          \
	}                                                                      \
	static int group_teardown(void **state)                                \
	{                                                                      \
		(void)state;                                                   \
		testdb_close(&cfg, db, side);                                  \
		return 0;                                                      \
	}
/* clang-format on */

/* Runs SQL text on a side connection, failing the test on error. */
void testdb_sql(struct db *db, const char *sql);
/*
 * The first column of the first row of sql on db (connected if need
 * be), as a number (-1 when there is no row); fails the test on error.
 */
long long testdb_ll(struct db *db, const char *sql);
/*
 * Ends d's server session from side, as a server restart would, and
 * waits until its process has exited (the server runs on this machine):
 * only then is its socket closed, so that d sees the break before it
 * sends anything.  The process leaves pg_stat_activity earlier, while
 * its socket may still be open.
 */
void testdb_terminate(struct db *side, struct db *d);

#endif
