/*
 * DESIGN
 * The quotas and the sweep are sql/011's functions and triggers; this file
 * names the owner, passes the caps and removes the files.
 *
 *  - An upload is recorded (upload_admit) before its file is written, so
 *    concurrent uploads cannot together pass a quota and a file never
 *    exists unrecorded.  A failed write deletes the record again.
 *  - The sweep deletes at most SWEEP_BATCH rows a statement (the rows it
 *    takes are locked, others skipped), then removes their files where
 *    store_upload() put them (MEDIA_DIR, or the bucket with STORAGE=s3:
 *    a signed DELETE each, after the statement, never inside it).  A row
 *    whose file was already gone is fine; a file whose removal fails is
 *    logged by name and left (its row is gone, so no quota counts it any
 *    more).
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "upload.h"

#define SWEEP_BATCH	  500
#define SWEEP_BATCHES_MAX 20

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

/* $1: the grace in hours; the oldest first, locked rows skipped. */
static const struct db_stmt st_sweep = {
    "upload_sweep",
    "DELETE FROM uploads WHERE name IN (SELECT name FROM uploads u WHERE "
    "u.created_at < now() - make_interval(hours => $1::int) AND "
    "coalesce(u.used_at, u.created_at) < now() - make_interval(hours => "
    "$1::int) AND NOT EXISTS (SELECT 1 FROM upload_uses x WHERE x.upload "
    "= u.name) ORDER BY u.created_at LIMIT $2::int FOR UPDATE SKIP LOCKED) "
    "RETURNING name",
    2};

/* Removes the upload name; a failure is logged and the file left. */
static void
remove_one(const struct cfg *c, const char *name, long long *left)
{
	enum sj_err e = store_remove(c, name);

	if (e != SJ_OK) {
		log_kv(LOG_LVL_WARN, NULL, NULL,
		       "upload sweep: a file was not removed",
		       LOG_STR("name", name), LOG_STR("error", sj_strerror(e)));
		(*left)++;
	}
}

enum sj_err
upload_sweep(struct db *db, const struct cfg *c, long long *removed)
{
	char hours[24], batch[24];
	const char *p[2] = {hours, batch};
	PGresult *r = NULL;
	enum sj_err e = SJ_OK;
	long long left = 0;
	int n = SWEEP_BATCH;

	*removed = 0;
	snprintf(hours, sizeof(hours), "%lld",
		 (long long)c->upload_orphan_hours);
	snprintf(batch, sizeof(batch), "%d", SWEEP_BATCH);
	for (int b = 0; b < SWEEP_BATCHES_MAX && n == SWEEP_BATCH; b++) {
		if ((e = db_exec(db, &st_sweep, p, &r)) != SJ_OK)
			break;
		n = PQntuples(r);
		for (int i = 0; i < n; i++)
			if (db_str(r, i, 0) != NULL)
				remove_one(c, db_str(r, i, 0), &left);
		*removed += n;
		PQclear(r);
	}
	if (left > 0)
		log_kv(LOG_LVL_WARN, NULL, NULL,
		       "upload sweep: files left in place",
		       LOG_INT("files", left));
	return e;
}
