/*
 * The job core: every state change of a job is one short, fenced SQL
 * statement here.  The jobs table is the truth; NOTIFY is only a hint.
 *
 * Life of a job:
 *   job_start      -> pending (NOTIFY JOB_CHANNEL_NEW after commit)
 *   job_claim      -> processing, lease_owner = worker, lease_epoch + 1
 *   job_update_progress / job_save_checkpoint (fenced, renew the lease)
 *   job_complete   -> completed
 *   job_fail       -> pending again at run_at (transient, budget left)
 *                     or failed (permanent, or out of attempts)
 *   job_release    -> pending (worker shutting down; no attempt spent)
 *   job_defer      -> pending at run_at later (waiting on a provider's
 *                     budget; no attempt spent, checkpoint kept)
 *   job_cancel     -> cancelled (NOTIFY JOB_CHANNEL_CANCEL)
 *   job_retry      -> pending (from failed or cancelled)
 *   job_maintain   -> expired leases back to pending, overdue jobs failed
 *                     with JOB_TIMEOUT
 *
 * Fencing: a worker's writes carry (job id, worker id, lease epoch) and
 * require status = 'processing'.  A worker that lost its lease, or whose
 * job was cancelled or timed out meanwhile, updates zero rows and gets
 * SJ_ELOST: it must drop the job without further writes.
 */
#ifndef SJ_JOB_H
#define SJ_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cfg.h"
#include "db.h"
#include "err.h"
#include "job_caps.h"

#define JOB_CHANNEL_NEW	   "storyjobs_new"
#define JOB_CHANNEL_CANCEL "storyjobs_cancel"

/* "job_" + 13 digits of ms + "_" + 20 chars of base32 (100 bits). */
#define JOB_ID_MAX 48

enum job_status {
	JOB_PENDING = 0,
	JOB_PROCESSING,
	JOB_COMPLETED,
	JOB_FAILED,
	JOB_CANCELLED,
	JOB_STATUS_MAX
};

struct job {
	char id[JOB_ID_MAX];
	enum job_type type;
	enum job_status status;
	int progress;	     /* 0..100 */
	char *current_step;  /* NULL when none */
	int64_t user_id;     /* 0: anonymous */
	int priority;	     /* lower runs first */
	int attempts;	     /* failed attempts so far */
	int max_attempts;    /* 1 + the type's max retries */
	int64_t lease_epoch; /* fence token of the current claim */
	int64_t timeout_s;
	struct json_object *input;	/* never NULL after a read */
	struct json_object *result;	/* NULL until completed */
	struct json_object *checkpoint; /* NULL until a step saved one */
	char *error_code;		/* NULL unless failed */
	char *error_message;
	int64_t created_ms; /* unix ms; 0 means unset */
	int64_t updated_ms;
	int64_t started_ms;
	int64_t completed_ms;
	int64_t run_at_ms;
	int64_t fair_at_ms; /* the fair-share start tag (schema 016) */
};

/* Identifies the claim a worker holds; all strings borrowed. */
struct job_lease {
	const char *job_id;
	const char *worker_id;
	int64_t epoch;
};

struct job_filter {
	int64_t user_id; /* 0: any user */
	int has_status;
	enum job_status status;
	int has_type;
	enum job_type type;
	int limit;	    /* 1..100 */
	const char *before; /* job id cursor, or NULL */
};

struct job_list {
	struct job *jobs;
	size_t n;
};

/* What a worker reports with each heartbeat. */
struct worker_beat {
	const char *id;
	const char *host;
	long pid;
	int jobs_in_hand;
	int mem_used_pct;    /* host memory in use, -1 unknown */
	int64_t lease_s;     /* renew leases for this long */
	const char *job_ids; /* array literal "{id,...}" of the
				jobs still in hand: only these
				leases are renewed */
};

/* What one maintenance pass did. */
struct job_maint {
	long requeued;	/* expired leases back to pending */
	long abandoned; /* expired leases failed: no budget */
	long timed_out; /* processing too long: failed */
};

const char *job_status_name(enum job_status s);
enum sj_err job_status_parse(const char *s, enum job_status *out) SJ_WUR;
bool job_status_terminal(enum job_status s);

/* Writes a fresh id (RAND_bytes) into out. */
enum sj_err job_id_new(char out[JOB_ID_MAX]) SJ_WUR;
/* True when s matches ^job_[0-9]+_[a-z0-9]+$ and fits JOB_ID_MAX. */
bool job_id_valid(const char *s);

