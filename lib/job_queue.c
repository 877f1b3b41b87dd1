/*
 * The queue side of the job core: claiming with SKIP LOCKED and leases,
 * heartbeats that renew leases, and the maintenance pass that rescues
 * jobs of dead workers and fails overdue ones.  See job.c's DESIGN.
 *
 * DESIGN (fair share, schema 016)
 * Within a priority, claims alternate between owners (a user; an
 * anonymous caller's client) by their share (users.share).  Start-time
 * fair queuing with the tag computed at insert: a trigger gives each
 * job fair_at = greatest(now(), the owner's latest pending tag at that
 * priority + 1 h / share), a job with no owner its creation time, and
 * the claim orders by (priority, fair_at, id) instead of (priority,
 * run_at, id).  Every statement that moves run_at later moves the tag
 * to it at least (fair_at = greatest(fair_at, run_at)), so a job not
 * yet due never sits in front of due ones and the index is on the plain
 * column (on the expression greatest(fair_at, run_at) a claim was 7-15%
 * slower).  The claim stays the one statement and
 * the one range scan of jobs_claim_idx per type it was; all the
 * fairness work is one index descent per insert (jobs_fair_user_idx /
 * jobs_fair_client_idx).  No trigger on UPDATE: any BEFORE ROW UPDATE
 * trigger on jobs, even one whose columns a statement does not touch,
 * makes every UPDATE fetch and lock each row once more before the
 * update itself (PostgreSQL's GetTupleForTrigger; a claim of 100 read
 * 1,320 buffers instead of 1,220, about 10% of its rate).
 * Rejected: choosing the owner at claim time (a scan per owner, or a
 * window over every pending row, in each claim) and a global virtual
 * clock row that each claim would update (one hot row serializing
 * every worker's claims).  Without priority order (enablePriorityProcessing
 * false) the claim orders by fair_at alone: owners still alternate and
 * priorities do not count, but tags chain per owner and priority (a
 * tag is fixed at insert; the trigger cannot see this process setting),
 * so one owner's jobs run first-in first-out only within one priority,
 * i.e. one type's (JOB_<TYPE>_PRIORITY): its jobs of k types of
 * different priorities start k chains, each at now().  A retry is
 * tagged as an insert is, behind the owner's pending jobs; a job not
 * yet due (deferred, backing off) is not its owner's latest tag.  See
 * sql/016 for why.  job_claim() returns its batch in the claim's order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "job_internal.h"
#include "log.h"

/*
 * Per type with free slots, the first due pending jobs by the index
 * jobs_claim_idx (type, priority, fair_at, id); then the best of those
 * overall.  run_at <= now() is a filter: a row not yet due has its tag
 * >= run_at (016), so it sits behind the due rows tagged before now.  SKIP
 * LOCKED lets any number of workers claim at once without waiting on each
 * other.  No other index may serve these predicates: the statistics of a
 * healthy queue say pending rows are rare, and then the planner took
 * any such index for cheaper, read every due job through it and sorted
 * them all, each claim (sql/021; tests/unit/test_plans.c).
 *
 * The update finds the rows it locked by their tuple ids (a Tid Scan),
 * not by joining the chosen ids back to the table: for that join the
 * planner hashed a sequential scan of the whole table whenever it held
 * fewer than about 100,000 rows (measured at 20,000: 8-11 ms a claim of
 * 260 jobs instead of 2.4-3.2; at 200,000 the key lookups took 4-5.5).
 * A locked row cannot move before the update.  A row whose locked
 * version is newer than the statement's snapshot is not updated (the
 * lock ends with the statement): it stays pending for the next claim.
 */
