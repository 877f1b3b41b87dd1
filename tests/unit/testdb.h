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
/* Runs SQL text on a side connection, failing the test on error. */
void testdb_sql(struct db *db, const char *sql);

#endif