/* The typed inputs, their limits and the API's check of a start request. */
#include "job_input.h"

/* SJ_ENOTFOUND when no such job. */
enum sj_err job_get(struct db *db, const char *id, struct job *out) SJ_WUR;
enum sj_err job_list(struct db *db, const struct job_filter *f,
		     struct job_list *out) SJ_WUR;

/*
 * Sets progress (clamped to 0..100) and the step text, and the status to
 * processing.  With a lease the write is fenced and renews the lease;
 * without one it applies to any pending or processing job (admin and
 * tests).  SJ_ELOST: fenced out.  SJ_ENOTFOUND: no live job of that id.
 */
enum sj_err job_update_progress(struct db *db, const struct cfg *c,
				const char *id, const struct job_lease *lease,
				int progress, const char *step) SJ_WUR;
/* Stores the step outputs so far (fenced; renews the lease). */
enum sj_err job_save_checkpoint(struct db *db, const struct cfg *c,
				const struct job_lease *lease,
				struct json_object *checkpoint) SJ_WUR;
/* Marks the job completed with result (borrowed); progress 100. */
enum sj_err job_complete(struct db *db, const struct job_lease *lease,
			 struct json_object *result, const char *step) SJ_WUR;
/* One completion of job_complete_batch(). */
struct job_done {
	const char *job_id;
	int64_t epoch;
	const char *result; /* JSON text */
	const char *step;   /* NULL keeps the current step */
	bool done;	    /* out: completed (else fenced out) */
};
/*
 * Completes n jobs of worker in one statement, each fenced as
 * job_complete() fences it; d[i].done says which were still ours.  An
 * error means none was written (the statement is atomic).
 */
enum sj_err job_complete_batch(struct db *db, const char *worker, size_t n,
			       struct job_done *d) SJ_WUR;
/*
 * Records a failure.  transient and budget left: pending again with
 * run_at = now + min(2^attempts s, 60 s) + up to 25% jitter, or
 * retry_after_s if that is later (an upstream's Retry-After).  Otherwise
 * failed with code and msg.  *out_status (may be NULL) says which;
 * *out_delay_ms (may be NULL) the ms until that run_at when pending
 * again (0 otherwise), for the failing worker to claim it then: no
 * notice announces a retry's backoff.
 */
enum sj_err job_fail(struct db *db, const struct job_lease *lease,
		     bool transient, long retry_after_s, const char *code,
		     const char *msg, enum job_status *out_status,
		     int64_t *out_delay_ms) SJ_WUR;
/* Gives the job back untouched (shutdown): pending, no attempt spent. */
enum sj_err job_release(struct db *db, const struct job_lease *lease) SJ_WUR;
/*
 * Gives the job back to run again in delay_ms (clamped to 0 ..
 * JOB_DEFER_MAX_MS): pending, no attempt spent, checkpoint and progress
 * kept, current_step set to step unless NULL.  For a job that waits on
 * something outside it (a provider's rate limit).  Fenced like
 * job_release(): SJ_ELOST when the lease is no longer ours.
 */
#define JOB_DEFER_MAX_MS (24LL * 3600 * 1000)
enum sj_err job_defer(struct db *db, const struct job_lease *lease,
		      int64_t delay_ms, const char *step) SJ_WUR;

/*
 * Cancels a pending or processing job.  SJ_ECONFLICT if terminal.
 * *out_status (may be NULL) receives the new status.
 */
enum sj_err job_cancel(struct db *db, const char *id,
		       enum job_status *out_status) SJ_WUR;
/* failed|cancelled -> pending with a fresh budget; SJ_ECONFLICT else. */
enum sj_err job_retry(struct db *db, const char *id) SJ_WUR;

/*
 * Where the claim scan of a type starts: at (priority, fair_at) when the
 * caller knows every due pending job before that point was claimed a
 * moment ago; priority -1 means the beginning.  The rows claimed earlier
 * leave dead entries at the head of the claim index until VACUUM, and
 * under a sustained load a scan from the beginning spends most of its
 * time stepping over them (measured: 3.6 ms before the first row behind
 * 110,000 of them, 0.14 ms after a VACUUM).  The point is the last
 * claimed job's own key (claim_from_after), which with one owner's
 * backlog is hours ahead of now(): a job that becomes pending behind it
 * is seen by its notice (job_notice_parse) or by the next rewind:
 *   start (job_start)              keyed notice: the scan is lowered
 *   retry (API, admin, storyjobsctl) keyed notice
 *   release                        keyed notice
 *   rescue (job_maintain)          "rescued": full rewind
 *   force (cron tick)              the tick's "tick": full rewind
 *   defer                          the deferring worker's wake-up at
 *                                  run_at (full rewind); others' poll tick
 *   job_fail's backoff             the failing worker's wake-up at run_at
 *                                  (full rewind); others' poll tick
 *   INSERT without notice, a row   every worker's poll tick (full rewind)
 *   skipped as locked by a claim
 */