#define CLAIM_SQL(order, from)                                                 \
	"WITH cand AS (SELECT c.tid FROM unnest($1::text[], $2::int4[], "      \
	"$6::int4[], $7::int8[]) AS t(type, cap, fp, fr) CROSS JOIN LATERAL "  \
	"(SELECT j.ctid AS tid, j.id, j.priority, j.fair_at AS tag "           \
	"FROM jobs j WHERE "                                                   \
	"j.status = 'pending' AND j.type = t.type AND j.run_at <= now()" from  \
	" ORDER BY " order                                                     \
	" LIMIT t.cap FOR UPDATE SKIP LOCKED) c ORDER BY " order               \
	" LIMIT $3::int4) UPDATE jobs j SET "                                  \
	"status = 'processing', lease_owner = $4, lease_epoch = "              \
	"j.lease_epoch + 1, lease_expires_at = now() + make_interval(secs => " \
	"$5::int8), claimed_at = now(), started_at = coalesce(j.started_at, "  \
	"now()), updated_at = now() WHERE j.ctid = ANY (ARRAY(SELECT tid "     \
	"FROM cand)) RETURNING " JOB_COLS_OF("j.")

/* an index condition on jobs_claim_idx: the scan starts there */
#define CLAIM_FROM                                                             \
	" AND (j.priority, j.fair_at) >= (t.fp, "                              \
	"timestamptz 'epoch' + t.fr * interval '1 ms')"
static const struct db_stmt st_claim_prio = {
    "job_claim_prio", CLAIM_SQL("priority, tag, id", CLAIM_FROM), 7};
/* the index does not serve this order: from[] is not used */
static const struct db_stmt st_claim_fifo = {"job_claim_fifo",
					     CLAIM_SQL("tag, id", ""), 7};

