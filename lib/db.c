/*
 * DESIGN
 * One libpq session, lazily connected.  Before each statement db_ready()
 * checks the socket with a zero-timeout poll(): when the server has gone
 * away (restart, pg_terminate_backend) the socket is readable at EOF and
 * PQconsumeInput() reports the break without a round trip, so the session
 * is rebuilt before the statement is sent and no statement is ever sent
 * twice.  A break discovered mid-statement fails that one call (SJ_EDB)
 * and the next call reconnects -- unless a transaction block was open:
 * then the block is gone, and the db refuses statements until the caller
 * ends it (db_ready).  Prepared statements are remembered per session
 * and prepared again after a reconnect.
 *
 * This file holds the session: opening, connecting, the checks before a
 * statement and what is known of its transaction block, and the readers
 * of results.  Sending statements and waiting for their replies, direct
 * or through a transaction pooler, is db_exec.c's.  A session connects
 * with its settings as startup options, unless transaction pooling is on
 * (db_pooling_set): then db_exec.c sends them with each transaction.
 */
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "db_internal.h"
#include "log.h"

/* How long past statement_timeout a reply is waited for (db_exec.c). */
#define DB_REPLY_SLACK_MS 5000

/* db_pooling_set(): what db_open() gives a new struct db. */
static bool db_pool_tx;

enum sj_err
db_open(const char *url, const char *appname, long stmt_timeout_ms,
	struct db **out)
{
	struct db *db;

	*out = NULL;
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return SJ_ENOMEM;
	db->url = strdup(url);
	db->appname = strdup(appname);
	if (db->url == NULL || db->appname == NULL) {
		db_close(db);
		return SJ_ENOMEM;
	}
	snprintf(db->options, sizeof(db->options), "-c statement_timeout=%ld",
		 stmt_timeout_ms);
	snprintf(db->timeout, sizeof(db->timeout), "%ld", stmt_timeout_ms);
	db->reply_ms =
	    stmt_timeout_ms > 0 ? stmt_timeout_ms + DB_REPLY_SLACK_MS : 0;
	db->pooled = db_pool_tx;
	*out = db;
	return SJ_OK;
}

void
db_pooling_set(const char *mode)
{
	db_pool_tx = mode != NULL && strcmp(mode, "transaction") == 0;
}

void
db_direct(struct db *db)
{
	db->pooled = false;
	db_reset(db);
}

void
db_keyed(struct db *db)
{
	size_t n = strlen(db->options);

	snprintf(db->options + n, sizeof(db->options) - n,
		 " -c enable_seqscan=off -c enable_hashjoin=off"
		 " -c enable_mergejoin=off");
	db->keyed = true;
	db_reset(db);
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->url);
	free(db->appname);
	free(db);
}

/* Closes the session; what it knew of an open block stays (db_ready). */
void
db_drop(struct db *db)
{
	if (db->conn != NULL)
		PQfinish(db->conn);
	db->conn = NULL;
	db->nprepared = 0;
	db->tx_set = false;
}

void
db_reset(struct db *db)
{
	db_drop(db);
	db->in_block = false;
	db->lost_block = false;
}

PGconn *
db_pg(struct db *db)
{
	return db->conn;
}

bool
db_alive(struct db *db)
{
	return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

int
db_backend_pid(struct db *db)
{
	return db_alive(db) ? PQbackendPID(db->conn) : 0;
}

int
db_socket(struct db *db)
{
	return db->conn != NULL ? PQsocket(db->conn) : -1;
}

enum sj_err
db_consume(struct db *db, const char **why)
{
	if (why != NULL)
		*why = "no session";
	if (db->conn == NULL)
		return SJ_EDB;
	if (PQconsumeInput(db->conn) != 0)
		return SJ_OK;
	if (why != NULL)
		*why = PQerrorMessage(db->conn);
	return SJ_EDB;
}

int
db_notifies(struct db *db, db_notify_fn fn, void *ctx)
{
	PGnotify *n;
	int count = 0;

	while (db->conn != NULL && (n = PQnotifies(db->conn)) != NULL) {
		fn(n->relname, n->extra != NULL ? n->extra : "", ctx);
		PQfreemem(n);
		count++;
	}
	return count;
}

const char *
db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

/* Server notices go to the log, not to stderr unformatted. */
static void
db_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("database notice: %s", msg);
}

enum sj_err
db_connect(struct db *db)
{
	/* Later keywords override what the URL says. */
	const char *keys[] = {"dbname", "application_name", "options",
			      "connect_timeout", NULL};
	/* libpq skips an empty value: no options when pooled */
	const char *vals[] = {db->url, db->appname,
			      db->pooled ? "" : db->options, "5", NULL};

	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return SJ_OK;
	db_drop(db);
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (db->conn == NULL)
		return SJ_ENOMEM;
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_warn("database connection failed: %s",
			 PQerrorMessage(db->conn));
		db_drop(db);
		return SJ_EDB;
	}
	PQsetNoticeProcessor(db->conn, db_notice, NULL);
	return SJ_OK;
}

