/*
 * The worker's counters for /metrics: its upstream calls by provider,
 * kind and outcome, with their latency, and its slots.
 *
 * DESIGN
 * The job threads count each call in memory under stats.mu (a few
 * additions); the main thread takes the whole batch after each heartbeat
 * and adds it to PostgreSQL in one statement (counters_add_upstream,
 * which also writes the worker's slots into its row), so
 * a call costs no database write and a worker stopped without its last
 * flush loses at most one heartbeat interval.  A batch the database
 * refused is merged back and tried again at the next beat.  Labels are
 * static strings: the provider's name, a kind told from the call
 * ("chat", "image" or "api" under HTTP_API by the URL's path; "fetch"
 * for an image fetched by URL) and the outcome (counters.h).
 */
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "log.h"
#include "num.h"

#include "stats.h"

enum sj_err
stats_init(struct stats *st)
{
	memset(&st->up, 0, sizeof(st->up));
	return pthread_mutex_init(&st->mu, NULL) == 0 ? SJ_OK : SJ_ENOMEM;
}

static const char *
call_kind(const struct http_req *req)
{
	if (req->policy == HTTP_FETCH)
		return "fetch";
	if (req->url != NULL && strstr(req->url, "/chat/") != NULL)
		return "chat";
	if (req->url != NULL && strstr(req->url, "/images/") != NULL)
		return "image";
	return "api";
}

static enum upstream_outcome
call_outcome(const struct http_resp *resp, enum sj_err e, bool aborted)
{
	if (e == SJ_ELOST || (e != SJ_OK && aborted))
		return UPSTREAM_ABORTED;
	if (e != SJ_OK)
		return UPSTREAM_ERROR;
	if (resp->status == 429)
		return UPSTREAM_429;
	if (resp->status >= 500)
		return UPSTREAM_5XX;
	if (resp->status >= 200 && resp->status < 300)
		return UPSTREAM_OK;
	return UPSTREAM_4XX;
}

void
stats_upstream(struct stats *st, const char *provider,
	       const struct http_req *req, const struct http_resp *resp,
	       enum sj_err e, bool aborted, int64_t t0_ms)
{
	enum upstream_outcome o = call_outcome(resp, e, aborted);
	double s = (double)(num_mono_ms() - t0_ms) / 1000.0;

	pthread_mutex_lock(&st->mu);
	upstream_observe(&st->up, provider, call_kind(req), o, s);
	pthread_mutex_unlock(&st->mu);
}

enum sj_err
stats_flush(struct stats *st, struct db *db, const char *worker_id, int nslots)
{
	struct upstream_stats *batch = malloc(sizeof(*batch));
	enum sj_err e;

	if (batch == NULL)
		return SJ_ENOMEM;
	pthread_mutex_lock(&st->mu);
	memcpy(batch, &st->up, sizeof(*batch));
	st->up.n = 0;
	pthread_mutex_unlock(&st->mu);
	e = counters_add_upstream(db, worker_id, nslots, batch);
	if (e != SJ_OK) {
		pthread_mutex_lock(&st->mu);
		upstream_merge(&st->up, batch);
		pthread_mutex_unlock(&st->mu);
	}
	free(batch);
	return e;
}

void
stats_free(struct stats *st)
{
	pthread_mutex_destroy(&st->mu);
}
