/*
 * The Prometheus text exposition behind GET /metrics.
 *
 * DESIGN
 * One statement: a UNION ALL of (metric, order, four label values,
 * value) rows, so a scrape is one consistent snapshot and one round trip.
 * Every part reads small tables or the processing jobs only, so a scrape
 * costs the same however many jobs are pending or stored (bench/monitor.sh):
 *   - the queue depth: the processing jobs through jobs_processing_idx (no
 *     more than the workers' slots), the pending ones the live count of
 *     their type (sql/018 job_live) less those;
 *   - finished jobs, their durations and retries: the counters the
 *     finishing statements keep (sql/008, counters.h), summed over their
 *     shards; pruning jobs leaves them alone, so they never go down;
 *   - requests by route and status and their latency: what the FastCGI
 *     programs flush every few seconds (cgi/req.c);
 *   - upstream calls and their latency: what the workers flush with their
 *     heartbeats; and each worker's heartbeat and slots.
 *   - tokens and images jobs used: usage_totals, which job_add_usage()
 *     adds to (sql/017), summed over its shards.
 * A histogram row holds cumulative buckets, +Inf last (= _count), and
 * unnest() WITH ORDINALITY pairs them with their bounds.  The rows come
 * ordered by metric, labels, then bound, so rendering is one pass that
 * writes each family's HELP and TYPE once, before its rows.
 * storyjobs_build_info is constant for the program, so it is written
 * first without the database.
 */
#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "health.h"

/* The text of a bound: PostgreSQL's shortest float8, or +Inf. */
#define LE_TEXT "CASE WHEN b.le = 'Infinity' THEN '+Inf' ELSE b.le::text END"
/* _bucket, _sum and _count rows (k, k+1, k+2) of histogram table t. */
#define HIST_ROWS(k, t, labels, bounds)                                        \
	" UNION ALL SELECT " #k ", b.le, " labels ", " LE_TEXT ", "            \
	"t.buckets[b.i]::float8 FROM " t " t CROSS JOIN unnest('" bounds       \
	"'::float8[]) WITH ORDINALITY AS b (le, i)"                            \
	" UNION ALL SELECT " #k " + 1, 0, " labels ", NULL, t.sum FROM " t     \
	" t UNION ALL SELECT " #k " + 2, 0, " labels ", NULL, t.buckets["      \
	"array_length(t.buckets, 1)]::float8 FROM " t " t"

/* clang-format off */
static const struct db_stmt st_metrics = {
    "health_metrics",
    "WITH pr AS (SELECT type, count(*) AS n FROM jobs WHERE status = "
    "'processing' GROUP BY type), "
    "pe AS (SELECT l.type, l.n - coalesce(pr.n, 0) AS n FROM (SELECT type, "
    "sum(n) AS n FROM job_live GROUP BY type) l LEFT JOIN pr ON pr.type = "
    "l.type) "
    "SELECT 1 AS k, 0::float8 AS o, type AS a, 'pending'::text AS b, "
    "NULL::text AS c, NULL::text AS d, n::float8 AS v FROM pe WHERE n > 0 "
    "UNION ALL SELECT 1, 0, type, 'processing', NULL, NULL, n FROM pr "
    "UNION ALL SELECT 2, 0, type, outcome, NULL, NULL, sum(n)::float8 FROM "
    "job_counters GROUP BY type, outcome "
    "UNION ALL SELECT 3, b.le, NULL, NULL, NULL, " LE_TEXT ", coalesce(sum("
    "d.buckets[b.i]), 0)::float8 FROM unnest('" JOB_DURATION_LE
    "'::float8[]) WITH ORDINALITY AS b (le, i) LEFT JOIN job_durations d "
    "ON true GROUP BY b.le, b.i "
    "UNION ALL SELECT 4, 0, NULL, NULL, NULL, NULL, coalesce(sum(sum), 0) "
    "FROM job_durations "
    "UNION ALL SELECT 5, 0, NULL, NULL, NULL, NULL, coalesce(sum(buckets["
    "array_length(buckets, 1)]), 0)::float8 FROM job_durations "
    "UNION ALL SELECT 6, 0, code, NULL, NULL, NULL, sum(n)::float8 FROM "
    "job_retries GROUP BY code "
    "UNION ALL SELECT 7, 0, id, NULL, NULL, NULL, date_part('epoch', "
    "last_heartbeat) FROM workers "
    "UNION ALL SELECT 8, 0, id, NULL, NULL, NULL, slots FROM workers "
    "UNION ALL SELECT 9, 0, id, NULL, NULL, NULL, jobs_in_hand FROM workers "
    "UNION ALL SELECT 10, 0, route, status::text, NULL, NULL, count FROM "
    "http_requests" HIST_ROWS(11, "http_request_durations",
			      "t.route, NULL, NULL", HTTP_DURATION_LE)
    " UNION ALL SELECT 14, 0, provider, kind, outcome, NULL, n FROM "
    "upstream_calls" HIST_ROWS(15, "upstream_durations",
			       "t.provider, t.kind, NULL", UPSTREAM_DURATION_LE)
    " UNION ALL SELECT 18, 0, type, k.kind, NULL, NULL, sum(CASE k.kind "
    "WHEN 'input' THEN tokens_in ELSE tokens_out END)::float8 FROM "
    "usage_totals CROSS JOIN (VALUES ('input'), ('output')) k (kind) "
    "GROUP BY type, k.kind "
    "UNION ALL SELECT 19, 0, type, NULL, NULL, NULL, sum(images)::float8 "
    "FROM usage_totals GROUP BY type"
    " ORDER BY 1, 3, 4, 5, 2",
    0};