struct claim_from {
	int priority;
	int64_t fair_at_ms;
};
#define CLAIM_FROM_START ((struct claim_from){-1, 0})

/*
 * Where the next scan of j's type may start once j was the last of its
 * claim: j's (priority, tag).
 */
static inline struct claim_from
claim_from_after(const struct job *j)
{
	return (struct claim_from){j->priority, j->fair_at_ms};
}

/* Whether point a is before b: (priority, tag) order. */
static inline bool
claim_from_before(struct claim_from a, struct claim_from b)
{
	return a.priority != b.priority ? a.priority < b.priority
					: a.fair_at_ms < b.fair_at_ms;
}

/*
 * A new-job notice's payload: "type@priority@tag" (tag in unix ms) is
 * a job of that type made pending at that key, and true with *t and *at
 * set; anything else (a type alone, "rescued", "tick") false, and *t
 * the type when payload is one (else JOB_TYPE_MAX): the receiver scans
 * every type it names from the start.  A priority past
 * JOB_NOTICE_PRIORITY_MAX (smallint) or a tag past JOB_NOTICE_TAG_MAX
 * (9999-12-31T23:59:59.999Z) is no key either: any role may notify.
 */
#define JOB_NOTICE_PRIORITY_MAX 32767
#define JOB_NOTICE_TAG_MAX	253402300799999LL
bool job_notice_parse(const char *payload, enum job_type *t,
		      struct claim_from *at);

/*
 * Claims up to max due pending jobs, at most free[t] of each type t,
 * ordered by priority (when enablePriorityProcessing) then fair_at (the
 * fair-share start tag: owners alternate, by their share), with
 * FOR UPDATE SKIP LOCKED and a lease of c->lease_seconds; with priority
 * order, type t's scan starts at from[t] (from may be NULL: from the
 * start).  *out is a malloced array of *n jobs in that order (caller
 * job_list_free()s).
 */
enum sj_err job_claim(struct db *db, const struct cfg *c, const char *worker,
		      const int free[JOB_TYPE_MAX], int max,
		      const struct claim_from *from,
		      struct job_list *out) SJ_WUR;

/*
 * Upserts the worker row and renews the leases of the jobs in hand.  A
 * job the worker gave up on is not in b->job_ids, so its lease runs out
 * and another worker rescues it.
 */
enum sj_err job_heartbeat(struct db *db, const struct worker_beat *b) SJ_WUR;
/* Removes the worker row at a clean exit. */
enum sj_err job_worker_gone(struct db *db, const char *worker) SJ_WUR;

/*
 * One maintenance pass: expired leases go back to pending (or fail when
 * the job was abandoned too often), jobs processing past their timeout
 * fail with JOB_TIMEOUT; every 10 minutes, job_recount().  Safe to run
 * from many places at once.
 */
enum sj_err job_maintain(struct db *db, struct job_maint *out) SJ_WUR;
/*
 * Sets the live counts (sql/018) to what the rows say, while everything
 * runs; *fixed is how many counts were wrong (0 unless a status was
 * changed by hand).
 */
enum sj_err job_recount(struct db *db, long long *fixed) SJ_WUR;

/* LISTENs on JOB_CHANNEL_NEW and JOB_CHANNEL_CANCEL (this session). */
enum sj_err job_listen(struct db *db) SJ_WUR;
/*
 * Moves pending job id to the front of the queue: due now, priority 0.
 * A job not pending, or already there, is left as it is (not an error).
 */
enum sj_err job_force(struct db *db, const char *id) SJ_WUR;
/*
 * The cron tick's wake-up, one statement: *due receives how many pending
 * jobs of types (a text[] literal) are due now, counting at most max;
 * *depth how many jobs are pending in all; when any are due, one NOTIFY
 * 'tick' on JOB_CHANNEL_NEW hands them to the workers.
 */
