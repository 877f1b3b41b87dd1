/*
 * Shared by the job_*.c files of the library only: the column list every
 * job query returns, the row reader and the keyed-update helper.
 */
#ifndef SJ_JOB_INTERNAL_H
#define SJ_JOB_INTERNAL_H

#include "counters.h"
#include "job.h"

/*
 * A timestamp as whole unix milliseconds, rounded down.  extract() gives
 * numeric, 0.4 us per value (five per row: a fifth of a claim's CPU
 * spent here); date_part() gives the nearest double, within 2.4e-4 ms of
 * the exact value after the multiplication for any date before 2038 and
 * more than a century after.  The exact value is a whole number of
 * microseconds, so adding half a microsecond before floor() can neither
 * reach the next millisecond nor fall below this one: the result is
 * exact (test_job's test_ms_exact checks the edges).
 */
#define MS(c) "floor(date_part('epoch', " c ") * 1000 + 0.0005)::int8"
/*
 * The columns job_from_row() reads, in its order; p is the table's
 * alias with its dot ("j.") or "".  The tag read is the claim's key
 * (016's jobs_claim_idx), never before run_at.
 */
/* clang-format off */
#define JOB_COLS_OF(p)                                                        \
	p "id, " p "type, " p "status, " p "progress, " p "current_step, "    \
	"coalesce(" p "user_id, 0), " p "priority, " p "attempts, "           \
	p "max_attempts, " p "lease_epoch, " p "timeout_s, " p "input, "      \
	p "result, " p "checkpoint, " p "error_code, " p "error_message, "    \
	MS(p "created_at") ", " MS(p "updated_at") ", "                       \
	MS(p "started_at") ", " MS(p "completed_at") ", " MS(p "run_at")      \
	", " MS(p "fair_at")
/* clang-format on */
#define JOB_COLS JOB_COLS_OF("")
/*
 * What a retry sets: pending again, a fresh budget, no outcome, and a
 * tag behind the owner's pending jobs (016's jobs_fair_retag takes the
 * owner's start lock, before the UPDATE locks the row).
 */
#define JOB_RETRY_SET                                                          \
	"status = 'pending', attempts = 0, rescues = 0, run_at = now(), "      \
	"fair_at = jobs_fair_retag(user_id, client, priority), "               \
	"result = NULL, error_code = NULL, error_message = NULL, "             \
	"completed_at = NULL, started_at = NULL, "                             \
	"current_step = 'Queued for retry', "                                  \
	"updated_at = now()"
/*
 * A retry's UPDATE reads the row's outcome before it (FROM item o, the
 * row locked first), returns it (RETRY_RETURNING) and counts the row
 * back into the live set and out of the minute it finished in
 * (COUNT_RETRIED, from CTE r: sql/018 counts finished rows, not events).
 */
#define RETRY_FROM                                                             \
	" FROM (SELECT status AS o_status, error_code AS o_code, "             \
	"completed_at AS o_at FROM jobs WHERE id = $1 FOR UPDATE) o"
#define RETRY_RETURNING ", user_id, client, o_status, o_code, o_at"
#define COUNT_RETRIED                                                          \
	COUNTED("r", "1", "o_status", "o_code", "NULL::timestamptz", "o_at",   \
		"-1")
/*
 * The retry of job $1 if failed or cancelled, setting JOB_RETRY_SET and
 * set besides; it answers NOTICE_SEND (the keyed notice) per row.
 */
#define JOB_RETRY_SQL(set)                                                     \
	"WITH r AS (UPDATE jobs SET " JOB_RETRY_SET set RETRY_FROM " WHERE "   \
	"id = $1 AND status IN ('failed', 'cancelled') RETURNING " NOTICE_COLS \
	    RETRY_RETURNING "), " COUNT_RETRIED " SELECT " NOTICE_SEND         \
	" FROM r, cnt"
/*
 * The keyed new-job notice of a statement that makes a row pending: its
 * RETURNING columns, then the pg_notify of CTE r (job.h
 * job_notice_parse).
 */
#define NOTICE_COLS "type, priority, " MS("fair_at") " AS at"
#define NOTICE_SEND                                                            \
	"pg_notify('" JOB_CHANNEL_NEW "', r.type || '@' || r.priority || "     \
	"'@' || r.at)"
#define FENCE                                                                  \
	" WHERE id = $1 AND status = 'processing' AND lease_owner = $2 AND "   \
	"lease_epoch = $3::int8"

/* Fills j from row of r; the columns are JOB_COLS. */
enum sj_err job_from_row(const PGresult *r, int row, struct job *j) SJ_WUR;
/* Reads every row of r into a new list. */
enum sj_err job_rows(const PGresult *r, struct job_list *out) SJ_WUR;
/* Runs a keyed or fenced UPDATE; zero rows changed is miss. */
enum sj_err job_update(struct db *db, const struct db_stmt *st,
		       const char *const *params, enum sj_err miss,
		       PGresult **res) SJ_WUR;
/* After zero rows changed: SJ_ENOTFOUND or SJ_ECONFLICT. */
enum sj_err job_missing_or_conflict(struct db *db, const char *id) SJ_WUR;

#endif
