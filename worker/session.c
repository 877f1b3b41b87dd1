/*
 * The worker's session helpers: which failed statements are retried,
 * the backoff between tries and the sleep.
 */
#include <string.h>

#include "num.h"
#include "session.h"

void
worker_sleep_ms(int64_t ms)
{
	num_sleep_ms(ms);
}

int64_t
worker_backoff(int64_t ms)
{
	if (ms <= 0)
		return WORKER_RETRY_MIN_MS;
	return ms * 2 > WORKER_RETRY_MAX_MS ? WORKER_RETRY_MAX_MS : ms * 2;
}

/*
 * Whether a failed statement is worth another try: the session broke, or
 * the server said connection trouble (08), rollback (40), resources (53),
 * operator intervention such as a restart or statement timeout (57) or a
 * system error (58).  A data or syntax error would fail the same way.
 */
bool
worker_db_retryable(struct db *db)
{
	static const char *const classes[] = {"08", "40", "53", "57", "58"};
	const char *s = db_sqlstate(db);
	size_t i;

	if (!db_alive(db) || s == NULL || s[0] == '\0')
		return true;
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strncmp(s, classes[i], 2) == 0)
			return true;
	return false;
}
