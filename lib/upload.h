/*
 * Uploads as records (sql/011): who stored which file, the storage quotas
 * checked against the bytes actually stored, and the sweep of uploads no
 * job references.  The files themselves are store.h's.
 */
#ifndef SJ_UPLOAD_H
#define SJ_UPLOAD_H

#include <stdint.h>

#include "cfg.h"
#include "db.h"
#include "err.h"

/* The budget an upload would exceed. */
enum upload_verdict {
	UPLOAD_OK,	  /* recorded */
	UPLOAD_OVER_USER, /* UPLOAD_QUOTA_USER_BYTES */
	UPLOAD_OVER_CLIENT,
	UPLOAD_OVER_ANON, /* all anonymous uploads together */
};

/*
 * Records name (bytes long) for user_id, or for client (client.h's key)
 * when user_id is 0,
 * if it fits the owner's quotas (one statement, upload_admit()): *v is
 * UPLOAD_OK and the row exists, or the budget it would exceed and nothing
 * is stored.  Record first, write the file second.
 */
enum sj_err upload_admit(struct db *db, const struct cfg *c, const char *name,
			 int64_t user_id, const char *client, int64_t bytes,
			 enum upload_verdict *v) SJ_WUR;
/* Deletes the record of name (its file could not be written). */
enum sj_err upload_forget(struct db *db, const char *name) SJ_WUR;

/*
 * Deletes the uploads no job references that were neither stored nor
 * used in the last UPLOAD_ORPHAN_HOURS: the file where store_upload()
 * put it (a missing file is fine), then the row, in batches, for at most
 * 15 s.  A file that cannot be removed stops the sweep and keeps its row
 * for the next one.  *removed receives the count of rows deleted.
 */
enum sj_err upload_sweep(struct db *db, const struct cfg *c,
			 long long *removed) SJ_WUR;

#endif
