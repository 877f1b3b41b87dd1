/*
 * DESIGN
 * One statement per hit: an upsert on (key, window_start) that returns the
 * new count, and in the same statement a delete of this key's finished
 * windows (and of any key's windows older than a day), so the table stays
 * small without a sweeper.  The window start is computed by the server
 * from its own clock: every process agrees on the window boundaries.
 */
#include <stdio.h>

#include "ratelimit.h"

#define RL_WIN                                                                 \
	"to_timestamp(floor(extract(epoch FROM now()) / $2::int) * $2::int)"

static const struct db_stmt st_hit = {
    "ratelimit_hit",
    "WITH old AS (DELETE FROM rate_limits WHERE window_start < " RL_WIN
    " AND (key = $1 OR window_start < now() - interval '1 day')), "
    "up AS (INSERT INTO rate_limits (key, window_start, count) VALUES "
    "($1, " RL_WIN ", 1) ON CONFLICT (key, window_start) DO UPDATE SET count = "
    "rate_limits.count + 1 RETURNING count, window_start) "
    "SELECT count, greatest(1, ceil(extract(epoch FROM window_start + "
    "make_interval(secs => $2::int) - now())))::int FROM up",
    2};

enum sj_err
ratelimit_hit(struct db *db, const char *key, int limit, int window_s,
	      bool *allowed, int *retry_after_s)
{
	char win[16];
	const char *params[2];
	PGresult *r = NULL;
	enum sj_err e;
	long long count;

	*allowed = true;
	*retry_after_s = 0;
	if (key == NULL || window_s < 1 || limit < 0)
		return SJ_EINVAL;
	snprintf(win, sizeof(win), "%d", window_s);
	params[0] = key;
	params[1] = win;
	if ((e = db_exec(db, &st_hit, params, &r)) != SJ_OK)
		return e;
	count = db_ll(r, 0, 0, 0);
	if (count > limit) {
		*allowed = false;
		*retry_after_s = (int)db_ll(r, 0, 1, window_s);
	}
	PQclear(r);
	return SJ_OK;
}
