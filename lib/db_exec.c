/*
 * DESIGN
 * Statements and their replies, over the session db.c keeps.  Without
 * pooling each statement is prepared once per session (db_prepare) and
 * run by name.
 *
 * Transaction pooling (db_pooling_set; PgBouncer's pool_mode =
 * transaction) hands each transaction whatever server session is free,
 * so nothing may live in a session: no startup options (PgBouncer 1.18
 * refuses them), no named statements (another client's session may hold
 * the name, 42P05, or lack it, 26000).  Every statement is then sent
 * unnamed (parsed and planned per call, like db_exec_planned), behind a
 * set_config(..., true) of this session's settings -- statement_timeout,
 * and db_keyed()'s planner switches -- in the same pipeline and the same
 * implicit transaction, so one round trip still does it, and the
 * settings end with the transaction as the pooler requires.  Inside an
 * explicit transaction (BEGIN by db_exec_simple) only its first statement
 * sets them: they hold until COMMIT or ROLLBACK.  Only db_exec_simple's
 * BEGIN, COMMIT and ROLLBACK themselves go without them.
 *
 * A reply is waited for with poll(), at most statement_timeout and
 * DB_REPLY_SLACK_MS (db.c) more (no limit when statement_timeout is 0).
 * The server ends its own statements at statement_timeout, so a reply
 * later than that means nothing is running it: it waits in a pooler's
 * queue (PgBouncer with PostgreSQL down holds it for query_wait_timeout,
 * 120 s by default), or the network to the server is gone (TCP retries
 * for about 15 minutes).  The session is then closed and the statement
 * fails as a lost connection (08006); the next one reconnects.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "db_internal.h"
#include "log.h"
#include "num.h"

/* When a reply to what is sent now is given up on; 0: never. */
static int64_t
db_until(const struct db *db)
{
	return db->reply_ms > 0 ? num_mono_ms() + db->reply_ms : 0;
}

/*
 * Waits until the next result can be read without blocking; false when
 * until passed first.  A broken connection returns true: PQgetResult
 * then reports it.
 */
static bool
db_await(struct db *db, int64_t until)
{
	struct pollfd p;
	int64_t left;
	int ms = -1;

	if (PQflush(db->conn) != 0)
		return true;
	while (PQisBusy(db->conn)) {
		if (until != 0) {
			if ((left = until - num_mono_ms()) <= 0)
				return false;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		p.fd = PQsocket(db->conn);
		p.events = POLLIN;
		p.revents = 0;
		if (p.fd < 0)
			return true;
		if (poll(&p, 1, ms) < 0) {
			if (errno == EINTR)
				continue;
			return true;
		}
		if (p.revents != 0 && !PQconsumeInput(db->conn))
			return true;
	}
	return true;
}

/* No reply by the deadline: the session goes, as a lost connection. */
static void
db_late(struct db *db, const char *what)
{
	log_warn("statement %s: no reply within %ld ms; closing the session",
		 what, db->reply_ms);
	snprintf(db->sqlstate, sizeof(db->sqlstate), "08006");
	db_drop(db);
}

/* PQgetResult, waiting no later than until; NULL and *late after it. */
static PGresult *
db_get(struct db *db, int64_t until, bool *late)
{
	if (!db_await(db, until)) {
		*late = true;
		return NULL;
	}
	return PQgetResult(db->conn);
}

/* Takes ownership of r; classifies a failed result. */
static enum sj_err
db_check(struct db *db, PGresult *r, const char *what, PGresult **res)
{
	ExecStatusType st = PQresultStatus(r);
	const char *state;

	db_note_block(db);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		db->sqlstate[0] = '\0';
		if (res != NULL)
			*res = r;
		else
			PQclear(r);
		return SJ_OK;
	}
	state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	PQclear(r);
	if (strcmp(db->sqlstate, "23505") == 0 ||
	    strcmp(db->sqlstate, "23P01") == 0)
		return SJ_ECONFLICT;
	log_warn("statement %s failed: sqlstate=%s %s", what,
		 db->sqlstate[0] ? db->sqlstate : "none",
		 db->conn ? PQerrorMessage(db->conn) : "");
	if (db->conn != NULL && PQstatus(db->conn) != CONNECTION_OK) {
		/*
		 * The session went: a connection failure, whatever the server
		 * said last (a terminated backend's 57P01 arrives before the
		 * close or not, as the timing falls; the log line keeps it).
		 */
		snprintf(db->sqlstate, sizeof(db->sqlstate), "08006");
		db_drop(db);
	}
	return SJ_EDB;
}

/*
 * The outcome of what sent (a PQsend* call's result) queued, as PQexec
 * would give it: the last result, or the first error.
 */
static enum sj_err
db_reply(struct db *db, int sent, const char *what, PGresult **res)
{
	int64_t until = db_until(db);
	PGresult *r, *last = NULL;
	bool late = false;

	if (!sent)
		return db_check(db, NULL, what, res);
	while ((r = db_get(db, until, &late)) != NULL) {
		if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(last);
		last = r;
	}
	if (late) {
		PQclear(last);
		db_late(db, what);
		return SJ_EDB;
	}
	return db_check(db, last, what, res);
}

