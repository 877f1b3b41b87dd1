/*
 * The Prometheus text exposition behind GET /metrics.
 *
 * DESIGN
 * One statement: a UNION ALL of (metric, label, label, value) rows, each
 * part reading through a partial index or a small table, so a scrape is
 * one consistent snapshot and one round trip.  The histogram's cumulative
 * buckets are counted in SQL with FILTER-style comparisons.  Every
 * answered request bumps http_requests(route, status), which the
 * exposition reads back: counters shared by all processes and restarts.
 * The rows come ordered by metric, so rendering is one pass that writes
 * each metric's HELP and TYPE before its rows.  storyjobs_build_info is
 * constant for the program, so it is written first without the database.
 */
#include <stdio.h>
#include <string.h>

#include "health.h"

static const struct db_stmt st_metrics = {
    "health_metrics",
    "WITH d AS (SELECT extract(epoch FROM completed_at - started_at)::float8 "
    "AS s FROM jobs WHERE status = 'completed' AND started_at IS NOT NULL) "
    "SELECT 1 AS k, 0::float8 AS o, type AS a, status AS b, "
    "count(*)::float8 AS v FROM jobs WHERE status IN ('pending', "
    "'processing') GROUP BY type, status "
    "UNION ALL SELECT 2, 0, type, status, count(*)::float8 FROM jobs WHERE "
    "status IN ('completed', 'failed', 'cancelled') GROUP BY type, status "
    "UNION ALL SELECT 3, le, le::text, NULL, (SELECT count(*) FROM d WHERE "
    "s <= le)::float8 FROM unnest('{1,5,15,30,60,120,300,600,1200}'::float8[]) "
    "AS le "
    "UNION ALL SELECT 3, 'Infinity', '+Inf', NULL, count(*)::float8 FROM d "
    "UNION ALL SELECT 4, 0, NULL, NULL, coalesce(sum(s), 0) FROM d "
    "UNION ALL SELECT 5, 0, NULL, NULL, count(*)::float8 FROM d "
    "UNION ALL SELECT 6, 0, id, NULL, extract(epoch FROM "
    "last_heartbeat)::float8 FROM workers "
    "UNION ALL SELECT 7, 0, route, status::text, count::float8 FROM "
    "http_requests ORDER BY 1, 2, 3, 4",
    0};

struct metric {
	const char *name;
	const char *type;
	const char *help;
	const char *l1, *l2; /* label names, NULL when none */
};

/* Indexed by the k column of st_metrics, minus one. */
static const struct metric metrics[] = {
    {"storyjobs_queue_depth", "gauge", "Live jobs by type and status.", "type",
     "status"},
    {"storyjobs_jobs_finished_total", "counter",
     "Finished jobs still stored, by type and outcome.", "type", "outcome"},
    {"storyjobs_job_duration_seconds_bucket", "histogram",
     "Processing time of completed jobs.", "le", NULL},
    {"storyjobs_job_duration_seconds_sum", NULL, NULL, NULL, NULL},
    {"storyjobs_job_duration_seconds_count", NULL, NULL, NULL, NULL},
    {"storyjobs_worker_last_heartbeat_seconds", "gauge",
     "Unix time of each worker's last heartbeat.", "worker", NULL},
    {"storyjobs_http_requests_total", "counter",
     "HTTP requests answered, by route and status.", "route", "status"},
};
#define NMETRICS (sizeof(metrics) / sizeof(metrics[0]))

/* A label value with \, " and newline escaped. */
static enum sj_err
add_label(struct buf *b, const char *name, const char *val)
{
	enum sj_err e = buf_addf(b, "%s=\"", name);

	for (const char *p = val; e == SJ_OK && *p; p++) {
		if (*p == '\\' || *p == '"')
			e = buf_addf(b, "\\%c", *p);
		else if (*p == '\n')
			e = buf_addstr(b, "\\n");
		else
			e = buf_add(b, p, 1);
	}
	return e == SJ_OK ? buf_addstr(b, "\"") : e;
}

static enum sj_err
add_header(struct buf *b, const struct metric *m)
{
	char base[64];
	size_t n = strlen(m->name);

	if (m->type == NULL)
		return SJ_OK;
	/* the histogram's family name drops the _bucket suffix */
	if (strcmp(m->type, "histogram") == 0 && n > 7)
		n -= 7;
	snprintf(base, sizeof(base), "%.*s", (int)n, m->name);
	return buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", base, m->help, base,
			m->type);
}

static enum sj_err
add_row(struct buf *b, const struct metric *m, const PGresult *r, int i)
{
	const char *a = db_str(r, i, 2), *c = db_str(r, i, 3);
	const char *v = db_str(r, i, 4);
	enum sj_err e = buf_addstr(b, m->name);

	if (e == SJ_OK && m->l1 != NULL && a != NULL) {
		e = buf_addstr(b, "{");
		if (e == SJ_OK)
			e = add_label(b, m->l1, a);
		if (e == SJ_OK && m->l2 != NULL && c != NULL)
			e = buf_addstr(b, ",");
		if (e == SJ_OK && m->l2 != NULL && c != NULL)
			e = add_label(b, m->l2, c);
		if (e == SJ_OK)
			e = buf_addstr(b, "}");
	}
	return e == SJ_OK ? buf_addf(b, " %s\n", v ? v : "0") : e;
}

static enum sj_err
render(const PGresult *r, struct buf *b)
{
	int rows = PQntuples(r), i = 0;
	enum sj_err e = SJ_OK;

	for (size_t k = 0; e == SJ_OK && k < NMETRICS; k++) {
		e = add_header(b, &metrics[k]);
		for (; e == SJ_OK && i < rows &&
		       db_ll(r, i, 0, 0) == (long long)k + 1;
		     i++)
			e = add_row(b, &metrics[k], r, i);
	}
	return e;
}

enum sj_err
health_metrics(struct db *db, struct buf *b)
{
	PGresult *res = NULL;
	enum sj_err e;

	if ((e = db_exec(db, &st_metrics, NULL, &res)) != SJ_OK)
		return e;
	e = buf_addstr(b, "# HELP storyjobs_build_info The running version.\n"
			  "# TYPE storyjobs_build_info gauge\n"
			  "storyjobs_build_info{version=\"" PACKAGE_VERSION
			  "\"} 1\n");
	if (e == SJ_OK)
		e = render(res, b);
	PQclear(res);
	return e;
}
