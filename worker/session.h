/*
 * What every part of the worker that writes to PostgreSQL shares: the
 * application name of its sessions, which failures are worth another
 * try, and the pause between tries.
 */
#ifndef SJ_WORKER_SESSION_H
#define SJ_WORKER_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"

#define WORKER_APPNAME "storyjobs-worker"

/* Retrying a write through connection trouble: 100 ms doubling to 5 s. */
#define WORKER_RETRY_MIN_MS  100
#define WORKER_RETRY_MAX_MS  5000
#define WORKER_LAST_WRITE_MS 2000 /* the budget once the worker stops */

/*
 * Whether a failed statement on db is worth another try (connection
 * trouble or a transient server state) rather than refused for good.
 */
bool worker_db_retryable(struct db *db);

void worker_sleep_ms(int64_t ms);
/*
 * The delay after a try that waited ms: WORKER_RETRY_MIN_MS after none
 * (0), else ms doubled, at most WORKER_RETRY_MAX_MS.  Every retry of the
 * worker (fenced writes, completions, the main session) backs off so.
 */
int64_t worker_backoff(int64_t ms);

#endif