static bool
db_is_prepared(const struct db *db, const struct db_stmt *st)
{
	for (int i = 0; i < db->nprepared; i++)
		if (db->prepared[i] == st)
			return true;
	return false;
}

/* Prepares st on this session unless it is; the session must be ready. */
static enum sj_err
db_prepare(struct db *db, const struct db_stmt *st)
{
	enum sj_err e;

	if (db_is_prepared(db, st))
		return SJ_OK;
	if (db->nprepared >= DB_MAX_PREPARED)
		return SJ_ENOMEM;
	e = db_reply(
	    db, PQsendPrepare(db->conn, st->name, st->sql, st->nparams, NULL),
	    st->name, NULL);
	if (e == SJ_OK)
		db->prepared[db->nprepared++] = st;
	return e;
}

/* What a pooled session sets for each transaction; $1 the timeout. */
#define DB_LOCAL_TIMEOUT "SELECT set_config('statement_timeout', $1, true)"
#define DB_LOCAL_KEYED                                                         \
	", set_config('enable_seqscan', 'off', true), "                        \
	"set_config('enable_hashjoin', 'off', true), "                         \
	"set_config('enable_mergejoin', 'off', true)"

/* Queues st: by name in session pooling (prepared), else unnamed. */
static bool
db_send(struct db *db, const struct db_stmt *st, const char *const *params)
{
	if (!db->pooled)
		return PQsendQueryPrepared(db->conn, st->name, st->nparams,
					   params, NULL, NULL, 0);
	return PQsendQueryParams(db->conn, st->sql, st->nparams, NULL, params,
				 NULL, NULL, 0);
}

/* Queues the settings of a pooled session's transaction. */
static bool
db_send_local(struct db *db)
{
	const char *p[1] = {db->timeout};

	return PQsendQueryParams(db->conn,
				 db->keyed ? DB_LOCAL_TIMEOUT DB_LOCAL_KEYED
					   : DB_LOCAL_TIMEOUT,
				 1, NULL, p, NULL, NULL, 0);
}

/*
 * The next result of a pipeline (NULL when the connection broke or, with
 * *late, until passed), and the end of its statement; a sync before it
 * is skipped.  False when the stream is not what db_pipeline() sent.
 */
static bool
db_pipe_take(struct db *db, PGresult **r, int64_t until, bool *late)
{
	PGresult *end;

	*r = db_get(db, until, late);
	if (*r != NULL && PQresultStatus(*r) == PGRES_PIPELINE_SYNC) {
		PQclear(*r);
		*r = db_get(db, until, late);
	}
	if (*r == NULL)
		return false;
	/* a statement's results end with NULL, then comes its sync */
	if ((end = db_get(db, until, late)) != NULL) {
		PQclear(end);
		return false;
	}
	return true;
}

/*
 * One round trip: when pooled, the settings, then st, in one implicit
 * transaction (one sync); with after, after(ap) in a transaction of its
 * own after it (when pooled, behind the settings again).  st (and after)
 * must be prepared unless pooled.  The result is st's; a failure of
 * after is only logged.
 */
static enum sj_err
db_pipeline(struct db *db, const struct db_stmt *st, const char *const *params,
	    PGresult **res, const struct db_stmt *after, const char *const *ap)
{
	PGresult *set = NULL, *r = NULL, *set2 = NULL, *n = NULL, *sync = NULL;
	PGTransactionStatusType ts = PQtransactionStatus(db->conn);
	/* not in a block that has them; an aborted one refuses anything */
	bool local = db->pooled && ts != PQTRANS_INERROR &&
		     !(ts == PQTRANS_INTRANS && db->tx_set);
	bool local2 = db->pooled && after != NULL;
	bool ok, after_ok = true, late = false;
	int64_t until = db_until(db);

	ok = PQenterPipelineMode(db->conn) && (!local || db_send_local(db)) &&
	     db_send(db, st, params) && PQpipelineSync(db->conn) &&
	     (after == NULL ||
	      ((!local2 || db_send_local(db)) && db_send(db, after, ap) &&
	       PQpipelineSync(db->conn)));
	ok = ok && (!local || db_pipe_take(db, &set, until, &late)) &&
	     db_pipe_take(db, &r, until, &late) &&
	     (!local2 || db_pipe_take(db, &set2, until, &late)) &&
	     (after == NULL || db_pipe_take(db, &n, until, &late));
	ok = ok && (sync = db_get(db, until, &late)) != NULL &&
	     PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
	PQclear(sync);
	if (!ok || !PQexitPipelineMode(db->conn)) {
		PQclear(set);
		PQclear(r);
		PQclear(set2);
		PQclear(n);
		if (late) {
			db_late(db, st->name);
			return SJ_EDB;
		}
		log_warn("statement %s: pipeline broken: %s", st->name,
			 PQerrorMessage(db->conn));
		snprintf(db->sqlstate, sizeof(db->sqlstate), "08006");
		db_drop(db);
		return SJ_EDB;
	}
	db->tx_set = (local || db->tx_set) &&
		     PQtransactionStatus(db->conn) == PQTRANS_INTRANS;
	/* st's outcome stands whatever became of after */
	if (set2 != NULL && db_check(db, set2, after->name, NULL) != SJ_OK)
		after_ok = false;
	if (n != NULL && db_check(db, n, after->name, NULL) != SJ_OK)
		after_ok = false;
	if (!after_ok)
		log_warn("statement %s after %s failed", after->name, st->name);
	if (set != NULL && db_check(db, set, st->name, NULL) != SJ_OK) {
		PQclear(r); /* st was not run */
		return SJ_EDB;
	}
	return db_check(db, r, st->name, res);
}

