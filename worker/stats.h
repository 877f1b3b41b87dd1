/*
 * The worker's counters for /metrics: its upstream calls by provider,
 * kind and outcome, with their latency (stats.c).
 */
#ifndef SJ_WORKER_STATS_H
#define SJ_WORKER_STATS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "db.h"
#include "http.h"

struct stats {
	pthread_mutex_t mu;	  /* guards up */
	struct upstream_stats up; /* calls since the last flush */
};

enum sj_err stats_init(struct stats *st) SJ_WUR;
void stats_free(struct stats *st);
/*
 * Counts an upstream call of provider (a static name), started at t0_ms
 * (monotonic), that ended with e and resp; aborted: the job's abort check
 * cut it short.  Any thread.
 */
void stats_upstream(struct stats *st, const char *provider,
		    const struct http_req *req, const struct http_resp *resp,
		    enum sj_err e, bool aborted, int64_t t0_ms);
/*
 * Adds the calls counted since the last flush to PostgreSQL with the
 * worker's slots into its row (main).
 */
enum sj_err stats_flush(struct stats *st, struct db *db, const char *worker_id,
			int nslots) SJ_WUR;

#endif