/* clang-format on */

#define NLABELS 4

struct metric {
	const char *name;
	const char *type; /* NULL: a later part of the family above */
	const char *help;
	const char *l[NLABELS]; /* label names of columns a..d, NULL: none */
};

/* clang-format off */
#define HIST_PARTS(base, ...)                                                  \
	{base "_sum", NULL, NULL, {__VA_ARGS__}},                              \
	    {base "_count", NULL, NULL, {__VA_ARGS__}}

/* clang-format on */
/* Indexed by the k column of st_metrics, minus one. */
static const struct metric metrics[] = {
    {"storyjobs_queue_depth",
     "gauge",
     "Live jobs by type and status.",
     {"type", "status"}},
    {"storyjobs_jobs_finished_total",
     "counter",
     "Jobs finished, by type and outcome.",
     {"type", "outcome"}},
    {"storyjobs_job_duration_seconds_bucket",
     "histogram",
     "Processing time of completed jobs, first claim to completion.",
     {NULL, NULL, NULL, "le"}},
    HIST_PARTS("storyjobs_job_duration_seconds", NULL),
    {"storyjobs_job_retries_total",
     "counter",
     "Failed attempts put back in the queue for another, by error code.",
     {"code"}},
    {"storyjobs_worker_last_heartbeat_seconds",
     "gauge",
     "Unix time of each worker's last heartbeat.",
     {"worker"}},
    {"storyjobs_worker_slots",
     "gauge",
     "Jobs each worker can hold (MAX_CONCURRENT_JOBS + PREFETCH_JOBS).",
     {"worker"}},
    {"storyjobs_worker_slots_in_use",
     "gauge",
     "Jobs each worker holds (queued, running or being written).",
     {"worker"}},
    {"storyjobs_http_requests_total",
     "counter",
     "HTTP requests answered, by route and status.",
     {"route", "status"}},
    {"storyjobs_http_request_duration_seconds_bucket",
     "histogram",
     "Time to answer HTTP requests, by route.",
     {"route", NULL, NULL, "le"}},
    HIST_PARTS("storyjobs_http_request_duration_seconds", "route"),
    {"storyjobs_upstream_calls_total",
     "counter",
     "Workers' calls to upstream services, by provider, kind and outcome.",
     {"provider", "kind", "outcome"}},
    {"storyjobs_upstream_call_duration_seconds_bucket",
     "histogram",
     "Time of workers' upstream calls, by provider and kind.",
     {"provider", "kind", NULL, "le"}},
    HIST_PARTS("storyjobs_upstream_call_duration_seconds", "provider", "kind"),
    {"storyjobs_upstream_tokens_total",
     "counter",
     "Tokens the provider's answers counted for jobs, by job type and kind "
     "(input, output).",
     {"type", "kind"}},
    {"storyjobs_upstream_images_total",
     "counter",
     "Images the provider generated for jobs, by job type.",
     {"type"}},
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
	const char *v = db_str(r, i, 2 + NLABELS);
	enum sj_err e = buf_addstr(b, m->name);
	int n = 0;

	for (int k = 0; e == SJ_OK && k < NLABELS; k++) {
		const char *val = db_str(r, i, 2 + k);

		if (m->l[k] == NULL || val == NULL)
			continue;
		e = buf_addstr(b, n++ ? "," : "{");
		if (e == SJ_OK)
			e = add_label(b, m->l[k], val);
	}
	if (e == SJ_OK && n > 0)
		e = buf_addstr(b, "}");
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