enum sj_err job_wake(struct db *db, const char *types, int64_t max,
		     long long *due, long long *depth) SJ_WUR;

/* Seconds left by the type's estimate and the progress; >= 0. */
int64_t job_estimated_remaining(const struct cfg *c, const struct job *j);

/* The status document of CONTRACT section 2 (new reference or NULL). */
struct json_object *job_status_json(const struct cfg *c, const struct job *j);

/* Formats unix ms as 2026-11-24T19:58:01.123Z. */
void job_iso8601(int64_t ms, char out[32]);

/* A start request of the HTTP API. */
struct job_start {
	enum job_type type;
	struct json_object *norm; /* validated input, borrowed */
	int64_t user_id;	  /* 0: anonymous (no quota) */
	const char *idem_key;	  /* Idempotency-Key, or NULL */
	int64_t max_active;	  /* pending+processing cap; <= 0 none */
	/* an anonymous caller (user_id 0); all unused for a user */
	const char *client; /* client_key() of the caller, or NULL */
	int64_t client_max; /* the client's live jobs cap; <= 0 none */
	int64_t anon_max;   /* all clients' live jobs cap; <= 0 none */
	int rate_limit;	    /* the client's starts per window; <= 0 none */
	int rate_window_s;  /* that window */
	int *retry_after_s; /* out with SJ_ELIMIT (may be NULL) */
};

/*
 * Inserts a pending job for the validated input s->norm and sends one
 * NOTIFY after it commits, in a transaction of its own in the same round
 * trip (db_exec_then; a NOTIFY inside the insert's transaction would
 * serialize every creation's commit).  With a user, the per-user quota
 * and idempotency key hold race-free (one statement, sql/019's
 * jobs_start, behind a per-user advisory lock); with an anonymous
 * client, its cap, its rate limit and its keys likewise (behind a
 * per-client lock).  A key is scoped to the
 * caller (the user, or the anonymous client) and the type, and bound to
 * the SHA-256 of the canonical input: the same key and input give back
 * that job with *reused set (spending nothing), the same key with
 * another input is SJ_EINVAL.  Then the first refusal of: all anonymous
 * clients together at s->anon_max live jobs (SJ_ELIMIT), the user or
 * client at its cap (SJ_EQUOTA), the client at its rate limit
 * (SJ_ELIMIT); *s->retry_after_s with SJ_ELIMIT.  A refused start writes
 * nothing and spends nothing.
 */
enum sj_err job_start(struct db *db, const struct cfg *c,
		      const struct job_start *s, struct job *out,
		      bool *reused) SJ_WUR;
/*
 * job_retry() for the HTTP API, which counts a retry as a start: the
 * job's owner must be below s->max_active (a user's job) or its client
 * below s->client_max (an anonymous job), and an anonymous caller
 * (s->client) spends one of its starts.  s->type, norm, idem_key and
 * user_id are unused.  SJ_ECONFLICT: not failed or cancelled;
 * SJ_EQUOTA, SJ_ELIMIT as for job_start(), nothing changed.
 */
enum sj_err job_retry_start(struct db *db, const char *id,
			    const struct job_start *s) SJ_WUR;
/* The user's jobs by status (every status, zero when none). */
enum sj_err job_counts(struct db *db, int64_t user_id,
		       long counts[JOB_STATUS_MAX]) SJ_WUR;
/* Deletes a job that is not processing; SJ_ECONFLICT if it is. */
enum sj_err job_delete(struct db *db, const char *id) SJ_WUR;
/*
 * {counts:{type:{status:n}}, successRates:{type:pct},
 * averageProcessingTimes:{type:s}, workers:[...]} (caller puts).
 */
enum sj_err job_stats(struct db *db, struct json_object **out) SJ_WUR;
/*
 * Parses ?status=&type=&limit=&before=(&user= when allow_user) into f;
 * before is its cursor storage.  SJ_EINVAL with *msg for a bad value.
 */
enum sj_err job_filter_parse(const char *query, bool allow_user,
			     struct job_filter *f, char before[JOB_ID_MAX],
			     const char **msg) SJ_WUR;
/* A list item {jobId, jobType, status, ...} (+ userId); new or NULL. */
struct json_object *job_item_json(const struct cfg *c, const struct job *j,
				  bool with_user);

void job_free(struct job *j);
void job_list_free(struct job_list *l);

#endif
