/*
 * A fixed-window rate limiter kept in PostgreSQL (table rate_limits), so
 * every process behind nginx shares one limit per key.
 */
#ifndef SJ_RATELIMIT_H
#define SJ_RATELIMIT_H

#include <stdbool.h>

#include "db.h"
#include "err.h"

/*
 * One hit of key in the current window of window_s seconds (one
 * statement).  The first limit hits of a window are admitted and
 * counted; after them *allowed is false, the hit is not counted and
 * *retry_after_s is the seconds until the window ends (>= 1).  A window
 * is 1 to RATELIMIT_WINDOW_MAX seconds (sql/019 rate_limit_hit: older
 * windows are swept), else SJ_EINVAL.
 */
#define RATELIMIT_WINDOW_MAX 86400
enum sj_err ratelimit_hit(struct db *db, const char *key, int limit,
			  int window_s, bool *allowed,
			  int *retry_after_s) SJ_WUR;

#endif
