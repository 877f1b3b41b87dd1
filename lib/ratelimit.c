/*
 * DESIGN
 * One statement per hit: sql/019's rate_limit_hit(), the one definition
 * of the limiter (the job start, jobs_start(), calls it in the server).
 * An upsert on (key, window_start) that counts a hit only when it admits
 * it, under the row's lock, so hits at once never admit more than the
 * limit and refused ones are not counted; on the way it deletes this
 * key's finished windows (and any key's older than a day), so the table
 * stays small without a sweeper.  The window start is computed by the
 * server from its own clock: every process agrees on the window
 * boundaries.
 */
#include <stdio.h>

#include "ratelimit.h"

static const struct db_stmt st_hit = {
    "ratelimit_hit", "SELECT rate_limit_hit($1, $2::int4, $3::int4)", 3};

enum sj_err
ratelimit_hit(struct db *db, const char *key, int limit, int window_s,
	      bool *allowed, int *retry_after_s)
{
	char lim[16], win[16];
	const char *params[3] = {key, lim, win};
	PGresult *r = NULL;
	enum sj_err e;

	*allowed = true;
	*retry_after_s = 0;
	if (key == NULL || window_s < 1 || window_s > RATELIMIT_WINDOW_MAX ||
	    limit < 0)
		return SJ_EINVAL;
	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(win, sizeof(win), "%d", window_s);
	if ((e = db_exec(db, &st_hit, params, &r)) != SJ_OK)
		return e;
	*retry_after_s = (int)db_ll(r, 0, 0, window_s);
	*allowed = *retry_after_s == 0;
	PQclear(r);
	return SJ_OK;
}