/*
 * Makes sure the session is usable before a statement is sent.  Pending
 * input on an idle session is either a notification (kept for the
 * caller's PQnotifies) or the server closing the connection.
 *
 * A session that went while a transaction block was open took the block
 * with it: reconnecting would run the rest of the block's statements in
 * autocommit, outside its locks, and its COMMIT would only warn.  So the
 * db refuses every statement (SJ_EDB, sqlstate 08006) until the caller
 * ends the block: ROLLBACK succeeds, COMMIT fails, either clears it.
 */
static enum sj_err
db_ready(struct db *db)
{
	struct pollfd pfd;

	if (db->lost_block)
		return SJ_EDB;
	/*
	 * A terminated backend first sends its FATAL message, then closes:
	 * keep reading while input is pending, at most a few times.
	 */
	for (int i = 0; i < 4 && db->conn != NULL; i++) {
		if (PQstatus(db->conn) != CONNECTION_OK) {
			db_drop(db);
			break;
		}
		pfd.fd = PQsocket(db->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
			break;
		if (!PQconsumeInput(db->conn)) {
			log_warn("database session lost; reconnecting");
			db_drop(db);
		}
	}
	if (db->in_block && db->conn == NULL) {
		log_warn("database session lost inside a transaction; the "
			 "transaction is gone");
		db->lost_block = true;
		snprintf(db->sqlstate, sizeof(db->sqlstate), "08006");
		return SJ_EDB;
	}
	return db_connect(db);
}

/* Whether the session's last statement left a block open. */
void
db_note_block(struct db *db)
{
	PGTransactionStatusType ts;

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return; /* gone: what it had open is what it last said */
	ts = PQtransactionStatus(db->conn);
	db->in_block = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

/* What a statement does to a transaction block, by its first keyword. */
enum db_edge
db_edge(const char *sql)
{
	static const struct {
		const char *kw;
		enum db_edge edge;
	} kws[] = {{"BEGIN", DB_EDGE_BEGIN},	   {"START", DB_EDGE_BEGIN},
		   {"COMMIT", DB_EDGE_COMMIT},	   {"END", DB_EDGE_COMMIT},
		   {"ROLLBACK", DB_EDGE_ROLLBACK}, {"ABORT", DB_EDGE_ROLLBACK}};

	while (*sql == ' ' || *sql == '\n' || *sql == '\t')
		sql++;
	for (size_t i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		size_t n = strlen(kws[i].kw);

		if (strncasecmp(sql, kws[i].kw, n) == 0 &&
		    (sql[n] == '\0' || sql[n] == ';' || sql[n] == ' '))
			return kws[i].edge;
	}
	return DB_EDGE_NONE;
}

/*
 * Readies the session for sql; true when sql must not be sent, with *e
 * its outcome.  A block lost with its session ends with sql's COMMIT or
 * END (*e SJ_EDB: nothing was committed) or ROLLBACK or ABORT (*e SJ_OK:
 * the server already undid it); a BEGIN starts afresh.
 */
bool
db_refuse(struct db *db, const char *sql, enum sj_err *e)
{
	enum db_edge edge;

	if ((*e = db_ready(db)) == SJ_OK)
		return false;
	if (!db->lost_block || (edge = db_edge(sql)) == DB_EDGE_NONE)
		return true;
	db->lost_block = false;
	db->in_block = false;
	if (edge == DB_EDGE_BEGIN)
		return (*e = db_ready(db)) != SJ_OK;
	*e = edge == DB_EDGE_COMMIT ? SJ_EDB : SJ_OK;
	return true;
}

const char *
db_str(const PGresult *r, int row, int col)
{
	if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r) ||
	    PQgetisnull(r, row, col))
		return NULL;
	return PQgetvalue(r, row, col);
}

bool
db_bool(const PGresult *r, int row, int col)
{
	const char *s = db_str(r, row, col);

	return s != NULL && strcmp(s, "t") == 0;
}

long long
db_ll(const PGresult *r, int row, int col, long long dflt)
{
	const char *s = db_str(r, row, col);
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return dflt;
	v = strtoll(s, &end, 10);
	return *end == '\0' ? v : dflt;
}

long long
db_rows(const PGresult *r)
{
	const char *s;
	char *end;
	long long v;

	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		return PQntuples(r);
	s = PQcmdTuples((PGresult *)(uintptr_t)r);
	if (s == NULL || *s == '\0')
		return 0;
	v = strtoll(s, &end, 10);
	return *end == '\0' ? v : 0;
}
