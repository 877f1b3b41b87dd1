/*
 * The worker's counters for /metrics: its upstream calls by provider,
 * kind and outcome, with their latency, and its slots.
 *
 * DESIGN
 * The job threads count each call in memory under w->stats_mu (a few
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
#include "gen.h"
#include "log.h"
#include "worker.h"

enum sj_err
stats_init(struct worker *w)
{
	memset(&w->stats, 0, sizeof(w->stats));
	return pthread_mutex_init(&w->stats_mu, NULL) == 0 ? SJ_OK : SJ_ENOMEM;
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
call_outcome(struct step_ctx *c, const struct http_resp *resp, enum sj_err e)
{
	if (e == SJ_ELOST || (e != SJ_OK && step_abort_cb(c)))
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
stats_upstream(struct step_ctx *c, const struct http_req *req,
	       const struct http_resp *resp, enum sj_err e, int64_t t0_ms)
{
	struct worker *w = c->w;
	enum upstream_outcome o = call_outcome(c, resp, e);
	double s = (double)(num_mono_ms() - t0_ms) / 1000.0;

	pthread_mutex_lock(&w->stats_mu);
	upstream_observe(&w->stats, gen_provider(c->cfg)->name, call_kind(req),
			 o, s);
	pthread_mutex_unlock(&w->stats_mu);
}

enum sj_err
stats_flush(struct worker *w, struct db *db)
{
	struct upstream_stats *batch = malloc(sizeof(*batch));
	enum sj_err e;

	if (batch == NULL)
		return SJ_ENOMEM;
	pthread_mutex_lock(&w->stats_mu);
	memcpy(batch, &w->stats, sizeof(*batch));
	w->stats.n = 0;
	pthread_mutex_unlock(&w->stats_mu);
	e = counters_add_upstream(db, w->id, (int)w->nslots, batch);
	if (e != SJ_OK) {
		pthread_mutex_lock(&w->stats_mu);
		upstream_merge(&w->stats, batch);
		pthread_mutex_unlock(&w->stats_mu);
	}
	free(batch);
	return e;
}

void
stats_free(struct worker *w)
{
	pthread_mutex_destroy(&w->stats_mu);
}
