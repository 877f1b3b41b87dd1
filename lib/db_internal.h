/*
 * What db.c (the session) and db_exec.c (statements and replies) share;
 * nothing outside those two includes it.
 */
#ifndef SJ_DB_INTERNAL_H
#define SJ_DB_INTERNAL_H

#include <stdbool.h>

#include "db.h"

#define DB_MAX_PREPARED 64

struct db {
	PGconn *conn;
	char *url;
	char *appname;
	char options[160];
	bool pooled;	  /* transaction pooling: nothing kept in the session */
	bool keyed;	  /* db_keyed() */
	bool tx_set;	  /* the open transaction block has the settings */
	bool in_block;	  /* the last statement left a block open */
	bool lost_block;  /* the session went while a block was open */
	char timeout[24]; /* statement_timeout in ms, as text */
	long reply_ms;	  /* the longest wait for a reply; 0: no limit */
	const struct db_stmt *prepared[DB_MAX_PREPARED];
	int nprepared;
	char sqlstate[6];
};

/* What a statement does to a transaction block, by its first keyword. */
enum db_edge { DB_EDGE_NONE, DB_EDGE_BEGIN, DB_EDGE_COMMIT, DB_EDGE_ROLLBACK };

/* Closes the session; what it knew of an open block stays. */
void db_drop(struct db *db);
/* Notes whether the session's last statement left a block open. */
void db_note_block(struct db *db);
enum db_edge db_edge(const char *sql);
/*
 * Readies the session for sql; true when sql must not be sent, with *e
 * its outcome (a block lost with its session: see db.c).
 */
bool db_refuse(struct db *db, const char *sql, enum sj_err *e);

#endif