/*
 * What every statement starts with: *res cleared and the session readied
 * for st.  True when that is all, with *e the outcome: st refused
 * (db_refuse), or, when pooled, run (and after(ap) behind it) by
 * db_pipeline.
 */
static bool
db_stmt_start(struct db *db, const struct db_stmt *st,
	      const char *const *params, PGresult **res,
	      const struct db_stmt *after, const char *const *ap,
	      enum sj_err *e)
{
	if (res != NULL)
		*res = NULL;
	if (db_refuse(db, st->sql, e))
		return true;
	if (!db->pooled)
		return false;
	*e = db_pipeline(db, st, params, res, after, ap);
	return true;
}

static enum sj_err
db_exec_run(struct db *db, const struct db_stmt *st, const char *const *params,
	    PGresult **res)
{
	enum sj_err e;

	if (db_stmt_start(db, st, params, res, NULL, NULL, &e))
		return e;
	if (db->nprepared >= DB_MAX_PREPARED && !db_is_prepared(db, st))
		return db_exec_planned(db, st, params, res);
	if ((e = db_prepare(db, st)) != SJ_OK)
		return e;
	return db_reply(db,
			PQsendQueryPrepared(db->conn, st->name, st->nparams,
					    params, NULL, NULL, 0),
			st->name, res);
}

static enum sj_err
db_exec_then_run(struct db *db, const struct db_stmt *st,
		 const char *const *params, PGresult **res,
		 const struct db_stmt *after, const char *const *ap)
{
	enum sj_err e;

	if (db_stmt_start(db, st, params, res, after, ap, &e))
		return e;
	if (db->nprepared + 2 > DB_MAX_PREPARED &&
	    (!db_is_prepared(db, st) || !db_is_prepared(db, after))) {
		/* no room to prepare them: two round trips, same outcome */
		e = db_exec_planned(db, st, params, res);
		if (db_exec_planned(db, after, ap, NULL) != SJ_OK)
			log_warn("statement %s after %s failed", after->name,
				 st->name);
		return e;
	}
	if ((e = db_prepare(db, st)) != SJ_OK ||
	    (e = db_prepare(db, after)) != SJ_OK)
		return e;
	return db_pipeline(db, st, params, res, after, ap);
}

static enum sj_err
db_exec_planned_run(struct db *db, const struct db_stmt *st,
		    const char *const *params, PGresult **res)
{
	enum sj_err e;

	if (db_stmt_start(db, st, params, res, NULL, NULL, &e))
		return e;
	return db_reply(db,
			PQsendQueryParams(db->conn, st->sql, st->nparams, NULL,
					  params, NULL, NULL, 0),
			st->name, res);
}

static enum sj_err
db_exec_simple_run(struct db *db, const char *sql)
{
	enum sj_err e;

	if (db_refuse(db, sql, &e))
		return e;
	/* a block begun here has not had the settings yet */
	if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS)
		db->tx_set = false;
	e = db_reply(db, PQsendQuery(db->conn, sql), "simple", NULL);
	if (db->conn == NULL ||
	    PQtransactionStatus(db->conn) != PQTRANS_INTRANS)
		db->tx_set = false;
	return e;
}

/*
 * A statement that ends a block (COMMIT, END, ROLLBACK, ABORT) ends it
 * whatever its outcome: the caller moves on, and a session lost under it
 * must not hold the next statements back.
 */
static enum sj_err
db_after(struct db *db, const char *sql, enum sj_err e)
{
	enum db_edge edge = db_edge(sql);

	if (edge == DB_EDGE_COMMIT || edge == DB_EDGE_ROLLBACK) {
		db->in_block = false;
		db->lost_block = false;
	}
	return e;
}

enum sj_err
db_exec(struct db *db, const struct db_stmt *st, const char *const *params,
	PGresult **res)
{
	return db_after(db, st->sql, db_exec_run(db, st, params, res));
}

enum sj_err
db_exec_then(struct db *db, const struct db_stmt *st, const char *const *params,
	     PGresult **res, const struct db_stmt *after, const char *const *ap)
{
	return db_after(db, st->sql,
			db_exec_then_run(db, st, params, res, after, ap));
}

enum sj_err
db_exec_planned(struct db *db, const struct db_stmt *st,
		const char *const *params, PGresult **res)
{
	return db_after(db, st->sql, db_exec_planned_run(db, st, params, res));
}

enum sj_err
db_exec_simple(struct db *db, const char *sql)
{
	return db_after(db, sql, db_exec_simple_run(db, sql));
}
