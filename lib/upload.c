/*
 * DESIGN
 * The quotas and the sweep are sql/011's functions and triggers; this file
 * names the owner, passes the caps and removes the files.
 *
 *  - An upload is recorded (upload_admit) before its file is written, so
 *    concurrent uploads cannot together pass a quota and a file never
 *    exists unrecorded.  A failed write deletes the record again.
 *  - The sweep takes the oldest unused uploads SWEEP_BATCH at a time,
 *    removes each file where store_upload() put it (MEDIA_DIR, or the
 *    bucket with STORAGE=s3: a signed DELETE, outside any transaction),
 *    then deletes its row if it is still unused.  A file already gone is
 *    fine.  A removal that fails stops the sweep with its row kept, so
 *    the next sweep tries again and nothing is left in the bucket
 *    unrecorded; a store that is down costs one failed request, not one
 *    per upload.  A sweep also stops after SWEEP_MS, so the cron tick
 *    that runs it answers within nginx's timeout.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "num.h"
#include "store.h"
#include "upload.h"

#define SWEEP_BATCH	  500
#define SWEEP_BATCHES_MAX 20
#define SWEEP_MS	  15000 /* of removals in one sweep */

static const struct db_stmt st_admit = {
    "upload_admit",
    "SELECT upload_admit($1, nullif($2::int8, 0), CASE WHEN $2::int8 = 0 "
    "THEN $3 END, $4::int8, $5::int8, $6::int8, $7::int8)",
    7};

enum sj_err
upload_admit(struct db *db, const struct cfg *c, const char *name,
	     int64_t user_id, const char *client, int64_t bytes,
	     enum upload_verdict *v)
{
	char uid[24], n[24], ucap[24], ccap[24], acap[24];
	const char *p[7] = {name, uid, client, n, ucap, ccap, acap};
	PGresult *r = NULL;
	const char *s;
	enum sj_err e;

	*v = UPLOAD_OK;
	if (name == NULL || (user_id == 0 && client == NULL) || bytes < 0)
		return SJ_EINVAL;
	snprintf(uid, sizeof(uid), "%lld", (long long)user_id);
	snprintf(n, sizeof(n), "%lld", (long long)bytes);
	snprintf(ucap, sizeof(ucap), "%lld",
		 (long long)c->upload_quota_user_bytes);
	snprintf(ccap, sizeof(ccap), "%lld",
		 (long long)c->upload_quota_client_bytes);
	snprintf(acap, sizeof(acap), "%lld",
		 (long long)c->upload_quota_anon_bytes);
	if ((e = db_exec(db, &st_admit, p, &r)) != SJ_OK)
		return e;
	s = db_str(r, 0, 0);
	if (s == NULL)
		e = SJ_EDB;
	else if (strcmp(s, "user") == 0)
		*v = UPLOAD_OVER_USER;
	else if (strcmp(s, "client") == 0)
		*v = UPLOAD_OVER_CLIENT;
	else if (strcmp(s, "anonymous") == 0)
		*v = UPLOAD_OVER_ANON;
	else if (strcmp(s, "ok") != 0)
		e = SJ_EDB;
	PQclear(r);
	return e;
}

static const struct db_stmt st_forget = {
    "upload_forget", "DELETE FROM uploads WHERE name = $1", 1};

enum sj_err
upload_forget(struct db *db, const char *name)
{
	const char *p[1] = {name};

	return db_exec(db, &st_forget, p, NULL);
}

/*
 * Unused for $1 hours: old, not used lately, named by no job (uses, kept
 * by sql/015's trigger; the partial index uploads_unused_idx).
 */
#define UNUSED                                                                 \
	"u.created_at < now() - make_interval(hours => $1::int) AND "          \
	"coalesce(u.used_at, u.created_at) < now() - make_interval(hours => "  \
	"$1::int) AND u.uses = 0"

/* $2 of them, the oldest first. */
static const struct db_stmt st_sweep_pick = {
    "upload_sweep_pick",
    "SELECT name FROM uploads u WHERE " UNUSED " ORDER BY u.created_at, "
    "u.name LIMIT $2::int",
    2};
/* The row of $2 once its file is gone, if it is still unused. */
static const struct db_stmt st_sweep_drop = {
    "upload_sweep_drop",
    "DELETE FROM uploads u WHERE u.name = $2 AND " UNUSED " RETURNING 1", 2};

/*
 * Removes the file of the upload name, then its row; false when the file
 * could not be removed (logged; the row is kept for the next sweep).
 */
static bool
remove_one(struct db *db, const struct cfg *c, const char *hours,
	   const char *name, long long *removed, enum sj_err *e)
{
	const char *p[2] = {hours, name};
	PGresult *r = NULL;

	if ((*e = store_remove(c, name)) != SJ_OK) {
		log_kv(LOG_LVL_WARN, NULL, NULL,
		       "upload sweep stopped: a file was not removed",
		       LOG_STR("name", name),
		       LOG_STR("error", sj_strerror(*e)));
		return false;
	}
	if ((*e = db_exec(db, &st_sweep_drop, p, &r)) != SJ_OK)
		return false;
	*removed += PQntuples(r);
	PQclear(r);
	return true;
}

enum sj_err
upload_sweep(struct db *db, const struct cfg *c, long long *removed)
{
	char hours[24], batch[24];
	const char *p[2] = {hours, batch};
	int64_t until = num_mono_ms() + SWEEP_MS;
	PGresult *r = NULL;
	enum sj_err e = SJ_OK, fe = SJ_OK;
	bool go = true;
	int n = SWEEP_BATCH;

	*removed = 0;
	snprintf(hours, sizeof(hours), "%lld",
		 (long long)c->upload_orphan_hours);
	snprintf(batch, sizeof(batch), "%d", SWEEP_BATCH);
	for (int b = 0; go && b < SWEEP_BATCHES_MAX && n == SWEEP_BATCH; b++) {
		if ((e = db_exec(db, &st_sweep_pick, p, &r)) != SJ_OK)
			break;
		n = PQntuples(r);
		for (int i = 0; go && i < n; i++)
			go = num_mono_ms() < until && db_str(r, i, 0) != NULL &&
			     remove_one(db, c, hours, db_str(r, i, 0), removed,
					&fe);
		PQclear(r);
	}
	/* a file that stayed is the next sweep's; a database error is ours */
	return e != SJ_OK ? e : fe == SJ_EDB ? fe : SJ_OK;
}