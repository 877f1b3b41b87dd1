/*
 * System health: the /api/jobs/health document of CONTRACT section 2, the
 * short form the cron tick returns, pruning of finished jobs and the
 * /metrics exposition (whose counters counters.h keeps).
 */
#ifndef SJ_HEALTH_H
#define SJ_HEALTH_H

#include <json-c/json.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "err.h"

enum health_level { HEALTH_OK = 0, HEALTH_WARNING, HEALTH_CRITICAL };

/* Pruning deletes at most this many rows per statement. */
#define HEALTH_PRUNE_BATCH 1000

/*
 * Builds the health document (new reference in *out) and the HTTP status
 * it goes with (503 when critical, else 200).  An unreachable database is
 * not an error: the document says so.  *level (may be NULL) receives the
 * verdict.  SJ_ENOMEM only.
 */
enum sj_err health_build(struct db *db, const struct cfg *c,
			 struct json_object **out, int *http_status) SJ_WUR;
/* health_build() plus the verdict as a level. */
enum sj_err health_build_level(struct db *db, const struct cfg *c,
			       struct json_object **out, int *http_status,
			       enum health_level *level) SJ_WUR;

/* {healthy, message, details:{status, queueDepth, ...}} for the cron tick. */
enum sj_err health_check_short(struct db *db, const struct cfg *c,
			       struct json_object **out) SJ_WUR;

/*
 * Deletes finished jobs that completed more than days ago, in batches of
 * HEALTH_PRUNE_BATCH, at most max_batches batches (0: no limit).  Each
 * batch is one statement with SKIP LOCKED, so concurrent prunes never
 * delete a row twice.  *deleted receives the count.  The /metrics
 * counters of finished jobs are kept apart (counters.h) and stay.
 */
enum sj_err health_prune(struct db *db, int64_t days, long max_batches,
			 long long *deleted) SJ_WUR;

/* Housekeeping beside job_maintain, for `storyjobsctl maintain` and the
 * cron tick: expired sessions deleted, and media_write's temporary files
 * in media_dir older than HEALTH_TMP_MAX_AGE_S removed. */
#define HEALTH_TMP_MAX_AGE_S 3600
struct housekeep {
	long long sessions, tmpfiles;
};
enum sj_err health_housekeep(struct db *db, const char *media_dir,
			     struct housekeep *out) SJ_WUR;

/*
 * Appends the Prometheus text exposition of /metrics to b (one
 * statement over small tables and the live jobs); SJ_ETOOBIG when it
 * outgrows b's cap.
 */
enum sj_err health_metrics(struct db *db, struct buf *b) SJ_WUR;

#endif