/* The claim's order without priority: (tag, id). */
static int
claim_cmp_fifo(const void *pa, const void *pb)
{
	const struct job *a = pa, *b = pb;

	if (a->fair_at_ms != b->fair_at_ms)
		return a->fair_at_ms < b->fair_at_ms ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* The claim's order: (priority, tag, id). */
static int
claim_cmp_prio(const void *pa, const void *pb)
{
	const struct job *a = pa, *b = pb;

	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	return claim_cmp_fifo(pa, pb);
}

enum sj_err
job_claim(struct db *db, const struct cfg *c, const char *worker,
	  const int free[JOB_TYPE_MAX], int max, const struct claim_from *from,
	  struct job_list *out)
{
	char types[160], caps[96], lim[16], lease_s[24], fp[96], fr[192];
	const char *params[7];
	size_t tl = 1, cl = 1, pl = 1, rl = 1;
	PGresult *r = NULL;
	enum sj_err e;
	int offered = 0;

	out->jobs = NULL;
	out->n = 0;
	types[0] = caps[0] = fp[0] = fr[0] = '{';
	for (int t = 0; t < JOB_TYPE_MAX; t++) {
		struct claim_from f = from != NULL ? from[t] : CLAIM_FROM_START;

		if (free[t] <= 0)
			continue;
		tl += (size_t)snprintf(types + tl, sizeof(types) - tl, "%s%s",
				       offered ? "," : "", job_type_name(t));
		cl += (size_t)snprintf(caps + cl, sizeof(caps) - cl, "%s%d",
				       offered ? "," : "", free[t]);
		pl += (size_t)snprintf(fp + pl, sizeof(fp) - pl, "%s%d",
				       offered ? "," : "", f.priority);
		rl += (size_t)snprintf(fr + rl, sizeof(fr) - rl, "%s%lld",
				       offered ? "," : "",
				       (long long)f.fair_at_ms);
		offered++;
	}
	if (offered == 0 || max <= 0)
		return SJ_OK;
	snprintf(types + tl, sizeof(types) - tl, "}");
	snprintf(caps + cl, sizeof(caps) - cl, "}");
	snprintf(fp + pl, sizeof(fp) - pl, "}");
	snprintf(fr + rl, sizeof(fr) - rl, "}");
	snprintf(lim, sizeof(lim), "%d", max);
	snprintf(lease_s, sizeof(lease_s), "%lld", (long long)c->lease_seconds);
	params[0] = types;
	params[1] = caps;
	params[2] = lim;
	params[3] = worker;
	params[4] = lease_s;
	params[5] = fp;
	params[6] = fr;
	/*
	 * Planned for the call: a generic plan does not know LIMIT $3 and
	 * guessed thousands of rows, joining them to a sequential scan of
	 * the whole table (measured: 149 ms for 250 jobs at 212,000 rows).
	 */
	e = db_exec_planned(db,
			    c->features[FEAT_PRIORITY_PROCESSING]
				? &st_claim_prio
				: &st_claim_fifo,
			    params, &r);
	if (e != SJ_OK)
		return e;
	e = job_rows(r, out);
	PQclear(r);
	/* RETURNING gives the rows in the table's order, not the claim's */
	if (e == SJ_OK && out->n > 1)
		qsort(out->jobs, out->n, sizeof(out->jobs[0]),
		      c->features[FEAT_PRIORITY_PROCESSING] ? claim_cmp_prio
							    : claim_cmp_fifo);
	return e;
}

/*
 * Renews the leases of the jobs the worker holds.  A row locked by
 * another statement (its completion, a progress write, a cancel) is
 * skipped, not waited for: it is renewed at the next beat if it is still
 * ours, and a heartbeat that waited could deadlock with a batch
 * completion locking the same rows in another order (seen under load).
 * The rows are found by their ids alone (jobs_pkey: a few versions per
 * id) and checked once locked: with the status in the scan's predicate
 * the planner read jobs_processing_idx by lease owner, which under a
 * pinned snapshot walks an entry for every job the worker claimed since
 * the pin (12-14 ms a heartbeat in the bench's pinned phase).
 */
static const struct db_stmt st_heartbeat = {
    "job_heartbeat",
    "WITH w AS (INSERT INTO workers (id, host, pid, jobs_in_hand, "
    "mem_used_pct) VALUES ($1, $2, $3::int4, $4::int4, nullif($5::int2, -1)) "
    "ON CONFLICT (id) DO UPDATE SET last_heartbeat = now(), jobs_in_hand = "
    "excluded.jobs_in_hand, mem_used_pct = excluded.mem_used_pct RETURNING "
    "id), mine AS (SELECT id, status, lease_owner FROM jobs WHERE id = "
    "ANY($7::text[]) FOR UPDATE SKIP LOCKED) UPDATE jobs j SET "
    "lease_expires_at = now() + make_interval(secs => $6::int8) FROM mine, "
    "w WHERE j.id = mine.id AND mine.status = 'processing' AND "
    "mine.lease_owner = w.id",
    7};

enum sj_err
job_heartbeat(struct db *db, const struct worker_beat *b)
{
	char pid[24], inhand[16], mem[16], lease_s[24];
	const char *params[7];

	snprintf(pid, sizeof(pid), "%ld", b->pid);
	snprintf(inhand, sizeof(inhand), "%d", b->jobs_in_hand);
	snprintf(mem, sizeof(mem), "%d", b->mem_used_pct);
	snprintf(lease_s, sizeof(lease_s), "%lld", (long long)b->lease_s);
	params[0] = b->id;
	params[1] = b->host;
	params[2] = pid;
	params[3] = inhand;
	params[4] = mem;
	params[5] = lease_s;
	params[6] = b->job_ids ? b->job_ids : "{}";
	return db_exec(db, &st_heartbeat, params, NULL);
}

static const struct db_stmt st_worker_gone = {
    "job_worker_gone", "DELETE FROM workers WHERE id = $1", 1};

enum sj_err
job_worker_gone(struct db *db, const char *worker)
{
	const char *params[1] = {worker};

	return db_exec(db, &st_worker_gone, params, NULL);
}

/*
 * Expired leases (the worker died) go back to pending, unless the job has
 * been abandoned JOB_RESCUES_MAX times: then it fails rather than crash
 * workers forever.  Jobs past their timeout fail with JOB_TIMEOUT.  The
 * two sets are disjoint, so no row is updated twice in the statement.
 * Rows another statement has locked are left for the next pass rather
 * than waited for, so passes of several workers never deadlock.  The
 * jobs failed here are counted in job_counters by the same statement; a
 * rescue (back to pending) is not a retry of job_retries: no attempt
 * failed.
 */
#define JOB_RESCUES_MAX "5"
#define OVERDUE		"claimed_at + make_interval(secs => timeout_s) < now()"
#define GIVE_UP		"rescues + 1 > " JOB_RESCUES_MAX
/* clang-format off */
static const struct db_stmt st_maintain = {
    "job_maintain",
    "WITH due AS (SELECT id FROM jobs WHERE status = 'processing' AND "
    "(lease_expires_at < now() OR " OVERDUE ") FOR UPDATE SKIP LOCKED), "
    "exp AS (UPDATE jobs SET status = CASE WHEN " GIVE_UP " THEN "
    "'failed' ELSE 'pending' END, rescues = rescues + 1, run_at = now(), "
    "fair_at = greatest(fair_at, now()), "
    "lease_owner = NULL, lease_expires_at = NULL, updated_at = now(), "
    "completed_at = CASE WHEN " GIVE_UP " THEN now() END, error_code = CASE "
    "WHEN " GIVE_UP " THEN 'JOB_FAILED' ELSE error_code END, error_message = "
    "CASE WHEN " GIVE_UP " THEN 'Job was abandoned by its workers too many "
    "times' ELSE error_message END WHERE id IN (SELECT id FROM due) AND "
    "lease_expires_at < now() AND NOT (" OVERDUE ") RETURNING status, type, "
    "user_id, client, error_code), "
    "tmo AS (UPDATE jobs SET status = 'failed', error_code = 'JOB_TIMEOUT', "
    "error_message = 'Job exceeded maximum processing time', completed_at = "
    "now(), updated_at = now(), lease_owner = NULL, lease_expires_at = NULL "
    "WHERE id IN (SELECT id FROM due) AND " OVERDUE " RETURNING id, type, "
    "user_id, client), "
    "c AS (" COUNT_FINISHED("(SELECT type FROM exp WHERE status = 'failed' "
			    "UNION ALL SELECT type FROM tmo) x",
			    "failed") "), "
    COUNT_DONE("(SELECT type, user_id, client, 'failed' AS outcome, "
	       "error_code AS code, NULL::timestamptz AS started_at FROM exp "
	       "WHERE status = 'failed' UNION ALL SELECT type, user_id, client, "
	       "'failed', 'JOB_TIMEOUT', NULL FROM tmo) x") ", "
    "n AS (SELECT count(*) FILTER (WHERE status = 'pending') AS requeued, "
    "count(*) FILTER (WHERE status = 'failed') AS abandoned FROM exp) "
    "SELECT n.requeued, n.abandoned, (SELECT count(*) FROM tmo), CASE WHEN "
    "n.requeued > 0 THEN pg_notify('" JOB_CHANNEL_NEW "', 'rescued') END "
    "FROM n, cnt",
    0};
/* clang-format on */

/*
 * Rows of workers silent for a day (crashed, their jobs long rescued),
 * owners with no live job left (a start counting at the same moment makes
 * the row again: the DELETE re-reads a row changed under it), and the
 * minutes and hours of finished jobs the health route no longer reads
 * (018).
 */
static const struct db_stmt st_forget = {
    "job_forget",
    "WITH w AS (DELETE FROM workers WHERE last_heartbeat < now() - "
    "interval '1 day'), o AS (DELETE FROM job_owner_live WHERE n = 0), "
    "m AS (DELETE FROM job_finished_minutes WHERE minute < now() - "
    "interval '25 hours') DELETE FROM job_finished_hours WHERE hour < "
    "now() - interval '26 hours'",
    0};

static const struct db_stmt st_recount = {"job_recount",
					  "SELECT jobs_live_recount()", 0};
/* the same, once every 10 minutes of all callers together (018) */
static const struct db_stmt st_recount_due = {
    "job_recount_due", "SELECT jobs_live_recount_due()", 0};

/* job_recount(), or with due, only when 10 minutes have passed. */
static enum sj_err
recount(struct db *db, bool due, long long *fixed)
{
	PGresult *r = NULL;
	enum sj_err e;

	if ((e = db_exec(db, due ? &st_recount_due : &st_recount, NULL, &r)) !=
	    SJ_OK)
		return e;
	*fixed = db_ll(r, 0, 0, 0);
	PQclear(r);
	if (*fixed != 0)
		log_kv(LOG_LVL_WARN, NULL, NULL, "live counts corrected",
		       LOG_INT("counts", *fixed));
	return SJ_OK;
}

enum sj_err
job_recount(struct db *db, long long *fixed)
{
	return recount(db, false, fixed);
}

enum sj_err
job_maintain(struct db *db, struct job_maint *out)
{
	long long fixed = 0;
	PGresult *r = NULL;
	enum sj_err e;

	memset(out, 0, sizeof(*out));
	if ((e = db_exec(db, &st_forget, NULL, NULL)) != SJ_OK ||
	    (e = recount(db, true, &fixed)) != SJ_OK ||
	    (e = db_exec(db, &st_maintain, NULL, &r)) != SJ_OK)
		return e;
	out->requeued = (long)db_ll(r, 0, 0, 0);
	out->abandoned = (long)db_ll(r, 0, 1, 0);
	out->timed_out = (long)db_ll(r, 0, 2, 0);
	PQclear(r);
	if (out->requeued || out->abandoned || out->timed_out)
		log_kv(LOG_LVL_INFO, NULL, NULL, "maintenance",
		       LOG_INT("requeued", out->requeued),
		       LOG_INT("abandoned", out->abandoned),
		       LOG_INT("timed_out", out->timed_out));
	return SJ_OK;
}

enum sj_err
job_listen(struct db *db)
{
	return db_exec_simple(db, "LISTEN " JOB_CHANNEL_NEW
				  "; LISTEN " JOB_CHANNEL_CANCEL);
}

static const struct db_stmt st_force = {
    "job_force",
    "UPDATE jobs SET run_at = now(), fair_at = least(fair_at, now()), "
    "priority = 0, updated_at = now() WHERE id = $1 AND status = 'pending' "
    "AND (run_at > now() OR fair_at > now() OR priority <> 0)",
    1};

enum sj_err
job_force(struct db *db, const char *id)
{
	const char *p[1] = {id};

	return db_exec(db, &st_force, p, NULL);
}

static const struct db_stmt st_wake = {
    "job_wake",
    "WITH due AS (SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE "
    "status = 'pending' AND run_at <= now() AND type = ANY($1::text[]) "
    "LIMIT $2::int) s) SELECT due.n, (SELECT count(*) FROM jobs WHERE "
    "status = 'pending'), CASE WHEN due.n > 0 THEN pg_notify('" JOB_CHANNEL_NEW
    "', 'tick') END FROM due",
    2};

enum sj_err
job_wake(struct db *db, const char *types, int64_t max, long long *due,
	 long long *depth)
{
	char lim[24];
	const char *p[2] = {types, lim};
	PGresult *r = NULL;
	enum sj_err e;

	snprintf(lim, sizeof(lim), "%lld", (long long)max);
	if ((e = db_exec(db, &st_wake, p, &r)) != SJ_OK)
		return e;
	*due = db_ll(r, 0, 0, 0);
	*depth = db_ll(r, 0, 1, 0);
	PQclear(r);
	return SJ_OK;
}
