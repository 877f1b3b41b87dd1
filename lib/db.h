/*
 * A PostgreSQL session that survives server restarts.  Connecting is lazy:
 * db_open() only records the settings.  Before each statement the session
 * is checked without a round trip (a closed socket is readable); a broken
 * session is reset there, so a restart of PostgreSQL costs at most the one
 * call that was in flight when it happened.  Statements are prepared once
 * per session on first use.  Every session runs with statement_timeout.
 * Behind a pooler in transaction mode (db_pooling_set) nothing is kept in
 * the session: statements go unnamed and the timeout is set per
 * transaction (db_exec.c's DESIGN).
 *
 * A struct db is used by one thread at a time.
 */
#ifndef SJ_DB_H
#define SJ_DB_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "err.h"

struct db;

/* A statement known at compile time; declare them static const. */
struct db_stmt {
	const char *name; /* unique per program */
	const char *sql;
	int nparams;
};

/*
 * Records the connection settings; does not connect.  url is copied.
 * appname shows in pg_stat_activity.  stmt_timeout_ms 0 means none.
 */
enum sj_err db_open(const char *url, const char *appname, long stmt_timeout_ms,
		    struct db **out) SJ_WUR;
/*
 * DATABASE_POOLING for the whole process, before any db_open(): with
 * mode "transaction", every struct db opened afterwards keeps no state in
 * its session (no startup options, no named statements; its settings --
 * statement_timeout, db_keyed()'s -- are set in each transaction), so it
 * works through PgBouncer's pool_mode = transaction.  A statement sent
 * with db_exec_simple() runs under what the transaction's earlier
 * db_exec() set, else the role's and server's defaults.
 */
void db_pooling_set(const char *mode);
/*
 * This session is a direct one whatever db_pooling_set() said (the
 * worker's LISTEN session): startup options and named statements.
 */
void db_direct(struct db *db);
void db_close(struct db *db);
/*
 * For a session whose statements each find their rows by primary key,
 * such as a batch of completions joined to the table by id: sequential
 * scans, hash joins and merge joins are priced out, so every element
 * stays one index lookup.  The planner otherwise hashed a scan of the
 * whole table whenever it held fewer than about 100,000 rows (measured
 * at 20,000 rows: 16 ms for 150 completions instead of 2.4 ms).  Plans
 * are still made per call where db_exec_planned() is used: a generic plan
 * made while the table was empty (forced once, to save the planning)
 * scanned a whole index per batch once it was not, and a continuous load
 * went from 22,475 to 3,780 jobs/s.  Applies from the next connection.
 */
void db_keyed(struct db *db);

/* Connects now if not connected.  SJ_EDB when the server is unreachable. */
enum sj_err db_connect(struct db *db) SJ_WUR;
/* The live connection, or NULL.  Borrowed. */
PGconn *db_pg(struct db *db);
/* Drops the session; the next call reconnects. */
void db_reset(struct db *db);
/* True when a session exists and libpq says it is good. */
bool db_alive(struct db *db);
/* The server process of the session (pg_backend_pid()), or 0 when none. */
int db_backend_pid(struct db *db);
/* The session's socket for poll(), or -1 when none. */
int db_socket(struct db *db);
/*
 * Reads what the server sent (notifications among it) without waiting.
 * SJ_EDB when the session broke: *why (may be NULL) then points at
 * libpq's message, valid until the next call on db.
 */
enum sj_err db_consume(struct db *db, const char **why) SJ_WUR;
/* Called per notification: channel, and payload ("" when none). */
typedef void (*db_notify_fn)(const char *channel, const char *payload,
			     void *ctx);
/* Hands every notification libpq has read to fn; returns how many. */
int db_notifies(struct db *db, db_notify_fn fn, void *ctx);

/*
 * Runs a prepared statement with text parameters (NULL entries are SQL
 * NULL).  On SJ_OK *res holds a PGRES_TUPLES_OK or PGRES_COMMAND_OK result
 * the caller PQclear()s; res may be NULL to discard it.  A unique or
 * exclusion violation is SJ_ECONFLICT; anything else SJ_EDB.
 */
enum sj_err db_exec(struct db *db, const struct db_stmt *st,
		    const char *const *params, PGresult **res) SJ_WUR;
/*
 * db_exec() planned for this call's parameters instead of prepared once:
 * for batch statements whose best plan depends on how many rows their
 * arrays bring.  A cached generic plan cannot know that and may rescan a
 * 256-element unnest() once per row (measured: 30 ms instead of 2.5 ms
 * for 256 completions).
 */
enum sj_err db_exec_planned(struct db *db, const struct db_stmt *st,
			    const char *const *params, PGresult **res) SJ_WUR;
/*
 * db_exec(), then after(ap) in a transaction of its own, both sent in one
 * round trip (pipeline mode).  st must not be inside an explicit
 * transaction.  For the new-job notice: a NOTIFY in st's own transaction
 * would hold PostgreSQL's global notify lock through st's commit and its
 * WAL flush, so every notifying commit of the database would wait for
 * the one before (measured with pgbench, INSERT with its NOTIFY vs
 * INSERT then NOTIFY, 4 clients: 3,584 vs 5,495 per second); a
 * transaction that only notifies does not wait for a flush.  after runs
 * even when st fails or writes nothing, and its outcome is only logged:
 * the result is st's.
 */
enum sj_err db_exec_then(struct db *db, const struct db_stmt *st,
			 const char *const *params, PGresult **res,
			 const struct db_stmt *after,
			 const char *const *ap) SJ_WUR;
/* Runs SQL text without parameters (may hold several statements). */
enum sj_err db_exec_simple(struct db *db, const char *sql) SJ_WUR;
/*
 * SQLSTATE of the last failed statement, or "": 08006 whenever the
 * statement failed because its session went, whatever the server said.
 */
const char *db_sqlstate(const struct db *db);

/* Helpers for reading results: NULL-safe, bounded. */
const char *db_str(const PGresult *r, int row, int col); /* NULL if SQL NULL */
long long db_ll(const PGresult *r, int row, int col, long long dflt);
/* A boolean column: true only for SQL true (false for false and NULL). */
bool db_bool(const PGresult *r, int row, int col);
/* Rows returned (SELECT, RETURNING) or affected (UPDATE, DELETE). */
long long db_rows(const PGresult *r);

#endif
